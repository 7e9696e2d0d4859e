"""Bulk API job listings: ``GET jobs/query`` and ``GET jobs/ingest``, and staged jobs' own resource.

Its routes come before :mod:`.bulk`'s: a job's resource (``jobs/query/<id>``) answers for a job a
scenario staged and hands every other job to :func:`oauthwatch.simulator.api.bulk.job_info`.

The listings show every job of the org younger than seven days and not deleted, up to 1,000 per
answer with a ``nextRecordsUrl`` carrying a ``queryLocator`` (docs/salesforce-behaviour.md §8):
the jobs scenarios staged (:mod:`oauthwatch.simulator.data.staged`) and the query jobs clients
created in this process (:mod:`oauthwatch.simulator.api.bulk`). Listing records carry no record
counts; the per-job resource adds ``numberRecordsProcessed`` once the job is complete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oauthwatch.simulator.api import bulk
from oauthwatch.simulator.api.responses import json_response, sf_error
from oauthwatch.simulator.api.rest import rest
from oauthwatch.simulator.data import sessions, staged

if TYPE_CHECKING:
    from oauthwatch.simulator.api.context import OrgContext

PAGE = 1000  # "Get All Jobs returns up to 1000 result rows per request"


def _live_jobs(ctx: OrgContext) -> list[dict[str, Any]]:
    """Query jobs created by clients of this process (the collectors' Bulk backfill among them)."""
    with bulk._JOBS_LOCK:
        jobs = list(bulk._JOBS.values())
    return [{**{k: v for k, v in j.info().items() if k in _LISTED}, "jobType": "V2Query"} for j in jobs]


_LISTED = ("id", "operation", "object", "createdById", "createdDate", "systemModstamp", "state",
           "concurrencyMode", "contentType", "apiVersion", "lineEnding", "columnDelimiter")  # fmt: skip


async def _listing(request: Request, version: str, *, ingest: bool) -> Response:
    ctx: OrgContext = request.app.state.ctx
    now = ctx.org_now_ms()
    with ctx.lock:
        rows = staged.visible_jobs(ctx.conn, now, ingest=ingest)
    records = [staged.job_info(r, now, detail=False) for r in rows]
    if not ingest:
        records += _live_jobs(ctx)
    job_type = request.query_params.get("jobType")
    if job_type:
        records = [r for r in records if r["jobType"] == job_type]
    start = bulk.page_start(request.query_params.get("queryLocator"), len(records))  # Bulk results' paging
    if start is None:
        return sf_error(400, "INVALID_LOCATOR", "Invalid queryLocator")
    end = start + PAGE
    kind = "ingest" if ingest else "query"
    nxt = None
    if end < len(records):
        nxt = f"/services/data/v{version}/jobs/{kind}?queryLocator={bulk._locator(end)}"
    return json_response({"done": nxt is None, "records": records[start:end], "nextRecordsUrl": nxt})


@rest
async def list_query_jobs(request: Request, sess: sessions.Session, version: str) -> Response:
    return await _listing(request, version, ingest=False)


@rest
async def list_ingest_jobs(request: Request, sess: sessions.Session, version: str) -> Response:
    return await _listing(request, version, ingest=True)


@rest
async def staged_job(request: Request, sess: sessions.Session, version: str) -> Response:
    """A staged job's own resource: GET its info, DELETE it (once it is finished)."""
    ctx: OrgContext = request.app.state.ctx
    now = ctx.org_now_ms()
    with ctx.lock:
        row = staged.find_job(ctx.conn, request.path_params["job_id"], now)
        if row is None:  # deleted by a concurrent request
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        if request.method == "DELETE":
            if now < row[5]:
                return sf_error(
                    400,
                    "API_ERROR",
                    "Error encountered when deleting the job because the job is not terminated",
                )
            ctx.conn.execute('UPDATE "_BulkJob" SET DeletedMs = ? WHERE Id = ?', (now, row[0]))
            ctx.conn.commit()
            return Response(status_code=204)
    return json_response(staged.job_info(row, now, detail=True))


async def job_resource(request: Request) -> Response:
    """``jobs/query/<id>``: a staged job's, else the query job a client created (``bulk.job_info``)."""
    ctx: OrgContext = request.app.state.ctx
    with ctx.lock:
        mine = staged.find_job(ctx.conn, request.path_params["job_id"], ctx.org_now_ms()) is not None
    if mine and request.method in ("GET", "DELETE"):
        return await staged_job(request)
    return await bulk.job_info(request)


def routes(ctx: OrgContext) -> list[Route]:
    """The two job listings and the job resource (registered before :mod:`.bulk`'s routes)."""
    v = "/services/data/{version}/jobs"
    return [
        Route(v + "/query", list_query_jobs, methods=["GET"]),
        Route(v + "/ingest", list_ingest_jobs, methods=["GET"]),
        Route(v + "/query/{job_id}", job_resource, methods=["GET", "PATCH", "DELETE"]),
    ]
