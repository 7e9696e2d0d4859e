"""EventLogFile Login and ApiTotalUsage: new and late files by CreatedDate, parsed from disk.

Parent/child (:mod:`collectors.sources.parent_child`, which owns the cursor): EventLogFile records
are the parents, found by a ``(CreatedDate, Id)`` cursor (files arrive up to 3 days after their
LogDate, so LogDate is the wrong cursor); the rows of each file's CSV are its children. One interval per org (Hourly or
Daily, never both: they hold the same events twice). Each file is streamed to disk, parsed by its
``LogFileFieldNames`` header, and stored with its ``event_log_files`` row and the cursor in one
transaction, so a crash re-reads at most one file. Files created inside the settle window are
processed now and looked at again next run (the cursor stops at the signpost); a file already
processed with the same length is skipped. Login rows go to ``logins`` (``elf_login``, keyed by
REQUEST_ID, at TIMESTAMP_DERIVED); ApiTotalUsage calls go to ``api_usage_events`` (keyed by
REQUEST_ID, so a re-read, superseding or retransmitted file counts each call once) and the hourly
cells of the hours a file touched are recomputed from them.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import select

from collectors.run import ledger
from collectors.sources import elf_csv
from collectors.sources.base import Context, Permission, Writes
from collectors.sources.parent_child import ParentChildSource
from collectors.sources.values import Malformed, Record, get, integer, number, parse_dt
from oauthwatch.store import schema
from oauthwatch.store.api_usage import API_DIMS, refresh_api_usage, store_api_events
from oauthwatch.store.writes import hour_floor, upsert, utcnow

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

EVENT_TYPES = ("Login", "ApiTotalUsage")
FIELDS = ("Id", "EventType", "LogDate", "CreatedDate", "Interval", "Sequence", "LogFileLength", "LogFile",
          "LogFileFieldNames")  # fmt: skip
LATE_AFTER = {"Hourly": timedelta(hours=12), "Daily": timedelta(days=1, hours=12)}
PERIOD = {"Hourly": timedelta(hours=1), "Daily": timedelta(days=1)}


def store_file_rows(
    ctx_org: str,
    conn: Connection,
    *,
    file_id: str,
    event_type: str,
    path: Path,
    quarantine: Any,
    primary: str | None = None,
    rows: Iterable[tuple[int, dict[str, str]]] | None = None,
) -> tuple[int, int]:
    """Parse the CSV at ``path`` (or the already parsed ``rows``) and store them; returns (read, stored)."""
    if rows is None:
        _header, rows = elf_csv.read_csv(path)
    read = stored = 0
    if event_type == "Login":
        batch: list[dict[str, Any]] = []
        hours: set[datetime] = set()

        def flush() -> None:
            if batch:
                upd = [c for c in batch[0] if c not in ("org", "source", "natural_id", "ingested_at")]
                upsert(conn, schema.logins, batch, key=["org", "source", "natural_id"], update=upd)
                hours.update(r["login_time"] for r in batch)
                batch.clear()

        for line, row in rows:
            read += 1
            try:
                batch.append(elf_csv.login_row(ctx_org, row, file_id=file_id, line=line))
                stored += 1
            except Malformed as exc:
                quarantine(
                    conn,
                    f"{exc} (file {file_id} line {line})",
                    row,
                    row.get("REQUEST_ID") or f"{file_id}:{line}",
                )
            if len(batch) >= 2000:
                flush()
        flush()
        if primary == "elf_login" and hours:
            from oauthwatch.store.writes import refresh_login_rollup

            refresh_login_rollup(conn, ctx_org, "elf_login", hours)
        return read, stored
    events: list[dict[str, Any]] = []
    touched: set[datetime] = set()

    def flush_events() -> None:
        nonlocal stored
        if events:
            new, already = store_api_events(conn, ctx_org, events)
            stored += new + already
            touched.update(hour_floor(e["event_time"]) for e in events)
            events.clear()

    for line, row in rows:
        read += 1
        try:
            events.append(elf_csv.api_event(ctx_org, row, file_id=file_id, line=line))
        except Malformed as exc:
            quarantine(
                conn, f"{exc} (file {file_id} line {line})", row, row.get("REQUEST_ID") or f"{file_id}:{line}"
            )
        if len(events) >= 5000:
            flush_events()
    flush_events()
    refresh_api_usage(conn, ctx_org, touched)
    return read, stored


class EventLogFilesSource(ParentChildSource):
    """EventLogFile (Login, ApiTotalUsage) → ``event_log_files`` + ``logins`` + ``api_usage_events``
    (and the ``api_usage_hourly`` cells recomputed from them)."""

    name: ClassVar[str] = "event_log_files"
    label: ClassVar[str] = "EventLogFile"
    object: ClassVar[str] = "EventLogFile"
    min_api_version: ClassVar[tuple[float, str]] = (37.0, "EventLogFile.Interval and Sequence")
    permission: ClassVar[Permission | None] = Permission(
        "ViewEventLogFiles",
        "View Event Log Files",
        "Event Log Files (with API Enabled; View All Data also grants it)",
        "https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_objects_eventlogfile.htm",
    )
    licence: ClassVar[str | None] = "the Event Monitoring add-on"
    parent_fields: ClassVar[tuple[str, ...]] = FIELDS
    writes: ClassVar[tuple[Writes, ...]] = (
        ("event_log_files", ("org", "file_id")),
        ("logins", ("org", "source", "natural_id")),
        ("api_usage_events", ("org", "request_id")),
        ("api_usage_hourly", ("org", "hour", *API_DIMS)),
    )

    def __init__(self) -> None:
        self.days: dict[date, list[dict[str, Any]]] = {}

    def where(self, ctx: Context) -> str:
        """The event types oauthwatch reads, in the org's one interval (never both: same events twice)."""
        types = ", ".join(f"'{t}'" for t in EVENT_TYPES)
        return f"EventType IN ({types}) AND Interval = '{ctx.org_settings.event_log_interval}'"

    def process(self, ctx: Context, rec: Record) -> None:
        """One file: downloaded, parsed and stored with its row and the cursor (or skipped if done)."""
        file_id = str(get(rec, "Id"))
        created, log_date = parse_dt(get(rec, "CreatedDate")), parse_dt(get(rec, "LogDate"))
        event_type, interval = (
            str(get(rec, "EventType")),
            str(get(rec, "Interval") or ctx.org_settings.event_log_interval),
        )
        length = integer(number(get(rec, "LogFileLength")))
        f = schema.event_log_files.c
        with ctx.engine.connect() as conn:
            done = conn.execute(
                select(f.length, f.processed_at).where(f.org == ctx.org, f.file_id == file_id)
            ).first()
        if created is None or log_date is None:
            with ctx.engine.begin() as conn:
                ctx.quarantine(
                    conn, self.name, "EventLogFile without CreatedDate or LogDate", dict(rec), file_id
                )
            return
        if done is None or done.processed_at is None or done.length != length:
            path = ctx.work_dir / f"{file_id}.csv"
            try:
                ctx.client.download(str(get(rec, "LogFile")), path, expected_size=length)
                with ctx.engine.begin() as conn:
                    read, stored = store_file_rows(
                        ctx.org,
                        conn,
                        file_id=file_id,
                        event_type=event_type,
                        path=path,
                        quarantine=lambda c, why, raw, nid: ctx.quarantine(c, self.name, why, raw, nid),
                        primary=ctx.org_settings.primary_login_source,
                    )
                    upsert(
                        conn,
                        schema.event_log_files,
                        [
                            {
                                "org": ctx.org,
                                "file_id": file_id,
                                "event_type": event_type,
                                "interval": interval,
                                "log_date": log_date,
                                "sequence": integer(get(rec, "Sequence")) or 0,
                                "created_date": created,
                                "length": length,
                                "rows": stored,
                                "processed_at": utcnow(),
                            }
                        ],
                        key=["org", "file_id"],
                        update=None,
                    )
                    self.advance(ctx, conn, created, file_id)
                ctx.stats.rows_read += read
                ctx.stats.rows_written += stored
            finally:
                path.unlink(missing_ok=True)
        else:
            with ctx.engine.begin() as conn:
                self.advance(ctx, conn, created, file_id)
        late = created - (log_date + PERIOD.get(interval, timedelta(days=1))) > LATE_AFTER.get(
            interval, timedelta(days=1)
        )
        self.days.setdefault(log_date.date(), []).append({"late": late, "interval": interval})

    def coverage(self, conn: Connection, ctx: Context) -> None:
        now = ctx.run_start
        f = schema.event_log_files.c
        for day, files in self.days.items():
            lo = ledger.day_start(day)
            stored = list(
                conn.execute(
                    select(f.rows).where(
                        f.org == ctx.org, f.log_date >= lo, f.log_date < lo + timedelta(days=1)
                    )
                ).scalars()
            )
            total_rows = sum(int(r or 0) for r in stored)
            interval = files[0]["interval"]
            if any(x["late"] for x in files):
                status, note = "late", "a file arrived after the usual delay"
            elif interval == "Daily" or now - (lo + timedelta(days=1)) > timedelta(days=3):
                status, note = "complete", None
            else:
                status, note = "partial", "hourly files may still arrive (up to 3 days)"
            ledger.set_coverage(
                conn, ctx.org, self.name, day, status, total_rows, note or f"{len(stored)} file(s)"
            )
