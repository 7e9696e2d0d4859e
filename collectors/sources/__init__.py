"""One module per source; this registry is how the runner and the CLI find them, in run order."""

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

__all__ = ["SOURCES", "Source"]
