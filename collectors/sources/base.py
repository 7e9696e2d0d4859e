"""What every source shares: the run context, value parsing, and the generic incremental stream.

A source is a short declaration (STYLE: singer-sdk streams). :class:`IncrementalSource` owns the
whole exactness story for event objects, so a concrete source only says which object, which
fields, which cursor field and how a record becomes a row:

- resume from the checkpoint minus ``collect.overlap_seconds`` with ``>=`` (never ``>``: rows
  sharing a timestamp are not skipped), ordered by (cursor field, Id);
- upsert every page on the natural key and save the cursor in the SAME transaction;
- cap the cursor with a signpost (run start minus ``collect.settle_seconds``) so events that land
  late during the run are read again next time; the cursor never moves back;
- a malformed record is quarantined with its reason and counted; the page goes on;
- an expired query locator restarts the query from the last committed cursor;
- a first run above ``collect.bulk_threshold_rows`` (``COUNT()`` first) goes through Bulk API 2.0.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from collectors.api.client import QueryLocatorExpired
from collectors.run import ledger

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection, Engine

    from collectors.api.client import SalesforceClient
    from oauthwatch.config import CollectSettings, OrgSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
Record = Mapping[str, Any]
Row = dict[str, Any]


class Malformed(Exception):
    """A record that cannot become a row; ``reason`` goes to the quarantine."""


class Stopped(Exception):
    """The caller asked the run to stop (service shutdown); the last commit stands."""


# -- writing -----------------------------------------------------------------------------------
def bulk_upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    key: Sequence[str],
    update: Sequence[str] | None = None,
    params: list[tuple[Any, ...]] | None = None,
) -> int:
    """:func:`oauthwatch.store.writes.upsert` semantics as one cached statement run with executemany.

    ``writes.upsert`` renders one multi-VALUES statement per chunk, which SQLAlchemy compiles
    afresh every time (thousands of bind parameters): at 2,000-row pages that compile costs more
    than the insert. One single-row statement executed over the list is compiled once and cached.
    """
    if not rows:
        return 0
    from sqlalchemy.dialects import postgresql, sqlite

    cols = list(rows[0].keys())
    upd = [c for c in cols if c not in key] if update is None else list(update)
    if conn.dialect.name == "sqlite":
        return _sqlite_upsert(conn, table, rows, cols, key, upd, params)
    ins = postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
    if upd:
        stmt = ins.on_conflict_do_update(index_elements=list(key), set_={c: ins.excluded[c] for c in upd})
    else:
        stmt = ins.on_conflict_do_nothing(index_elements=list(key))
    conn.execute(stmt, [dict(r) for r in rows])
    return len(rows)


def fetch_all(ctx: Context, soql: str, *, tries: int = 5, **kw: Any) -> list[dict[str, Any]]:
    """Every record of a small query (apps, file lists, user lookups), read again from the start
    if its query locator expires midway: a restart cannot duplicate what is only kept in memory."""
    for attempt in range(tries):
        try:
            return list(ctx.client.query(soql, **kw))
        except QueryLocatorExpired:
            if attempt == tries - 1:
                raise
            log.info("%s: query locator expired; reading the list again", ctx.org)
    return []


def prefetch(pages: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Iterate ``pages`` while a thread already fetches the next ones.

    The org renders page n+1 while this process parses and stores page n; both sides work at once
    instead of waiting for each other. Errors surface in order, at the page they happened on.
    """
    import queue

    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    quit_ = threading.Event()

    def pump() -> None:
        try:
            for item in pages:
                while not quit_.is_set():
                    try:
                        q.put(("item", item), timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if quit_.is_set():
                    return
            q.put(("end", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            q.put(("error", exc))

    t = threading.Thread(target=pump, name="prefetch", daemon=True)
    t.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        quit_.set()


def _tune(conn: Connection) -> None:
    """A bigger page cache on SQLite while backfilling (index updates of a growing ``logins``)."""
    if conn.dialect.name != "sqlite":
        return
    dbapi = conn.connection.dbapi_connection
    if getattr(conn.connection, "info", {}).get("oauthwatch_tuned") is dbapi:
        return
    conn.exec_driver_sql("PRAGMA cache_size=-65536")  # 64 MB
    conn.connection.info["oauthwatch_tuned"] = dbapi


def sqlite_params(
    dialect: Any, table: Table, cols: list[str], rows: Sequence[Mapping[str, Any]]
) -> list[tuple[Any, ...]]:
    """Rows as DBAPI tuples, each value through its column type's own bind processor (UTCDateTime's
    UTC check and storage format), so what lands is byte-for-byte what SQLAlchemy would write.
    Pure: the backfill pipeline runs it in the fetching thread."""
    procs = [table.c[c].type._cached_bind_processor(dialect) for c in cols]
    pick = itemgetter(*cols)
    conv = [(i, p) for i, p in enumerate(procs) if p is not None]
    params = []
    for r in rows:
        vals = list(pick(r)) if len(cols) > 1 else [pick(r)]
        for i, p in conv:
            vals[i] = p(vals[i])
        params.append(tuple(vals))
    return params


def _sqlite_upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    cols: list[str],
    key: Sequence[str],
    upd: list[str],
    params: list[tuple[Any, ...]] | None = None,
) -> int:
    """SQLite: one prepared statement and DBAPI executemany over tuples (built here unless given)."""
    q = conn.dialect.identifier_preparer.quote
    conflict = "DO UPDATE SET " + ", ".join(f"{q(c)} = excluded.{q(c)}" for c in upd) if upd else "DO NOTHING"
    sql = (
        f"INSERT INTO {q(table.name)} ({', '.join(q(c) for c in cols)}) VALUES ({', '.join('?' * len(cols))}) "
        f"ON CONFLICT ({', '.join(q(k) for k in key)}) {conflict}"
    )
    conn.exec_driver_sql(
        sql, params if params is not None else sqlite_params(conn.dialect, table, cols, rows)
    )
    return len(rows)


# -- values ------------------------------------------------------------------------------------
def parse_dt(value: Any) -> datetime | None:
    """A Salesforce datetime (``2024-06-05T05:41:17.937+0000``, ``…Z``, ``…+00:00``) as aware UTC."""
    if value in (None, ""):
        return None
    if type(value) is str and len(value) == 28 and value.endswith("+0000"):  # the REST API's own shape
        try:
            return datetime.fromisoformat(value[:23]).replace(tzinfo=UTC)
        except ValueError:
            pass
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    s = str(value).strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    elif len(s) > 5 and s[-5] in "+-" and s[-4:].isdigit() and ":" not in s[-5:]:
        s = s[:-2] + ":" + s[-2:]
    try:
        dt = datetime.fromisoformat(s)
    except ValueError as exc:
        raise Malformed(f"not a datetime: {value!r}") from exc
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


def soql_dt(dt: datetime) -> str:
    """A SOQL datetime literal with milliseconds: ``2024-05-01T12:34:56.789Z``."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def soql_str(value: str) -> str:
    """A quoted SOQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def get(record: Record, path: str) -> Any:
    """``record[path]`` for REST records (nested relationship objects) and flat CSV rows alike."""
    if path in record:
        return record[path]
    cur: Any = record
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(part)
    return cur


def text(value: Any, limit: int | None = None) -> str | None:
    if value is None or value == "":
        return None
    s = value if type(value) is str else str(value)
    return s[:limit] if limit and len(s) > limit else s


def number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if type(value) is float:
        return value
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise Malformed(f"not a number: {value!r}") from exc


def integer(value: Any) -> int | None:
    f = number(value)
    return None if f is None else int(f)


def boolean(value: Any) -> bool | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes")


def record_id(record: Record) -> str | None:
    """``Id``, or the last segment of ``attributes.url`` when a query left Id out."""
    rid = record.get("Id")
    if rid:
        return str(rid)
    url = (
        (record.get("attributes") or {}).get("url") if isinstance(record.get("attributes"), Mapping) else None
    )
    return str(url).rstrip("/").rsplit("/", 1)[-1] if url else None


# -- run context -------------------------------------------------------------------------------
@dataclass
class Context:
    """Everything one source run may use; built by the runner."""

    org: str
    org_settings: OrgSettings
    collect: CollectSettings
    client: SalesforceClient
    engine: Engine
    run_start: datetime
    work_dir: Path
    since: datetime | None = None
    forced: bool = False
    stop: threading.Event | None = None
    stats: ledger.RunStats = field(default_factory=ledger.RunStats)
    progress: Callable[[int, int | None], None] | None = None
    cursor_before: dict[str, Any] | None = None
    cursor_after: dict[str, Any] | None = None
    # Set by the runner when the run read everything up to the signpost: days after the last
    # event are then known to be empty, not missing (sparse sources such as the audit trail).
    read_through: datetime | None = None

    @property
    def signpost(self) -> datetime:
        return self.run_start - timedelta(seconds=self.collect.settle_seconds)

    def check_stop(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise Stopped("stop requested")

    def quarantine(
        self, conn: Connection, source: str, reason: str, raw: Any, natural_id: str | None
    ) -> None:
        ledger.quarantine(conn, self.org, source, reason, raw, natural_id)
        self.stats.rows_quarantined += 1


@dataclass(frozen=True)
class Permission:
    """A Salesforce user permission a source needs to read the whole org, and who says so.

    ``documented_at`` is the public Salesforce page that states the rule; ``None`` marks a rule
    this project could not confirm (``check`` still names the permission, as its best guess).
    """

    api_name: str  # the permission's API name (PermissionSet field ``Permissions<api_name>``)
    label: str  # as Setup shows it
    reads: str  # what it lets the source read
    documented_at: str | None = None
    alternatives: tuple[str, ...] = ()  # other permissions that open the same (API names)
    without_it: str = "nothing"  # what the source sees without it: "nothing" or "own_rows"

    @property
    def confirmed(self) -> bool:
        """Whether a public Salesforce document states the rule."""
        return self.documented_at is not None


Writes = tuple[str, tuple[str, ...]]  # (store table, its natural key)


class Source:
    """The base of every source: what it reads, what it needs, what it writes, and ``run(ctx)``.

    The class attributes are the source's declaration; the registry
    (:mod:`collectors.sources.registry`) hands them to configuration (the known source names),
    to ``check`` (one probe query and the permission to name per source) and to the contract tests
    (the tables and natural keys every source is held to).
    """

    name: ClassVar[str]
    label: ClassVar[str] = ""
    object: ClassVar[str | None] = None  # the Salesforce object it reads; None for a REST resource
    probe_field: ClassVar[str] = "Id"  # a field every reader may select, for the ``LIMIT 1`` probe
    permission: ClassVar[Permission | None] = None
    licence: ClassVar[str | None] = None  # the add-on without which the object does not exist
    writes: ClassVar[tuple[Writes, ...]] = ()
    # the lowest API version its queries work with, and the object or field that needs it
    min_api_version: ClassVar[tuple[float, str]] = (20.0, "")

    @classmethod
    def probe(cls) -> str | None:
        """The ``LIMIT 1`` query ``check`` runs to learn whether the object is readable at all."""
        return f"SELECT {cls.probe_field} FROM {cls.object} LIMIT 1" if cls.object else None

    def run(self, ctx: Context) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def coverage(self, conn: Connection, ctx: Context) -> None:
        """Update the coverage rows this run touched (default: nothing)."""


Bad = tuple[str, Any, "str | None"]  # (reason, record as received, natural id)


def split_records(
    records: Sequence[Record], to_row: Callable[[Record], Row | None], key_of: Callable[[Record], str | None]
) -> tuple[list[Row], list[Bad]]:
    """Rows of ``records`` and the malformed ones with their reason (pure: runs in any thread)."""
    rows: list[Row] = []
    bad: list[Bad] = []
    for rec in records:
        try:
            row = to_row(rec)
        except Malformed as exc:
            bad.append((str(exc), _plain(rec), key_of(rec)))
            continue
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            bad.append((f"unreadable record: {type(exc).__name__}: {exc}", _plain(rec), key_of(rec)))
            continue
        if row is not None:
            rows.append(row)
    return rows, bad


def convert(
    ctx: Context,
    conn: Connection,
    source: str,
    records: Sequence[Record],
    to_row: Callable[[Record], Row | None],
    key_of: Callable[[Record], str | None],
) -> list[Row]:
    """Rows of ``records``; malformed ones quarantined (in ``conn``'s transaction) with their reason."""
    rows, bad = split_records(records, to_row, key_of)
    for reason, raw, nid in bad:
        ctx.quarantine(conn, source, reason, raw, nid)
    return rows


@dataclass
class Converted:
    """One page after conversion: its rows, its bad records, its last record (for the cursor)."""

    read: int
    rows: list[Row]
    bad: list[Bad]
    last: Record | None
    total: int | None = None
    params: list[tuple[Any, ...]] | None = None  # SQLite rows as DBAPI tuples, built off the writer thread


def _plain(rec: Record) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k != "attributes"}


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
    bulk_ok: ClassVar[bool] = False
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

    # -- declarations a concrete source fills in -------------------------------------------
    def to_row(self, ctx: Context, record: Record) -> Row | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def coverage_filter(self, ctx: Context) -> list[Any]:
        return [self.table.c.org == ctx.org]

    def after_write(self, ctx: Context, conn: Connection, rows: list[Row]) -> None:
        """Hook run in the page's transaction (rollups, linked tables)."""

    def finish(self, ctx: Context) -> None:
        """Hook run after the last page (e.g. fill users seen for the first time)."""

    # -- the generic engine ----------------------------------------------------------------
    def soql(self, start: datetime | None) -> str:
        conds = [c for c in (self.where,) if c]
        if start is not None:
            conds.insert(0, f"{self.cursor_field} >= {soql_dt(start)}")
        where = (" WHERE " + " AND ".join(conds)) if conds else ""
        return (
            f"SELECT {', '.join(self.fields)} FROM {self.object}{where} "
            f"ORDER BY {self.cursor_field} ASC, {self.id_field} ASC"
        )

    def _start(self, ctx: Context, cursor: dict[str, Any] | None) -> datetime | None:
        if ctx.since is not None:
            return ctx.since
        if cursor and cursor.get("ts"):
            ts = parse_dt(cursor["ts"])
            assert ts is not None
            return ts - timedelta(seconds=ctx.collect.overlap_seconds)
        return None  # first run: everything the org still keeps

    def _key_of(self, rec: Record) -> str | None:
        v = get(rec, self.id_field)
        return str(v) if v else record_id(rec)

    keep_on_update: ClassVar[tuple[str, ...]] = ()  # columns a re-read must not overwrite

    def write(
        self, ctx: Context, conn: Connection, rows: list[Row], params: list[tuple[Any, ...]] | None = None
    ) -> None:
        update = [c for c in rows[0] if c not in self.key and c not in self.keep_on_update]
        bulk_upsert(conn, self.table, rows, key=list(self.key), update=update, params=params)

    def run(self, ctx: Context) -> None:
        with ctx.engine.connect() as conn:
            cursor = ledger.load_checkpoint(conn, ctx.org, self.name)
        ctx.cursor_before = ctx.cursor_after = cursor
        start = self._start(ctx, cursor)
        self._resume: datetime | None = None
        self._dirty: tuple[datetime, datetime] | None = None
        self._rows_since_rollup = 0
        if cursor and cursor.get("rollup_dirty"):  # a run died before its rollups caught up
            lo, hi = (parse_dt(x) for x in cursor["rollup_dirty"])
            self._dirty = (lo, hi)  # type: ignore[assignment]
            self._flush_rollup(ctx)
        try:
            self._run_with_restarts(ctx, cursor, start)
        finally:
            if self._dirty is not None:
                try:
                    self._flush_rollup(ctx)
                except Exception:
                    log.warning(
                        "%s/%s: rollup refresh deferred to the next run", ctx.org, self.name, exc_info=True
                    )
        self.finish(ctx)

    # -- rollups: refreshed every few pages, exact across crashes ---------------------------------
    def _rollup_on(self, ctx: Context) -> bool:
        return self.rollup_source is not None and ctx.org_settings.primary_login_source == self.rollup_source

    def _flush_rollup(self, ctx: Context) -> None:
        """Recompute the rollups over the hours written since the last flush, then clear the mark.

        Refreshing per page would re-aggregate each touched day hundreds of times in a backfill;
        instead the checkpoint carries the range of hours whose rollups are behind
        (``rollup_dirty``), committed with the rows, so a crash leaves the next run a note of what
        to recompute and rollups are never left wrong.
        """
        if self._dirty is None:
            return
        from oauthwatch.store.writes import refresh_login_rollup

        lo, hi = self._dirty
        hours = []
        h = lo.replace(minute=0, second=0, microsecond=0)
        while h <= hi:
            hours.append(h)
            h += timedelta(hours=1)
        with ctx.engine.begin() as conn:
            if self.rollup_source is not None:
                refresh_login_rollup(conn, ctx.org, self.rollup_source, hours)
            cursor = dict(ctx.cursor_after or {})
            cursor.pop("rollup_dirty", None)
            ledger.save_checkpoint(conn, ctx.org, self.name, cursor)
        ctx.cursor_after = cursor
        self._dirty = None
        self._rows_since_rollup = 0

    def _run_with_restarts(self, ctx: Context, cursor: dict[str, Any] | None, start: datetime | None) -> None:
        restarts = 0
        while True:
            try:
                total = (
                    self._bulk_total(ctx, start) if restarts == 0 and cursor is None and self.bulk_ok else 0
                )
                if total:
                    self._run_bulk(ctx, start, total)
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

    def _bulk_total(self, ctx: Context, start: datetime | None) -> int:
        """``COUNT()`` of the backfill when it is above ``collect.bulk_threshold_rows``, else 0."""
        soql = self.soql(start)
        count_soql = "SELECT COUNT() FROM " + soql.split(" FROM ", 1)[1].split(" ORDER BY ", 1)[0]
        n = ctx.client.count(count_soql)
        return n if n > ctx.collect.bulk_threshold_rows else 0

    def _run_bulk(self, ctx: Context, start: datetime | None, total: int) -> None:
        """Backfill through sliced Bulk API 2.0 jobs (:mod:`collectors.sources.bulk_backfill`); an org
        that refuses the job (object not supported, feature off, job failed) is read over REST."""
        from collectors.sources.bulk_backfill import BulkRefused, run_bulk_backfill

        try:
            run_bulk_backfill(self, ctx, start, total)
        except BulkRefused as exc:
            ctx.stats.notes.append(f"Bulk API 2.0 refused the backfill ({exc}); read over REST instead")
            log.info("%s/%s: Bulk API 2.0 refused (%s); backfilling over REST", ctx.org, self.name, exc)
            self._run_rest(ctx, start)

    # -- Bulk API 2.0 fast path: a source may turn CSV cells into store tuples directly --------------
    row_columns: ClassVar[list[str]] = []  # the keys of every row ``to_row`` returns, in order

    def csv_converter(self, ctx: Context, header: list[str]) -> Callable[[list[str]], tuple[Any, ...]] | None:
        """A function ``CSV cells → SQLite parameter tuple`` (in ``row_columns`` order) equal to
        ``to_row`` + the columns' bind processors, or None. It may raise on any record it is
        not sure of: that record then takes the ordinary path (and its quarantine)."""
        return None

    def _advance(self, ctx: Context, last: Record) -> dict[str, Any]:
        ts = parse_dt(get(last, self.cursor_field))
        rid = self._key_of(last) or ""
        prev = ctx.cursor_after or {}
        cap = ctx.signpost
        if ts is None:
            return {k: v for k, v in prev.items() if k != "rollup_dirty"}
        if ts > cap:
            ts, rid = cap, ""
        new = {"ts": ts.isoformat(), "id": rid}
        if prev.get("ts"):
            old = (parse_dt(prev["ts"]), prev.get("id") or "")
            if (ts, rid) < old:  # type: ignore[operator]
                return {k: v for k, v in prev.items() if k != "rollup_dirty"}
        return new

    def _convert(self, ctx: Context, records: Sequence[Record], total: int | None = None) -> Converted:
        rows, bad = split_records(records, lambda r: self.to_row(ctx, r), self._key_of)
        params = None
        if rows and ctx.engine.dialect.name == "sqlite":
            params = sqlite_params(ctx.engine.dialect, self.table, list(rows[0]), rows)
        return Converted(len(records), rows, bad, self._last_valid(records), total, params)

    def _commit(self, ctx: Context, batch: Sequence[Converted]) -> None:
        """Store converted pages, their quarantined records and the cursor in ONE transaction."""
        rows = [r for c in batch for r in c.rows]
        last = next((c.last for c in reversed(batch) if c.last is not None), None)
        rollup = self._rollup_on(ctx)
        with ctx.engine.begin() as conn:
            _tune(conn)
            for c in batch:
                for reason, raw, nid in c.bad:
                    ctx.quarantine(conn, self.name, reason, raw, nid)
            if rows:
                cols = list(rows[0])
                same = all(c.params is not None and list(c.rows[0]) == cols for c in batch if c.rows)
                params = [p for c in batch for p in (c.params or ())] if same else None
                self.write(ctx, conn, rows, params)
                self.after_write(ctx, conn, rows)
                if rollup:
                    times = [r[self.time_column] for r in rows]
                    lo, hi = min(times), max(times)
                    if self._dirty is not None:
                        lo, hi = min(lo, self._dirty[0]), max(hi, self._dirty[1])
                    self._dirty = (lo, hi)
            cursor = self._advance(ctx, last) if last is not None else dict(ctx.cursor_after or {})
            if self._dirty is not None:
                cursor["rollup_dirty"] = [self._dirty[0].isoformat(), self._dirty[1].isoformat()]
            if last is not None or self._dirty is not None:
                ledger.save_checkpoint(conn, ctx.org, self.name, cursor)
        if last is not None or self._dirty is not None:
            ctx.cursor_after = cursor
        if last is not None:
            self._resume = parse_dt(get(last, self.cursor_field))
        ctx.stats.rows_read += sum(c.read for c in batch)
        ctx.stats.rows_written += len(rows)
        self._rows_since_rollup += len(rows)
        if self._dirty is not None and self._rows_since_rollup >= self.rollup_every_rows:
            self._flush_rollup(ctx)

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
        before = parse_dt((ctx.cursor_before or {}).get("ts"))
        after = parse_dt((ctx.cursor_after or {}).get("ts"))
        if ctx.read_through is not None and (after is None or ctx.read_through > after):
            after = ctx.read_through
        if after is None:
            return
        first = ctx.since or before
        if first is None:
            lo = conn.execute(
                _min_time(self.table, self.time_column, self.coverage_filter(ctx))
            ).scalar_one_or_none()
            first = _aware(lo) if lo else after
        days = _days(ledger.day_of(first), ledger.day_of(after))
        counts = ledger.count_per_day(conn, self.table, self.time_column, self.coverage_filter(ctx), days)
        for d in days:
            status = "complete" if d < ledger.day_of(after) else "partial"
            note = None if status == "complete" else f"collected up to {after.isoformat()}"
            ledger.set_coverage(conn, ctx.org, self.name, d, status, counts[d], note)


def _min_time(table: Table, col: str, where: list[Any]) -> Any:
    from sqlalchemy import func, select

    return select(func.min(table.c[col])).where(*where)


def _aware(v: Any) -> datetime:
    if isinstance(v, str):
        v = datetime.fromisoformat(v)
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


def _days(a: date, b: date) -> list[date]:
    n = (b - a).days
    return [a + timedelta(days=i) for i in range(max(0, n) + 1)]
