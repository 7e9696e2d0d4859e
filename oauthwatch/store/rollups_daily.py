"""Daily login rollups: distinct users and origins per day, recomputed exactly per touched day.

The hourly rollup counts events per cell, but "how many distinct users used this app this month"
or "which IPs failed most" cannot be summed from hourly cells. These two tables answer them for
the dashboard and the digest without reading raw ``logins``:

- ``login_rollup_daily``: the hourly cells summed per day, so month-long windows read few rows;
- ``login_user_daily``: one row per (org, day, user, app) with events, failures and last login;
- ``login_origin_first_seen``: the first day of each IP and country (for "new origins");
- ``login_ip_daily``: one row per (org, day, IP, app, country) with events, failures, distinct
  users and a representative location.

Like the hourly rollup they are recomputed (delete + ``INSERT … SELECT … GROUP BY``) for the days a
write touched, from the org's primary login source only, so they stay exact under retries.
:func:`oauthwatch.store.writes.refresh_login_rollup` calls :func:`refresh_daily_rollups`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Date as SADate
from sqlalchemy import and_, case, delete, func, insert, literal, select
from sqlalchemy.dialects import postgresql, sqlite

from oauthwatch.store import schema

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def refresh_daily_rollups(conn: Connection, org: str, source: str, days: Iterable[date]) -> None:
    """Recompute ``login_user_daily`` and ``login_ip_daily`` for ``org`` on the given UTC days."""
    days = sorted(set(days))
    for d in days:
        lo = datetime(d.year, d.month, d.day, tzinfo=UTC)
        hi = lo + timedelta(days=1)
        _refresh_cells(conn, org, d, lo, hi)
        _refresh_users(conn, org, source, d, lo, hi)
        _refresh_ips(conn, org, source, d, lo, hi)
    for start in range(0, len(days), 31):
        _note_first_seen(conn, org, days[start : start + 31])


def _note_first_seen(conn: Connection, org: str, days: list[date]) -> None:
    """Record the first of ``days`` each IP and country was seen on, unless an earlier day is known.

    One statement per kind for all the days (not one per day), and a row is written only when its
    first day moves earlier: PostgreSQL writes a new row version for every update, even one that
    changes nothing, and a month's import re-noted each address on each day it was seen.
    """
    p, f = schema.login_ip_daily, schema.login_origin_first_seen
    ins = postgresql.insert(f) if conn.dialect.name == "postgresql" else sqlite.insert(f)
    for kind, col in (("ip", p.c.source_ip), ("country", p.c.country_iso)):
        sel = (
            select(
                literal(org).label("org"),
                literal(kind).label("kind"),
                col.label("origin"),
                func.min(p.c.day).label("first_day"),
            )
            .where(p.c.org == org, p.c.day >= days[0], p.c.day <= days[-1], p.c.day.in_(days), col != "")
            .group_by(col)
        )
        stmt = ins.from_select(["org", "kind", "origin", "first_day"], sel)
        stmt = stmt.on_conflict_do_update(
            index_elements=["org", "kind", "origin"],
            set_={"first_day": stmt.excluded.first_day},
            where=stmt.excluded.first_day < f.c.first_day,
        )
        conn.execute(stmt)


def _refresh_cells(conn: Connection, org: str, d: date, lo: datetime, hi: datetime) -> None:
    """``login_rollup_daily`` for one day: the day's hourly cells summed (run after the hourly refresh)."""
    h, r = schema.login_rollup_hourly, schema.login_rollup_daily
    conn.execute(delete(r).where(and_(r.c.org == org, r.c.day == d)))
    dims = ["application", "login_type", "login_subtype", "success", "status", "country_iso"]
    sel = (
        select(
            literal(org).label("org"),
            literal(d, SADate).label("day"),
            *(h.c[c] for c in dims),
            func.sum(h.c.events).label("events"),
        )
        .where(h.c.org == org, h.c.hour >= lo, h.c.hour < hi)
        .group_by(*(h.c[c] for c in dims))
    )
    conn.execute(insert(r).from_select(["org", "day", *dims, "events"], sel))


def _refresh_users(conn: Connection, org: str, source: str, d: date, lo: datetime, hi: datetime) -> None:
    t, u = schema.logins, schema.login_user_daily
    conn.execute(delete(u).where(and_(u.c.org == org, u.c.day == d)))
    user = func.coalesce(t.c.user_id, "")
    app = func.coalesce(t.c.application, "")
    sel = (
        select(
            literal(org).label("org"),
            literal(d, SADate).label("day"),
            user.label("user_id"),
            app.label("application"),
            func.max(t.c.username).label("username"),
            func.count().label("events"),
            func.sum(case((t.c.success.is_(False), 1), else_=0)).label("failures"),
            func.max(t.c.login_time).label("last_login"),
        )
        .where(t.c.org == org, t.c.source == source, t.c.login_time >= lo, t.c.login_time < hi)
        .group_by(user, app)
    )
    conn.execute(
        insert(u).from_select(
            ["org", "day", "user_id", "application", "username", "events", "failures", "last_login"], sel
        )
    )


def _refresh_ips(conn: Connection, org: str, source: str, d: date, lo: datetime, hi: datetime) -> None:
    t, p = schema.logins, schema.login_ip_daily
    conn.execute(delete(p).where(and_(p.c.org == org, p.c.day == d)))
    ip = func.coalesce(t.c.source_ip, "")
    app = func.coalesce(t.c.application, "")
    iso = func.coalesce(t.c.country_iso, "")
    sel = (
        select(
            literal(org).label("org"),
            literal(d, SADate).label("day"),
            ip.label("source_ip"),
            app.label("application"),
            iso.label("country_iso"),
            func.max(t.c.country).label("country"),
            func.max(t.c.city).label("city"),
            func.avg(t.c.latitude).label("latitude"),
            func.avg(t.c.longitude).label("longitude"),
            func.count().label("events"),
            func.sum(case((t.c.success.is_(False), 1), else_=0)).label("failures"),
            func.count(func.distinct(t.c.user_id)).label("users"),
        )
        .where(t.c.org == org, t.c.source == source, t.c.login_time >= lo, t.c.login_time < hi)
        .group_by(ip, app, iso)
    )
    cols = [
        "org",
        "day",
        "source_ip",
        "application",
        "country_iso",
        "country",
        "city",
        "latitude",
        "longitude",
        "events",
        "failures",
        "users",
    ]
    conn.execute(insert(p).from_select(cols, sel))
