"""Small pieces every page uses: empty states, store errors, time-zone conversion, charts, metrics.

Kept here so pages stay short and behave the same: an empty store always says how to connect an
org, a store error is an ``st.error`` with the command to run (never a traceback), and times are
converted from UTC to the display zone only at the moment they are shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from dashboard import data

if TYPE_CHECKING:
    from plotly.graph_objects import Figure

    from dashboard.filters import Context

NO_DATA = (
    "**No login data collected yet.** Connect an org, then collect:\n\n"
    "1. Try the local org: `oauthwatch simulate` starts a Salesforce-like org on this machine and writes a "
    "ready configuration;\n"
    "2. or connect a real org: follow `docs/connect.md` (a Connected App, a certificate, an integration user);\n"
    "3. then run `oauthwatch collect` (or `oauthwatch run` to keep collecting) and reload this page."
)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def esc(value: object) -> str:
    """``value`` as literal text inside Streamlit markdown (names and messages come from logins,
    i.e. from whoever tries to log in: no links, images, emphasis or directives from them)."""
    return _MD_SPECIAL.sub(r"\\\1", str(value)).replace("\n", " ")


def page(fn: Callable[[], None]) -> Callable[[], None]:
    """Run a page body, turning store errors into an actionable message instead of a traceback."""

    @wraps(fn)
    def run() -> None:
        from oauthwatch.errors import StoreUnavailable

        try:
            fn()
        except (SQLAlchemyError, StoreUnavailable) as exc:  # StoreUnavailable: open_store's own wording
            from oauthwatch.secrets import redact

            cause = getattr(exc, "orig", None) or exc
            st.error(
                f"The store at `{data.store_label()}` could not be read: {redact(str(cause))[:300]}\n\n"
                "Check `[store] url` in the configuration (or `$OAUTHWATCH_STORE_URL`), that the database is "
                "reachable, and run `oauthwatch db upgrade` if the schema is behind."
            )

    return run


def has_data(ctx: Context) -> bool:
    """True when the store has logins for the selected org; otherwise show how to get some."""
    if not data.has_logins(ctx.orgs):
        st.info(NO_DATA)
        return False
    return True


def pruned_note(ctx: Context, *, rollups: bool = True) -> None:
    """Say when the window reaches before the retention horizon: those days are pruned, not missing."""
    horizon = data.pruned_before(ctx.orgs)
    if horizon is None or ctx.window.start >= horizon:
        return
    day = horizon.tz_convert(ctx.tz).strftime("%Y-%m-%d %H:%M")
    shown = (
        "the charts show those days from the rollups, which are kept longer"
        if rollups
        else "their individual events are no longer stored; the Overview shows their totals from the rollups"
    )
    st.info(f"Raw events before {day} were pruned by retention (`[store.retention]`): {shown}.")


def window_has_rows(df: pd.DataFrame, what: str, ctx: Context) -> bool:
    """True when ``df`` has rows; otherwise say nothing matched and what to try."""
    if df is None or df.empty:
        st.info(f"No {what} in {ctx.label()}. Widen the time range or choose another org in the sidebar.")
        return False
    return True


def local(df: pd.DataFrame, tz: str, *cols: str) -> pd.DataFrame:
    """A copy of ``df`` with the given UTC datetime columns converted to ``tz`` (display only)."""
    out = df.copy()
    for c in cols:
        if c in out and len(out):
            out[c] = pd.to_datetime(out[c], utc=True).dt.tz_convert(tz)
    return out


def fmt_time(value: Any, tz: str) -> str:
    """One timestamp in the display zone, or an em dash."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return "—"
    return pd.Timestamp(value).tz_convert(tz).strftime("%Y-%m-%d %H:%M %Z")


def delta(now: float, before: float, pct: bool = False) -> str | None:
    """The change against the previous period, as text for ``st.metric``."""
    if pct:
        return None if now == before == 0 else f"{(now - before) * 100:+.1f} pp"
    if before == 0:
        return None if now == 0 else "new"
    return f"{(now - before) / before * 100:+.0f}%"


def metric_row(items: list[tuple[str, str, str | None, str]]) -> None:
    """A row of metrics: (label, value, delta, delta_color)."""
    cols = st.columns(len(items))
    for col, (label, value, d, color) in zip(cols, items, strict=True):
        col.metric(label, value, d, delta_color=color)  # type: ignore[arg-type]


def topojson_url() -> str:
    """Where plotly finds its map geometry: our own static folder, never the internet."""
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}/app/static/topojson/" if base else "/app/static/topojson/"


def chart(fig: Figure, key: str, **kwargs: Any) -> Any:
    """Show a plotly figure with the offline map geometry and no plotly logo."""
    config = {"topojsonURL": topojson_url(), "displaylogo": False}
    return st.plotly_chart(fig, key=key, config=config, **kwargs)


def spike_target(fig: object, event: object, tz: str) -> dict[str, str] | None:
    """The Investigate parameters for a clicked bar: that day (in the chart's zone) and that app."""
    sel = getattr(event, "selection", None)
    points = list(sel.points) if sel else []
    if not points or not points[0].get("x"):
        return None
    day = pd.Timestamp(str(points[0]["x"])[:10]).tz_localize(tz)
    params = {
        "from": day.tz_convert("UTC").isoformat(),
        "to": (day + pd.Timedelta(days=1)).tz_convert("UTC").isoformat(),
    }
    curve = points[0].get("curve_number")
    traces = getattr(fig, "data", ())
    if isinstance(curve, int) and 0 <= curve < len(traces):
        meta = getattr(traces[curve], "meta", None)
        raw = meta if isinstance(meta, str) else traces[curve].name  # meta: the unescaped name
        if raw not in (None, "(none)"):
            params["application"] = str(raw)
    return params
