"""Tables of incremental detection: the alert outbox, the findings linked to an alert, the
import spans and where each org's detection has judged up to.

Named in :mod:`oauthwatch.store.schema` like every table; kept together so that the detection path's
storage reads in one place; docs/detectors.md says who writes and who reads each table.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from oauthwatch.store.tables.base import BigId, metadata
from oauthwatch.store.types import UTCDateTime

# One row per alert change that may need a notification (opened, reopened, escalated), written by
# the alert lifecycle in the transaction that changes the alert; oauthwatch.notify drains it.
alert_outbox = Table(
    "alert_outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("alert_id", BigId, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("reason", String(16), nullable=False, doc="new | reopened | escalated"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("drained_at", UTCDateTime, doc="set when notify turned it into deliveries"),
    Index("ix_alert_outbox_pending", "drained_at", "id"),
)

# Every finding an alert stands for: one incident seen by several detectors, hours and subjects
# is one alert with all of its evidence linked here (keyed by the finding's dedupe key).
alert_findings = Table(
    "alert_findings",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("alert_id", BigId, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("dedupe_key", String(255), nullable=False, unique=True),
    Column("detector", String(64), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("subject_type", String(20), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("title", String(255), nullable=False),
    Column("explanation", Text, nullable=False),
    Column("evidence", JSON),
    Column("event_start", UTCDateTime),
    Column("event_end", UTCDateTime),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("count", Integer, nullable=False, server_default="1"),
    Index("ix_alert_findings_alert", "alert_id"),
)

# Where detection has judged up to, per org: the highest ``logins.id`` already judged (rows
# above it are new, from collection, an import or a late Event Log File alike) and the coverage
# point (``judged_at``) up to which windows were judged complete (oauthwatch.detect.windows).
detect_marks = Table(
    "detect_marks",
    metadata,
    Column("org", String(80), ForeignKey("orgs.name", ondelete="CASCADE"), nullable=False),
    Column("judged_login_id", BigInteger, nullable=False, server_default="0"),
    Column("judged_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("org", name="pk_detect_marks"),
)

# What an import-csv run covered: every login between its first and last row is in the store
# (the file is the whole export for that span), so detection may judge those hours.
login_import_spans = Table(
    "login_import_spans",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org", String(80), ForeignKey("orgs.name", ondelete="CASCADE"), nullable=False),
    Column("source", String(20), nullable=False),
    Column("span_start", UTCDateTime, nullable=False),
    Column("span_end", UTCDateTime, nullable=False, doc="the last row's time (inclusive)"),
    Column("rows", Integer, nullable=False),
    Column("imported_at", UTCDateTime, nullable=False),
    Index("ix_login_import_spans_org", "org", "span_end"),
)
