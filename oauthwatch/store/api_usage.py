"""ApiTotalUsage: each call stored once by its REQUEST_ID, hourly cells recomputed from the calls.

A call can reach the store by several paths: the collector's EventLogFile download, an
``import-csv`` of the same file (or of a copy that differs by a byte), a daily file that
supersedes an earlier one, a retransmitted file (docs/import.md).
Keying calls by what identifies them, not by the file that carried them, counts each call once
whatever the path; ``api_usage_hourly`` is then a rollup recomputed (not incremented) for the
hours a write touched, like the login rollups, so it stays exact under retries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, func, insert, select

from oauthwatch.rules.times import as_utc as _as_utc
from oauthwatch.store import schema
from oauthwatch.store.inserts import insert_new, split_new
from oauthwatch.store.writes import _hour_trunc, hour_floor

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

API_DIMS = ("connected_app_id", "connected_app_name", "client_name", "api_family", "status_code", "user_id")


def store_api_events(conn: Connection, org: str, events: Sequence[dict[str, Any]]) -> tuple[int, int]:
    """Store ApiTotalUsage calls not stored yet; returns (new, already there).

    ``events`` are ``api_usage_events`` rows; a call repeated inside ``events`` counts once (its
    repeats as "already there").
    """
    if not events:
        return 0, 0
    t = schema.api_usage_events
    fresh, already = split_new(conn, t, "request_id", [t.c.org == org], events)
    insert_new(conn, t, fresh, ["org", "request_id"])
    return len(fresh), already


def refresh_api_usage(conn: Connection, org: str, hours: Iterable[datetime]) -> None:
    """Recompute ``api_usage_hourly`` for ``org`` over the given hours from ``api_usage_events``."""
    e, h = schema.api_usage_events, schema.api_usage_hourly
    todo = sorted({hour_floor(x) for x in hours})
    for start in range(0, len(todo), 200):
        batch = todo[start : start + 200]
        lo, hi_end = batch[0], batch[-1] + timedelta(hours=1)
        conn.execute(
            delete(h).where(and_(h.c.org == org, h.c.hour >= lo, h.c.hour < hi_end, h.c.hour.in_(batch)))
        )
        hour_expr = _hour_trunc(conn, e.c.event_time)
        dims = [e.c[d] for d in API_DIMS]
        sel = (
            select(e.c.org, hour_expr.label("hour"), *dims, func.count().label("requests"))
            .where(e.c.org == org, e.c.event_time >= lo, e.c.event_time < hi_end)
            .group_by(e.c.org, hour_expr, *dims)
        )
        keep = set(batch)
        rows = []
        for m in conn.execute(sel).mappings():
            row = dict(m)
            row["hour"] = _as_utc(row["hour"])
            if row["hour"] in keep:
                rows.append(row)
        if rows:
            conn.execute(insert(h), rows)
