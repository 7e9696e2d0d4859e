"""Every table of the store, in one place (SQLAlchemy Core).

Keys are natural keys from Salesforce wherever one exists, so a write can be repeated (a retry, a
crash, an overlap window) without storing anything twice. Text columns that are part of a key use
``""`` rather than NULL for "none", because NULL never equals NULL in a unique index.

Changing a table means a new Alembic revision in ``store/migrations/versions``; a test compares
this module with the migrations and fails when they drift.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from oauthwatch.store.types import UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# BigInteger ids that still autoincrement on SQLite (where only INTEGER PRIMARY KEY does).
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _org() -> Column[str]:
    return Column("org", String(80), ForeignKey("orgs.name", ondelete="CASCADE"), nullable=False)


orgs = Table(
    "orgs",
    metadata,
    Column("name", String(80), primary_key=True),
    Column("org_id", String(18), nullable=True, doc="00D… once the first token told us"),
    Column("instance_url", String(255)),
    Column("org_name", String(255)),
    Column("is_sandbox", Boolean),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime),
)

users = Table(
    "users",
    metadata,
    _org(),
    Column("user_id", String(18), nullable=False),
    Column("username", String(255)),
    Column("name", String(255)),
    Column("email", String(255)),
    Column("is_active", Boolean),
    Column("user_type", String(40)),
    Column("profile", String(255)),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("org", "user_id", name="uq_users_org_user"),
)

logins = Table(
    "logins",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _org(),
    Column("source", String(20), nullable=False, doc="login_history | login_event | elf_login"),
    Column(
        "natural_id",
        String(64),
        nullable=False,
        doc="LoginHistory.Id, LoginEvent.EventIdentifier, ELF REQUEST_ID…",
    ),
    Column("login_time", UTCDateTime, nullable=False),
    Column("user_id", String(18)),
    Column("username", String(255)),
    Column("login_type", String(64)),
    Column("login_subtype", String(64), doc="the OAuth flow, as LoginHistory's label"),
    Column("status", String(255)),
    Column("success", Boolean, nullable=False),
    Column("application", String(255)),
    Column("source_ip", String(64)),
    Column("login_url", String(255)),
    Column("browser", String(255)),
    Column("platform", String(255)),
    Column("client_version", String(64)),
    Column("api_type", String(64)),
    Column("api_version", String(32)),
    Column("tls_protocol", String(16)),
    Column("cipher_suite", String(64)),
    Column("country_iso", String(3)),
    Column("country", String(80)),
    Column("subdivision", String(80)),
    Column("city", String(80)),
    Column("postal_code", String(20)),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("login_geo_id", String(18)),
    Column("ingested_at", UTCDateTime, nullable=False),
    UniqueConstraint("org", "source", "natural_id", name="uq_logins_natural"),
    Index("ix_logins_org_time", "org", "login_time"),
    Index("ix_logins_org_app_time", "org", "application", "login_time"),
    Index("ix_logins_org_ip_time", "org", "source_ip", "login_time"),
    Index("ix_logins_org_user_time", "org", "user_id", "login_time"),
)

login_rollup_hourly = Table(
    "login_rollup_hourly",
    metadata,
    _org(),
    Column("hour", UTCDateTime, nullable=False),
    Column("application", String(255), nullable=False, server_default=""),
    Column("login_type", String(64), nullable=False, server_default=""),
    Column("login_subtype", String(64), nullable=False, server_default=""),
    Column("success", Boolean, nullable=False),
    Column("status", String(255), nullable=False, server_default=""),
    Column("country_iso", String(3), nullable=False, server_default=""),
    Column("events", Integer, nullable=False),
    Column("users", Integer, nullable=False, doc="distinct users in this cell"),
    UniqueConstraint(
        "org",
        "hour",
        "application",
        "login_type",
        "login_subtype",
        "success",
        "status",
        "country_iso",
        name="uq_login_rollup_hourly_cell",
    ),
    Index("ix_login_rollup_org_hour", "org", "hour"),
)

# Daily rollups: the hourly cells summed per UTC day (long windows read 24x fewer rows), and what
# the hourly rollup cannot answer exactly: distinct users over any period (per app or not), and
# origins per IP. Recomputed per touched day by writes.refresh_login_rollup
# (through store.rollups_daily), from the org's primary login source only, like the hourly one.
# The daily tables are clustered by their key on SQLite (WITHOUT ROWID): a window's days are then
# one sequential range, which is what keeps month-long pages fast on millions of events.
login_rollup_daily = Table(
    "login_rollup_daily",
    metadata,
    _org(),
    Column("day", Date, nullable=False),
    Column("application", String(255), nullable=False, server_default=""),
    Column("login_type", String(64), nullable=False, server_default=""),
    Column("login_subtype", String(64), nullable=False, server_default=""),
    Column("success", Boolean, nullable=False),
    Column("status", String(255), nullable=False, server_default=""),
    Column("country_iso", String(3), nullable=False, server_default=""),
    Column("events", Integer, nullable=False),
    PrimaryKeyConstraint(
        "org",
        "day",
        "application",
        "login_type",
        "login_subtype",
        "success",
        "status",
        "country_iso",
        name="pk_login_rollup_daily",
    ),
    sqlite_with_rowid=False,
)

login_user_daily = Table(
    "login_user_daily",
    metadata,
    _org(),
    Column("day", Date, nullable=False),
    Column("user_id", String(18), nullable=False, server_default=""),
    Column("application", String(255), nullable=False, server_default=""),
    Column("username", String(255)),
    Column("events", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("last_login", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("org", "day", "user_id", "application", name="pk_login_user_daily"),
    sqlite_with_rowid=False,
)

login_ip_daily = Table(
    "login_ip_daily",
    metadata,
    _org(),
    Column("day", Date, nullable=False),
    Column("source_ip", String(64), nullable=False, server_default=""),
    Column("application", String(255), nullable=False, server_default=""),
    Column("country_iso", String(3), nullable=False, server_default=""),
    Column("country", String(80)),
    Column("city", String(80)),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("events", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("users", Integer, nullable=False, doc="distinct users in this cell"),
    PrimaryKeyConstraint("org", "day", "source_ip", "application", "country_iso", name="pk_login_ip_daily"),
    # "first seen ever" checks for new origins seek these instead of scanning all history.
    Index("ix_login_ip_daily_org_ip_day", "org", "source_ip", "day"),
    Index("ix_login_ip_daily_org_country_day", "org", "country_iso", "day"),
    sqlite_with_rowid=False,
)

login_origin_first_seen = Table(
    "login_origin_first_seen",
    metadata,
    _org(),
    Column("kind", String(10), nullable=False, doc="ip | country"),
    Column("origin", String(64), nullable=False),
    Column("first_day", Date, nullable=False, doc="first UTC day with a login from it (primary source)"),
    PrimaryKeyConstraint("org", "kind", "origin", name="pk_login_origin_first_seen"),
    Index("ix_origin_first_seen_org_day", "org", "first_day"),
)

oauth_token_snapshots = Table(
    "oauth_token_snapshots",
    metadata,
    _org(),
    Column("snapshot_day", Date, nullable=False),
    Column("user_id", String(18), nullable=False),
    Column("app_name", String(255), nullable=False),
    Column("created_date", UTCDateTime, nullable=False),
    Column("app_menu_item_id", String(18)),
    Column("last_used_date", UTCDateTime),
    Column("use_count", Integer),
    Column(
        "delete_token_hash", String(64), doc="sha256 of DeleteToken: identifies a grant, never revokes it"
    ),
    Column("seen_at", UTCDateTime, nullable=False),
    UniqueConstraint(
        "org", "snapshot_day", "user_id", "app_name", "created_date", name="uq_oauth_token_snapshot"
    ),
    Index("ix_oauth_token_org_app", "org", "app_name"),
)

connected_apps = Table(
    "connected_apps",
    metadata,
    _org(),
    Column("app_id", String(18), nullable=False),
    Column("name", String(255), nullable=False),
    Column("admin_approved_only", Boolean),
    Column("ip_relaxation", String(40)),
    Column("refresh_token_policy", String(64)),
    Column("scopes", JSON),
    Column("certificate_expires_at", UTCDateTime),
    Column("permitted_parents", JSON, doc="profiles / permission sets from SetupEntityAccess"),
    Column("session_level", String(40)),
    Column("details", JSON, doc="every other field as read"),
    Column("fingerprint", String(64), nullable=False, doc="hash of the policy fields, to notice changes"),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    UniqueConstraint("org", "app_id", name="uq_connected_apps_org_app"),
)

connected_app_changes = Table(
    "connected_app_changes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _org(),
    Column("app_id", String(18), nullable=False),
    Column("observed_at", UTCDateTime, nullable=False),
    Column("field", String(64), nullable=False),
    Column("old_value", JSON),
    Column("new_value", JSON),
    Index("ix_app_changes_org_app", "org", "app_id", "observed_at"),
)

api_usage_events = Table(
    "api_usage_events",
    metadata,
    _org(),
    Column(
        "request_id",
        String(64),
        nullable=False,
        doc="ELF REQUEST_ID (file:line when a row has none): the same call from any file is one row",
    ),
    Column("event_time", UTCDateTime, nullable=False),
    Column("connected_app_id", String(18), nullable=False, server_default=""),
    Column("connected_app_name", String(255), nullable=False, server_default=""),
    Column("client_name", String(255), nullable=False, server_default=""),
    Column("api_family", String(20), nullable=False, server_default=""),
    Column("status_code", String(8), nullable=False, server_default=""),
    Column("user_id", String(18), nullable=False, server_default=""),
    UniqueConstraint("org", "request_id", name="uq_api_usage_events_org_request"),
    Index("ix_api_usage_events_org_time", "org", "event_time"),
)

api_usage_hourly = Table(
    "api_usage_hourly",
    metadata,
    _org(),
    Column("hour", UTCDateTime, nullable=False),
    Column("connected_app_id", String(18), nullable=False, server_default=""),
    Column("connected_app_name", String(255), nullable=False, server_default=""),
    Column("client_name", String(255), nullable=False, server_default=""),
    Column("api_family", String(20), nullable=False, server_default=""),
    Column("status_code", String(8), nullable=False, server_default=""),
    Column("user_id", String(18), nullable=False, server_default=""),
    Column(
        "requests",
        Integer,
        nullable=False,
        doc="ApiTotalUsage calls in this (org, hour, dimensions) cell, recomputed from api_usage_events",
    ),
    UniqueConstraint(
        "org",
        "hour",
        "connected_app_id",
        "connected_app_name",
        "client_name",
        "api_family",
        "status_code",
        "user_id",
        name="uq_api_usage_hourly_cell",
    ),
)

event_log_files = Table(
    "event_log_files",
    metadata,
    _org(),
    Column("file_id", String(18), nullable=False),
    Column("event_type", String(40), nullable=False),
    Column("interval", String(10), nullable=False),
    Column("log_date", UTCDateTime, nullable=False),
    Column("sequence", Integer, nullable=False, server_default="0"),
    Column("created_date", UTCDateTime, nullable=False),
    Column("length", BigInteger),
    Column("rows", Integer),
    Column("processed_at", UTCDateTime),
    UniqueConstraint("org", "file_id", name="uq_event_log_files_org_file"),
)

audit_events = Table(
    "audit_events",
    metadata,
    _org(),
    Column("event_id", String(18), nullable=False),
    Column("created_date", UTCDateTime, nullable=False),
    Column("action", String(120)),
    Column("section", String(120)),
    Column("display", Text),
    Column("created_by", String(255)),
    Column("delegate_user", String(255)),
    UniqueConstraint("org", "event_id", name="uq_audit_events_org_event"),
    Index("ix_audit_org_time", "org", "created_date"),
)

org_limits = Table(
    "org_limits",
    metadata,
    _org(),
    Column("read_at", UTCDateTime, nullable=False),
    Column("name", String(120), nullable=False),
    Column("max", BigInteger),
    Column("remaining", BigInteger),
    Column("origin", String(20), nullable=False, server_default="limits", doc="limits | header"),
    UniqueConstraint("org", "read_at", "name", name="uq_org_limits_reading"),
)

security_events = Table(
    "security_events",
    metadata,
    _org(),
    Column("store", String(64), nullable=False, doc="ApiAnomalyEventStore, CredentialStuffingEventStore, …"),
    Column("event_id", String(64), nullable=False),
    Column("event_date", UTCDateTime, nullable=False),
    Column("user_id", String(18)),
    Column("username", String(255)),
    Column("source_ip", String(64)),
    Column("score", Float),
    Column("summary", Text),
    Column("details", JSON),
    UniqueConstraint("org", "store", "event_id", name="uq_security_events_natural"),
)

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

user_power = Table(
    "user_power",
    metadata,
    _org(),
    Column("user_id", String(18), nullable=False),
    Column("username", String(255)),
    Column("profile", String(255)),
    Column("is_active", Boolean),
    Column("is_frozen", Boolean, doc="UserLogin.IsFrozen; NULL when it could not be read"),
    Column("permissions", JSON, doc="labels of the powerful permissions the user holds (profile + sets)"),
    Column("permissions_read", Boolean, nullable=False, doc="false: only the profile name is known"),
    Column("read_at", UTCDateTime, nullable=False),
    UniqueConstraint("org", "user_id", name="uq_user_power_org_user"),
)
