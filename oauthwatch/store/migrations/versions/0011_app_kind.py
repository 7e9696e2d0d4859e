"""app kind: connected apps and External Client Apps side by side in connected_apps

Revision ID: 0011_app_kind
Revises: 0010_fleet_leases
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_app_kind"
down_revision = "0010_fleet_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("connected_apps", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=24), server_default="connected_app", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("connected_apps", schema=None) as batch_op:
        batch_op.drop_column("kind")
