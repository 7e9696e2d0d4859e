"""bulk jobs: the org's Bulk API job listings, each job kept with its rows and whether it vanished

Revision ID: 0008_bulk_jobs
Revises: 0007_api_usage_detail

Salesforce lists a Bulk job until it is deleted or seven days old, and only the job's own resource
says how many rows it processed; the store keeps every job seen, with its rows once complete, and
the first reading that no longer listed it while it was younger than seven days (``gone_at``: it
was deleted), so data movement and the deleted-job detector can look back further than the org.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import oauthwatch.store.types

revision = "0008_bulk_jobs"
down_revision = "0007_api_usage_detail"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dt = oauthwatch.store.types.UTCDateTime(timezone=True)
    op.create_table(
        "bulk_jobs",
        sa.Column("org", sa.String(length=80), nullable=False),
        sa.Column("job_id", sa.String(length=18), nullable=False),
        sa.Column("job_type", sa.String(length=20), server_default="", nullable=False),
        sa.Column("operation", sa.String(length=20), server_default="", nullable=False),
        sa.Column("object", sa.String(length=255), server_default="", nullable=False),
        sa.Column("created_by", sa.String(length=18), server_default="", nullable=False),
        sa.Column("created_date", dt, nullable=False),
        sa.Column("system_modstamp", dt, nullable=True),
        sa.Column("state", sa.String(length=20), server_default="", nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=True),
        sa.Column("processing_ms", sa.BigInteger(), nullable=True),
        sa.Column("first_seen", dt, nullable=False),
        sa.Column("last_seen", dt, nullable=False),
        sa.Column("gone_at", dt, nullable=True),
        sa.ForeignKeyConstraint(
            ["org"], ["orgs.name"], name=op.f("fk_bulk_jobs_org_orgs"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint("org", "job_id", name="uq_bulk_jobs_org_job"),
    )
    with op.batch_alter_table("bulk_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_bulk_jobs_org_created", ["org", "created_date"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bulk_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_bulk_jobs_org_created")
    op.drop_table("bulk_jobs")
