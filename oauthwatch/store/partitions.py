"""Monthly partitions of the big event tables on PostgreSQL, and the conflict keys they imply.

Why (docs/architecture.md, decision 11): a store that keeps every login of dozens of orgs for more
than a year holds hundreds of millions of rows; pruning them by ``DELETE`` rewrites every index
and leaves the tables bloated, while dropping a month's partition is one catalogue change. So on
PostgreSQL ``logins``, ``api_usage_events``, ``audit_events`` and ``security_events`` are
partitioned by month of their event time (migration ``0012_event_partitions``). SQLite has no
partitions; the same tables there are plain and pruned by batched deletes.

PostgreSQL requires every unique constraint of a partitioned table to include the partition key,
so these tables' natural keys include their event time on both backends (a Salesforce event's
time never changes, so the key identifies the same rows as before). :func:`conflict_target` adds
it to whatever key a writer names, so ``ON CONFLICT`` always names the constraint that exists.

Each table has a ``<table>_pdefault`` partition that catches rows of a month with no partition
yet (an import of old files, a clock far off), so a write never fails for want of a partition;
:func:`ensure_months` moves such rows into their own month and creates the months ahead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import text

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# The partitioned tables and the event time each is partitioned by (and keyed on).
EVENT_TIME: dict[str, str] = {
    "logins": "login_time",
    "api_usage_events": "event_time",
    "audit_events": "created_date",
    "security_events": "event_date",
}
MONTHS_AHEAD = 2  # partitions exist for this many months after the current one
_PARTITION = re.compile(r"^(?P<table>" + "|".join(EVENT_TIME) + r")_p(?P<month>\d{6}|default)$")


def conflict_target(table: str, key: Sequence[str]) -> list[str]:
    """``key`` plus the table's event time when the table is one of the partitioned ones."""
    col = EVENT_TIME.get(table)
    return [*key, col] if col and col not in key else list(key)


def is_partition_name(name: str | None) -> bool:
    """True for a partition's own table name (``logins_p202603``, ``logins_pdefault``): schema
    comparisons look at the partitioned table, never at its partitions."""
    return bool(name and _PARTITION.match(name))


def month_of(value: date | datetime) -> date:
    """The first day of the (UTC) month ``value`` falls in."""
    if isinstance(value, datetime):
        value = value.astimezone(UTC).date()
    return value.replace(day=1)


def add_months(month: date, n: int) -> date:
    """``month`` (a first day) moved by ``n`` months."""
    y, m = divmod(month.year * 12 + month.month - 1 + n, 12)
    return date(y, m + 1, 1)


def partition_name(table: str, month: date) -> str:
    return f"{table}_p{month:%Y%m}"


def _bounds(month: date) -> tuple[str, str]:
    nxt = add_months(month, 1)
    return f"{month.isoformat()} 00:00:00+00", f"{nxt.isoformat()} 00:00:00+00"


def is_partitioned(conn: Connection, table: str) -> bool:
    """Whether ``table`` is a partitioned table in the current schema (always False on SQLite)."""
    if conn.dialect.name != "postgresql":
        return False
    return bool(
        conn.execute(
            text(
                "SELECT 1 FROM pg_partitioned_table pt JOIN pg_class c ON c.oid = pt.partrelid "
                "WHERE c.relname = :t AND c.relnamespace = current_schema()::regnamespace"
            ),
            {"t": table},
        ).first()
    )


def months(conn: Connection, table: str) -> dict[date, str]:
    """The monthly partitions of ``table``: first day of the month → partition name."""
    names = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE p.relname = :t AND p.relnamespace = current_schema()::regnamespace"
        ),
        {"t": table},
    ).scalars()
    out: dict[date, str] = {}
    for name in names:
        m = _PARTITION.match(name)
        if m and m["month"] != "default":
            out[date(int(m["month"][:4]), int(m["month"][4:]), 1)] = name
    return out


def create_month(conn: Connection, table: str, month: date) -> None:
    """Create ``table``'s partition for ``month``, moving in any rows the default partition holds for it.

    PostgreSQL refuses a new partition whose range has rows in the default partition, so those rows
    are moved first (into a standalone table that is then attached), in the caller's transaction.
    """
    name, col, default = partition_name(table, month), EVENT_TIME[table], f"{table}_pdefault"
    lo, hi = _bounds(month)
    rng = f"FOR VALUES FROM ('{lo}') TO ('{hi}')"
    where = f"{col} >= '{lo}' AND {col} < '{hi}'"
    if conn.exec_driver_sql(f"SELECT 1 FROM {default} WHERE {where} LIMIT 1").first() is None:
        conn.exec_driver_sql(f"CREATE TABLE {name} PARTITION OF {table} {rng}")
        return
    conn.exec_driver_sql(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS)")
    conn.exec_driver_sql(
        f"WITH moved AS (DELETE FROM {default} WHERE {where} RETURNING *) INSERT INTO {name} SELECT * FROM moved"
    )
    conn.exec_driver_sql(f"ALTER TABLE {table} ATTACH PARTITION {name} {rng}")


def ensure_months(conn: Connection, now: datetime, tables: Iterable[str] = EVENT_TIME) -> list[str]:
    """Create the partitions of the current month and :data:`MONTHS_AHEAD` after it, and of every month
    the default partition holds rows of; returns the partitions created. A no-op on SQLite."""
    created: list[str] = []
    if conn.dialect.name != "postgresql":
        return created
    for table in tables:
        if not is_partitioned(conn, table):
            continue
        have = months(conn, table)
        col = EVENT_TIME[table]
        stray = conn.exec_driver_sql(
            f"SELECT DISTINCT date_trunc('month', {col} AT TIME ZONE 'UTC')::date FROM {table}_pdefault"
        ).scalars()
        wanted = {add_months(month_of(now), i) for i in range(MONTHS_AHEAD + 1)} | set(stray)
        for month in sorted(wanted - set(have)):
            create_month(conn, table, month)
            created.append(partition_name(table, month))
    return created


__all__ = [
    "EVENT_TIME",
    "MONTHS_AHEAD",
    "add_months",
    "conflict_target",
    "create_month",
    "ensure_months",
    "is_partition_name",
    "is_partitioned",
    "month_of",
    "months",
    "partition_name",
]
