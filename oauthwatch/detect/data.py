"""The frames detectors read, loaded from the store for one org and a span of time.

Detectors stay pure because this module does every query: the org's primary-source logins over
the history the baselines need, first-seen times of apps (all time, one GROUP BY), OAuth grant
snapshots, connected-app policies, users, the allowlist, and the collection ledger. A backtest
loads once for its whole span and asks :meth:`Frames.at` for the view at each replayed instant,
so replaying a month costs one load, not one per step.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from oauthwatch.detect.allowlist import AllowEntry, entries_for
from oauthwatch.detect.exfil_data import load_exfil_frames
from oauthwatch.detect.store_read import as_date, first_col, read_frame, time_col
from oauthwatch.intel.networks import network_index
from oauthwatch.store import schema

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

LOGIN_COLUMNS = (
    "login_time",
    "user_id",
    "username",
    "application",
    "login_type",
    "login_subtype",
    "status",
    "success",
    "source_ip",
    "country_iso",
    "latitude",
    "longitude",
    "browser",
)
CHANGE_COLUMNS = ["app_id", "observed_at", "field", "old_value", "new_value"]
TOKEN_DAYS = 3  # the latest grant snapshot and the ones before it (dormant-grant waking)


def add_derived(logins: pd.DataFrame) -> pd.DataFrame:
    """Columns computed once per load instead of once per detector run: ``network`` (/24, /48)."""
    from oauthwatch.rules.network import network_label

    ips = logins["source_ip"].fillna("").astype(str)
    nets = {ip: network_label(ip) for ip in ips.unique()}
    return logins.assign(network=ips.map(nets))


@dataclass(frozen=True)
class Frames:
    """Everything the detectors see for one org at one instant (``now``).

    ``logins`` holds the primary-source logins in ``[now - history, now)`` sorted by time;
    ``app_first_seen`` the first login time of every app ever (all history, not just the span);
    ``tokens`` the grant snapshots of the last days; the rest is current state.
    """

    org: str
    now: datetime
    history: timedelta
    logins: pd.DataFrame
    app_first_seen: pd.Series
    org_first_seen: pd.Timestamp | None
    tokens: pd.DataFrame
    token_app_first_seen: pd.Series
    apps: pd.DataFrame
    users: pd.DataFrame
    allowlist: tuple[AllowEntry, ...]
    checkpoints: pd.DataFrame
    runs: pd.DataFrame
    coverage: pd.DataFrame
    limits: pd.DataFrame
    app_changes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=CHANGE_COLUMNS))
    grants_created: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["user_id", "app_name", "created_date"])
    )
    audit: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            columns=["created_date", "action", "section", "display", "created_by"]
        )
    )
    extra: dict[str, Any] = field(default_factory=dict)

    def at(self, now: datetime) -> Frames:
        """The view at an earlier ``now``: only what was known then (for backtests)."""
        ts = pd.Timestamp(now)
        # Slice the whole load, not this view: a view at ``end`` has already dropped the logins
        # before ``end - history`` that earlier instants of a long backtest still need (counting
        # them as zero made week-old baselines empty and busy hours "spikes").
        full = self.extra.get("_full", self.logins)
        times = full["login_time"]
        lo = times.searchsorted(ts - self.history, side="left")
        hi = times.searchsorted(ts, side="left")
        tokens = self.tokens
        if not tokens.empty:
            tokens = tokens[tokens["snapshot_day"] <= now.date()]
            tokens = tokens[tokens["snapshot_day"] > now.date() - timedelta(days=TOKEN_DAYS)]
        first = self.app_first_seen[self.app_first_seen < ts]
        tfirst = self.token_app_first_seen[self.token_app_first_seen < ts]
        audit = self.audit
        if not audit.empty:
            audit = audit[pd.to_datetime(audit["created_date"], utc=True) < ts]
        grants = self.grants_created
        if not grants.empty:
            grants = grants[grants["created_date"] < ts]
        org_first = (
            self.org_first_seen if self.org_first_seen is not None and self.org_first_seen < ts else None
        )
        return replace(
            self,
            now=now,
            logins=full.iloc[lo:hi],
            app_first_seen=first,
            org_first_seen=org_first,
            tokens=tokens,
            token_app_first_seen=tfirst,
            grants_created=grants,
            audit=audit,
        )

    def pair_index(self, column: str, group: str = "application") -> dict[tuple[str, str], np.ndarray]:
        """``(group value, column value)`` -> its sorted login times, over everything loaded.

        Built once per load and shared by every :meth:`at` view (the cache lives in ``extra``), so
        "was this value seen for this app (or user) between two times" is two binary searches.
        """
        key = f"pairs:{group}:{column}"
        if key not in self.extra:
            src = self.extra.get("_full", self.logins)
            groups = src.groupby([group, column], sort=False)["login_time"]
            self.extra[key] = {k: v.to_numpy(dtype="datetime64[ns]") for k, v in groups}
        return self.extra[key]

    def recent(self, window: timedelta) -> pd.DataFrame:
        """Logins in ``[now - window, now)``."""
        times = self.logins["login_time"]
        lo = times.searchsorted(pd.Timestamp(self.now - window), side="left")
        return self.logins.iloc[lo:]

    def before(self, start: datetime, span: timedelta) -> pd.DataFrame:
        """Logins in ``[start - span, start)``: the baseline that a recent window is judged against."""
        times = self.logins["login_time"]
        lo = times.searchsorted(pd.Timestamp(start - span), side="left")
        hi = times.searchsorted(pd.Timestamp(start), side="left")
        return self.logins.iloc[lo:hi]


def load_frames(
    engine: Engine,
    org: str,
    *,
    start: datetime,
    end: datetime,
    history: timedelta,
    primary_source: str = "login_history",
    self_username: str | None = None,
) -> Frames:
    """Load what the detectors need to judge ``org`` at any instant in ``[start, end]``.

    Returns the view at ``end``; call :meth:`Frames.at` for earlier instants. ``self_username``
    is oauthwatch's own integration user: ``extra["self_user_ids"]`` lets detectors tell
    oauthwatch's own logins from the org's.
    """
    lg = schema.logins
    tk = schema.oauth_token_snapshots
    with engine.connect() as conn:
        cols = [time_col(conn, lg.c.login_time), *(lg.c[c] for c in LOGIN_COLUMNS[1:])]
        logins = read_frame(
            conn,
            select(*cols)
            .where(
                lg.c.org == org,
                lg.c.source == primary_source,
                lg.c.login_time >= start - history,
                lg.c.login_time < end,
            )
            .order_by(lg.c.login_time),
            ("login_time",),
        )
        for c in ("application", "login_subtype", "status", "source_ip", "country_iso", "user_id"):
            logins[c] = logins[c].fillna("").astype(str)
        logins["success"] = logins["success"].astype(bool)
        logins = add_derived(logins.reset_index(drop=True))

        first = read_frame(
            conn,
            select(lg.c.application, first_col(conn, func.min(lg.c.login_time)).label("first"))
            .where(lg.c.org == org, lg.c.source == primary_source, lg.c.login_time < end)
            .group_by(lg.c.application),
            ("first",),
        )
        if not first.empty:
            first["application"] = first["application"].fillna("").astype(str)
            first = first.groupby("application", as_index=False)[["first"]].min()
        app_first_seen = (
            first.set_index("application")["first"]
            if not first.empty
            else pd.Series(dtype="datetime64[ns, UTC]")
        )
        org_first = app_first_seen.min() if not app_first_seen.empty else None

        tokens = read_frame(
            conn,
            select(
                tk.c.snapshot_day,
                tk.c.user_id,
                tk.c.app_name,
                time_col(conn, tk.c.created_date),
                time_col(conn, tk.c.last_used_date),
                tk.c.use_count,
                tk.c.delete_token_hash,
                tk.c.app_menu_item_id,
            ).where(
                tk.c.org == org,
                tk.c.snapshot_day > start.date() - timedelta(days=TOKEN_DAYS),
                tk.c.snapshot_day <= end.date(),
            ),
            ("created_date", "last_used_date"),
        )
        if not tokens.empty:
            tokens["snapshot_day"] = tokens["snapshot_day"].map(as_date)
        tfirst = read_frame(
            conn,
            select(tk.c.app_name, first_col(conn, func.min(tk.c.seen_at)).label("first"))
            .where(tk.c.org == org)
            .group_by(tk.c.app_name),
            ("first",),
        )
        token_first = (
            tfirst.set_index("app_name")["first"]
            if not tfirst.empty
            else pd.Series(dtype="datetime64[ns, UTC]")
        )

        created = read_frame(
            conn,
            select(
                tk.c.user_id,
                tk.c.app_name,
                first_col(conn, func.min(tk.c.created_date)).label("created_date"),
            )
            .where(tk.c.org == org)
            .group_by(tk.c.user_id, tk.c.app_name),
            ("created_date",),
        )
        ae = schema.audit_events
        audit = read_frame(
            conn,
            select(ae.c.created_date, ae.c.action, ae.c.section, ae.c.display, ae.c.created_by).where(
                ae.c.org == org, ae.c.created_date >= start - timedelta(days=7), ae.c.created_date <= end
            ),
        )
        ca = schema.connected_apps
        apps = read_frame(
            conn,
            select(
                ca.c.app_id,
                ca.c.name,
                ca.c.admin_approved_only,
                ca.c.ip_relaxation,
                ca.c.refresh_token_policy,
                ca.c.scopes,
                ca.c.certificate_expires_at,
                ca.c.session_level,
            ).where(ca.c.org == org),
        )
        u = schema.users
        users = read_frame(
            conn, select(u.c.user_id, u.c.username, u.c.is_active, u.c.user_type).where(u.c.org == org)
        )
        allow = tuple(entries_for(conn, org))

        cp = schema.checkpoints
        checkpoints = read_frame(
            conn, select(cp.c.source, cp.c.updated_at).where(cp.c.org == org), ("updated_at",)
        )
        cr = schema.collector_runs
        runs = read_frame(
            conn,
            select(cr.c.source, cr.c.started_at, cr.c.finished_at, cr.c.outcome, cr.c.error)
            .where(cr.c.org == org, cr.c.started_at >= end - timedelta(days=2))
            .order_by(cr.c.started_at),
        )
        cv = schema.coverage
        coverage = read_frame(
            conn,
            select(cv.c.source, cv.c.day, cv.c.status, cv.c.rows, cv.c.note).where(
                cv.c.org == org, cv.c.day >= end.date() - timedelta(days=7)
            ),
        )
        if not coverage.empty:
            coverage["day"] = coverage["day"].map(as_date)
        ol = schema.org_limits
        latest = (
            select(ol.c.name, func.max(ol.c.read_at).label("read_at"))
            .where(ol.c.org == org, ol.c.read_at <= end)
            .group_by(ol.c.name)
            .subquery()
        )
        limits = read_frame(
            conn,
            select(ol.c.name, ol.c.read_at, ol.c.max, ol.c.remaining)
            .join(latest, (ol.c.name == latest.c.name) & (ol.c.read_at == latest.c.read_at))
            .where(ol.c.org == org),
        )
        ch = schema.connected_app_changes
        changes = read_frame(
            conn,
            select(ch.c.app_id, ch.c.observed_at, ch.c.field, ch.c.old_value, ch.c.new_value).where(
                ch.c.org == org, ch.c.observed_at >= start - timedelta(days=7), ch.c.observed_at <= end
            ),
        )
    return Frames(
        extra={
            "_full": logins,
            "networks": network_index(engine),  # hosting / VPN / Tor classes (oauthwatch.intel)
            **load_exfil_frames(engine, org, start - history, end),  # API calls, Bulk jobs (exfil_data)
            "self_user_ids": set(users.loc[users["username"] == self_username, "user_id"])
            if self_username
            else set(),
        },
        audit=audit
        if not audit.empty
        else pd.DataFrame(columns=["created_date", "action", "section", "display", "created_by"]),
        app_changes=changes if not changes.empty else pd.DataFrame(columns=CHANGE_COLUMNS),
        grants_created=created
        if not created.empty
        else pd.DataFrame(columns=["user_id", "app_name", "created_date"]),
        org=org,
        now=end,
        history=history,
        logins=logins,
        app_first_seen=app_first_seen,
        org_first_seen=org_first,
        tokens=tokens,
        token_app_first_seen=token_first,
        apps=apps,
        users=users,
        allowlist=allow,
        checkpoints=checkpoints,
        runs=runs,
        coverage=coverage,
        limits=limits,
    ).at(end)


def empty_frames(org: str, now: datetime, history: timedelta = timedelta(days=35)) -> Frames:
    """Frames with nothing in them, with the right columns (a starting point for tests)."""
    logins = pd.DataFrame({c: pd.Series(dtype=object) for c in LOGIN_COLUMNS})
    logins["login_time"] = pd.Series(dtype="datetime64[ns, UTC]")
    logins["success"] = pd.Series(dtype=bool)
    logins["latitude"] = pd.Series(dtype=float)
    logins["longitude"] = pd.Series(dtype=float)
    logins["network"] = pd.Series(dtype=object)
    return Frames(
        org=org,
        now=now,
        history=history,
        logins=logins,
        app_first_seen=pd.Series(dtype="datetime64[ns, UTC]"),
        org_first_seen=None,
        tokens=pd.DataFrame(
            columns=[
                "snapshot_day",
                "user_id",
                "app_name",
                "created_date",
                "last_used_date",
                "use_count",
                "delete_token_hash",
            ]
        ),
        token_app_first_seen=pd.Series(dtype="datetime64[ns, UTC]"),
        apps=pd.DataFrame(
            columns=[
                "app_id",
                "name",
                "admin_approved_only",
                "ip_relaxation",
                "refresh_token_policy",
                "scopes",
                "certificate_expires_at",
                "session_level",
            ]
        ),
        users=pd.DataFrame(columns=["user_id", "username", "is_active", "user_type"]),
        allowlist=(),
        checkpoints=pd.DataFrame(columns=["source", "updated_at"]),
        runs=pd.DataFrame(columns=["source", "started_at", "finished_at", "outcome", "error"]),
        coverage=pd.DataFrame(columns=["source", "day", "status", "rows", "note"]),
        limits=pd.DataFrame(columns=["name", "read_at", "max", "remaining"]),
    )
