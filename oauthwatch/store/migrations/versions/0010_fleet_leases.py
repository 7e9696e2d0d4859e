"""fleet leases: the workers of `oauthwatch run` and the org each one holds

Revision ID: 0010_fleet_leases
Revises: 0009_detect_rollups
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from oauthwatch.store.types import UTCDateTime

revision = "0010_fleet_leases"
down_revision = "0009_detect_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fleet_workers",
        sa.Column("worker", sa.String(length=120), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("beat_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("worker", name=op.f("pk_fleet_workers")),
    )
    op.create_table(
        "org_leases",
        sa.Column("org", sa.String(length=80), nullable=False),
        sa.Column("worker", sa.String(length=120), nullable=True),
        sa.Column("acquired_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("org", name=op.f("pk_org_leases")),
    )
    op.create_index("ix_org_leases_worker", "org_leases", ["worker"])


def downgrade() -> None:
    op.drop_index("ix_org_leases_worker", table_name="org_leases")
    op.drop_table("org_leases")
    op.drop_table("fleet_workers")
