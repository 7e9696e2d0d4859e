"""Alerts: filter, open one to read its evidence, acknowledge / resolve / suppress it, investigate it.

An open alert is in the URL (``?alert=<id>``) so a notification can link straight to it.
"""

from __future__ import annotations

import json
from datetime import timedelta

import streamlit as st

from dashboard import actions, data, filters, threat, ui
from oauthwatch.detect.lifecycle import AlertNotFound
from oauthwatch.store.queries_ops import SEVERITIES
from oauthwatch.store.writes import utcnow

STATUSES = ("open", "acknowledged", "resolved")


def _act(fn: object, *args: object) -> None:
    try:
        fn(*args)  # type: ignore[operator]
    except AlertNotFound as exc:
        st.error(str(exc))
        return
    data.clear()
    st.rerun()


def _detail(ctx: filters.Context, alert_id: int) -> None:
    a = data.alert(alert_id)
    if a is None:
        st.error(f"Alert {alert_id} does not exist. It may have been deleted; pick another below.")
        return
    sev = a["severity"].upper()
    st.subheader(f"[{sev}] {ui.esc(a['title'])}")
    status = a["status"]
    if a.get("suppressed_until") and a["suppressed_until"] > utcnow():
        status += f", suppressed until {ui.fmt_time(a['suppressed_until'], ctx.tz)}"
    st.markdown(
        f"**Status:** {status}"
        + (
            f" (by {ui.esc(a['status_by'])}, {ui.fmt_time(a['status_at'], ctx.tz)})"
            if a.get("status_by")
            else ""
        )
        + f"  \n**Detector:** {ui.esc(a['detector'])} · **Subject:** {ui.esc(a['subject_type'])} "
        + f"{ui.esc(a['subject'])} · **Org:** {ui.esc(a['org'])}"
        + f"  \n**Seen:** {a['count']}× from {ui.fmt_time(a['first_seen'], ctx.tz)} to {ui.fmt_time(a['last_seen'], ctx.tz)}"
    )
    st.markdown(ui.esc(a["explanation"]))
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**Evidence**")
        st.code(json.dumps(a.get("evidence") or {}, indent=2, default=str), language="json")
        classes = threat.evidence_networks(a.get("evidence") or {})
        if not classes.empty:
            st.markdown("**Addresses in the evidence, by network class**")
            st.dataframe(classes, key="alert_networks", hide_index=True)
    with c2:
        st.markdown("**What to do**")
        steps = a.get("runbook") or []
        st.markdown(
            "\n".join(f"{i}. {ui.esc(s)}" for i, s in enumerate(steps, 1))
            if steps
            else "No runbook for this detector."
        )
    b1, b2, b4, b5 = st.columns([1, 1, 1, 2])
    if status.startswith("open") and b1.button("Acknowledge", key="alert_ack"):
        _act(actions.acknowledge, alert_id)
    if not status.startswith("resolved") and b2.button("Resolve", key="alert_resolve"):
        _act(actions.resolve, alert_id)
    days = b5.number_input(
        "Suppress for days", min_value=1, max_value=365, value=7, key="alert_suppress_days"
    )
    if b4.button("Suppress", key="alert_suppress"):
        _act(actions.suppress, alert_id, utcnow() + timedelta(days=int(days)))
    if st.button("Investigate this alert →", key="alert_investigate", type="primary"):
        st.switch_page("views/investigate.py", query_params={**dict(st.query_params), "alert": str(alert_id)})


@ui.page
def main() -> None:
    ctx = filters.current()
    st.title("Alerts")
    st.caption(ctx.label())
    c1, c2 = st.columns(2)
    statuses = c1.multiselect("Status", STATUSES, default=["open", "acknowledged"], key="alerts_status")
    severities = c2.multiselect("Severity", SEVERITIES, key="alerts_severity")
    df = data.alerts(ctx.window, tuple(statuses), tuple(severities))
    selected = st.query_params.get("alert")
    if df.empty and not selected:
        if not data.has_logins(ctx.orgs):
            st.info(ui.NO_DATA)
        else:
            st.info(
                f"No alerts match in {ctx.label()}. Detectors raise alerts after each collection "
                "(`oauthwatch detect`); widen the range or the status filter."
            )
        return
    if not df.empty:
        shown = ui.local(df, ctx.tz, "first_seen", "last_seen")[
            [
                "id",
                "severity",
                "status",
                "title",
                "org",
                "subject_type",
                "subject",
                "count",
                "first_seen",
                "last_seen",
            ]
        ]
        pick = st.dataframe(
            shown, key="alerts_table", hide_index=True, on_select="rerun", selection_mode="single-row"
        )
        if pick and pick.selection and pick.selection.rows:
            new = str(int(shown.iloc[pick.selection.rows[0]]["id"]))
            if new != selected:
                st.query_params["alert"] = new
                selected = new
        ids = [str(i) for i in df["id"]]
        choice = st.selectbox(
            "Open alert", ["", *ids], key="alerts_open", format_func=lambda s: f"#{s}" if s else "—"
        )
        if choice and choice != selected:
            st.query_params["alert"] = choice
            selected = choice
    if selected and selected.isdigit():
        st.divider()
        _detail(ctx, int(selected))


main()
