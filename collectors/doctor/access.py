"""Can the integration user read what collection needs? One ``LIMIT 1`` query per configured source.

Authentication can succeed while collection still fails: each source declares the object it reads,
the user permission it needs and the add-on its object comes with (:mod:`collectors.sources`);
``check`` probes each source the org is configured to collect and names what is missing, so the
admin learns it now instead of from an empty dashboard.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from collectors.sources.registry import SOURCES

if TYPE_CHECKING:
    from collectors.auth import TokenProvider
    from collectors.doctor.report import OrgReport

log = logging.getLogger(__name__)


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
        cls = SOURCES.get(source)
        soql = cls.probe() if cls is not None else None
        if cls is None or soql is None:
            continue
        permission = cls.permission.label if cls.permission else "API Enabled"
        try:
            sf.query(soql)
        except Exception as exc:  # noqa: BLE001 - every refusal is reported, none is fatal
            code = _error_code(exc)
            readable[source] = code
            if code == "INVALID_TYPE" and cls.licence:
                report.add(
                    "info",
                    f"source_unlicensed_{source}",
                    f"{cls.object} is not available in this org (it needs {cls.licence}), "
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
