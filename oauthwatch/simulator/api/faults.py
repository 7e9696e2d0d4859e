"""Faults on demand: the ways a real org and the network between fail, reproducibly.

A profile (``--faults NAME`` or ``POST /_admin/faults``) sets rates; every REST call draws from
one ``random.Random(seed)``, so a test that replays the same calls meets the same faults.
Transport faults (5xx, dropped connection, slow answer, truncated body) are injected by an ASGI
middleware around ``/services/data`` (and ``retry_request`` on the token endpoint); org faults (session expiry after N calls or in the middle
of paging, expired query locators, QUERY_TIMEOUT, exhausted API budget) by the REST layer.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import re
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oauthwatch.simulator.api.responses import sf_error
from oauthwatch.simulator.data import sessions

if TYPE_CHECKING:
    from oauthwatch.simulator.api.context import OrgContext


@dataclass(frozen=True)
class FaultProfile:
    """Fault rates (0..1 per REST call) and triggers."""

    name: str = "none"
    seed: int = 0
    error_rate: float = 0.0  # 503 Service Unavailable / 500 UNKNOWN_EXCEPTION
    drop_rate: float = 0.0  # headers sent, then the connection closes
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    truncate_rate: float = 0.0  # body cut in half (Content-Length matches the cut body)
    query_timeout_rate: float = 0.0  # 400 QUERY_TIMEOUT on query calls
    locator_expiry_rate: float = 0.0  # 400 INVALID_QUERY_LOCATOR on next-page calls
    expire_session_after: int = 0  # revoke the caller's token after this many REST calls (0 = never)
    expire_mid_paging_rate: float = 0.0  # revoke the token after serving a page that has a next page
    exhaust_budget: bool = False  # spend the daily API budget now
    oauth_retry_rate: float = 0.0  # token endpoint answers the transient ``retry_request`` error


PROFILES: dict[str, FaultProfile] = {
    "none": FaultProfile(),
    "flaky": FaultProfile(
        name="flaky", error_rate=0.05, drop_rate=0.02, slow_rate=0.05, slow_seconds=1.0, oauth_retry_rate=0.02
    ),
    "slow": FaultProfile(name="slow", slow_rate=1.0, slow_seconds=0.5),
    "hostile": FaultProfile(
        name="hostile",
        error_rate=0.08,
        drop_rate=0.04,
        slow_rate=0.05,
        slow_seconds=1.0,
        truncate_rate=0.04,
        query_timeout_rate=0.05,
        locator_expiry_rate=0.05,
        expire_session_after=40,
        expire_mid_paging_rate=0.1,
        oauth_retry_rate=0.05,
    ),
}


def profile_from(spec: dict[str, Any], base: FaultProfile | None = None) -> FaultProfile:
    """A profile from JSON: ``{"profile": "flaky", "seed": 3, "error_rate": 0.2, …}``."""
    name = spec.get("profile")
    if name is not None and name not in PROFILES:
        raise ValueError(f"unknown fault profile {name!r}; known: {sorted(PROFILES)}")
    prof = PROFILES[name] if name else (base or PROFILES["none"])
    known = {f.name for f in fields(FaultProfile)} - {"name"}
    unknown = sorted(set(spec) - known - {"profile"})
    if unknown:
        raise ValueError(f"unknown fault setting(s) {unknown}; known: {sorted(known)}")
    return replace(prof, **{k: type(getattr(prof, k))(v) for k, v in spec.items() if k in known})


class Faults:
    """The active profile, its random stream and per-token call counters."""

    def __init__(self, profile: FaultProfile) -> None:
        self.set(profile)

    def set(self, profile: FaultProfile) -> None:
        """Switch profile; the random stream restarts from the profile's seed."""
        self.profile = profile
        self.rng = random.Random(profile.seed)
        self.calls: dict[str, int] = {}
        self.injected: dict[str, int] = {}

    def describe(self) -> dict[str, Any]:
        """The profile and how many faults of each kind were injected so far."""
        return {"profile": asdict(self.profile), "injected": dict(self.injected)}

    def hit(self, rate: float, kind: str) -> bool:
        """Draw once from the fault stream: does a fault of ``kind`` happen at ``rate``?"""
        if rate <= 0:
            return False
        hit = self.rng.random() < rate
        if hit:
            self.injected[kind] = self.injected.get(kind, 0) + 1
        return hit

    def before_call(self, ctx: OrgContext, sess: sessions.Session, request: Request) -> Response | None:
        """Org-side faults decided before the call is served (and before it is counted)."""
        p = self.profile
        if p.exhaust_budget:
            from oauthwatch.simulator.api.budget import api_limit, usage

            data = usage(ctx)
            data["total"] = max(data["total"], api_limit(ctx))
            ctx.state_set("api_usage", json.dumps(data))
            self.profile = replace(p, exhaust_budget=False)
            self.injected["exhaust_budget"] = self.injected.get("exhaust_budget", 0) + 1
        if p.expire_session_after:
            n = self.calls.get(sess.token, 0) + 1
            self.calls[sess.token] = n
            if n > p.expire_session_after:
                sessions.revoke(ctx.conn, sess.token)
                self.injected["session_expiry"] = self.injected.get("session_expiry", 0) + 1
                return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        path = request.url.path
        is_more = re.search(r"/(query|queryAll)/[^/]+$", path) is not None
        is_query = path.rstrip("/").endswith(("/query", "/queryAll"))
        if is_more and self.hit(p.locator_expiry_rate, "locator_expiry"):
            return sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        if (is_query or is_more) and self.hit(p.query_timeout_rate, "query_timeout"):
            return sf_error(400, "QUERY_TIMEOUT", "Your query request was running for too long.")
        return None

    def after_call(
        self, ctx: OrgContext, sess: sessions.Session, request: Request, response: Response
    ) -> None:
        """Revoke the session after a page that has a next page (so the next page gets 401)."""
        if self.profile.expire_mid_paging_rate <= 0 or response.status_code != 200:
            return
        body = getattr(response, "body", b"")
        if response.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        if b'"nextRecordsUrl"' in body and self.hit(self.profile.expire_mid_paging_rate, "expire_mid_paging"):
            sessions.revoke(ctx.conn, sess.token)

    def transport(self) -> tuple[str | None, float]:
        """The transport fault for one call (error, drop, truncate or none) and a delay in seconds."""
        p = self.profile
        delay = p.slow_seconds if self.hit(p.slow_rate, "slow") else 0.0
        for kind, rate in (("error", p.error_rate), ("drop", p.drop_rate), ("truncate", p.truncate_rate)):
            if self.hit(rate, kind):
                return kind, delay
        return None, delay


class FaultMiddleware:
    """ASGI middleware: transport faults on ``/services/data`` calls."""

    def __init__(self, app: ASGIApp, ctx: OrgContext) -> None:
        self.app, self.ctx = app, ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        faults = self.ctx.faults
        if (
            scope["type"] == "http"
            and faults is not None
            and scope["path"] == "/services/oauth2/token"
            and faults.hit(faults.profile.oauth_retry_rate, "oauth_retry")
        ):
            # The transient token error (its body as in the real fixture; the status, 400 like every
            # OAuth error, is UNCONFIRMED). Not logged: the request never reached authentication.
            body = b'{"error":"retry_request","error_description":"retry your request"}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [
                        (b"content-type", b"application/json;charset=UTF-8"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        if scope["type"] != "http" or faults is None or not scope["path"].startswith("/services/data/v"):
            await self.app(scope, receive, send)
            return
        kind, delay = faults.transport()
        if delay:
            await asyncio.sleep(delay)
        if kind == "error":
            body = b'[{"message":"Service Unavailable","errorCode":"SERVER_UNAVAILABLE"}]'
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        if kind is None:
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        if kind == "truncate":
            cut = body[: len(body) // 2]
            headers.append((b"content-length", str(len(cut)).encode()))
            await send(
                {"type": "http.response.start", "status": start.get("status", 200), "headers": headers}
            )
            await send({"type": "http.response.body", "body": cut})
            return
        # drop: promise the whole body, send a few bytes, and let the server close the connection
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": start.get("status", 200), "headers": headers})
        await send({"type": "http.response.body", "body": body[:16], "more_body": True})
        # returning with the body incomplete makes uvicorn close the connection mid-response
