"""Idempotent writes: upserts on natural keys, and rollups recomputed for the hours a write touched.

Every writer in oauthwatch goes through :func:`upsert` (:mod:`oauthwatch.store.upsert`) so that
writing the same rows twice leaves the store as writing them once. Rollups are recomputed (not incremented) per touched hour, which
keeps them exact whatever was retried or re-read.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, func, insert, select

from oauthwatch.rules.times import utcnow as utcnow  # the store's one clock, imported from here by writers
from oauthwatch.store import schema
from oauthwatch.store.upsert import upsert

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def ensure_org(conn: Connection, name: str, **fields: Any) -> None:
    """Create the org row if missing; update the given fields (org id, instance URL…) if present."""
    now = utcnow()
    row = {"name": name, "created_at": now, "last_seen_at": now, **fields}
    upsert(conn, schema.orgs, [row], key=["name"], update=["last_seen_at", *fields.keys()])


def hour_floor(ts: datetime) -> datetime:
    """The start of the UTC hour ``ts`` falls in."""
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def refresh_login_rollup(conn: Connection, org: str, source: str, hours: Iterable[datetime]) -> None:
    """Recompute every login rollup of ``org`` over the given hours (and their days) from ``logins``.

    The one function every write path (collection, the Bulk backfill, ``import-csv``, Event Log
    Files) calls after writing logins: the hourly and daily rollups, and the detectors' hourly
    counts and sightings (:mod:`oauthwatch.store.rollups_detect`).

    Only the org's primary login source feeds the rollup (docs/architecture.md, decision 5), so a login seen in
    LoginHistory and again in an ELF file is counted once.
    """
    t = schema.logins
    r = schema.login_rollup_hourly
    hours = sorted({hour_floor(h) for h in hours})
    if not hours:
        return
    hour_expr = _hour_trunc(conn, t.c.login_time)
    dims = [
        func.coalesce(getattr(t.c, c), "").label(c)
        for c in ("application", "login_type", "login_subtype", "status", "country_iso")
    ]
    # One DELETE and one INSERT … SELECT per run of consecutive hours: the cells never travel
    # through Python (an import of a month refreshes 720 hours at once).
    for lo, hi_end in _runs(hours):
        conn.execute(delete(r).where(and_(r.c.org == org, r.c.hour >= lo, r.c.hour < hi_end)))
        sel = (
            select(
                t.c.org,
                hour_expr.label("hour"),
                *dims,
                t.c.success,
                func.count().label("events"),
                func.count(func.distinct(t.c.user_id)).label("users"),
            )
            .where(t.c.org == org, t.c.source == source, t.c.login_time >= lo, t.c.login_time < hi_end)
            .group_by(t.c.org, hour_expr, *(d.element for d in dims), t.c.success)
        )
        cols = ["org", "hour", *(d.name for d in dims), "success", "events", "users"]
        conn.execute(insert(r).from_select(cols, sel))
    # The daily rollups (distinct users, origins per IP) follow the same touched hours.
    from oauthwatch.store.rollups_daily import refresh_daily_rollups

    refresh_daily_rollups(conn, org, source, {h.date() for h in hours})
    # And what the detectors read instead of raw history (hourly per app, sightings per day).
    from oauthwatch.store.rollups_detect import refresh_detect_rollups

    refresh_detect_rollups(conn, org, source, hours)


def _runs(hours: list[datetime]) -> list[tuple[datetime, datetime]]:
    """Sorted hour starts as half-open ranges of consecutive hours."""
    out: list[tuple[datetime, datetime]] = []
    for h in hours:
        if out and out[-1][1] == h:
            out[-1] = (out[-1][0], h + timedelta(hours=1))
        else:
            out.append((h, h + timedelta(hours=1)))
    return out


def _hour_trunc(conn: Connection, col: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return func.date_trunc("hour", col)
    return func.strftime("%Y-%m-%d %H:00:00.000000", col)
