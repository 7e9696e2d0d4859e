"""ApiTotalUsage keyed by the call, not by the file that carried it

Revision ID: 0005_api_usage_events
Revises: 0004_user_power
Create Date: 2026-12-07 14:00:00

Usage cells used to carry the EventLogFile id, so the same calls read from a second path (an
imported copy of a collected file, a retransmitted file) were counted again. Calls are now stored
once per REQUEST_ID in ``api_usage_events`` and ``api_usage_hourly`` is recomputed from them per
(org, hour, dimensions) cell. Existing cells of several files fold into one cell with the largest
count (two files holding the same cell held the same calls, so their sum was the double count).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import oauthwatch.store.types

revision = "0005_api_usage_events"
down_revision = "0004_user_power"
branch_labels = None
depends_on = None

DIMS = ("connected_app_id", "connected_app_name", "client_name", "api_family", "status_code", "user_id")


def upgrade() -> None:
    op.create_table(
        "api_usage_events",
        sa.Column("org", sa.String(length=80), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("event_time", oauthwatch.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("connected_app_id", sa.String(length=18), server_default="", nullable=False),
        sa.Column("connected_app_name", sa.String(length=255), server_default="", nullable=False),
        sa.Column("client_name", sa.String(length=255), server_default="", nullable=False),
        sa.Column("api_family", sa.String(length=20), server_default="", nullable=False),
        sa.Column("status_code", sa.String(length=8), server_default="", nullable=False),
        sa.Column("user_id", sa.String(length=18), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["org"], ["orgs.name"], name=op.f("fk_api_usage_events_org_orgs"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint("org", "request_id", name="uq_api_usage_events_org_request"),
    )
    with op.batch_alter_table("api_usage_events", schema=None) as batch_op:
        batch_op.create_index("ix_api_usage_events_org_time", ["org", "event_time"], unique=False)

    conn = op.get_bind()
    cols = ", ".join(DIMS)
    folded = (
        conn.execute(
            sa.text(
                f"SELECT org, hour, {cols}, MAX(requests) AS requests FROM api_usage_hourly GROUP BY org, hour, {cols}"
            )
        )
        .mappings()
        .all()
    )
    conn.execute(sa.text("DELETE FROM api_usage_hourly"))
    with op.batch_alter_table("api_usage_hourly", schema=None, recreate="always") as batch_op:
        batch_op.drop_constraint("uq_api_usage_hourly_cell", type_="unique")
        batch_op.drop_column("file_id")
        batch_op.create_unique_constraint("uq_api_usage_hourly_cell", ["org", "hour", *DIMS])
    if folded:
        conn.execute(
            sa.text(
                f"INSERT INTO api_usage_hourly (org, hour, {cols}, requests) "
                f"VALUES (:org, :hour, {', '.join(':' + d for d in DIMS)}, :requests)"
            ),
            [dict(r) for r in folded],
        )


def downgrade() -> None:
    with op.batch_alter_table("api_usage_hourly", schema=None, recreate="always") as batch_op:
        batch_op.drop_constraint("uq_api_usage_hourly_cell", type_="unique")
        batch_op.add_column(sa.Column("file_id", sa.String(length=18), server_default="", nullable=False))
        batch_op.create_unique_constraint("uq_api_usage_hourly_cell", ["org", "hour", *DIMS, "file_id"])
    with op.batch_alter_table("api_usage_events", schema=None) as batch_op:
        batch_op.drop_index("ix_api_usage_events_org_time")
    op.drop_table("api_usage_events")
