"""Overview: the headline numbers against the previous period, daily volume by app, failures, flows."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data, filters, ui


@ui.page
def main() -> None:
    ctx = filters.current()
    st.title("Overview")
    st.caption(ctx.label())
    ui.pruned_note(ctx)
    if not ui.has_data(ctx):
        return
    now, before = data.kpis(ctx.window), data.kpis(ctx.window.previous())
    ui.metric_row(
        [
            ("Auth events", f"{now['events']:,}", ui.delta(now["events"], before["events"]), "normal"),
            (
                "Failure rate",
                f"{now['failure_rate']:.1%}",
                ui.delta(now["failure_rate"], before["failure_rate"], pct=True),
                "inverse",
            ),
            ("Active apps", f"{now['apps']}", ui.delta(now["apps"], before["apps"]), "off"),
            ("Distinct users", f"{now['users']}", ui.delta(now["users"], before["users"]), "off"),
            ("Countries", f"{now['countries']}", ui.delta(now["countries"], before["countries"]), "inverse"),
            (
                "New alerts",
                f"{now['new_alerts']}",
                ui.delta(now["new_alerts"], before["new_alerts"]),
                "inverse",
            ),
            ("Open alerts now", f"{data.open_alerts(ctx.orgs)}", None, "off"),
        ]
    )
    st.caption(
        "Changes are against the previous period of the same length. Distinct users count whole UTC days."
    )
    hourly_app = data.rollup(ctx.window, ("application",), by_hour=True)
    if not ui.window_has_rows(hourly_app, "logins", ctx):
        return
    fig = charts.daily_by(
        hourly_app, "application", ctx.tz, "Daily authentications by app (click a bar to investigate)"
    )
    event = ui.chart(fig, key="ov_daily", on_select="rerun", selection_mode="points")
    target = ui.spike_target(fig, event, "UTC" if hourly_app.attrs.get("bucket") == "day" else ctx.tz)
    if target:
        st.switch_page("views/investigate.py", query_params={**dict(st.query_params), **target})
    left, right = st.columns(2)
    with left:
        hourly = data.rollup(ctx.window, (), by_hour=True)
        ui.chart(charts.failures_over_time(hourly, ctx.tz), key="ov_failures")
    with right:
        flows = data.rollup(ctx.window, ("login_subtype",))
        ui.chart(charts.share(flows, "login_subtype", "Flow mix (LoginSubType)"), key="ov_flows")


main()
