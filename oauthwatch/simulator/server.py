"""The local org's HTTPS application: the route table over the OAuth, REST, Bulk, Metadata and admin
endpoints, wrapped in the fault middleware.

This is the only module that sees every endpoint package; the endpoints share state through
:class:`oauthwatch.simulator.api.context.OrgContext` and never import each other's routes.
"""

from __future__ import annotations

from starlette.applications import Starlette

from oauthwatch.simulator.api import admin, bulk, bulk_jobs, metadata, rest
from oauthwatch.simulator.api.calls import CallLogMiddleware
from oauthwatch.simulator.api.context import OrgContext
from oauthwatch.simulator.api.faults import FaultMiddleware
from oauthwatch.simulator.oauth import token


def build_app(ctx: OrgContext) -> Starlette:
    """The Starlette application: OAuth, identity, REST, Bulk 2.0, Metadata SOAP and admin routes."""
    routes = [
        *token.routes(ctx),
        *rest.routes(ctx),
        *bulk_jobs.routes(ctx),  # before bulk's: the job resource answers for staged jobs first
        *bulk.routes(ctx),
        *metadata.routes(ctx),
        *admin.routes(ctx),
        *rest.fallback_routes(),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(FaultMiddleware, ctx=ctx)
    app.add_middleware(CallLogMiddleware, ctx=ctx)  # outermost: a faulted call is a call too
    app.state.ctx = ctx
    return app
