"""The shared sidebar: org, time range and display time zone, kept in the URL so links can be shared.

On a session's first run the widgets start from the URL's query parameters (``org``, ``range``,
``start``, ``end``, ``tz``); on every run the current choices are written back to the URL, on
whichever page is open. Pages get the result with :func:`current`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

import streamlit as st

from dashboard import data
from oauthwatch.store.queries import Window

RANGES: dict[str, str] = {
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "custom": "Custom dates",
}
_DAYS = {"24h": 1, "7d": 7, "30d": 30, "90d": 90}
COMMON_TZ = (
    "UTC",
    "America/Los_Angeles",
    "America/New_York",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Paris",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
)
ALL = "All orgs"


@dataclass(frozen=True)
class Context:
    """What every page filters on."""

    window: Window
    tz: str
    range_key: str
    org: str | None

    @property
    def orgs(self) -> tuple[str, ...]:
        """The selected orgs (empty: all)."""
        return self.window.orgs

    @property
    def zone(self) -> ZoneInfo:
        """The display time zone."""
        return ZoneInfo(self.tz)

    def label(self) -> str:
        """The window in words, in the display zone."""
        fmt = "%Y-%m-%d %H:%M"
        s = self.window.start.astimezone(self.zone).strftime(fmt)
        e = self.window.end.astimezone(self.zone).strftime(fmt)
        return f"{s} → {e} ({self.tz})"


def _valid_tz(tz: str | None) -> str:
    return tz if tz and tz in available_timezones() | {"UTC"} else "UTC"


def _parse_day(value: str | None, default: date) -> date:
    try:
        return date.fromisoformat(value) if value else default
    except ValueError:
        return default


def _seed_from_url(org_names: list[str]) -> None:
    if st.session_state.get("_ow_seeded"):
        return
    qp = st.query_params
    org = qp.get("org")
    st.session_state["ow_org"] = org if org in org_names else ALL
    rng = qp.get("range", "7d")
    st.session_state["ow_range"] = rng if rng in RANGES else "7d"
    st.session_state["ow_tz"] = _valid_tz(qp.get("tz"))
    today = datetime.now(UTC).date()
    st.session_state["ow_start"] = _parse_day(qp.get("start"), today - timedelta(days=7))
    st.session_state["ow_end"] = _parse_day(qp.get("end"), today)
    st.session_state["_ow_seeded"] = True


def sidebar() -> Context:
    """Draw the shared filters in the sidebar and return the context pages use."""
    try:
        org_names = data.orgs()
    except Exception:  # noqa: BLE001 - the page shows the store error with a hint
        org_names = []
    _seed_from_url(org_names)
    with st.sidebar:
        st.selectbox("Org", [ALL, *org_names], key="ow_org", help="Which monitored org to show.")
        st.selectbox("Time range", list(RANGES), format_func=RANGES.__getitem__, key="ow_range")
        if st.session_state["ow_range"] == "custom":
            st.date_input("From", key="ow_start")
            st.date_input("To (inclusive)", key="ow_end")
        tzs = list(COMMON_TZ)
        if st.session_state["ow_tz"] not in tzs:
            tzs.append(st.session_state["ow_tz"])
        st.selectbox(
            "Display time zone", tzs, key="ow_tz", help="Data is stored in UTC; this only changes display."
        )
    ctx = build_context(
        st.session_state["ow_org"],
        st.session_state["ow_range"],
        st.session_state["ow_tz"],
        st.session_state.get("ow_start"),
        st.session_state.get("ow_end"),
    )
    params = {"org": ctx.org or "", "range": ctx.range_key, "tz": ctx.tz}
    if ctx.range_key == "custom":
        params |= {"start": str(st.session_state["ow_start"]), "end": str(st.session_state["ow_end"])}
    else:
        for k in ("start", "end"):
            if k in st.query_params:
                del st.query_params[k]
    for k, v in params.items():
        if not v:
            if k in st.query_params:
                del st.query_params[k]
        elif st.query_params.get(k) != v:
            st.query_params[k] = v
    st.session_state["ow_ctx"] = ctx
    return ctx


def build_context(
    org: str | None,
    range_key: str,
    tz: str,
    start: date | None = None,
    end: date | None = None,
    now: datetime | None = None,
) -> Context:
    """The context for these choices (pure: tested without Streamlit)."""
    tz = _valid_tz(tz)
    orgs = () if org in (None, "", ALL) else (str(org),)
    if range_key == "custom" and start and end:
        if end < start:
            start, end = end, start
        zone = ZoneInfo(tz)
        s = datetime.combine(start, time(0), zone).astimezone(UTC)
        e = datetime.combine(end + timedelta(days=1), time(0), zone).astimezone(UTC)
        w = Window(s, e, orgs)
    else:
        range_key = range_key if range_key in _DAYS else "7d"
        w = Window.last(days=_DAYS[range_key], orgs=orgs, now=now)
    return Context(window=w, tz=tz, range_key=range_key, org=orgs[0] if orgs else None)


def current() -> Context:
    """The context the sidebar computed on this run."""
    ctx = st.session_state.get("ow_ctx")
    return ctx if isinstance(ctx, Context) else sidebar()
