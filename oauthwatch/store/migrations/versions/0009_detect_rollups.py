"""detection rollups: hourly counts per app and status, per-day sightings per app and user

Revision ID: 0009_detect_rollups
Revises: 0008_bulk_jobs

Creates ``login_app_hourly`` and ``login_seen_daily`` and fills them from what the store holds:
the hourly counts from ``login_rollup_hourly``, the sightings day by day from ``logins`` of the
org's primary source (taken as ``login_history`` when the org has any, else the source with the
most logins: the configuration that names it is not readable from a migration).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import oauthwatch.store.types

revision = "0009_detect_rollups"
down_revision = "0008_bulk_jobs"
branch_labels = None
depends_on = None

UTC_TIME = oauthwatch.store.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "login_app_hourly",
        sa.Column("org", sa.String(length=80), nullable=False),
        sa.Column("hour", UTC_TIME(), nullable=False),
        sa.Column("application", sa.String(length=255), server_default="", nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=255), server_default="", nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org"], ["orgs.name"], name="fk_login_app_hourly_org_orgs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint(
            "org", "hour", "application", "success", "status", name="pk_login_app_hourly"
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "login_seen_daily",
        sa.Column("org", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("grp", sa.String(length=255), server_default="", nullable=False),
        sa.Column("value", sa.String(length=255), server_default="", nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("first_at", UTC_TIME(), nullable=False),
        sa.Column("last_at", UTC_TIME(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org"], ["orgs.name"], name="fk_login_seen_daily_org_orgs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("org", "kind", "grp", "value", "day", "success", name="pk_login_seen_daily"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_login_seen_daily_org_day", "login_seen_daily", ["org", "day"], unique=False)
    _backfill(op.get_bind())


def _backfill(conn: sa.engine.Connection) -> None:
    from oauthwatch.store.rollups_detect import refresh_detect_rollups
    from oauthwatch.store.types import UTCDateTime

    meta = sa.MetaData()
    hourly = sa.Table("login_rollup_hourly", meta, sa.Column("org"), sa.Column("hour", UTCDateTime()))
    logins = sa.Table("logins", meta, sa.Column("org"), sa.Column("source"))
    counts = conn.execute(
        sa.select(logins.c.org, logins.c.source, sa.func.count()).group_by(logins.c.org, logins.c.source)
    ).all()
    primary: dict[str, tuple[bool, int, str]] = {}
    for org, source, n in counts:
        rank = (source == "login_history", int(n), str(source))
        if org not in primary or rank > primary[org]:
            primary[org] = rank
    for org, (_, _, source) in primary.items():
        hours = [h for (h,) in conn.execute(sa.select(hourly.c.hour).where(hourly.c.org == org).distinct())]
        refresh_detect_rollups(conn, org, source, hours)


def downgrade() -> None:
    op.drop_index("ix_login_seen_daily_org_day", table_name="login_seen_daily")
    op.drop_table("login_seen_daily")
    op.drop_table("login_app_hourly")
