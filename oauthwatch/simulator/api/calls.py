"""Which session called the org, when: the local org's own API call log, for fleet tests and demos.

Every authenticated API call (``/services/…`` with a bearer token, the OAuth endpoints excluded)
is kept as (session, start, end, path), the session being the first 12 hex digits of the token's
sha256 (never the token). Two sessions whose calls overlap in time are two clients collecting
the org at once; ``GET /_admin/calls`` returns the log (the newest :data:`KEEP` calls).
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from oauthwatch.simulator.api.context import OrgContext

KEEP = 200_000


class Call(NamedTuple):
    """One API call: who (a token digest), when (epoch seconds) and what (the path)."""

    session: str
    start: float
    end: float
    path: str


def new_log() -> deque[Call]:
    """An empty call log that keeps the newest :data:`KEEP` calls."""
    return deque(maxlen=KEEP)


class CallLogMiddleware:
    """ASGI middleware recording each authenticated API call in ``ctx.calls``."""

    def __init__(self, app: ASGIApp, ctx: OrgContext) -> None:
        self.app, self.ctx = app, ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        auth = dict(scope.get("headers") or ()).get(b"authorization", b"")
        if (
            not path.startswith("/services/")
            or path.startswith("/services/oauth2/")
            or auth[:7].lower() != b"bearer "
        ):
            await self.app(scope, receive, send)
            return
        session = hashlib.sha256(auth[7:].strip()).hexdigest()[:12]
        start = time.time()
        try:
            await self.app(scope, receive, send)
        finally:
            self.ctx.calls.append(Call(session, start, time.time(), path))
