"""oauthwatch's own bookkeeping: collector runs, checkpoints, coverage, quarantine, alerts and their delivery, the allowlist, digests, heartbeats, network ranges and response actions.

Part of the store schema (:mod:`oauthwatch.store.schema`); see its docstring for the key rules."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from oauthwatch.store.tables.base import BigId, _org, metadata
from oauthwatch.store.types import UTCDateTime

collector_runs = Table(
    "collector_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _org(),
    Column("source", String(40), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("outcome", String(20), nullable=False, doc="running | ok | partial | failed | budget | skipped"),
    Column("rows_read", Integer, nullable=False, server_default="0"),
    Column("rows_written", Integer, nullable=False, server_default="0"),
    Column("rows_quarantined", Integer, nullable=False, server_default="0"),
    Column("api_calls", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    Column("stop_reason", Text),
    Column("cursor_before", JSON),
    Column("cursor_after", JSON),
    Index("ix_collector_runs_org_source", "org", "source", "started_at"),
)


checkpoints = Table(
    "checkpoints",
    metadata,
    _org(),
    Column("source", String(40), nullable=False),
    Column("cursor", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("org", "source", name="uq_checkpoints_org_source"),
)


coverage = Table(
    "coverage",
    metadata,
    _org(),
    Column("source", String(40), nullable=False),
    Column("day", Date, nullable=False),
    Column("status", String(10), nullable=False, doc="complete | partial | missing | late"),
    Column("rows", Integer, nullable=False, server_default="0"),
    Column("note", Text),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("org", "source", "day", name="uq_coverage_org_source_day"),
)


# The ledger of what retention removed (oauthwatch.store.retention): per org and table, every row
# older than ``pruned_before`` is gone. The dashboard and the digest read it to say "pruned" for
# those days, and to show them from the rollups (which are kept longer) instead of as missing.
pruned_ranges = Table(
    "pruned_ranges",
    metadata,
    _org(),
    Column("table_name", String(40), nullable=False),
    Column("kind", String(10), nullable=False, doc="raw | rollup"),
    Column("pruned_before", UTCDateTime, nullable=False, doc="every row older than this was pruned"),
    Column(
        "rows", BigInteger, nullable=False, server_default="0", doc="rows pruned in all, over every prune"
    ),
    Column("pruned_at", UTCDateTime, nullable=False),
    UniqueConstraint("org", "table_name", name="uq_pruned_ranges_org_table"),
)


quarantine = Table(
    "quarantine",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org", String(80), nullable=False),
    Column("source", String(40), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("natural_id", String(64)),
    Column("raw", Text, doc="the record as received, secrets redacted"),
    Index("ix_quarantine_org_source", "org", "source", "received_at"),
)


alerts = Table(
    "alerts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("dedupe_key", String(255), nullable=False, unique=True),
    Column("detector", String(64), nullable=False),
    Column("severity", String(10), nullable=False, doc="info | low | medium | high | critical"),
    Column("org", String(80), nullable=False),
    Column(
        "subject_type", String(20), nullable=False, doc="org | app | user | ip | network | country | source"
    ),
    Column("subject", String(255), nullable=False),
    Column("title", String(255), nullable=False),
    Column("explanation", Text, nullable=False),
    Column("runbook", JSON),
    Column("evidence", JSON),
    Column("event_start", UTCDateTime),
    Column("event_end", UTCDateTime),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("count", Integer, nullable=False, server_default="1"),
    Column("status", String(16), nullable=False, server_default="open", doc="open | acknowledged | resolved"),
    Column("status_by", String(255)),
    Column("status_at", UTCDateTime),
    Column("auto_resolved", Boolean, nullable=False, server_default="0"),
    Column("suppressed_until", UTCDateTime),
    Column("notified_severity", String(10), doc="highest severity already delivered"),
    Index("ix_alerts_status", "status", "last_seen"),
    Index("ix_alerts_org", "org", "last_seen"),
)


alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("alert_id", BigId, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(16), nullable=False, doc="email | webhook"),
    Column("target", String(255), nullable=False),
    Column("reason", String(16), nullable=False, doc="new | escalated"),
    Column(
        "status",
        String(16),
        nullable=False,
        doc="pending | sending (leased) | sent | failed (retried) | suppressed",
    ),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime),
    Column("sent_at", UTCDateTime),
    Index("ix_alert_deliveries_status", "status", "next_attempt_at"),
)


allowlist = Table(
    "allowlist",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("org", String(80), doc="NULL: every org"),
    Column("app_name", String(255), nullable=False),
    Column("owner", String(255)),
    Column("ip_ranges", JSON, doc="CIDR strings"),
    Column("countries", JSON, doc="ISO codes"),
    Column("integration_users", JSON, doc="usernames or 005 ids"),
    Column("note", Text),
    Column("expires_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(255)),
    UniqueConstraint("org", "app_name", name="uq_allowlist_org_app"),
)


digests_sent = Table(
    "digests_sent",
    metadata,
    _org(),
    Column("day", Date, nullable=False),
    Column("sent_at", UTCDateTime, nullable=False),
    Column("recipients", JSON),
    Column("message_id", String(255)),
    UniqueConstraint("org", "day", name="uq_digests_sent_org_day"),
)


service_heartbeats = Table(
    "service_heartbeats",
    metadata,
    Column("component", String(40), primary_key=True),
    Column("pid", Integer),
    Column("started_at", UTCDateTime, nullable=False),
    Column("beat_at", UTCDateTime, nullable=False),
    Column("state", String(20), nullable=False, doc="running | stopping | stopped"),
    Column("detail", JSON),
)


network_ranges = Table(
    "network_ranges",
    metadata,
    Column(
        "feed", String(120), nullable=False, doc="kind:provider; loading a feed again replaces its ranges"
    ),
    Column("cidr", String(64), nullable=False),
    Column("kind", String(10), nullable=False, doc="hosting | vpn | tor | other"),
    Column("provider", String(120), nullable=False, server_default=""),
    Column("source_file", Text, doc="the file the user loaded (`oauthwatch intel update`)"),
    Column("loaded_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("feed", "cidr", name="pk_network_ranges"),
)


response_actions = Table(
    "response_actions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _org(),
    Column("action", String(20), nullable=False, doc="revoke"),
    Column("app_id", String(18), nullable=False),
    Column("app_name", String(255), nullable=False),
    Column("user_id", String(18), nullable=False),
    Column("username", String(255)),
    Column("grant_created", UTCDateTime),
    Column("token_hash", String(64), nullable=False, doc="sha256 of the DeleteToken, never the token"),
    Column("dry_run", Boolean, nullable=False),
    Column("requested_by", String(255), nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("via", String(20), nullable=False, doc="cli | dashboard"),
    Column("outcome", String(20), nullable=False, doc="dry_run | revoked | failed"),
    Column("status_code", Integer),
    Column("answer", Text, doc="Salesforce's answer (HTTP status and body), secrets redacted"),
    Index("ix_response_actions_org_time", "org", "requested_at"),
)
