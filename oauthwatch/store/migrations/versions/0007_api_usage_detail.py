"""api usage detail: each ApiTotalUsage call's resource, object, method and client address

Revision ID: 0007_api_usage_detail
Revises: 0006_detect_outbox
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_api_usage_detail"
down_revision = "0006_detect_outbox"
branch_labels = None
depends_on = None

COLUMNS = (("api_resource", 255), ("entity_name", 255), ("http_method", 10), ("client_ip", 64))


def upgrade() -> None:
    with op.batch_alter_table("api_usage_events", schema=None) as batch_op:
        for name, length in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.String(length=length), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("api_usage_events", schema=None) as batch_op:
        for name, _ in reversed(COLUMNS):
            batch_op.drop_column(name)
