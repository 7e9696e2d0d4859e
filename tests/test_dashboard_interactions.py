"""AppTest interactions on the dashboard: filters kept in the URL change what is shown, and actions
(allowlist, acknowledge, resolve, suppress) change the store. Fixtures and helpers come from
test_dashboard_pages (a seeded SQLite store the app reads through $OAUTHWATCH_STORE_URL)."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import select

from oauthwatch.store import schema
from tests.dashboard_helpers import APP, NOW, metric, run_page, seeded_template, store_env, texts
from tests.factories import seed_store

__all__ = ["seeded_template", "store_env"]  # the fixtures, re-exported for pytest


def test_overview_numbers_match_the_store_and_follow_the_range(store_env):
    _, facts = store_env
    at = run_page("overview", {"range": "90d"})
    assert metric(at, "Auth events") == f"{facts.logins:,}"
    assert metric(at, "Active apps") == "4"
    at.sidebar.selectbox(key="ow_range").set_value("24h").run()
    day = int(metric(at, "Auth events").replace(",", ""))
    assert 0 < day < facts.logins
    assert at.query_params["range"] == ["24h"] or at.query_params["range"] == "24h"


def test_org_filter_comes_from_the_url_and_filters(store_env):
    engine, facts = store_env
    seed_store(engine, org="beta", days=3, per_hour=2, seed=3, now=NOW)
    st.cache_data.clear()
    both = run_page("overview", {"range": "90d"})
    only = run_page("overview", {"range": "90d", "org": "beta"})
    assert only.sidebar.selectbox(key="ow_org").value == "beta"
    n_both = int(metric(both, "Auth events").replace(",", ""))
    n_beta = int(metric(only, "Auth events").replace(",", ""))
    assert n_both == facts.logins + n_beta
    assert n_beta < facts.logins


def test_time_zone_choice_is_shown_and_kept_in_url(store_env):
    at = run_page("overview")
    at.sidebar.selectbox(key="ow_tz").set_value("Asia/Tokyo").run()
    assert "(Asia/Tokyo)" in texts(at)
    assert "Asia/Tokyo" in str(at.query_params["tz"])


def test_apps_page_lists_every_app_and_opens_one(store_env):
    at = run_page("apps")
    table = at.dataframe[0].value
    assert set(table["app"]) == {"Data Loader", "Mulesoft Sync", "Tableau CRM", "Jenkins CI"}
    assert bool(table.set_index("app").loc["Tableau CRM", "allowlisted"]) is True
    assert "full scope" in table.set_index("app").loc["Data Loader", "posture"]
    at.selectbox(key="apps_open").set_value("Jenkins CI").run()
    assert "Jenkins CI" in [t.value for t in at.title]


def test_apps_allowlist_actions_change_the_store(store_env):
    engine, _ = store_env
    at = run_page("apps", {"app": "Data Loader"})
    assert "not on the allowlist" in texts(at)
    at.text_input(key="app_allow_owner").input("ops@acme.example")
    at.button[[b.label for b in at.button].index("Add to allowlist")].click().run()
    with engine.connect() as conn:
        rows = conn.execute(
            select(schema.allowlist).where(schema.allowlist.c.app_name == "Data Loader")
        ).all()
    assert len(rows) == 1
    assert rows[0].owner == "ops@acme.example"
    assert "is on the allowlist" in texts(at)
    at.button(key="app_unallow").click().run()
    with engine.connect() as conn:
        n = conn.execute(select(schema.allowlist).where(schema.allowlist.c.app_name == "Data Loader")).all()
    assert n == []


def test_failures_page_explains_reasons_and_filters_by_app(store_env):
    at = run_page("failures", {"range": "30d"})
    help_table = at.dataframe[0].value
    assert "Invalid Password" in set(help_table["status"])
    row = help_table.set_index("status").loc["Failed: Invalid Code Verifier"]
    assert "code_verifier" in row["fix"]
    all_fails = int(metric(at, "Failed logins").replace(",", ""))
    at.selectbox(key="fail_app").set_value("Jenkins CI").run()
    app_fails = int(metric(at, "Failed logins").replace(",", ""))
    assert 0 < app_fails < all_fails


def test_origins_page_lists_countries_networks_and_new_origins(store_env):
    at = run_page("origins")
    frames = {i: d.value for i, d in enumerate(at.dataframe)}
    countries = frames[0]
    assert {"US", "DE", "FR", "JP", "RU"} <= set(countries["country_iso"])
    networks = frames[1]
    assert "198.51.100.0/24" in set(networks["network"])
    new = frames[2]
    assert "185.220.101.4" in set(new["origin"])
    at.selectbox(key="orig_app").set_value("Tableau CRM").run()
    assert "RU" not in set(at.dataframe[0].value["country_iso"])


def test_alerts_filter_open_and_acknowledge_resolve_suppress(store_env):
    engine, facts = store_env
    at = run_page("alerts")
    assert len(at.dataframe[0].value) == 2
    at.multiselect(key="alerts_severity").set_value(["high"]).run()
    assert list(at.dataframe[0].value["severity"]) == ["high"]
    spray = facts.alert_ids[0]
    at.selectbox(key="alerts_open").set_value(str(spray)).run()
    assert "Password spray" in texts(at)
    assert any('"users": 8' in c.value for c in at.code)
    at.button(key="alert_ack").click().run()

    def status():
        return (
            engine.connect()
            .execute(
                select(
                    schema.alerts.c.status, schema.alerts.c.status_by, schema.alerts.c.suppressed_until
                ).where(schema.alerts.c.id == spray)
            )
            .one()
        )

    assert status()[0] == "acknowledged"
    assert status()[1] == "dashboard"
    at.button(key="alert_suppress").click().run()
    assert status()[2] is not None
    at.button(key="alert_resolve").click().run()
    assert status()[0] == "resolved"


def test_investigate_from_an_alert_is_bounded_and_exports_safely(store_env):
    _, facts = store_env
    at = run_page("investigate", {"alert": str(facts.alert_ids[0])})
    assert "Password spray" in texts(at)
    raw = next(d.value for d in at.dataframe if "natural_id" in d.value.columns)
    assert len(raw) == 8
    assert set(raw["source_ip"]) == {"185.220.101.4"}
    assert "source_ip = 185.220.101.4" in texts(at)
    summary = at.code[0].value
    assert "Logins: 8, failed: 8" in summary
    assert "185.220.101.4" in summary
    at.radio(key="inv_res").set_value("hour").run()
    assert not at.exception


def test_investigate_filters_from_url(store_env):
    at = run_page("investigate", {"range": "24h", "application": "Tableau CRM"})
    by_app = next(d.value for d in at.dataframe if "application" in d.value.columns)
    assert list(by_app["application"]) == ["Tableau CRM"]
    at.button(key="inv_clear").click().run()
    by_app = next(d.value for d in at.dataframe if "application" in d.value.columns)
    assert len(by_app) == 4


def test_tokens_page_classifies_grants_and_never_shows_delete_token(store_env):
    at = run_page("tokens")
    assert int(metric(at, "Grants")) == 16
    assert int(metric(at, "Inactive users")) >= 1
    at.selectbox(key="tok_kind").set_value("inactive_user").run()
    table = at.dataframe[0].value
    assert set(table["is_active"]) == {False}
    assert "DeleteToken" in texts(at)  # only in the how-to-revoke text
    assert not any("delete_token" in c for d in at.dataframe for c in d.value.columns)


def test_collection_page_shows_runs_lag_quarantine_and_health(store_env):
    at = run_page("collection")
    body = texts(at)
    assert "collector" in body
    assert "running" in body
    assert "INVALID_SESSION_ID" in body
    frames = [d.value for d in at.dataframe]
    assert any("lag_minutes" in f.columns for f in frames)
    assert any(
        "reason" in f.columns and f["reason"].str.startswith("LoginTime is not a datetime").any()
        for f in frames
    )


def test_overview_counts_open_alerts_and_follows_acknowledgement(store_env):
    engine, facts = store_env
    at = run_page("overview")
    assert metric(at, "Open alerts now") == "1"
    from oauthwatch.detect.lifecycle import acknowledge

    acknowledge(engine, facts.alert_ids[0], by="test")
    st.cache_data.clear()
    assert metric(run_page("overview"), "Open alerts now") == "0"


def test_exposed_without_login_is_refused(store_env):
    from streamlit import config as st_config
    from streamlit.testing.v1 import AppTest

    before = st_config.get_option("server.address")
    st_config.set_option("server.address", "0.0.0.0")  # noqa: S104 - the case being refused
    try:
        at = AppTest.from_file(APP, default_timeout=60).run()
    finally:
        st_config.set_option("server.address", before)
    assert not at.exception
    assert any("non-loopback address without login" in e.value for e in at.error)
    assert not at.metric  # no page was rendered


def test_login_required_when_oidc_is_configured(store_env):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["auth"] = {
        "redirect_uri": "https://dash.example/oauth2callback",
        "cookie_secret": "x" * 32,
        "client_id": "id",
        "client_secret": "secret",
        "server_metadata_url": "https://idp.example/.well-known/openid-configuration",
    }
    at.secrets["oauthwatch"] = {"allowed_users": ["ann@example.com"]}
    at.run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Log in"]
    assert not at.metric
