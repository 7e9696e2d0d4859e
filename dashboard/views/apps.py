"""Apps: every connected app and External Client App (its kind in a column) with usage, flows, users,
grants, posture and allowlisting; one app in detail.

The detail view is the same page with ``?app=<name>`` in the URL, so it can be linked to.
"""

from __future__ import annotations

import streamlit as st

from dashboard import actions, charts, data, filters, status_texts, threat, ui


def _list(ctx: filters.Context) -> None:
    st.title("Apps")
    st.caption(ctx.label())
    apps = data.apps_overview(ctx.window)
    if apps.empty:
        if ui.has_data(ctx):
            st.info(
                "No apps seen yet: run `oauthwatch collect` with the connected_apps and "
                "external_client_apps sources enabled."
            )
        return
    st.caption(
        "Connected Apps and External Client Apps alike (kind). Select a row to open the app. "
        "Posture lists risky policy settings in plain words."
    )
    view = apps.drop(columns=["app_id"])
    picked = st.dataframe(
        view,
        key="apps_table",
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        column_config={
            "failure_rate": st.column_config.ProgressColumn(
                "failure rate", format="percent", min_value=0, max_value=1
            ),
            "last_use": st.column_config.DatetimeColumn(
                "last use", timezone=ctx.tz, format="YYYY-MM-DD HH:mm"
            ),
            "allowlisted": st.column_config.CheckboxColumn("allowlisted"),
        },
    )
    rows = picked.selection.rows if picked and picked.selection else []
    choice = st.selectbox("Open an app", ["", *apps["app"]], key="apps_open", format_func=lambda s: s or "—")
    if rows:
        choice = str(view.iloc[rows[0]]["app"])
    if choice:
        st.query_params["app"] = choice
        st.rerun()


def _detail(ctx: filters.Context, app: str) -> None:
    if st.button("← All apps", key="app_back"):
        del st.query_params["app"]
        st.rerun()
    st.title(ui.esc(app))
    st.caption(ctx.label())
    row = data.apps_overview(ctx.window, only=app)
    info = row.iloc[0].to_dict() if not row.empty else {}
    ui.metric_row(
        [
            ("Auth events", f"{info.get('events', 0):,}", None, "off"),
            ("Failure rate", f"{info.get('failure_rate', 0.0):.1%}", None, "off"),
            ("Users", f"{info.get('users', 0)}", None, "off"),
            ("Grants", f"{info.get('grants', 0)}", None, "off"),
            ("API requests", f"{info.get('api_requests', 0):,}", None, "off"),
        ]
    )
    st.markdown(f"**Kind:** {ui.esc(info.get('kind') or 'unknown (policy not collected)')}")
    st.markdown(f"**Posture:** {ui.esc(info.get('posture') or 'no risky setting found')}")
    _allowlist(ctx, app, bool(info.get("allowlisted")))
    hourly = data.rollup(ctx.window, ("login_subtype", "status", "success"), by_hour=True, application=app)
    t1, t2, t3, t4, t5 = st.tabs(["Logins", "Grants", "API usage", "Policy & changes", "Audit trail"])
    with t1:
        if hourly.empty and data.primary_source(ctx.org) == "elf_login":
            st.info(status_texts.ELF_LOGIN_NO_APP)
        elif ui.window_has_rows(hourly, f"logins for {app}", ctx):
            ui.chart(
                charts.daily_by(hourly, "login_subtype", ctx.tz, "Daily logins by flow"), key="app_daily"
            )
            ui.chart(charts.failures_over_time(hourly, ctx.tz), key="app_fail")
            st.dataframe(data.users_by(ctx.window, app), key="app_users", hide_index=True)
            if st.button("Investigate this app", key="app_investigate"):
                st.switch_page(
                    "views/investigate.py", query_params={"application": app, **dict(st.query_params)}
                )
    with t2:
        st.caption("Grants of this app, riskiest first, with why (its users' power, its policy).")
        threat.show_inventory(ctx.orgs, app, key="app_grants")
        threat.revoke_panel(ctx.orgs, app)
    with t3:
        usage = data.api_usage(ctx.window, app)
        if ui.window_has_rows(usage, "ApiTotalUsage rows", ctx):
            ui.chart(charts.api_usage(usage, ctx.tz), key="app_api")
        st.caption(
            "Data movement: what the app's calls touched (resource, object, user, address) against its baseline."
        )
        threat.show_movement(ctx.orgs, app, ctx.window.start, ctx.window.end)
    with t4:
        pol = data.connected_apps(ctx.orgs)
        pol = pol[pol["name"] == app]
        if pol.empty:
            st.info(
                "Policy not collected yet: enable the connected_apps and external_client_apps sources "
                "and run `oauthwatch collect`."
            )
        else:
            st.dataframe(pol.drop(columns=["details"]).T.astype(str), key="app_policy")
            st.dataframe(data.app_changes(ctx.orgs, info.get("app_id")), key="app_changes", hide_index=True)
    with t5:
        audit = data.audit_events(ctx.window, app)
        if ui.window_has_rows(audit, f"Setup Audit Trail changes naming {app}", ctx):
            st.dataframe(ui.local(audit, ctx.tz, "created_date"), key="app_audit", hide_index=True)


def _allowlist(ctx: filters.Context, app: str, listed: bool) -> None:
    if listed:
        st.success(f"{ui.esc(app)} is on the allowlist.")
        if st.button("Remove from allowlist", key="app_unallow"):
            actions.unallow_app(app, ctx.org)
            data.clear()
            st.rerun()
        return
    st.warning(f"{ui.esc(app)} is not on the allowlist.")
    with st.form("app_allow_form"):
        owner = st.text_input("Owner (who answers for this app)", key="app_allow_owner")
        note = st.text_input("Why it is approved", key="app_allow_note")
        if st.form_submit_button("Add to allowlist", key="app_allow_submit"):
            actions.allow_app(app, ctx.org, owner=owner or None, note=note or None)
            data.clear()
            st.rerun()


@ui.page
def main() -> None:
    ctx = filters.current()
    app = st.query_params.get("app")
    if app:
        _detail(ctx, app)
    else:
        _list(ctx)


main()
