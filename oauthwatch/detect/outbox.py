"""The alert outbox: what detection tells notification, written with the alerts themselves.

Detection never sends anything and never imports :mod:`oauthwatch.notify`. When the alert
lifecycle opens, reopens or escalates an alert it also writes one ``alert_outbox`` row, in the
same transaction, so a change can neither be notified without being recorded nor recorded
without being notified. :func:`oauthwatch.notify.alert_delivery.drain_outbox` turns the rows into
deliveries per channel (applying the severity floor, suppression and the reopen cooldown) and
marks them drained; docs/detectors.md shows the flow.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import insert

from oauthwatch.store import schema

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from oauthwatch.detect.lifecycle import LifecycleResult

REASONS = ("new", "reopened", "escalated")


def outbox_rows(result: LifecycleResult) -> list[tuple[int, str]]:
    """``(alert id, reason)`` for every change of a run that may need a notification."""
    rows = [(i, "new") for i in result.opened] + [(i, "reopened") for i in result.reopened]
    rows += [(i, "escalated") for i in result.escalated if i not in result.opened]
    return rows


def write_outbox(conn: Connection, result: LifecycleResult, *, now: datetime) -> int:
    """Record the run's notifiable changes; returns how many rows were written."""
    rows = outbox_rows(result)
    if rows:
        conn.execute(
            insert(schema.alert_outbox),
            [{"alert_id": i, "reason": reason, "created_at": now} for i, reason in rows],
        )
    return len(rows)
