"""What every OAuth grant of the local org shares: refusals, client authentication, user and app
checks (read fresh from the org database), token issue with Salesforce's exact response keys,
and the LoginHistory row each token request leaves.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from oauthwatch.simulator.data import sessions

if TYPE_CHECKING:
    from oauthwatch.simulator.api.context import OrgContext

REMOTE_ACCESS = "Remote Access 2.0"
BEARER = "Bearer"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SUBTYPE = {
    "jwt": None,
    "client_credentials": "OAuth Client Credentials",
    "web_server": "OAuth Web Server",
    "refresh_token": "OAuth Refresh Token",
    "password": "OAuth Username-Password",
}
GRANTS = {
    JWT_GRANT: "jwt",
    "client_credentials": "client_credentials",
    "authorization_code": "web_server",
    "refresh_token": "refresh_token",
    "password": "password",
}
CODE_TTL_MS = 15 * 60 * 1000  # authorization codes live 15 minutes
JWT_MAX_EXP_S = 180  # "exp … within 3 minutes"
CLOCK_SKEW_S = 5
UNIT_MS = {"HOURS": 3_600_000, "DAYS": 86_400_000, "MONTHS": 30 * 86_400_000}


class Refused(Exception):
    """A token request refused: the OAuth error to send and the LoginHistory Status to log."""

    def __init__(
        self, error: str, description: str, status_text: str | None = None, user_id: str | None = None
    ) -> None:
        super().__init__(description)
        self.error, self.description, self.status_text, self.user_id = (
            error,
            description,
            status_text,
            user_id,
        )


def record_login(
    ctx: OrgContext, request: Request, *, flow: str, app: dict[str, Any], user_id: str, status: str
) -> None:
    """Log one token request as LoginHistory (via the data generator's ``record_login``)."""
    from oauthwatch.simulator.generate.logins import record_login as _record

    _record(
        ctx.conn,
        user_id=user_id,
        app_label=app["Label"],
        login_type=REMOTE_ACCESS,
        login_subtype=SUBTYPE[flow],
        status=status,
        source_ip=client_ip(request),
        login_url=request.url.hostname or "127.0.0.1",
        when_ms=ctx.org_now_ms(),
        browser="Unknown",
        platform="Unknown",
    )
    ctx.conn.commit()


def client_ip(request: Request) -> str:
    """The first hop's address, as LoginHistory.SourceIp records it."""
    return request.client.host if request.client else "127.0.0.1"


def signature(app: dict[str, Any], ident: str, issued_at: str) -> str:
    """Salesforce's ``signature``: base64 HMAC-SHA256 of id + issued_at keyed by the consumer secret."""
    mac = hmac.new(app["ConsumerSecret"].encode(), (ident + issued_at).encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def client_auth(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    """Consumer key and secret from HTTP Basic auth or the form body."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            key, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            return key, secret
        except (binascii.Error, UnicodeDecodeError):
            return None, None
    return form.get("client_id"), form.get("client_secret")


def check_secret(app: dict[str, Any], secret: str | None) -> None:
    """A wrong consumer secret: ``invalid_client`` (observed); the LoginHistory text is UNCONFIRMED."""
    if secret is None or not hmac.compare_digest(secret.encode(), app["ConsumerSecret"].encode()):
        raise Refused("invalid_client", "invalid client credentials", "Failed: Invalid Client Credentials")


def check_user(app: dict[str, Any], user: dict[str, Any], ip: str, *, refresh: bool = False) -> None:
    """Inactive users and profile IP ranges (unless the app relaxes them) refuse any flow.

    ``BYPASS_2FACTOR`` is no bypass: Salesforce relaxes the ranges only for a web-server or
    user-agent login whose user completed identity confirmation with a second factor (or from the
    app's own allowlisted ranges), never for JWT bearer, client credentials, password or refresh
    (docs/salesforce-behaviour.md, "IP relaxation"). The local org's login form has no second-factor
    step, so no login of it qualifies and the ranges apply to every flow.
    """
    if not user["IsActive"]:
        # UNCONFIRMED: the exact pair for an inactive user; the code is documented, the text is not.
        raise Refused("inactive_user", "user is inactive", "User is Inactive", user["Id"])
    relax = app["IpRelaxation"]
    enforce = relax in ("ENFORCE", "BYPASS_2FACTOR") or (relax == "ENFORCE_RELAXREFRESH" and not refresh)
    if enforce and not sessions.ip_allowed(user, ip):
        raise Refused("invalid_grant", "IP restricted or invalid login hours", "Restricted IP", user["Id"])


def check_access(
    ctx: OrgContext, app: dict[str, Any], user: dict[str, Any], *, needs_prior_approval: bool
) -> None:
    """Admin-approved apps need the user's profile assigned; others need the user's approval."""
    if app["IsAdminApproved"]:
        if not sessions.admin_assigned(ctx.conn, app, user):
            raise Refused(
                "invalid_app_access",
                "user is not admin approved to access this app",
                "Login invalid",
                user["Id"],
            )
    elif needs_prior_approval and not sessions.user_approved(ctx.conn, app, user):
        raise Refused("invalid_grant", "user hasn't approved this consumer", "Login invalid", user["Id"])


def check_session_level(app: dict[str, Any], user_id: str) -> None:
    """High Assurance apps block flows without an approval step (JWT bearer, client credentials)."""
    if app.get("SessionLevel") == "HIGH_ASSURANCE":
        # UNCONFIRMED (docs/salesforce-behaviour.md §6): Salesforce documents that these flows are blocked, not the exact error text.
        raise Refused("invalid_grant", "user session level is not high assurance", "Login invalid", user_id)


def flow_enabled(app: dict[str, Any], flow: str) -> None:
    if flow not in app["FlowList"]:
        raise Refused(
            "unsupported_grant_type", "grant type not supported", "Failed: OAuth API access disabled"
        )


def issue(
    ctx: OrgContext,
    flow: str,
    app: dict[str, Any],
    user: dict[str, Any],
    *,
    refresh: str | None = None,
    with_refresh: bool = False,
    code: str | None = None,
) -> dict[str, Any]:
    """Store and return a token response with exactly the keys Salesforce sends for ``flow``."""
    scopes = sessions.wire_scopes(app)
    access = sessions.new_access_token(ctx.org_id)
    issued = sessions.store_token(
        ctx.conn,
        access,
        "access",
        app,
        user["Id"],
        scopes,
        ttl_ms=ctx.token_ttl_s * 1000,
        extra={"refresh": refresh} if refresh else None,
    )
    ident = ctx.identity_url(user["Id"])
    body: dict[str, Any] = {"access_token": access}
    if with_refresh and ("refresh_token" in scopes or "offline_access" in scopes):
        rt = sessions.new_refresh_token()
        sessions.store_token(
            ctx.conn, rt, "refresh", app, user["Id"], scopes, ttl_ms=None, extra={"last_used": issued}
        )
        menu = ctx.conn.execute(
            'SELECT Id FROM "AppMenuItem" WHERE ApplicationId = ? LIMIT 1', (app["AppId"][:15],)
        ).fetchone()
        org_ms = ctx.org_now_ms()
        ctx.conn.execute(
            'INSERT INTO "OauthToken" (AccessToken, AppMenuItemId, AppName, CreatedDate, DeleteToken, LastUsedDate,'
            " RequestToken, UseCount, UserId) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)",
            (rt, menu[0] if menu else None, app["Label"], org_ms, rt, org_ms, code, user["Id"]),
        )
        body["refresh_token"] = rt
    if flow == "jwt":
        body.update(scope=" ".join(scopes), instance_url=ctx.base_url, id=ident, token_type=BEARER)
        return body
    issued_s = str(issued)
    body["signature"] = signature(app, ident, issued_s)
    if flow != "password":
        body["scope"] = " ".join(scopes)
    body.update(instance_url=ctx.base_url, id=ident, token_type=BEARER, issued_at=issued_s)
    return body
