"""network ranges loaded by the user (offline network classification)

Revision ID: 0002_network_ranges
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import oauthwatch.store.types

revision = "0002_network_ranges"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "network_ranges",
        sa.Column("feed", sa.String(length=120), nullable=False),
        sa.Column("cidr", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("provider", sa.String(length=120), server_default="", nullable=False),
        sa.Column("source_file", sa.Text(), nullable=True),
        sa.Column("loaded_at", oauthwatch.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("feed", "cidr", name="pk_network_ranges"),
    )


def downgrade() -> None:
    op.drop_table("network_ranges")
