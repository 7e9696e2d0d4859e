"""The one list of sources, in run order: everything else that needs to know the sources reads it.

Configuration takes its known source names from here (:data:`SOURCE_NAMES`), ``check`` its probe
queries and the permissions to name (each source's ``probe()`` and ``permission``), the runner the
classes to run, and the contract tests the tables and natural keys to hold each source to
(``writes``). Adding a source is: write its module, add its class to :data:`SOURCES`.
"""

from __future__ import annotations

from collectors.sources.base import Source
from collectors.sources.connected_apps import ConnectedAppsSource
from collectors.sources.event_log_files import EventLogFilesSource
from collectors.sources.login_events import LoginEventsSource
from collectors.sources.login_history import LoginHistorySource
from collectors.sources.oauth_tokens import OauthTokensSource
from collectors.sources.org_limits import OrgLimitsSource
from collectors.sources.setup_audit_trail import SetupAuditTrailSource

SOURCES: dict[str, type[Source]] = {
    cls.name: cls
    for cls in (
        OrgLimitsSource,
        LoginHistorySource,
        OauthTokensSource,
        ConnectedAppsSource,
        EventLogFilesSource,
        SetupAuditTrailSource,
        LoginEventsSource,
    )
}
SOURCE_NAMES: tuple[str, ...] = tuple(SOURCES)

__all__ = ["SOURCES", "SOURCE_NAMES", "Source"]
