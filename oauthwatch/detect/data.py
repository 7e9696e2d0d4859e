"""The frames detectors read for one org: the judged windows' logins and the rollups behind them.

Detectors stay pure: :mod:`oauthwatch.detect.load` does every query, reading only what the
enabled detectors declare (:mod:`oauthwatch.detect.needs`): the raw logins of the windows being
judged, the hourly counts per app and status and the daily sightings per app or user that the
store keeps up to date as logins are written, grant snapshots, policies, users, the allowlist and
the collection ledger. Frames built in memory from logins alone (tests, what-if replays) derive
the same rollups from those logins (:func:`oauthwatch.store.rollups_detect.seen_cells`, the one
definition of a sighting). A backtest asks :meth:`Frames.at` for the view at each replayed instant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from oauthwatch.detect.allowlist import AllowEntry
from oauthwatch.detect.sightings import Sightings

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
SEEN_FRAME_COLUMNS = ["grp", "value", "day", "success", "first_at", "last_at", "events"]
TOTAL_COLUMNS = ["hour", "application", "events", "failures"]
FAILURE_COLUMNS = ["hour", "application", "status", "events"]
SeenLookup = Callable[
    [str, Iterable[tuple[str | None, str]], datetime, datetime], set[tuple[str | None, str]]
]


def add_derived(logins: pd.DataFrame) -> pd.DataFrame:
    """Columns computed once per load instead of once per detector run: ``network`` (/24, /48)."""
    from oauthwatch.rules.network import network_label

    ips = logins["source_ip"].fillna("").astype(str)
    nets = {ip: network_label(ip) for ip in ips.unique()}
    return logins.assign(network=ips.map(nets))


@dataclass(frozen=True)
class Frames:
    """Everything the detectors see for one org at one instant (``now``).

    ``logins`` holds the primary-source logins loaded, sorted by time: from ``raw_start`` (the
    judged windows and their declared raw lookback) when loaded from the store, else all of them;
    ``app_first_seen`` the first login time of every app ever; ``tokens`` the grant snapshots of
    the last days; the rest is current state. ``seen_rows`` (per kind) and ``app_hourly`` / ``app_failures`` are
    the rollups read from the store (None: derived from ``logins``); ``previous`` each (user, app)'s
    last located successful login before ``raw_start`` (travel pairs it with the window's first).
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
    seen_rows: dict[str, pd.DataFrame] | None = None
    app_hourly: pd.DataFrame | None = None
    app_failures: pd.DataFrame | None = None
    previous: pd.DataFrame | None = None
    raw_start: pd.Timestamp | None = None

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

    def sightings(self, kind: str, *, successes_only: bool = False) -> Sightings:
        """The daily sightings of ``kind`` (a ``login_seen_daily`` kind), built once per load and
        shared by every :meth:`at` view (callers ask only about spans before their window)."""
        key = f"seen:{kind}:{successes_only}"
        if key not in self.extra:
            rows = self._seen_rows(kind)
            if successes_only and not rows.empty:
                rows = rows[rows["success"].astype(bool)]
            self.extra[key] = Sightings.from_rows(rows)
        return self.extra[key]

    def _seen_rows(self, kind: str) -> pd.DataFrame:
        if self.seen_rows is not None:
            return self.seen_rows.get(kind, pd.DataFrame(columns=SEEN_FRAME_COLUMNS))
        from oauthwatch.store.rollups_detect import seen_cells

        src = self.extra.get("_full", self.logins)
        if src.empty:
            return pd.DataFrame(columns=SEEN_FRAME_COLUMNS)
        t = src["login_time"]
        cells = src.assign(day=t.dt.date, first_at=t, last_at=t, events=1)
        return seen_cells(cells, [kind])

    def seen_pairs(
        self, kind: str, pairs: Iterable[tuple[str | None, str]], lo: datetime, hi: datetime
    ) -> set[tuple[str | None, str]]:
        """Which ``(group, value)`` pairs of ``kind`` were seen in ``[lo, hi)`` (a group of None:
        for any group). For a few pairs of a kind too big to load whole (``app_ip``): loads from
        the store read just those pairs."""
        pairs = list(pairs)
        lookup: SeenLookup | None = self.extra.get("seen_lookup")
        if lookup is not None:
            return lookup(kind, pairs, lo, hi)
        s = self.sightings(kind)
        out: set[tuple[str | None, str]] = set()
        for g, v in pairs:
            groups = [g] if g is not None else [k for k, vals in s.by_group.items() if v in vals]
            if any(s.seen(x, v, lo, hi) for x in groups):
                out.add((g, v))
        return out

    def app_totals(self) -> pd.DataFrame:
        """Logins and failures per hour and app (``TOTAL_COLUMNS``), oldest hour first."""
        return self._hours("totals", self.app_hourly, ["hour", "application"], failed_only=False)

    def failure_hours(self) -> pd.DataFrame:
        """Failed logins per hour, app and Status (``FAILURE_COLUMNS``), oldest hour first."""
        return self._hours(
            "failure_hours", self.app_failures, ["hour", "application", "status"], failed_only=True
        )

    def _hours(
        self, key: str, stored: pd.DataFrame | None, keys: list[str], *, failed_only: bool
    ) -> pd.DataFrame:
        if key not in self.extra:
            if stored is None:
                src = self.extra.get("_full", self.logins)
                failed = ~src["success"].astype(bool)
                if failed_only:
                    src, failed = src[failed], failed[failed]
                stored = (
                    src.assign(hour=src["login_time"].dt.floor("h"), failures=failed)
                    .groupby(keys, sort=False)
                    .agg(events=("failures", "size"), failures=("failures", "sum"))
                    .reset_index()
                )
            self.extra[key] = stored.sort_values("hour", kind="stable").reset_index(drop=True)
        return self.extra[key]

    def recent(self, window: timedelta) -> pd.DataFrame:
        """Logins in ``[now - window, now)``."""
        times = self.logins["login_time"]
        lo = times.searchsorted(pd.Timestamp(self.now - window), side="left")
        return self.logins.iloc[lo:]


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
