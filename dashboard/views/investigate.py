"""Investigate: a bounded window of raw logins, from the sidebar, an alert or a clicked spike.

The only page that reads raw ``logins``, always inside a window (at most 31 days) on the
``(org, login_time)`` index. URL parameters: ``alert`` (start from an alert's window and subject),
``from``/``to`` (ISO times, UTC), and equality filters ``application``, ``user_id``, ``username``,
``source_ip``, ``country_iso``, ``login_subtype``, ``status``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import streamlit as st

from dashboard import charts, data, filters, threat, ui
from dashboard.export import safe_csv
from dashboard.summary import incident_summary
from oauthwatch.rules.network import network_label
from oauthwatch.store.queries import Window
from oauthwatch.store.queries_investigate import RAW_DIMS

MAX_SPAN = timedelta(days=31)
SUBJECT_FILTER = {"ip": "source_ip", "app": "application", "user": "username", "country": "country_iso"}
BREAKDOWNS = {
    "application": "App",
    "username": "User",
    "source_ip": "IP",
    "country_iso": "Country",
    "login_subtype": "Flow",
    "status": "Status",
}


def _parse(value: str | None) -> datetime | None:
    try:
        dt = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    return dt if dt is None or dt.tzinfo else None


def _scope(ctx: filters.Context) -> tuple[Window, dict[str, str], dict | None]:
    qp = st.query_params
    flt = {k: qp[k] for k in RAW_DIMS if qp.get(k)}
    alert = data.alert(int(qp["alert"])) if (qp.get("alert") or "").isdigit() else None
    start, end = ctx.window.start, ctx.window.end
    orgs = ctx.orgs
    if alert:
        start = (alert.get("event_start") or alert["first_seen"]) - timedelta(hours=1)
        end = (alert.get("event_end") or alert["last_seen"]) + timedelta(hours=1)
        orgs = (alert["org"],)
        dim = SUBJECT_FILTER.get(alert["subject_type"])
        if dim and dim not in flt:
            flt[dim] = alert["subject"]
    s, e = _parse(qp.get("from")), _parse(qp.get("to"))
    if s and e and s < e:
        start, end = s, e
    if end - start > MAX_SPAN:
        st.warning(
            f"Investigate reads raw events, so the window is capped at {MAX_SPAN.days} days: showing the last {MAX_SPAN.days}."
        )
        start = end - MAX_SPAN
    return Window(start, end, orgs), flt, alert


@ui.page
def main() -> None:
    ctx = filters.current()
    st.title("Investigate")
    ui.pruned_note(ctx, rollups=False)
    if not ui.has_data(ctx):
        return
    w, flt, alert = _scope(ctx)
    source = data.primary_source(w.orgs[0] if w.orgs else None)
    if alert:
        st.info(f"From alert #{alert['id']}: {ui.esc(alert['title'])}")
    st.caption(f"Window: {ui.fmt_time(w.start, ctx.tz)} → {ui.fmt_time(w.end, ctx.tz)}")
    c1, c2, c3 = st.columns([2, 2, 1])
    new_start = c1.datetime_input(
        "From", value=w.start.astimezone(ctx.zone).replace(tzinfo=None), key="inv_from", step=60
    )
    new_end = c2.datetime_input(
        "To", value=w.end.astimezone(ctx.zone).replace(tzinfo=None), key="inv_to", step=60
    )
    if c3.button("Apply window", key="inv_apply") and new_start and new_end:
        st.query_params["from"] = new_start.replace(tzinfo=ctx.zone).astimezone(w.start.tzinfo).isoformat()
        st.query_params["to"] = new_end.replace(tzinfo=ctx.zone).astimezone(w.start.tzinfo).isoformat()
        st.rerun()
    if flt:
        st.markdown("**Filters:** " + ", ".join(f"{k} = {ui.esc(v)}" for k, v in flt.items()))
        if st.button("Clear filters", key="inv_clear"):
            for k in [*flt, "alert"]:
                if k in st.query_params:
                    del st.query_params[k]
            st.rerun()
    default_minute = (w.end - w.start) <= timedelta(days=2)
    res = st.radio(
        "Resolution", ["minute", "hour"], index=0 if default_minute else 1, horizontal=True, key="inv_res"
    )
    key_f = tuple(sorted(flt.items()))
    found = data.investigate(w, key_f, res == "minute", source)
    tl = found["timeline"]
    if not ui.window_has_rows(
        tl, "logins matching these filters", filters.Context(w, ctx.tz, ctx.range_key, ctx.org)
    ):
        return
    audit = data.audit_events(w)
    event = ui.chart(
        charts.timeline(tl, audit, ctx.tz, f"Logins per {res} (click a bar to zoom)"),
        key="inv_timeline",
        on_select="rerun",
        selection_mode="points",
    )
    sel = getattr(event, "selection", None)
    points = list(sel.points) if sel else []
    if points and points[0].get("x"):
        t0 = pd.Timestamp(points[0]["x"])
        t0 = t0.tz_localize(ctx.tz) if t0.tzinfo is None else t0
        span = timedelta(minutes=1) if res == "minute" else timedelta(hours=1)
        st.query_params["from"] = (t0 - span * 5).tz_convert("UTC").isoformat()
        st.query_params["to"] = (t0 + span * 6).tz_convert("UTC").isoformat()
        st.rerun()
    st.subheader("Breakdowns")
    cols = st.columns(3)
    frames: dict[str, pd.DataFrame] = {}
    for i, (dim, label) in enumerate(BREAKDOWNS.items()):
        frames[dim] = found["breakdowns"][dim]
        if dim == "source_ip":  # hosting / vpn / tor, from oauthwatch's offline ranges
            frames[dim] = threat.with_network_class(frames[dim])
        with cols[i % 3]:
            st.markdown(f"**{label}**")
            st.dataframe(frames[dim], key=f"inv_by_{dim}", hide_index=True, height=220)
    if "network" in found["breakdowns"]:
        nets, note = found["breakdowns"]["network"], "(/24, /48)"
    else:  # past the raw-row limit: networks of the top IPs only
        ips = frames["source_ip"]
        nets = (
            ips.assign(network=[network_label(x) for x in ips["source_ip"]])
            .groupby("network", as_index=False)[["events", "failures"]]
            .sum()
            if not ips.empty
            else ips
        )
        note = "(/24, /48; from the top IPs)"
    st.markdown(f"**Network** {note}")
    st.dataframe(nets, key="inv_by_network", hide_index=True)
    if not audit.empty:
        st.subheader("Setup changes in the window")
        st.dataframe(ui.local(audit, ctx.tz, "created_date"), key="inv_audit", hide_index=True)
    raw = found["raw"]
    more = "" if found["complete"] else " — the newest only; narrow the window to see all"
    st.subheader(f"Raw events ({len(raw):,}{more})")
    st.dataframe(ui.local(raw, ctx.tz, "login_time"), key="inv_raw", hide_index=True)
    st.download_button(
        "Export CSV",
        safe_csv(raw),
        file_name="oauthwatch-investigation.csv",
        mime="text/csv",
        key="inv_export",
    )
    st.subheader("Incident summary")
    st.caption("Copy this into the incident record (the copy icon is at the top right of the box).")
    st.code(incident_summary(w, flt, tl, frames, audit, alert, ctx.tz), language="markdown")


main()
