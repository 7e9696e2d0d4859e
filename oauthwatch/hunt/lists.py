"""Saved IOC lists (``[[hunt.lists]]``): matched against each new batch of events of every source,
alert on a hit.

Each list keeps a cursor per org (in ``checkpoints`` as source ``hunt:<list>``): for logins the
newest login row id it has judged, so each row is judged once; for API calls, audit trail, grants
and security events a re-read window and the hits already reported
(:mod:`oauthwatch.hunt.other_sources`). A list added later starts from the oldest stored row, so
its first run is a full hunt. One alert per (org, list, indicator): later hits update it (count,
last seen, evidence) instead of opening new ones, and a person closes it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from oauthwatch.detect.base import Finding, fmt_time
from oauthwatch.detect.lifecycle import apply_findings
from oauthwatch.hunt.indicators import IocFileError, read_iocs
from oauthwatch.hunt.matcher import Match, Scope, login_matches, max_login_id
from oauthwatch.hunt.other_sources import new_matches
from oauthwatch.store import schema
from oauthwatch.store.writes import upsert, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from oauthwatch.config import Settings
    from oauthwatch.settings_threat import HuntList

log = logging.getLogger(__name__)
DETECTOR = "ioc_hunt"
RUNBOOK = (
    "Open the evidence: which events matched (users, apps, addresses, sources) and when.",
    "Run `oauthwatch hunt --ioc FILE --org ORG --format csv` for the full list of matching events.",
    "If the indicator is an attacker's: `oauthwatch grants --app APP` for who is exposed, then "
    "`oauthwatch revoke --app APP` (dry run first) and follow docs/incident-response.md.",
    "If it is a false positive (a shared egress address, a common user agent), remove the line from the list.",
)


@dataclass
class ListReport:
    """What one pass over the saved lists did."""

    matched: dict[str, int] = field(default_factory=dict)
    alerts_opened: int = 0
    errors: dict[str, str] = field(default_factory=dict)


def list_path(settings: Settings, entry: HuntList) -> Path:
    """The list's file, relative paths read from the configuration's folder."""
    if entry.file.is_absolute() or settings.source_path is None:
        return entry.file
    return settings.source_path.parent / entry.file


def _cursor(engine: Engine, org: str, source: str) -> dict[str, Any]:
    t = schema.checkpoints
    with engine.connect() as conn:
        row = conn.execute(select(t.c.cursor).where(t.c.org == org, t.c.source == source)).first()
    return dict(row[0] or {}) if row else {}


def findings_for(org: str, entry: HuntList, matches: list[Match]) -> list[Finding]:
    """One finding per indicator that matched, with the events as evidence."""
    by_ind: dict[str, list[Match]] = defaultdict(list)
    for m in matches:
        for ind in m.indicators:
            by_ind[ind].append(m)
    out = []
    for ind, ms in sorted(by_ind.items()):
        users = sorted({m.user for m in ms if m.user})
        apps = sorted({m.app for m in ms if m.app})
        ips = sorted({m.ip for m in ms if m.ip})
        first, last = min(m.time for m in ms), max(m.time for m in ms)
        out.append(
            Finding(
                detector=DETECTOR,
                severity=entry.severity,
                org=org,
                subject_type="app" if apps else "ip",
                subject=(apps[0] if apps else ips[0] if ips else ind)[:255],
                title=f"IOC list {entry.name}: {ind} matched {len(ms)} event(s)"[:255],
                explanation=(
                    f"The indicator {ind!r} from the saved list {entry.name!r} matched {len(ms)} new event(s) "
                    f"between {fmt_time(first)} and {fmt_time(last)}: users {', '.join(users[:3]) or 'unknown'}, "
                    f"apps {', '.join(apps[:3]) or 'none'}, addresses {', '.join(ips[:3]) or 'none'}."
                ),
                evidence={
                    "list": entry.name,
                    "indicator": ind,
                    "events": len(ms),
                    "users": ", ".join(users[:10]),
                    "apps": ", ".join(apps[:10]),
                    "ips": ", ".join(ips[:10]),
                    "sources": ", ".join(sorted({m.source for m in ms})),
                    "event_ids": ", ".join(m.id for m in ms[:10]),
                },
                runbook=RUNBOOK,
                dedupe_key=f"{DETECTOR}:{org}:{entry.name}:{ind}"[:255],
                event_start=first,
                event_end=last,
            )
        )
    return out


def match_saved_lists(
    engine: Engine, settings: Settings, *, now: datetime | None = None, orgs: set[str] | None = None
) -> ListReport:
    """Match every enabled saved list against the events stored since its last pass, per org
    (every stored org, or those of ``orgs``: the service's worker passes the orgs it holds)."""
    now = now or utcnow()
    report = ListReport()
    with engine.connect() as conn:
        known = [r[0] for r in conn.execute(select(schema.orgs.c.name).order_by(schema.orgs.c.name))]
    orgs_here = [o for o in known if orgs is None or o in orgs]
    for entry in settings.hunt.lists:
        if not entry.enabled:
            continue
        try:
            iocs = read_iocs(list_path(settings, entry))
        except IocFileError as exc:
            report.errors[entry.name] = str(exc)
            log.error("hunt list %s: %s", entry.name, exc)
            continue
        if iocs.errors:
            log.warning(
                "hunt list %s: %d line(s) skipped: %s",
                entry.name,
                len(iocs.errors),
                "; ".join(iocs.errors[:3]),
            )
        source = f"hunt:{entry.name}"[:40]
        for org in orgs_here:
            cursor = _cursor(engine, org, source)
            after = int(cursor.get("login_id", 0))
            upto = max_login_id(engine, org)
            matches = (
                login_matches(engine, iocs, Scope(org=org, after_login_id=after, until_login_id=upto))
                if upto > after
                else []
            )
            others, other_cursor = new_matches(engine, iocs, org, cursor.get("others", {}), now)
            matches = sorted([*matches, *others], key=lambda m: (m.time, m.source, m.id))
            if upto > after or others:
                report.matched[f"{org}:{entry.name}"] = len(matches)
            with engine.begin() as conn:
                if matches:
                    result = apply_findings(
                        conn,
                        findings_for(org, entry, matches),
                        org=org,
                        clears_after={},
                        now=now,
                        correlate=False,  # one alert per indicator
                    )
                    report.alerts_opened += len(result.opened) + len(result.reopened)
                # apply_findings wrote the alert outbox rows; deliver_pending drains and sends them
                upsert(
                    conn,
                    schema.checkpoints,
                    [
                        {
                            "org": org,
                            "source": source,
                            "cursor": {"login_id": max(upto, after), "others": other_cursor},
                            "updated_at": now,
                        }
                    ],
                    key=["org", "source"],
                    update=["cursor", "updated_at"],
                )
    return report
