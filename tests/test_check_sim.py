"""`oauthwatch check` as a subprocess against the local org: facts, posture findings, each failure
cause's message and exit code, several orgs at once, JSON output, and no secret anywhere in the
captured stdout/stderr (with --verbose)."""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
from pathlib import Path

import pytest

from tests.auth_helpers import (
    OW,
    LocalOrg,
    db_delete,
    db_edit,
    db_state,
    expired_certificate,
    org_settings,
    start_org,
    stop_org,
    write_config,
)


@pytest.fixture(scope="module")
def local_org(tmp_path_factory):
    org = start_org(tmp_path_factory.mktemp("check-org"))
    yield org
    stop_org(org.proc)


def run_check(org: LocalOrg, cfg: Path, *args: str) -> subprocess.CompletedProcess:
    """`oauthwatch check --verbose` as a real subprocess; fails if any secret shows up."""
    r = subprocess.run(
        [*OW, "check", "--config", str(cfg), "--verbose", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert_no_secret(org, r.stdout + r.stderr)
    return r


def assert_no_secret(org: LocalOrg, text: str) -> None:
    leaked = [s[:6] + "…" for s in org.secrets() if s in text]
    assert not leaked, f"secrets in check output: {leaked}"


def check_json(org: LocalOrg, tmp_path: Path, entries: list[dict], *args: str) -> tuple[int, dict]:
    """check --format json in a subprocess: (exit code, parsed report)."""
    cfg = write_config(tmp_path / "oauthwatch.toml", entries)
    r = run_check(org, cfg, "--format", "json", *args)
    return r.returncode, json.loads(r.stdout)


def check_json_inprocess(org: LocalOrg, tmp_path: Path, entries: list[dict]) -> tuple[int, dict]:
    """The same verb in this process (the many failure-cause cases would otherwise spend most of
    their time starting Python); stdout, stderr and the verbose log are all scanned for secrets."""
    import typer
    from typer.testing import CliRunner

    from oauthwatch.cli import connect

    app = typer.Typer()
    app.add_typer(connect.app)
    cfg = write_config(tmp_path / "oauthwatch.toml", entries)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # the verb installs its own stderr handler
    try:
        result = CliRunner().invoke(app, ["check", "--config", str(cfg), "--verbose", "--format", "json"])
    finally:
        root.handlers[:], root.level = handlers, level
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "DEBUG collectors.doctor" in result.stderr  # the verbose log was captured and scanned too
    assert_no_secret(org, result.stdout + result.stderr)
    return result.exit_code, json.loads(result.stdout)


def codes(report: dict) -> dict[str, str]:
    return {f["code"]: f["severity"] for f in report["findings"]}


def finding(report: dict, code: str) -> dict:
    return next(f for f in report["findings"] if f["code"] == code)


def test_healthy_jwt_org_reports_facts_and_exit_0(local_org, tmp_path):
    cfg = write_config(tmp_path / "oauthwatch.toml", [org_settings(local_org, tmp_path, "jwt", name="local")])
    r = run_check(local_org, cfg)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "org local:" in out
    assert local_org.creds["org_id"] in out
    assert local_org.creds["jwt_username"] in out
    assert "API usage" in out
    assert "value never shown" in out
    code, data = check_json(local_org, tmp_path, [org_settings(local_org, tmp_path, "jwt", name="local")])
    rep = data["orgs"][0]
    assert code == 0
    assert rep["connected"] is True
    assert rep["facts"]["org_id"] == local_org.creds["org_id"]
    assert rep["facts"]["instance_url"] == local_org.creds["instance_url"].rstrip("/")
    assert "api" in rep["facts"]["scopes"]
    assert rep["facts"]["api_usage"]["max"] > 0
    assert rep["facts"]["sforce_limit_info"].startswith("api-usage=")
    assert "access_token" in rep["facts"]["token"]["response_keys"]
    # the generated app asks for refresh_token although JWT never uses it
    assert codes(rep).get("refresh_token_unneeded") == "warning"
    # every configured source was probed; LoginEvent needs Event Monitoring, which this org lacks
    assert rep["facts"]["sources"]["login_history"] == "ok"
    assert rep["facts"]["sources"]["oauth_tokens"] == "ok"
    assert rep["facts"]["sources"]["login_events"] == "INVALID_TYPE"
    assert codes(rep)["source_unlicensed_login_events"] == "info"
    assert "sources readable" in out


def test_strict_turns_warnings_into_exit_1(local_org, tmp_path):
    code, _ = check_json(local_org, tmp_path, [org_settings(local_org, tmp_path, "jwt")], "--strict")
    assert code == 1


def test_full_scope_is_a_problem(local_org, tmp_path):
    with db_edit(local_org, "_AppConfig", "AppId = ?", (local_org.app_id,), Scopes='["Api","Full"]'):
        code, data = check_json_inprocess(local_org, tmp_path, [org_settings(local_org, tmp_path, "jwt")])
    assert code == 1
    assert "remove 'Full access (full)'" in finding(data["orgs"][0], "scope_full")["fix"]


def test_missing_api_scope_is_named(local_org, tmp_path):
    with db_edit(local_org, "_AppConfig", "AppId = ?", (local_org.app_id,), Scopes='["RefreshToken"]'):
        code, data = check_json_inprocess(local_org, tmp_path, [org_settings(local_org, tmp_path, "jwt")])
    assert code == 1
    f = finding(data["orgs"][0], "missing_api_scope")
    assert "'api' scope" in f["cause"]
    assert "Manage user data via APIs (api)" in f["fix"]


def test_api_disabled_for_the_user(local_org, tmp_path):
    profile = local_org.sql(
        'SELECT ProfileId FROM "User" WHERE Username = ?', (local_org.creds["jwt_username"],)
    )[0][0]
    with db_edit(local_org, "Profile", "Id = ?", (profile,), PermissionsApiEnabled=0):
        code, data = check_json_inprocess(local_org, tmp_path, [org_settings(local_org, tmp_path, "jwt")])
    assert code == 1
    f = finding(data["orgs"][0], "API_CURRENTLY_DISABLED")
    assert "API is disabled for this user" in f["cause"]
    assert "API Enabled" in f["fix"]


@pytest.mark.parametrize(
    ("cause", "needle"),
    [
        ("not_assigned", "profile or permission set"),
        ("not_approved", "has not approved this app"),
        ("wrong_key", "propagated"),
        ("cert_expired", "expired"),
        ("aud", "sandbox vs production"),
        ("ip", "Login IP Ranges"),
        ("no_run_as", "run-as"),
        ("password_blocked", "blocks the username-password flow"),
        ("cc_generic_host", "My Domain"),
    ],
)
def test_each_failure_cause_has_its_message_and_exit_1(local_org, tmp_path, cause, needle):
    app, uid = local_org.app_id, local_org.user_id(local_org.creds["jwt_username"])
    flow, extra, ctx = "jwt", {}, None
    if cause == "not_assigned":
        ctx = db_delete(local_org, "SetupEntityAccess", "SetupEntityId = ?", (app,))
    elif cause == "not_approved":
        ctx = db_edit(local_org, "_AppConfig", "AppId = ?", (app,), IsAdminApproved=0)
    elif cause == "wrong_key":
        extra = {"client_id": "3MVG9UnknownConsumerKey"}
    elif cause == "cert_expired":
        pem = expired_certificate(Path(local_org.creds["private_key_file"]))
        ctx = db_edit(local_org, "_AppConfig", "AppId = ?", (app,), CertificatePem=pem)
    elif cause == "aud":
        extra = {"jwt_audience": "https://test.salesforce.com/wrong"}
    elif cause == "ip":
        ctx = db_edit(local_org, "_UserSecret", "UserId = ?", (uid,), AllowedIpRanges='["203.0.113.0/24"]')
    elif cause == "no_run_as":
        flow = "client_credentials"
        ctx = db_edit(local_org, "_AppConfig", "AppId = ?", (app,), ClientCredentialUserId=None)
    elif cause == "password_blocked":
        flow = "password"
        ctx = db_state(local_org, "password_flow_blocked", "1")
    elif cause == "cc_generic_host":
        flow, extra = "client_credentials", {"login_url": "https://login.salesforce.com"}
    entry = org_settings(local_org, tmp_path, flow, **extra)
    with ctx or contextlib.nullcontext():
        code, data = check_json_inprocess(local_org, tmp_path, [entry])
    rep = data["orgs"][0]
    assert code == 1
    assert rep["status"] == "problems"
    problems = [f for f in rep["findings"] if f["severity"] == "problem"]
    assert any(needle in f["cause"] + f["fix"] for f in problems), problems


def test_certificate_mismatch_is_found_locally_and_by_the_org(local_org, tmp_path):
    from collectors.auth import keygen
    from tests.auth_helpers import settings

    entry = org_settings(
        local_org,
        tmp_path,
        "jwt",
        private_key_file=str(tmp_path / "k.key"),
        certificate_file=str(tmp_path / "k.crt"),
    )
    keygen.generate(settings(entry))
    entry["certificate_file"] = local_org.creds["certificate_file"]
    code, data = check_json_inprocess(local_org, tmp_path, [entry])
    found = codes(data["orgs"][0])
    assert code == 1
    assert found["key_certificate_mismatch"] == "problem"
    assert found["invalid_grant"] == "problem"


def test_ip_relaxation_bypass_is_reported(local_org, tmp_path):
    with db_edit(local_org, "_AppConfig", "AppId = ?", (local_org.app_id,), IpRelaxation="BYPASS"):
        code, data = check_json_inprocess(local_org, tmp_path, [org_settings(local_org, tmp_path, "jwt")])
    rep = data["orgs"][0]
    assert "app_metadata_unreadable" not in codes(rep), "the local org serves the Metadata API's ConnectedApp"
    assert codes(rep)["ip_relaxed"] == "warning"
    assert rep["facts"]["app"]["ip_relaxation"] == "BYPASS"
    assert code == 0


def test_password_flow_is_flagged_every_time(local_org, tmp_path):
    code, data = check_json_inprocess(local_org, tmp_path, [org_settings(local_org, tmp_path, "password")])
    assert code == 0
    rep = data["orgs"][0]
    assert rep["connected"] is True
    assert codes(rep)["password_flow"] == "warning"
    assert "jwt" in finding(rep, "password_flow")["fix"]


def test_one_broken_org_never_stops_the_others(local_org, tmp_path):
    from collectors.auth import keygen
    from tests.auth_helpers import settings

    # each org has its own CA bundle: a CA that did not sign the org's certificate fails only that org
    other_ca = tmp_path / "other-ca.crt"
    keygen.generate(
        settings(
            org_settings(
                local_org, tmp_path, "jwt", private_key_file=tmp_path / "ca.key", certificate_file=other_ca
            )
        )
    )
    entries = [
        org_settings(local_org, tmp_path, "jwt", name="good-jwt"),
        org_settings(local_org, tmp_path, "jwt", name="bad-key", client_id="3MVG9Nope"),
        org_settings(local_org, tmp_path, "client_credentials", name="good-cc"),
        org_settings(local_org, tmp_path, "jwt", name="unreachable", login_url="https://127.0.0.1:9"),
        org_settings(local_org, tmp_path, "jwt", name="other-ca", ca_bundle=other_ca),
    ]
    code, data = check_json(local_org, tmp_path, entries)
    by = {r["org"]: r for r in data["orgs"]}
    assert code == 1
    assert by["good-jwt"]["connected"]
    assert by["good-cc"]["connected"]
    assert not by["bad-key"]["connected"]
    assert "invalid_client_id" in codes(by["bad-key"])
    assert "unreachable" in codes(by["unreachable"])
    assert "tls_error" in codes(by["other-ca"])
    assert "ca_bundle" in finding(by["other-ca"], "tls_error")["fix"]
    code_one, data_one = check_json(local_org, tmp_path, entries, "--org", "good-cc")
    assert code_one == 0
    assert [r["org"] for r in data_one["orgs"]] == ["good-cc"]


def test_cannot_run_is_exit_2(local_org, tmp_path):
    cfg = write_config(tmp_path / "oauthwatch.toml", [])
    r = run_check(local_org, cfg)
    assert r.returncode == 2
    assert "no orgs configured" in r.stderr
    r = run_check(local_org, cfg, "--org", "nope")
    assert r.returncode == 2
    assert "no org named 'nope'" in r.stderr


def test_keygen_cli_prints_where_to_upload_and_expiry(local_org, tmp_path):
    entry = org_settings(local_org, tmp_path, "jwt", private_key_file=str(tmp_path / "keys" / "jwt.key"))
    del entry["certificate_file"]
    cfg = write_config(tmp_path / "oauthwatch.toml", [entry])
    r = subprocess.run(
        [*OW, "keygen", "--org", "jwt", "--config", str(cfg), "--days", "90"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert "Use digital signatures" in r.stdout
    assert "expires" in r.stdout
    assert "(90 days)" in r.stdout
    key = tmp_path / "keys" / "jwt.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert (tmp_path / "keys" / "jwt.crt").exists()
    assert "PRIVATE KEY" not in r.stdout + r.stderr
    again = subprocess.run(
        [*OW, "keygen", "--org", "jwt", "--config", str(cfg)], capture_output=True, text=True, check=False
    )
    assert again.returncode == 2
    assert "--force" in again.stderr
    # the new certificate is not the one the app has: check says the pair does not match the upload
    code, data = check_json(local_org, tmp_path, [entry])
    assert code == 1
    assert "invalid_grant" in codes(data["orgs"][0])


def test_unsupported_api_version_names_the_latest(local_org, tmp_path):
    code, data = check_json_inprocess(
        local_org, tmp_path, [org_settings(local_org, tmp_path, "jwt", api_version="99.0")]
    )
    rep = data["orgs"][0]
    assert code == 1
    f = finding(rep, "api_version_unsupported")
    assert f'api_version = "{rep["facts"]["latest_api_version"]}"' in f["fix"]


def _login_for_refresh_token(org: LocalOrg, tmp_path: Path) -> dict:
    """Run the web-server login in this process with a scripted browser; return the org entry."""
    import threading
    from urllib.parse import urlsplit

    import requests

    from collectors.auth import webflow
    from tests.auth_helpers import _free_port, browser_login, settings

    port = _free_port()
    redirect = f"http://localhost:{port}/callback"
    callbacks = org.sql("SELECT CallbackUrl FROM _AppConfig WHERE AppId = ?", (org.app_id,))[0][0]
    entry = org_settings(org, tmp_path, "refresh_token", redirect_uri=redirect)
    urls: list[str] = []

    def browser():
        while not urls:
            threading.Event().wait(0.05)
        location = browser_login(org, urls[0])
        assert urlsplit(location).port == port
        requests.get(location, timeout=30)

    t = threading.Thread(target=browser, daemon=True)
    t.start()
    with db_edit(org, "_AppConfig", "AppId = ?", (org.app_id,), CallbackUrl=f"{callbacks}\n{redirect}"):
        webflow.login(
            settings(entry),
            open_browser=False,
            timeout=30,
            say=lambda s: urls.extend(w for w in s.split() if "/services/oauth2/authorize?" in w),
        )
    t.join(timeout=30)
    return entry


def test_refresh_flow_posture_and_an_expired_refresh_token(local_org, tmp_path):
    entry = _login_for_refresh_token(local_org, tmp_path)
    app = local_org.app_id
    with db_edit(local_org, "_AppConfig", "AppId = ?", (app,), RefreshTokenPolicy="infinite"):
        code, data = check_json_inprocess(local_org, tmp_path, [entry])
    rep = data["orgs"][0]
    assert rep["connected"] is True
    assert rep["facts"]["token"]["flow"] == "refresh_token"
    assert codes(rep)["refresh_token_never_expires"] == "warning"
    assert "refresh_token_unneeded" not in codes(rep)
    assert code == 0
    with db_edit(local_org, "_AppConfig", "AppId = ?", (app,), RefreshTokenPolicy="zero"):
        code, data = check_json_inprocess(local_org, tmp_path, [entry])
    rep = data["orgs"][0]
    assert code == 1
    f = finding(rep, "invalid_grant")
    assert "revoked or expired" in f["cause"]
    assert "oauthwatch login --org refresh-token" in f["fix"]


def test_certificate_expiring_soon_and_a_readable_private_key(local_org, tmp_path):
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    src = Path(local_org.creds["private_key_file"])
    key_file = tmp_path / "copy.key"
    key_file.write_bytes(src.read_bytes())
    key_file.chmod(0o644)
    key = serialization.load_pem_private_key(src.read_bytes(), password=None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "soon")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=10))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    entry = org_settings(local_org, tmp_path, "jwt", private_key_file=key_file)
    del entry["certificate_file"]
    with db_edit(local_org, "_AppConfig", "AppId = ?", (local_org.app_id,), CertificatePem=pem):
        code, data = check_json_inprocess(local_org, tmp_path, [entry])
    rep = data["orgs"][0]
    assert rep["connected"] is True
    found = codes(rep)
    assert found["certificate_expiring"] == "warning"
    assert (
        "(9 days)" in finding(rep, "certificate_expiring")["cause"]
        or "(10 days)" in finding(rep, "certificate_expiring")["cause"]
    )
    assert found["private_key_mode"] == "warning"
    assert f"chmod 600 {key_file}" == finding(rep, "private_key_mode")["fix"]
    assert code == 0


def test_high_assurance_session_policy_blocks_server_flows(local_org, tmp_path):
    with db_edit(local_org, "_AppConfig", "AppId = ?", (local_org.app_id,), SessionLevel="HIGH_ASSURANCE"):
        code, data = check_json_inprocess(local_org, tmp_path, [org_settings(local_org, tmp_path, "jwt")])
    rep = data["orgs"][0]
    assert code == 1
    assert any(
        "High Assurance" in f["cause"] + f["fix"] for f in rep["findings"] if f["severity"] == "problem"
    )
