"""Unit-level behaviour of collectors.auth that needs no org: audience rules, token parsing,
masking, the refresh-token file, the key pair, and the timeout every request gets."""

from __future__ import annotations

import json
import stat
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from collectors import auth
from collectors.auth import (
    AuthError,
    TokenProvider,
    jwt_audience,
    keygen,
    parse_identity_url,
    token_from_response,
    tokens,
)
from collectors.auth.causes import explain_rest_error, explain_token_error
from oauthwatch.config import OrgSettings
from oauthwatch.secrets import redact


def org(**kw) -> OrgSettings:
    base = {
        "name": "prod",
        "login_url": "https://acme.my.salesforce.com",
        "client_id": "3MVGkey",
        "flow": "jwt",
    }
    base.update(kw)
    if base["flow"] == "jwt":
        base.setdefault("username", "int@acme.com")
        base.setdefault("private_key_file", "/nonexistent/key.pem")
    return OrgSettings.model_validate(base)


@pytest.mark.parametrize(
    ("login_url", "expected"),
    [
        ("https://login.salesforce.com", "https://login.salesforce.com"),
        ("https://test.salesforce.com", "https://test.salesforce.com"),
        ("https://acme.my.salesforce.com", "https://login.salesforce.com"),
        ("https://acme--uat.sandbox.my.salesforce.com", "https://test.salesforce.com"),
        ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),
        ("https://portal.example.com/customers", "https://portal.example.com/customers"),
    ],
)
def test_jwt_audience_follows_the_login_host(login_url, expected):
    assert jwt_audience(org(login_url=login_url)) == expected


def test_jwt_audience_override_wins():
    assert (
        jwt_audience(org(jwt_audience="https://site.force.com/customers/"))
        == "https://site.force.com/customers"
    )


def test_token_response_parsing_and_masking():
    body = {
        "access_token": "00Dxx0000000001!AQ4AQFakeAccessTokenValue123",
        "instance_url": "https://acme.my.salesforce.com/",
        "id": "https://login.salesforce.com/id/00Dxx0000000001EAA/005xx000001SvXXAAY",
        "scope": "api refresh_token",
        "issued_at": "1278448384422",
        "token_type": "Bearer",
    }
    tok = token_from_response(body, "jwt")
    assert tok.org_id == "00Dxx0000000001EAA"
    assert tok.user_id == "005xx000001SvXXAAY"
    assert tok.scopes == frozenset({"api", "refresh_token"})
    assert tok.issued_at == datetime(2010, 7, 6, 20, 33, 4, 422000, tzinfo=UTC)
    assert tok.instance_url == "https://acme.my.salesforce.com"
    for text in (repr(tok), str(tok), redact(f"got {body['access_token']}")):
        assert body["access_token"] not in text
    assert parse_identity_url(None) == (None, None)


def test_auth_error_text_never_carries_a_secret():
    secret = "S3cr3tValueThatMustNotLeak"
    from oauthwatch.secrets import register_secret

    register_secret(secret)
    err = AuthError("invalid_grant", f"bad {secret}", cause=f"cause {secret}", fix="fix", org="prod")
    assert secret not in str(err)
    assert secret not in repr(err.args)
    assert secret not in err.description


@pytest.mark.parametrize(
    ("flow", "login_url", "code", "desc", "needle"),
    [
        (
            "client_credentials",
            "https://login.salesforce.com",
            "invalid_client_id",
            "client identifier invalid",
            "My Domain",
        ),
        (
            "jwt",
            "https://acme.my.salesforce.com",
            "invalid_client_id",
            "client identifier invalid",
            "propagated",
        ),
        (
            "jwt",
            "https://acme.my.salesforce.com",
            "invalid_app_access",
            "user is not admin approved to access this app",
            "profile or permission set",
        ),
        (
            "jwt",
            "https://acme.my.salesforce.com",
            "invalid_grant",
            "user hasn't approved this consumer",
            "has not approved",
        ),
        ("jwt", "https://acme.my.salesforce.com", "invalid_grant", "invalid assertion", "certificate"),
        (
            "jwt",
            "https://acme.my.salesforce.com",
            "invalid_grant",
            "audience is invalid",
            "sandbox vs production",
        ),
        (
            "jwt",
            "https://acme.my.salesforce.com",
            "invalid_grant",
            "IP restricted or invalid login hours",
            "Login IP Ranges",
        ),
        (
            "client_credentials",
            "https://acme.my.salesforce.com",
            "invalid_grant",
            "no client credentials user enabled",
            "run-as",
        ),
        (
            "client_credentials",
            "https://acme.my.salesforce.com",
            "invalid_client",
            "invalid client credentials",
            "Consumer Secret",
        ),
        (
            "refresh_token",
            "https://acme.my.salesforce.com",
            "invalid_grant",
            "expired access/refresh token",
            "oauthwatch login",
        ),
        (
            "password",
            "https://acme.my.salesforce.com",
            "invalid_grant",
            "authentication failure",
            "Username-Password",
        ),
        ("jwt", "https://acme.my.salesforce.com", "inactive_user", "user is inactive", "deactivated"),
        (
            "jwt",
            "https://acme.my.salesforce.com",
            "unsupported_grant_type",
            "grant type not supported",
            "not enabled",
        ),
    ],
)
def test_each_token_error_has_its_own_cause(flow, login_url, code, desc, needle):
    extra = {}
    if flow in ("client_credentials", "password"):
        extra["client_secret_env"] = "X"
    if flow == "password":
        extra.update(username="u@x.com", password_env="Y")
    o = org(flow=flow, login_url=login_url, **extra)
    exp = explain_token_error(o, code, desc)
    assert needle in exp.cause + " " + exp.fix


def test_rest_errors_name_scope_and_api_permission():
    o = org()
    assert (
        "'api' scope"
        in explain_rest_error(
            o, 401, "INVALID_SESSION_ID", "This session is not valid for use with the REST API"
        ).cause
    )
    assert (
        "API Enabled"
        in explain_rest_error(o, 403, "API_CURRENTLY_DISABLED", "API is disabled for this User").fix
    )


def test_refresh_token_file_is_owner_only_and_refused_when_open(tmp_path, monkeypatch):
    monkeypatch.setenv("OAUTHWATCH_STATE_DIR", str(tmp_path / "state"))
    o = org(flow="refresh_token")
    assert tokens.read_refresh_token(o) is None
    path = tokens.write_refresh_token(o, "5Aep861FakeRefreshToken")
    assert path == tmp_path / "state" / "refresh-tokens" / "prod.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert tokens.read_refresh_token(o) == "5Aep861FakeRefreshToken"
    path.chmod(0o644)
    with pytest.raises(tokens.TokenFileError, match="chmod 600"):
        tokens.read_refresh_token(o)
    assert tokens.delete_refresh_token(o)
    assert not path.exists()


def test_keygen_writes_a_matching_pair_with_a_private_key_mode(tmp_path):
    o = org(private_key_file=str(tmp_path / "keys" / "prod.key"))
    pair = keygen.generate(o, days=10)
    assert stat.S_IMODE(pair.private_key_file.stat().st_mode) == 0o600
    assert pair.certificate_file == tmp_path / "keys" / "prod.crt"
    assert keygen.key_matches_certificate(pair.private_key_file, pair.certificate_file.read_bytes())
    _, not_after = keygen.certificate_facts(pair.certificate_file)
    assert timedelta(days=9) < not_after - datetime.now(UTC) <= timedelta(days=10)
    with pytest.raises(keygen.KeygenError, match="--force"):
        keygen.generate(o)
    old_cert = pair.certificate_file.read_bytes()
    other = keygen.generate(o, force=True)
    assert other.fingerprint_sha256 != pair.fingerprint_sha256
    assert keygen.key_matches_certificate(other.private_key_file, other.certificate_file.read_bytes())
    assert not keygen.key_matches_certificate(other.private_key_file, old_cert)


class _Slow(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        threading.Event().wait(2)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


def test_every_request_gets_a_timeout_and_a_slow_host_is_reported(tmp_path):
    server = HTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        s = auth.TimeoutSession(0.3)
        import requests

        with pytest.raises(requests.exceptions.Timeout):
            s.post(f"http://127.0.0.1:{server.server_port}/x", data={})
    finally:
        server.shutdown()
        server.server_close()


def test_client_credentials_on_the_generic_host_fails_before_sending_the_secret(monkeypatch):
    monkeypatch.setenv("CC_SECRET", "ccSecretValue123456")
    o = org(
        flow="client_credentials", login_url="https://login.salesforce.com", client_secret_env="CC_SECRET"
    )
    p = TokenProvider(o)
    sent = []
    monkeypatch.setattr(p.session(), "post", lambda *a, **k: sent.append(a))
    with pytest.raises(AuthError) as info:
        p.token()
    assert info.value.code == "wrong_login_url"
    assert "My Domain" in str(info.value)
    assert not sent


def test_missing_key_file_says_keygen(tmp_path):
    p = TokenProvider(org(private_key_file=str(tmp_path / "none.key")))
    with pytest.raises(AuthError, match="oauthwatch keygen --org prod"):
        p.token()


def test_provider_for_is_one_per_org():
    auth.reset_providers()
    a, b = org(), org(name="other")
    assert auth.provider_for(a) is auth.provider_for(org())
    assert auth.provider_for(a) is not auth.provider_for(b)


def test_no_refresh_token_yet_points_to_login(tmp_path, monkeypatch):
    monkeypatch.setenv("OAUTHWATCH_STATE_DIR", str(tmp_path))
    with pytest.raises(AuthError, match="oauthwatch login --org prod") as info:
        TokenProvider(org(flow="refresh_token")).token()
    assert info.value.code == "no_refresh_token"


def test_json_of_auth_error_is_plain():
    e = AuthError("x", "", cause="c", fix="f", org="o")
    assert json.loads(json.dumps(e.as_dict())) == {
        "code": "x",
        "description": "",
        "cause": "c",
        "fix": "f",
        "transient": False,
    }


def test_a_rotated_refresh_token_replaces_the_stored_one(tmp_path, monkeypatch):
    import requests

    monkeypatch.setenv("OAUTHWATCH_STATE_DIR", str(tmp_path))
    o = org(flow="refresh_token")
    tokens.write_refresh_token(o, "5Aep861OldRefreshToken")
    response = requests.Response()
    response.status_code = 200
    response._content = json.dumps(
        {
            "access_token": "00Dxx0000000001!AQNewAccessTokenValue0123456789",
            "refresh_token": "5Aep861RotatedRefreshToken",
            "instance_url": "https://acme.my.salesforce.com",
            "id": "https://login.salesforce.com/id/00Dxx0000000001EAA/005xx000001SvXXAAY",
            "issued_at": "1700000000000",
            "scope": "api refresh_token",
        }
    ).encode()
    tok = TokenProvider(o)._parse(response)
    assert tok.flow == "refresh_token"
    assert tokens.read_refresh_token(o) == "5Aep861RotatedRefreshToken"
    assert "5Aep861RotatedRefreshToken" not in redact("refresh 5Aep861RotatedRefreshToken")
