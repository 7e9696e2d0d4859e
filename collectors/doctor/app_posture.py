"""How oauthwatch's own Connected App (or External Client App) is set up, judged against the admin
guide's pitfalls. An External Client App is found by :mod:`collectors.doctor.eca_posture` and judged
with the same findings.

Two views of the app exist and neither is complete (docs/architecture.md, "Salesforce facts the code relies on"): the ConnectedApplication
sObject (admin-approved only, refresh-token validity, session policy; no consumer key, scopes or
IP relaxation) and the Metadata API ``ConnectedApp`` (consumer key, scopes, certificate, IP
relaxation, refresh-token policy; needs "Modify Metadata" or "Customize Application"). The app is
found in the metadata by its consumer key, and in the sObject by its label; whatever the
integration user may not read becomes an ``info`` finding saying which permission would show it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from oauthwatch.config import OrgSettings
from oauthwatch.rules.posture import IP_RELAXATION_LABELS, judge_ip_relaxation

if TYPE_CHECKING:
    from collectors.auth import Token, TokenProvider
    from collectors.doctor.report import OrgReport

log = logging.getLogger(__name__)

REFRESH_FLOWS = ("web_server", "refresh_token")
SCOPES_PAGE = "Setup → App Manager → your oauthwatch app → Edit → Selected OAuth Scopes"
POLICIES_PAGE = "Setup → App Manager → your oauthwatch app → Manage → Edit Policies"


def judge_scopes(org: OrgSettings, token: Token, report: OrgReport) -> None:
    """Granted scopes (from the token response): ``full``, missing ``api``, unneeded refresh_token."""
    scopes = {s.lower() for s in token.scopes}
    if not scopes:
        report.facts.setdefault("scopes_note", f"the {org.flow} flow does not report granted scopes")
        return
    _judge_scope_set(org, scopes, report)


def _judge_scope_set(org: OrgSettings, scopes: set[str], report: OrgReport) -> None:
    if "full" in scopes:
        report.add(
            "problem",
            "scope_full",
            "the app grants 'full' (full access), far more than oauthwatch needs",
            f"{SCOPES_PAGE}: remove 'Full access (full)', keep 'Manage user data via APIs (api)'",
        )
    elif "api" not in scopes:
        report.add(
            "problem",
            "missing_api_scope",
            "the app does not grant the 'api' scope, so the REST API refuses its tokens",
            f"{SCOPES_PAGE}: add 'Manage user data via APIs (api)'",
        )
    if scopes & {"refresh_token", "offline_access"} and org.flow not in REFRESH_FLOWS:
        report.add(
            "warning",
            "refresh_token_unneeded",
            f"the app requests refresh_token although this org uses the {org.flow} flow, which "
            "never uses a refresh token (a long-lived credential nobody needs)",
            f"{SCOPES_PAGE}: remove 'Perform requests at any time (refresh_token, offline_access)'",
        )


def judge_app(org: OrgSettings, provider: TokenProvider, report: OrgReport) -> None:
    """Read the app's metadata and sObject row and add posture findings to ``report``."""
    sf = provider.salesforce()
    meta = read_app_metadata(sf, org, report)
    label = (meta or {}).get("label") or last_login_app(sf, report)
    if label:
        read_app_record(sf, label, report)
    if meta:
        judge_metadata(org, meta, report)


def _serialize(obj: Any) -> dict[str, Any]:
    from zeep.helpers import serialize_object

    value = serialize_object(obj, dict)
    return value if isinstance(value, dict) else {}


def read_app_metadata(sf: Any, org: OrgSettings, report: OrgReport) -> dict[str, Any] | None:
    """The ConnectedApp metadata whose consumer key is this org's client_id, or None."""
    try:
        mdapi = sf.mdapi
        query = mdapi._client.get_type("ns0:ListMetadataQuery")(type="ConnectedApp")
        names = [getattr(p, "fullName", None) for p in (mdapi.list_metadata([query]) or [])]
        names = [n for n in names if n]
        for i in range(0, len(names), 10):
            chunk = mdapi.ConnectedApp.read(names[i : i + 10])
            for item in chunk if isinstance(chunk, list) else [chunk]:
                meta = _serialize(item)
                if ((meta.get("oauthConfig") or {}).get("consumerKey") or "") == org.client_id:
                    return meta
        from collectors.doctor.eca_posture import find_external_client_app

        eca = find_external_client_app(mdapi, org.client_id, _serialize)
        if eca is not None:
            return eca
    except Exception as exc:
        log.debug("org %s: metadata read failed", org.name, exc_info=True)
        report.add(
            "info",
            "app_metadata_unreadable",
            f"cannot read the Connected App's metadata ({type(exc).__name__}), so scopes, IP "
            "relaxation, refresh token policy and the uploaded certificate are not checked",
            "give the integration user 'Modify Metadata Through Metadata API Functions' or "
            "'Customize Application' to let check read them (oauthwatch never changes them)",
        )
        return None
    report.add(
        "info",
        "app_not_found",
        f"no Connected App or External Client App with consumer key {org.client_id[:8]}… is visible in the metadata",
        "an app installed from another org (managed package) is not listed; check it in Setup",
    )
    return None


def last_login_app(sf: Any, report: OrgReport) -> str | None:
    """The Application of this user's latest login: the app's label even without metadata access."""
    uid = report.facts.get("user_id")
    if not uid:
        return None
    from simple_salesforce.format import format_soql

    try:
        res = sf.query(
            format_soql(
                "SELECT Application FROM LoginHistory WHERE UserId = {} ORDER BY LoginTime DESC LIMIT 1", uid
            )
        )
    except Exception:
        log.debug("LoginHistory lookup failed", exc_info=True)
        return None
    records = res.get("records") or []
    return records[0].get("Application") if records else None


def read_app_record(sf: Any, label: str, report: OrgReport) -> None:
    """ConnectedApplication row and its SetupEntityAccess assignments (who may use the app)."""
    from simple_salesforce.format import format_soql

    try:
        rows = (
            sf.query(
                format_soql(
                    "SELECT Id, Name, OptionsAllowAdminApprovedUsersOnly, OptionsRefreshTokenValidityMetric, "
                    "RefreshTokenValidityPeriod, OptionsHasSessionLevelPolicy FROM ConnectedApplication "
                    "WHERE Name = {}",
                    label,
                )
            ).get("records")
            or []
        )
    except Exception as exc:  # noqa: BLE001
        report.add(
            "info",
            "app_record_unreadable",
            f"cannot query ConnectedApplication ({type(exc).__name__})",
            "give the integration user 'View Setup and Configuration'",
        )
        return
    if not rows:
        return
    row = rows[0]
    app = {
        "id": row.get("Id"),
        "name": row.get("Name"),
        "admin_approved_only": row.get("OptionsAllowAdminApprovedUsersOnly"),
        "high_assurance_session": row.get("OptionsHasSessionLevelPolicy"),
    }
    try:
        access = (
            sf.query(
                format_soql(
                    "SELECT Parent.Name, Parent.IsOwnedByProfile, Parent.Profile.Name FROM SetupEntityAccess "
                    "WHERE SetupEntityId = {} AND SetupEntityType = 'ConnectedApplication'",
                    row.get("Id"),
                )
            ).get("records")
            or []
        )
        app["assigned_to"] = sorted(
            (
                f"profile {(r['Parent'].get('Profile') or {}).get('Name')}"
                if r["Parent"].get("IsOwnedByProfile")
                else f"permission set {r['Parent'].get('Name')}"
            )
            for r in access
            if r.get("Parent")
        )
    except Exception:
        log.debug("SetupEntityAccess lookup failed", exc_info=True)
    report.facts["app"] = {**report.facts.get("app", {}), **app}


def judge_metadata(org: OrgSettings, meta: dict[str, Any], report: OrgReport) -> None:
    """Posture findings from the ConnectedApp metadata (scopes, approval, IP, refresh, certificate)."""
    oauth = meta.get("oauthConfig") or {}
    policy = meta.get("oauthPolicy") or {}
    session = meta.get("sessionPolicy") or {}
    scopes = [str(s) for s in (oauth.get("scopes") or [])]
    wire = {_WIRE.get(s, s.lower()) for s in scopes}
    report.facts["app"] = {
        **report.facts.get("app", {}),
        "full_name": meta.get("fullName"),
        "label": meta.get("label"),
        "kind": "External Client App" if meta.get("kind") == "external_client_app" else "Connected App",
        "scopes": scopes,
        "admin_approved": bool(oauth.get("isAdminApproved")),
        "ip_relaxation": policy.get("ipRelaxation"),
        "refresh_token_policy": policy.get("refreshTokenPolicy"),
        "callback_urls": [u for u in str(oauth.get("callbackUrl") or "").splitlines() if u],
        "client_credentials_user": oauth.get("oauthClientCredentialUser"),
    }
    _judge_scope_set(org, wire, report)
    if not oauth.get("isAdminApproved"):
        report.add(
            "warning",
            "not_admin_approved",
            "Permitted Users is 'All users may self-authorize': any user who approves the app can use it",
            f"{POLICIES_PAGE} → Permitted Users: 'Admin approved users are pre-authorized', then assign "
            "a permission set to the integration user only",
        )
    relaxed = judge_ip_relaxation("the app", policy.get("ipRelaxation"))
    if relaxed is not None:
        # The posture detector's judgement: medium (BYPASS, ENFORCE_RELAXREFRESH) is a warning here.
        label = IP_RELAXATION_LABELS.get(str(policy.get("ipRelaxation")).upper())
        report.add(
            "warning" if relaxed.severity != "low" else "info",
            "ip_relaxed",
            f"IP Relaxation is '{label or policy.get('ipRelaxation')}': {relaxed.sentence}",
            f"{POLICIES_PAGE} → IP Relaxation: 'Enforce IP restrictions' and add this server's "
            "addresses to the integration user's profile Login IP Ranges",
        )
    refresh_policy = str(policy.get("refreshTokenPolicy") or "infinite")
    if org.flow in REFRESH_FLOWS and refresh_policy == "zero":
        report.add(
            "problem",
            "refresh_token_policy_zero",
            "the refresh token policy is 'Expire refresh token immediately', so the refresh flow cannot work",
            f"{POLICIES_PAGE} → Refresh Token Policy: 'Expire refresh token if not used for' 30 days",
        )
    elif org.flow in REFRESH_FLOWS and refresh_policy == "infinite":
        report.add(
            "warning",
            "refresh_token_never_expires",
            "refresh tokens of this app are valid until revoked: a leaked one works forever",
            f"{POLICIES_PAGE} → Refresh Token Policy: 'Expire refresh token if not used for' e.g. 30 days",
        )
    if str(session.get("sessionLevel") or "").upper() == "HIGH_ASSURANCE" and org.flow in (
        "jwt",
        "client_credentials",
    ):
        report.add(
            "problem",
            "high_assurance",
            f"the app requires a High Assurance session, which the {org.flow} flow cannot provide",
            f"{POLICIES_PAGE} → Session Policies: remove 'High Assurance session required'",
        )
    if org.flow == "jwt":
        _judge_certificate(org, oauth.get("certificate"), report)


def _judge_certificate(org: OrgSettings, pem: str | None, report: OrgReport) -> None:
    from cryptography import x509

    from collectors.auth.keygen import key_matches_certificate
    from collectors.doctor.report import judge_expiry

    if not pem:
        report.add(
            "problem",
            "no_certificate",
            "no certificate is uploaded to the app, so JWT bearer cannot work",
            f"run `oauthwatch keygen --org {org.name}` and upload the certificate (Edit → 'Use digital signatures')",
        )
        return
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        report.add("warning", "certificate_unreadable", "the uploaded certificate cannot be parsed")
        return
    not_after: datetime = cert.not_valid_after_utc
    report.facts.setdefault("app", {})["certificate_expires"] = not_after.isoformat()
    judge_expiry(report, not_after, "the certificate uploaded to the app")
    if org.private_key_file:
        try:
            ok = key_matches_certificate(org.private_key_file, pem.encode())
        except (OSError, ValueError):
            return
        if not ok:
            report.add(
                "problem",
                "uploaded_certificate_mismatch",
                f"the certificate uploaded to the app does not match the private key {org.private_key_file}",
                "upload the certificate made with that key (or run `oauthwatch keygen --force` and upload the new one)",
            )


_WIRE = {
    "Api": "api",
    "Full": "full",
    "RefreshToken": "refresh_token",
    "OfflineAccess": "offline_access",
    "Web": "web",
    "Basic": "id",
    "OpenID": "openid",
}
