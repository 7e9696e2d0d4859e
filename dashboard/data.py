"""The dashboard's only door to the store: cached wrappers around ``oauthwatch.store.queries``.

Pages never build SQL; they call these functions. Each is ``st.cache_data`` with a short TTL, so
moving between pages or widgets does not re-query, while fresh collection shows up within a
minute. The engine is one per store URL (``st.cache_resource``). The store URL comes from the
configuration file (``--config`` / ``$OAUTHWATCH_CONFIG``, resolved by ``oauthwatch dashboard``),
or directly from ``$OAUTHWATCH_STORE_URL``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from oauthwatch.store import queries as q
from oauthwatch.store import queries_investigate as qi
from oauthwatch.store import queries_ops as ops

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from oauthwatch.config import Settings
    from oauthwatch.rules.thresholds import Thresholds
    from oauthwatch.store.queries import Window

TTL = 60


def settings() -> Settings:
    """The configuration the dashboard was started with (re-read when its env vars change)."""
    return _settings_for(os.environ.get("OAUTHWATCH_CONFIG"), os.environ.get("OAUTHWATCH_STORE_URL"))


@st.cache_resource(show_spinner=False)
def _settings_for(config: str | None, store_url: str | None) -> Settings:
    from oauthwatch.config import load_settings

    return load_settings()


@st.cache_resource(show_spinner=False)
def _engine_for(url: str) -> Engine:
    from oauthwatch.store import open_store

    return open_store(url)


def engine() -> Engine:
    """The store engine (migrated on first use), shared by every session."""
    return _engine_for(settings().store.url)


def thresholds() -> Thresholds:
    """The detectors' shared thresholds as configured (``[detect.<id>]``): grant age, lag, certificates."""
    from oauthwatch.rules.thresholds import Thresholds

    return Thresholds.from_settings(settings().detector)


def store_label() -> str:
    """The store URL without any password, for display."""
    from sqlalchemy.engine import make_url

    return make_url(settings().store.url).render_as_string(hide_password=True)


def primary_source(org: str | None) -> str:
    """The org's primary login source (docs/architecture.md, decision 5): what counts and raw reads use."""
    for o in settings().orgs:
        if o.name == org:
            return o.primary_login_source
    return "login_history"


def clear() -> None:
    """Forget cached results (after an action changed the store)."""
    st.cache_data.clear()


@st.cache_data(ttl=TTL, show_spinner=False)
def orgs() -> list[str]:
    """Org names in the store."""
    return q.list_orgs(engine())


@st.cache_data(ttl=TTL, show_spinner=False)
def has_logins(orgs: tuple[str, ...]) -> bool:
    """Whether anything was collected yet."""
    return q.has_logins(engine(), orgs)


@st.cache_data(ttl=TTL, show_spinner=False)
def kpis(w: Window) -> dict[str, float]:
    """Headline numbers."""
    return q.kpis(engine(), w)


@st.cache_data(ttl=TTL, show_spinner=False)
def open_alerts(orgs: tuple[str, ...]) -> int:
    """Alerts open now."""
    return q.open_alert_count(engine(), orgs)


@st.cache_data(ttl=TTL, show_spinner=False)
def rollup(
    w: Window, dims: tuple[str, ...], by_hour: bool = False, application: str | None = None
) -> pd.DataFrame:
    """Hourly-rollup sums grouped by ``dims``."""
    return q.rollup(engine(), w, dims, by_hour=by_hour, application=application)


@st.cache_data(ttl=TTL, show_spinner=False)
def users_by(w: Window, application: str | None = None) -> pd.DataFrame:
    """Per user totals."""
    return q.users_by(engine(), w, application=application)


@st.cache_data(ttl=TTL, show_spinner=False)
def ips_by(w: Window, application: str | None = None) -> pd.DataFrame:
    """Per IP totals with location and network."""
    return q.ips_by(engine(), w, application=application)


@st.cache_data(ttl=TTL, show_spinner=False)
def new_origins(w: Window) -> pd.DataFrame:
    """Countries and IPs first seen in the window."""
    return q.new_origins(engine(), w)


@st.cache_data(ttl=TTL, show_spinner=False)
def investigate(w: Window, filters: tuple[tuple[str, str], ...], minute: bool, source: str) -> dict[str, Any]:
    """Raw rows, timeline and breakdowns of a window (Investigate only), from one bounded read."""
    return qi.investigate(engine(), w, dict(filters), minute=minute, source=source)


@st.cache_data(ttl=TTL, show_spinner=False)
def audit_events(w: Window, mentioning: str | None = None) -> pd.DataFrame:
    """Setup Audit Trail rows in the window."""
    return q.audit_events(engine(), w, mentioning=mentioning)


@st.cache_data(ttl=TTL, show_spinner=False)
def apps_overview(w: Window, only: str | None = None) -> pd.DataFrame:
    """Every app (or only one) with usage and posture."""
    return ops.apps_overview(engine(), w, only=only, thresholds=thresholds())


@st.cache_data(ttl=TTL, show_spinner=False)
def connected_apps(orgs: tuple[str, ...]) -> pd.DataFrame:
    """App policies as last seen."""
    return ops.connected_apps(engine(), orgs)


@st.cache_data(ttl=TTL, show_spinner=False)
def app_changes(orgs: tuple[str, ...], app_id: str | None) -> pd.DataFrame:
    """Observed policy changes of one app."""
    return ops.app_changes(engine(), orgs, app_id)


@st.cache_data(ttl=TTL, show_spinner=False)
def api_usage(w: Window, app: str) -> pd.DataFrame:
    """ApiTotalUsage of one app."""
    return ops.api_usage(engine(), w, app)


@st.cache_data(ttl=TTL, show_spinner=False)
def grants(w: Window) -> pd.DataFrame:
    """Latest OauthToken grants with new/stale/dormant/inactive flags."""
    return ops.classify_grants(ops.latest_grants(engine(), w.orgs), w, thresholds=thresholds())


@st.cache_data(ttl=TTL, show_spinner=False)
def alerts(w: Window, statuses: tuple[str, ...], severities: tuple[str, ...]) -> pd.DataFrame:
    """Alerts last seen in the window."""
    return ops.alerts(engine(), w, statuses=statuses, severities=severities)


def alert(alert_id: int) -> dict[str, Any] | None:
    """One alert (not cached: it is what an action just changed)."""
    return ops.alert(engine(), alert_id)


@st.cache_data(ttl=TTL, show_spinner=False)
def collector_runs(w: Window) -> pd.DataFrame:
    """Collector runs in the window."""
    return ops.collector_runs(engine(), w)


@st.cache_data(ttl=TTL, show_spinner=False)
def source_lag(orgs: tuple[str, ...]) -> pd.DataFrame:
    """Lag per org and source, with the configured lag judged as the detectors judge it."""
    return ops.source_lag(engine(), orgs, thresholds=thresholds())


@st.cache_data(ttl=TTL, show_spinner=False)
def coverage(w: Window) -> pd.DataFrame:
    """Coverage days."""
    return ops.coverage(engine(), w)


@st.cache_data(ttl=TTL, show_spinner=False)
def pruned_before(orgs: tuple[str, ...]) -> pd.Timestamp | None:
    """The newest retention horizon of these orgs' raw logins (None: nothing pruned yet)."""
    from oauthwatch.store.retention import pruned_before as horizon

    with engine().connect() as conn:
        got = [horizon(conn, o) for o in orgs] if orgs else [horizon(conn, None)]
    newest = max((g for g in got if g is not None), default=None)
    return None if newest is None else pd.Timestamp(newest)


@st.cache_data(ttl=TTL, show_spinner=False)
def api_budget(w: Window) -> pd.DataFrame:
    """DailyApiRequests readings."""
    return ops.api_budget(engine(), w)


@st.cache_data(ttl=TTL, show_spinner=False)
def quarantine(w: Window) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Quarantine counts and rows."""
    return ops.quarantine(engine(), w)


@st.cache_data(ttl=TTL, show_spinner=False)
def heartbeats() -> pd.DataFrame:
    """Service heartbeats."""
    return ops.heartbeats(engine())


@st.cache_data(ttl=TTL, show_spinner=False)
def fleet() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The workers, and per org its holder and lag, failing orgs first (docs/deploy.md, "Workers")."""
    from datetime import UTC, datetime, timedelta

    from oauthwatch.store.queries_fleet import fleet_orgs, fleet_workers

    now = datetime.now(UTC)
    ttl = timedelta(seconds=settings().lease_seconds())
    workers = pd.DataFrame(fleet_workers(engine(), now=now, ttl=ttl))
    orgs = pd.DataFrame(fleet_orgs(engine(), now=now, lag_after=thresholds().lag))
    return workers, orgs
