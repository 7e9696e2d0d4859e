"""Tokens: OAuth grants (OauthToken) by app and user; new, stale, dormant, of inactive users; how to revoke.

oauthwatch stores only a hash of each grant's DeleteToken, so it cannot (and this page does not)
show or revoke a token: revoking is done in Salesforce, as explained below.
"""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data, filters, ui
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
and POST its `DeleteToken` to `/services/oauth2/revoke` on your My Domain. To stop an app entirely,
**Block** it on the same Setup page. oauthwatch keeps only a hash of each DeleteToken, so it never
revokes anything itself.
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
    st.markdown(REVOKE)


main()
