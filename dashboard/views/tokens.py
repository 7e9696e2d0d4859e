"""Tokens: OAuth grants (OauthToken) by app and user, each app marked Connected App or External Client
App; new, stale, dormant, of inactive users; how to revoke.

The risk ranking joins each grant to its user's power and its app's policy (oauthwatch.grants).
oauthwatch stores only a hash of each grant's DeleteToken; revoking reads the live grants from the
org at that moment (dashboard.threat, behind the login and ``[response] allow_revoke``).
"""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data, filters, threat, ui
from oauthwatch.rules.thresholds import Thresholds


def kinds(t: Thresholds) -> dict[str, str]:
    """The grant filters, worded with the configured stale and dormant days (the detectors' own)."""
    return {
        "all": "All grants",
        "new": "New in this period",
        "stale": f"Stale (not used for over {t.stale_grant_days} days)",
        "dormant": f"Dormant (unused for {t.dormant_grant_days}–{t.stale_grant_days} days)",
        "inactive_user": "Held by inactive users",
    }


REVOKE = """
**How to revoke a grant.** In Salesforce: *Setup → Connected Apps OAuth Usage*, click the app's
**User Count**, then **Revoke** on the user's row (or **Revoke All**). A user can also revoke their
own grants under *Settings → Connected Apps*. For a script, query `OauthToken` for the user and app
and POST its `DeleteToken` to `/services/oauth2/revoke` on your My Domain. An External Client App's
grants (kind in the table) are revoked the same way, or through the Connect REST API's OAuth Usage
resources (`/apps/oauth/usage/…/tokens`). To stop an app entirely,
**Block** it on the same Setup page. oauthwatch can do the same for you: `oauthwatch revoke --app APP`,
or the app's page here (both need `[response] allow_revoke = true`; a dry run comes first).
"""


@ui.page
def main() -> None:
    ctx = filters.current()
    st.title("Tokens")
    st.caption("Grants as of the newest OauthToken snapshot; “new” uses the selected period.")
    g = data.grants(ctx.window)
    if g.empty:
        if ui.has_data(ctx):
            st.info(
                "No OauthToken snapshot yet: enable the oauth_tokens source and run `oauthwatch collect`."
            )
        return
    ui.metric_row(
        [
            ("Grants", f"{len(g):,}", None, "off"),
            ("New", f"{int(g['new'].sum())}", None, "off"),
            ("Stale", f"{int(g['stale'].sum())}", None, "off"),
            ("Dormant", f"{int(g['dormant'].sum())}", None, "off"),
            ("Inactive users", f"{int(g['inactive_user'].sum())}", None, "off"),
        ]
    )
    by_app = g.groupby("app_name", as_index=False).agg(
        grants=("user_id", "size"), users=("user_id", "nunique")
    )
    ui.chart(charts.top_bar(by_app, "app_name", "grants", "Grants by app"), key="tok_by_app")
    labels = kinds(data.thresholds())
    c1, c2 = st.columns(2)
    kind = c1.selectbox("Show", list(labels), format_func=labels.__getitem__, key="tok_kind")
    app = c2.selectbox(
        "App", ["", *sorted(g["app_name"].unique())], key="tok_app", format_func=lambda s: s or "All apps"
    )
    view = g if kind == "all" else g[g[kind]]
    if app:
        view = view[view["app_name"] == app]
    if ui.window_has_rows(view, labels[kind].lower(), ctx):
        st.dataframe(
            ui.local(view, ctx.tz, "created_date", "last_used_date"),
            key="tok_table",
            hide_index=True,
            column_order=[
                "org",
                "app_name",
                "app_kind",
                "username",
                "user_id",
                "is_active",
                "created_date",
                "last_used_date",
                "use_count",
                "new",
                "stale",
                "dormant",
            ],
        )
    st.subheader("Risk ranking")
    st.caption(
        "Every live grant, riskiest first: the user's power and state, the app's scopes and policy, with the reason in words."
    )
    threat.show_inventory(ctx.orgs, app or None, key="tok_risk")
    if app:
        threat.revoke_panel(ctx.orgs, app)
    st.markdown(REVOKE)


main()
