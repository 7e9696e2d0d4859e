"""Every figure of the dashboard, as a pure function: DataFrame in, plotly Figure out.

No Streamlit and no store here, so each figure is unit-tested on ``fig.data`` (AppTest cannot look
inside charts). Times arrive in UTC and are converted to the display zone ``tz`` here, at the edge.
Colours are left to the Streamlit theme (readable in light and dark) except where a colour means
something: failures are red, coverage states are green/amber/red.
"""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

FAIL = "#d62728"
OK = "#2ca02c"
# "pruned": collected, then its raw rows removed by retention (totals still in the rollups)
COVERAGE_COLORS = {
    "complete": OK,
    "late": "#17becf",
    "partial": "#ff7f0e",
    "missing": FAIL,
    "pruned": "#9e9e9e",
}


def _local(s: pd.Series, tz: str) -> pd.Series:
    return pd.to_datetime(s, utc=True).dt.tz_convert(tz)


def _buckets(df: pd.DataFrame, tz: str) -> tuple[pd.Series, str]:
    """The x values of a rollup frame and the axis label: local hours, or UTC days for day buckets
    (long windows come from the daily rollup, whose days are UTC days)."""
    if df.attrs.get("bucket") == "day":
        return pd.to_datetime(df["hour"], utc=True).dt.strftime("%Y-%m-%d"), "day (UTC)"
    return _local(df["hour"], tz), f"time ({tz})"


def esc(value: object) -> str:
    """Text for plotly: it renders a subset of HTML (links, styles) in names, labels and hover text,
    so a name from the org (an app called ``<a href=…>``) is shown as text, never as markup."""
    return html.escape(str(value), quote=False)


def _esc_values(values: object) -> object:
    if values is None or isinstance(values, str):
        return values
    seq = list(values)  # type: ignore[call-overload]
    if not any(isinstance(v, str) for v in seq):
        return values
    return [esc(v) if isinstance(v, str) else v for v in seq]


def _escape_traces(fig: go.Figure) -> None:
    """Escape what the data put in legends, category axes and pie labels; the raw name stays in
    ``meta`` for code that maps a clicked trace back to its value."""
    for tr in fig.data:
        name = getattr(tr, "name", None)
        if name is not None:
            if tr.meta is None:
                tr.meta = name
            tr.name = esc(name)
        for attr in ("x", "y", "labels"):
            if attr in tr:
                tr[attr] = _esc_values(tr[attr])


def _layout(fig: go.Figure, title: str, **kw: object) -> go.Figure:
    _escape_traces(fig)
    fig.update_layout(
        title=esc(title), margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend_title_text="", **kw
    )
    return fig


def daily_by(df: pd.DataFrame, dim: str, tz: str, title: str = "Daily authentications") -> go.Figure:
    """Stacked bars of events per day, one trace per value of ``dim`` (e.g. application).

    Hourly buckets are grouped into the viewer's local days; day buckets (long windows, from the
    daily rollup) are UTC days and labelled so.
    """
    fig = go.Figure()
    daily = df.attrs.get("bucket") == "day"
    label = "day (UTC)" if daily else f"day ({tz})"
    if not df.empty:
        day = _buckets(df, tz)[0] if daily else _local(df["hour"], tz).dt.strftime("%Y-%m-%d")
        d = df.assign(day=day)
        d[dim] = d[dim].replace("", "(none)")
        g = d.groupby(["day", dim], as_index=False)["events"].sum()
        order = g.groupby(dim)["events"].sum().sort_values(ascending=False).index
        for value in order:
            part = g[g[dim] == value]
            fig.add_trace(go.Bar(x=part["day"], y=part["events"], name=str(value)))
    return _layout(fig, title, barmode="stack", xaxis_title=label, yaxis_title="events")


def failures_over_time(df: pd.DataFrame, tz: str, title: str = "Failures over time") -> go.Figure:
    """Failed logins (bars) and the failure rate (line, right axis) per hour, or per day when the
    frame has day buckets or spans more than three days (hourly rates on small volumes are noise)."""
    fig = go.Figure()
    label = f"time ({tz})"
    if not df.empty:
        if df.attrs.get("bucket") == "day":
            bucket, label = _buckets(df, tz)
        else:
            local = _local(df["hour"], tz)
            daily = (local.max() - local.min()) > pd.Timedelta(days=3)
            bucket = local.dt.strftime("%Y-%m-%d") if daily else local
            label = f"day ({tz})" if daily else label
        g = df.assign(bucket=bucket).groupby("bucket", as_index=False)[["events", "failures"]].sum()
        g = g.sort_values("bucket")
        x = g["bucket"]
        rate = (g["failures"] / g["events"].where(g["events"] > 0)).fillna(0) * 100
        fig.add_trace(go.Bar(x=x, y=g["failures"], name="failures", marker_color=FAIL))
        fig.add_trace(go.Scatter(x=x, y=rate, name="failure rate %", yaxis="y2", mode="lines"))
    return _layout(
        fig,
        title,
        yaxis={"title": "failures"},
        yaxis2={"title": "rate %", "overlaying": "y", "side": "right", "rangemode": "tozero"},
        xaxis_title=label,
    )


def share(df: pd.DataFrame, dim: str, title: str) -> go.Figure:
    """A donut of events per value of ``dim`` (flow mix, status mix…)."""
    fig = go.Figure()
    if not df.empty:
        g = df.groupby(dim, as_index=False)[["events"]].sum().sort_values("events", ascending=False)
        labels = g[dim].replace("", "(not reported)")
        fig.add_trace(go.Pie(labels=labels, values=g["events"], hole=0.45, sort=False))
    return _layout(fig, title)


def stacked_over_time(df: pd.DataFrame, dim: str, tz: str, title: str, value: str = "events") -> go.Figure:
    """Stacked bars per time bucket, one trace per value of ``dim`` (e.g. failure reasons over time)."""
    fig = go.Figure()
    label = f"time ({tz})"
    if not df.empty:
        x, label = _buckets(df, tz)
        g = df.assign(x=x).groupby(["x", dim], as_index=False)[value].sum()
        order = g.groupby(dim)[value].sum().sort_values(ascending=False).index
        for v in order:
            part = g[g[dim] == v].sort_values("x")
            fig.add_trace(go.Bar(x=part["x"], y=part[value], name=str(v) or "(none)"))
    return _layout(fig, title, barmode="stack", xaxis_title=label, yaxis_title=value)


def top_bar(df: pd.DataFrame, label: str, value: str, title: str, top: int = 15) -> go.Figure:
    """Horizontal bars of the ``top`` rows by ``value``."""
    fig = go.Figure()
    if not df.empty:
        d = df.sort_values(value, ascending=False).head(top).iloc[::-1]
        fig.add_trace(
            go.Bar(
                x=d[value],
                y=d[label].astype(str).replace("", "(none)"),
                orientation="h",
                marker_color=FAIL if value == "failures" else None,
            )
        )
    return _layout(fig, title, xaxis_title=value, height=max(250, 28 * min(top, len(df)) + 80))


def origins_map(ips: pd.DataFrame, title: str = "Where logins come from") -> go.Figure:
    """Bubbles on a world map: one per located origin, size = events, colour = failure rate."""
    fig = go.Figure()
    located = ips.dropna(subset=["latitude", "longitude"]) if not ips.empty else ips
    if not located.empty:
        g = located.groupby(["country", "city"], as_index=False, dropna=False).agg(
            latitude=("latitude", "mean"),
            longitude=("longitude", "mean"),
            events=("events", "sum"),
            failures=("failures", "sum"),
            ips=("source_ip", "nunique"),
        )
        rate = (g["failures"] / g["events"]).fillna(0) * 100
        peak = max(float(g["events"].max()), 1.0)
        text = [
            f"{esc(city or '?')}, {esc(country or '?')}<br>{e:,} events, {f:,} failed ({r:.0f}%)<br>{n} IP(s)"
            for city, country, e, f, r, n in zip(
                g["city"], g["country"], g["events"], g["failures"], rate, g["ips"], strict=True
            )
        ]
        fig.add_trace(
            go.Scattergeo(
                lat=g["latitude"],
                lon=g["longitude"],
                text=text,
                hoverinfo="text",
                mode="markers",
                marker={
                    "size": (8 + 32 * (g["events"] / peak) ** 0.5).round(1),
                    "color": rate,
                    "cmin": 0,
                    "cmax": 100,
                    "colorscale": "RdYlGn_r",
                    "colorbar": {"title": "fail %"},
                    "line": {"width": 0.5, "color": "#444"},
                },
                name="origins",
            )
        )
    fig.update_geos(
        projection_type="natural earth",
        showcountries=True,
        showland=True,
        landcolor="rgba(128,128,128,0.25)",
        countrycolor="rgba(128,128,128,0.6)",
        showocean=False,
        showframe=False,
        bgcolor="rgba(0,0,0,0)",
        resolution=110,
        lataxis_range=[-58, 84],  # the whole inhabited world, whatever the container's shape
        lonaxis_range=[-180, 180],
    )
    return _layout(fig, title, height=460)


def timeline(events: pd.DataFrame, audit: pd.DataFrame, tz: str, title: str = "Timeline") -> go.Figure:
    """Events (bars) and failures (red bars) per bucket, with Setup Audit Trail changes as markers."""
    fig = go.Figure()
    if not events.empty:
        x = _local(events["t"], tz)
        fig.add_trace(go.Bar(x=x, y=events["events"] - events["failures"], name="succeeded"))
        fig.add_trace(go.Bar(x=x, y=events["failures"], name="failed", marker_color=FAIL))
    if audit is not None and not audit.empty:
        top = float(events["events"].max()) if not events.empty else 1.0
        fig.add_trace(
            go.Scatter(
                x=_local(audit["created_date"], tz),
                y=[top * 1.05] * len(audit),
                mode="markers",
                marker={"symbol": "triangle-down", "size": 12, "color": "#9467bd"},
                text=[f"{esc(a)}: {esc(d)}" for a, d in zip(audit["action"], audit["display"], strict=True)],
                hoverinfo="text+x",
                name="setup change",
            )
        )
    return _layout(fig, title, barmode="stack", xaxis_title=f"time ({tz})", yaxis_title="events")


def coverage_calendar(cov: pd.DataFrame, title: str = "Coverage by day") -> go.Figure:
    """A calendar strip per source: complete / late / partial / missing / pruned per day."""
    fig = go.Figure()
    if not cov.empty:
        for status, color in COVERAGE_COLORS.items():
            part = cov[cov["status"] == status]
            if part.empty:
                continue
            fig.add_trace(
                go.Scatter(
                    x=pd.to_datetime(part["day"]).dt.strftime("%Y-%m-%d"),
                    y=part["org"] + " · " + part["source"],
                    mode="markers",
                    marker={"symbol": "square", "size": 16, "color": color},
                    name=status,
                    text=[f"{r} rows" for r in part["rows"]],
                    hoverinfo="x+y+text+name",
                )
            )
    fig.update_xaxes(type="category", categoryorder="category ascending")
    return _layout(
        fig,
        title,
        xaxis_title="day (UTC)",
        height=160 + 30 * max(1, cov["source"].nunique() if not cov.empty else 1),
    )


def budget(df: pd.DataFrame, tz: str, title: str = "API budget used (DailyApiRequests)") -> go.Figure:
    """The share of the daily API limit used, per reading, per org."""
    fig = go.Figure()
    for org, part in df.groupby("org") if not df.empty else []:
        fig.add_trace(
            go.Scatter(
                x=_local(part["read_at"], tz), y=part["used_share"] * 100, name=str(org), mode="lines+markers"
            )
        )
    return _layout(fig, title, yaxis={"title": "% used", "range": [0, 100]}, xaxis_title=f"time ({tz})")


def api_usage(df: pd.DataFrame, tz: str, title: str = "API requests (ApiTotalUsage)") -> go.Figure:
    """API requests per hour, one trace per status code."""
    fig = go.Figure()
    if not df.empty:
        for code, part in df.groupby("status_code"):
            fig.add_trace(go.Bar(x=_local(part["hour"], tz), y=part["requests"], name=str(code) or "(none)"))
    return _layout(fig, title, barmode="stack", xaxis_title=f"time ({tz})", yaxis_title="requests")
