"""OAuth against the local org over HTTPS: each flow with simple-salesforce (the real client), the
exact bodies Salesforce sends, and each failure cause with its error pair and LoginHistory row.

Failure causes are produced the way an admin would, by editing the org's configuration rows (the
server reads them on every token request).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceExpiredSession

if TYPE_CHECKING:
    from tests.simorg import LocalOrg

pytest_plugins = ["tests.simorg"]
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

TOKEN = re.compile(r"^00D[A-Za-z0-9]{12}!AQ[A-Za-z0-9._]{40,}$")


def logins_since(org: LocalOrg, since_ms: int) -> list[dict[str, Any]]:
    conn = org.db()
    cur = conn.execute(
        "SELECT UserId, LoginType, LoginSubType, Status, Application, SourceIp FROM LoginHistory"
        " WHERE LoginTime >= ? ORDER BY LoginTime, Id",
        (since_ms,),
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def after_last_login(org: LocalOrg) -> int:
    """A LoginTime bound that excludes every row already recorded.

    Regression: "now minus 5 ms" let a login recorded just before the bound leak into the
    rows a test then compared (seen under load).
    """
    last = org.db().execute("SELECT MAX(LoginTime) FROM LoginHistory").fetchone()[0]
    return (last or 0) + 1


def user_id(org: LocalOrg, username: str) -> str:
    return org.db().execute('SELECT Id FROM "User" WHERE Username = ?', (username,)).fetchone()[0]


def app_row(org: LocalOrg) -> dict[str, Any]:
    cur = org.db().execute("SELECT * FROM _AppConfig WHERE ConsumerKey = ?", (org.creds["consumer_key"],))
    return dict(zip([d[0] for d in cur.description], cur.fetchone(), strict=True))


def other_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def basic(org: LocalOrg, secret: str | None = None) -> dict[str, str]:
    raw = f"{org.creds['consumer_key']}:{secret or org.creds['client_secret']}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


# ------------------------------------------------------------------------------------ success paths


@pytest.mark.parametrize(
    ("flow", "subtype", "user_key"),
    [
        ("jwt", None, "jwt_username"),
        ("client_credentials", "OAuth Client Credentials", "jwt_username"),
        ("password", "OAuth Username-Password", "username"),
    ],
)
def test_simple_salesforce_logs_in_by_itself_and_reads_what_the_org_holds(
    local_org_session, flow, subtype, user_key
):
    org = local_org_session
    since = after_last_login(org)
    sf = org.sf_login(flow)
    assert sf.sf_instance == org.url.removeprefix("https://")
    got = {
        r["Id"]: (r["Username"], r["IsActive"])
        for r in sf.query_all("SELECT Id, Username, IsActive FROM User")["records"]
    }
    want = {i: (u, bool(a)) for i, u, a in org.db().execute('SELECT Id, Username, IsActive FROM "User"')}
    assert got == want
    rows = [r for r in logins_since(org, since) if r["UserId"] == user_id(org, org.creds[user_key])]
    assert rows[-1] == {
        "UserId": user_id(org, org.creds[user_key]),
        "LoginType": "Remote Access 2.0",
        "LoginSubType": subtype,
        "Status": "Success",
        "Application": org.creds["app_label"],
        "SourceIp": "127.0.0.1",
    }


def test_token_bodies_have_exactly_salesforces_keys(local_org_session, shared_dir):
    org = local_org_session
    jwt_body = org.token()
    assert set(jwt_body) == {"access_token", "scope", "instance_url", "id", "token_type"}
    assert TOKEN.match(jwt_body["access_token"])
    assert jwt_body["id"] == f"{org.url}/id/{org.creds['org_id']}/{user_id(org, org.creds['jwt_username'])}"
    cc = org.token_request({"grant_type": "client_credentials"}, headers=basic(org)).json()
    assert set(cc) == {"access_token", "signature", "scope", "instance_url", "id", "token_type", "issued_at"}
    pw = org.token_request(
        {
            "grant_type": "password",
            "client_id": org.creds["consumer_key"],
            "client_secret": org.creds["client_secret"],
            "username": org.creds["username"],
            "password": org.creds["password"],
        }
    ).json()
    assert set(pw) == {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"}
    for body in (cc, pw):
        assert body["issued_at"].isdigit()
        assert abs(int(body["issued_at"]) - time.time() * 1000) < 60_000
        mac = hmac.new(
            org.creds["client_secret"].encode(), (body["id"] + body["issued_at"]).encode(), hashlib.sha256
        )
        assert body["signature"] == base64.b64encode(mac.digest()).decode()
    # the real token body (rapid7 fixture) has the same keys and every value is a string
    real = json.loads(
        (shared_dir / "fixtures/external/rapid7-insightconnect-salesforce/get_token.json.resp").read_text()
    )
    assert set(real) == set(pw)
    assert all(isinstance(v, str) for v in (*real.values(), *pw.values(), *cc.values(), *jwt_body.values()))
    assert "expires_in" not in jwt_body | cc | pw


def test_web_server_flow_with_pkce_then_refresh_then_revoke(local_org):
    org = local_org
    verifier = "v" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    params = {
        "response_type": "code",
        "client_id": org.creds["consumer_key"],
        "redirect_uri": org.creds["callback_url"],
        "state": "<s&t>",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = org.session.get(org.url + "/services/oauth2/authorize", params=params, timeout=30)
    assert page.status_code == 200
    assert "&lt;s&amp;t&gt;" in page.text
    assert "<s&t>" not in page.text

    def login_code() -> str:
        r = org.session.post(
            org.url + "/services/oauth2/authorize",
            data={
                **params,
                "username": org.creds["username"],
                "password": org.creds["password"],
                "approve": "1",
            },
            allow_redirects=False,
            timeout=30,
        )
        assert r.status_code == 302, r.text
        q = parse_qs(urlparse(r.headers["location"]).query)
        assert q["state"] == ["<s&t>"]
        return q["code"][0]

    bad_pw = org.session.post(
        org.url + "/services/oauth2/authorize",
        data={**params, "username": org.creds["username"], "password": "nope", "approve": "1"},
        allow_redirects=False,
        timeout=30,
    )
    assert bad_pw.status_code == 401
    exchange = {
        "grant_type": "authorization_code",
        "client_id": org.creds["consumer_key"],
        "client_secret": org.creds["client_secret"],
        "redirect_uri": org.creds["callback_url"],
    }
    since = after_last_login(org)
    wrong = org.token_request({**exchange, "code": login_code(), "code_verifier": "w" * 64})
    assert (wrong.status_code, wrong.json()) == (
        400,
        {"error": "invalid_grant", "error_description": "invalid code verifier"},
    )
    code = login_code()
    ok = org.token_request({**exchange, "code": code, "code_verifier": verifier})
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert set(body) == {
        "access_token",
        "refresh_token",
        "signature",
        "scope",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
    }
    again = org.token_request({**exchange, "code": code, "code_verifier": verifier})
    assert again.json() == {"error": "invalid_grant", "error_description": "invalid authorization code"}
    statuses = [(r["LoginSubType"], r["Status"]) for r in logins_since(org, since)]
    assert ("OAuth Web Server", "Failed: Invalid Code Verifier") in statuses
    assert ("OAuth Web Server", "Success") in statuses
    # refresh: the secret is required (IsSecretRequiredForRefreshToken), the body has no refresh_token
    refresh = {
        "grant_type": "refresh_token",
        "client_id": org.creds["consumer_key"],
        "refresh_token": body["refresh_token"],
    }
    no_secret = org.token_request(refresh)
    assert no_secret.json() == {"error": "invalid_client", "error_description": "invalid client credentials"}
    r2 = org.token_request({**refresh, "client_secret": org.creds["client_secret"]})
    assert r2.status_code == 200
    assert "refresh_token" not in r2.json()
    assert logins_since(org, since)[-1]["LoginSubType"] == "OAuth Refresh Token"
    use = (
        org.db()
        .execute("SELECT UseCount FROM OauthToken WHERE DeleteToken = ?", (body["refresh_token"],))
        .fetchone()
    )
    assert use == (2,)
    # revoking the refresh token kills its access tokens and the refresh token itself
    assert (
        org.session.post(
            org.url + "/services/oauth2/revoke", data={"token": body["refresh_token"]}, timeout=30
        ).status_code
        == 200
    )
    dead = org.session.get(
        org.url + "/services/data/v62.0/limits/",
        headers={"Authorization": "Bearer " + r2.json()["access_token"]},
        timeout=30,
    )
    assert dead.status_code == 401
    assert dead.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    r3 = org.token_request({**refresh, "client_secret": org.creds["client_secret"]})
    assert r3.json() == {"error": "invalid_grant", "error_description": "expired access/refresh token"}


def test_refresh_token_policy_is_read_at_refresh_time(local_org):
    org = local_org
    tok = _web_server_tokens(org)
    refresh = {
        "grant_type": "refresh_token",
        "client_id": org.creds["consumer_key"],
        "client_secret": org.creds["client_secret"],
        "refresh_token": tok["refresh_token"],
    }
    db = org.db()
    db.execute(
        "UPDATE _AppConfig SET RefreshTokenPolicy = 'zero' WHERE ConsumerKey = ?",
        (org.creds["consumer_key"],),
    )
    assert org.token_request(refresh).json()["error_description"] == "expired access/refresh token"
    db.execute(
        "UPDATE _AppConfig SET RefreshTokenPolicy = 'specific_lifetime:1:HOURS' WHERE ConsumerKey = ?",
        (org.creds["consumer_key"],),
    )
    assert org.token_request(refresh).status_code == 200
    db.execute("UPDATE _Token SET IssuedAt = IssuedAt - 7200000 WHERE Token = ?", (tok["refresh_token"],))
    assert org.token_request(refresh).status_code == 400
    db.execute(
        "UPDATE _AppConfig SET RefreshTokenPolicy = 'specific_inactivity:1:HOURS' WHERE ConsumerKey = ?",
        (org.creds["consumer_key"],),
    )
    assert org.token_request(refresh).status_code == 200  # used a moment ago
    db.execute(
        "UPDATE _AppConfig SET RefreshTokenPolicy = 'infinite', IsSecretRequiredForRefreshToken = 0 WHERE ConsumerKey = ?",
        (org.creds["consumer_key"],),
    )
    no_secret = {k: v for k, v in refresh.items() if k != "client_secret"}
    assert org.token_request(no_secret).status_code == 200


def _web_server_tokens(org: LocalOrg) -> dict[str, Any]:
    params = {
        "response_type": "code",
        "client_id": org.creds["consumer_key"],
        "redirect_uri": org.creds["callback_url"],
    }
    r = org.session.post(
        org.url + "/services/oauth2/authorize",
        data={**params, "username": org.creds["username"], "password": org.creds["password"], "approve": "1"},
        allow_redirects=False,
        timeout=30,
    )
    code = parse_qs(urlparse(r.headers["location"]).query)["code"][0]
    r = org.token_request(
        {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": org.creds["consumer_key"],
            "client_secret": org.creds["client_secret"],
            "redirect_uri": org.creds["callback_url"],
        }
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_expired_tokens_get_the_401_list_and_simple_salesforce_logs_in_again(make_local_org):
    org = make_local_org("--token-ttl", "2")
    tok = org.token()
    auth = {"Authorization": "Bearer " + tok["access_token"]}
    assert (
        org.session.get(org.url + "/services/data/v62.0/limits/", headers=auth, timeout=30).status_code == 200
    )
    sf = org.sf_login("jwt")
    first = sf.session_id
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] > 0
    time.sleep(2.5)
    expired = org.session.get(org.url + "/services/data/v62.0/limits/", headers=auth, timeout=30)
    assert expired.status_code == 401
    assert expired.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] > 0  # simple-salesforce renewed the session
    assert sf.session_id != first
    from simple_salesforce import Salesforce

    direct = Salesforce(instance_url=tok["instance_url"], session_id=tok["access_token"], session=org.session)
    with pytest.raises(SalesforceExpiredSession):
        direct.query("SELECT Id FROM User")


# ------------------------------------------------------------------------------------ failure causes


def _err(r) -> tuple[int, str, str]:
    body = r.json()
    return r.status_code, body["error"], body["error_description"]


def test_jwt_failures_have_salesforces_pairs_and_login_history_texts(local_org):
    org = local_org
    jwt_uid = user_id(org, org.creds["jwt_username"])

    def attempt(**kw: Any):
        return org.token_request({"grant_type": JWT_GRANT, "assertion": org.jwt_assertion(**kw)})

    since = after_last_login(org)
    assert _err(attempt(key_pem=other_key_pem())) == (400, "invalid_grant", "invalid assertion")
    assert _err(attempt(aud="https://evil.example.com")) == (400, "invalid_grant", "audience is invalid")
    assert _err(attempt(exp=int(time.time()) + 3600)) == (400, "invalid_grant", "invalid assertion")
    assert attempt(aud="https://login.salesforce.com").status_code == 200
    assert attempt(aud=org.creds["login_url"] + "/").status_code == 200
    assert attempt(exp=str(int(time.time()) + 170)).status_code == 200  # simple-salesforce sends a string
    before = len(logins_since(org, since))
    assert _err(attempt(iss="3MVGunknown")) == (400, "invalid_client_id", "client identifier invalid")
    assert len(logins_since(org, since)) == before  # nothing to attribute it to: no row
    rows = [r["Status"] for r in logins_since(org, since) if r["UserId"] == jwt_uid]
    assert rows[:3] == ["Failed: Signature Invalid", "Failed: Audience Invalid", "Failed: Invalid Timestamp"]
    # simple-salesforce turns the 400 into SalesforceAuthenticationFailed with Salesforce's pair
    bad_key = org.state_dir / "other.key"
    bad_key.write_text(other_key_pem())
    with pytest.raises(SalesforceAuthenticationFailed) as exc:
        org.sf_login("jwt", private_key_file=str(bad_key))
    assert (exc.value.code, exc.value.auth_message) == ("invalid_grant", "invalid assertion")


def test_configuration_changes_cause_the_failures_an_admin_would_cause(local_org):
    org = local_org
    db = org.db()
    key = org.creds["consumer_key"]
    app = app_row(org)
    jwt_uid = user_id(org, org.creds["jwt_username"])

    def jwt_err():
        r = org.token_request({"grant_type": JWT_GRANT, "assertion": org.jwt_assertion()})
        return (200, None, None) if r.status_code == 200 else _err(r)

    since = after_last_login(org)
    # the user's profile is no longer assigned to the admin-approved app
    saved = db.execute("SELECT * FROM SetupEntityAccess WHERE SetupEntityId = ?", (app["AppId"],)).fetchall()
    db.execute("DELETE FROM SetupEntityAccess WHERE SetupEntityId = ?", (app["AppId"],))
    assert jwt_err() == (400, "invalid_app_access", "user is not admin approved to access this app")
    db.executemany("INSERT INTO SetupEntityAccess VALUES (?, ?, ?, ?)", saved)
    assert jwt_err()[0] == 200
    # not admin-approved and the user never approved the app
    db.execute("UPDATE _AppConfig SET IsAdminApproved = 0 WHERE ConsumerKey = ?", (key,))
    db.execute("DELETE FROM OauthToken WHERE AppName = ?", (app["Label"],))
    db.execute("DELETE FROM _Token WHERE Kind = 'refresh'")
    assert jwt_err() == (400, "invalid_grant", "user hasn't approved this consumer")
    db.execute("UPDATE _AppConfig SET IsAdminApproved = 1 WHERE ConsumerKey = ?", (key,))
    # the uploaded certificate expired
    from oauthwatch.simulator.generate import keys

    old = keys.certificate_pem(
        serialization.load_pem_private_key(Path(org.creds["private_key_file"]).read_bytes(), None),  # type: ignore[arg-type]
        "expired",
        dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2021, 1, 1, tzinfo=dt.UTC),
        9,
    )
    db.execute("UPDATE _AppConfig SET CertificatePem = ? WHERE ConsumerKey = ?", (old, key))
    assert jwt_err() == (400, "invalid_grant", "invalid assertion")
    db.execute("UPDATE _AppConfig SET CertificatePem = ? WHERE ConsumerKey = ?", (app["CertificatePem"], key))
    # profile login IP ranges exclude 127.0.0.1, unless the app relaxes IP restrictions
    db.execute("UPDATE _UserSecret SET AllowedIpRanges = '[\"10.0.0.0/8\"]' WHERE UserId = ?", (jwt_uid,))
    assert jwt_err() == (400, "invalid_grant", "IP restricted or invalid login hours")
    db.execute("UPDATE _AppConfig SET IpRelaxation = 'BYPASS' WHERE ConsumerKey = ?", (key,))
    assert jwt_err()[0] == 200
    db.execute("UPDATE _AppConfig SET IpRelaxation = 'ENFORCE' WHERE ConsumerKey = ?", (key,))
    db.execute("UPDATE _UserSecret SET AllowedIpRanges = '[\"127.0.0.0/8\"]' WHERE UserId = ?", (jwt_uid,))
    assert jwt_err()[0] == 200
    # inactive user
    db.execute('UPDATE "User" SET IsActive = 0 WHERE Id = ?', (jwt_uid,))
    assert jwt_err() == (400, "inactive_user", "user is inactive")
    db.execute('UPDATE "User" SET IsActive = 1 WHERE Id = ?', (jwt_uid,))
    statuses = [
        r["Status"] for r in logins_since(org, since) if r["UserId"] == jwt_uid and r["Status"] != "Success"
    ]
    assert statuses == [
        "Login invalid",
        "Login invalid",
        "Failed: Signature Invalid",
        "Restricted IP",
        "User is Inactive",
    ]


def test_session_checks_on_rest_scope_and_api_permission(local_org):
    org = local_org
    db = org.db()
    key = org.creds["consumer_key"]
    db.execute('UPDATE _AppConfig SET Scopes = \'["Basic", "RefreshToken"]\' WHERE ConsumerKey = ?', (key,))
    no_api = org.token()
    r = org.session.get(
        org.url + "/services/data/v62.0/limits/",
        headers={"Authorization": "Bearer " + no_api["access_token"]},
        timeout=30,
    )
    assert r.status_code == 401
    assert r.json() == [
        {"message": "This session is not valid for use with the REST API", "errorCode": "INVALID_SESSION_ID"}
    ]
    db.execute("UPDATE _AppConfig SET Scopes = '[\"Api\"]' WHERE ConsumerKey = ?", (key,))
    tok = org.token()
    jwt_uid = user_id(org, org.creds["jwt_username"])
    db.execute(
        'UPDATE Profile SET PermissionsApiEnabled = 0 WHERE Id = (SELECT ProfileId FROM "User" WHERE Id = ?)',
        (jwt_uid,),
    )
    r = org.session.get(
        org.url + "/services/data/v62.0/limits/",
        headers={"Authorization": "Bearer " + tok["access_token"]},
        timeout=30,
    )
    assert (r.status_code, r.json()) == (
        403,
        [{"message": "API is disabled for this User", "errorCode": "API_CURRENTLY_DISABLED"}],
    )


def test_client_credentials_and_password_failures(local_org):
    org = local_org
    db = org.db()
    key = org.creds["consumer_key"]
    assert _err(org.token_request({"grant_type": "client_credentials"}, headers=basic(org, "wrong"))) == (
        400,
        "invalid_client",
        "invalid client credentials",
    )
    body_auth = {
        "grant_type": "client_credentials",
        "client_id": key,
        "client_secret": org.creds["client_secret"],
    }
    assert org.token_request(body_auth).status_code == 200
    db.execute("UPDATE _AppConfig SET ClientCredentialUserId = NULL WHERE ConsumerKey = ?", (key,))
    assert _err(org.token_request(body_auth)) == (400, "invalid_grant", "no client credentials user enabled")
    pw = {
        "grant_type": "password",
        "client_id": key,
        "client_secret": org.creds["client_secret"],
        "username": org.creds["username"],
    }
    since = after_last_login(org)
    assert _err(org.token_request({**pw, "password": "wrong"})) == (
        400,
        "invalid_grant",
        "authentication failure",
    )
    token = org.creds["security_token"] or ""
    assert org.token_request({**pw, "password": org.creds["password"] + token}).status_code == 200
    db.execute("INSERT INTO _State (Key, Value) VALUES ('password_flow_blocked', '1')")
    assert _err(org.token_request({**pw, "password": org.creds["password"]})) == (
        400,
        "invalid_grant",
        "authentication failure",
    )
    statuses = [(r["LoginSubType"], r["Status"]) for r in logins_since(org, since)]
    assert statuses == [
        ("OAuth Username-Password", "Invalid Password"),
        ("OAuth Username-Password", "Success"),
        ("OAuth Username-Password", "Username-Password Flow Disabled"),
    ]
    assert _err(org.token_request({"grant_type": "nope"})) == (
        400,
        "unsupported_grant_type",
        "grant type not supported",
    )
    assert _err(org.token_request({})) == (400, "invalid_request", "grant type is missing")


def test_error_bodies_match_the_real_ones(local_org_session, shared_dir):
    org = local_org_session
    base = shared_dir / "fixtures/external/rapid7-insightconnect-salesforce"
    real_client = json.loads((base / "invalid_client_id.json.resp").read_text())
    ours = org.token_request({"grant_type": JWT_GRANT, "assertion": org.jwt_assertion(iss="nobody")}).json()
    assert ours == real_client
    real_grant = json.loads((base / "invalid_grant.json.resp").read_text())
    pw = {
        "grant_type": "password",
        "client_id": org.creds["consumer_key"],
        "client_secret": org.creds["client_secret"],
        "username": "nobody@example.com",
        "password": "x",
    }
    assert org.token_request(pw).json() == real_grant


def test_userinfo_identity_introspect_and_revoke(local_org_session):
    org = local_org_session
    tok = org.token()
    auth = {"Authorization": "Bearer " + tok["access_token"]}
    info = org.session.get(org.url + "/services/oauth2/userinfo", headers=auth, timeout=30).json()
    assert info["preferred_username"] == org.creds["jwt_username"]
    assert info["organization_id"] == org.creds["org_id"]
    ident = org.session.get(tok["id"], headers=auth, timeout=30).json()
    assert ident["username"] == org.creds["jwt_username"]
    assert ident["id"] == tok["id"]
    intro = org.session.post(
        org.url + "/services/oauth2/introspect",
        data={"token": tok["access_token"]},
        headers=basic(org),
        timeout=30,
    ).json()
    assert intro["active"] is True
    assert intro["client_id"] == org.creds["consumer_key"]
    assert intro["exp"] > time.time()
    assert (
        org.session.get(
            org.url + "/services/oauth2/revoke", params={"token": tok["access_token"]}, timeout=30
        ).status_code
        == 200
    )
    intro = org.session.post(
        org.url + "/services/oauth2/introspect",
        data={"token": tok["access_token"]},
        headers=basic(org),
        timeout=30,
    ).json()
    assert intro == {"active": False}
    gone = org.session.post(org.url + "/services/oauth2/revoke", data={"token": "nope"}, timeout=30)
    assert _err(gone) == (400, "invalid_token", "invalid token")


def test_high_assurance_and_relaxed_refresh_ip(local_org):
    org = local_org
    db = org.db()
    key = org.creds["consumer_key"]
    tok = _web_server_tokens(org)
    db.execute("UPDATE _AppConfig SET SessionLevel = 'HIGH_ASSURANCE' WHERE ConsumerKey = ?", (key,))
    r = org.token_request({"grant_type": JWT_GRANT, "assertion": org.jwt_assertion()})
    assert _err(r)[:2] == (400, "invalid_grant")  # flows without an approval step are blocked
    assert _err(org.token_request({"grant_type": "client_credentials"}, headers=basic(org)))[:2] == (
        400,
        "invalid_grant",
    )
    db.execute("UPDATE _AppConfig SET SessionLevel = NULL WHERE ConsumerKey = ?", (key,))
    # ENFORCE_RELAXREFRESH: IP ranges apply to logins but not to refresh
    admin_id = user_id(org, org.creds["username"])
    db.execute("UPDATE _UserSecret SET AllowedIpRanges = '[\"192.0.2.0/24\"]' WHERE UserId = ?", (admin_id,))
    db.execute("UPDATE _AppConfig SET IpRelaxation = 'ENFORCE_RELAXREFRESH' WHERE ConsumerKey = ?", (key,))
    refresh = {
        "grant_type": "refresh_token",
        "client_id": key,
        "client_secret": org.creds["client_secret"],
        "refresh_token": tok["refresh_token"],
    }
    assert org.token_request(refresh).status_code == 200
    pw = {
        "grant_type": "password",
        "client_id": key,
        "client_secret": org.creds["client_secret"],
        "username": org.creds["username"],
        "password": org.creds["password"],
    }
    assert _err(org.token_request(pw)) == (400, "invalid_grant", "IP restricted or invalid login hours")
    db.execute("UPDATE _AppConfig SET IpRelaxation = 'ENFORCE' WHERE ConsumerKey = ?", (key,))
    assert _err(org.token_request(refresh)) == (400, "invalid_grant", "IP restricted or invalid login hours")


def test_transient_token_error_fault_matches_the_real_body(local_org, shared_dir):
    org = local_org
    real = json.loads(
        (
            shared_dir / "fixtures/external/rapid7-insightconnect-salesforce/retry_request.json.resp"
        ).read_text()
    )
    assert org.admin("faults", {"oauth_retry_rate": 1.0}).status_code == 200
    r = org.token_request({"grant_type": JWT_GRANT, "assertion": org.jwt_assertion()})
    assert (r.status_code, r.json()) == (400, real)
    org.admin("faults", {})
    assert org.token_request({"grant_type": JWT_GRANT, "assertion": org.jwt_assertion()}).status_code == 200
