"""Where ``import-csv`` rows go: staged, moved a batch at a time, counted new or already there.

Rows arrive as stage tuples (:mod:`collectors.fastpath.stage`): from a fast converter, or from the
declared mapping through the columns' bind processors. Every :data:`BATCH` rows they are staged
and moved into the store by one ``INSERT … SELECT … ON CONFLICT DO NOTHING``, in one transaction
with the batch's quarantined records; the statement's row count is what was new, the rest was
already there: no SELECT per row, no per-row round trip. A Setup download's rows that the API
delivered already are left out by the same statement (a ``NOT EXISTS`` on the store's time index).

Rollups are refreshed once, at the end, for the days the import wrote (refreshing per batch
re-aggregated whole days a hundred times in a big file). Meanwhile those days are noted in the
``import_csv`` checkpoint, in the transaction of the batch that wrote them, so an import killed
midway leaves the note and the next import of the org finishes the job first.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from collectors.fastpath.stage import PgStage, Stage, conflict_clause, move_sql, stage_tuples, staged_rows
from collectors.run import ledger
from collectors.sources.login_history import LOGIN_COLUMNS
from oauthwatch.store import schema
from oauthwatch.store.api_usage import refresh_api_usage
from oauthwatch.store.partitions import conflict_target
from oauthwatch.store.upsert import tune_for_backfill
from oauthwatch.store.writes import refresh_login_rollup, utcnow

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection, Engine

SOURCE = "import_csv"
BATCH = 20_000  # rows staged and moved per transaction
ANALYZE_AFTER = 10_000  # new rows after which PostgreSQL re-reads the table's statistics
API_USAGE = "api_usage"  # the pseudo-source whose rollup is api_usage_hourly
_REASONS_KEPT = 12
_CHECKPOINT_PAGES = 16_384  # SQLite: log pages between checkpoints while importing (64 MB of 4 KB pages)
_MOVE_WORK_MEM = "64MB"  # PostgreSQL: memory for sorting a batch by its key


@dataclass
class ImportReport:
    """What an import did: every row read is either imported (new or already there) or quarantined."""

    kind: str
    read: int = 0
    new: int = 0
    already: int = 0
    via_api: int = 0
    quarantined: int = 0
    requarantined: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def imported(self) -> int:
        return self.new + self.already

    def note_bad(self, reason: str, fresh: bool) -> None:
        self.quarantined += 1
        self.requarantined += not fresh
        key = reason.split(" (line ")[0].split(": ")[0][:80]
        if key in self.reasons or len(self.reasons) < _REASONS_KEPT:
            self.reasons[key] += 1
        else:
            self.reasons["other reasons"] += 1

    def summary(self) -> dict[str, Any]:
        """The report as plain values (``import-csv --format json``)."""
        return {
            "kind": self.kind, "read": self.read, "imported": self.imported, "new": self.new,
            "already_there": self.already, "collected_through_api": self.via_api,
            "quarantined": self.quarantined, "quarantined_before": self.requarantined,
            "reasons": dict(self.reasons.most_common()),
        }  # fmt: skip

    def lines(self) -> list[str]:
        out = [
            f"{self.kind}: read {self.read} rows: imported {self.imported} "
            f"({self.new} new, {self.already} already there), quarantined {self.quarantined}"
        ]
        if self.via_api:
            out.append(f"  {self.via_api} of the rows already there had been collected through the API")
        if self.quarantined:
            again = f", {self.requarantined} of them by an earlier import" if self.requarantined else ""
            out.append(f"  quarantined with their reasons (`oauthwatch status` counts them){again}:")
            out += [f"    {n} × {why}" for why, n in self.reasons.most_common()]
        return out


@dataclass(frozen=True)
class Target:
    """Where one kind of row goes: its table, stage columns (in tuple order), key and time column."""

    table: Table
    cols: tuple[str, ...]
    key: tuple[str, ...]
    time: str

    @property
    def time_at(self) -> int:
        return self.cols.index(self.time)


LOGINS = Target(schema.logins, tuple(LOGIN_COLUMNS), ("org", "source", "natural_id"), "login_time")
API_COLUMNS = ("org", "request_id", "event_time", "connected_app_id", "connected_app_name", "client_name",
               "api_family", "status_code", "user_id", "api_resource", "entity_name", "http_method", "client_ip")  # fmt: skip
API_EVENTS = Target(schema.api_usage_events, API_COLUMNS, ("org", "request_id"), "event_time")


def _via_api_match(conn: Connection) -> str:
    """A staged download row (``s``) the API delivered already: a LoginHistory row with a real Id in
    the same minute, with the same IP, status and application (each compared only when the download
    has it). Index range on ``(org, login_time)``, one probe per staged row, inside the database."""
    c = {name: f"s.c{i}" for i, name in enumerate(LOGIN_COLUMNS)}
    t = c["login_time"]
    if conn.dialect.name == "sqlite":
        until, csv_ids = f"strftime('%Y-%m-%d %H:%M:%f', {t}, '+1 minute')", "'csv:%'"
    else:
        until, csv_ids = f"{t} + interval '1 minute'", "'csv:%%'"
    same = " AND ".join(f"({c[k]} IS NULL OR l.{k} = {c[k]})" for k in ("source_ip", "status", "application"))
    return (
        f"SELECT 1 FROM logins l WHERE l.org = {c['org']} AND l.source = 'login_history' "
        f"AND l.login_time >= {t} AND l.login_time < {until} AND l.natural_id NOT LIKE {csv_ids} AND {same}"
    )


@dataclass
class Batch:
    """Up to :data:`BATCH` records, packed by the reading thread: staged rows and quarantined ones."""

    rows: int = 0
    bad: list[tuple[str, Any, str | None]] = field(default_factory=list)
    staged: tuple[int, int] | None = None  # the rows' range in the stage
    lo: str = ""  # stored forms of the oldest and newest time (lexical order is time order)
    hi: str = ""
    days: set[str] = field(default_factory=set)


class ImportWriter:
    """Stores one file's rows into ``org``: logins (one source), ApiTotalUsage calls, or the rows of
    another ``table`` (the licensed data events, :mod:`collectors.imports.data_events`).

    Two sides, as in the Bulk backfill: :meth:`pack` runs in the thread that reads and converts the
    file (it fills the stage through a connection of its own), :meth:`store` in the caller's
    thread (one transaction per batch: quarantine, then one move), so the file is converted while
    the database indexes the previous batch. ``skip_via_api`` leaves out the Setup-download rows the
    API already delivered. Use it as a context manager: the stage is removed whatever happens.
    """

    def __init__(
        self,
        engine: Engine,
        org: str,
        report: ImportReport,
        *,
        target: str,
        rollup: bool,
        skip_via_api: bool = False,
        table: Target | None = None,
    ) -> None:
        self.engine, self.org, self.report = engine, org, report
        self.source, self.rollup, self.skip_via_api = target, rollup, skip_via_api
        self.target = t = table or (API_EVENTS if target == API_USAGE else LOGINS)
        self.behind: set[str] = set()  # UTC days (YYYY-MM-DD) written whose rollups are not refreshed yet
        self.span: tuple[str, str] | None = None  # stored forms of the first and last login time
        self.span_rows = 0
        catch_up(engine, org)
        self.work = Path(tempfile.mkdtemp(prefix="oauthwatch-import-"))
        self.conn = conn = engine.connect()
        self.stage: Stage | None = None
        self.sconn: sqlite3.Connection | None = None  # the reading thread's connection to the stage
        self.pg: PgStage | None = None
        self.pgconn: Connection | None = None  # the reading thread's connection on PostgreSQL
        self.checkpoint_pages: int | None = None
        if conn.dialect.name == "sqlite":
            self.stage = Stage.create(self.work, len(t.cols))
            self.stage.attach(conn)
            tune_for_backfill(conn)
            # A batch writes more pages than the default threshold (1,000), so every commit also
            # checkpointed the log into the store (copying and syncing again the pages the next
            # batch rewrites); with this one, a checkpoint every ~64 MB of log. Restored in close().
            self.checkpoint_pages = int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())
            conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={_CHECKPOINT_PAGES}")
        else:
            self.pg = PgStage(conn, t.table.name, t.cols)
            # Each move sorts a batch by its key: in memory, not in temporary files (the default
            # 4 MB held a quarter of a batch). The session's setting, reset in close().
            conn.exec_driver_sql(f"SET work_mem = '{_MOVE_WORK_MEM}'")
        conn.commit()
        key = conflict_target(t.table.name, t.key)
        nothing = conflict_clause(conn, key, [])
        self.pg_stage = self.pg.name if self.pg is not None else ""
        self.move = move_sql(conn, t.table.name, t.cols, nothing, order=key, pg_stage=self.pg_stage)
        self.match = _via_api_match(conn) if skip_via_api else ""
        self.move_new = move_sql(
            conn,
            t.table.name,
            t.cols,
            nothing,
            where=f"NOT EXISTS ({self.match})",
            order=key,
            pg_stage=self.pg_stage,
        )

    def __enter__(self) -> ImportWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def row_tuple(self, row: dict[str, Any]) -> tuple[Any, ...]:
        """A declared mapping's row as the stage tuple a fast converter makes."""
        return stage_tuples(self.target.table, self.target.cols, [row])[0]

    def pack(self, params: list[tuple[Any, ...]], bad: list[tuple[str, Any, str | None]]) -> Batch:
        """Reading thread: stage ``params`` (into the SQLite stage file, or by ``COPY``)."""
        batch = Batch(rows=len(params), bad=bad)
        if params:
            at = self.target.time_at
            times = [p[at] for p in params]
            batch.lo, batch.hi, batch.days = min(times), max(times), {x[:10] for x in times}
            if self.stage is not None:
                if self.sconn is None:
                    self.sconn = self.stage.connect()
                batch.staged = self.stage.add(self.sconn, params)
            else:
                assert self.pg is not None
                if self.pgconn is None:
                    self.pgconn = self.engine.connect()
                batch.staged = self.pg.add(self.pgconn, params)
        return batch

    def done_packing(self) -> None:
        """Reading thread, at the end: its stage connection is closed where it was opened."""
        if self.sconn is not None:
            self.sconn.close()
            self.sconn = None
        if self.pgconn is not None:
            self.pgconn.close()
            self.pgconn = None

    def store(self, batch: Batch) -> None:
        """Caller's thread: the batch's quarantined records and rows, in one transaction."""
        conn = self.conn
        with conn.begin():
            for reason, raw, nid in batch.bad:
                self.report.note_bad(reason, ledger.quarantine(conn, self.org, SOURCE, reason, raw, nid))
            if batch.rows:
                self._move(conn, batch)

    def _move(self, conn: Connection, batch: Batch) -> None:
        rng = batch.staged
        assert rng is not None  # a batch with rows was staged by pack()
        via = self._via_api(conn, rng, batch.lo, batch.hi) if self.skip_via_api else 0
        new = conn.exec_driver_sql(self.move_new if via else self.move, rng).rowcount
        report = self.report
        report.new += new
        report.via_api += via
        report.already += batch.rows - new
        if self.target is LOGINS:
            lo, hi = batch.lo, batch.hi
            self.span = (min(lo, self.span[0]), max(hi, self.span[1])) if self.span else (lo, hi)
            self.span_rows += batch.rows
        if new and self.rollup and not batch.days <= self.behind:
            self.behind |= batch.days
            _mark_behind(conn, self.org, self.source, {date.fromisoformat(d) for d in self.behind})

    def _via_api(self, conn: Connection, rng: tuple[int, int], lo: str, hi: str) -> int:
        """How many staged rows the API delivered already (none without a LoginHistory row nearby)."""
        lg = schema.logins.c
        near = select(lg.natural_id).where(
            lg.org == self.org,
            lg.source == "login_history",
            lg.login_time >= _as_utc(lo),
            lg.login_time < _as_utc(hi) + timedelta(minutes=1),
            ~lg.natural_id.startswith("csv:"),
        )
        if conn.execute(near.limit(1)).first() is None:
            return 0
        src, seq, arg = staged_rows(conn, self.pg_stage)
        sql = f"SELECT count(*) FROM {src} s WHERE s.{seq} BETWEEN {arg} AND {arg} AND EXISTS ({self.match})"
        return int(conn.exec_driver_sql(sql, rng).scalar_one())

    def finish(self) -> None:
        """Refresh the rollups of the days written (once), and note the span the file covered."""
        if self.behind:
            with self.engine.begin() as conn:
                tune_for_backfill(conn)  # the rollups' B-trees grow by as many rows as the import
                if conn.dialect.name == "postgresql" and self.report.new >= ANALYZE_AFTER:
                    # Fresh statistics first: planned on the counts from before the import, the
                    # refresh's per-day scans took 7x longer (measured), until autovacuum caught up.
                    conn.exec_driver_sql(f"ANALYZE {self.target.table.name}")
                _refresh(conn, self.org, self.source, {date.fromisoformat(d) for d in self.behind})
                _mark_behind(conn, self.org, self.source, set())
            self.behind = set()
        if self.span is not None and self.target is LOGINS:
            # The file is the export of this span: detection may judge its hours (and only them).
            with self.engine.begin() as conn:
                conn.execute(
                    insert(schema.login_import_spans).values(
                        org=self.org,
                        source=self.source,
                        span_start=_as_utc(self.span[0]),
                        span_end=_as_utc(self.span[1]),
                        rows=self.span_rows,
                        imported_at=utcnow(),
                    )
                )

    def close(self) -> None:
        """Drop the stage (a crash leaves at most a scratch directory behind)."""
        try:
            if self.conn.in_transaction():
                self.conn.rollback()
            if self.stage is not None:
                self.stage.detach(self.conn)
                if self.checkpoint_pages is not None:
                    self.conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={self.checkpoint_pages}")
            elif self.pg is not None:
                self.pg.drop(self.conn)
                self.conn.exec_driver_sql("RESET work_mem")
                self.conn.commit()
        finally:
            self.conn.close()
            shutil.rmtree(self.work, ignore_errors=True)


def _as_utc(stored: str) -> datetime:
    """A stage time (UTC text) as an aware datetime."""
    return datetime.fromisoformat(stored).replace(tzinfo=UTC)


def _hours_of(days: set[date]) -> list[datetime]:
    return [
        datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(hours=h)
        for d in sorted(days)
        for h in range(24)
    ]


def _refresh(conn: Connection, org: str, target: str, days: set[date]) -> None:
    if target == API_USAGE:
        refresh_api_usage(conn, org, _hours_of(days))
    else:
        refresh_login_rollup(conn, org, target, _hours_of(days))


def _mark_behind(conn: Connection, org: str, target: str, days: set[date]) -> None:
    cursor = dict(ledger.load_checkpoint(conn, org, SOURCE) or {})
    behind = dict(cursor.get("rollup_behind") or {})
    if days:
        behind[target] = sorted(d.isoformat() for d in days)
    else:
        behind.pop(target, None)
    cursor["rollup_behind"] = behind
    ledger.save_checkpoint(conn, org, SOURCE, cursor)


def catch_up(engine: Engine, org: str) -> None:
    """Finish the rollups an earlier import of ``org`` left behind (it was killed midway)."""
    with engine.connect() as conn:
        cursor = ledger.load_checkpoint(conn, org, SOURCE) or {}
    for target, days in (cursor.get("rollup_behind") or {}).items():
        with engine.begin() as conn:
            _refresh(conn, org, target, {date.fromisoformat(d) for d in days})
            _mark_behind(conn, org, target, set())
