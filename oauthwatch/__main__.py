"""Allow ``python -m oauthwatch``."""

from __future__ import annotations

from oauthwatch.cli import main

main()
