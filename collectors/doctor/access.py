"""Can the integration user read what collection needs? Its permissions, then one probe per source.

Authentication can succeed while collection still fails or, worse, silently reads only part of the
org: each source declares the object it reads, the user permission it needs and the add-on its
object comes with (:mod:`collectors.sources`). ``check`` reads the integration user's effective
permissions (profile, permission sets and groups; :mod:`collectors.sources.access`), names each
missing one with the Setup path that grants it (a source that would be partial is a problem: exit
1), then runs each source's ``LIMIT 1`` probe to learn which objects the org has at all.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from collectors.sources.access import label, needed, read_effective, visibility
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


def check_permissions(provider: TokenProvider, report: OrgReport) -> None:
    """Read the integration user's effective permissions; name what each source would miss."""
    org = provider.org
    classes = [SOURCES[s] for s in org.sources if s in SOURCES]
    names = needed(classes)
    user_id = provider.token().user_id or ""
    sf = provider.salesforce()
    try:
        eff = read_effective(lambda soql: sf.query(soql)["records"], user_id, names)
    except Exception as exc:  # noqa: BLE001 - reported, never fatal
        report.add(
            "warning",
            "permissions_unreadable",
            f"cannot read the integration user's permissions ({_error_code(exc)}), so check cannot tell "
            "whether collection will see the whole org",
            "give the integration user 'API Enabled'; keep api_version at 45.0 or later",
        )
        return
    seen: dict[str, str] = {}
    for cls in classes:
        vis = visibility(cls, eff)
        seen[cls.name] = (
            "all" if vis is None else ("own rows only" if vis.status == "own_rows" else "nothing")
        )
        if vis is None:
            continue
        perm = vis.missing.label
        if vis.status == "own_rows":
            report.add(
                "problem",
                f"source_partial_{cls.name}",
                f"the {cls.name} source would be partial: without '{perm}' the integration user sees only "
                f"its own {cls.object} rows, and collection would store them as partial (own rows only)",
                vis.setup_path,
            )
        else:
            licensed = f" (and the org needs {cls.licence})" if cls.licence else ""
            report.add(
                "warning" if cls.licence else "problem",
                f"source_blind_{cls.name}",
                f"the {cls.name} source would collect nothing: the integration user lacks '{perm}'{licensed}",
                vis.setup_path + f", or remove {cls.name!r} from sources for org {org.name}",
            )
    report.facts["source_visibility"] = seen
    missing = list(
        dict.fromkeys(v.missing.api_name for c in classes if (v := visibility(c, eff)) is not None)
    )
    report.facts["permissions"] = {
        "read_from": eff.read_from,
        "held": [n for n in names if n in eff.held],
        "missing": missing,
        "granted_by": {n: list(v) for n, v in eff.via.items() if n in names},
    }
    if missing:
        log.info("org %s: the integration user lacks %s", org.name, ", ".join(label(n) for n in missing))


def probe_sources(provider: TokenProvider, report: OrgReport) -> None:
    """Record which configured sources are readable; explain the ones that are not."""
    sf = provider.salesforce()
    readable: dict[str, str] = {}
    for source in provider.org.sources:
        cls = SOURCES.get(source)
        soql = cls.probe() if cls is not None else None
        if cls is None or soql is None or report.facts.get("source_visibility", {}).get(source) == "nothing":
            continue  # nothing to probe, or already explained by the missing permission
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
        if cls.describes:  # what the object looks like in this org (e.g. without a licence)
            try:
                desc = sf.restful(f"sobjects/{cls.object}/describe")
            except Exception as exc:  # noqa: BLE001 - the probe above already said whether it is readable
                log.info("org %s: describing %s failed (%s)", provider.org.name, cls.object, _error_code(exc))
                continue
            for severity, code, cause, fix in cls.shape_notes(desc, provider.org):
                report.add(severity, code, cause, fix)
    report.facts["sources"] = readable
