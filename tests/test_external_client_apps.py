"""External Client Apps against the local org: served only by the Metadata API (never by
ConnectedApplication), collected with their kind, judged like connected apps, and shown with their
kind wherever apps are listed (apps overview, Tokens, ``grants``, digest). Also the permissions the
local org enforces on the Metadata API and ``/limits``, and ``BYPASS_2FACTOR`` not bypassing IP
ranges for flows without a second factor."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceError
from sqlalchemy import select

from oauthwatch.store import open_store, schema
from tests.localorg_helpers import local_org_config
from tests.simorg import LocalOrg, local_org, make_local_org, org_template  # noqa: F401

NOW = datetime(2026, 12, 1, tzinfo=UTC)
SOURCES = '["login_history", "oauth_tokens", "connected_apps", "external_client_apps"]'


def _collect(org: LocalOrg, tmp_path: Path) -> Any:
    from collectors.run.runner import collect_once
    from oauthwatch.config import load_settings

    cfg = local_org_config(org, tmp_path / "store.db")
    cfg.write_text(cfg.read_text().replace('sources = ["login_history"]', f"sources = {SOURCES}"))
    settings = load_settings(cfg)
    results = {r.source: r for r in collect_once(settings)}
    return settings, cfg, results


def _external(org: LocalOrg) -> dict[str, dict[str, Any]]:
    db = org.db()
    db.row_factory = lambda c, r: {d[0]: v for d, v in zip(c.description, r, strict=True)}
    return {
        r["Label"]: r
        for r in db.execute("SELECT * FROM _AppConfig WHERE Model = 'ExternalClientApplication'")
    }


def test_external_client_apps_are_collected_with_their_kind_and_shown_everywhere(
    local_org: LocalOrg,  # noqa: F811
    tmp_path: Path,
) -> None:
    from oauthwatch.grants.inventory import inventory
    from oauthwatch.notify.digest import build_digest
    from oauthwatch.store.queries_base import Window
    from oauthwatch.store.queries_ops import apps_overview, latest_grants

    eca = _external(local_org)
    assert set(eca) == {"Workato Recipes", "Slack for Salesforce"}
    db = local_org.db()
    connected = {r[0] for r in db.execute('SELECT Name FROM "ConnectedApplication"')}
    assert not connected & set(eca), "an External Client App has no ConnectedApplication row"
    settings, _cfg, results = _collect(local_org, tmp_path)
    for name in ("connected_apps", "external_client_apps", "oauth_tokens"):
        assert results[name].outcome == "ok", results[name]
    engine = open_store(settings.store.url)
    ca = schema.connected_apps
    with engine.connect() as conn:
        rows = {r.name: r for r in conn.execute(select(ca))}
    assert {n for n, r in rows.items() if r.kind == "external_client_app"} == set(eca)
    assert {n for n, r in rows.items() if r.kind == "connected_app"} == connected
    slack, workato = rows["Slack for Salesforce"], rows["Workato Recipes"]
    # the policies, read from the four Metadata API components, in the connected-app spelling
    assert (slack.admin_approved_only, slack.ip_relaxation) == (False, "ENFORCE")
    assert slack.refresh_token_policy == "specific_lifetime:90:DAYS"
    assert slack.scopes == sorted(json.loads(eca["Slack for Salesforce"]["Scopes"]))
    assert workato.admin_approved_only is True
    assert workato.app_id == eca["Workato Recipes"]["AppId"]
    assert {p["name"] for p in workato.permitted_parents if p["kind"] == "permission_set"} == {
        "Integration Apps"
    }
    assert workato.details["metadata"]["clientCredentialsFlowUser"]
    # posture: judged like a connected app
    w = Window(datetime(2020, 1, 1, tzinfo=UTC), NOW, ("local",))
    over = apps_overview(engine, w, now=NOW).set_index("app")
    assert over.loc["Slack for Salesforce", "kind"] == "External Client App"
    assert over.loc["Workato Recipes", "kind"] == "External Client App"
    assert "all users may self-authorize" in over.loc["Slack for Salesforce", "posture"]
    assert {over.loc[n, "kind"] for n in connected} == {"Connected App"}
    # usage and grants: its logins and OauthToken rows name it by label
    slack_grants = db.execute(
        "SELECT COUNT(*) FROM \"OauthToken\" WHERE AppName = 'Slack for Salesforce'"
    ).fetchone()[0]
    assert slack_grants > 0
    assert over.loc["Slack for Salesforce", "grants"] == slack_grants
    assert over.loc["Slack for Salesforce", "events"] > 0
    tokens = latest_grants(engine, ("local",))
    assert set(tokens[tokens["app_name"] == "Slack for Salesforce"]["app_kind"]) == {"External Client App"}
    ranked = [g for g in inventory(engine, NOW) if g.grant.app_name == "Slack for Salesforce"]
    assert len(ranked) == slack_grants
    assert all(g.grant.installed and g.as_row()["app_kind"] == "External Client App" for g in ranked)
    # the digest lists it with its kind, its posture finding included
    text = build_digest(engine, settings, "local", NOW.date(), now=NOW).text
    assert "Slack for Salesforce (External Client App): all users may self-authorize" in text


def test_grants_command_marks_the_kind(local_org: LocalOrg, tmp_path: Path) -> None:  # noqa: F811
    import subprocess
    import sys

    _, cfg, _ = _collect(local_org, tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "oauthwatch", "grants", "--config", str(cfg), "--app", "Slack for Salesforce",
         "--format", "json"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    rows = json.loads(proc.stdout)
    assert rows
    assert {r["app_kind"] for r in rows} == {"External Client App"}


def test_metadata_api_needs_modify_metadata(make_local_org: Any, tmp_path: Path) -> None:  # noqa: F811
    org = make_local_org("--integration-permissions", "ApiEnabled,ViewSetup")
    sf = org.sf_login()
    envelope = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns="http://soap.sforce.com/2006/04/metadata"><soapenv:Header><SessionHeader><sessionId>'
        f"{sf.session_id}</sessionId></SessionHeader></soapenv:Header><soapenv:Body><readMetadata>"
        "<type>ExternalClientApplication</type><fullNames>Slack_for_Salesforce</fullNames></readMetadata>"
        "</soapenv:Body></soapenv:Envelope>"
    )
    resp = org.session.post(f"{org.url}/services/Soap/m/62.0", data=envelope, headers={"SOAPAction": '""'})
    assert resp.status_code == 500
    assert "<faultcode>sf:INSUFFICIENT_ACCESS</faultcode>" in resp.text
    assert sf.limits()["DailyApiRequests"]["Max"] > 0  # View Setup and Configuration opens /limits
    _, _, results = _collect(org, tmp_path)
    assert results["external_client_apps"].outcome != "ok"
    assert "INSUFFICIENT_ACCESS" in (results["external_client_apps"].error or "")


def test_limits_need_view_setup(make_local_org: Any) -> None:  # noqa: F811
    org = make_local_org("--integration-permissions", "ApiEnabled")
    sf = org.sf_login()
    with pytest.raises(SalesforceError) as err:
        sf.limits()
    assert err.value.status == 403
    assert err.value.content[0]["errorCode"] == "INSUFFICIENT_ACCESS"


@pytest.mark.parametrize("relaxation", ["BYPASS_2FACTOR", "ENFORCE"])
def test_second_factor_relaxation_is_no_bypass_for_jwt(local_org: LocalOrg, relaxation: str) -> None:  # noqa: F811
    """A JWT bearer login has no second factor, so BYPASS_2FACTOR leaves the Login IP Ranges in force."""
    db = local_org.db()
    user = local_org.creds["jwt_username"]
    (uid,) = db.execute('SELECT Id FROM "User" WHERE Username = ?', (user,)).fetchone()
    db.execute("UPDATE _UserSecret SET AllowedIpRanges = ? WHERE UserId = ?", ('["203.0.113.0/24"]', uid))
    db.execute("UPDATE _AppConfig SET IpRelaxation = ? WHERE Kind = 'oauthwatch'", (relaxation,))
    db.commit()
    resp = local_org.token_request(
        {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": local_org.jwt_assertion()}
    )
    assert resp.status_code == 400
    assert resp.json()["error_description"] == "IP restricted or invalid login hours"
    db.execute("UPDATE _AppConfig SET IpRelaxation = 'BYPASS' WHERE Kind = 'oauthwatch'")
    db.commit()
    ok = local_org.token_request(
        {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": local_org.jwt_assertion()}
    )
    assert ok.status_code == 200, ok.text


def test_check_judges_its_own_external_client_app(tmp_path: Path) -> None:
    """oauthwatch's own app as an External Client App: ``check`` finds it by its consumer key in the
    global OAuth settings and judges its policies like a connected app's."""
    import subprocess

    from tests.auth_helpers import OW, db_edit, org_settings, start_org, stop_org, write_config

    org = start_org(tmp_path / "org")
    try:
        cfg = write_config(tmp_path / "oauthwatch.toml", [org_settings(org, tmp_path, "jwt")])
        with db_edit(
            org,
            "_AppConfig",
            "AppId = ?",
            (org.app_id,),
            Model="ExternalClientApplication",
            IpRelaxation="BYPASS",
        ):
            proc = subprocess.run(
                [*OW, "check", "--config", str(cfg), "--format", "json"],
                capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
    finally:
        stop_org(org.proc)
    code, rep = proc.returncode, json.loads(proc.stdout)["orgs"][0]
    codes = {f["code"]: f["severity"] for f in rep["findings"]}
    assert rep["facts"]["app"]["kind"] == "External Client App"
    assert rep["facts"]["app"]["label"] == "OAuthwatch"
    assert rep["facts"]["app"]["ip_relaxation"] == "BYPASS"
    assert codes["ip_relaxed"] == "warning"
    assert "app_not_found" not in codes
    assert code == 0
