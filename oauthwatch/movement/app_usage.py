"""What one connected app moved over a span, from its ApiTotalUsage calls (``api_usage_events``).

Per call Salesforce logs the API family (REST, SOAP, Bulk), the resource (``/v62.0/query``,
``/v62.0/jobs/query``, ``/v62.0/sobjects``…), the object (``ENTITY_NAME``), the method, the user
and the client address (docs/hunting.md). Grouped per resource and object, per user and per
family, with the app's baseline: its average calls per span over the ``baseline_spans`` spans of
the same length before it, so "4,000 queries" reads against "usually 300". Apps are matched by
their id where the store knows it (``CONNECTED_APP_ID``), else by name.

Bulk API jobs come from the job listings (the ``bulk_jobs`` source), attributed to the app by its
calls (:mod:`oauthwatch.movement.bulk_jobs`): how many, the rows they processed, how many were
deleted, with the same baseline. Where the org has Event Monitoring, the rows and bytes the app
exported, per user, come from the BulkApi2 / BulkApi / RestApi / API event types
(:mod:`oauthwatch.movement.event_data`), which also count a job deleted before a listing saw it.
``Movement.sources`` names the source of each figure, for the page and the digest to say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select

from oauthwatch.movement.bulk_jobs import app_jobs
from oauthwatch.movement.event_data import Exports, app_exports
from oauthwatch.store import schema

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

CALLS_SOURCE = "ApiTotalUsage"
JOBS_SOURCE = "Bulk API job listings, attributed by ApiTotalUsage"


@dataclass
class Movement:
    """One app's calls over ``[start, end)``, grouped, and its baseline."""

    org: str
    app: str
    start: datetime
    end: datetime
    calls: int = 0
    baseline_calls: float = 0.0
    by_family: dict[str, int] = field(default_factory=dict)
    by_resource: list[dict[str, Any]] = field(default_factory=list)
    by_user: list[dict[str, Any]] = field(default_factory=list)
    by_client_ip: list[dict[str, Any]] = field(default_factory=list)
    bulk_jobs: int = 0
    bulk_rows: int = 0
    bulk_deleted: int = 0
    baseline_bulk_rows: float = 0.0
    jobs: list[dict[str, Any]] = field(default_factory=list)
    exported: Exports | None = None  # None: the org has no data events (no Event Monitoring)
    baseline_exported_rows: float = 0.0

    @property
    def sources(self) -> dict[str, str]:
        """Each figure and where it comes from."""
        out = {"calls": CALLS_SOURCE, "bulk_jobs": JOBS_SOURCE, "bulk_rows": JOBS_SOURCE}
        if self.exported is not None:
            out["exported_rows"] = out["exported_bytes"] = self.exported.source
        return out

    @property
    def ratio(self) -> float | None:
        """Calls against the baseline (None when there is no baseline to compare with)."""
        return self.calls / self.baseline_calls if self.baseline_calls else None

    @property
    def query_calls(self) -> int:
        """Calls to query resources (``/query``, ``/queryAll``, Bulk query jobs)."""
        return sum(r["calls"] for r in self.by_resource if "query" in r["api_resource"].lower())


def _app_ids(conn: Connection, org: str, app: str) -> list[str]:
    """The app's 15-character ids: ``app`` itself when it is one, else those its name has in the
    store (connected apps, and the ids ApiTotalUsage logged with the name)."""
    if app[:3] == "0H4":
        return [app[:15]]
    t, ca = schema.api_usage_events, schema.connected_apps
    named = [
        r[0]
        for r in conn.execute(
            select(ca.c.app_id).where(ca.c.org == org, func.lower(ca.c.name) == app.casefold())
        )
    ]
    logged = conn.execute(
        select(t.c.connected_app_id).where(t.c.org == org, func.lower(t.c.connected_app_name) == app.casefold(),
                                           t.c.connected_app_id != "").distinct()
    ).scalars()  # fmt: skip
    return sorted({i[:15] for i in (*named, *logged) if i})


def _app_filter(ids: list[str], app: str) -> Any:
    t = schema.api_usage_events
    by_name = func.lower(t.c.connected_app_name) == app.casefold()
    return or_(by_name, *(func.substr(t.c.connected_app_id, 1, 15) == i for i in ids)) if ids else by_name


def app_movement(
    engine: Engine, org: str, app: str, start: datetime, end: datetime, *, baseline_spans: int = 7
) -> Movement:
    """What ``app`` moved in ``org`` over ``[start, end)``, and its baseline."""
    t = schema.api_usage_events
    out = Movement(org, app, start, end)
    with engine.connect() as conn:
        ids = _app_ids(conn, org, app)
        match = _app_filter(ids, app)
        span = [t.c.org == org, match, t.c.event_time >= start, t.c.event_time < end]
        calls = func.count().label("calls")
        for fam, n in conn.execute(select(t.c.api_family, calls).where(*span).group_by(t.c.api_family)):
            out.by_family[fam or "unknown"] = int(n)
        out.calls = sum(out.by_family.values())
        q = (
            select(
                t.c.api_family,
                t.c.http_method,
                t.c.api_resource,
                t.c.entity_name,
                calls,
                func.count(t.c.user_id.distinct()),
            )
            .where(*span)
            .group_by(t.c.api_family, t.c.http_method, t.c.api_resource, t.c.entity_name)
            .order_by(calls.desc())
        )
        out.by_resource = [
            {"api_family": r[0], "http_method": r[1], "api_resource": r[2], "entity_name": r[3], "calls": int(r[4]), "users": int(r[5])}
            for r in conn.execute(q)
        ]  # fmt: skip
        q = select(t.c.user_id, calls).where(*span).group_by(t.c.user_id).order_by(calls.desc())
        out.by_user = [{"user_id": r[0], "calls": int(r[1])} for r in conn.execute(q)]
        q = select(t.c.client_ip, calls).where(*span).group_by(t.c.client_ip).order_by(calls.desc())
        out.by_client_ip = [{"client_ip": r[0], "calls": int(r[1])} for r in conn.execute(q)]
        before = start - (end - start) * baseline_spans
        prior = conn.execute(
            select(func.count()).where(
                t.c.org == org, match, t.c.event_time >= before, t.c.event_time < start
            )
        ).scalar()
        out.baseline_calls = int(prior or 0) / baseline_spans
        jobs = app_jobs(conn, org, match, start, end)
        out.bulk_jobs, out.bulk_rows, out.bulk_deleted, out.jobs = (
            jobs.jobs,
            jobs.rows,
            jobs.deleted,
            jobs.listed,
        )
        prior_jobs = app_jobs(conn, org, match, before, start)
        out.baseline_bulk_rows = prior_jobs.rows / baseline_spans
        out.exported = app_exports(conn, org, ids, jobs.job_ids, start, end)
        if out.exported is not None:
            earlier = app_exports(conn, org, ids, prior_jobs.job_ids, before, start)
            out.baseline_exported_rows = (earlier.rows if earlier else 0) / baseline_spans
    return out


@dataclass(frozen=True)
class AppDay:
    """One app's API calls on the digest's day against its daily baseline (the 7 days before)."""

    name: str
    calls: int
    baseline_avg: float
    bulk_calls: int
    query_calls: int
    top_objects: str
    bulk_jobs: int = 0
    bulk_rows: int = 0
    baseline_bulk_rows: float = 0.0
    exported_rows: int | None = None  # from the licensed event types; None without them
    exported_bytes: int | None = None
    exported_source: str = ""


def day_movement(
    conn: Connection, org: str, start: datetime, end: datetime, baseline_start: datetime
) -> list[AppDay]:
    """Per app (busiest first): the day's calls, bulk and query calls, top objects, and the baseline."""
    t = schema.api_usage_events
    name = t.c.connected_app_name
    day = [t.c.org == org, t.c.event_time >= start, t.c.event_time < end, name != ""]
    rows = conn.execute(
        select(name, func.count()).where(*day).group_by(name).order_by(func.count().desc())
    ).all()
    days = max(1, round((start - baseline_start).total_seconds() / 86400))
    out = []
    for app, calls in rows[:10]:
        mine = [*day, name == app]
        base = conn.execute(
            select(func.count()).where(
                t.c.org == org, name == app, t.c.event_time >= baseline_start, t.c.event_time < start
            )
        ).scalar()
        bulk = conn.execute(select(func.count()).where(*mine, t.c.api_family == "Bulk")).scalar()
        query = conn.execute(
            select(func.count()).where(*mine, func.lower(t.c.api_resource).contains("query"))
        ).scalar()
        objects = conn.execute(
            select(t.c.entity_name, func.count()).where(*mine, t.c.entity_name != "").group_by(t.c.entity_name)
            .order_by(func.count().desc()).limit(3)
        ).all()  # fmt: skip
        jobs, before = (
            app_jobs(conn, org, name == app, start, end),
            app_jobs(conn, org, name == app, baseline_start, start),
        )
        exported = app_exports(conn, org, _app_ids(conn, org, app), jobs.job_ids, start, end)
        out.append(
            AppDay(
                app,
                int(calls),
                int(base or 0) / days,
                int(bulk or 0),
                int(query or 0),
                ", ".join(f"{e} {n:,}" for e, n in objects),
                jobs.jobs,
                jobs.rows,
                before.rows / days,
                exported.rows if exported else None,
                exported.bytes if exported else None,
                exported.source if exported else "",
            )
        )
    return out
