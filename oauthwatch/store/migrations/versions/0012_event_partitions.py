"""event partitions: the big event tables partitioned by month on PostgreSQL; the retention ledger

Revision ID: 0012_event_partitions
Revises: 0011_app_kind

Retention prunes raw events older than ``[store.retention] raw_days``. On PostgreSQL ``logins``,
``api_usage_events``, ``audit_events`` and ``security_events`` become tables partitioned by month of
their event time, so pruning drops whole months (see oauthwatch/store/partitions.py). PostgreSQL
requires the partition key in every unique constraint, so on both backends these tables' natural
keys now include the event time (a Salesforce event's time never changes: the same rows are
unique). Existing rows are copied into the partitioned tables (on a big store this takes as long
as copying the table once: run ``oauthwatch db upgrade`` in a quiet hour).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import oauthwatch.store.types
from oauthwatch.store.partitions import MONTHS_AHEAD, add_months, month_of, partition_name

revision = "0012_event_partitions"
down_revision = "0011_app_kind"
branch_labels = None
depends_on = None

# table -> (event time, natural key without it, unique constraint, {index: columns}, primary key)
TABLES: dict[str, tuple[str, tuple[str, ...], str, dict[str, tuple[str, ...]], str | None]] = {
    "logins": (
        "login_time",
        ("org", "source", "natural_id"),
        "uq_logins_natural",
        {
            "ix_logins_org_time": ("org", "login_time"),
            "ix_logins_org_app_time": ("org", "application", "login_time"),
            "ix_logins_org_ip_time": ("org", "source_ip", "login_time"),
            "ix_logins_org_user_time": ("org", "user_id", "login_time"),
        },
        "pk_logins",
    ),
    "api_usage_events": (
        "event_time",
        ("org", "request_id"),
        "uq_api_usage_events_org_request",
        {"ix_api_usage_events_org_time": ("org", "event_time")},
        None,
    ),
    "audit_events": (
        "created_date",
        ("org", "event_id"),
        "uq_audit_events_org_event",
        {"ix_audit_org_time": ("org", "created_date")},
        None,
    ),
    "security_events": (
        "event_date",
        ("org", "store", "event_id"),
        "uq_security_events_natural",
        {},
        None,
    ),
}


def _fk_names(table: str) -> list[str]:
    return list(
        op.get_bind()
        .execute(
            sa.text(
                "SELECT conname FROM pg_constraint WHERE contype = 'f' "
                "AND conrelid = (current_schema() || '.' || :t)::regclass"
            ),
            {"t": table},
        )
        .scalars()
    )


def _set_aside(table: str, old: str, *, drop_fks: bool) -> None:
    """Rename ``table`` to ``old`` and free the names of its indexes and constraints for the new one."""
    _col, _key, uq, indexes, pk = TABLES[table]
    run = op.execute
    run(f"ALTER TABLE {table} RENAME TO {old}")
    for ix in indexes:
        run(f"DROP INDEX IF EXISTS {ix}")
    run(f"ALTER TABLE {old} DROP CONSTRAINT IF EXISTS {uq}")
    for fk in _fk_names(old) if drop_fks else ():
        run(f"ALTER TABLE {old} DROP CONSTRAINT {fk}")
    if pk:
        run(f"ALTER TABLE {old} DROP CONSTRAINT IF EXISTS {pk}")


def _constrain(table: str, unique: tuple[str, ...]) -> None:
    """Give the new ``table`` its unique key on ``unique``, its foreign key to orgs and its indexes."""
    _col, _key, uq, indexes, _pk = TABLES[table]
    run = op.execute
    run(f"ALTER TABLE {table} ADD CONSTRAINT {uq} UNIQUE ({', '.join(unique)})")
    run(
        f"ALTER TABLE {table} ADD CONSTRAINT fk_{table}_org_orgs FOREIGN KEY (org) "
        "REFERENCES orgs (name) ON DELETE CASCADE"
    )
    for ix, cols in indexes.items():
        run(f"CREATE INDEX {ix} ON {table} ({', '.join(cols)})")


def _partition(table: str) -> None:
    """Turn ``table`` into a table partitioned by month, its rows copied in (PostgreSQL only)."""
    col, key, _uq, _indexes, pk = TABLES[table]
    old = f"{table}_unpartitioned"
    run = op.execute
    _set_aside(table, old, drop_fks=True)
    run(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS) PARTITION BY RANGE ({col})")
    if pk:  # the id stays the row's handle; the partition key must be part of the primary key
        run(f"ALTER TABLE {table} ADD CONSTRAINT {pk} PRIMARY KEY (id, {col})")
        run(f"ALTER SEQUENCE IF EXISTS {table}_id_seq OWNED BY {table}.id")
    _constrain(table, (*key, col))
    run(f"CREATE TABLE {table}_pdefault PARTITION OF {table} DEFAULT")
    first = op.get_bind().execute(sa.text(f"SELECT min({col}) FROM {old}")).scalar()
    now = month_of(datetime.now(UTC))  # partitions ahead of today's month, whenever this runs
    month = month_of(first) if first is not None and month_of(first) < now else now
    while month <= add_months(now, MONTHS_AHEAD):
        nxt = add_months(month, 1)
        run(
            f"CREATE TABLE {partition_name(table, month)} PARTITION OF {table} "
            f"FOR VALUES FROM ('{month.isoformat()} 00:00:00+00') TO ('{nxt.isoformat()} 00:00:00+00')"
        )
        month = nxt
    run(f"INSERT INTO {table} SELECT * FROM {old}")
    run(f"DROP TABLE {old}")


def _unpartition(table: str) -> None:
    """The reverse of :func:`_partition`: one plain table with the rows of every partition."""
    _col, key, _uq, _indexes, pk = TABLES[table]
    old = f"{table}_partitioned"
    run = op.execute
    _set_aside(table, old, drop_fks=False)  # dropped with the old table below
    run(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS)")
    if pk:
        run(f"ALTER TABLE {table} ADD CONSTRAINT {pk} PRIMARY KEY (id)")
        run(f"ALTER SEQUENCE IF EXISTS {table}_id_seq OWNED BY {table}.id")
    run(f"INSERT INTO {table} SELECT * FROM {old}")
    _constrain(table, key)
    run(f"DROP TABLE {old} CASCADE")


def upgrade() -> None:
    op.create_table(
        "pruned_ranges",
        sa.Column("org", sa.String(length=80), nullable=False),
        sa.Column("table_name", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("pruned_before", oauthwatch.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("pruned_at", oauthwatch.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org"], ["orgs.name"], name=op.f("fk_pruned_ranges_org_orgs"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint("org", "table_name", name="uq_pruned_ranges_org_table"),
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            _partition(table)
        return
    for table, (col, key, uq, _ix, _pk) in TABLES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(uq, type_="unique")
            batch_op.create_unique_constraint(uq, [*key, col])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            _unpartition(table)
    else:
        for table, (_col, key, uq, _ix, _pk) in TABLES.items():
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.drop_constraint(uq, type_="unique")
                batch_op.create_unique_constraint(uq, list(key))
    op.drop_table("pruned_ranges")
