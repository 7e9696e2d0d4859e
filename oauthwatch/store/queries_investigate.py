"""Investigate's queries: the only readers of raw ``logins``, always bounded by a window.

Each read goes through the ``(org, login_time)`` index (or ``(org, app|ip|user, login_time)`` with
a filter) and stops at a row limit; :func:`investigate` reads the window once and groups it in
memory, falling back to exact SQL grouping when the window holds more rows than the limit.

Usage::

    found = investigate(engine, Window(start, end, ("prod",)), {"source_ip": "198.51.100.7"}, minute=True)
    found["timeline"], found["breakdowns"]["username"], found["raw"]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import and_, func, select

from oauthwatch.rules.network import network_label
from oauthwatch.store import schema
from oauthwatch.store.queries_base import Window, _case_failed, _frame, _orgs, _with_rate

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

RAW_DIMS = ("application", "user_id", "username", "source_ip", "country_iso", "login_subtype", "status")
RAW_LIMIT = 50_000


def _raw_where(w: Window, filters: dict[str, str] | None, source: str | None) -> list[Any]:
    t = schema.logins
    cond: list[Any] = [_orgs(t.c.org, w), t.c.login_time >= w.start, t.c.login_time < w.end]
    if source:
        cond.append(t.c.source == source)
    for key, value in (filters or {}).items():
        if key not in RAW_DIMS:
            raise ValueError(f"cannot filter raw logins on {key!r}")
        cond.append(t.c[key] == value)
    return cond


def raw_logins(
    engine: Engine,
    w: Window,
    filters: dict[str, str] | None = None,
    *,
    source: str | None = "login_history",
    limit: int = RAW_LIMIT,
) -> pd.DataFrame:
    """The raw login rows in the window (newest first, at most ``limit``) with optional equality filters."""
    t = schema.logins
    cols = [
        t.c.org,
        t.c.login_time,
        t.c.username,
        t.c.user_id,
        t.c.application,
        t.c.login_type,
        t.c.login_subtype,
        t.c.status,
        t.c.success,
        t.c.source_ip,
        t.c.country_iso,
        t.c.country,
        t.c.city,
        t.c.api_type,
        t.c.api_version,
        t.c.tls_protocol,
        t.c.source,
        t.c.natural_id,
    ]
    stmt = (
        select(*cols)
        .where(and_(*_raw_where(w, filters, source)))
        .order_by(t.c.login_time.desc())
        .limit(limit)
    )
    df = _frame(engine, stmt)
    if not df.empty:
        df["login_time"] = pd.to_datetime(df["login_time"], utc=True)
    return df


def investigate(
    engine: Engine,
    w: Window,
    filters: dict[str, str] | None = None,
    *,
    minute: bool = False,
    source: str | None = "login_history",
    limit: int = RAW_LIMIT,
    top: int = 25,
) -> dict[str, Any]:
    """Everything Investigate shows, from one bounded read of the window's raw logins.

    Returns ``raw`` (newest first), ``timeline`` (per minute or hour), ``breakdowns`` (per
    dimension) and ``complete``. When the window holds more than ``limit`` rows, the timeline and
    breakdowns are grouped in SQL instead (exact), and ``raw`` holds the newest ``limit`` rows.
    """
    raw = raw_logins(engine, w, filters, source=source, limit=limit + 1)
    complete = len(raw) <= limit
    raw = raw.head(limit)
    dims: tuple[str, ...] = ("application", "username", "source_ip", "country_iso", "login_subtype", "status")
    if not complete:
        return {
            "raw": raw,
            "complete": False,
            "timeline": investigate_timeline(engine, w, filters, minute=minute, source=source),
            "breakdowns": {
                d: investigate_breakdown(engine, w, d, filters, source=source, top=top) for d in dims
            },
        }
    failed = ~raw["success"].astype(bool)
    if raw.empty:
        tl = pd.DataFrame(columns=["t", "events", "failures", "failure_rate"])
    else:
        t = raw["login_time"].dt.floor("min" if minute else "h")
        tl = _with_rate(
            pd.DataFrame({"t": t, "failed": failed})
            .groupby("t", as_index=False)
            .agg(events=("failed", "size"), failures=("failed", "sum"))
            .sort_values("t", ignore_index=True)
        )
    breakdowns = {}
    if len(raw):  # one parse per distinct address, not per row
        ips = raw["source_ip"].fillna("")
        raw = raw.assign(network=ips.map({ip: network_label(ip) for ip in ips.unique()}))
    for d in (*dims, "network"):
        if raw.empty:
            breakdowns[d] = pd.DataFrame(columns=[d, "events", "failures", "users", "failure_rate"])
            continue
        g = (
            raw.assign(key=raw[d].fillna(""), failed=failed)
            .groupby("key", as_index=False)
            .agg(events=("failed", "size"), failures=("failed", "sum"), users=("user_id", "nunique"))
            .rename(columns={"key": d})
            .sort_values("events", ascending=False, kind="stable")
            .head(top)
            .reset_index(drop=True)
        )
        breakdowns[d] = _with_rate(g)
    return {
        "raw": raw.drop(columns=["network"], errors="ignore"),
        "complete": True,
        "timeline": tl,
        "breakdowns": breakdowns,
    }


def investigate_timeline(
    engine: Engine,
    w: Window,
    filters: dict[str, str] | None = None,
    *,
    minute: bool = False,
    source: str | None = "login_history",
) -> pd.DataFrame:
    """Events and failures per minute (or hour) in the window, from raw logins (grouped in SQL)."""
    t = schema.logins
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            bucket = func.date_trunc("minute" if minute else "hour", t.c.login_time)
        else:
            bucket = func.strftime("%Y-%m-%d %H:%M:00" if minute else "%Y-%m-%d %H:00:00", t.c.login_time)
        stmt = (
            select(
                bucket.label("t"),
                func.count().label("events"),
                func.sum(_case_failed(t.c.success, 1)).label("failures"),
            )
            .where(and_(*_raw_where(w, filters, source)))
            .group_by(bucket)
            .order_by(bucket)
        )
        res = conn.execute(stmt)
        df = pd.DataFrame(res.all(), columns=["t", "events", "failures"])
    if not df.empty:
        df["t"] = pd.to_datetime(df["t"], utc=True)
    return _with_rate(df)


def investigate_breakdown(
    engine: Engine,
    w: Window,
    dim: str,
    filters: dict[str, str] | None = None,
    *,
    source: str | None = "login_history",
    top: int = 25,
) -> pd.DataFrame:
    """Events, failures and users per value of ``dim`` (app, user, IP, country, flow, status) in the window."""
    t = schema.logins
    if dim not in RAW_DIMS:
        raise ValueError(f"cannot break raw logins down by {dim!r}")
    key = func.coalesce(t.c[dim], "")
    stmt = (
        select(
            key.label(dim),
            func.count().label("events"),
            func.sum(_case_failed(t.c.success, 1)).label("failures"),
            func.count(func.distinct(t.c.user_id)).label("users"),
        )
        .where(and_(*_raw_where(w, filters, source)))
        .group_by(key)
        .order_by(func.count().desc())
        .limit(top)
    )
    return _with_rate(_frame(engine, stmt))
