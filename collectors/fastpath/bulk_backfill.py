"""Backfills through Bulk API 2.0: time-sliced jobs, CSV straight to row tuples, three stages at once.

A first run above ``collect.bulk_threshold_rows`` (the source's ``COUNT()``) lands here. Why it is
shaped this way:

- the range is cut into half-open ``LoginTime`` slices of about ``SLICE_ROWS`` rows, one query job
  each (``>= a AND < b``: every row in exactly one slice); while this process stores slice k the
  org already prepares slice k+1, instead of both sides waiting for each other over one big job;
- three stages overlap: a thread creates jobs and downloads result pages to files, a second parses
  the CSV into the store's parameter tuples (a source may give a fast converter that skips the
  per-record dicts; any record it cannot take goes through the source's ordinary ``to_row``, so
  malformed records are still quarantined with their reason) into a scratch SQLite stage, and the
  caller's thread moves each group of ~100k rows into the store with one ``INSERT … SELECT``
  (GIL released) together with its quarantined records, in one transaction;
- Bulk results carry no order, so the cursor moves once, at the end, to the newest row stored;
- an org that refuses the job (the object not supported by Bulk API 2.0, the feature not enabled,
  a failed job) gets the REST path instead, from the same start: upserts make the re-read harmless.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from collectors.api.client import SalesforceCallError
from collectors.fastpath.csv_converters import FastConverter, csv_converter
from collectors.fastpath.stage import Stage, conflict_clause, move_sql
from collectors.run import ledger
from collectors.sources.base import BackfillRefused, Bad, Context, split_records
from collectors.sources.paging import prefetch
from collectors.sources.values import parse_dt, soql_dt
from oauthwatch.rules.times import as_utc as _aware
from oauthwatch.store.partitions import conflict_target
from oauthwatch.store.upsert import bind_params, tune_for_backfill, upsert

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from collectors.sources.incremental import IncrementalSource

log = logging.getLogger(__name__)

SLICE_ROWS = 100_000  # rows per query job: the org renders the next slice while this one is stored
PAGE_RECORDS = 50_000  # maxRecords per result download
POLL_SECONDS = 0.2  # first wait for a job; the client's backoff grows it
GROUP_ROWS = 100_000  # rows per transaction: fewer commits (WAL checkpoints) than per parsed chunk
# Rollups catch up every so many rows (and at the end): each catch-up re-aggregates its days whole,
# so rarely is cheaper, but a catch-up mid-way runs while the parser fills the next groups, where one
# at the end runs alone. The range behind is in the checkpoint meanwhile (crash-safe).
ROLLUP_ROWS = 250_000
# The parser allocates a list and a tuple per record, none in a cycle; at the default young-generation
# threshold (700) the cyclic collector ran every few hundred records (~2 s CPU of a 1M-row backfill,
# measured). Raised for the backfill only and restored after: garbage still goes by refcount.
GC_YOUNG = 100_000


class BulkRefused(BackfillRefused):
    """The org would not run the backfill as a Bulk API 2.0 query; REST does it instead."""


@dataclass
class Chunk:
    """A group of parsed records: DBAPI tuples, bad records, and the newest login time in it."""

    read: int
    params: list[tuple[Any, ...]] = field(default_factory=list)
    bad: list[Bad] = field(default_factory=list)
    lo: str | None = None  # stored form of the oldest / newest time (lexical order = time order)
    hi: str | None = None
    hi_id: str | None = None
    written: int = 0  # rows it stores
    staged: tuple[int, int] | None = None  # rowid range in the stage, when the tuples went there


def slice_bounds(lo: datetime, hi: datetime, total: int, slice_rows: int = SLICE_ROWS) -> list[datetime]:
    """Inner boundaries cutting ``[lo, hi]`` into ``ceil(total / slice_rows)`` equal time slices."""
    n = max(1, math.ceil(total / slice_rows))
    step = (hi - lo) / n
    cuts = [lo + step * i for i in range(1, n)]
    out: list[datetime] = []
    for c in cuts:  # millisecond literals; equal cuts would make empty slices
        c = c.replace(microsecond=c.microsecond // 1000 * 1000)
        if c > lo and (not out or c > out[-1]):
            out.append(c)
    return out


def sliced_soql(src: IncrementalSource, start: datetime | None, cuts: list[datetime]) -> list[str]:
    """One SELECT per slice, ``[start, c1), [c1, c2) … [cn, ∞)``, on the source's cursor field."""
    base = f"SELECT {', '.join(src.fields)} FROM {src.object}"
    edges: list[datetime | None] = [start, *cuts, None]
    out = []
    for a, b in pairwise(edges):
        conds = [c for c in (src.where,) if c]
        if a is not None:
            conds.append(f"{src.cursor_field} >= {soql_dt(a)}")
        if b is not None:
            conds.append(f"{src.cursor_field} < {soql_dt(b)}")
        out.append(base + (" WHERE " + " AND ".join(conds) if conds else ""))
    return out


def run_bulk_backfill(src: IncrementalSource, ctx: Context, start: datetime | None, total: int) -> None:
    """Store every row of ``src`` from ``start`` through sliced Bulk API 2.0 jobs (see module doc)."""
    lo = start or _oldest(src, ctx)
    cuts = slice_bounds(lo, ctx.run_start, total, SLICE_ROWS) if lo is not None else []
    queries = sliced_soql(src, start, cuts)
    sqlite = ctx.engine.dialect.name == "sqlite"
    stage = Stage.create(ctx.work_dir, len(src.row_columns)) if sqlite else None
    files = prefetch(_result_files(ctx, queries), depth=10_000)  # paths on disk: no memory held
    chunks = prefetch(_parse(src, ctx, files, sqlite, stage), depth=2)
    top: tuple[str, str] | None = None
    done = 0
    conn = ctx.engine.connect()
    gc_was = gc.get_threshold()
    gc.set_threshold(max(gc_was[0], GC_YOUNG), *gc_was[1:])
    try:
        if stage is not None:
            stage.attach(conn)
        for chunk in chunks:
            ctx.check_stop()
            conn.begin()
            tune_for_backfill(conn)
            _write(src, ctx, conn, chunk, sqlite)
            if chunk.hi is not None and (top is None or chunk.hi > top[0]):
                top = (chunk.hi, chunk.hi_id or "")
            _commit_group(src, ctx, conn, chunk.read, chunk.written)
            done += chunk.read
            if ctx.progress:
                ctx.progress(done, total)
    finally:
        gc.set_threshold(*gc_was)
        if conn.in_transaction():
            conn.rollback()  # an uncommitted group is dropped; the cursor has not moved past it
        if stage is not None:
            with contextlib.suppress(Exception):
                stage.detach(conn)
        conn.close()
        for leftover in [*ctx.work_dir.glob("bulk-*.csv"), *ctx.work_dir.glob("bulk-stage-*")]:
            leftover.unlink(missing_ok=True)
    if top is not None:
        last = {src.cursor_field: _aware(top[0]).isoformat(), src.id_field: top[1]}
        with ctx.engine.begin() as conn:
            cursor = src.rollups.note(src.advance(ctx, last))
            ledger.save_checkpoint(conn, ctx.org, src.name, cursor)
            ctx.cursor_after = cursor
    ctx.stats.notes.append(f"backfilled {done} rows through Bulk API 2.0 ({len(queries)} query jobs)")


def _oldest(src: IncrementalSource, ctx: Context) -> datetime | None:
    soql = f"SELECT {src.cursor_field} FROM {src.object}"
    if src.where:
        soql += f" WHERE {src.where}"
    soql += f" ORDER BY {src.cursor_field} ASC LIMIT 1"
    for rec in ctx.client.query(soql):
        return parse_dt(rec.get(src.cursor_field))
    return None


def _result_files(ctx: Context, queries: list[str]) -> Iterator[Path]:
    """Result pages of every slice, in order. As soon as slice k's job is complete the job of
    slice k+1 is created, so the org prepares it while slice k is downloaded and stored."""
    start = getattr(ctx.client, "bulk_query_start", None)  # a client without it runs one at a time
    nxt: str | None = None
    for n, soql in enumerate(queries):
        try:
            if start is not None:
                job_id = nxt or start(soql)
                pages = ctx.client.bulk_query_csv(
                    soql, ctx.work_dir, max_records=PAGE_RECORDS, poll=POLL_SECONDS, job_id=job_id
                )
            else:
                pages = ctx.client.bulk_query_csv(soql, ctx.work_dir, max_records=PAGE_RECORDS)
            first = next(pages, None)
        except SalesforceCallError as exc:
            if n == 0:
                raise BulkRefused(str(exc)) from exc
            raise
        nxt = start(queries[n + 1]) if start is not None and n + 1 < len(queries) else None
        if first is not None:
            yield first
            yield from pages


def _parse(
    src: IncrementalSource, ctx: Context, files: Iterator[Path], sqlite: bool, stage: Stage | None
) -> Iterator[Chunk]:
    """Result files → groups of about ``GROUP_ROWS`` records, parsed ``src.commit_rows`` at a time;
    with a stage, the tuples go there and a group carries only their rowid range."""
    size = src.commit_rows
    sconn = stage.connect() if stage is not None else None
    group = Chunk(read=0)

    def add(block: list[list[str]], header: list[str], fast: FastConverter | None) -> None:
        part = _convert_block(src, ctx, header, block, fast, sqlite)
        group.read += part.read
        group.bad.extend(part.bad)
        if part.params:
            if stage is not None and sconn is not None:
                first, last = stage.add(sconn, part.params)
                group.staged = (group.staged[0] if group.staged else first, last)
            else:
                group.params.extend(part.params)
            group.written += len(part.params)
            group.lo = part.lo if group.lo is None or (part.lo or "") < group.lo else group.lo
            if group.hi is None or (part.hi is not None and part.hi > group.hi):
                group.hi, group.hi_id = part.hi, part.hi_id

    try:
        for path in files:
            try:
                with path.open(newline="", encoding="utf-8") as fh:
                    reader = csv.reader(fh)
                    header = next(reader, None)
                    if header is None:
                        continue
                    fast = csv_converter(src, ctx, header) if sqlite else None
                    block: list[list[str]] = []
                    for cells in reader:
                        block.append(cells)
                        if len(block) >= size:
                            add(block, header, fast)
                            block = []
                            if group.read >= (GROUP_ROWS if stage is not None else size):
                                yield group
                                group = Chunk(read=0)
                    if block:
                        add(block, header, fast)
            finally:
                path.unlink(missing_ok=True)
        if group.read:
            yield group
    finally:
        if sconn is not None:
            sconn.close()


def _convert_block(
    src: IncrementalSource,
    ctx: Context,
    header: list[str],
    block: list[list[str]],
    fast: FastConverter | None,
    sqlite: bool,
) -> Chunk:
    chunk = Chunk(read=len(block))
    slow: list[dict[str, Any]] = []
    if fast is not None:
        out = chunk.params
        for cells in block:
            try:
                out.append(fast(cells))
            except Exception:  # noqa: BLE001 - the ordinary path decides (and quarantines with a reason)
                slow.append(_record(header, cells))
    else:
        slow = [_record(header, cells) for cells in block]
    if slow:
        rows, chunk.bad = split_records(slow, lambda r: src.to_row(ctx, r), src.key_of)
        if rows:
            cols = src.row_columns
            if sqlite:
                chunk.params.extend(bind_params(ctx.engine.dialect, src.table, cols, rows))
            else:
                chunk.params.extend(tuple(r[c] for c in cols) for r in rows)
    if chunk.params:
        t = src.row_columns.index(src.time_column)
        k = src.row_columns.index(src.key[-1])
        times = [p[t] for p in chunk.params]
        if not sqlite:  # PostgreSQL rows carry datetimes: the stored text form orders the same
            times = [v.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ") for v in times]
        chunk.lo = min(times)
        i = max(range(len(times)), key=times.__getitem__)
        chunk.hi, chunk.hi_id = times[i], chunk.params[i][k]
    return chunk


def _record(header: list[str], cells: list[str]) -> dict[str, Any]:
    return {k: (None if v == "" else v) for k, v in zip(header, cells, strict=False)}


def _write(src: IncrementalSource, ctx: Context, conn: Connection, chunk: Chunk, sqlite: bool) -> None:
    """One chunk's rows and quarantined records, in the open transaction; widens the rollup mark."""
    cols = src.row_columns
    for reason, raw, nid in chunk.bad:
        ctx.quarantine(conn, src.name, reason, raw, nid)
    if not chunk.written:
        return
    keys = conflict_target(src.table.name, src.key)
    update = [c for c in cols if c not in keys and c not in src.keep_on_update]
    if chunk.staged is not None:
        conn.exec_driver_sql(
            move_sql(conn, src.table.name, cols, conflict_clause(conn, keys, update)), chunk.staged
        )
    elif sqlite:
        keys_only = [dict.fromkeys(cols)] * len(chunk.params)  # names the columns; values are the tuples
        upsert(conn, src.table, keys_only, key=list(src.key), update=update, params=chunk.params)
    else:
        rows = [dict(zip(cols, p, strict=True)) for p in chunk.params]
        upsert(conn, src.table, rows, key=list(src.key), update=update)
    if src.rollup_on(ctx) and chunk.lo is not None and chunk.hi is not None:
        src.rollups.widen(_aware(chunk.lo), _aware(chunk.hi))


def _commit_group(src: IncrementalSource, ctx: Context, conn: Connection, read: int, written: int) -> None:
    """Commit the open transaction with the range of hours whose rollups are behind (so a crash
    leaves the next run a note of what to recompute), then catch rollups up every so often."""
    if src.rollups.range is not None:
        cursor = src.rollups.note(dict(ctx.cursor_after or {}))
        ledger.save_checkpoint(conn, ctx.org, src.name, cursor)
        conn.commit()
        ctx.cursor_after = cursor
    else:
        conn.commit()
    ctx.stats.rows_read += read
    ctx.stats.rows_written += written
    src.rollups.written(written)
    if src.rollups.range is not None and src.rollups.rows_since >= ROLLUP_ROWS:
        src.flush_rollup(ctx)


__all__ = ["BulkRefused", "run_bulk_backfill", "slice_bounds", "sliced_soql"]
