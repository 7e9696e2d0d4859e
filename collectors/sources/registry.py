"""The one list of sources, in run order: everything else that needs to know the sources reads it.

Configuration takes its known source names from here (:data:`SOURCE_NAMES`), ``check`` its probe
queries and the permissions to name (each source's ``probe()`` and ``permission``), the runner the
classes to run, and the contract tests the tables and natural keys to hold each source to
(``writes``). Adding a source is: write its module, add its class to :data:`SOURCES`.
"""

from __future__ import annotations

from collectors.sources.base import Source
from collectors.sources.bulk_jobs import BulkJobsSource
from collectors.sources.connected_apps import ConnectedAppsSource
from collectors.sources.event_log_files import EventLogFilesSource
from collectors.sources.external_client_apps import ExternalClientAppsSource
from collectors.sources.login_events import LoginEventsSource
from collectors.sources.login_history import LoginHistorySource
from collectors.sources.oauth_tokens import OauthTokensSource
from collectors.sources.org_limits import OrgLimitsSource
from collectors.sources.setup_audit_trail import SetupAuditTrailSource
from collectors.sources.snapshot import DailySnapshotSource

SOURCES: dict[str, type[Source]] = {
    cls.name: cls
    for cls in (
        OrgLimitsSource,
        LoginHistorySource,
        OauthTokensSource,
        ConnectedAppsSource,
        ExternalClientAppsSource,
        EventLogFilesSource,
        SetupAuditTrailSource,
        LoginEventsSource,
        BulkJobsSource,
    )
}
SOURCE_NAMES: tuple[str, ...] = tuple(SOURCES)
# ``logins.source`` value → the source that writes those rows (``status``, the primary login source)
LOGIN_SOURCES: dict[str, str] = {c.login_source: n for n, c in SOURCES.items() if c.login_source}
# the sources read whole as one reading per day (the digest judges their freshness by day)
SNAPSHOT_SOURCES: frozenset[str] = frozenset(
    n for n, c in SOURCES.items() if issubclass(c, DailySnapshotSource)
)
# ``check`` reads the integration user's permissions through PermissionSetAssignment, whose group
# assignments carry PermissionSetGroupId from 45.0 (and UserPermissionAccess, from 41.0)
CHECK_MIN_API_VERSION = (45.0, "PermissionSetAssignment.PermissionSetGroupId, read by check")


def min_api_version(sources: list[str]) -> tuple[float, str]:
    """The lowest API version the given sources (and ``check``) need, and the field that needs it."""
    return max([CHECK_MIN_API_VERSION, *(SOURCES[s].min_api_version for s in sources if s in SOURCES)])


def api_version_problem(api_version: str, sources: list[str]) -> str | None:
    """Why ``api_version`` is too old for ``sources`` (for the configuration check), or None."""
    need, why = min_api_version(sources)
    if float(api_version) >= need:
        return None
    return (
        f"api_version {api_version} is below {need:.1f}, the lowest version oauthwatch's queries need "
        f'for these sources ({why}); set api_version = "62.0" (any version from {need:.1f} on works)'
    )


__all__ = [
    "CHECK_MIN_API_VERSION",
    "LOGIN_SOURCES",
    "SNAPSHOT_SOURCES",
    "SOURCES",
    "SOURCE_NAMES",
    "Source",
    "api_version_problem",
    "min_api_version",
]
