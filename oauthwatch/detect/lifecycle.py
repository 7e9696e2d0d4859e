"""The alert lifecycle in the store: findings become alerts, alerts move open → acknowledged → resolved.

One alert per incident. A finding whose key has an open or acknowledged alert (its own, or the
one it was linked to) updates it (last seen, count, evidence; severity only rises, and a rise is
an escalation that is notified again). A finding never seen before joins an open alert of the
same incident (same subject, network or user, overlapping events: :mod:`oauthwatch.detect.incidents`)
or opens a new one; every finding is kept as linked evidence (``alert_findings``).
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
from oauthwatch.detect.incidents import Incident, correlation_keys, find_incident
from oauthwatch.detect.outbox import write_outbox
from oauthwatch.store import schema
from oauthwatch.store.writes import utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine, RowMapping

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
    correlate: bool = True,
) -> LifecycleResult:
    """Record one run's findings for ``org``; ``clears_after`` names the detectors that ran.

    A finding already linked to an alert (its dedupe key) updates that alert; a new one joins
    an open alert of the same incident (:mod:`oauthwatch.detect.incidents`) or opens its own
    (always its own with ``correlate=False``: one alert per indicator for IOC lists).
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
    open_incidents = _open_incidents(conn, org) if correlate else []
    touched: set[int] = set()
    for key, f in best.items():
        row = _alert_of(conn, key[:255])
        keys = correlation_keys(f.subject_type, f.subject, f.evidence)
        if row is None:
            inc = find_incident(open_incidents, keys, f.event_start, f.event_end)
            if inc is None:
                values = _values(f) | {
                    "dedupe_key": key[:255],
                    "severity": f.severity,
                    "event_start": f.event_start,
                    "first_seen": now,
                    "last_seen": now,
                    "count": 1,
                    "status": "open",
                }
                inserted = conn.execute(insert(t).values(**values)).inserted_primary_key
                assert inserted is not None  # a single-row INSERT always reports the key it made
                alert_id = int(inserted[0])
                result.opened.append(alert_id)
                if correlate:
                    open_incidents.append(
                        Incident(
                            alert_id, f.detector, set(keys), f.event_start, f.event_end, now, {f.detector}
                        )
                    )
            else:
                alert_id = inc.ref
                inc.absorb(keys, f.event_start, f.event_end, f.detector)
                _grow(conn, alert_id, f, now, result)
            _link(conn, alert_id, key, f, now)
            touched.add(alert_id)
            continue
        alert_id = int(row["id"])
        touched.add(alert_id)
        _link(conn, alert_id, key, f, now)
        own = row["dedupe_key"] == key[:255]
        values = (_values(f) if own else {}) | {"last_seen": now, "count": row["count"] + 1}
        if own and isinstance(row["evidence"], dict) and "also_seen_by" in row["evidence"]:
            values["evidence"] = values["evidence"] | {"also_seen_by": row["evidence"]["also_seen_by"]}
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
                "event_start": f.event_start if own else row["event_start"],
                "notified_severity": None,
            }
            result.reopened.append(alert_id)
        else:
            if severity_rank(f.severity) > severity_rank(row["severity"]):
                values["severity"] = f.severity
                result.escalated.append(alert_id)
            result.updated.append(alert_id)
        conn.execute(update(t).where(t.c.id == alert_id).values(**values))
    if clears_after:
        stale = conn.execute(
            select(t.c.id, t.c.detector, t.c.last_seen).where(
                t.c.org == org, t.c.status != "resolved", t.c.detector.in_(list(clears_after))
            )
        ).all()
        for alert_id, detector, last_seen in stale:
            if alert_id in touched or now - last_seen < clears_after[detector]:
                continue
            conn.execute(
                update(t)
                .where(t.c.id == alert_id)
                .values(status="resolved", status_by=SYSTEM, status_at=now, auto_resolved=True)
            )
            result.resolved.append(int(alert_id))
    write_outbox(conn, result, now=now)
    return result


def _alert_of(conn: Connection, key: str) -> RowMapping | None:
    """The alert a dedupe key belongs to: its own, or the one its finding was linked to."""
    t, af = schema.alerts, schema.alert_findings
    row = conn.execute(select(t).where(t.c.dedupe_key == key)).mappings().first()
    if row is None:
        row = (
            conn.execute(select(t).join(af, af.c.alert_id == t.c.id).where(af.c.dedupe_key == key))
            .mappings()
            .first()
        )
    return row


def _open_incidents(conn: Connection, org: str) -> list[Incident]:
    """The org's open and acknowledged alerts with event times, as incidents to link findings to."""
    t, af = schema.alerts, schema.alert_findings
    alerts = conn.execute(
        select(
            t.c.id,
            t.c.detector,
            t.c.subject_type,
            t.c.subject,
            t.c.evidence,
            t.c.event_start,
            t.c.event_end,
            t.c.last_seen,
        ).where(t.c.org == org, t.c.status != "resolved", t.c.event_start.is_not(None))
    ).all()
    incidents = {
        a.id: Incident(
            int(a.id),
            a.detector,
            set(correlation_keys(a.subject_type, a.subject, a.evidence or {})),
            a.event_start,
            a.event_end or a.event_start,
            a.last_seen,
            {a.detector},
        )
        for a in alerts
    }
    if incidents:
        linked = conn.execute(
            select(af.c.alert_id, af.c.detector, af.c.subject_type, af.c.subject, af.c.evidence).where(
                af.c.alert_id.in_(list(incidents))
            )
        ).all()
        for alert_id, detector, subject_type, subject, evidence in linked:
            inc = incidents[alert_id]
            inc.keys.update(correlation_keys(subject_type, subject, evidence or {}))
            inc.detectors.add(detector)
    return list(incidents.values())


def _grow(conn: Connection, alert_id: int, f: Finding, now: datetime, result: LifecycleResult) -> None:
    """An open alert takes in a finding of the same incident: its events, severity and detector."""
    t = schema.alerts
    row = conn.execute(select(t).where(t.c.id == alert_id)).mappings().one()
    evidence = dict(row["evidence"] or {})
    seen_by = {d for d in str(evidence.get("also_seen_by", "")).split(", ") if d}
    if f.detector != row["detector"]:
        seen_by.add(f.detector)
    if seen_by:
        evidence["also_seen_by"] = ", ".join(sorted(seen_by))
    values: dict[str, Any] = {"last_seen": now, "count": row["count"] + 1, "evidence": evidence}
    if f.event_start is not None and (row["event_start"] is None or f.event_start < row["event_start"]):
        values["event_start"] = f.event_start
    if f.event_end is not None and (row["event_end"] is None or f.event_end > row["event_end"]):
        values["event_end"] = f.event_end
    if severity_rank(f.severity) > severity_rank(row["severity"]):
        values["severity"] = f.severity
        result.escalated.append(alert_id)
    if alert_id not in result.opened and alert_id not in result.updated:
        result.updated.append(alert_id)
    conn.execute(update(t).where(t.c.id == alert_id).values(**values))


def _link(conn: Connection, alert_id: int, key: str, f: Finding, now: datetime) -> None:
    """Record (or refresh) the finding as evidence of the alert."""
    af = schema.alert_findings
    values = {
        "alert_id": alert_id,
        "detector": f.detector,
        "severity": f.severity,
        "subject_type": f.subject_type,
        "subject": f.subject[:255],
        "title": f.title[:255],
        "explanation": f.explanation,
        "evidence": _jsonable(f.evidence),
        "event_start": f.event_start,
        "event_end": f.event_end,
        "last_seen": now,
    }
    done = conn.execute(
        update(af).where(af.c.dedupe_key == key[:255]).values(**values, count=af.c.count + 1)
    ).rowcount
    if not done:
        conn.execute(insert(af).values(**values, dedupe_key=key[:255], first_seen=now, count=1))


def linked_findings(engine: Engine, alert_id: int) -> list[dict[str, Any]]:
    """Every finding an alert stands for, oldest event first (the dashboard's evidence list)."""
    af = schema.alert_findings
    with engine.connect() as conn:
        rows = conn.execute(
            select(af).where(af.c.alert_id == alert_id).order_by(af.c.event_start, af.c.id)
        ).mappings()
        return [dict(r) for r in rows]


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
