"""Loading the frames of one org: only what the enabled detectors declare, with bounded queries.

What a cycle reads follows the windows it judges, not the size of the store (docs/architecture.md,
"Detection data"): the raw logins of the windows (plus the longest declared raw lookback), each
(user, app)'s last located login before them when travel is on, and from the rollups kept as
logins are written (:mod:`oauthwatch.store.rollups_detect`) the hourly counts and the daily
sightings over the declared lookback, for the apps and users of the windows only. State (grants,
policies, users, the allowlist, the collection ledger, the exfiltration data) is read when a
detector declares it. A backtest loads once for its span and replays :meth:`Frames.at`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import and_, case, false, func, select

from oauthwatch.detect.allowlist import entries_for
from oauthwatch.detect.data import (
    FAILURE_COLUMNS,
    LOGIN_COLUMNS,
    SEEN_FRAME_COLUMNS,
    TOTAL_COLUMNS,
    Frames,
    add_derived,
    empty_frames,
)
from oauthwatch.detect.exfil_data import load_exfil_frames
from oauthwatch.detect.load_state import load_grants, load_ledger, load_policies
from oauthwatch.detect.needs import Data, LoadPlan
from oauthwatch.detect.store_read import as_date, first_col, read_frame, time_col
from oauthwatch.intel.networks import network_index
from oauthwatch.store import schema
from oauthwatch.store.rollups_detect import KINDS

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

CHUNK = 500  # values per IN list


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(values), CHUNK):
        yield values[i : i + CHUNK]


def _tidy_logins(logins: pd.DataFrame) -> pd.DataFrame:
    for c in ("application", "login_subtype", "status", "source_ip", "country_iso", "user_id"):
        logins[c] = logins[c].fillna("").astype(str)
    logins["success"] = logins["success"].astype(bool)
    for c in ("latitude", "longitude"):
        logins[c] = pd.to_numeric(logins[c], errors="coerce")
    return add_derived(logins.reset_index(drop=True))


def _login_cols(conn: Connection) -> list[Any]:
    lg = schema.logins
    return [time_col(conn, lg.c.login_time), *(lg.c[c] for c in LOGIN_COLUMNS[1:])]


def _raw_logins(conn: Connection, org: str, source: str, lo: datetime, hi: datetime) -> pd.DataFrame:
    lg = schema.logins
    stmt = (
        select(*_login_cols(conn))
        .where(lg.c.org == org, lg.c.source == source, lg.c.login_time >= lo, lg.c.login_time < hi)
        .order_by(lg.c.login_time)
    )
    return _tidy_logins(read_frame(conn, stmt, ("login_time",), raw=True))


def _previous_logins(conn: Connection, org: str, source: str, lo: datetime, hi: datetime) -> pd.DataFrame:
    """Each (user, app)'s last successful login with a location in ``[lo, hi)``."""
    lg = schema.logins
    located = (
        lg.c.org == org,
        lg.c.source == source,
        lg.c.success.is_(True),
        lg.c.latitude.is_not(None),
        lg.c.longitude.is_not(None),
        lg.c.user_id.is_not(None),
        lg.c.user_id != "",
    )
    last = (
        select(lg.c.user_id, lg.c.application, func.max(lg.c.login_time).label("t"))
        .where(*located, lg.c.login_time >= lo, lg.c.login_time < hi)
        .group_by(lg.c.user_id, lg.c.application)
        .subquery()
    )
    stmt = (
        select(*_login_cols(conn))
        .join(
            last,
            and_(
                lg.c.user_id == last.c.user_id,
                lg.c.application.is_not_distinct_from(last.c.application),
                lg.c.login_time == last.c.t,
            ),
        )
        .where(*located)
        .order_by(lg.c.login_time)
    )
    return _tidy_logins(read_frame(conn, stmt, ("login_time",), raw=True))


def _seen_rows(
    conn: Connection, org: str, kind: str, groups: list[str], lo: datetime, hi: datetime
) -> pd.DataFrame:
    """``login_seen_daily`` rows of ``kind`` for ``groups`` on the days of ``[lo, hi)``."""
    s = schema.login_seen_daily
    cols = [*(s.c[c] for c in ("grp", "value", "day", "success")), time_col(conn, s.c.first_at)]
    cols += [time_col(conn, s.c.last_at), s.c.events]
    parts = []
    for chunk in _chunks(groups):
        # ix_login_seen_daily_group_day: the groups asked for, on the days asked for only.
        stmt = select(*cols).where(
            s.c.org == org, s.c.kind == kind, s.c.grp.in_(chunk), s.c.day >= lo.date(), s.c.day <= hi.date()
        )
        parts.append(read_frame(conn, stmt, ("first_at", "last_at"), raw=True))
    if not parts or all(p.empty for p in parts):
        return pd.DataFrame(columns=SEEN_FRAME_COLUMNS)
    rows = pd.concat([p for p in parts if not p.empty], ignore_index=True)
    rows["events"] = rows["events"].astype("int64")
    rows["success"] = rows["success"].astype(bool)
    days = {d: as_date(d) for d in set(rows["day"])}  # SQLite's text, a few dozen distinct days
    rows["day"] = rows["day"].map(days)
    return rows[rows["first_at"] < pd.Timestamp(hi)]


def seen_lookup(engine: Engine, org: str) -> Any:
    """A function answering :meth:`Frames.seen_pairs` from the store, for a few pairs at a time."""

    def lookup(
        kind: str, pairs: Iterable[tuple[str | None, str]], lo: datetime, hi: datetime
    ) -> set[tuple[str | None, str]]:
        s = schema.login_seen_daily
        out: set[tuple[str | None, str]] = set()
        with engine.connect() as conn:
            for g, v in pairs:
                conds = [s.c.org == org, s.c.kind == kind, s.c.value == v]
                if g is not None:
                    conds.append(s.c.grp == g)
                conds += [s.c.day >= lo.date(), s.c.day <= hi.date(), s.c.last_at >= lo, s.c.first_at < hi]
                if conn.execute(select(s.c.day).where(*conds).limit(1)).first() is not None:
                    out.add((g, v))
        return out

    return lookup


def _app_first_seen(conn: Connection, org: str, end: datetime) -> pd.Series:
    s = schema.login_seen_daily
    first = read_frame(
        conn,
        select(s.c.value.label("application"), first_col(conn, func.min(s.c.first_at)).label("first"))
        .where(s.c.org == org, s.c.kind == "app", s.c.first_at < end)
        .group_by(s.c.value),
        ("first",),
    )
    if first.empty:
        return pd.Series(dtype="datetime64[ns, UTC]")
    return first.set_index("application")["first"]


def _no_hours(columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(
        {c: pd.Series(dtype="int64" if c in ("events", "failures") else object) for c in columns}
    )
    df["hour"] = pd.Series(dtype="datetime64[ns, UTC]")
    return df


def _hourly(conn: Connection, org: str, lo: datetime, hi: datetime) -> pd.DataFrame:
    a = schema.login_app_hourly
    stmt = (
        select(
            time_col(conn, a.c.hour),
            a.c.application,
            func.sum(a.c.events).label("events"),
            func.sum(case((a.c.success.is_(True), 0), else_=a.c.events)).label("failures"),
        )
        .where(a.c.org == org, a.c.hour >= lo, a.c.hour < hi)
        .group_by(a.c.hour, a.c.application)
    )
    df = read_frame(conn, stmt, ("hour",), raw=True)
    if df.empty:
        return _no_hours(TOTAL_COLUMNS)
    return df.astype({"events": "int64", "failures": "int64"})


def _failures(conn: Connection, org: str, apps: list[str], lo: datetime, hi: datetime) -> pd.DataFrame:
    a = schema.login_app_hourly
    parts = []
    for chunk in _chunks(apps):
        stmt = select(time_col(conn, a.c.hour), a.c.application, a.c.status, a.c.events).where(
            a.c.org == org, a.c.success == false(), a.c.application.in_(chunk), a.c.hour >= lo, a.c.hour < hi
        )
        parts.append(read_frame(conn, stmt, ("hour",), raw=True))
    parts = [p for p in parts if not p.empty]
    if not parts:
        return _no_hours(FAILURE_COLUMNS)
    return pd.concat(parts, ignore_index=True).astype({"events": "int64"})


def load_frames(
    engine: Engine,
    org: str,
    *,
    start: datetime,
    end: datetime,
    window: timedelta,
    history: timedelta,
    plan: LoadPlan,
    primary_source: str = "login_history",
    self_username: str | None = None,
) -> Frames:
    """Load what detectors declaring ``plan`` need to judge the windows ending in ``[start, end]``.

    Returns the view at ``end``; :meth:`Frames.at` gives earlier instants. ``history`` is how far
    back a detector that declares no lookback reads the rollups. ``self_username`` is oauthwatch's
    own integration user: ``extra["self_user_ids"]`` lets detectors tell its logins from the org's.
    """
    first_ws = start - window
    raw_lo = min(first_ws, start - plan.raw_lookback)

    def since(item: Data) -> datetime:
        return first_ws - max(plan.lookback(item), history)

    f = empty_frames(org, end, history)
    fields: dict[str, Any] = {"raw_start": pd.Timestamp(raw_lo), "seen_rows": {}}
    extra: dict[str, Any] = {"seen_lookup": seen_lookup(engine, org)}
    with engine.connect() as conn:
        logins = f.logins
        if Data.WINDOW_LOGINS in plan or Data.SEEN in plan:
            logins = _raw_logins(conn, org, primary_source, raw_lo, end)
        fields["logins"] = logins
        extra["_full"] = logins
        if Data.PREVIOUS_LOGINS in plan:
            lo = raw_lo - plan.previous_lookback
            fields["previous"] = _previous_logins(conn, org, primary_source, lo, raw_lo)
        apps = sorted(set(logins["application"]))
        users = sorted(set(logins["user_id"]) - {""})
        for kind in sorted(plan.seen):
            groups = users if KINDS[kind][0] == "user_id" else apps
            fields["seen_rows"][kind] = _seen_rows(conn, org, kind, groups, since(Data.SEEN), end)
        if Data.FIRST_SEEN in plan or Data.APP_HOURLY in plan:
            first = _app_first_seen(conn, org, end)
            fields["app_first_seen"] = first
            fields["org_first_seen"] = first.min() if not first.empty else None
        if Data.APP_HOURLY in plan:
            lo = since(Data.APP_HOURLY)
            fields["app_hourly"] = _hourly(conn, org, lo, end)
            failing = sorted(set(logins.loc[~logins["success"], "application"]))
            fields["app_failures"] = _failures(conn, org, failing, lo, end)
        if Data.GRANTS in plan:
            fields.update(load_grants(conn, org, start, end))
        if Data.POLICIES in plan:
            fields.update(load_policies(conn, org, start, end))
        if Data.USERS in plan or self_username:
            u = schema.users
            fields["users"] = read_frame(
                conn, select(u.c.user_id, u.c.username, u.c.is_active, u.c.user_type).where(u.c.org == org)
            )
            if self_username:
                us = fields["users"]
                extra["self_user_ids"] = set(us.loc[us["username"] == self_username, "user_id"])
        if Data.ALLOWLIST in plan:
            fields["allowlist"] = tuple(entries_for(conn, org))
        if Data.LEDGER in plan:
            fields.update(load_ledger(conn, org, end))
    extra.setdefault("self_user_ids", set())
    if Data.NETWORKS in plan:
        extra["networks"] = network_index(engine)  # hosting / VPN / Tor classes (oauthwatch.intel)
    if Data.EXFIL in plan:
        extra.update(load_exfil_frames(engine, org, start - history, end))  # API calls, Bulk jobs
    return replace(f, extra=extra, **fields).at(end)
