"""Every OAuth flow against the local org over HTTPS (a real `oauthwatch simulate` subprocess):
success, token expiry and renewal, and each failure cause with its specific explanation.

Failure causes are created the way an admin would cause them, by changing the org's app and user
configuration in its database (the org reads it on every request), and restored afterwards.

The helpers (``LocalOrg``, ``start_org``, ``db_edit``, ``org_settings``) are in tests/auth_helpers.py.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors import auth
from collectors.auth import AuthError, TokenProvider
from tests.auth_helpers import (
    OW,
    LocalOrg,
    _free_port,
    browser_login,
    db_delete,
    db_edit,
    db_state,
    expired_certificate,
    org_settings,
    settings,
    start_org,
    stop_org,
    write_config,
)


# ---- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def local_org(tmp_path_factory) -> Iterator[LocalOrg]:
    org = start_org(tmp_path_factory.mktemp("auth-org"))
    yield org
    stop_org(org.proc)


@pytest.fixture(autouse=True)
def _fresh_providers():
    auth.reset_providers()
    yield
    auth.reset_providers()


def _rest_ok(provider: TokenProvider) -> dict:
    return provider.salesforce().limits()


# ---- success of every flow --------------------------------------------------------------------
@pytest.mark.parametrize("flow", ["jwt", "client_credentials", "password"])
def test_flow_authenticates_and_the_token_works_with_simple_salesforce(local_org, tmp_path, flow, caplog):
    p = TokenProvider(settings(org_settings(local_org, tmp_path, flow)))
    tok = p.token()
    assert tok.instance_url == local_org.creds["instance_url"].rstrip("/")
    assert tok.org_id == local_org.creds["org_id"]
    assert tok.flow == flow
    assert "DailyApiRequests" in _rest_ok(p)
    assert p.token() is tok  # cached
    if flow == "password":
        assert any("discouraged" in r.getMessage() and "jwt" in r.getMessage() for r in caplog.records)
    else:
        assert "api" in tok.scopes


def test_password_flow_warns_on_every_login(local_org, tmp_path, caplog):
    p = TokenProvider(settings(org_settings(local_org, tmp_path, "password")))
    p.token()
    p.forget()
    p.token()
    assert sum("discouraged" in r.getMessage() for r in caplog.records) == 2


def test_web_server_login_then_refresh_token_flow(local_org, tmp_path):
    port = _free_port()
    redirect = f"http://localhost:{port}/callback"
    with db_edit(
        local_org,
        "_AppConfig",
        "AppId = ?",
        (local_org.app_id,),
        CallbackUrl=f"http://localhost:1717/callback\n{redirect}",
    ):
        entry = org_settings(local_org, tmp_path, "refresh_token", redirect_uri=redirect)
        cfg = write_config(tmp_path / "oauthwatch.toml", [entry])
        proc = subprocess.Popen(
            [*OW, "login", "--org", entry["name"], "--config", str(cfg), "--no-browser", "--timeout", "60"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        url = ""
        while not url:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            if "/services/oauth2/authorize?" in line:
                url = line.strip()
        assert "code_challenge_method=S256" in url
        assert "code_challenge=" in url
        location = browser_login(local_org, url)
        import requests

        assert requests.get(location, timeout=30).status_code == 200
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        token_file = Path(entry["refresh_token_file"])
        assert oct(token_file.stat().st_mode & 0o777) == "0o600"
        refresh = token_file.read_text().strip()
        assert refresh
        assert refresh not in out + err
        # later runs: the refresh token flow, without a browser
        p = TokenProvider(settings(entry))
        tok = p.token()
        assert tok.flow == "refresh_token"
        assert "DailyApiRequests" in _rest_ok(p)
        for secret in local_org.secrets():
            assert secret not in out + err


def test_login_state_mismatch_is_refused(local_org, tmp_path):
    from collectors.auth import webflow

    port = _free_port()
    entry = org_settings(
        local_org, tmp_path, "refresh_token", redirect_uri=f"http://localhost:{port}/callback"
    )
    o = settings(entry)
    import threading

    import requests

    def forged():
        for _ in range(100):  # until the callback listener is up
            try:
                requests.get(f"http://localhost:{port}/callback?code=abc&state=forged", timeout=10)
                return
            except requests.ConnectionError:
                time.sleep(0.1)

    threading.Thread(target=forged, daemon=True).start()
    with pytest.raises(AuthError) as info:
        webflow.login(o, open_browser=False, timeout=10, say=lambda s: None)
    assert info.value.code == "state_mismatch"
    assert not Path(entry["refresh_token_file"]).exists()


# ---- expiry and renewal -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def short_ttl_org(tmp_path_factory) -> Iterator[LocalOrg]:
    org = start_org(tmp_path_factory.mktemp("short-ttl"), "--token-ttl", "3")
    yield org
    stop_org(org.proc)


@pytest.mark.parametrize("flow", ["jwt", "client_credentials", "password"])
def test_token_expiry_is_renewed_once_on_invalid_session(short_ttl_org, tmp_path, flow):
    from simple_salesforce.exceptions import SalesforceExpiredSession

    p = TokenProvider(settings(org_settings(short_ttl_org, tmp_path, flow)))
    first = p.token()
    assert "DailyApiRequests" in _rest_ok(p)
    time.sleep(3.3)
    with pytest.raises(SalesforceExpiredSession):
        p.salesforce().limits()
    second = p.renew(first)
    assert second.access_token != first.access_token
    assert p.renew(first) is second  # another thread's stale token: no second login
    assert "DailyApiRequests" in _rest_ok(p)
    # the renewed token was accepted, so a later expiry may renew again
    third = p.renew(second)
    assert third.access_token != second.access_token


def test_a_fresh_token_refused_again_is_a_clear_failure_not_a_loop(local_org, tmp_path):
    from simple_salesforce.exceptions import SalesforceExpiredSession

    with db_edit(local_org, "_AppConfig", "AppId = ?", (local_org.app_id,), Scopes='["RefreshToken"]'):
        p = TokenProvider(settings(org_settings(local_org, tmp_path, "jwt")))
        tok = p.token()
        assert "api" not in tok.scopes
        with pytest.raises(SalesforceExpiredSession):
            p.salesforce().limits()
        tok = p.renew(tok)
        with pytest.raises(SalesforceExpiredSession):
            p.salesforce().limits()
        with pytest.raises(AuthError) as info:
            p.renew(tok)
    assert info.value.code == "session_refused"
    assert "api" in info.value.cause


# ---- failure causes ---------------------------------------------------------------------------
def _fails(org: LocalOrg, entry: dict) -> AuthError:
    """The AuthError of a token request; neither its text nor the DEBUG log carries a secret."""
    import io
    import logging

    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with pytest.raises(AuthError) as info:
            TokenProvider(settings(entry)).token()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    err = info.value
    text = f"{err}\n{err!r}\n{err.as_dict()}\n{buf.getvalue()}"
    assert "collectors." in buf.getvalue() or err.code in ("wrong_login_url", "private_key_unreadable")
    leaked = [v[:6] for v in org.secrets() if v in text]
    assert not leaked, leaked
    return err


def test_app_not_assigned_to_the_users_profile(local_org, tmp_path):
    with db_delete(local_org, "SetupEntityAccess", "SetupEntityId = ?", (local_org.app_id,)):
        err = _fails(local_org, org_settings(local_org, tmp_path, "jwt"))
    assert err.code == "invalid_app_access"
    assert "profile or permission set" in err.cause
    assert "Manage Profiles" in err.fix


def test_user_not_approved_when_app_is_not_admin_approved(local_org, tmp_path):
    with db_edit(local_org, "_AppConfig", "AppId = ?", (local_org.app_id,), IsAdminApproved=0):
        err = _fails(local_org, org_settings(local_org, tmp_path, "jwt"))
    assert err.description == "user hasn't approved this consumer"
    assert "pre-authorized" in err.fix


def test_wrong_consumer_key_mentions_propagation(local_org, tmp_path):
    err = _fails(local_org, org_settings(local_org, tmp_path, "jwt", client_id="3MVG9NotAKnownKeyAtAll"))
    assert err.code == "invalid_client_id"
    assert "propagated" in err.cause
    assert "Consumer Key" in err.fix


def test_certificate_mismatch(local_org, tmp_path):
    from collectors.auth import keygen

    entry = org_settings(
        local_org,
        tmp_path,
        "jwt",
        private_key_file=tmp_path / "other.key",
        certificate_file=tmp_path / "other.crt",
    )
    keygen.generate(settings(entry))
    err = _fails(local_org, entry)
    assert err.code == "invalid_grant"
    assert "not a pair" in err.cause
    assert "keygen" in err.fix


def test_expired_uploaded_certificate(local_org, tmp_path):
    pem = expired_certificate(Path(local_org.creds["private_key_file"]))
    with db_edit(local_org, "_AppConfig", "AppId = ?", (local_org.app_id,), CertificatePem=pem):
        err = _fails(local_org, org_settings(local_org, tmp_path, "jwt"))
    assert "expired" in err.cause


def test_audience_mismatch_names_the_login_url(local_org, tmp_path):
    err = _fails(
        local_org, org_settings(local_org, tmp_path, "jwt", jwt_audience="https://wrong.example.com")
    )
    assert err.description == "audience is invalid"
    assert "sandbox vs production" in err.cause


def test_client_credentials_on_login_salesforce_com_says_my_domain(local_org, tmp_path):
    err = _fails(
        local_org,
        org_settings(local_org, tmp_path, "client_credentials", login_url="https://login.salesforce.com"),
    )
    assert err.code == "wrong_login_url"
    assert "My Domain" in err.cause


def test_ip_restriction_and_ip_relaxation(local_org, tmp_path):
    uid = local_org.user_id(local_org.creds["jwt_username"])
    with db_edit(local_org, "_UserSecret", "UserId = ?", (uid,), AllowedIpRanges='["203.0.113.0/24"]'):
        err = _fails(local_org, org_settings(local_org, tmp_path, "jwt"))
        assert "Login IP Ranges" in err.fix
        assert "IP Relaxation" in err.fix
        with db_edit(local_org, "_AppConfig", "AppId = ?", (local_org.app_id,), IpRelaxation="BYPASS"):
            assert TokenProvider(settings(org_settings(local_org, tmp_path, "jwt"))).token().access_token


def test_client_credentials_without_run_as_user(local_org, tmp_path):
    with db_edit(local_org, "_AppConfig", "AppId = ?", (local_org.app_id,), ClientCredentialUserId=None):
        err = _fails(local_org, org_settings(local_org, tmp_path, "client_credentials"))
    assert "run-as" in err.cause
    assert "Run As" in err.fix


def test_wrong_client_secret(local_org, tmp_path):
    bad = tmp_path / "bad-secret.txt"
    bad.write_text("not-the-secret-value\n")
    err = _fails(
        local_org, org_settings(local_org, tmp_path, "client_credentials", client_secret_file=str(bad))
    )
    assert err.code == "invalid_client"
    assert "Consumer Secret" in err.fix


def test_username_password_blocked(local_org, tmp_path):
    with db_state(local_org, "password_flow_blocked", "1"):
        err = _fails(local_org, org_settings(local_org, tmp_path, "password"))
    assert "blocks the username-password flow" in err.cause
    assert "Allow OAuth Username-Password Flows" in err.fix


def test_inactive_user(local_org, tmp_path):
    uid = local_org.user_id(local_org.creds["jwt_username"])
    with db_edit(local_org, "User", "Id = ?", (uid,), IsActive=0):
        err = _fails(local_org, org_settings(local_org, tmp_path, "jwt"))
    assert err.code == "inactive_user"


def test_expired_refresh_token_says_login_again(local_org, tmp_path):
    entry = org_settings(local_org, tmp_path, "refresh_token")
    Path(entry["refresh_token_file"]).write_text("5Aep861NotAValidRefreshToken\n")
    Path(entry["refresh_token_file"]).chmod(0o600)
    err = _fails(local_org, entry)
    assert err.description == "expired access/refresh token"
    assert "oauthwatch login --org refresh-token" in err.fix


def test_untrusted_certificate_names_ca_bundle(local_org, tmp_path):
    entry = org_settings(local_org, tmp_path, "jwt")
    del entry["ca_bundle"]
    err = _fails(local_org, entry)
    assert err.code == "tls_error"
    assert "ca_bundle" in err.fix


def test_concurrent_first_use_logs_in_once(local_org, tmp_path):
    import threading

    p = TokenProvider(settings(org_settings(local_org, tmp_path, "jwt")))
    uid = local_org.user_id(local_org.creds["jwt_username"])
    count = "SELECT COUNT(*) FROM _Token WHERE Kind = 'access' AND UserId = ?"
    before = local_org.sql(count, (uid,))[0][0]
    seen, barrier = [], threading.Barrier(8)

    def use():
        barrier.wait()
        seen.append(p.token())

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(t) for t in seen}) == 1
    assert local_org.sql(count, (uid,))[0][0] == before + 1


def test_user_denying_access_in_the_browser(local_org, tmp_path):
    import threading

    import requests

    from collectors.auth import webflow

    port = _free_port()
    redirect = f"http://localhost:{port}/callback"
    entry = org_settings(local_org, tmp_path, "refresh_token", redirect_uri=redirect)
    urls: list[str] = []

    def deny():
        while not urls:
            time.sleep(0.05)
        requests.get(browser_login(local_org, urls[0], approve=False), timeout=30)

    threading.Thread(target=deny, daemon=True).start()
    callbacks = local_org.sql("SELECT CallbackUrl FROM _AppConfig WHERE AppId = ?", (local_org.app_id,))[0][0]
    with (
        db_edit(
            local_org, "_AppConfig", "AppId = ?", (local_org.app_id,), CallbackUrl=f"{callbacks}\n{redirect}"
        ),
        pytest.raises(AuthError) as info,
    ):
        webflow.login(
            settings(entry),
            open_browser=False,
            timeout=30,
            say=lambda s: urls.extend(w for w in s.split() if "/authorize?" in w),
        )
    assert info.value.code == "access_denied"
    assert "denied" in info.value.cause
    assert not Path(entry["refresh_token_file"]).exists()


def test_login_needs_a_loopback_redirect_uri(local_org, tmp_path):
    from collectors.auth import webflow

    entry = org_settings(local_org, tmp_path, "refresh_token", redirect_uri="https://example.com/callback")
    with pytest.raises(AuthError) as info:
        webflow.login(settings(entry), open_browser=False, timeout=1, say=lambda s: None)
    assert info.value.code == "redirect_uri"
    assert "http://localhost:1717/callback" in info.value.fix


def test_a_login_url_that_is_not_a_token_endpoint(local_org, tmp_path):
    entry = org_settings(
        local_org, tmp_path, "jwt", login_url=local_org.creds["login_url"] + "/not-salesforce"
    )
    err = _fails(local_org, entry)
    assert err.code.startswith("http_")
    assert "did not answer like a Salesforce token endpoint" in err.cause
    assert "login_url" in err.fix
