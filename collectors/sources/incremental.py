"""Event objects read by a ``(timestamp, Id)`` cursor: the base that owns the whole exactness story.

A concrete source only says which object, which fields, which cursor field, which table and key,
and how a record becomes a row (:meth:`IncrementalSource.to_row`). This base:

- resumes from the checkpoint minus ``collect.overlap_seconds`` with ``>=`` (never ``>``: rows
  sharing a timestamp are not skipped), ordered by (cursor field, Id);
- upserts every group of pages on the natural key and saves the cursor in the SAME transaction;
- caps the cursor with a signpost (run start minus ``collect.settle_seconds``) so events that land
  late during the run are read again next time; the cursor never moves back;
- quarantines a malformed record with its reason and counts it; the page goes on;
- restarts the query from the last committed cursor when its query locator expires;
- hands a first run above ``collect.bulk_threshold_rows`` (``COUNT()`` first) to the context's
  backfill (Bulk API 2.0), and reads over REST when that is refused;
- keeps the hourly login rollups exact (:mod:`collectors.sources.rollups`) and writes the per-day
  coverage rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import func, select

from collectors.api.client import QueryLocatorExpired
from collectors.run import ledger
from collectors.sources.base import BackfillRefused, Bad, Context, Source, split_records
from collectors.sources.paging import prefetch
from collectors.sources.rollups import RollupMark, without_mark
from collectors.sources.values import Malformed, Record, Row, get, parse_dt, record_id, soql_dt
from oauthwatch.rules.times import as_utc as _aware
from oauthwatch.store.upsert import Params, bind_params, tune_for_backfill, upsert

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)


@dataclass
class Converted:
    """One page after conversion: its rows, its bad records, its last record (for the cursor)."""

    read: int
    rows: list[Row]
    bad: list[Bad]
    last: Record | None
    total: int | None = None
    params: Params | None = None  # SQLite rows as DBAPI tuples, built off the writer thread


class IncrementalSource(Source):
    """An event object read by a ``(timestamp, Id)`` cursor; see the module docstring."""

    object: ClassVar[str]
    fields: ClassVar[tuple[str, ...]]
    cursor_field: ClassVar[str]
    id_field: ClassVar[str] = "Id"
    table: ClassVar[Table]
    key: ClassVar[tuple[str, ...]]
    time_column: ClassVar[str]
    where: ClassVar[str] = ""
    keep_on_update: ClassVar[tuple[str, ...]] = ()  # columns a re-read must not overwrite
    row_columns: ClassVar[list[str]] = []  # the keys of every row ``to_row`` returns, in order
    bulk_ok: ClassVar[bool] = False  # a first run may be backfilled through the context's backfill
    batch_size: ClassVar[int] = 2000
    rollup_source: ClassVar[str | None] = None  # logins.source feeding login_rollup_hourly
    rollup_every_rows: ClassVar[int] = 100_000  # a daily rollup is re-aggregated whole: not too often
    commit_rows: ClassVar[int] = 10_000  # pages are grouped into transactions of about this many rows

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A stream writes its ``table`` under its ``key``: declared once, ``writes`` follows."""
        super().__init_subclass__(**kwargs)
        table = cls.__dict__.get("table")
        if table is not None and "writes" not in cls.__dict__:
            cls.writes = ((table.name, tuple(cls.key)),)

    def __init__(self) -> None:
        self.rollups = RollupMark()
        self._resume: datetime | None = None

    # -- declarations a concrete source fills in -------------------------------------------
    def to_row(self, ctx: Context, record: Record) -> Row | None:  # pragma: no cover - abstract
        """The store row of one record, None to drop it, :class:`Malformed` to quarantine it."""
        raise NotImplementedError

    def coverage_filter(self, ctx: Context) -> list[Any]:
        """The rows of ``table`` this source's coverage counts."""
        return [self.table.c.org == ctx.org]

    def finish(self, ctx: Context) -> None:
        """Hook run after the last page (e.g. fill users seen for the first time)."""

    # -- the generic engine ----------------------------------------------------------------
    def soql(self, start: datetime | None) -> str:
        """The query from ``start`` on (everything when None), in cursor order."""
        conds = [c for c in (self.where,) if c]
        if start is not None:
            conds.insert(0, f"{self.cursor_field} >= {soql_dt(start)}")
        where = (" WHERE " + " AND ".join(conds)) if conds else ""
        return (
            f"SELECT {', '.join(self.fields)} FROM {self.object}{where} "
            f"ORDER BY {self.cursor_field} ASC, {self.id_field} ASC"
        )

    def key_of(self, rec: Record) -> str | None:
        """The record's natural id (for the quarantine and the cursor)."""
        v = get(rec, self.id_field)
        return str(v) if v else record_id(rec)

    def write(self, ctx: Context, conn: Connection, rows: list[Row], params: Params | None = None) -> None:
        """Upsert ``rows`` on the natural key (``params``: the same rows as SQLite tuples)."""
        update = [c for c in rows[0] if c not in self.key and c not in self.keep_on_update]
        upsert(conn, self.table, rows, key=list(self.key), update=update, params=params)

    def run(self, ctx: Context) -> None:
        """Read from the checkpoint to the signpost (see the module docstring)."""
        with ctx.engine.connect() as conn:
            cursor = ledger.load_checkpoint(conn, ctx.org, self.name)
        ctx.cursor_before = ctx.cursor_after = cursor
        start = self._start(ctx, cursor)
        if self.rollups.restore(cursor):  # a run died before its rollups caught up
            self.flush_rollup(ctx)
        try:
            self._run_with_restarts(ctx, cursor, start)
        finally:
            if self.rollups.range is not None:
                try:
                    self.flush_rollup(ctx)
                except Exception:
                    log.warning(
                        "%s/%s: rollup refresh deferred to the next run", ctx.org, self.name, exc_info=True
                    )
        self.finish(ctx)

    def _start(self, ctx: Context, cursor: dict[str, Any] | None) -> datetime | None:
        if ctx.since is not None:
            return ctx.since
        if cursor and cursor.get("ts"):
            ts = parse_dt(cursor["ts"])
            assert ts is not None
            return ts - timedelta(seconds=ctx.collect.overlap_seconds)
        return None  # first run: everything the org still keeps

    def rollup_on(self, ctx: Context) -> bool:
        """Whether this stream feeds the org's hourly login rollups (its primary login source)."""
        return self.rollup_source is not None and ctx.org_settings.primary_login_source == self.rollup_source

    def flush_rollup(self, ctx: Context) -> None:
        """Bring the rollups up to the rows written so far (see :mod:`collectors.sources.rollups`)."""
        self.rollups.flush(ctx, self.name, self.rollup_source)

    def _run_with_restarts(self, ctx: Context, cursor: dict[str, Any] | None, start: datetime | None) -> None:
        restarts = 0
        while True:
            try:
                first_run = restarts == 0 and cursor is None
                total = self._backfill_total(ctx, start) if first_run and self.bulk_ok else 0
                if total and ctx.backfill is not None:
                    self._backfill(ctx, start, total)
                else:
                    self._run_rest(ctx, start)
                break
            except QueryLocatorExpired:
                restarts += 1
                if restarts > 5:
                    raise
                if self._resume is not None:  # the last row committed, minus the overlap
                    start = self._resume - timedelta(seconds=ctx.collect.overlap_seconds)
                ctx.stats.notes.append("query locator expired; restarted from the checkpoint")
                log.info("%s/%s: query locator expired, restarting from the checkpoint", ctx.org, self.name)

    def _backfill_total(self, ctx: Context, start: datetime | None) -> int:
        """``COUNT()`` of the backfill when it is above ``collect.bulk_threshold_rows``, else 0."""
        if ctx.backfill is None:
            return 0
        soql = self.soql(start)
        count_soql = "SELECT COUNT() FROM " + soql.split(" FROM ", 1)[1].split(" ORDER BY ", 1)[0]
        n = ctx.client.count(count_soql)
        return n if n > ctx.collect.bulk_threshold_rows else 0

    def _backfill(self, ctx: Context, start: datetime | None, total: int) -> None:
        """The context's backfill (Bulk API 2.0); an org that refuses it (object not supported,
        feature off, job failed) is read over REST from the same start."""
        assert ctx.backfill is not None
        try:
            ctx.backfill(self, ctx, start, total)
        except BackfillRefused as exc:
            ctx.stats.notes.append(f"Bulk API 2.0 refused the backfill ({exc}); read over REST instead")
            log.info("%s/%s: Bulk API 2.0 refused (%s); backfilling over REST", ctx.org, self.name, exc)
            self._run_rest(ctx, start)

    def advance(self, ctx: Context, last: Record) -> dict[str, Any]:
        """The cursor after ``last``: capped by the signpost, never moved back."""
        ts = parse_dt(get(last, self.cursor_field))
        rid = self.key_of(last) or ""
        prev = ctx.cursor_after or {}
        cap = ctx.signpost
        if ts is None:
            return without_mark(prev)
        if ts > cap:
            ts, rid = cap, ""
        new = {"ts": ts.isoformat(), "id": rid}
        if prev.get("ts"):
            old = (parse_dt(prev["ts"]), prev.get("id") or "")
            if (ts, rid) < old:
                return without_mark(prev)
        return new

    def _convert(self, ctx: Context, records: Sequence[Record], total: int | None = None) -> Converted:
        rows, bad = split_records(records, lambda r: self.to_row(ctx, r), self.key_of)
        params = None
        if rows and ctx.engine.dialect.name == "sqlite":
            params = bind_params(ctx.engine.dialect, self.table, list(rows[0]), rows)
        return Converted(len(records), rows, bad, self._last_valid(records), total, params)

    def _commit(self, ctx: Context, batch: Sequence[Converted]) -> None:
        """Store converted pages, their quarantined records and the cursor in ONE transaction."""
        rows = [r for c in batch for r in c.rows]
        last = next((c.last for c in reversed(batch) if c.last is not None), None)
        rollup = self.rollup_on(ctx)
        with ctx.engine.begin() as conn:
            tune_for_backfill(conn)
            for c in batch:
                for reason, raw, nid in c.bad:
                    ctx.quarantine(conn, self.name, reason, raw, nid)
            if rows:
                cols = list(rows[0])
                same = all(c.params is not None and list(c.rows[0]) == cols for c in batch if c.rows)
                params = [p for c in batch for p in (c.params or ())] if same else None
                self.write(ctx, conn, rows, params)
                if rollup:
                    times = [r[self.time_column] for r in rows]
                    self.rollups.widen(min(times), max(times))
            cursor = self.advance(ctx, last) if last is not None else dict(ctx.cursor_after or {})
            self.rollups.note(cursor)
            if last is not None or self.rollups.range is not None:
                ledger.save_checkpoint(conn, ctx.org, self.name, cursor)
        if last is not None or self.rollups.range is not None:
            ctx.cursor_after = cursor
        if last is not None:
            self._resume = parse_dt(get(last, self.cursor_field))
        ctx.stats.rows_read += sum(c.read for c in batch)
        ctx.stats.rows_written += len(rows)
        self.rollups.written(len(rows))
        if self.rollups.range is not None and self.rollups.rows_since >= self.rollup_every_rows:
            self.flush_rollup(ctx)

    def _run_rest(self, ctx: Context, start: datetime | None) -> None:
        """Pages are fetched and converted by a helper thread while this one writes the previous
        ones (SQLite and the sockets release the GIL, so the two really overlap)."""
        size = min(self.batch_size, ctx.collect.query_batch_size)
        pages = ctx.client.query_pages(self.soql(start), batch_size=size)
        converted = (self._convert(ctx, p.records, p.total_size) for p in pages)
        buf: list[Converted] = []
        pending = done = 0
        try:
            for c in prefetch(converted, depth=3):
                ctx.check_stop()
                buf.append(c)
                pending += c.read
                if pending >= self.commit_rows:
                    self._commit(ctx, buf)
                    done += pending
                    buf, pending = [], 0
                    if ctx.progress:
                        ctx.progress(done, c.total)
        except Exception:
            if buf:  # keep what was read before the failure (budget, faults, stop request)
                self._commit(ctx, buf)
            raise
        if buf:
            self._commit(ctx, buf)
            if ctx.progress:
                ctx.progress(done + pending, buf[-1].total)

    def _last_valid(self, recs: Sequence[Record]) -> Record | None:
        for rec in reversed(recs):
            try:
                if parse_dt(get(rec, self.cursor_field)) is not None:
                    return rec
            except Malformed:
                continue
        return None

    # -- coverage ----------------------------------------------------------------------------
    def coverage(self, conn: Connection, ctx: Context) -> None:
        """Days from the first row read to the cursor: complete before its day, partial on it."""
        before = parse_dt((ctx.cursor_before or {}).get("ts"))
        after = parse_dt((ctx.cursor_after or {}).get("ts"))
        if ctx.read_through is not None and (after is None or ctx.read_through > after):
            after = ctx.read_through
        if after is None:
            return
        first = ctx.since or before
        if first is None:
            lo = conn.execute(
                select(func.min(self.table.c[self.time_column])).where(*self.coverage_filter(ctx))
            ).scalar_one_or_none()
            first = _aware(lo) if lo else after
        days = _days(ledger.day_of(first), ledger.day_of(after))
        counts = ledger.count_per_day(conn, self.table, self.time_column, self.coverage_filter(ctx), days)
        for d in days:
            status = "complete" if d < ledger.day_of(after) else "partial"
            note = None if status == "complete" else f"collected up to {after.isoformat()}"
            ledger.set_coverage(conn, ctx.org, self.name, d, status, counts[d], note)


def _days(a: date, b: date) -> list[date]:
    n = (b - a).days
    return [a + timedelta(days=i) for i in range(max(0, n) + 1)]
