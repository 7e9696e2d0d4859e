"""What the org holds and did besides logins: grants, connected apps, API usage, Bulk API jobs, event log files, the Setup Audit Trail, limits, security events and the grant holders' power.

Part of the store schema (:mod:`oauthwatch.store.schema`); see its docstring for the key rules."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from oauthwatch.store.tables.base import BigId, _org, metadata
from oauthwatch.store.types import UTCDateTime

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
    Column(
        "kind",
        String(24),
        nullable=False,
        server_default="connected_app",
        doc="connected_app (ConnectedApplication) or external_client_app (External Client App metadata)",
    ),
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
    # what moved: the resource and object of each call (oauthwatch.movement reads them per app)
    Column("api_resource", String(255), nullable=False, server_default=""),
    Column("entity_name", String(255), nullable=False, server_default=""),
    Column("http_method", String(10), nullable=False, server_default=""),
    Column("client_ip", String(64), nullable=False, server_default=""),
    UniqueConstraint("org", "request_id", "event_time", name="uq_api_usage_events_org_request"),
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


bulk_jobs = Table(
    "bulk_jobs",
    metadata,
    _org(),
    Column("job_id", String(18), nullable=False),
    Column("job_type", String(20), nullable=False, server_default="", doc="V2Query, V2Ingest, Classic"),
    Column("operation", String(20), nullable=False, server_default=""),
    Column("object", String(255), nullable=False, server_default=""),
    Column("created_by", String(18), nullable=False, server_default=""),
    Column("created_date", UTCDateTime, nullable=False),
    Column("system_modstamp", UTCDateTime),
    Column("state", String(20), nullable=False, server_default=""),
    Column("records", BigInteger, doc="numberRecordsProcessed, read from the job once it is complete"),
    Column("processing_ms", BigInteger),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("gone_at", UTCDateTime, doc="first listing without it while younger than 7 days: deleted"),
    UniqueConstraint("org", "job_id", name="uq_bulk_jobs_org_job"),
    Index("ix_bulk_jobs_org_created", "org", "created_date"),
)


api_data_events = Table(
    "api_data_events",
    metadata,
    _org(),
    Column(
        "event_type",
        String(40),
        nullable=False,
        doc="the Event Log File type: BulkApi2, BulkApi, RestApi, API",
    ),
    Column(
        "event_id", String(64), nullable=False, doc="REQUEST_ID with a digest of the row's job, step and time"
    ),
    Column("event_time", UTCDateTime, nullable=False),
    Column("user_id", String(18), nullable=False, server_default=""),
    Column(
        "connected_app_id",
        String(18),
        nullable=False,
        server_default="",
        doc="RestApi only; Bulk rows via job_id",
    ),
    Column("client_name", String(255), nullable=False, server_default=""),
    Column("client_ip", String(64), nullable=False, server_default=""),
    Column("entity", String(255), nullable=False, server_default=""),
    Column(
        "operation", String(40), nullable=False, server_default="", doc="OPERATION_TYPE, else the HTTP method"
    ),
    Column("job_id", String(18), nullable=False, server_default=""),
    Column("status", String(40), nullable=False, server_default="", doc="JOB_STATUS, else STATUS_CODE"),
    Column("rows", BigInteger, doc="RECORDS_PROCESSED / ROWS_PROCESSED"),
    Column("bytes", BigInteger, doc="RESULT_SIZE_MB in bytes / RESPONSE_SIZE"),
    UniqueConstraint("org", "event_type", "event_id", "event_time", name="uq_api_data_events_natural"),
    Index("ix_api_data_events_org_time", "org", "event_time"),
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
    UniqueConstraint("org", "event_id", "created_date", name="uq_audit_events_org_event"),
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
    UniqueConstraint("org", "store", "event_id", "event_date", name="uq_security_events_natural"),
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
