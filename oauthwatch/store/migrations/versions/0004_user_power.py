"""user power: the permissions, profile and state of each user holding an OAuth grant

Revision ID: 0004_user_power
Revises: 0003_response_actions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import oauthwatch.store.types

revision = "0004_user_power"
down_revision = "0003_response_actions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_power",
        sa.Column("org", sa.String(length=80), nullable=False),
        sa.Column("user_id", sa.String(length=18), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=True),
        sa.Column("profile", sa.String(length=255), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=True),
        sa.Column("is_frozen", sa.Boolean(), nullable=True),
        sa.Column("permissions", sa.JSON(), nullable=True),
        sa.Column("permissions_read", sa.Boolean(), nullable=False),
        sa.Column("read_at", oauthwatch.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org"], ["orgs.name"], name="fk_user_power_org_orgs", ondelete="CASCADE"),
        sa.UniqueConstraint("org", "user_id", name="uq_user_power_org_user"),
    )


def downgrade() -> None:
    op.drop_table("user_power")
