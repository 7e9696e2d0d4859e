"""Retention: raw events older than ``raw_days`` and rollups older than ``rollup_days`` leave the store.

``oauthwatch db prune`` and the service (once per cycle) call :func:`prune`. Why it is shaped so
(docs/deploy.md, "Retention"):

- **never block collection**: rows go in batches of ``batch_rows``, each its own short transaction,
  chosen along the table's ``(org, time)`` index; on PostgreSQL a whole month of a partitioned
  table (store/partitions.py) is dropped instead, under a short ``lock_timeout`` so that the drop
  gives way to a busy writer (and is done at the next prune) rather than queueing writers behind it;
- **whole UTC days**: the horizon is midnight UTC, so a day is either wholly kept or wholly pruned,
  and the coverage ledger can say so per day (status ``pruned``);
- **the rollups stay**: they are kept longer than raw events, so the dashboard and the digest still
  show a pruned day's totals; ``pruned_ranges`` records per org and table what is gone, which is how
  they know to say "pruned" rather than "missing";
- **once per store**: on PostgreSQL an advisory lock lets one worker prune while others collect.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Date, func, select, text, update
from sqlalchemy.exc import OperationalError

from oauthwatch.store import schema
from oauthwatch.store.partitions import EVENT_TIME, add_months, ensure_months, is_partitioned, months
from oauthwatch.store.upsert import upsert

if TYPE_CHECKING:
    from sqlalchemy import Column, Table
    from sqlalchemy.engine import Connection, Engine

# Raw events and snapshots (kept raw_days), then the rollups (kept rollup_days): (table, time column).
RAW: tuple[tuple[Table, str], ...] = (
    (schema.logins, "login_time"),
    (schema.api_usage_events, "event_time"),
    (schema.api_data_events, "event_time"),
    (schema.audit_events, "created_date"),
    (schema.security_events, "event_date"),
    (schema.oauth_token_snapshots, "snapshot_day"),
    (schema.org_limits, "read_at"),
)
ROLLUPS: tuple[tuple[Table, str], ...] = (
    (schema.login_rollup_hourly, "hour"),
    (schema.login_rollup_daily, "day"),
    (schema.login_user_daily, "day"),
    (schema.login_ip_daily, "day"),
    (schema.api_usage_hourly, "hour"),
)
PG_PRUNE_LOCK = 0x0A07_9E7E  # advisory lock: one pruner per PostgreSQL store
DROP_LOCK_TIMEOUT = "5s"


@dataclass(frozen=True)
class Policy:
    """What to keep (the values of ``[store.retention]``)."""

    raw_days: int = 400
    rollup_days: int = 1826
    batch_rows: int = 5000

    def horizons(self, now: datetime) -> tuple[datetime, datetime]:
        """(raw, rollup): rows older than these UTC midnights are pruned."""
        day = now.astimezone(UTC).date()
        return _midnight(day - timedelta(days=self.raw_days)), _midnight(
            day - timedelta(days=self.rollup_days)
        )


@dataclass
class Pruned:
    """What one table lost (or would lose, in a dry run) for one org."""

    org: str
    table: str
    kind: str
    before: datetime
    rows: int = 0
    partitions: list[str] = field(default_factory=list)


@dataclass
class PruneReport:
    """The outcome of one :func:`prune`."""

    now: datetime
    raw_before: datetime
    rollup_before: datetime
    dry_run: bool
    items: list[Pruned] = field(default_factory=list)
    partitions_created: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)  # partitions whose drop gave way to a writer
    skipped: str | None = None  # why nothing was done (another worker is pruning)

    @property
    def rows(self) -> int:
        return sum(i.rows for i in self.items)

    def by_table(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in self.items:
            out[i.table] = out.get(i.table, 0) + i.rows
        return out


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _cutoff(col: Column[Any], before: datetime) -> date | datetime:
    return before.date() if isinstance(col.type, Date) else before


def _count(conn: Connection, t: Table, col: Column[Any], org: str, cut: date | datetime) -> int:
    return int(
        conn.execute(select(func.count()).select_from(t).where(t.c.org == org, col < cut)).scalar_one()
    )


def _delete_batches(
    engine: Engine,
    t: Table,
    col: Column[Any],
    org: str,
    cut: date | datetime,
    batch: int,
    stop: threading.Event,
) -> int:
    """Delete ``org``'s rows of ``t`` older than ``cut``, ``batch`` rows (about) per transaction.

    Each batch ends at the time of the batch-th oldest row, found along the (org, time) index; rows
    sharing that one time go in the same batch, so a batch is never empty while rows remain. Each
    batch starts where the previous one ended: on PostgreSQL a deleted row stays in the indexes
    until vacuum, so searching from the oldest time again would walk every row deleted so far and
    make the prune quadratic in the rows it removes.
    """
    done = 0
    lo: date | datetime | None = None
    while not stop.is_set():
        with engine.begin() as conn:
            older = [t.c.org == org, col < cut] + ([col >= lo] if lo is not None else [])
            edge = conn.execute(select(col).where(*older).order_by(col).offset(batch).limit(1)).scalar()
            if edge is None:
                gone = conn.execute(t.delete().where(*older)).rowcount
                return done + gone
            first = conn.execute(select(col).where(*older).order_by(col).limit(1)).scalar()
            upto = col <= edge if edge == first else col < edge
            done += conn.execute(t.delete().where(*older, upto)).rowcount
            lo = edge
    return done


def _drop_months(
    engine: Engine, table: str, before: datetime, report: PruneReport
) -> tuple[dict[str, int], list[str]]:
    """Drop (or, dry, count) the partitions of ``table`` wholly older than ``before``: rows per org, names."""
    per_org: dict[str, int] = {}
    names: list[str] = []
    with engine.connect() as conn:
        old = {m: n for m, n in months(conn, table).items() if _midnight(add_months(m, 1)) <= before}
    for month in sorted(old):
        name = old[month]
        try:
            with engine.begin() as conn:
                counts = conn.exec_driver_sql(f"SELECT org, count(*) FROM {name} GROUP BY org").all()
                if not report.dry_run:
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'")
                    conn.exec_driver_sql(f"DROP TABLE {name}")
        except OperationalError:  # lock_timeout: a writer holds the table; dropped at the next prune
            report.deferred.append(name)
            continue
        names.append(name)
        for org, n in counts:
            per_org[str(org)] = per_org.get(str(org), 0) + int(n)
    return per_org, names


def _record(conn: Connection, item: Pruned, now: datetime) -> None:
    pr = schema.pruned_ranges
    had = conn.execute(
        select(pr.c.rows, pr.c.pruned_before).where(pr.c.org == item.org, pr.c.table_name == item.table)
    ).first()
    row = {
        "org": item.org,
        "table_name": item.table,
        "kind": item.kind,
        "pruned_before": max(item.before, had.pruned_before) if had else item.before,
        "rows": item.rows + (int(had.rows) if had else 0),
        "pruned_at": now,
    }
    upsert(conn, pr, [row], key=["org", "table_name"], update=None)


def _mark_coverage(conn: Connection, org: str, before: datetime, raw_days: int, now: datetime) -> None:
    """Days wholly before ``before`` become ``pruned`` in the coverage ledger (their rows count is kept)."""
    c = schema.coverage
    note = (
        f"raw events pruned {now:%Y-%m-%d} (retention {raw_days} days); "
        "the day's totals come from the rollups"
    )
    conn.execute(
        update(c)
        .where(c.c.org == org, c.c.day < before.date(), c.c.status != "pruned")
        .values(status="pruned", note=note, updated_at=now)
    )


def _prune_table(
    engine: Engine, t: Table, colname: str, kind: str, before: datetime, orgs: list[str], policy: Policy,
    report: PruneReport, stop: threading.Event,
) -> None:  # fmt: skip
    col = t.c[colname]
    cut = _cutoff(col, before)
    with engine.connect() as conn:
        parted = t.name in EVENT_TIME and is_partitioned(conn, t.name)
    dropped, names = _drop_months(engine, t.name, before, report) if parted else ({}, [])
    for org in orgs:
        if stop.is_set():
            return
        if report.dry_run:
            with engine.connect() as conn:
                n = _count(conn, t, col, org, cut)
        else:
            n = _delete_batches(engine, t, col, org, cut, policy.batch_rows, stop)
        report.items.append(Pruned(org, t.name, kind, before, n + dropped.get(org, 0), names))


def prune(
    engine: Engine,
    policy: Policy,
    now: datetime,
    *,
    dry_run: bool = False,
    stop: threading.Event | None = None,
) -> PruneReport:
    """Apply ``policy`` at ``now``: drop or delete what is older, record it; ``dry_run`` only counts."""
    stop = stop or threading.Event()
    raw_before, rollup_before = policy.horizons(now)
    report = PruneReport(now, raw_before, rollup_before, dry_run)
    with engine.connect() as lock_conn:
        if engine.dialect.name == "postgresql":
            got = lock_conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": PG_PRUNE_LOCK}).scalar()
            lock_conn.commit()
            if not got:
                report.skipped = "another process is pruning this store"
                return report
        try:
            if not dry_run:
                with engine.begin() as conn:
                    report.partitions_created = ensure_months(conn, now)
            with engine.connect() as conn:
                orgs = sorted(conn.execute(select(schema.orgs.c.name)).scalars())
            for t, col in RAW:
                _prune_table(engine, t, col, "raw", raw_before, orgs, policy, report, stop)
            for t, col in ROLLUPS:
                _prune_table(engine, t, col, "rollup", rollup_before, orgs, policy, report, stop)
            if not dry_run and not stop.is_set():
                with engine.begin() as conn:
                    for item in report.items:
                        _record(conn, item, now)
                    for org in orgs:
                        _mark_coverage(conn, org, raw_before, policy.raw_days, now)
        finally:
            if engine.dialect.name == "postgresql":
                lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_PRUNE_LOCK})
                lock_conn.commit()
    return report


def pruned_before(conn: Connection, org: str | None, table: str = "logins") -> datetime | None:
    """The time before which ``table``'s rows of ``org`` (any org when None) were pruned, if ever."""
    pr = schema.pruned_ranges
    q = select(func.max(pr.c.pruned_before)).where(pr.c.table_name == table)
    if org is not None:
        q = q.where(pr.c.org == org)
    got = conn.execute(q).scalar()
    return got if got is None else got.astimezone(UTC)


__all__ = ["RAW", "ROLLUPS", "Policy", "PruneReport", "Pruned", "prune", "pruned_before"]
