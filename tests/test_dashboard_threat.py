"""Dashboard: the ranked grants on Tokens and the app page, the revoke panel's gates, and the
network class of addresses on Origins, Investigate and alerts (AppTest over a seeded store)."""

from __future__ import annotations

from dashboard.threat import evidence_networks
from tests.dashboard_helpers import run_page, seeded_template, store_env, texts

__all__ = ["seeded_template", "store_env"]


def test_tokens_page_ranks_grants_with_reasons_and_revoking_is_off_by_default(store_env):
    at = run_page("tokens")
    ranked = next(d.value for d in at.dataframe if "reason" in d.value.columns)
    assert len(ranked) == 16
    assert list(ranked["score"]) == sorted(ranked["score"], reverse=True)
    assert ranked["reason"].str.len().min() > 0
    app = ranked.iloc[0]["app"]
    at.selectbox(key="tok_app").set_value(app).run()
    assert not at.exception
    assert "Revoking is off" in texts(at)
    assert not any(b.key == "revoke_plan" for b in at.button)


def test_app_page_shows_the_apps_ranked_grants(store_env):
    at = run_page("tokens")
    app = next(d.value for d in at.dataframe if "reason" in d.value.columns).iloc[0]["app"]
    page = run_page("apps", {"app": app})
    ranked = next(d.value for d in page.dataframe if "reason" in d.value.columns)
    assert set(ranked["app"]) == {app}


def test_origins_and_investigate_class_addresses(store_env):
    at = run_page("origins", {"range": "90d"})
    ips = next(d.value for d in at.dataframe if "network_class" in d.value.columns)
    assert set(ips["network_class"]) <= {"hosting", "vpn", "tor", "other"}
    inv = run_page("investigate", {"range": "90d"})
    assert any("network_class" in d.value.columns for d in inv.dataframe)


def test_alert_evidence_addresses_get_their_class(store_env):
    df = evidence_networks({"ips": "185.220.101.33, 208.68.36.90", "users": "a@b.c", "source_ip": "10.0.0.1"})
    assert list(df["source_ip"]) == ["185.220.101.33", "208.68.36.90", "10.0.0.1"]
    assert list(df["network_class"]) == ["tor", "hosting", "other"]
    assert df["provider"].iloc[1] == "DigitalOcean"
