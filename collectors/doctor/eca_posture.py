"""oauthwatch's own app when it is an External Client App: found by its consumer key, read in the
connected-app shape so ``check`` judges it with the same findings.

An External Client App has no ``ConnectedApp`` metadata; its consumer key is in the
``ExtlClntAppGlobalOauthSettings`` component, its scopes in ``ExtlClntAppOauthSettings`` and its
policies in ``ExtlClntAppOauthConfigurablePolicies``, each naming the app in
``externalClientApplication`` (docs/salesforce-behaviour.md, section 9). Reading the global
settings needs the org's "Allow access to External Client App consumer secrets" setting; where it
is off, the app is not found here and ``check`` says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

GLOBAL = "ExtlClntAppGlobalOauthSettings"
OAUTH = "ExtlClntAppOauthSettings"
POLICIES = "ExtlClntAppOauthConfigurablePolicies"
REFRESH = {"Infinite": "infinite", "Zero": "zero", "SpecificLifetime": "specific_lifetime",
           "SpecificInactivity": "specific_inactivity"}  # fmt: skip


def _read_all(mdapi: Any, kind: str, serialize: Callable[[Any], dict[str, Any]]) -> list[dict[str, Any]]:
    query = mdapi._client.get_type("ns0:ListMetadataQuery")(type=kind)
    names = [n for n in (getattr(p, "fullName", None) for p in (mdapi.list_metadata([query]) or [])) if n]
    out: list[dict[str, Any]] = []
    for i in range(0, len(names), 10):
        chunk = getattr(mdapi, kind).read(names[i : i + 10])
        out.extend(serialize(item) for item in (chunk if isinstance(chunk, list) else [chunk]))
    return out


def find_external_client_app(
    mdapi: Any, client_id: str, serialize: Callable[[Any], dict[str, Any]]
) -> dict[str, Any] | None:
    """The External Client App whose consumer key is ``client_id``, as ``ConnectedApp``-shaped
    metadata (``oauthConfig``, ``oauthPolicy``, ``sessionPolicy``), or None."""
    glob = next((g for g in _read_all(mdapi, GLOBAL, serialize) if g.get("consumerKey") == client_id), None)
    if glob is None:
        return None
    app = glob.get("externalClientApplication")

    def mine(kind: str) -> dict[str, Any]:
        try:
            return next(
                (r for r in _read_all(mdapi, kind, serialize) if r.get("externalClientApplication") == app),
                {},
            )
        except Exception:  # noqa: BLE001 - a component the user may not read: judged as unknown
            return {}

    oauth, pol = mine(OAUTH), mine(POLICIES)
    try:
        head = serialize(mdapi.ExternalClientApplication.read([app]))
    except Exception:  # noqa: BLE001 - the header only adds the label
        head = {}
    kind, period, unit = (
        pol.get("refreshTokenPolicyType"),
        pol.get("refreshTokenValidityPeriod"),
        pol.get("refreshTokenValidityUnit"),
    )
    refresh = REFRESH.get(str(kind), str(kind)) if kind else None
    scopes = [s.strip() for s in str(oauth.get("commaSeparatedOauthScopes") or "").split(",") if s.strip()]
    return {
        "kind": "external_client_app",
        "fullName": app,
        "label": head.get("label") or app,
        "oauthConfig": {
            "consumerKey": glob.get("consumerKey"),
            "callbackUrl": glob.get("callbackUrl"),
            "certificate": glob.get("certificate"),
            "scopes": scopes,
            "isAdminApproved": pol.get("permittedUsersPolicyType") == "AdminApprovedPreAuthorized",
            "oauthClientCredentialUser": pol.get("clientCredentialsFlowUser"),
        },
        "oauthPolicy": {
            "ipRelaxation": str(pol["ipRelaxationPolicyType"]).upper() if pol.get("ipRelaxationPolicyType") else None,
            "refreshTokenPolicy": f"{refresh}:{period}:{str(unit).upper()}" if refresh and period and unit else refresh,
        },
        "sessionPolicy": {"sessionLevel": pol.get("requiredSessionLevel")},
    }  # fmt: skip


__all__ = ["find_external_client_app"]
