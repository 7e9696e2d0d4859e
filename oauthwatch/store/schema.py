"""Every table of the store, in one namespace (SQLAlchemy Core): ``schema.logins``, ``schema.metadata``.

Keys are natural keys from Salesforce wherever one exists, so a write can be repeated (a retry, a
crash, an overlap window) without storing anything twice. Text columns that are part of a key use
``""`` rather than NULL for "none", because NULL never equals NULL in a unique index.

Changing a table means a new Alembic revision in ``store/migrations/versions``; a test compares
this module with the migrations and fails when they drift. The tables are defined by subject in
:mod:`oauthwatch.store.tables` (``logins``, ``org_state``, ``operations``, ``detection``, ``fleet``); add a new one there and
name it here.
"""

from __future__ import annotations

from oauthwatch.store.tables.base import BigId, metadata
from oauthwatch.store.tables.detection import alert_findings, alert_outbox, detect_marks, login_import_spans
from oauthwatch.store.tables.fleet import fleet_workers, org_leases
from oauthwatch.store.tables.logins import (
    login_app_hourly,
    login_ip_daily,
    login_origin_first_seen,
    login_rollup_daily,
    login_rollup_hourly,
    login_seen_daily,
    login_user_daily,
    logins,
    orgs,
    users,
)
from oauthwatch.store.tables.operations import (
    alert_deliveries,
    alerts,
    allowlist,
    checkpoints,
    collector_runs,
    coverage,
    digests_sent,
    network_ranges,
    pruned_ranges,
    quarantine,
    response_actions,
    service_heartbeats,
)
from oauthwatch.store.tables.org_state import (
    api_data_events,
    api_usage_events,
    api_usage_hourly,
    audit_events,
    bulk_jobs,
    connected_app_changes,
    connected_apps,
    event_log_files,
    oauth_token_snapshots,
    org_limits,
    security_events,
    user_power,
)

__all__ = [
    "BigId",
    "alert_deliveries",
    "alert_findings",
    "alert_outbox",
    "alerts",
    "allowlist",
    "api_data_events",
    "api_usage_events",
    "api_usage_hourly",
    "audit_events",
    "bulk_jobs",
    "checkpoints",
    "collector_runs",
    "connected_app_changes",
    "connected_apps",
    "coverage",
    "detect_marks",
    "digests_sent",
    "event_log_files",
    "fleet_workers",
    "login_app_hourly",
    "login_import_spans",
    "login_ip_daily",
    "login_origin_first_seen",
    "login_rollup_daily",
    "login_rollup_hourly",
    "login_seen_daily",
    "login_user_daily",
    "logins",
    "metadata",
    "network_ranges",
    "oauth_token_snapshots",
    "org_leases",
    "org_limits",
    "orgs",
    "pruned_ranges",
    "quarantine",
    "response_actions",
    "security_events",
    "service_heartbeats",
    "user_power",
    "users",
]
