"""Rows and bytes an app exported, from the licensed event types (``api_data_events``).

Where the org has Event Monitoring, Salesforce logs how much each request moved
(docs/salesforce-behaviour.md §8): per Bulk API 2.0 job step the records processed and the result
size (``BulkApi2``; classic ``BulkApi`` per batch), per REST request the rows processed and the
response size (``RestApi``; SOAP: ``API``). An app's share:

- REST and SOAP events name the app (``CONNECTED_APP_ID``);
- Bulk events name only the job: a job is the app's when its ApiTotalUsage calls named it or
  created it (:func:`oauthwatch.movement.bulk_jobs.app_jobs`). A job's figure is its largest step
  (the complete step carries the total), so a job counts once however many steps it logged, and a
  job deleted before any listing saw it still counts.

Without the licence there are no such rows and :func:`app_exports` says so (``None``), so a page
never shows "0 rows exported" for an org that cannot know.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select

from oauthwatch.store import schema

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

BULK_TYPES = ("BulkApi2", "BulkApi")
SOURCE = "Event Log Files ({})"


@dataclass
class Exports:
    """What an app exported over a span by the licensed event types, per user, and which types said so."""

    rows: int = 0
    bytes: int = 0
    by_user: list[dict[str, Any]] = field(default_factory=list)
    by_type: dict[str, int] = field(default_factory=dict)  # rows per event type
    event_types: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        """Where these figures come from, for a page or the digest to name."""
        return SOURCE.format(", ".join(self.event_types))


def app_exports(
    conn: Connection,
    org: str,
    app_ids: Collection[str],
    job_ids: Collection[str],
    start: datetime,
    end: datetime,
) -> Exports | None:
    """The rows and bytes of ``org``'s data events in ``[start, end)`` that belong to the app (its
    15-character ids ``app_ids``; its Bulk jobs ``job_ids``), per user; None when the org stored no
    such event at all (no licence, or never collected)."""
    t = schema.api_data_events
    if conn.execute(select(t.c.event_id).where(t.c.org == org).limit(1)).first() is None:
        return None
    terms: list[Any] = [func.substr(t.c.connected_app_id, 1, 15).in_(sorted(app_ids))] if app_ids else []
    if job_ids:
        terms.append(t.c.event_type.in_(BULK_TYPES) & func.substr(t.c.job_id, 1, 15).in_(sorted(job_ids)))
    if not terms:
        return Exports()
    rows = conn.execute(
        select(t.c.event_type, t.c.user_id, t.c.job_id, t.c.event_id, t.c.rows, t.c.bytes).where(
            t.c.org == org, t.c.event_time >= start, t.c.event_time < end, or_(*terms)
        )
    ).all()
    return _sum(rows)


def _sum(events: Iterable[Any]) -> Exports:
    """Per user: a Bulk job's largest step, every other event once."""
    per: dict[tuple[str, str], tuple[str, int, int]] = {}  # (type, job or event) -> (user, rows, bytes)
    for e in events:
        key = (
            (e.event_type, e.job_id[:15])
            if e.event_type in BULK_TYPES and e.job_id
            else (e.event_type, e.event_id)
        )
        user, r, b = per.get(key, (e.user_id, 0, 0))
        per[key] = (user or e.user_id, max(r, int(e.rows or 0)), max(b, int(e.bytes or 0)))
    users: dict[str, list[int]] = {}
    out = Exports(event_types=tuple(sorted({k for k, _ in per})))
    for (kind, _id), (user, r, b) in per.items():
        tot = users.setdefault(user, [0, 0])
        tot[0] += r
        tot[1] += b
        out.by_type[kind] = out.by_type.get(kind, 0) + r
    out.by_user = sorted(
        ({"user_id": u, "rows": r, "bytes": b} for u, (r, b) in users.items()),
        key=lambda d: (-d["rows"], d["user_id"]),
    )
    out.rows = sum(d["rows"] for d in out.by_user)
    out.bytes = sum(d["bytes"] for d in out.by_user)
    return out
