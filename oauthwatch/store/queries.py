"""Read-side queries the dashboard (and anyone who shows numbers) uses: rollups first, always bounded.

Every function takes an Engine and a :class:`Window` (orgs + a UTC time range) and returns a
pandas DataFrame or a small dict. Counts come from ``login_rollup_hourly`` / ``login_rollup_daily``
and the daily ``login_user_daily`` / ``login_ip_daily`` (distinct users, origins); only
:mod:`oauthwatch.store.queries_investigate` reads raw ``logins``, always inside a window on the
``(org, login_time)`` index. Times are UTC; convert to the viewer's zone at the edge.

Usage::

    w = Window.last(days=7, orgs=("prod",))
    kpis(engine, w)["events"]
    rollup(engine, w, dims=("application",))

:class:`Window` and the frame builder live in :mod:`oauthwatch.store.queries_base`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import String, func, select, type_coerce

from oauthwatch.rules.network import network_label
from oauthwatch.rules.times import as_utc as _utc
from oauthwatch.store import schema
from oauthwatch.store.queries_base import Window, _case_failed, _frame, _orgs, _with_rate

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

ROLLUP_DIMS = ("application", "login_type", "login_subtype", "status", "country_iso", "success")


def list_orgs(engine: Engine) -> list[str]:
    """Every org the store knows, by name."""
    with engine.connect() as conn:
        return list(conn.execute(select(schema.orgs.c.name).order_by(schema.orgs.c.name)).scalars())


def data_span(engine: Engine, orgs: tuple[str, ...] = ()) -> tuple[datetime, datetime] | None:
    """The first and last hour with logins (None: nothing collected yet)."""
    r = schema.login_rollup_hourly
    w = Window(datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC), orgs)
    with engine.connect() as conn:
        lo, hi = conn.execute(select(func.min(r.c.hour), func.max(r.c.hour)).where(_orgs(r.c.org, w))).one()
    if lo is None:
        return None
    return _utc(lo), _utc(hi)


DAILY_AFTER = timedelta(days=3)


def _split(w: Window) -> tuple[list[tuple[datetime, datetime]], tuple[date, date] | None]:
    """Hour ranges read from the hourly rollup and whole UTC days read from the daily one."""
    first_day = (w.start + timedelta(days=1) - timedelta(microseconds=1)).astimezone(UTC)
    d0 = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC)
    d1 = datetime(w.end.year, w.end.month, w.end.day, tzinfo=UTC)
    if w.end - w.start < timedelta(days=2) or d1 <= d0:
        return [(w.start, w.end)], None
    edges = [(a, b) for a, b in ((w.start, d0), (d1, w.end)) if a < b]
    return edges, (d0.date(), (d1 - timedelta(days=1)).date())


def has_logins(engine: Engine, orgs: tuple[str, ...] = ()) -> bool:
    """Whether any login was collected for these orgs (one index probe)."""
    r = schema.login_rollup_hourly
    w = Window(datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC), orgs)
    with engine.connect() as conn:
        return conn.execute(select(r.c.org).where(_orgs(r.c.org, w)).limit(1)).first() is not None


def rollup(
    engine: Engine,
    w: Window,
    dims: tuple[str, ...] = (),
    *,
    by_hour: bool = False,
    application: str | None = None,
) -> pd.DataFrame:
    """Events and failures grouped by ``dims`` (and by time bucket if ``by_hour``).

    Windows over two days read whole UTC days from ``login_rollup_daily`` and only the partial days
    at the edges from ``login_rollup_hourly``, so a 90-day page reads ~24x fewer rows. With
    ``by_hour`` the bucket (column ``hour``) is the hour, or the UTC day when the window is longer
    than three days; ``df.attrs["bucket"]`` says which.
    """
    unknown = set(dims) - set(ROLLUP_DIMS)
    if unknown:
        raise ValueError(f"unknown rollup dimension(s) {sorted(unknown)}")
    daily_buckets = by_hour and (w.end - w.start) > DAILY_AFTER
    edges, days = _split(w)
    parts = [_rollup_part(engine, w, dims, by_hour, application, h=(lo, hi)) for lo, hi in edges]
    if days:
        parts.append(_rollup_part(engine, w, dims, by_hour, application, days=days))
    cols = [*(["hour"] if by_hour else []), *dims, "events", "failures"]
    df = (
        pd.concat([p for p in parts if not p.empty], ignore_index=True)
        if any(not p.empty for p in parts)
        else pd.DataFrame(columns=cols)
    )
    if by_hour and len(df):
        df["hour"] = pd.to_datetime(df["hour"], utc=True, format="ISO8601")
        if daily_buckets:
            df["hour"] = df["hour"].dt.floor("D")
    keys = [*(["hour"] if by_hour else []), *dims]
    if len(parts) > 1 or daily_buckets:
        df = (
            df.groupby(keys, as_index=False, dropna=False)[["events", "failures"]].sum()
            if keys
            else df[["events", "failures"]].sum().to_frame().T
        )
    df = df.reindex(columns=cols)
    df["events"] = df["events"].fillna(0).astype("int64")
    df["failures"] = df["failures"].fillna(0).astype("int64")
    if by_hour:
        df["hour"] = pd.to_datetime(df["hour"], utc=True)
    df.attrs["bucket"] = "day" if daily_buckets else "hour"
    return df


def _rollup_part(
    engine: Engine,
    w: Window,
    dims: tuple[str, ...],
    by_hour: bool,
    application: str | None,
    *,
    h: tuple[datetime, datetime] | None = None,
    days: tuple[date, date] | None = None,
) -> pd.DataFrame:
    if days is not None:
        r = schema.login_rollup_daily
        bucket, cond = r.c.day, [r.c.day >= days[0], r.c.day <= days[1]]
    else:
        assert h is not None
        r = schema.login_rollup_hourly
        bucket, cond = r.c.hour, [r.c.hour >= h[0], r.c.hour < h[1]]
    keys = ([type_coerce(bucket, String).label("hour")] if by_hour else []) + [r.c[d] for d in dims]
    fails = func.sum(_case_failed(r.c.success, r.c.events))
    stmt = select(*keys, func.sum(r.c.events).label("events"), fails.label("failures")).where(
        _orgs(r.c.org, w), *cond
    )
    if keys:
        stmt = stmt.group_by(*keys)
    if application is not None:
        stmt = stmt.where(r.c.application == application)
    df = _frame(engine, stmt)
    return df if df["events"].notna().any() else df.iloc[0:0]


def distinct_users(engine: Engine, w: Window, *, application: str | None = None) -> int:
    """Distinct users who logged in on the UTC days the window touches (from the daily rollup)."""
    u = schema.login_user_daily
    d0, d1 = w.days
    stmt = select(func.count(func.distinct(u.c.user_id))).where(
        _orgs(u.c.org, w), u.c.day >= d0, u.c.day <= d1, u.c.user_id != ""
    )
    if application is not None:
        stmt = stmt.where(u.c.application == application)
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar() or 0)


def kpis(engine: Engine, w: Window) -> dict[str, float]:
    """Headline numbers for a window: events, failures, failure rate, apps, users, countries, alerts."""
    a = schema.alerts
    edges, days = _split(w)
    events = failures = 0
    apps: set[str] = set()
    countries: set[str] = set()
    parts: list[tuple[Any, list[Any]]] = []
    for lo, hi in edges:
        r = schema.login_rollup_hourly
        parts.append((r, [r.c.hour >= lo, r.c.hour < hi]))
    if days:
        r = schema.login_rollup_daily
        parts.append((r, [r.c.day >= days[0], r.c.day <= days[1]]))
    with engine.connect() as conn:
        for r, cond in parts:
            where = [_orgs(r.c.org, w), *cond]
            ev, fl = conn.execute(
                select(
                    func.coalesce(func.sum(r.c.events), 0),
                    func.coalesce(func.sum(_case_failed(r.c.success, r.c.events)), 0),
                ).where(*where)
            ).one()
            events, failures = events + int(ev), failures + int(fl)
            apps |= set(
                conn.execute(
                    select(r.c.application).where(*where, r.c.application != "").distinct()
                ).scalars()
            )
            countries |= set(
                conn.execute(
                    select(r.c.country_iso).where(*where, r.c.country_iso != "").distinct()
                ).scalars()
            )
        new_alerts = conn.execute(
            select(func.count()).where(_orgs(a.c.org, w), a.c.first_seen >= w.start, a.c.first_seen < w.end)
        ).scalar()
    return {
        "events": events,
        "failures": failures,
        "failure_rate": failures / events if events else 0.0,
        "apps": len(apps),
        "countries": len(countries),
        "users": distinct_users(engine, w),
        "new_alerts": int(new_alerts or 0),
    }


def open_alert_count(engine: Engine, orgs: tuple[str, ...] = ()) -> int:
    """Alerts open right now (acknowledged ones are not counted)."""
    a = schema.alerts
    w = Window(datetime.now(UTC), datetime.now(UTC), orgs)
    with engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).where(_orgs(a.c.org, w), a.c.status == "open")).scalar() or 0
        )


def users_by(engine: Engine, w: Window, *, application: str | None = None) -> pd.DataFrame:
    """Per user: events, failures, last login, over the window's days (daily rollup)."""
    u = schema.login_user_daily
    d0, d1 = w.days
    stmt = (
        select(
            u.c.user_id,
            func.max(u.c.username).label("username"),
            func.sum(u.c.events).label("events"),
            func.sum(u.c.failures).label("failures"),
            func.max(u.c.last_login).label("last_login"),
        )
        .where(_orgs(u.c.org, w), u.c.day >= d0, u.c.day <= d1)
        .group_by(u.c.user_id)
        .order_by(func.sum(u.c.events).desc())
    )
    if application is not None:
        stmt = stmt.where(u.c.application == application)
    df = _frame(engine, stmt)
    return _with_rate(df)


def apps_by_user_count(engine: Engine, w: Window, *, application: str | None = None) -> pd.DataFrame:
    """Distinct users and the newest login per app over the window's days."""
    u = schema.login_user_daily
    d0, d1 = w.days
    stmt = (
        select(
            u.c.application,
            func.count(func.distinct(func.nullif(u.c.user_id, ""))).label("users"),
            func.max(u.c.last_login).label("last_login"),
        )
        .where(_orgs(u.c.org, w), u.c.day >= d0, u.c.day <= d1)
        .group_by(u.c.application)
    )
    if application is not None:
        stmt = stmt.where(u.c.application == application)
    return _frame(engine, stmt)


def ips_by(engine: Engine, w: Window, *, application: str | None = None) -> pd.DataFrame:
    """Per IP: country, city, location, events, failures, users (summed per day), network (/24, /48)."""
    p = schema.login_ip_daily
    d0, d1 = w.days
    stmt = (
        select(
            p.c.source_ip,
            func.max(p.c.country_iso).label("country_iso"),
            func.max(p.c.country).label("country"),
            func.max(p.c.city).label("city"),
            func.avg(p.c.latitude).label("latitude"),
            func.avg(p.c.longitude).label("longitude"),
            func.sum(p.c.events).label("events"),
            func.sum(p.c.failures).label("failures"),
            func.min(p.c.day).label("first_day"),
        )
        .where(_orgs(p.c.org, w), p.c.day >= d0, p.c.day <= d1)
        .group_by(p.c.source_ip)
        .order_by(func.sum(p.c.events).desc())
    )
    if application is not None:
        stmt = stmt.where(p.c.application == application)
    df = _with_rate(_frame(engine, stmt))
    df["network"] = [network_label(ip) for ip in df["source_ip"]]
    return df


def networks_by(ips: pd.DataFrame) -> pd.DataFrame:
    """Per network, from :func:`ips_by`'s frame: events, failures, IPs, countries."""
    if ips.empty:
        return pd.DataFrame(columns=["network", "events", "failures", "ips", "countries", "failure_rate"])
    g = ips.groupby("network", as_index=False).agg(
        events=("events", "sum"),
        failures=("failures", "sum"),
        ips=("source_ip", "nunique"),
        countries=("country_iso", lambda s: ", ".join(sorted({x for x in s if x}))),
    )
    return _with_rate(g).sort_values("events", ascending=False)


def new_origins(engine: Engine, w: Window) -> pd.DataFrame:
    """IPs and countries whose first login day ever falls inside the window, with their events in it.

    Reads ``login_origin_first_seen`` (kept at write time) and then only the new origins' daily
    rows (by index), so it never scans history or every origin of the window.
    """
    f, p = schema.login_origin_first_seen, schema.login_ip_daily
    d0, d1 = w.days
    cols = ["kind", "org", "origin", "first_day", "events"]
    new = _frame(
        engine,
        select(f.c.kind, f.c.org, f.c.origin, f.c.first_day)
        .where(_orgs(f.c.org, w), f.c.first_day >= d0, f.c.first_day <= d1)
        .order_by(f.c.first_day, f.c.kind, f.c.origin),
    )
    if new.empty:
        return pd.DataFrame(columns=cols)
    counts: dict[tuple[str, str, str], int] = {}
    with engine.connect() as conn:
        for kind, name in (("country", "country_iso"), ("ip", "source_ip")):
            values = [str(v) for v in new.loc[new["kind"] == kind, "origin"]]
            for start in range(0, len(values), 5000):
                stmt = (
                    select(p.c.org, p.c[name], func.sum(p.c.events))
                    .where(
                        _orgs(p.c.org, w),
                        p.c[name].in_(values[start : start + 5000]),
                        p.c.day >= d0,
                        p.c.day <= d1,
                    )
                    .group_by(p.c.org, p.c[name])
                )
                counts |= {(kind, o, v): int(n) for o, v, n in conn.execute(stmt).all()}
    new["events"] = [
        counts.get((k, o, v), 0) for k, o, v in zip(new["kind"], new["org"], new["origin"], strict=True)
    ]
    return new[cols]


def audit_events(engine: Engine, w: Window, *, mentioning: str | None = None) -> pd.DataFrame:
    """Setup Audit Trail rows in the window (optionally only those whose text names ``mentioning``)."""
    a = schema.audit_events
    stmt = (
        select(a.c.org, a.c.created_date, a.c.action, a.c.section, a.c.display, a.c.created_by)
        .where(_orgs(a.c.org, w), a.c.created_date >= w.start, a.c.created_date < w.end)
        .order_by(a.c.created_date.desc())
        .limit(1000)
    )
    if mentioning:
        stmt = stmt.where(a.c.display.contains(mentioning, autoescape=True))
    df = _frame(engine, stmt)
    if not df.empty:
        df["created_date"] = pd.to_datetime(df["created_date"], utc=True)
    return df
