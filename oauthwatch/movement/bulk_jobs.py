"""An app's Bulk API jobs and the rows they moved, from the job listings and its ApiTotalUsage calls.

Salesforce's job listings say who created a job (``createdById``) but not through which app; the
app's own ApiTotalUsage calls do: a job belongs to the app whose calls name it
(``…/jobs/query/<id>``), or whose ``POST …/jobs/query`` by the same user came within two minutes of
the job's creation. A job deleted before the listings saw it is known only by its calls; it counts
as a job without rows (docs/salesforce-behaviour.md §8).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, select

from oauthwatch.rules.api_calls import call_kind, job_id_of
from oauthwatch.store import schema

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

NEAR = timedelta(minutes=2)


@dataclass(frozen=True)
class AppJobs:
    """An app's Bulk jobs created in a span: how many, the rows of those listed, and each job."""

    jobs: int
    rows: int
    deleted: int
    listed: list[dict[str, Any]]
    job_ids: frozenset[str] = frozenset()  # 15-character ids of every job known to be the app's


def app_jobs(conn: Connection, org: str, match: Any, start: datetime, end: datetime) -> AppJobs:
    """Bulk jobs created in ``[start, end)`` through the app whose ApiTotalUsage rows ``match`` selects."""
    e, b = schema.api_usage_events, schema.bulk_jobs
    calls = conn.execute(
        select(e.c.event_time, e.c.user_id, e.c.api_resource, e.c.http_method)
        .where(
            e.c.org == org, match, e.c.event_time >= start - NEAR, e.c.event_time < end + timedelta(days=1)
        )
        .where(e.c.api_resource.contains("/jobs/"))
    ).all()
    named = {j for c in calls if (j := job_id_of(c.api_resource))}
    kinds = [(c, call_kind(c.api_resource, c.http_method)) for c in calls]
    deleted = {job_id_of(c.api_resource) for c, k in kinds if k == "bulk_job_delete"}
    deleted_here = {
        job_id_of(c.api_resource) for c, k in kinds if k == "bulk_job_delete" and start <= c.event_time < end
    }
    posts = [(c.event_time, c.user_id) for c, k in kinds if k == "bulk_query_create"]
    jobs = conn.execute(
        select(
            b.c.job_id, b.c.object, b.c.state, b.c.records, b.c.created_date, b.c.created_by, b.c.gone_at
        ).where(and_(b.c.org == org, b.c.created_date >= start, b.c.created_date < end))
    ).all()
    mine = [
        j for j in jobs
        if j.job_id[:15] in named
        or any(u == j.created_by and abs(t - j.created_date) <= NEAR for t, u in posts)
    ]  # fmt: skip
    seen = {j.job_id[:15] for j in mine}
    unlisted = deleted_here - seen - {None}  # created and deleted between two readings of the listings
    listed = [
        {"job_id": j.job_id, "object": j.object, "state": j.state, "rows": j.records,
         "created": j.created_date, "deleted": j.gone_at is not None or j.job_id[:15] in deleted}
        for j in sorted(mine, key=lambda j: j.created_date)
    ]  # fmt: skip
    return AppJobs(
        jobs=len(mine) + len(unlisted),
        rows=sum(int(j.records or 0) for j in mine),
        deleted=sum(1 for j in listed if j["deleted"]) + len(unlisted),
        listed=listed,
        job_ids=frozenset(named | seen | {j for j in unlisted if j}),
    )
