"""What an OAuth or REST refusal means for the admin, and which setting or Setup page fixes it.

Salesforce answers a failed token request with a terse ``{"error", "error_description"}`` pair
(``invalid_grant`` / ``user hasn't approved this consumer``) and a refused REST call with an
``errorCode``. The same pair can have several causes depending on the flow and the login host, so
:func:`explain_token_error` and :func:`explain_rest_error` take the org's settings into account and
return a short plain-language cause plus the exact place to fix it. Texts never contain secrets:
they are built from the error codes, the flow and public settings only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from oauthwatch.config import OrgSettings
from oauthwatch.secrets import redact

APP_PAGE = "Setup → App Manager → your oauthwatch app"
FLOW_NAMES = {
    "jwt": "JWT bearer",
    "client_credentials": "client credentials",
    "web_server": "web server (authorization code + PKCE)",
    "refresh_token": "refresh token",
    "password": "username-password",
}


@dataclass(frozen=True)
class Explanation:
    """A cause in plain language and the fix (which setting or Setup page)."""

    cause: str
    fix: str


def login_host_kind(login_url: str) -> str:
    """``production`` / ``sandbox`` (the generic login hosts), ``my_domain`` or ``other``."""
    host = (urlsplit(login_url).hostname or "").lower()
    if host == "login.salesforce.com":
        return "production"
    if host == "test.salesforce.com":
        return "sandbox"
    if host.endswith(".salesforce.com") or host.endswith(".force.com"):
        return "my_domain"
    return "other"


def is_sandbox_host(login_url: str) -> bool:
    """True for test.salesforce.com and sandbox My Domain hosts (``x--y.sandbox.my.salesforce.com``)."""
    host = (urlsplit(login_url).hostname or "").lower()
    return host == "test.salesforce.com" or host.endswith(".sandbox.my.salesforce.com")


def _generic_host(org: OrgSettings) -> bool:
    return login_host_kind(org.login_url) in ("production", "sandbox")


def _explain_app_not_found(org: OrgSettings, where: str) -> Explanation:
    """``app_not_found`` / "External client app is not installed in this org": the consumer key
    names an External Client App the org that received the request does not have
    (docs/salesforce-behaviour.md, section 9)."""
    deploy = (
        "deploy the app to that org: `oauthwatch keygen --org "
        f"{org.name} --package DIR`, then `sf project deploy start --source-dir DIR --target-org <alias>`"
    )
    if is_sandbox_host(org.login_url):
        return Explanation(
            "the External Client App is not installed in this sandbox: a sandbox copied or refreshed "
            "before the app was created lacks it, and an app with distribution state Local exists only "
            f"in the org that created it, while {org.login_url} (the JWT audience) sends the login to a sandbox",
            f"{deploy}, or create the app in the sandbox and put its consumer key in {where}; set "
            "login_url to the sandbox's My Domain (https://<MyDomain>--<sandbox>.sandbox.my.salesforce.com)",
        )
    return Explanation(
        "the consumer key names an External Client App that is not installed in the org "
        f"{org.login_url} leads to: the app was created in another org (a sandbox, or another "
        "production org) and apps with distribution state Local are not shared",
        f"{deploy}; or point login_url at the org that owns the app (for a sandbox: "
        f"https://test.salesforce.com or its My Domain) in {where}",
    )


def explain_token_error(org: OrgSettings, code: str, description: str) -> Explanation:
    """Cause and fix for a failed ``/services/oauth2/token`` answer, for this org's flow and host."""
    desc = (description or "").strip().lower()
    flow = org.flow
    where = f"[orgs] name = {org.name!r} in the configuration"
    if code == "invalid_client_id":
        if flow == "client_credentials" and _generic_host(org):
            return Explanation(
                "the client credentials flow only works on your org's My Domain host, not on "
                f"{org.login_url}",
                f"set login_url to your My Domain (https://<MyDomain>.my.salesforce.com) in {where}",
            )
        return Explanation(
            "the consumer key is not known to this org: it is wrong, belongs to another org "
            "(sandbox vs production), or the Connected App was created or changed only minutes "
            "ago and has not propagated yet (this can take up to 10 minutes)",
            f"compare client_id in {where} with {APP_PAGE} → View → Manage Consumer Details → "
            "Consumer Key, check login_url points at the org that owns the app, and retry in a few "
            "minutes if the app is new",
        )
    if code == "app_not_found" or "external client app is not installed" in desc:
        return _explain_app_not_found(org, where)
    if code in ("invalid_client", "invalid_client_credentials"):
        return Explanation(
            "the consumer secret does not match the consumer key",
            f"put the Consumer Secret from {APP_PAGE} → View → Manage Consumer Details into the "
            f"file or environment variable that client_secret_file / client_secret_env names in {where}",
        )
    if code == "invalid_app_access" or "not admin approved" in desc:
        return Explanation(
            "the app is set to 'Admin approved users are pre-authorized' and this user is not "
            "assigned to it through a profile or permission set",
            f"{APP_PAGE} → Manage → Manage Profiles / Manage Permission Sets: add the integration "
            "user's profile or a permission set the user has",
        )
    if code == "unsupported_grant_type":
        return Explanation(
            f"the {FLOW_NAMES[flow]} flow is not enabled for this Connected App",
            _enable_flow_fix(flow),
        )
    if code == "inactive_user":
        return Explanation(
            "the user is deactivated, frozen or locked",
            "Setup → Users: activate or unfreeze the integration user (or use another user)",
        )
    if code == "inactive_org":
        return Explanation(
            "the org is locked, expired or inactive", "check the org's status with its administrator"
        )
    if code == "rate_limit_exceeded":
        return Explanation(
            "too many token requests for this app and user in a short time",
            "wait a few minutes; oauthwatch caches one token per org, so check that no other "
            "process logs in with the same app in a loop",
        )
    if code in ("retry_request", "server_error", "temporarily_unavailable"):
        return Explanation(
            "Salesforce's login service failed for a moment and asked to retry the request",
            "oauthwatch already retried a few times; the next collection cycle tries again. If it "
            "persists, check https://status.salesforce.com",
        )
    if code == "redirect_uri_mismatch":
        return Explanation(
            "the redirect_uri is not one of the app's callback URLs",
            f"add {org.redirect_uri} to {APP_PAGE} → Edit → Callback URL, or set redirect_uri in {where}",
        )
    if code == "invalid_scope":
        return Explanation(
            "the requested scope is not allowed for this app",
            f"{APP_PAGE} → Edit → Selected OAuth Scopes: include 'Manage user data via APIs (api)'",
        )
    if code == "invalid_grant":
        return _explain_invalid_grant(org, desc, where)
    return Explanation(
        f"the org refused the {FLOW_NAMES[flow]} token request ({code or 'no error code'})",
        f"check the Connected App settings and Setup → Login History for {org.username or 'the user'}",
    )


def _explain_invalid_grant(org: OrgSettings, desc: str, where: str) -> Explanation:
    flow = org.flow
    if "hasn't approved" in desc or "has not approved" in desc:
        return Explanation(
            "the user has not approved this app, and the app does not pre-authorize it",
            f"{APP_PAGE} → Manage → Edit Policies → Permitted Users: 'Admin approved users are "
            "pre-authorized', then Manage Profiles / Permission Sets: add the integration user's",
        )
    if "audience" in desc:
        return Explanation(
            f"the JWT audience does not match this org's login host ({org.login_url}): sandbox vs "
            "production, or a My Domain/Experience Cloud URL where the generic host is expected",
            f"use https://test.salesforce.com (or the sandbox My Domain) for sandboxes and "
            f"https://login.salesforce.com (or the My Domain) for production as login_url, or set "
            f"jwt_audience in {where}",
        )
    if any(s in desc for s in ("invalid assertion", "signature", "certificate", "jwt")):
        return Explanation(
            "the JWT assertion was refused: the private key and the certificate uploaded to the app "
            "are not a pair, or that certificate expired (or, less often, the username is not a user "
            "of this org, or this machine's clock is off by minutes)",
            f"run `oauthwatch keygen --org {org.name}` (or use the matching key) and upload the "
            f"certificate at {APP_PAGE} → Edit → 'Use digital signatures'; check username "
            f"({org.username}) and the system clock",
        )
    if "ip restricted" in desc or "login hours" in desc:
        return Explanation(
            "this machine's IP address is outside the user's profile Login IP Ranges (or outside "
            "its login hours), and the app enforces IP restrictions",
            "Setup → Profiles → the user's profile → Login IP Ranges: add this host's address, or "
            f"{APP_PAGE} → Manage → Edit Policies → IP Relaxation: 'Relax IP restrictions' "
            "(only for a trusted server)",
        )
    if "client credentials user" in desc or "run-as" in desc or "run as" in desc:
        return Explanation(
            "client credentials is enabled but the app has no run-as (execution) user",
            f"{APP_PAGE} → Manage → Edit Policies → Client Credentials Flow → Run As: choose an "
            "API-only integration user",
        )
    if "expired" in desc and ("refresh" in desc or "access" in desc):
        return Explanation(
            "the stored refresh token was revoked or expired (refresh token policy, a password "
            "reset, or an admin revoking the grant)",
            f"run `oauthwatch login --org {org.name}` again; {APP_PAGE} → Manage → Refresh Token "
            "Policy decides how long it lives",
        )
    if "authorization code" in desc or "code verifier" in desc or "code_verifier" in desc:
        return Explanation(
            "the authorization code was already used, expired, or its PKCE verifier did not match",
            f"run `oauthwatch login --org {org.name}` again and finish the browser step within a minute",
        )
    if "high assurance" in desc or "session level" in desc:
        return Explanation(
            f"the app requires a High Assurance session, which the {FLOW_NAMES[flow]} flow cannot provide",
            f"{APP_PAGE} → Manage → Edit Policies → Session Policies: remove 'High Assurance session "
            "required' for this app",
        )
    if flow == "password" and ("authentication failure" in desc or "password" in desc):
        return Explanation(
            "the username, password or security token is wrong, the user is locked out, or the "
            "org blocks the username-password flow (blocked by default in orgs created since "
            "Summer '23; Login History then says 'Username-Password Flow Disabled')",
            "check the password (append the security token unless the IP is trusted); Setup → "
            "OAuth and OpenID Connect Settings → 'Allow OAuth Username-Password Flows'. Better: "
            'switch this org to flow = "jwt" or "client_credentials"',
        )
    if "user" in desc and ("inactive" in desc or "locked" in desc or "frozen" in desc):
        return Explanation(
            "the user is deactivated, frozen or locked",
            "Setup → Users: activate or unfreeze the integration user",
        )
    if "invalid user" in desc or "user" in desc:
        return Explanation(
            f"the org does not accept user {org.username or '(none)'} for this app",
            f"check username in {where} (sandbox usernames end in .<sandbox name>) and that the user is active",
        )
    return Explanation(
        f"the org refused the {FLOW_NAMES[flow]} grant",
        "Setup → Login History shows the exact reason for this user and app",
    )


def _enable_flow_fix(flow: str) -> str:
    if flow == "client_credentials":
        return f"{APP_PAGE} → Edit → OAuth Settings: tick 'Enable Client Credentials Flow', then set a Run As user"
    if flow == "password":
        return (
            "Setup → OAuth and OpenID Connect Settings → 'Allow OAuth Username-Password Flows' (or, "
            'better, use flow = "jwt")'
        )
    if flow == "jwt":
        return f"{APP_PAGE} → Edit → OAuth Settings: tick 'Use digital signatures' and upload the certificate"
    return f"{APP_PAGE} → Edit → OAuth Settings: enable OAuth with the scopes api and refresh_token"


def explain_rest_error(org: OrgSettings, status: int, error_code: str, message: str) -> Explanation:
    """Cause and fix for a REST refusal after a token was issued (the token works, the call does not)."""
    msg = (message or "").lower()
    if error_code == "INVALID_SESSION_ID" and "not valid for use with" in msg:
        return Explanation(
            "the token lacks the 'api' scope, so the REST API refuses it",
            f"{APP_PAGE} → Edit → Selected OAuth Scopes: add 'Manage user data via APIs (api)'",
        )
    if error_code == "INVALID_SESSION_ID":
        return Explanation(
            "the org refuses a token it has just issued (revoked at once, or a session policy "
            "such as High Assurance or IP locking blocks it)",
            f"{APP_PAGE} → Manage → Edit Policies: check Session Policies and IP Relaxation; "
            "Setup → Session Settings: 'Lock sessions to the IP address from which they originated'",
        )
    if error_code == "API_CURRENTLY_DISABLED" or "api is disabled" in msg:
        return Explanation(
            "the API is disabled for this user: its profile or permission sets lack 'API Enabled'",
            "Setup → Profiles (or a permission set) of the integration user → System Permissions: "
            "tick 'API Enabled' (an 'API Only User' integration profile is the usual choice)",
        )
    if error_code == "REQUEST_LIMIT_EXCEEDED":
        return Explanation(
            "the org's daily API request limit is used up",
            "wait for the rolling 24-hour window, or lower [collect] run_budget_share",
        )
    if error_code == "INSUFFICIENT_ACCESS" or status == 403:
        return Explanation(
            "the user lacks a permission this call needs (limits need 'View Setup and Configuration')",
            "give the integration user a permission set with 'View Setup and Configuration' and 'API Enabled'",
        )
    return Explanation(
        f"the org answered HTTP {status} {error_code or ''}".strip(),
        "retry later; if it persists check Salesforce Trust status and Setup → Login History",
    )


class AuthError(Exception):
    """oauthwatch could not get (or use) a token for an org: what happened and what to change.

    ``code`` is Salesforce's error code (``invalid_grant``) or ours (``tls_error``,
    ``unreachable``, ``session_refused``…); ``description`` the org's own text; ``cause`` a short
    plain-language cause; ``fix`` the setting or Setup page to change; ``transient`` says whether
    retrying later may help. ``str()`` is redacted and never contains a secret.
    """

    def __init__(
        self,
        code: str,
        description: str,
        *,
        cause: str,
        fix: str,
        org: str,
        transient: bool = False,
    ) -> None:
        self.code = code
        self.description = redact(description or "")
        self.cause = cause
        self.fix = fix
        self.org = org
        self.transient = transient
        super().__init__(str(self))

    def __str__(self) -> str:
        said = f" (the org said: {self.code}: {self.description})" if self.description else f" ({self.code})"
        return redact(f"org {self.org}: {self.cause}{said}. Fix: {self.fix}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``check --format json`` and the run ledger."""
        return {
            "code": self.code,
            "description": self.description,
            "cause": self.cause,
            "fix": self.fix,
            "transient": self.transient,
        }


def tls_error(org: OrgSettings, exc: Exception) -> AuthError:
    """The org's certificate was not trusted: name the CA bundle setting."""
    host = urlsplit(org.login_url).hostname
    return AuthError(
        "tls_error",
        type(exc).__name__,
        cause=f"the TLS certificate of {host} is not trusted"
        + (f" by the CA bundle {org.ca_bundle}" if org.ca_bundle else ""),
        fix="set ca_bundle for this org to the PEM file of the CA that signs it (a corporate TLS "
        "proxy, or the local org's ca.pem)",
        org=org.name,
        transient=False,
    )


def unreachable_error(org: OrgSettings, exc: Exception) -> AuthError:
    """The login host could not be reached (DNS, refused, timeout)."""
    return AuthError(
        "unreachable",
        type(exc).__name__,
        cause=f"cannot reach {org.login_url}",
        fix="check login_url, DNS, proxy and firewall; retry later",
        org=org.name,
        transient=True,
    )
