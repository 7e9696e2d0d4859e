"""Event Log Files: the base that owns listing, download, length check, per-file checkpoint and days.

A file source declares only the event types it reads (:class:`FileType` declarations: the event
type, what it writes, how a file's CSV rows are stored); this base (on
:class:`collectors.sources.parent_child.ParentChildSource`, which owns the ``(CreatedDate, Id)``
cursor) does the rest:

- **What the org has** (docs/salesforce-behaviour.md §7): ``EventLogFile`` is described once and
  the answer kept with the checkpoint for a day. Without the Event Monitoring licence the object
  has no ``Interval`` field and only a few daily event types; the listing then selects and filters
  only what exists, so the same code reads both kinds of org.
- **Listing:** the declared event types the org has, in the org's one interval (Hourly or Daily,
  never both: they hold the same events twice), from the checkpoint on.
- **Download and length check:** each file is streamed to disk and its size compared with
  ``LogFileLength``. A file that comes back with the same wrong size on each of
  :attr:`FileSource.download_attempts` attempts (each with the client's own retries) is
  quarantined with its reason, listed in ``event_log_files`` as not processed, its day marked
  ``partial``, and the cursor moves on: one bad file never wedges the files after it.
  ``collect --since`` reads it again. A different size each time is the wire: the run fails.
- **Per-file checkpoint:** the file's rows, its ``event_log_files`` row and the cursor are stored in
  ONE transaction, so a crash re-reads at most one file; a file already processed with the same
  length is skipped.
- **Day coverage:** ``late`` when a file came after the usual delay, ``partial`` while hourly files
  may still arrive or when a file of the day was quarantined, else ``complete``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import func, select

from collectors.api.client import LengthMismatch, RetriableError
from collectors.run import ledger
from collectors.sources import elf_csv
from collectors.sources.base import Context, Writes
from collectors.sources.parent_child import ParentChildSource
from collectors.sources.values import Record, get, integer, number, parse_dt
from oauthwatch.store import schema
from oauthwatch.store.writes import upsert, utcnow

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Connection

    from oauthwatch.config import OrgSettings

log = logging.getLogger(__name__)

LATE_AFTER = {"Hourly": timedelta(hours=12), "Daily": timedelta(days=1, hours=12)}
PERIOD = {"Hourly": timedelta(hours=1), "Daily": timedelta(days=1)}
SHAPE_DAYS = 1  # the org's answer to describe is asked again after this many days


@dataclass
class FileRows:
    """One downloaded file as a file type stores it."""

    org: str
    file_id: str
    rows: Iterable[tuple[int, dict[str, str]]]  # (line number, row by header)
    quarantine: Any  # (connection, reason, row, natural id): a row that cannot be stored
    primary: str | None = None  # the org's primary login source


class FileType:
    """One event type's declaration: which files, what they write, how their rows are stored."""

    event_type: ClassVar[str]  # EventLogFile.EventType
    name: ClassVar[str]  # how the product calls these rows (e.g. ``elf_login``)
    label: ClassVar[str] = ""
    writes: ClassVar[tuple[Writes, ...]] = ()

    def store(self, conn: Connection, f: FileRows) -> tuple[int, int]:  # pragma: no cover - abstract
        """Store one file's parsed rows in ``conn``; returns (rows read, rows stored)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Shape:
    """What the org's EventLogFile has: its fields and event types (from describe)."""

    fields: frozenset[str]
    event_types: frozenset[str] | None  # None: describe listed no picklist values

    @property
    def has_interval(self) -> bool:
        """``Interval`` (and hourly files) exist only with the Event Monitoring licence."""
        return "Interval" in self.fields

    def as_cursor(self, at: datetime) -> dict[str, Any]:
        types = sorted(self.event_types) if self.event_types is not None else None
        return {"fields": sorted(self.fields), "types": types, "at": at.isoformat()}

    @classmethod
    def from_cursor(cls, raw: dict[str, Any]) -> Shape:
        types = raw.get("types")
        return cls(frozenset(raw.get("fields") or ()), frozenset(types) if types is not None else None)

    @classmethod
    def from_describe(cls, desc: dict[str, Any]) -> Shape:
        fields = {str(f.get("name")) for f in desc.get("fields") or ()}
        kinds: dict[str, Any] = next(
            (f for f in desc.get("fields") or () if f.get("name") == "EventType"), {}
        )
        values = {str(v["value"]) for v in kinds.get("picklistValues") or () if v.get("active", True)}
        return cls(frozenset(fields), frozenset(values) if values else None)


class FileSource(ParentChildSource):
    """Event Log Files of the declared :attr:`file_types`; see the module docstring."""

    object: ClassVar[str] = "EventLogFile"
    file_types: ClassVar[tuple[type[FileType], ...]]
    parent_fields: ClassVar[tuple[str, ...]] = (
        "Id", "EventType", "LogDate", "CreatedDate", "Interval", "Sequence", "LogFileLength", "LogFile",
        "LogFileFieldNames",
    )  # fmt: skip
    download_attempts: ClassVar[int] = 2  # each with the client's own bounded retries
    describes: ClassVar[bool] = True

    @classmethod
    def shape_notes(cls, describe: dict[str, Any], org: OrgSettings) -> list[tuple[str, str, str, str]]:
        """Without the Event Monitoring licence: daily files only, kept one day (docs/salesforce-behaviour.md §7)."""
        shape = Shape.from_describe(describe)
        if shape.has_interval:
            return []
        notes = [
            ("info", f"{cls.name}_no_event_monitoring",
             "EventLogFile has no Interval field: this org has no Event Monitoring licence, so only "
             "daily files of the free event types exist, each kept one day",
             "collect at least once a day, or files are gone before they are read"),
        ]  # fmt: skip
        if org.event_log_interval == "Hourly":
            notes.append(
                ("warning", f"{cls.name}_hourly_unavailable",
                 "event_log_interval is Hourly but hourly files need the Event Monitoring licence",
                 f'set event_log_interval = "Daily" for org {org.name} (daily files are read meanwhile)')
            )  # fmt: skip
        return notes

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """The ``event_log_files`` ledger plus what each declared file type writes: declared once."""
        super().__init_subclass__(**kwargs)
        types = cls.__dict__.get("file_types")
        if types is not None and "writes" not in cls.__dict__:
            seen: dict[str, Writes] = {"event_log_files": ("event_log_files", ("org", "file_id"))}
            for t in types:
                for w in t.writes:
                    seen.setdefault(w[0], w)
            cls.writes = tuple(seen.values())

    def __init__(self) -> None:
        self.days: dict[date, list[dict[str, Any]]] = {}
        self.shape: Shape | None = None
        self.handlers = {t.event_type: t() for t in self.file_types}

    # -- what the org has ----------------------------------------------------------------------
    def begin(self, ctx: Context, cursor: dict[str, Any] | None) -> dict[str, Any] | None:
        """Describe EventLogFile unless the checkpoint holds a recent answer; keep it there."""
        kept = (cursor or {}).get("shape")
        at = parse_dt(kept.get("at")) if kept else None
        if kept and at is not None and ctx.run_start - at < timedelta(days=SHAPE_DAYS):
            self.shape = Shape.from_cursor(kept)
            return cursor
        self.shape = Shape.from_describe(ctx.client.describe(self.object))
        new = {**(cursor or {}), "shape": self.shape.as_cursor(ctx.run_start)}
        with ctx.engine.begin() as conn:
            ledger.save_checkpoint(conn, ctx.org, self.name, new)
        if not self.shape.has_interval:
            ctx.stats.notes.append(
                "EventLogFile has no Interval field (no Event Monitoring licence): daily files"
            )
        return new

    def wanted_types(self) -> list[str]:
        """The declared event types this org has (all of them when describe did not say)."""
        have = self.shape.event_types if self.shape is not None else None
        return [t for t in self.handlers if have is None or t in have]

    def select_fields(self, ctx: Context) -> tuple[str, ...]:
        have = self.shape.fields if self.shape is not None else None
        return tuple(f for f in self.parent_fields if have is None or f in have)

    def where(self, ctx: Context) -> str:
        types = ", ".join(f"'{t}'" for t in self.wanted_types()) or "''"
        cond = f"EventType IN ({types})"
        if self.shape is None or self.shape.has_interval:
            cond += f" AND Interval = '{ctx.org_settings.event_log_interval}'"
        return cond

    def interval_of(self, ctx: Context, rec: Record) -> str:
        """A file's interval: its ``Interval``; without that field every file is a daily one."""
        if self.shape is not None and not self.shape.has_interval:
            return "Daily"
        return str(get(rec, "Interval") or ctx.org_settings.event_log_interval)

    # -- one file ------------------------------------------------------------------------------
    def process(self, ctx: Context, rec: Record) -> None:
        """One file: downloaded, checked, stored with its row and the cursor (or skipped if done)."""
        file_id = str(get(rec, "Id"))
        created, log_date = parse_dt(get(rec, "CreatedDate")), parse_dt(get(rec, "LogDate"))
        event_type, interval = str(get(rec, "EventType")), self.interval_of(ctx, rec)
        length = integer(number(get(rec, "LogFileLength")))
        handler = self.handlers.get(event_type)
        if created is None or log_date is None or handler is None:
            why = (
                "EventLogFile without CreatedDate or LogDate"
                if handler
                else f"event type {event_type!r} not read"
            )
            with ctx.engine.begin() as conn:
                ctx.quarantine(conn, self.name, why, dict(rec), file_id)
            return
        f = schema.event_log_files.c
        with ctx.engine.connect() as conn:
            done = conn.execute(
                select(f.length, f.processed_at).where(f.org == ctx.org, f.file_id == file_id)
            ).first()
        meta = {
            "org": ctx.org, "file_id": file_id, "event_type": event_type, "interval": interval,
            "log_date": log_date, "sequence": integer(get(rec, "Sequence")) or 0, "created_date": created,
            "length": length,
        }  # fmt: skip
        if done is None or done.processed_at is None or done.length != length:
            path = ctx.work_dir / f"{file_id}.csv"
            try:
                wrong = self.download(ctx, str(get(rec, "LogFile")), path, length)
                with ctx.engine.begin() as conn:
                    if wrong is not None:
                        self.set_aside(ctx, conn, rec, meta, wrong)
                    else:
                        _header, rows = elf_csv.read_csv(path)
                        read, stored = handler.store(
                            conn,
                            FileRows(
                                ctx.org,
                                file_id,
                                rows,
                                lambda c, why, raw, nid: ctx.quarantine(c, self.name, why, raw, nid),
                                ctx.org_settings.primary_login_source,
                            ),
                        )
                        upsert(conn, schema.event_log_files, [{**meta, "rows": stored, "processed_at": utcnow()}],
                               key=["org", "file_id"], update=None)  # fmt: skip
                        ctx.stats.rows_read += read
                        ctx.stats.rows_written += stored
                    self.advance(ctx, conn, created, file_id)
            finally:
                path.unlink(missing_ok=True)
        else:
            with ctx.engine.begin() as conn:
                self.advance(ctx, conn, created, file_id)
        late = created - (log_date + PERIOD.get(interval, timedelta(days=1))) > LATE_AFTER.get(
            interval, timedelta(days=1)
        )
        self.days.setdefault(log_date.date(), []).append({"late": late, "interval": interval})

    def download(self, ctx: Context, url: str, path: Path, length: int | None) -> str | None:
        """Stream one file to ``path``; None when it is whole, else why it is not after every attempt.

        A size that differs from ``LogFileLength`` is retried (the client retries each attempt
        too). Only a file that comes back with the same wrong size every time is given up on: a
        different size each time is the wire, not the file, and fails the run (the file is read
        again next run), as any other failure does.
        """
        seen: list[str] = []
        last: RetriableError | None = None
        for _attempt in range(self.download_attempts):
            try:
                size = ctx.client.download(url, path, expected_size=length)
            except RetriableError as exc:
                if not isinstance(exc.__cause__, LengthMismatch):
                    raise
                seen.append(str(exc.__cause__))
                last = exc
                continue
            if length is None or size == length:
                return None
            seen.append(f"got {size} of {length} bytes")
        if len(set(seen)) > 1:
            raise last or RetriableError("DOWNLOAD_UNSTABLE", f"{url}: " + "; ".join(seen))
        return f"size differs from LogFileLength on each of {self.download_attempts} attempts ({seen[-1]})"

    def set_aside(self, ctx: Context, conn: Connection, rec: Record, meta: dict[str, Any], why: str) -> None:
        """Quarantine a file that cannot be read whole; listed as not processed, its day partial."""
        ctx.quarantine(conn, self.name, f"EventLogFile {meta['file_id']}: {why}", dict(rec), meta["file_id"])
        upsert(conn, schema.event_log_files, [{**meta, "rows": 0, "processed_at": None}],
               key=["org", "file_id"], update=None)  # fmt: skip
        ctx.stats.incomplete = True
        ctx.stats.notes.append(f"file {meta['file_id']} quarantined: {why}"[:300])
        log.warning("%s/%s: file %s quarantined: %s", ctx.org, self.name, meta["file_id"], why)

    # -- coverage ------------------------------------------------------------------------------
    def coverage(self, conn: Connection, ctx: Context) -> None:
        f = schema.event_log_files.c
        for day, files in self.days.items():
            lo = ledger.day_start(day)
            in_day = (f.org == ctx.org, f.log_date >= lo, f.log_date < lo + timedelta(days=1))
            stored = list(conn.execute(select(f.rows).where(*in_day)).scalars())
            set_aside = conn.execute(
                select(func.count()).where(*in_day, f.processed_at.is_(None))
            ).scalar_one()
            total_rows = sum(int(r or 0) for r in stored)
            interval = files[0]["interval"]
            if set_aside:
                status, note = "partial", f"{set_aside} file(s) quarantined: size differs from LogFileLength"
            elif any(x["late"] for x in files):
                status, note = "late", "a file arrived after the usual delay"
            elif interval == "Daily" or ctx.run_start - (lo + timedelta(days=1)) > timedelta(days=3):
                status, note = "complete", None
            else:
                status, note = "partial", "hourly files may still arrive (up to 3 days)"
            ledger.set_coverage(
                conn, ctx.org, self.name, day, status, total_rows, note or f"{len(stored)} file(s)"
            )
