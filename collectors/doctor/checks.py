"""``oauthwatch check``: the admin guide's "Test" step made a doctor.

For each org it authenticates (a fresh login, never the cached token), calls the sample endpoints
(limits, userinfo, the identity URL), reports who and where oauthwatch is connected as, and then
judges the posture of oauthwatch's own Connected App (:mod:`collectors.doctor.app_posture`). Every
failure becomes a :class:`Finding` with a plain-language cause and the setting or Setup page that
fixes it. Orgs are checked one by one and independently: one broken org never hides the others.

Severity: ``problem`` (oauthwatch cannot work, or the app is dangerously set up: exit code 1),
``warning`` (works, but should be tightened: exit 0 unless ``--strict``), ``info``.
"""

from __future__ import annotations

import logging
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collectors.auth import AuthError, Token, TokenProvider
from collectors.auth.causes import explain_rest_error
from collectors.auth.keygen import certificate_facts, key_matches_certificate
from collectors.doctor.access import check_permissions, probe_sources
from collectors.doctor.app_posture import judge_app, judge_scopes
from collectors.doctor.report import OrgReport, judge_expiry
from oauthwatch.config import OrgSettings
from oauthwatch.secrets import register_secret

log = logging.getLogger(__name__)


def check_all(orgs: list[OrgSettings], *, timeout: float = 30.0) -> list[OrgReport]:
    """Check every org independently; an unexpected error in one becomes that org's finding."""
    reports = []
    for org in orgs:
        try:
            reports.append(check_org(org, timeout=timeout))
        except Exception as exc:
            log.debug("org %s: check failed unexpectedly", org.name, exc_info=True)
            report = OrgReport(org.name, org.flow, org.login_url)
            report.add("problem", "internal_error", f"check failed unexpectedly: {type(exc).__name__}: {exc}")
            reports.append(report)
    return reports


def check_org(org: OrgSettings, *, timeout: float = 30.0) -> OrgReport:
    """Authenticate to ``org``, call its sample endpoints and judge its app; see the module doc."""
    report = OrgReport(org.name, org.flow, org.login_url)
    log.debug("org %s: checking the %s flow via %s", org.name, org.flow, org.login_url)
    preflight(org, report)
    provider = TokenProvider(org, timeout=timeout)  # a fresh login: check must really authenticate
    try:
        token = provider.token()
    except AuthError as exc:
        report.add("problem", exc.code, exc.cause, exc.fix)
        if exc.description:
            report.facts["org_said"] = f"{exc.code}: {exc.description}"
        return report
    report.connected = True
    describe_token(token, provider, report)
    identity(provider, token, report)
    if api_version_offered(provider, token, report):
        limits(provider, report)
    judge_scopes(org, token, report)
    judge_app(org, provider, report)
    if "api_usage" in report.facts:  # the REST API answered: worth asking what it lets us read
        check_permissions(provider, report)
        probe_sources(provider, report)
    return report


def preflight(org: OrgSettings, report: OrgReport) -> None:
    """Local facts that explain failures before any call: key file mode, certificate expiry and
    match, the discouraged password flow. (A client-credentials org on the generic login host is
    refused by the provider itself, before any secret is sent.)"""
    if org.flow == "password":
        report.add(
            "warning",
            "password_flow",
            "the username-password flow is discouraged: it sends the user's password, cannot do "
            "MFA and is blocked by default in orgs created since Summer '23",
            'switch to flow = "jwt" (JWT bearer, recommended) or "client_credentials"',
        )
    secret_file = Path(org.client_secret_file) if org.client_secret_file else None
    if secret_file is not None and secret_file.exists() and stat.S_IMODE(secret_file.stat().st_mode) & 0o077:
        report.add(
            "warning",
            "client_secret_mode",
            f"client_secret_file is readable by other users (mode {stat.S_IMODE(secret_file.stat().st_mode):o})",
            "chmod 600 the file named by client_secret_file; replace the secret if others could read it",
        )
    if org.flow != "jwt" or not org.private_key_file:
        return
    key = Path(org.private_key_file)
    if key.exists() and stat.S_IMODE(key.stat().st_mode) & 0o077:
        report.add(
            "warning",
            "private_key_mode",
            f"the private key {key} is readable by other users (mode {stat.S_IMODE(key.stat().st_mode):o})",
            f"chmod 600 {key}",
        )
    cert = Path(org.certificate_file) if org.certificate_file else key.with_suffix(".crt")
    if not cert.exists():
        return
    try:
        _, not_after = certificate_facts(cert)
    except ValueError:
        report.add("warning", "certificate_unreadable", f"{cert} is not a PEM certificate")
        return
    report.facts["certificate_expires"] = not_after.isoformat()
    judge_expiry(report, not_after, f"the local certificate {cert}")
    if key.exists() and os.access(key, os.R_OK):
        try:
            matches = key_matches_certificate(key, cert.read_bytes())
        except ValueError:
            matches = False
        if not matches:
            report.add(
                "problem",
                "key_certificate_mismatch",
                f"the private key {key} and the certificate {cert} are not a pair",
                f"run `oauthwatch keygen --org {org.name} --force` and upload the new certificate",
            )


def describe_token(token: Token, provider: TokenProvider, report: OrgReport) -> None:
    """Token details, never the token: flow, issue time, scopes, which keys the response had."""
    report.facts.update(
        org_id=token.org_id,
        user_id=token.user_id,
        instance_url=token.instance_url,
        api_version=provider.org.api_version,
        scopes=sorted(token.scopes),
        token={
            "flow": token.flow,
            "issued_at": token.issued_at.isoformat(),
            "type": "Bearer",
            "response_keys": sorted(k for k in provider.last_response_keys),
            "refresh_token_issued": "refresh_token" in provider.last_response_keys,
        },
    )
    expiry = introspect_expiry(provider, token)
    if expiry:
        report.facts["token"]["expires_at"] = expiry


def introspect_expiry(provider: TokenProvider, token: Token) -> str | None:
    """When the access token expires, from introspection (only flows that hold a client secret)."""
    org = provider.org
    try:
        secret = org.client_secret(required=False)
    except Exception:  # noqa: BLE001 - a missing secret file only means "cannot introspect"
        return None
    if secret is None:
        return None
    register_secret(secret.get_secret_value())
    try:
        r = provider.session().post(
            f"{org.login_url}/services/oauth2/introspect",
            data={"token": token.access_token, "token_type_hint": "access_token"},
            auth=(org.client_id, secret.get_secret_value()),
        )
        body = r.json() if r.ok else {}
    except Exception:  # noqa: BLE001 - introspection is optional information
        return None
    exp = body.get("exp") if isinstance(body, dict) else None
    return datetime.fromtimestamp(int(exp), tz=UTC).isoformat() if isinstance(exp, int) else None


def _rest_finding(report: OrgReport, org: OrgSettings, status: int, body: Any, what: str) -> None:
    code, message = "", ""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        code, message = str(body[0].get("errorCode", "")), str(body[0].get("message", ""))
    elif isinstance(body, dict):
        code = str(body.get("errorCode") or body.get("error") or "")
        message = str(body.get("message") or body.get("error_description") or "")
    exp = explain_rest_error(org, status, code, message)
    if code == "INVALID_SESSION_ID" and "not valid for use" in message.lower():
        code = "missing_api_scope"
    report.add("problem", code or f"http_{status}", f"{what}: {exp.cause}", exp.fix)


def _get(provider: TokenProvider, url: str, report: OrgReport) -> tuple[int, Any]:
    """GET with the current token; on a plain INVALID_SESSION_ID renew once (exercises renewal).
    Records the ``Sforce-Limit-Info`` header when the org sends one."""
    token = provider.token()
    renewed = False
    while True:
        r = provider.session().get(url, headers={"Authorization": f"Bearer {token.access_token}"})
        try:
            body = r.json()
        except ValueError:
            body = None
        if r.headers.get("Sforce-Limit-Info"):
            report.facts["sforce_limit_info"] = r.headers["Sforce-Limit-Info"]
        if r.status_code == 401 and "not valid for use" not in str(body) and not renewed:
            token, renewed = provider.renew(token), True
            report.facts["token_renewed"] = True
            continue
        return r.status_code, body


def identity(provider: TokenProvider, token: Token, report: OrgReport) -> None:
    """userinfo and the identity URL: which user, which org, is the user active."""
    org = provider.org
    try:
        status, info = _get(provider, f"{token.instance_url}/services/oauth2/userinfo", report)
    except AuthError as exc:
        report.add("problem", exc.code, exc.cause, exc.fix)
        return
    if status == 200 and isinstance(info, dict):
        report.facts.update(
            username=info.get("preferred_username"),
            user_name=info.get("name"),
            user_type=info.get("user_type"),
            organization_id=info.get("organization_id"),
        )
    else:
        _rest_finding(report, org, status, info, "userinfo")
    if token.id_url:
        try:
            status, ident = _get(provider, token.id_url, report)
        except AuthError as exc:
            report.add("problem", exc.code, exc.cause, exc.fix)
            return
        if status == 200 and isinstance(ident, dict):
            report.facts["identity"] = {
                k: ident.get(k) for k in ("username", "display_name", "user_type", "active") if k in ident
            }
            if ident.get("active") is False:
                report.add("problem", "inactive_user", "the identity service says the user is inactive")
        else:
            _rest_finding(report, org, status, ident, "identity URL")


def api_version_offered(provider: TokenProvider, token: Token, report: OrgReport) -> bool:
    """Whether the org serves the configured ``api_version`` (GET /services/data/ lists them)."""
    org = provider.org
    try:
        r = provider.session().get(f"{token.instance_url}/services/data/")
        versions = [str(v.get("version")) for v in r.json()] if r.ok else []
    except (ValueError, AttributeError, TypeError):
        versions = []
    except Exception as exc:  # noqa: BLE001 - network trouble shows up in the next calls too
        log.debug("org %s: versions list failed: %s", org.name, type(exc).__name__)
        versions = []
    if not versions:
        return True
    latest = max(versions, key=lambda v: tuple(int(x) for x in v.split(".") if x.isdigit()))
    report.facts["latest_api_version"] = latest
    if org.api_version not in versions:
        report.add(
            "problem",
            "api_version_unsupported",
            f"the org does not offer API version {org.api_version} (it offers {versions[0]} to {latest})",
            f'set api_version = "{latest}" for org {org.name} in the configuration',
        )
        return False
    return True


def limits(provider: TokenProvider, report: OrgReport) -> None:
    """The limits resource and the Sforce-Limit-Info header: how much of the API budget is used."""
    org = provider.org
    url = f"{provider.token().instance_url}/services/data/v{org.api_version}/limits/"
    try:
        status, body = _get(provider, url, report)
    except AuthError as exc:
        report.add("problem", exc.code, exc.cause, exc.fix)
        return
    if status != 200 or not isinstance(body, dict):
        _rest_finding(report, org, status, body, "REST API (limits)")
        return
    daily = body.get("DailyApiRequests") or {}
    if {"Max", "Remaining"} <= set(daily):
        used, total = daily["Max"] - daily["Remaining"], daily["Max"]
        share = used / total if total else 0.0
        report.facts["api_usage"] = {"used": used, "max": total, "share": round(share, 4)}
        if share >= 0.9:
            report.add(
                "warning",
                "api_usage_high",
                f"the org has used {used} of {total} daily API requests ({share:.0%})",
                "lower [collect] run_budget_share or wait for the rolling 24-hour window",
            )
