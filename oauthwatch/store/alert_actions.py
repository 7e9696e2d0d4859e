"""What a person does to an alert from the dashboard: acknowledge, resolve, suppress.

Each action is one UPDATE that records who did it and when (``status_by``, ``status_at``), so the
Alerts page and the digest can say "acknowledged by … at …". Suppression keeps the alert's status
but silences it until ``suppressed_until``; the detectors' lifecycle skips notifying it until then.

Usage::

    acknowledge(engine, alert_id, by="admin@example.com")
    suppress(engine, alert_id, until=utcnow() + timedelta(days=7), by="admin@example.com")
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import update

from oauthwatch.store import schema
from oauthwatch.store.writes import utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


class AlertNotFound(LookupError):
    """No alert has that id."""


def _set(engine: Engine, alert_id: int, **values: object) -> None:
    a = schema.alerts
    with engine.begin() as conn:
        n = conn.execute(update(a).where(a.c.id == alert_id).values(**values)).rowcount
    if not n:
        raise AlertNotFound(f"alert {alert_id} does not exist (it may have been deleted); reload the page")


def acknowledge(engine: Engine, alert_id: int, *, by: str | None = None) -> None:
    """Mark an alert as seen and being handled; it stays visible and may still escalate."""
    _set(engine, alert_id, status="acknowledged", status_by=by, status_at=utcnow())


def resolve(engine: Engine, alert_id: int, *, by: str | None = None) -> None:
    """Close an alert by hand (a new occurrence later reopens it through the detectors)."""
    _set(engine, alert_id, status="resolved", status_by=by, status_at=utcnow(), auto_resolved=False)


def reopen(engine: Engine, alert_id: int, *, by: str | None = None) -> None:
    """Put a resolved or acknowledged alert back to open."""
    _set(engine, alert_id, status="open", status_by=by, status_at=utcnow(), suppressed_until=None)


def suppress(engine: Engine, alert_id: int, *, until: datetime, by: str | None = None) -> None:
    """Silence an alert (no notification, hidden from "open") until ``until`` (tz-aware)."""
    if until.tzinfo is None:
        raise ValueError("until must be tz-aware (UTC)")
    _set(engine, alert_id, suppressed_until=until, status_by=by, status_at=utcnow())
