"""The rollups detectors read: hourly counts per app and status, and per-day sightings of values.

A detection cycle judges the last window against weeks of history. Reading that history as raw
logins makes every cycle cost the size of the store; these two tables make it cost the windows
being judged (docs/architecture.md, "Detection data"):

- ``login_app_hourly``: events per (hour, app, success, status), the series the volume and
  failure models judge (the hourly rollup summed over its other dimensions);
- ``login_seen_daily``: per (kind, group, value, UTC day, success) the first and last sighting
  and the count, e.g. network ``192.0.2.0/24`` for app ``Billing Sync`` on 2026-03-02. Whether a
  value was seen for a group between two instants on different days is exact from these rows
  (only the edge days can hold sightings outside the span, and their first and last sightings
  say whether they do), and the first sighting ever is the smallest ``first_at``.

Both are recomputed (delete, then insert) for the hours and days a write touched, from the org's
primary login source only, like the other rollups: writing the same events twice leaves them as
writing them once. :func:`oauthwatch.store.writes.refresh_login_rollup` calls
:func:`refresh_detect_rollups`; every write path goes through it. :func:`seen_cells` is the one
definition of the sightings, used on stored rows and on in-memory logins alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import and_, delete, func, insert, select

from oauthwatch.rules.network import network_label
from oauthwatch.store import schema

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# kind -> (group column, value column); "" groups the whole org.
KINDS: dict[str, tuple[str, str]] = {
    "app": ("", "application"),
    "app_user": ("application", "user_id"),
    "app_country": ("application", "country_iso"),
    "app_network": ("application", "network"),
    "app_ip": ("application", "source_ip"),
    "app_flow": ("application", "login_subtype"),
    "app_type": ("application", "login_type"),
    "app_agent": ("application", "browser"),
    "user_country": ("user_id", "country_iso"),
}
DIMS = ("application", "user_id", "country_iso", "source_ip", "login_subtype", "login_type", "browser")
SEEN_COLUMNS = ["kind", "grp", "value", "day", "success", "first_at", "last_at", "events"]


def seen_cells(cells: pd.DataFrame, kinds: Iterable[str] = KINDS) -> pd.DataFrame:
    """Sightings rows (``SEEN_COLUMNS``) from cells of logins.

    ``cells`` has the ``DIMS`` columns, ``success``, ``day``, ``first_at``, ``last_at`` and
    ``events``: either one row per login (first = last = its time, events = 1) or logins already
    grouped by those columns. Missing values count as "".
    """
    if cells.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in SEEN_COLUMNS})
    cells = cells.assign(**{c: cells[c].astype(object).where(cells[c].notna(), "").astype(str) for c in DIMS})
    ips = cells["source_ip"].unique()
    nets = {ip: network_label(ip) if ip else "" for ip in ips}
    cells = cells.assign(network=cells["source_ip"].map(nets), success=cells["success"].astype(bool))
    parts = []
    for kind in kinds:
        grp, value = KINDS[kind]
        keys = [c for c in (grp, value) if c] + ["day", "success"]
        g = cells.groupby(keys, sort=False).agg(
            first_at=("first_at", "min"), last_at=("last_at", "max"), events=("events", "sum")
        )
        g = g.reset_index().rename(columns={value: "value"})
        g["grp"] = g[grp] if grp else ""
        g["kind"] = kind
        parts.append(g[SEEN_COLUMNS])
    return pd.concat(parts, ignore_index=True)


def refresh_detect_rollups(conn: Connection, org: str, source: str, hours: Iterable[datetime]) -> None:
    """Recompute both tables for ``org`` over the touched ``hours`` (and their UTC days)."""
    hours = sorted(set(hours))
    if not hours:
        return
    _refresh_app_hourly(conn, org, hours)
    for d in sorted({h.date() for h in hours}):
        refresh_seen_day(conn, org, source, d)


def _refresh_app_hourly(conn: Connection, org: str, hours: list[datetime]) -> None:
    """``login_app_hourly`` for ``hours``: the hourly rollup's cells summed (run after its refresh)."""
    h, a = schema.login_rollup_hourly, schema.login_app_hourly
    for start in range(0, len(hours), 200):
        batch = hours[start : start + 200]
        lo, hi = batch[0], batch[-1] + timedelta(hours=1)
        conn.execute(
            delete(a).where(and_(a.c.org == org, a.c.hour >= lo, a.c.hour < hi, a.c.hour.in_(batch)))
        )
        dims = (h.c.org, h.c.hour, h.c.application, h.c.success, h.c.status)
        sel = (
            select(*dims, func.sum(h.c.events))
            .where(h.c.org == org, h.c.hour >= lo, h.c.hour < hi, h.c.hour.in_(batch))
            .group_by(*dims)
        )
        conn.execute(
            insert(a).from_select(["org", "hour", "application", "success", "status", "events"], sel)
        )


def refresh_seen_day(conn: Connection, org: str, source: str, d: date) -> None:
    """``login_seen_daily`` for one UTC day, from that day's logins of ``source``."""
    t, s = schema.logins, schema.login_seen_daily
    lo = datetime(d.year, d.month, d.day, tzinfo=UTC)
    conn.execute(delete(s).where(and_(s.c.org == org, s.c.day == d)))
    dims = [func.coalesce(t.c[c], "").label(c) for c in DIMS]
    sel = (
        select(
            *dims,
            t.c.success,
            func.min(t.c.login_time).label("first_at"),
            func.max(t.c.login_time).label("last_at"),
            func.count().label("events"),
        )
        .where(
            t.c.org == org,
            t.c.source == source,
            t.c.login_time >= lo,
            t.c.login_time < lo + timedelta(days=1),
        )
        .group_by(*(x.element for x in dims), t.c.success)
    )
    result = conn.execute(sel)
    keys = list(result.keys())
    rows = result.fetchall()
    if not rows:
        return
    cells = pd.DataFrame(rows, columns=keys).assign(day=d)
    seen = seen_cells(cells)
    seen["org"] = org
    records: list[dict[str, Any]] = [
        {
            **{str(k): v for k, v in r.items()},
            "first_at": _utc(r["first_at"]),
            "last_at": _utc(r["last_at"]),
            "events": int(r["events"]),
            "success": bool(r["success"]),
        }
        for r in seen.to_dict("records")
    ]
    for i in range(0, len(records), 5000):
        conn.execute(insert(s), records[i : i + 5000])


def _utc(v: object) -> datetime:
    ts = pd.Timestamp(v)  # type: ignore[arg-type]
    return (ts.tz_localize(UTC) if ts.tzinfo is None else ts.tz_convert(UTC)).to_pydatetime()
