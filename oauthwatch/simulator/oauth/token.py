"""``/services/oauth2/token``: the five grant types, answered and logged the way Salesforce does.

Every token request that names a known app leaves a LoginHistory row (LoginType
``Remote Access 2.0``, the flow's LoginSubType label, ``Success`` or a failure text), so the
product can be tested against failures it will meet in real orgs. Decisions where Salesforce's
documentation is silent (each marked UNCONFIRMED below and listed in docs/salesforce-behaviour.md §6):

- an unknown consumer key is refused before any user is authenticated, so nothing is logged:
  Salesforce cannot attribute the attempt to an app, and a row without an app would be noise;
- JWT bearer rows carry LoginSubType null (no documented label exists for that flow);
- unknown usernames (JWT ``sub``, password grant) are not logged either: LoginHistory rows
  belong to a user.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import TYPE_CHECKING, Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oauthwatch.simulator.api.responses import json_response, oauth_error
from oauthwatch.simulator.data import sessions
from oauthwatch.simulator.oauth.common import (
    CLOCK_SKEW_S,
    GRANTS,
    JWT_MAX_EXP_S,
    UNIT_MS,
    Refused,
    check_access,
    check_secret,
    check_session_level,
    check_user,
    client_auth,
    client_ip,
    flow_enabled,
    issue,
    record_login,
)

if TYPE_CHECKING:
    from oauthwatch.simulator.api.context import OrgContext


def _valid_audiences(ctx: OrgContext) -> set[str]:
    base = {
        ctx.base_url,
        f"https://localhost:{ctx.port}",
        "https://login.salesforce.com",
        "https://test.salesforce.com",
    }
    return base | {b + "/" for b in base}


def grant_jwt(
    ctx: OrgContext, request: Request, form: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any], dict]:
    """JWT bearer: signature against the uploaded certificate, then aud, exp, user and access."""
    assertion = form.get("assertion")
    if not assertion:
        raise Refused("invalid_request", "assertion is missing")
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise Refused("invalid_grant", "invalid assertion") from None
    app = sessions.app_by_key(ctx.conn, claims.get("iss"))
    if app is None:
        raise Refused("invalid_client_id", "client identifier invalid")
    request.state.app = app
    user = sessions.user_by_name(ctx.conn, claims.get("sub") or claims.get("prn"))
    if user is None:
        raise Refused("invalid_grant", "invalid assertion")
    uid = user["Id"]
    pem = app.get("CertificatePem")
    if not pem:
        raise Refused("invalid_grant", "invalid assertion", "Failed: Signature Invalid", uid)
    cert = x509.load_pem_x509_certificate(pem.encode())
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):  # RS256 needs an RSA key; any other cannot verify
        raise Refused("invalid_grant", "invalid assertion", "Failed: Signature Invalid", uid)
    try:
        jwt.decode(
            assertion,
            key,
            algorithms=["RS256"],
            options={"verify_exp": False, "verify_aud": False},
        )
    except jwt.PyJWTError:
        raise Refused("invalid_grant", "invalid assertion", "Failed: Signature Invalid", uid) from None
    if cert.not_valid_after_utc.timestamp() * 1000 < ctx.org_now_ms():  # expiry is on the org's clock
        # UNCONFIRMED: an expired uploaded certificate fails like a bad signature.
        raise Refused("invalid_grant", "invalid assertion", "Failed: Signature Invalid", uid)
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    if not any(isinstance(a, str) and a in _valid_audiences(ctx) for a in auds):
        raise Refused("invalid_grant", "audience is invalid", "Failed: Audience Invalid", uid)
    try:
        exp = float(claims.get("exp", ""))  # simple-salesforce sends exp as a string
    except (TypeError, ValueError):
        raise Refused("invalid_grant", "invalid assertion", "Failed: Invalid Timestamp", uid) from None
    now_s = ctx.org_now_ms() / 1000  # the assertion's exp is judged on the org's clock, like its certificate
    if exp < now_s - CLOCK_SKEW_S or exp > now_s + JWT_MAX_EXP_S + CLOCK_SKEW_S:
        raise Refused("invalid_grant", "invalid assertion", "Failed: Invalid Timestamp", uid)
    check_user(app, user, client_ip(request))
    check_access(ctx, app, user, needs_prior_approval=True)
    check_session_level(app, uid)
    return app, user, issue(ctx, "jwt", app, user)


def calling_app(ctx: OrgContext, request: Request, form: dict[str, str]) -> tuple[dict, str | None]:
    """The app named by the consumer key (Basic auth or body) and the secret sent with it.

    An unknown key is refused before anything else, as Salesforce does, and cannot be
    attributed to any app or user (so no LoginHistory row).
    """
    key, secret = client_auth(request, form)
    app = sessions.app_by_key(ctx.conn, key)
    if app is None:
        raise Refused("invalid_client_id", "client identifier invalid")
    request.state.app = app
    return app, secret


def grant_client_credentials(
    ctx: OrgContext, request: Request, form: dict[str, str]
) -> tuple[dict, dict, dict]:
    """Client credentials: key and secret (Basic or body) for the app's run-as user."""
    app, secret = calling_app(ctx, request, form)
    run_as = sessions.user_by_id(ctx.conn, app.get("ClientCredentialUserId"))
    request.state.user = run_as
    check_secret(app, secret)
    flow_enabled(app, "client_credentials")
    if run_as is None:
        raise Refused("invalid_grant", "no client credentials user enabled")
    check_user(app, run_as, client_ip(request))
    check_session_level(app, run_as["Id"])
    return app, run_as, issue(ctx, "client_credentials", app, run_as)


def grant_password(ctx: OrgContext, request: Request, form: dict[str, str]) -> tuple[dict, dict, dict]:
    """Username-password: blocked per org like new Salesforce orgs; password (+ security token)."""
    app, secret = calling_app(ctx, request, form)
    user = sessions.user_by_name(ctx.conn, form.get("username"))
    request.state.user = user
    if user is None:
        raise Refused("invalid_grant", "authentication failure")
    if (ctx.state_get("password_flow_blocked") or "").lower() in ("1", "true", "yes"):
        # Orgs created since Summer '23 block the flow; the API answers with the generic failure and
        # Login History says why (third-party write-ups; UNCONFIRMED beyond that).
        raise Refused(
            "invalid_grant", "authentication failure", "Username-Password Flow Disabled", user["Id"]
        )
    check_secret(app, secret)
    flow_enabled(app, "password")
    given = form.get("password") or ""
    stored, token = user.get("Password") or "", user.get("SecurityToken") or ""
    if not stored or given not in (stored, stored + token):
        raise Refused("invalid_grant", "authentication failure", "Invalid Password", user["Id"])
    check_user(app, user, client_ip(request))
    check_access(ctx, app, user, needs_prior_approval=False)
    return app, user, issue(ctx, "password", app, user)


def grant_authorization_code(
    ctx: OrgContext, request: Request, form: dict[str, str]
) -> tuple[dict, dict, dict]:
    """Web server: a single-use, short-lived code, its redirect URI and PKCE verifier (S256)."""
    app, secret = calling_app(ctx, request, form)
    code = sessions.token_row(ctx.conn, form.get("code") or "", "code")
    if code is None or code["AppId"] != app["AppId"]:
        raise Refused("invalid_grant", "invalid authorization code")
    user = sessions.user_by_id(ctx.conn, code["UserId"])
    request.state.user = user
    uid = code["UserId"]
    extra = code["ExtraDict"]
    if code["Revoked"]:
        raise Refused("invalid_grant", "invalid authorization code", "Failed: Invalid Token", uid)
    ctx.conn.execute("UPDATE _Token SET Revoked = 1 WHERE Token = ?", (code["Token"],))  # single use
    if code["ExpiresAt"] is not None and code["ExpiresAt"] <= sessions.now_ms():
        raise Refused("invalid_grant", "expired authorization code", "Failed: Invalid Token", uid)
    if secret is not None or not extra.get("code_challenge"):
        check_secret(app, secret)
    if form.get("redirect_uri") != extra.get("redirect_uri"):
        raise Refused(
            "redirect_uri_mismatch",
            "redirect_uri must match configuration",
            "Failed: Invalid Callback URL",
            uid,
        )
    challenge = extra.get("code_challenge")
    if challenge:
        verifier = form.get("code_verifier") or ""
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        expected = digest if extra.get("code_challenge_method", "S256") == "S256" else verifier
        if not verifier or not hmac.compare_digest(expected, challenge):
            raise Refused("invalid_grant", "invalid code verifier", "Failed: Invalid Code Verifier", uid)
    if user is None:
        raise Refused("invalid_grant", "invalid authorization code")
    check_user(app, user, client_ip(request))
    check_access(ctx, app, user, needs_prior_approval=False)
    return app, user, issue(ctx, "web_server", app, user, with_refresh=True, code=code["Token"])


def refresh_expired(app: dict[str, Any], row: dict[str, Any], now: int) -> bool:
    """Apply the app's refresh token policy (read now, not when the token was issued)."""
    policy = app["RefreshTokenPolicy"] or "infinite"
    if policy == "infinite":
        return False
    if policy == "zero":
        return True
    m = re.fullmatch(r"(specific_lifetime|specific_inactivity):(\d+):(HOURS|DAYS|MONTHS)", policy)
    if not m:
        return False
    span = int(m.group(2)) * UNIT_MS[m.group(3)]
    since = (
        row["IssuedAt"]
        if m.group(1) == "specific_lifetime"
        else row["ExtraDict"].get("last_used", row["IssuedAt"])
    )
    return now - since > span


def grant_refresh(ctx: OrgContext, request: Request, form: dict[str, str]) -> tuple[dict, dict, dict]:
    """Refresh token: secret per IsSecretRequiredForRefreshToken, RefreshTokenPolicy read now."""
    app, secret = calling_app(ctx, request, form)
    row = sessions.token_row(ctx.conn, form.get("refresh_token") or "", "refresh")
    if row is None or row["AppId"] != app["AppId"]:
        raise Refused("invalid_grant", "expired access/refresh token")
    user = sessions.user_by_id(ctx.conn, row["UserId"])
    request.state.user = user
    uid = row["UserId"]
    if app["IsSecretRequiredForRefreshToken"] or secret is not None:
        check_secret(app, secret)
    now = sessions.now_ms()
    if row["Revoked"] or refresh_expired(app, row, now) or user is None:
        raise Refused("invalid_grant", "expired access/refresh token", "Failed: Invalid Token", uid)
    check_user(app, user, client_ip(request), refresh=True)
    check_access(ctx, app, user, needs_prior_approval=False)
    extra = dict(row["ExtraDict"], last_used=now)
    ctx.conn.execute("UPDATE _Token SET Extra = ? WHERE Token = ?", (json.dumps(extra), row["Token"]))
    ctx.conn.execute(
        'UPDATE "OauthToken" SET UseCount = COALESCE(UseCount, 0) + 1, LastUsedDate = ? WHERE AccessToken = ?',
        (ctx.org_now_ms(), row["Token"]),
    )
    return app, user, issue(ctx, "refresh_token", app, user, refresh=row["Token"])


HANDLERS = {
    "jwt": grant_jwt,
    "client_credentials": grant_client_credentials,
    "web_server": grant_authorization_code,
    "refresh_token": grant_refresh,
    "password": grant_password,
}


async def token_endpoint(request: Request) -> Response:
    """POST /services/oauth2/token."""
    ctx: OrgContext = request.app.state.ctx
    form = {k: str(v) for k, v in (await request.form()).items()}
    grant = form.get("grant_type")
    if not grant:
        return oauth_error("invalid_request", "grant type is missing")
    flow = GRANTS.get(grant)
    if flow is None:
        return oauth_error("unsupported_grant_type", "grant type not supported")
    request.state.app = None
    request.state.user = None
    with ctx.lock:
        try:
            app, user, body = HANDLERS[flow](ctx, request, form)
        except Refused as exc:
            app = request.state.app
            uid = exc.user_id or (request.state.user or {}).get("Id")
            if app is not None and uid and exc.status_text:
                record_login(ctx, request, flow=flow, app=app, user_id=uid, status=exc.status_text)
            ctx.conn.commit()
            return oauth_error(exc.error, exc.description)
        record_login(ctx, request, flow=flow, app=app, user_id=user["Id"], status="Success")
        ctx.conn.commit()
    return json_response(
        body, headers={"Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private"}
    )


def routes(ctx: OrgContext) -> list[Route]:
    """The OAuth routes (token here; authorize, revoke, introspect and identity in ``identity``)."""
    from oauthwatch.simulator.oauth import identity

    return [Route("/services/oauth2/token", token_endpoint, methods=["POST"]), *identity.routes(ctx)]
