"""Failures: failure rate and reasons over time; by app, user and IP; what each Status text means."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, data, filters, ui
from dashboard.status_texts import explain


@ui.page
def main() -> None:
    ctx = filters.current()
    st.title("Failures")
    st.caption(ctx.label())
    if not ui.has_data(ctx):
        return
    apps = data.rollup(ctx.window, ("application",))
    app_names = sorted(a for a in apps["application"] if a)
    app = st.selectbox("App", ["", *app_names], key="fail_app", format_func=lambda s: s or "All apps") or None
    hourly = data.rollup(ctx.window, ("status", "success"), by_hour=True, application=app)
    failed = hourly[~hourly["success"].astype(bool)] if not hourly.empty else hourly
    events = int(hourly["events"].sum()) if not hourly.empty else 0
    fails = int(failed["events"].sum()) if not failed.empty else 0
    ui.metric_row(
        [
            ("Failed logins", f"{fails:,}", None, "off"),
            ("Failure rate", f"{(fails / events if events else 0):.1%}", None, "off"),
            ("Distinct reasons", f"{failed['status'].nunique() if not failed.empty else 0}", None, "off"),
            ("All logins", f"{events:,}", None, "off"),
        ]
    )
    if not ui.window_has_rows(failed, "failed logins", ctx):
        return
    ui.chart(charts.failures_over_time(hourly, ctx.tz, "Failures and failure rate"), key="fail_rate")
    ui.chart(
        charts.stacked_over_time(failed, "status", ctx.tz, "Failure reasons over time"), key="fail_reasons"
    )
    by_app = data.rollup(ctx.window, ("application",))
    users = data.users_by(ctx.window, app)
    ips = data.ips_by(ctx.window, app)
    c1, c2, c3 = st.columns(3)
    with c1:
        ui.chart(
            charts.top_bar(by_app[by_app["failures"] > 0], "application", "failures", "By app"),
            key="fail_by_app",
        )
    with c2:
        u = users[users["failures"] > 0].assign(who=lambda d: d["username"].fillna(d["user_id"]))
        ui.chart(charts.top_bar(u, "who", "failures", "By user"), key="fail_by_user")
    with c3:
        ui.chart(charts.top_bar(ips[ips["failures"] > 0], "source_ip", "failures", "By IP"), key="fail_by_ip")
    st.subheader("What each reason means and how to fix it")
    reasons = (
        failed.groupby("status", as_index=False)[["events"]].sum().sort_values("events", ascending=False)
    )
    rows = []
    for status, n in zip(reasons["status"], reasons["events"], strict=True):
        meaning, fix = explain(status)
        rows.append({"status": status or "(no status)", "failures": int(n), "meaning": meaning, "fix": fix})
    st.dataframe(
        pd.DataFrame(rows),
        key="fail_reason_help",
        hide_index=True,
        column_config={"fix": st.column_config.TextColumn(width="large")},
    )
    pick = st.selectbox("Investigate a reason", ["", *reasons["status"]], key="fail_investigate")
    if pick:
        st.switch_page("views/investigate.py", query_params={**dict(st.query_params), "status": pick})


main()
