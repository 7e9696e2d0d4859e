"""Read-side queries about things rather than events: apps, grants, alerts and collection health.

The companion of :mod:`oauthwatch.store.queries` (same :class:`Window`, same "small frames only"
rule). Posture labels, stale/dormant grants and lagging sources are the detectors' own rules
(:mod:`oauthwatch.rules`) with the configured thresholds, so the dashboard and the alerts agree.

Usage::

    apps_overview(engine, Window.last(days=30))
    token_grants(engine, ("prod",))
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import func, select

from oauthwatch.rules.posture import app_kind_label, judge_app
from oauthwatch.rules.thresholds import (
    CERT_WARNING_DAYS,
    DEFAULTS,
    SUCCESS_OUTCOMES,
    Thresholds,
    dormant_grants,
    is_lagging,
    stale_grants,
)
from oauthwatch.store import schema
from oauthwatch.store.queries import apps_by_user_count, rollup
from oauthwatch.store.queries_base import Window, _frame, _orgs

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def posture_findings(app: dict[str, Any], now: datetime, cert_days: int = CERT_WARNING_DAYS) -> list[str]:
    """Risky policy settings of one ``connected_apps`` row, as the posture detector judges them."""
    return [check.label for check in judge_app(app, now, cert_days)]


def connected_apps(engine: Engine, orgs: tuple[str, ...] = ()) -> pd.DataFrame:
    """The connected apps as last seen, with their policy fields."""
    c = schema.connected_apps
    w = Window(datetime.now(UTC), datetime.now(UTC), orgs)
    return _frame(engine, select(c).where(_orgs(c.c.org, w)).order_by(c.c.name))


def allowlisted_apps(engine: Engine, orgs: tuple[str, ...] = ()) -> pd.DataFrame:
    """Allowlist entries that apply to these orgs (org-specific or for every org) and are not expired."""
    a = schema.allowlist
    now = datetime.now(UTC)
    cond = a.c.org.is_(None) | (a.c.org.in_(orgs) if orgs else a.c.org.isnot(None))
    stmt = select(a).where(cond, a.c.expires_at.is_(None) | (a.c.expires_at > now)).order_by(a.c.app_name)
    return _frame(engine, stmt)


def latest_grants(engine: Engine, orgs: tuple[str, ...] = ()) -> pd.DataFrame:
    """OauthToken grants from each org's newest snapshot day, with the user's name and active flag."""
    s, u = schema.oauth_token_snapshots, schema.users
    w = Window(datetime.now(UTC), datetime.now(UTC), orgs)
    last = (
        select(s.c.org, func.max(s.c.snapshot_day).label("d"))
        .where(_orgs(s.c.org, w))
        .group_by(s.c.org)
        .subquery()
    )
    stmt = (
        select(
            s.c.org,
            s.c.app_name,
            s.c.user_id,
            u.c.username,
            u.c.is_active,
            s.c.created_date,
            s.c.last_used_date,
            s.c.use_count,
            s.c.snapshot_day,
        )
        .join(last, (last.c.org == s.c.org) & (last.c.d == s.c.snapshot_day))
        .outerjoin(u, (u.c.org == s.c.org) & (u.c.user_id == s.c.user_id))
        .order_by(s.c.app_name, u.c.username)
    )
    df = _frame(engine, stmt)
    for col in ("created_date", "last_used_date"):
        df[col] = pd.to_datetime(df[col], utc=True)
    kinds: dict[tuple[str, str], str] = {}  # (org, app name) → kind, as pages name it
    for org, name, kind in connected_apps(engine, orgs)[["org", "name", "kind"]].itertuples(index=False):
        kinds.setdefault((str(org), str(name)), app_kind_label(kind))
    df["app_kind"] = [kinds.get((o, a), "") for o, a in zip(df["org"], df["app_name"], strict=True)]
    return df


def classify_grants(
    grants: pd.DataFrame, w: Window, now: datetime | None = None, thresholds: Thresholds = DEFAULTS
) -> pd.DataFrame:
    """Add the flags the Tokens page filters on: new, stale, dormant, inactive_user.

    Stale and dormant are the detectors' rules with the configured days
    (:mod:`oauthwatch.rules.thresholds`).
    """
    now = now or datetime.now(UTC)
    g = grants.copy()
    if g.empty:
        for col in ("new", "stale", "dormant", "inactive_user"):
            g[col] = pd.Series(dtype=bool)
        return g
    last, created = g["last_used_date"], g["created_date"]
    g["new"] = (created >= w.start) & (created < w.end)
    g["stale"] = stale_grants(last, created, now, thresholds.stale_grant_days)
    g["dormant"] = dormant_grants(last, created, now, thresholds)
    g["inactive_user"] = g["is_active"].eq(False)
    return g


OVERVIEW_COLUMNS = ["app", "kind", "events", "failures", "failure_rate", "flows", "users", "last_use", "grants",
                    "api_requests", "posture", "allowlisted", "app_id"]  # fmt: skip


def apps_overview(
    engine: Engine,
    w: Window,
    *,
    only: str | None = None,
    thresholds: Thresholds = DEFAULTS,
    now: datetime | None = None,
) -> pd.DataFrame:
    """One row per connected app (known from policies, logins or grants) with usage and posture.

    ``only`` restricts every query to one app (the per-app page); the posture column is the
    posture detector's judgement with the configured ``cert_days`` at ``now`` (default: the clock).
    """
    now = now or datetime.now(UTC)
    flows = rollup(engine, w, ("application", "login_subtype"), application=only)
    by_app = flows.groupby("application", as_index=False)[["events", "failures"]].sum()
    users = apps_by_user_count(engine, w, application=only)
    apps = connected_apps(engine, w.orgs)
    grants = latest_grants(engine, w.orgs)
    allow = set(allowlisted_apps(engine, w.orgs)["app_name"])
    api = api_requests_by_app(engine, w)  # also names apps the ELF Login file cannot (no app column)
    names = sorted({n for n in (*by_app["application"], *apps["name"], *grants["app_name"], *api) if n})
    if only is not None:
        names = [n for n in names if n == only]
    # Newest login: from the window when the app was used in it, else one index seek per app.
    last_use = {a: v for a, v in zip(users["application"], users["last_login"], strict=True) if pd.notna(v)}
    last_use |= last_login_by_app(engine, w.orgs, [n for n in names if n not in last_use])
    rows = []
    for name in names:
        row = by_app[by_app["application"] == name]
        events = int(row["events"].sum())
        failures = int(row["failures"].sum())
        f = flows[(flows["application"] == name) & (flows["login_subtype"] != "")]
        pol = apps[apps["name"] == name]
        policy = {str(k): v for k, v in pol.iloc[0].to_dict().items()} if not pol.empty else {}
        rows.append(
            {
                "app": name,
                "events": events,
                "failures": failures,
                "failure_rate": failures / events if events else 0.0,
                "flows": ", ".join(f.sort_values("events", ascending=False)["login_subtype"]),
                "users": int(users[users["application"] == name]["users"].sum()),
                "last_use": last_use.get(name),
                "grants": int((grants["app_name"] == name).sum()),
                "api_requests": int(api.get(name, 0)),
                "posture": "; ".join(posture_findings(policy, now, thresholds.cert_days))
                if policy
                else "policy not collected",
                "allowlisted": name in allow,
                "app_id": policy.get("app_id"),
                "kind": app_kind_label(policy.get("kind")),
            }
        )
    return pd.DataFrame(rows, columns=OVERVIEW_COLUMNS)


def last_login_by_app(engine: Engine, orgs: tuple[str, ...], apps: list[str]) -> dict[str, datetime]:
    """The newest login of each app ever (any source): one index seek per org and app."""
    t = schema.logins
    org_names = list(orgs) or [str(o) for o in _frame(engine, select(schema.orgs.c.name))["name"]]
    out: dict[str, datetime] = {}
    with engine.connect() as conn:
        for app in apps:
            for org in org_names:
                v = conn.execute(
                    select(func.max(t.c.login_time)).where(t.c.org == org, t.c.application == app)
                ).scalar()
                if v is not None and (app not in out or v > out[app]):
                    out[app] = v
    return out


def api_requests_by_app(engine: Engine, w: Window) -> dict[str, int]:
    """ApiTotalUsage requests per connected app name in the window."""
    a = schema.api_usage_hourly
    stmt = (
        select(a.c.connected_app_name, func.sum(a.c.requests))
        .where(_orgs(a.c.org, w), a.c.hour >= w.start, a.c.hour < w.end)
        .group_by(a.c.connected_app_name)
    )
    with engine.connect() as conn:
        return {k: int(v) for k, v in conn.execute(stmt).all()}


def api_usage(engine: Engine, w: Window, app: str) -> pd.DataFrame:
    """ApiTotalUsage for one app per hour and status code."""
    a = schema.api_usage_hourly
    stmt = (
        select(a.c.hour, a.c.status_code, func.sum(a.c.requests).label("requests"))
        .where(_orgs(a.c.org, w), a.c.hour >= w.start, a.c.hour < w.end, a.c.connected_app_name == app)
        .group_by(a.c.hour, a.c.status_code)
        .order_by(a.c.hour)
    )
    df = _frame(engine, stmt)
    df["hour"] = pd.to_datetime(df["hour"], utc=True)
    return df


def app_changes(engine: Engine, orgs: tuple[str, ...], app_id: str | None) -> pd.DataFrame:
    """Policy changes we observed on one app (newest first)."""
    c = schema.connected_app_changes
    w = Window(datetime.now(UTC), datetime.now(UTC), orgs)
    stmt = (
        select(c.c.observed_at, c.c.field, c.c.old_value, c.c.new_value)
        .where(_orgs(c.c.org, w), c.c.app_id == (app_id or ""))
        .order_by(c.c.observed_at.desc())
    )
    return _frame(engine, stmt)


# ---- Alerts -----------------------------------------------------------------------------------

SEVERITIES = ("info", "low", "medium", "high", "critical")


def alerts(
    engine: Engine,
    w: Window,
    *,
    statuses: tuple[str, ...] = (),
    severities: tuple[str, ...] = (),
    limit: int = 500,
) -> pd.DataFrame:
    """Alerts last seen in the window, newest first, optionally by status and severity."""
    a = schema.alerts
    cols = [c for c in a.c if c.name not in ("runbook", "evidence")]
    stmt = select(*cols).where(_orgs(a.c.org, w), a.c.last_seen >= w.start, a.c.last_seen < w.end)
    if statuses:
        stmt = stmt.where(a.c.status.in_(statuses))
    if severities:
        stmt = stmt.where(a.c.severity.in_(severities))
    return _frame(engine, stmt.order_by(a.c.last_seen.desc()).limit(limit))


def alert(engine: Engine, alert_id: int) -> dict[str, Any] | None:
    """One alert with its evidence and runbook, or None."""
    a = schema.alerts
    with engine.connect() as conn:
        row = conn.execute(select(a).where(a.c.id == alert_id)).mappings().first()
    return dict(row) if row else None


# ---- Collection health ------------------------------------------------------------------------


def collector_runs(engine: Engine, w: Window, limit: int = 500) -> pd.DataFrame:
    """Collector runs started in the window, newest first, with their duration in seconds."""
    r = schema.collector_runs
    stmt = (
        select(r)
        .where(_orgs(r.c.org, w), r.c.started_at >= w.start, r.c.started_at < w.end)
        .order_by(r.c.started_at.desc())
        .limit(limit)
    )
    df = _frame(engine, stmt)
    for col in ("started_at", "finished_at"):
        df[col] = pd.to_datetime(df[col], utc=True)
    df["seconds"] = (df["finished_at"] - df["started_at"]).dt.total_seconds()
    return df


def source_lag(
    engine: Engine, orgs: tuple[str, ...] = (), now: datetime | None = None, thresholds: Thresholds = DEFAULTS
) -> pd.DataFrame:
    """Per org and source: last run, its outcome, last successful run, how long ago, and whether it lags.

    ``lagging`` is :func:`oauthwatch.rules.thresholds.is_lagging` with the configured lag, as in
    the collection-health detector and the digest.
    """
    r = schema.collector_runs
    now = now or datetime.now(UTC)
    w = Window(now, now, orgs)
    ok = func.max(func.coalesce(r.c.finished_at, r.c.started_at)).filter(r.c.outcome.in_(SUCCESS_OUTCOMES))
    stmt = (
        select(r.c.org, r.c.source, func.max(r.c.started_at).label("last_run"), ok.label("last_success"))
        .where(_orgs(r.c.org, w))
        .group_by(r.c.org, r.c.source)
    )
    df = _frame(engine, stmt)
    if df.empty:
        return pd.DataFrame(
            columns=[
                "org",
                "source",
                "last_run",
                "outcome",
                "last_success",
                "lag_minutes",
                "lagging",
                "error",
            ]
        )
    newest = (
        select(r.c.org, r.c.source, func.max(r.c.started_at).label("m"))
        .where(_orgs(r.c.org, w))
        .group_by(r.c.org, r.c.source)
        .subquery()
    )
    last = _frame(
        engine,
        select(r.c.org, r.c.source, r.c.outcome, r.c.error).join(
            newest,
            (newest.c.org == r.c.org) & (newest.c.source == r.c.source) & (newest.c.m == r.c.started_at),
        ),
    ).drop_duplicates(["org", "source"])
    df = df.merge(last, on=["org", "source"], how="left")
    for col in ("last_run", "last_success"):
        df[col] = pd.to_datetime(df[col], utc=True)
    df["lag_minutes"] = ((pd.Timestamp(now) - df["last_success"]).dt.total_seconds() / 60).round(1)
    df["lagging"] = [
        is_lagging(None if pd.isna(last) else last.to_pydatetime(), outcome, now, thresholds.lag)
        for last, outcome in zip(df["last_success"], df["outcome"], strict=True)
    ]
    return df[["org", "source", "last_run", "outcome", "last_success", "lag_minutes", "lagging", "error"]]


def coverage(engine: Engine, w: Window) -> pd.DataFrame:
    """Coverage rows (org, source, day, status, rows) for the window's days."""
    c = schema.coverage
    d0, d1 = w.days
    stmt = (
        select(c.c.org, c.c.source, c.c.day, c.c.status, c.c.rows, c.c.note)
        .where(_orgs(c.c.org, w), c.c.day >= d0, c.c.day <= d1)
        .order_by(c.c.day)
    )
    return _frame(engine, stmt)


def api_budget(engine: Engine, w: Window, name: str = "DailyApiRequests") -> pd.DataFrame:
    """Readings of one org limit in the window with the used share."""
    lim = schema.org_limits
    stmt = (
        select(lim.c.org, lim.c.read_at, lim.c["max"], lim.c.remaining)
        .where(_orgs(lim.c.org, w), lim.c.read_at >= w.start, lim.c.read_at < w.end, lim.c.name == name)
        .order_by(lim.c.read_at)
    )
    df = _frame(engine, stmt)
    df["read_at"] = pd.to_datetime(df["read_at"], utc=True)
    df["used_share"] = ((df["max"] - df["remaining"]) / df["max"].where(df["max"] > 0)).fillna(0.0)
    return df


def quarantine(engine: Engine, w: Window, limit: int = 200) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Quarantined records in the window: counts per source and reason, and the newest rows."""
    q = schema.quarantine
    cond = [_orgs(q.c.org, w), q.c.received_at >= w.start, q.c.received_at < w.end]
    counts = _frame(
        engine,
        select(q.c.org, q.c.source, q.c.reason, func.count().label("records"))
        .where(*cond)
        .group_by(q.c.org, q.c.source, q.c.reason)
        .order_by(func.count().desc()),
    )
    rows = _frame(
        engine,
        select(q.c.org, q.c.source, q.c.received_at, q.c.reason, q.c.natural_id, q.c.raw)
        .where(*cond)
        .order_by(q.c.received_at.desc())
        .limit(limit),
    )
    return counts, rows


def heartbeats(engine: Engine, now: datetime | None = None) -> pd.DataFrame:
    """Each long-running component's last heartbeat and how many seconds ago it was."""
    h = schema.service_heartbeats
    now = now or datetime.now(UTC)
    df = _frame(engine, select(h.c.component, h.c.pid, h.c.state, h.c.started_at, h.c.beat_at))
    df["beat_at"] = pd.to_datetime(df["beat_at"], utc=True)
    df["seconds_ago"] = (pd.Timestamp(now) - df["beat_at"]).dt.total_seconds().round(0)
    return df
