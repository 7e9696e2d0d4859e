"""Can the integration user read what collection needs? One ``LIMIT 1`` query per configured source.

Authentication can succeed while collection still fails: LoginHistory and everyone's OauthToken
rows need "Manage Users", connected apps and the audit trail need "View Setup and Configuration",
LoginEvent needs the Event Monitoring add-on. ``check`` probes each source the org is configured to
collect, so the admin learns it now instead of from an empty dashboard.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collectors.auth import TokenProvider
    from collectors.doctor.report import OrgReport

log = logging.getLogger(__name__)

PROBES: dict[str, tuple[str, str]] = {
    "login_history": ("SELECT Id FROM LoginHistory LIMIT 1", "Manage Users"),
    "oauth_tokens": ("SELECT UserId FROM OauthToken LIMIT 1", "Manage Users"),
    "connected_apps": ("SELECT Id FROM ConnectedApplication LIMIT 1", "View Setup and Configuration"),
    "event_log_files": ("SELECT Id FROM EventLogFile LIMIT 1", "View Event Log Files"),
    "setup_audit_trail": ("SELECT Id FROM SetupAuditTrail LIMIT 1", "View Setup and Configuration"),
    "login_events": ("SELECT Id FROM LoginEvent LIMIT 1", "View Real-Time Event Monitoring Data"),
}
LICENSED = {"login_events": "LoginEvent", "event_log_files": "EventLogFile"}


def _error_code(exc: Exception) -> str:
    content: Any = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode") or "")
    return type(exc).__name__


def probe_sources(provider: TokenProvider, report: OrgReport) -> None:
    """Record which configured sources are readable; explain the ones that are not."""
    sf = provider.salesforce()
    readable: dict[str, str] = {}
    for source in provider.org.sources:
        probe = PROBES.get(source)
        if probe is None:
            continue
        soql, permission = probe
        try:
            sf.query(soql)
        except Exception as exc:  # noqa: BLE001 - every refusal is reported, none is fatal
            code = _error_code(exc)
            readable[source] = code
            if code == "INVALID_TYPE" and source in LICENSED:
                report.add(
                    "info",
                    f"source_unlicensed_{source}",
                    f"{LICENSED[source]} is not available in this org (it needs the Event Monitoring add-on), "
                    f"so the {source} source will collect nothing",
                    f"remove {source!r} from sources for org {provider.org.name}, or license Event Monitoring",
                )
            else:
                report.add(
                    "warning",
                    f"source_unreadable_{source}",
                    f"the integration user cannot read the {source} source ({code})",
                    f"give the integration user '{permission}' (and 'API Enabled'), or remove {source!r} from sources",
                )
            continue
        readable[source] = "ok"
    report.facts["sources"] = readable
