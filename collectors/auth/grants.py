"""The token request of each OAuth flow: which form fields, which client authentication.

Kept apart from :mod:`collectors.auth` (caching, renewal, parsing) so each part stays small. The
values read here (consumer secret, password, refresh token, private key, the signed assertion)
are registered with :func:`oauthwatch.secrets.register_secret` the moment they exist.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from collectors.auth.causes import AuthError, explain_token_error, is_sandbox_host, login_host_kind
from collectors.auth.tokens import TokenFileError, read_refresh_token
from oauthwatch.config import ConfigError, OrgSettings
from oauthwatch.secret_settings import warn_if_readable_by_others
from oauthwatch.secrets import register_secret

log = logging.getLogger(__name__)

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME = timedelta(seconds=170)  # Salesforce wants exp "within 3 minutes"
LEGACY_FLOW_WARNING = (
    "org {org}: the username-password flow is discouraged (it sends a user's password, cannot use "
    'MFA, and is blocked by default in orgs created since Summer \'23); switch to flow = "jwt" '
    '(JWT bearer, recommended) or flow = "client_credentials"'
)


def jwt_audience(org: OrgSettings) -> str:
    """The JWT ``aud`` claim: https://test.salesforce.com for sandboxes, https://login.salesforce.com
    for production Salesforce hosts (the documented values, also for My Domain), and the login URL
    itself for anything else (an Experience Cloud site, the local org). ``jwt_audience`` overrides."""
    if org.jwt_audience:
        return org.jwt_audience.rstrip("/")
    if is_sandbox_host(org.login_url):
        return "https://test.salesforce.com"
    if login_host_kind(org.login_url) in ("production", "my_domain"):
        return "https://login.salesforce.com"
    return org.login_url


def build_grant(org: OrgSettings, flow: str) -> tuple[dict[str, str], tuple[str, str] | None]:
    """The token request of ``flow``: form fields and, for client credentials, Basic auth."""
    try:
        if flow == "jwt":
            return {"grant_type": JWT_GRANT, "assertion": _assertion(org)}, None
        if flow == "client_credentials":
            if login_host_kind(org.login_url) in ("production", "sandbox"):
                exp = explain_token_error(org, "invalid_client_id", "")
                raise AuthError(
                    "wrong_login_url",
                    "",
                    cause=exp.cause,
                    fix=exp.fix,
                    org=org.name,
                )
            secret = _secret(org.client_secret())
            return {"grant_type": "client_credentials"}, (org.client_id, secret)
        if flow == "refresh_token":
            return _refresh_grant(org), None
        if flow == "password":
            message = LEGACY_FLOW_WARNING.format(org=org.name)
            log.warning(message)
            if not logging.getLogger().hasHandlers():
                print(f"warning: {message}", file=sys.stderr)
            return {
                "grant_type": "password",
                "client_id": org.client_id,
                "client_secret": _secret(org.client_secret()),
                "username": org.username or "",
                "password": _secret(org.password()),
            }, None
    except ConfigError as exc:
        raise AuthError(
            "missing_secret", "", cause=str(exc), fix="set the variable or create the file", org=org.name
        ) from None
    raise AuthError("unknown_flow", flow, cause=f"unknown flow {flow!r}", fix="set flow", org=org.name)


def _refresh_grant(org: OrgSettings) -> dict[str, str]:
    try:
        refresh = read_refresh_token(org)
    except TokenFileError as exc:
        raise AuthError(
            "refresh_token_file", "", cause=str(exc), fix="fix the file mode", org=org.name
        ) from None
    if not refresh:
        raise AuthError(
            "no_refresh_token",
            "",
            cause="no refresh token is stored for this org yet",
            fix=f"run `oauthwatch login --org {org.name}` once to authorize oauthwatch in the browser",
            org=org.name,
        )
    data = {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": org.client_id}
    secret = org.client_secret(required=False)
    if secret is not None:
        data["client_secret"] = _secret(secret)
    return data


def _assertion(org: OrgSettings) -> str:
    import jwt

    key_path = Path(org.private_key_file or "")
    warn_if_readable_by_others(f"orgs.{org.name}.private_key_file", key_path)
    try:
        key = key_path.read_text()
    except OSError as exc:
        raise AuthError(
            "private_key_unreadable",
            "",
            cause=f"cannot read the private key {key_path}: {exc.strerror}",
            fix=f"run `oauthwatch keygen --org {org.name}` and upload the certificate, or fix private_key_file",
            org=org.name,
        ) from None
    except UnicodeDecodeError:
        raise AuthError(
            "private_key_unreadable",
            "",
            cause=f"the private key {key_path} is not PEM text (DER or another binary format)",
            fix=f"convert it: openssl pkey -inform DER -in {key_path} -out {key_path}.pem, then point "
            "private_key_file at the .pem file (or run `oauthwatch keygen`)",
            org=org.name,
        ) from None
    register_secret(key)
    now = datetime.now(UTC)
    claims = {
        "iss": org.client_id,
        "sub": org.username,
        "aud": jwt_audience(org),
        "exp": int((now + JWT_LIFETIME).timestamp()),
    }
    try:
        assertion = jwt.encode(claims, key, algorithm="RS256")
    except (ValueError, TypeError, jwt.exceptions.PyJWTError) as exc:
        raise AuthError(
            "private_key_invalid",
            "",
            cause=f"{key_path} is not an RSA private key in PEM form ({type(exc).__name__})",
            fix=f"run `oauthwatch keygen --org {org.name}` and upload the new certificate",
            org=org.name,
        ) from None
    register_secret(assertion)
    return assertion


def _secret(value: Any) -> str:
    raw = value.get_secret_value() if value is not None else ""
    register_secret(raw)
    return raw
