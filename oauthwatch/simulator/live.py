"""Live mode: the org keeps producing events as its clock moves on.

``record_login`` is re-exported here because the HTTPS server logs its token requests through it.
"""

from __future__ import annotations

from oauthwatch.simulator.logins import record_login

__all__ = ["record_login"]
