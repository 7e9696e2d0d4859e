"""The alert lifecycle in the store: findings become alerts, alerts move open → acknowledged → resolved.

One alert per dedupe key. A finding whose key has an open or acknowledged alert updates it (last
seen, count, evidence; severity only rises, and a rise is an escalation that is notified again).
A finding whose alert was resolved reopens it, unless a person resolved it and the finding brings
no event newer than that resolution. An alert its detector stops reporting resolves itself
once the detector's ``clears_after`` has passed since it was last seen. Suppression keeps the
alert updating but silences its notifications until the given time. Every opened, reopened or
escalated alert also gets an ``alert_outbox`` row in the same transaction, which notify drains
(:mod:`oauthwatch.detect.outbox`).

The dashboard's Alerts page and the CLI call these functions::

    from oauthwatch.detect.lifecycle import acknowledge, resolve, suppress, list_alerts
    acknowledge(engine, 42, by="analyst@example.com")
    suppress(engine, 42, until=now + timedelta(hours=8), by="analyst@example.com")
    resolve(engine, 42, by="analyst@example.com")
    open_alerts = list_alerts(engine, status="open")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from oauthwatch.detect.base import Finding, severity_rank
from oauthwatch.detect.outbox import write_outbox
from oauthwatch.store import schema
from oauthwatch.store.writes import utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

STATUSES = ("open", "acknowledged", "resolved")
SYSTEM = "oauthwatch"


class AlertNotFound(LookupError):
    """No alert has this id."""


@dataclass
class LifecycleResult:
    """What one detection run did to the alerts table (alert ids per kind of change)."""

    opened: list[int] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)

    def merge(self, other: LifecycleResult) -> None:
        """Add another run's changes (one per org) to this one."""
        for name in ("opened", "reopened", "updated", "escalated", "resolved"):
            getattr(self, name).extend(getattr(other, name))


def _jsonable(evidence: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in evidence.items():
        if v is None or isinstance(v, bool | int | float | str):
            out[k] = v
        elif hasattr(v, "item"):  # numpy scalars
            out[k] = v.item()
        else:
            out[k] = str(v)
    return out


def _values(f: Finding) -> dict[str, Any]:
    return {
        "detector": f.detector,
        "org": f.org,
        "subject_type": f.subject_type,
        "subject": f.subject[:255],
        "title": f.title[:255],
        "explanation": f.explanation,
        "runbook": list(f.runbook),
        "evidence": _jsonable(f.evidence),
        "event_end": f.event_end,
    }


def apply_findings(
    conn: Connection,
    findings: Iterable[Finding],
    *,
    org: str,
    clears_after: Mapping[str, timedelta],
    now: datetime,
) -> LifecycleResult:
    """Record one run's findings for ``org``; ``clears_after`` names the detectors that ran.

    Alerts of detectors absent from ``clears_after`` (not run, or failed) are left alone.
    """
    t = schema.alerts
    result = LifecycleResult()
    best: dict[str, Finding] = {}
    for f in findings:
        cur = best.get(f.dedupe_key)
        # Findings come oldest window first: the latest of the most severe sightings is kept.
        if cur is None or severity_rank(f.severity) >= severity_rank(cur.severity):
            best[f.dedupe_key] = f
    for key, f in best.items():
        row = conn.execute(select(t).where(t.c.dedupe_key == key[:255])).mappings().first()
        if row is None:
            values = _values(f) | {
                "dedupe_key": key[:255],
                "severity": f.severity,
                "event_start": f.event_start,
                "first_seen": now,
                "last_seen": now,
                "count": 1,
                "status": "open",
            }
            alert_id = conn.execute(insert(t).values(**values)).inserted_primary_key[0]
            result.opened.append(int(alert_id))
            continue
        values = _values(f) | {"last_seen": now, "count": row["count"] + 1}
        if row["status"] == "resolved":
            by_person = not row["auto_resolved"] and row["status_at"] is not None
            if by_person and f.event_end is not None and f.event_end <= row["status_at"]:
                continue  # a person closed it and nothing happened since
            values |= {
                "status": "open",
                "status_by": None,
                "status_at": now,
                "auto_resolved": False,
                "severity": f.severity,
                "event_start": f.event_start,
                "notified_severity": None,
            }
            result.reopened.append(int(row["id"]))
        else:
            if severity_rank(f.severity) > severity_rank(row["severity"]):
                values["severity"] = f.severity
                result.escalated.append(int(row["id"]))
            result.updated.append(int(row["id"]))
        conn.execute(update(t).where(t.c.id == row["id"]).values(**values))
    if clears_after:
        stale = conn.execute(
            select(t.c.id, t.c.detector, t.c.last_seen, t.c.dedupe_key).where(
                t.c.org == org, t.c.status != "resolved", t.c.detector.in_(list(clears_after))
            )
        ).all()
        for alert_id, detector, last_seen, key in stale:
            if key in best or now - last_seen < clears_after[detector]:
                continue
            conn.execute(
                update(t)
                .where(t.c.id == alert_id)
                .values(status="resolved", status_by=SYSTEM, status_at=now, auto_resolved=True)
            )
            result.resolved.append(int(alert_id))
    write_outbox(conn, result, now=now)
    return result


def _set_status(engine: Engine, alert_id: int, **values: Any) -> dict[str, Any]:
    t = schema.alerts
    with engine.begin() as conn:
        n = conn.execute(update(t).where(t.c.id == alert_id).values(**values)).rowcount
        if not n:
            raise AlertNotFound(f"no alert with id {alert_id} (see `oauthwatch alerts --status all`)")
        return dict(conn.execute(select(t).where(t.c.id == alert_id)).mappings().one())


def acknowledge(engine: Engine, alert_id: int, *, by: str, now: datetime | None = None) -> dict[str, Any]:
    """Mark an alert as being looked at by ``by``; it keeps updating and escalations still notify."""
    return _set_status(engine, alert_id, status="acknowledged", status_by=by, status_at=now or utcnow())


def resolve(engine: Engine, alert_id: int, *, by: str, now: datetime | None = None) -> dict[str, Any]:
    """Close an alert. It reopens only if its detector reports something newer than this moment."""
    return _set_status(
        engine, alert_id, status="resolved", status_by=by, status_at=now or utcnow(), auto_resolved=False
    )


def suppress(
    engine: Engine, alert_id: int, *, until: datetime, by: str, now: datetime | None = None
) -> dict[str, Any]:
    """Silence an alert's notifications until ``until`` (it is still tracked and listed)."""
    if until.tzinfo is None:
        raise ValueError("until must be tz-aware (UTC)")
    return _set_status(engine, alert_id, suppressed_until=until, status_by=by, status_at=now or utcnow())


def list_alerts(
    engine: Engine,
    *,
    status: str | None = None,
    org: str | None = None,
    detector: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Alerts, newest activity first; ``status`` is open|acknowledged|resolved|active (open+ack)|None."""
    t = schema.alerts
    stmt = select(t).order_by(t.c.last_seen.desc(), t.c.id.desc())
    if status == "active":
        stmt = stmt.where(t.c.status != "resolved")
    elif status and status != "all":
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, active or all")
        stmt = stmt.where(t.c.status == status)
    if org:
        stmt = stmt.where(t.c.org == org)
    if detector:
        stmt = stmt.where(t.c.detector == detector)
    if limit:
        stmt = stmt.limit(limit)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def get_alert(engine: Engine, alert_id: int) -> dict[str, Any]:
    """One alert by id (AlertNotFound when absent)."""
    t = schema.alerts
    with engine.connect() as conn:
        row = conn.execute(select(t).where(t.c.id == alert_id)).mappings().first()
    if row is None:
        raise AlertNotFound(f"no alert with id {alert_id}")
    return dict(row)
