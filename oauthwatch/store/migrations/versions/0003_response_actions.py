"""response actions: every revocation (and dry run) with who, when, what and Salesforce's answer

Revision ID: 0003_response_actions
Revises: 0002_network_ranges
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import oauthwatch.store.types

revision = "0003_response_actions"
down_revision = "0002_network_ranges"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "response_actions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("org", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("app_id", sa.String(length=18), nullable=False),
        sa.Column("app_name", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=18), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=True),
        sa.Column("grant_created", oauthwatch.store.types.UTCDateTime(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("requested_at", oauthwatch.store.types.UTCDateTime(), nullable=False),
        sa.Column("via", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org"], ["orgs.name"], name="fk_response_actions_org_orgs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_response_actions"),
    )
    op.create_index("ix_response_actions_org_time", "response_actions", ["org", "requested_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_response_actions_org_time", table_name="response_actions")
    op.drop_table("response_actions")
