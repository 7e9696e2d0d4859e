"""The Metadata API types of an External Client App, as ``listMetadata`` and ``readMetadata`` answer.

Since Spring '26 an org's new apps are External Client Apps: no ``ConnectedApplication`` row, no
``ConnectedApp`` metadata, but four Metadata API types (docs/salesforce-behaviour.md, section 9):
the header ``ExternalClientApplication``, its OAuth plugin settings ``ExtlClntAppOauthSettings``
(scopes), the global OAuth settings ``ExtlClntAppGlobalOauthSettings`` (consumer key, callback,
JWT certificate; the consumer secret is never returned) and the admin's policies
``ExtlClntAppOauthConfigurablePolicies`` (permitted users, IP relaxation, refresh token policy,
session level). Each component names its app in ``externalClientApplication``; the suffixes of
the components' full names (``_oauth``, ``_glbloauth``, ``_oauthPlcy``) follow public projects
and are UNCONFIRMED, so readers join on ``externalClientApplication``, never on the name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from oauthwatch.simulator.api.metadata_xml import assignments
from oauthwatch.simulator.api.metadata_xml import el as _el
from oauthwatch.simulator.data import sessions

if TYPE_CHECKING:
    from oauthwatch.simulator.api.context import OrgContext

HEADER = "ExternalClientApplication"
OAUTH = "ExtlClntAppOauthSettings"
GLOBAL = "ExtlClntAppGlobalOauthSettings"
POLICIES = "ExtlClntAppOauthConfigurablePolicies"
# type -> (full-name suffix, folder, file suffix)
TYPES: dict[str, tuple[str, str, str]] = {
    HEADER: ("", "externalClientApps", "eca"),
    OAUTH: ("_oauth", "extlClntAppOauthSettings", "ecaOauth"),
    GLOBAL: ("_glbloauth", "extlClntAppGlobalOauthSets", "ecaGlblOauth"),
    POLICIES: ("_oauthPlcy", "extlClntAppOauthPolicies", "ecaOauthPlcy"),
}
# the local org keeps the ConnectedApp spelling; the policies file spells the same values this way
IP_RELAXATION = {
    "ENFORCE": "Enforce",
    "BYPASS": "Bypass",
    "BYPASS_2FACTOR": "Bypass_2factor",
    "ENFORCE_RELAXREFRESH": "Enforce_RelaxRefresh",
}
REFRESH = {"infinite": "Infinite", "zero": "Zero", "specific_lifetime": "SpecificLifetime",
           "specific_inactivity": "SpecificInactivity"}  # fmt: skip

_APPS = "SELECT * FROM _AppConfig WHERE Model = 'ExternalClientApplication' ORDER BY FullName"


def _assigned(ctx: OrgContext, app_id: str) -> tuple[list[str], list[str]]:
    """(permission set Ids, profile names) pre-authorized for the app."""
    pairs = assignments(ctx.conn, app_id)
    return [i for i, _, p in pairs if not p], [p for _, _, p in pairs if p]


def _header(ctx: OrgContext, app: dict[str, Any]) -> str:
    return (
        _el("contactEmail", app["ContactEmail"] or "")
        + _el("distributionState", "Local")
        + _el("isProtected", False)
        + _el("label", app["Label"])
        + _el("orgScopedExternalApp", f"{ctx.org_id}:{app['FullName']}")
    )


def _oauth(ctx: OrgContext, app: dict[str, Any]) -> str:
    return (
        _el("commaSeparatedOauthScopes", ",".join(json.loads(app["Scopes"] or "[]")))
        + _el("externalClientApplication", app["FullName"])
        + _el("label", app["Label"])
    )


def _global(ctx: OrgContext, app: dict[str, Any]) -> str:
    flows = json.loads(app["Flows"] or "[]")
    return (
        _el("callbackUrl", app["CallbackUrl"] or "")
        + _el("certificate", app["CertificatePem"])
        + _el("consumerKey", app["ConsumerKey"])
        + _el("externalClientApplication", app["FullName"])
        + _el("isClientCredentialsFlowEnabled", "client_credentials" in flows)
        + _el("isConsumerSecretOptional", False)
        + _el("isIntrospectAllTokens", False)
        + _el("isPkceRequired", bool(app["IsPkceRequired"]))
        + _el("isSecretRequiredForRefreshToken", bool(app["IsSecretRequiredForRefreshToken"]))
        + _el("label", app["Label"])
    )


def _policies(ctx: OrgContext, app: dict[str, Any]) -> str:
    permsets, profiles = _assigned(ctx, app["AppId"])
    run_as = sessions.user_by_id(ctx.conn, app.get("ClientCredentialUserId"))
    kind, _, rest = (app["RefreshTokenPolicy"] or "infinite").partition(":")
    period, _, unit = rest.partition(":")
    approved = bool(app["IsAdminApproved"])
    return (
        _el("clientCredentialsFlowUser", run_as["Username"] if run_as else None)
        + _el("commaSeparatedPermissionSet", ",".join(permsets) if approved and permsets else None)
        + _el("commaSeparatedProfile", ",".join(profiles) if approved and profiles else None)
        + _el("externalClientApplication", app["FullName"])
        + _el("ipRelaxationPolicyType", IP_RELAXATION.get(app["IpRelaxation"], app["IpRelaxation"]))
        + _el("isClientCredentialsFlowEnabled", run_as is not None)
        + _el("label", app["Label"])
        + _el("permittedUsersPolicyType", "AdminApprovedPreAuthorized" if approved else "AllSelfAuthorized")
        + _el("policyAction", "RaiseSessionLevel" if app["SessionLevel"] == "HIGH_ASSURANCE" else None)
        + _el("refreshTokenPolicyType", REFRESH.get(kind, kind))
        + _el("refreshTokenValidityPeriod", period or None)
        + _el("refreshTokenValidityUnit", unit.title() if unit else None)
        + _el("requiredSessionLevel", "HIGH_ASSURANCE" if app["SessionLevel"] == "HIGH_ASSURANCE" else None)
    )


_BODY: dict[str, Callable[[OrgContext, dict[str, Any]], str]] = {
    HEADER: _header,
    OAUTH: _oauth,
    GLOBAL: _global,
    POLICIES: _policies,
}


def read(ctx: OrgContext, kind: str, full_names: list[str]) -> list[str]:
    """The ``records`` of ``kind`` for the asked full names (unknown names are skipped)."""
    suffix = TYPES[kind][0]
    by_name = {app["FullName"] + suffix: app for app in sessions.rows(ctx.conn, _APPS)}
    return [
        f'<records xsi:type="{kind}">'
        + _el("fullName", name)
        + _BODY[kind](ctx, by_name[name])
        + "</records>"
        for name in full_names
        if name in by_name
    ]


def listed(ctx: OrgContext, kind: str) -> list[str]:
    """One ``listMetadata`` result per External Client App for ``kind``."""
    suffix, folder, ext = TYPES[kind]
    out = []
    for app in sessions.rows(ctx.conn, _APPS):
        name = app["FullName"] + suffix
        out.append(
            "<result>"
            + _el("fileName", f"{folder}/{name}.{ext}")
            + _el("fullName", name)
            + _el("id", app["AppId"])
            + _el("manageableState", "unmanaged")
            + _el("type", kind)
            + "</result>"
        )
    return out
