"""Collection: is what we show complete? Runs, lag per source, coverage calendar, API budget, quarantine."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data, filters, status_texts, ui


def _fleet() -> None:
    """Which worker holds which org, and each org's lag, failing orgs first."""
    workers, orgs = data.fleet()
    if workers.empty:
        return
    st.subheader("Fleet")
    alive = int((workers["health"] == "running").sum())
    st.caption(
        f"{alive} worker(s) running; each holds its share of the orgs and collects, detects and sends "
        "the digest for those (docs/deploy.md, Workers). Failing orgs first, then the most lagging."
    )
    st.dataframe(workers[["worker", "health", "orgs", "beat_at"]], key="col_fleet_workers", hide_index=True)
    if not orgs.empty:
        orgs = orgs.assign(lag_minutes=(orgs["lag_seconds"].astype("float") / 60).round(1))
        cols = ["org", "failing", "lease", "worker", "lag_minutes", "problems"]
        st.dataframe(orgs[cols], key="col_fleet_orgs", hide_index=True)


@ui.page
def main() -> None:
    ctx = filters.current()
    st.title("Collection")
    st.caption(ctx.label())
    runs = data.collector_runs(ctx.window)
    lag = data.source_lag(ctx.orgs)
    beats = data.heartbeats()
    if runs.empty and lag.empty and beats.empty:
        st.info(ui.NO_DATA)
        return
    st.subheader("Service health")
    if beats.empty:
        st.info(
            "No long-running service has reported yet. `oauthwatch run` keeps collecting and reports here."
        )
    else:
        for beat in beats.to_dict("records"):
            healthy = beat["state"] == "running" and beat["seconds_ago"] < 3600
            icon = ":material/check_circle:" if healthy else ":material/warning:"
            st.markdown(
                f"{icon} **{ui.esc(beat['component'])}** (pid {beat['pid']}) {ui.esc(beat['state'])}, "
                f"last heartbeat {int(beat['seconds_ago'])} s ago"
            )
    _fleet()
    st.subheader("Lag per source")
    st.caption(
        "Minutes since the last successful run of each source; lagging after "
        f"{data.thresholds().lag_minutes} minutes (`[detect.collection_health] lag_minutes`), "
        "as the collection-health alert and the digest judge it."
    )
    st.dataframe(ui.local(lag, ctx.tz, "last_run", "last_success"), key="col_lag", hide_index=True)
    failing = lag[lag["outcome"].isin(["failed", "budget"])] if not lag.empty else lag
    for row in failing.itertuples(index=False):
        st.error(
            f"{ui.esc(row.org)} · {ui.esc(row.source)}: last run {row.outcome}: {ui.esc(row.error or 'no error text')}"
        )
    ui.pruned_note(ctx)
    cov = data.coverage(ctx.window)
    if not cov.empty:
        own = cov[cov["note"].fillna("").astype(str).str.startswith("own rows only")]
        for (org, source), grp in own.groupby(["org", "source"]):
            st.warning(
                f"{ui.esc(org)} · {ui.esc(source)}: partial (own rows only) on {len(grp)} day(s): "
                f"{ui.esc(grp['note'].iloc[-1])}. Run `oauthwatch check` for the permission to grant."
            )
        ui.chart(charts.coverage_calendar(cov), key="col_coverage")
    else:
        st.info("No coverage recorded for this period yet.")
    budget = data.api_budget(ctx.window)
    if not budget.empty:
        ui.chart(charts.budget(budget, ctx.tz), key="col_budget")
    with st.expander("Which views each source can feed"):
        st.dataframe(
            [{"source": s, "feeds": f, "cannot feed": c} for s, f, c in status_texts.SOURCE_VIEWS],
            key="col_source_views",
            hide_index=True,
        )
    st.subheader("Runs")
    if ui.window_has_rows(runs, "collector runs", ctx):
        st.dataframe(
            ui.local(runs, ctx.tz, "started_at", "finished_at").drop(
                columns=["cursor_before", "cursor_after"]
            ),
            key="col_runs",
            hide_index=True,
        )
    st.subheader("Quarantined records")
    counts, rows = data.quarantine(ctx.window)
    if counts.empty:
        st.success("Nothing quarantined in this period.")
    else:
        st.dataframe(counts, key="col_quarantine_counts", hide_index=True)
        st.dataframe(ui.local(rows, ctx.tz, "received_at"), key="col_quarantine_rows", hide_index=True)


main()
