"""REST API under ``/services/data``: query paging, limits, sObject describe and event log files.

Every call under ``/services/data/vXX.X/`` is authenticated by its Bearer token (read from the
org database each time, so revocation and expiry take effect at once), counted against the
org's daily API budget (persisted in ``_State``), and answered with ``Sforce-Limit-Info``.
SOQL itself belongs to the query service; this module only speaks HTTP around it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from oauthwatch.simulator.api.budget import api_limit, count_call, limit_header, usage
from oauthwatch.simulator.api.responses import JSON, json_response, sf_error
from oauthwatch.simulator.data import catalog, eventlog, orgdb, schema, sessions

if TYPE_CHECKING:
    from oauthwatch.simulator.api.context import OrgContext

MIN_VERSION, MAX_VERSION = 31, 62
MAX_URI = 16_384
SEASONS = ("Summer", "Winter", "Spring")
Handler = Callable[[Request, "sessions.Session", str], Awaitable[Response]]


def versions() -> list[dict[str, str]]:
    """The versions list of ``GET /services/data/`` (v31.0 = Summer '14 … v62.0 = Winter '25)."""
    out = []
    for v in range(MIN_VERSION, MAX_VERSION + 1):
        i = v - MIN_VERSION
        quote = "’" if v == 42 else "'"  # the real list spells Spring ’18 with a typographic apostrophe
        out.append(
            {
                "label": f"{SEASONS[i % 3]} {quote}{14 + (i + 2) // 3}",
                "url": f"/services/data/v{v}.0",
                "version": f"{v}.0",
            }
        )
    return out


def _version_ok(raw: str) -> str | None:
    m = re.fullmatch(r"v(\d+)\.(\d)", raw)
    if not m or not 20 <= int(m.group(1)) <= MAX_VERSION:
        return None
    return f"{m.group(1)}.{m.group(2)}"


def rest(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a REST handler: version check, session check, API budget, Sforce-Limit-Info, faults."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        ctx: OrgContext = request.app.state.ctx
        if len(request.url.path) + len(request.url.query) > MAX_URI:
            # UNCONFIRMED body: the status (414) is documented, the error code is not.
            return sf_error(414, "URI_TOO_LONG", "The request URI is too long (over 16,384 bytes)")
        version = _version_ok(request.path_params.get("version", ""))
        if version is None:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if header and scheme.lower() not in ("bearer", "oauth"):
            return sf_error(401, "INVALID_AUTH_HEADER", "INVALID_HEADER_TYPE")
        with ctx.lock:
            sess, problem = sessions.session_for(ctx.conn, token.strip()) if token.strip() else (None, None)
            if sess is None:
                return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
            if not sess.api_allowed:
                return sf_error(
                    401, "INVALID_SESSION_ID", "This session is not valid for use with the REST API"
                )
            if problem == "API_CURRENTLY_DISABLED":
                return sf_error(403, "API_CURRENTLY_DISABLED", "API is disabled for this User")
            faults = ctx.faults
            if faults is not None:
                early = faults.before_call(ctx, sess, request)
                if early is not None:
                    return early
            counted = count_call(ctx, sess.app_label)
        if counted is None:
            limit = api_limit(ctx)
            return _with(
                sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."), limit, limit
            )
        request.state.session = sess
        response = await handler(request, sess, version)
        if faults is not None:
            faults.after_call(ctx, sess, request, response)
        return _with(response, *counted)

    return wrapped


def _with(response: Response, used: int, limit: int) -> Response:
    response.headers.update(limit_header(used, limit))
    return response


# ---------------------------------------------------------------------------------------- handlers


async def data_root(request: Request) -> Response:
    """GET /services/data/: the versions list (no auth, no Sforce-Limit-Info, as Salesforce)."""
    return json_response(versions())


@rest
async def version_root(request: Request, sess: sessions.Session, version: str) -> Response:
    base = f"/services/data/v{version}"
    names = (
        "tooling",
        "metadata",
        "eclair",
        "folders",
        "prechatForms",
        "chatter",
        "tabs",
        "appMenu",
        "quickActions",
        "queryAll",
        "commerce",
        "wave",
        "iot",
        "analytics",
        "search",
        "identity",
        "composite",
        "parameterizedSearch",
        "theme",
        "nouns",
        "event",
        "serviceTemplates",
        "recent",
        "connect",
        "licensing",
        "limits",
        "process",
        "async-queries",
        "query",
        "match",
        "emailConnect",
        "compactLayouts",
        "knowledgeManagement",
        "sobjects",
        "actions",
        "support",
    )
    body = {n: f"{base}/{n}" for n in names}
    body["jobs"] = f"{base}/jobs"
    body["identity"] = request.app.state.ctx.identity_url(sess.user_id)
    return json_response(body)


def _batch_size(request: Request) -> int:
    m = re.search(r"batchSize\s*=\s*(\d+)", request.headers.get("sforce-query-options", ""))
    return max(200, min(2000, int(m.group(1)))) if m else 2000


def _soql_error(exc: Exception) -> Response:
    return json_response(exc.body(), exc.status)  # type: ignore[attr-defined]


def _page_response(request: Request, page: tuple[bytes, bytes, Any]) -> Response:
    """A query page, gzipped when the client accepts it (as Salesforce does)."""
    if "gzip" in request.headers.get("accept-encoding", "").lower():
        return Response(
            page[1], media_type=JSON, headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        )
    return Response(page[0], media_type=JSON)


async def _run_query(request: Request, version: str, include_deleted: bool) -> Response:
    from oauthwatch.simulator.soql.parser import SoqlError

    ctx: OrgContext = request.app.state.ctx
    soql = request.query_params.get("q")
    if soql is None:
        return sf_error(400, "MALFORMED_QUERY", "A query string has to be specified")
    if not soql.strip():
        return sf_error(400, "MALFORMED_QUERY", "SOQL statements cannot be empty or null")
    try:
        page = await ctx.pages.first(
            soql,
            include_deleted=include_deleted,
            batch_size=_batch_size(request),
            version=version,
            viewer=request.state.session.viewer,
        )
    except SoqlError as exc:
        return _soql_error(exc)
    return _page_response(request, page)


@rest
async def query(request: Request, sess: sessions.Session, version: str) -> Response:
    """GET query?q= (and query/ with the trailing slash simple-salesforce sends)."""
    return await _run_query(request, version, include_deleted=False)


@rest
async def query_all(request: Request, sess: sessions.Session, version: str) -> Response:
    """GET queryAll?q=: includes deleted and archived rows."""
    return await _run_query(request, version, include_deleted=True)


@rest
async def query_more(request: Request, sess: sessions.Session, version: str) -> Response:
    """GET query/<locator> and queryAll/<locator>: the next page."""
    from oauthwatch.simulator.soql.parser import SoqlError

    ctx: OrgContext = request.app.state.ctx
    try:
        page = await ctx.pages.page(request.path_params["locator"], version)
    except SoqlError as exc:
        return _soql_error(exc)
    return _page_response(request, page)


@rest
async def limits(request: Request, sess: sessions.Session, version: str) -> Response:
    """GET limits/: the org's limits; DailyApiRequests nests one entry per app.

    Needs View Setup and Configuration (docs/salesforce-behaviour.md §1.1); the refusal's
    wording is unconfirmed (docs/salesforce-behaviour.md §6)."""
    ctx: OrgContext = request.app.state.ctx
    if "ViewSetup" not in sess.permissions:
        return sf_error(403, "INSUFFICIENT_ACCESS", "View Setup and Configuration is required")
    data, limit = usage(ctx), api_limit(ctx)
    daily: dict[str, Any] = {"Max": limit, "Remaining": max(0, limit - data["total"])}
    for (label,) in ctx.conn.execute("SELECT Label FROM _AppConfig ORDER BY Label"):
        used = data["apps"].get(label, 0)
        daily[label] = {"Max": limit, "Remaining": max(0, limit - used)}

    def lim(m: int, used: int = 0) -> dict[str, int]:
        return {"Max": m, "Remaining": m - used}

    return json_response(
        {
            "ConcurrentAsyncGetReportInstances": lim(200), "ConcurrentSyncReportRuns": lim(20),
            "DailyApiRequests": daily, "DailyAsyncApexExecutions": lim(250000), "DailyBulkApiBatches": lim(15000),
            "DailyBulkV2QueryFileStorageMB": lim(976562), "DailyBulkV2QueryJobs": lim(10000),
            "DailyGenericStreamingApiEvents": lim(10000), "DailyStreamingApiEvents": lim(10000),
            "DataStorageMB": lim(5), "FileStorageMB": lim(20), "HourlyDashboardRefreshes": lim(200),
            "HourlyPublishedPlatformEvents": lim(50000), "SingleEmail": lim(15),
        }
    )  # fmt: skip


def _object_urls(version: str, name: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def _visible(ctx: OrgContext, obj: schema.SObject, sess: sessions.Session | None = None) -> bool:
    if obj.licensed_only and not ctx.licensed:
        return False
    return sess is None or sess.viewer.may_see(obj.name)


@rest
async def sobjects(request: Request, sess: sessions.Session, version: str) -> Response:
    """GET sobjects/: the objects this org has (licensed-only ones when licensed)."""
    ctx: OrgContext = request.app.state.ctx
    objs = [
        {
            "name": o.name,
            "label": o.name,
            "keyPrefix": o.key_prefix,
            "queryable": True,
            "retrieveable": True,
            "createable": False,
            "updateable": False,
            "deletable": False,
            "custom": False,
            "urls": _object_urls(version, o.name),
        }
        for o in catalog.OBJECTS.values()
        if _visible(ctx, o, sess)
    ]
    return json_response({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": objs})


def _describe_field(f: schema.Field, picklist: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "name": f.name,
        "label": re.sub(r"(?<=[a-z])(?=[A-Z])", " ", f.name),
        "type": f.type,
        "filterable": f.filterable,
        "sortable": f.sortable,
        "groupable": f.groupable,
        "nillable": f.nillable,
        "relationshipName": f.relationship,
        "referenceTo": [f.reference_to] if f.reference_to else [],
        "custom": False,
        "createable": False,
        "updateable": False,
        "idLookup": f.name == "Id",
        "picklistValues": [{"value": v, "label": v, "active": True, "defaultValue": False} for v in picklist],
    }


@rest
async def describe(request: Request, sess: sessions.Session, version: str) -> Response:
    """GET sobjects/<Type>/describe: fields from the catalog."""
    ctx: OrgContext = request.app.state.ctx
    obj = catalog.get(request.path_params["sobject"])
    if obj is None or not _visible(ctx, obj, sess):
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
    return json_response(
        {
            "name": obj.name,
            "label": obj.name,
            "keyPrefix": obj.key_prefix,
            "queryable": True,
            "retrieveable": True,
            "createable": False,
            "updateable": False,
            "deletable": False,
            "custom": False,
            "fields": [
                _describe_field(f, eventlog.picklist(obj.name, f.name, ctx.event_monitoring))
                for f in obj.fields
                if catalog.has_field(obj, f.name, event_monitoring=ctx.event_monitoring)
            ],
            "urls": _object_urls(version, obj.name),
        }
    )


@rest
async def log_file(request: Request, sess: sessions.Session, version: str) -> Response:
    """GET sobjects/EventLogFile/<Id>/LogFile: the CSV, streamed, as the REST guide shows it."""
    ctx: OrgContext = request.app.state.ctx
    file_id = request.path_params["id"]
    found = ctx.conn.execute(
        'SELECT Id FROM "EventLogFile" WHERE Id = ? OR substr(Id, 1, 15) = ?', (file_id, file_id[:15])
    ).fetchone()
    if found is None:
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")

    def body() -> Any:
        conn = orgdb.connect(ctx.db_path, readonly=True)
        try:
            yield from eventlog.render_csv(conn, found[0])
        finally:
            conn.close()

    return StreamingResponse(body(), media_type="application/octetstream")


@rest
async def not_found(request: Request, sess: sessions.Session, version: str) -> Response:
    return sf_error(404, "NOT_FOUND", "The requested resource does not exist")


def routes(ctx: OrgContext) -> list[Route]:
    """REST routes under /services/data."""
    v = "/services/data/{version}"
    return [
        Route("/services/data", data_root, methods=["GET"]),
        Route("/services/data/", data_root, methods=["GET"]),
        Route(f"{v}", version_root, methods=["GET"]),
        Route(f"{v}/", version_root, methods=["GET"]),
        Route(f"{v}/query", query, methods=["GET"]),
        Route(f"{v}/query/", query, methods=["GET"]),
        Route(f"{v}/queryAll", query_all, methods=["GET"]),
        Route(f"{v}/queryAll/", query_all, methods=["GET"]),
        Route(f"{v}/query/{{locator}}", query_more, methods=["GET"]),
        Route(f"{v}/queryAll/{{locator}}", query_more, methods=["GET"]),
        Route(f"{v}/limits", limits, methods=["GET"]),
        Route(f"{v}/limits/", limits, methods=["GET"]),
        Route(f"{v}/sobjects", sobjects, methods=["GET"]),
        Route(f"{v}/sobjects/", sobjects, methods=["GET"]),
        Route(f"{v}/sobjects/{{sobject}}/describe", describe, methods=["GET"]),
        Route(f"{v}/sobjects/{{sobject}}/describe/", describe, methods=["GET"]),
        Route(f"{v}/sobjects/EventLogFile/{{id}}/LogFile", log_file, methods=["GET"]),
    ]


def fallback_routes() -> list[Route]:
    """Anything else under /services/data/vXX.X/: 404 NOT_FOUND (after every other area's routes)."""
    return [
        Route(
            "/services/data/{version}/{rest:path}",
            not_found,
            methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
        )
    ]
