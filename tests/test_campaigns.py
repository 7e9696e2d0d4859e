"""The 2025 campaigns staged in the local org, end to end: the campaign detectors alert on the right
app within one collection cycle, the grant inventory puts the compromised app's admin grants first,
and the IOC hunt finds exactly the campaign's events (counted in the org's own database)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from oauthwatch.config import load_settings
from oauthwatch.detect.runner import run_all
from oauthwatch.grants.inventory import inventory
from oauthwatch.hunt.indicators import read_iocs
from oauthwatch.hunt.matcher import hunt
from oauthwatch.store import open_store, schema
from tests.simorg import start_org

CYCLE = timedelta(minutes=15)
EXAMPLE = Path(__file__).resolve().parents[1] / "oauthwatch/hunt/lists/campaigns-2025.ioc"
CAMPAIGN_DETECTORS = ["app_risky_network", "new_user_agent", "app_imitation"]


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory):
    from collectors.run.runner import collect_once

    state = tmp_path_factory.mktemp("campaign-org")
    org = start_org(state, "--scenario", "token_theft@-3h", "--scenario", "fake_dataloader@-2h")
    try:
        text = (state / "oauthwatch.toml").read_text()
        store = state / "store.db"
        text = text.replace('url = "sqlite:///oauthwatch.db"', f'url = "sqlite:///{store}"')
        lines = [ln for ln in text.splitlines() if not ln.startswith("login_url")]
        lines.insert(lines.index("[[orgs]]") + 1, f'login_url = "{org.creds["login_url"]}"')
        lines.insert(
            lines.index("[[orgs]]") + 2, 'sources = ["login_history", "oauth_tokens", "connected_apps"]'
        )
        cfg = state / "campaign.toml"
        cfg.write_text("\n".join(lines) + "\n")
        settings = load_settings(cfg)
        for res in collect_once(settings):
            assert res.outcome in ("ok", "partial"), res
        truths = {
            t["scenario"]: t for t in map(json.loads, (state / "ground_truth.jsonl").read_text().splitlines())
        }
        yield org, settings, open_store(settings.store.url), truths
    finally:
        org.stop()


def _first_event(engine, app: str) -> datetime:
    lg = schema.logins
    with engine.connect() as conn:
        rows = conn.execute(
            select(lg.c.login_time, lg.c.browser).where(lg.c.application == app).order_by(lg.c.login_time)
        ).all()
    return next(
        t
        for t, ua in rows
        if ua in ("python-requests/2.32.4", "Salesforce-Multi-Org-Fetcher/1.0") or app == "Data Loader"
    )


def test_token_theft_alerts_on_the_vendor_app_within_one_cycle(campaign) -> None:
    _org, settings, engine, truths = campaign
    truth = truths["token_theft"]
    assert "api_calls_staged: true" in truth["description"]
    lg = schema.logins
    with engine.connect() as conn:
        rows = conn.execute(
            select(lg.c.login_time, lg.c.source_ip)
            .where(lg.c.application == truth["app"], lg.c.source_ip.in_(truth["ips"]))
            .order_by(lg.c.login_time)
        ).all()
    assert len(rows) == truth["events"]
    # the reconnaissance comes from AWS, where the vendor's own servers are: the scripted agent gives it away
    first = rows[0].login_time
    report = run_all(engine, settings, now=first + CYCLE, only=CAMPAIGN_DETECTORS)
    assert report.errors == {}
    ua = {f.detector: f for f in report.findings if f.subject == truth["app"]}["new_user_agent"]
    assert ua.severity == "high"
    assert "python-requests/2.32.4" in ua.evidence["new_user_agents"]
    # the exports leave the vendor's networks for DigitalOcean and Tor: caught within one cycle
    exfil = next(r.login_time for r in rows if r.source_ip != "44.215.108.109")
    report = run_all(engine, settings, now=exfil + CYCLE, only=CAMPAIGN_DETECTORS)
    net = {f.detector: f for f in report.findings if f.subject == truth["app"]}["app_risky_network"]
    assert net.severity in ("high", "critical")
    assert set(net.evidence["ips"].split(", ")) <= set(truth["ips"])
    later = run_all(
        engine, settings, now=pd.Timestamp(truth["end"]).to_pydatetime() + CYCLE, only=["app_risky_network"]
    )
    [f] = [f for f in later.findings if f.subject == truth["app"]]
    assert f.severity == "critical"
    assert "tor" in f.evidence["network_classes"]


def test_fake_dataloader_is_caught_as_an_imitation_and_a_device_flow(campaign) -> None:
    _org, settings, engine, truths = campaign
    truth = truths["fake_dataloader"]
    first = _first_event(engine, "Data Loader")
    report = run_all(engine, settings, now=first + CYCLE, only=["app_imitation"])
    reasons = {f.evidence["reason"]: f for f in report.findings if f.subject == "Data Loader"}
    assert reasons["authorised through the device flow"].severity == "critical"
    assert any(r.startswith("named like Data Loader") for r in reasons), reasons
    assert truth["users"][0] in reasons["authorised through the device flow"].evidence["users"]


def test_inventory_ranks_the_compromised_apps_admin_grants_first(campaign) -> None:
    org, _settings, engine, truths = campaign
    app = truths["token_theft"]["app"]
    ranked = inventory(engine, pd.Timestamp(truths["token_theft"]["end"]).to_pydatetime(), app=app)
    admins = [g for g in ranked if g.grant.profile == "System Administrator" and g.grant.is_active]
    assert admins, "the vendor app has admin grants in this org"
    assert ranked[: len(admins)] == admins
    assert ranked[0].reasons[0] == "the user is a System Administrator"
    db = org.db()
    assert (
        len(ranked) == db.execute('SELECT COUNT(*) FROM "OauthToken" WHERE AppName = ?', (app,)).fetchone()[0]
    )


def test_hunt_finds_exactly_the_campaign_events(campaign) -> None:
    org, _settings, engine, truths = campaign
    iocs = read_iocs(EXAMPLE)
    ips = [i.value for i in iocs.indicators if i.kind == "ip"]
    uas = [i.value.lower() for i in iocs.indicators if i.kind == "ua"]
    db = org.db()
    q = f'SELECT Id FROM "LoginHistory" WHERE SourceIp IN ({",".join("?" * len(ips))})' + "".join(
        " OR lower(Browser) LIKE ?" for _ in uas
    )
    expected = {r[0] for r in db.execute(q, (*ips, *(f"%{u}%" for u in uas)))}
    assert len(expected) == truths["token_theft"]["events"] + truths["fake_dataloader"]["events"] - 1
    found = [m for m in hunt(engine, iocs) if m.source == "login_history"]  # the other sources: test_hunt
    assert {m.id for m in found} == expected
    assert len(found) == len(expected)
