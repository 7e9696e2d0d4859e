"""Admin endpoints of the local org (``/_admin/…``), for tests and demos, never part of Salesforce.

Authenticated by the admin token from ``credentials.json`` (``Authorization: Bearer <token>``):

- ``GET /_admin/health``: liveness, row counts, API usage, active fault profile;
- ``POST /_admin/faults``: change the fault profile at run time (JSON: ``{"profile": "flaky",
  "seed": 3, "error_rate": 0.2, …}``; ``{}`` resets to ``none``);
- ``POST /_admin/scenario``: inject a named scenario now (``{"name": "...", "params": {...}}``);
- ``POST /_admin/expire-locators``: close every open query locator;
- ``POST /_admin/revoke-tokens``: revoke every access token (sessions die; refresh tokens live);
- ``GET /_admin/calls``: the API call log, one entry per call (session digest, start, end, path).
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oauthwatch.simulator.api import faults
from oauthwatch.simulator.api.responses import json_response
from oauthwatch.simulator.data import clock

if TYPE_CHECKING:
    from oauthwatch.simulator.api.context import OrgContext


def _authorized(request: Request) -> bool:
    ctx: OrgContext = request.app.state.ctx
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), ctx.admin_token.encode()
    )


def _denied() -> Response:
    return json_response(
        {"error": "unauthorized", "detail": "send Authorization: Bearer <admin_token from credentials.json>"},
        401,
    )


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    data = orjson.loads(raw) if raw.strip() else {}
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


async def health(request: Request) -> Response:
    if not _authorized(request):
        return _denied()
    from oauthwatch.simulator.api.budget import api_limit, usage

    ctx: OrgContext = request.app.state.ctx
    counts = {}
    for table in ("User", "LoginHistory", "OauthToken", "EventLogFile", "ConnectedApplication"):
        counts[table] = ctx.conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
    use = usage(ctx)
    return json_response(
        {
            "status": "ok",
            "org_id": ctx.org_id,
            "org_time_ms": clock.org_now_ms(ctx.conn),
            "rows": counts,
            "api_usage": {"used": use["total"], "limit": api_limit(ctx), "apps": use["apps"]},
            "open_locators": ctx.query.open_locators,
            "faults": ctx.faults.describe() if ctx.faults else None,
        }
    )


async def set_faults(request: Request) -> Response:
    if not _authorized(request):
        return _denied()
    ctx: OrgContext = request.app.state.ctx
    try:
        spec = await _json(request)
        profile = faults.profile_from(spec) if spec else faults.PROFILES["none"]
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        return json_response({"error": "bad_request", "detail": str(exc)}, 400)
    with ctx.lock:
        if ctx.faults is None:
            ctx.faults = faults.Faults(profile)
        else:
            ctx.faults.set(profile)
    return json_response(ctx.faults.describe())


async def scenario(request: Request) -> Response:
    if not _authorized(request):
        return _denied()
    from oauthwatch.simulator.generate import scenarios

    ctx: OrgContext = request.app.state.ctx
    try:
        spec = await _json(request)
        name = spec["name"]
    except (KeyError, ValueError, orjson.JSONDecodeError):
        return json_response({"error": "bad_request", "detail": 'send {"name": "<scenario>"}'}, 400)
    if name not in scenarios.SCENARIOS:
        return json_response({"error": "unknown_scenario", "known": sorted(scenarios.SCENARIOS)}, 404)
    with ctx.lock:
        result = scenarios.inject_now(ctx.conn, name, **spec.get("params", {}))
        ctx.conn.commit()
    return json_response({"injected": name, "result": result})


async def expire_locators(request: Request) -> Response:
    if not _authorized(request):
        return _denied()
    ctx: OrgContext = request.app.state.ctx
    ctx.pages.forget()
    return json_response({"expired": ctx.query.expire_locators()})


async def revoke_tokens(request: Request) -> Response:
    if not _authorized(request):
        return _denied()
    ctx: OrgContext = request.app.state.ctx
    with ctx.lock:
        n = ctx.conn.execute("UPDATE _Token SET Revoked = 1 WHERE Kind = 'access' AND Revoked = 0").rowcount
        ctx.conn.commit()
    return json_response({"revoked": n})


async def calls(request: Request) -> Response:
    if not _authorized(request):
        return _denied()
    ctx: OrgContext = request.app.state.ctx
    return json_response({"calls": [c._asdict() for c in list(ctx.calls)]})


def routes(ctx: OrgContext) -> list[Route]:
    """The admin routes."""
    return [
        Route("/_admin/health", health, methods=["GET"]),
        Route("/_admin/faults", set_faults, methods=["POST"]),
        Route("/_admin/scenario", scenario, methods=["POST"]),
        Route("/_admin/expire-locators", expire_locators, methods=["POST"]),
        Route("/_admin/revoke-tokens", revoke_tokens, methods=["POST"]),
        Route("/_admin/calls", calls, methods=["GET"]),
    ]
