"""incremental detection: alert outbox, findings linked to an alert, detect marks, import spans

Revision ID: 0006_detect_outbox
Revises: 0005_api_usage_events
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import oauthwatch.store.types

revision = "0006_detect_outbox"
down_revision = "0005_api_usage_events"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TIME = oauthwatch.store.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "alert_outbox",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("alert_id", BIG_ID, nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC_TIME(), nullable=False),
        sa.Column("drained_at", UTC_TIME(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name="fk_alert_outbox_alert_id_alerts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_alert_outbox"),
    )
    op.create_index("ix_alert_outbox_pending", "alert_outbox", ["drained_at", "id"], unique=False)
    op.create_table(
        "alert_findings",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("alert_id", BIG_ID, nullable=False),
        sa.Column("dedupe_key", sa.String(length=255), nullable=False),
        sa.Column("detector", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("subject_type", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.Column("event_start", UTC_TIME(), nullable=True),
        sa.Column("event_end", UTC_TIME(), nullable=True),
        sa.Column("first_seen", UTC_TIME(), nullable=False),
        sa.Column("last_seen", UTC_TIME(), nullable=False),
        sa.Column("count", sa.Integer(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name="fk_alert_findings_alert_id_alerts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_alert_findings"),
        sa.UniqueConstraint("dedupe_key", name="uq_alert_findings_dedupe_key"),
    )
    op.create_index("ix_alert_findings_alert", "alert_findings", ["alert_id"], unique=False)
    op.create_table(
        "detect_marks",
        sa.Column("org", sa.String(length=80), nullable=False),
        sa.Column("judged_login_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("judged_at", UTC_TIME(), nullable=False),
        sa.ForeignKeyConstraint(["org"], ["orgs.name"], name="fk_detect_marks_org_orgs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("org", name="pk_detect_marks"),
    )
    op.create_table(
        "login_import_spans",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("org", sa.String(length=80), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("span_start", UTC_TIME(), nullable=False),
        sa.Column("span_end", UTC_TIME(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("imported_at", UTC_TIME(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org"], ["orgs.name"], name="fk_login_import_spans_org_orgs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_login_import_spans"),
    )
    op.create_index("ix_login_import_spans_org", "login_import_spans", ["org", "span_end"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_login_import_spans_org", table_name="login_import_spans")
    op.drop_table("login_import_spans")
    op.drop_table("detect_marks")
    op.drop_index("ix_alert_findings_alert", table_name="alert_findings")
    op.drop_table("alert_findings")
    op.drop_index("ix_alert_outbox_pending", table_name="alert_outbox")
    op.drop_table("alert_outbox")
