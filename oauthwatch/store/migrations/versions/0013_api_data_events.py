"""api data events: the licensed Bulk API and API event types' rows, with the rows and bytes moved

Revision ID: 0013_api_data_events
Revises: 0012_event_partitions

With Event Monitoring the org's event log files include BulkApi2, BulkApi, RestApi and API events:
per Bulk job step the records processed and the result size, per REST or SOAP request the rows
processed and the response size (docs/salesforce-behaviour.md §8). One row per event, keyed by its
type, an id made from its REQUEST_ID and job step, and its time; data movement per app reads them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import oauthwatch.store.types

revision = "0013_api_data_events"
down_revision = "0012_event_partitions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_data_events",
        sa.Column("org", sa.String(length=80), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_time", oauthwatch.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.String(length=18), server_default="", nullable=False),
        sa.Column("connected_app_id", sa.String(length=18), server_default="", nullable=False),
        sa.Column("client_name", sa.String(length=255), server_default="", nullable=False),
        sa.Column("client_ip", sa.String(length=64), server_default="", nullable=False),
        sa.Column("entity", sa.String(length=255), server_default="", nullable=False),
        sa.Column("operation", sa.String(length=40), server_default="", nullable=False),
        sa.Column("job_id", sa.String(length=18), server_default="", nullable=False),
        sa.Column("status", sa.String(length=40), server_default="", nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org"], ["orgs.name"], name=op.f("fk_api_data_events_org_orgs"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint("org", "event_type", "event_id", "event_time", name="uq_api_data_events_natural"),
    )
    op.create_index("ix_api_data_events_org_time", "api_data_events", ["org", "event_time"])


def downgrade() -> None:
    op.drop_table("api_data_events")  # its index goes with it
