"""Allow ``python -m oauthwatch``."""

from __future__ import annotations

from oauthwatch.cli.main import main

main()
