"""seen group day: an index on login_seen_daily by (org, kind, grp, day)

Revision ID: 0014_seen_group_day
Revises: 0013_api_data_events

Detection reads a kind's sightings for the groups (apps, users) of the windows it judges over the
days of its lookback. The primary key orders the value before the day, so that read could only
search the groups and then read every day they were ever seen; this index bounds it by the days
too (docs/architecture.md, "Detection data").
"""

from __future__ import annotations

from alembic import op

revision = "0014_seen_group_day"
down_revision = "0013_api_data_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_login_seen_daily_group_day", "login_seen_daily", ["org", "kind", "grp", "day"])


def downgrade() -> None:
    op.drop_index("ix_login_seen_daily_group_day", table_name="login_seen_daily")
