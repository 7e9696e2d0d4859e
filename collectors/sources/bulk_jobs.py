"""Bulk API jobs: the org's job listings each run, the rows of finished jobs, and jobs that vanished.

``GET jobs/query`` lists the org's query jobs (Bulk API 2.0 and classic Bulk API), ``GET
jobs/ingest`` its ingest jobs, up to 1,000 per answer with a ``nextRecordsUrl``; a job stays
listed until it is deleted or seven days old, and only the job's own resource (``GET
jobs/query/<id>``) gives ``numberRecordsProcessed`` (docs/salesforce-behaviour.md §8). Each run
stores every listed job (its state moves on), reads the rows of complete query jobs it has not
counted yet, and marks ``gone_at`` on the jobs the reading no longer lists although they are
younger than seven days: deleted, the way an export's traces are hidden. A job created and deleted
between two runs is never listed; its ApiTotalUsage calls (``DELETE …/jobs/query/<id>``) still
show it, and the detectors read both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import select, update

from collectors.api.client import SalesforceCallError
from collectors.sources.base import Context, Permission, Writes
from collectors.sources.snapshot import DailySnapshotSource, Reading
from collectors.sources.values import Malformed, integer, parse_dt, text
from oauthwatch.store import schema
from oauthwatch.store.writes import upsert, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

LIFESPAN = timedelta(days=7)  # jobs older than this are deleted by Salesforce itself
MAX_DETAILS = 200  # job resources read per run for their row counts (one API call each)
KEY = ["org", "job_id"]
UPDATED = ["job_type", "operation", "object", "state", "system_modstamp", "last_seen", "gone_at"]


def listing(ctx: Context, kind: str) -> list[dict[str, Any]]:
    """Every record of one job listing (``query`` or ``ingest``), following ``nextRecordsUrl``."""
    out: list[dict[str, Any]] = []
    path = kind
    while True:
        body = ctx.client.bulk_get(path)
        out += [r for r in body.get("records", []) if isinstance(r, dict)]
        nxt = body.get("nextRecordsUrl")
        if body.get("done", True) or not nxt:
            return out
        path = str(nxt).split("/jobs/", 1)[-1]  # "/services/data/vXX.X/jobs/query?queryLocator=…"


def job_row(org: str, rec: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A ``bulk_jobs`` row from one listing record (a job without id or creation time is malformed)."""
    job_id, created = text(rec.get("id"), 18), parse_dt(rec.get("createdDate"))
    if not job_id or created is None:
        raise Malformed("Bulk job without id or createdDate")
    return {
        "org": org,
        "job_id": job_id,
        "job_type": text(rec.get("jobType"), 20) or "",
        "operation": text(rec.get("operation"), 20) or "",
        "object": text(rec.get("object"), 255) or "",
        "created_by": text(rec.get("createdById"), 18) or "",
        "created_date": created,
        "system_modstamp": parse_dt(rec.get("systemModstamp")),
        "state": text(rec.get("state"), 20) or "",
        "first_seen": now,
        "last_seen": now,
        "gone_at": None,
    }


@dataclass
class JobsRead:
    """One reading: the listed records, and the job resources read for their row counts."""

    records: list[dict[str, Any]]
    details: dict[str, dict[str, Any]] = field(default_factory=dict)


class BulkJobsSource(DailySnapshotSource[JobsRead]):
    """GET jobs/query + jobs/ingest (and the rows of complete query jobs) → ``bulk_jobs``."""

    name: ClassVar[str] = "bulk_jobs"
    label: ClassVar[str] = "Bulk API jobs"
    min_api_version: ClassVar[tuple[float, str]] = (47.0, "the Bulk API 2.0 query job listing")
    # UNCONFIRMED (docs/salesforce-behaviour.md §6): which permission lets a user list every user's
    # jobs; Setup's Bulk Data Load Jobs page is a Setup page, so View Setup and Configuration is assumed
    permission: ClassVar[Permission | None] = Permission(
        "ViewSetup", "View Setup and Configuration", "the org's Bulk API job listings"
    )
    writes: ClassVar[tuple[Writes, ...]] = (("bulk_jobs", tuple(KEY)),)
    counted: ClassVar[tuple[str, ...]] = ("bulk_jobs",)

    @classmethod
    def probe(cls) -> str | None:
        """No SOQL object to probe: the listing is a REST resource."""
        return None

    def read(self, ctx: Context) -> JobsRead:
        """Both listings, then the resource of each complete query job whose rows are not stored yet."""
        ingest = [{**r, "jobType": r.get("jobType") or "V2Ingest"} for r in listing(ctx, "ingest")]
        got = JobsRead([*listing(ctx, "query"), *ingest])
        t = schema.bulk_jobs
        with ctx.engine.connect() as conn:
            counted = set(
                conn.execute(select(t.c.job_id).where(t.c.org == ctx.org, t.c.records.is_not(None))).scalars()
            )
        todo = [
            str(r["id"]) for r in got.records
            if r.get("state") == "JobComplete" and r.get("jobType") != "V2Ingest" and r.get("id")
            and str(r["id"]) not in counted
        ]  # fmt: skip
        for job_id in todo[:MAX_DETAILS]:
            try:
                got.details[job_id] = ctx.client.bulk_get(f"query/{job_id}")
            except SalesforceCallError as exc:  # deleted since the listing: its gone_at says so next run
                ctx.stats.notes.append(f"job {job_id}: {exc.code}")
        return got

    def store(self, ctx: Context, conn: Connection, data: JobsRead) -> Reading:
        """Upsert the listed jobs with their rows, and mark the ones no longer listed as gone."""
        now = utcnow()
        rows: dict[str, dict[str, Any]] = {}
        for rec in data.records:
            try:
                row = job_row(ctx.org, rec, now)
            except Malformed as exc:
                ctx.quarantine(conn, self.name, str(exc), rec, str(rec.get("id") or "") or None)
                continue
            rows[row["job_id"]] = row
        t = schema.bulk_jobs
        known = {r.job_id: r for r in conn.execute(select(t).where(t.c.org == ctx.org))}
        for job_id, row in rows.items():
            old, info = known.get(job_id), data.details.get(job_id, {})
            row["first_seen"] = old.first_seen if old is not None else now
            row["records"] = (
                integer(info.get("numberRecordsProcessed")) if info else (old.records if old else None)
            )
            row["processing_ms"] = (
                integer(info.get("totalProcessingTime")) if info else (old.processing_ms if old else None)
            )
        if rows:
            upsert(conn, t, list(rows.values()), key=KEY, update=[*UPDATED, "records", "processing_ms"])
        vanished = [
            j for j, r in known.items()
            if j not in rows and r.gone_at is None and r.created_date > now - LIFESPAN
        ]  # fmt: skip
        if vanished:
            conn.execute(update(t).where(t.c.org == ctx.org, t.c.job_id.in_(vanished)).values(gone_at=now))
        notes = [f"{len(rows)} job(s) listed, {len(vanished)} gone since the last reading, "
                 f"{len(data.details)} counted"]  # fmt: skip
        return Reading({"read_at": now.isoformat(), "jobs": len(rows)}, len(data.records), len(rows), len(rows),
                       notes=notes)  # fmt: skip
