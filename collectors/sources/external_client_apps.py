"""External Client Apps: the Metadata API's four components of each app, stored beside connected apps.

Since Spring '26 new apps are External Client Apps; they have no ``ConnectedApplication`` row and
no ``SetupEntityAccess`` row of type ``ConnectedApplication``, so the connected-app source never
sees them (docs/salesforce-behaviour.md, section 9). Each app is four Metadata API components,
joined on their ``externalClientApplication`` field: the header (label, contact, distribution
state), the OAuth settings (scopes), the global OAuth settings (callback, consumer key, JWT
certificate; readable only where the org allows access to consumer secrets through the Metadata
API) and the admin's policies (permitted users, IP relaxation, refresh token policy, session
level). They are stored in ``connected_apps`` with ``kind = 'external_client_app'`` and the
connected-app spelling of each policy, so posture, grants, usage and every page judge and show
both kinds of app alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from collectors.sources.base import Context, Permission, Writes
from collectors.sources.connected_apps import ConnectedAppsSource, _cert_expiry, _policy_fingerprint, _val
from collectors.sources.paging import fetch_all
from collectors.sources.snapshot import Reading
from oauthwatch.store.writes import utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

HEADER = "ExternalClientApplication"
OAUTH = "ExtlClntAppOauthSettings"
GLOBAL = "ExtlClntAppGlobalOauthSettings"
POLICIES = "ExtlClntAppOauthConfigurablePolicies"
COMPONENTS = (OAUTH, GLOBAL, POLICIES)
# refreshTokenPolicyType → the connected-app spelling the store keeps (rules.posture reads it)
REFRESH = {"Infinite": "infinite", "Zero": "zero", "SpecificLifetime": "specific_lifetime",
           "SpecificInactivity": "specific_inactivity"}  # fmt: skip
METADATA_PERMISSION = Permission(
    "ModifyMetadata",
    "Modify Metadata Through Metadata API Functions",
    "External Client Apps and their OAuth settings and policies (Metadata API)",
    documented_at="Metadata API Developer Guide, Metadata API Edit Access / Prerequisites",
    alternatives=("ModifyAllData",),
)


@dataclass
class EcaRead:
    """One reading of the org's External Client Apps, before it is stored."""

    apps: list[dict[str, Any]]  # one per header, its components under their type
    read: int
    why: str | None  # why some components are missing, when they are
    names: dict[str, str]  # permission set Id (15) -> label, for commaSeparatedPermissionSet


def _records(ctx: Context, kind: str) -> tuple[list[Any], list[Any]]:
    """(listMetadata results, readMetadata records) of one component type."""
    listed = ctx.client.list_metadata(kind)
    names = [str(_val(x, "fullName")) for x in listed if _val(x, "fullName")]
    return listed, (ctx.client.read_metadata(kind, names) if names else [])


def _policy_value(pol: Any) -> str | None:
    kind = _val(pol, "refreshTokenPolicyType")
    if not kind:
        return None
    out = REFRESH.get(str(kind), str(kind))
    period, unit = _val(pol, "refreshTokenValidityPeriod"), _val(pol, "refreshTokenValidityUnit")
    return f"{out}:{period}:{str(unit).upper()}" if period and unit else out


def _split(value: Any) -> list[str]:
    return [v.strip() for v in str(value or "").split(",") if v.strip()]


def _permission_set_names(ctx: Context, ids: set[str]) -> dict[str, str]:
    """commaSeparatedPermissionSet holds Ids: their labels, where the user may read PermissionSet."""
    quoted = ", ".join(f"'{i}'" for i in sorted(ids) if i.isalnum())
    if not quoted:
        return {}
    try:
        recs = fetch_all(ctx, f"SELECT Id, Name, Label FROM PermissionSet WHERE Id IN ({quoted})")
    except Exception:  # noqa: BLE001 - the Ids stay as they came
        return {}
    return {str(r["Id"])[:15]: str(r.get("Label") or r.get("Name")) for r in recs}


def eca_row(ctx: Context, app: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """One ``connected_apps`` row of an External Client App."""
    head, oauth, glob, pol = app[HEADER], app.get(OAUTH), app.get(GLOBAL), app.get(POLICIES)
    permitted = _val(pol, "permittedUsersPolicyType")
    relax = _val(pol, "ipRelaxationPolicyType")
    scopes = _split(_val(oauth, "commaSeparatedOauthScopes"))
    parents = [
        {"id": i, "kind": "permission_set", "name": names.get(i[:15], i)}
        for i in _split(_val(pol, "commaSeparatedPermissionSet"))
    ] + [{"id": None, "kind": "profile", "name": p} for p in _split(_val(pol, "commaSeparatedProfile"))]
    now = utcnow()
    row = {
        "org": ctx.org,
        "app_id": str(app["id"] or _val(head, "fullName"))[:18],
        "name": str(_val(head, "label") or _val(head, "fullName"))[:255],
        "admin_approved_only": None if permitted is None else permitted == "AdminApprovedPreAuthorized",
        "ip_relaxation": str(relax).upper() if relax else None,
        "refresh_token_policy": _policy_value(pol),
        "scopes": sorted(scopes) if oauth is not None else None,
        "certificate_expires_at": _cert_expiry(_val(glob, "certificate")),
        "permitted_parents": sorted(parents, key=lambda p: (p["kind"], str(p["name"]))),
        "session_level": _val(pol, "requiredSessionLevel"),
        "details": {
            "metadata": {
                "fullName": _val(head, "fullName"),
                "distributionState": _val(head, "distributionState"),
                "contactEmail": _val(head, "contactEmail"),
                "callbackUrl": _val(glob, "callbackUrl"),
                "isClientCredentialsFlowEnabled": _val(pol, "isClientCredentialsFlowEnabled"),
                "clientCredentialsFlowUser": _val(pol, "clientCredentialsFlowUser"),
                "isPkceRequired": _val(glob, "isPkceRequired"),
                "isSecretRequiredForRefreshToken": _val(glob, "isSecretRequiredForRefreshToken"),
                "isTokenExchangeFlowEnabled": _val(pol, "isTokenExchangeFlowEnabled"),
            }
        },
        "first_seen": now,
        "last_seen": now,
    }
    row["fingerprint"] = _policy_fingerprint(row)
    return row


class ExternalClientAppsSource(ConnectedAppsSource):
    """Metadata API External Client App components → ``connected_apps`` (kind external_client_app)."""

    name: ClassVar[str] = "external_client_apps"
    label: ClassVar[str] = "External Client Apps"
    object: ClassVar[str | None] = None  # Metadata API only: no SOQL probe
    min_api_version: ClassVar[tuple[float, str]] = (60.0, "ExtlClntAppGlobalOauthSettings.certificate")
    permission: ClassVar[Permission | None] = METADATA_PERMISSION
    writes: ClassVar[tuple[Writes, ...]] = (("connected_apps", ("org", "app_id")),)
    app_kind: ClassVar[str] = "external_client_app"

    def read(self, ctx: Context) -> EcaRead:  # type: ignore[override]
        """Every app's header and, where readable, its three components (or why they are missing)."""
        listed, headers = _records(ctx, HEADER)
        ids = {str(_val(x, "fullName")): _val(x, "id") for x in listed}
        apps = {
            str(_val(h, "fullName")): {HEADER: h, "id": ids.get(str(_val(h, "fullName")))} for h in headers
        }
        read, missing = len(headers), []
        for kind in COMPONENTS if apps else ():
            try:
                _, records = _records(ctx, kind)
            except Exception as exc:  # noqa: BLE001 - keep the apps, say which component is missing
                from oauthwatch.secrets import redact

                missing.append(f"{kind} not read from the Metadata API: {redact(str(exc))[:200]}")
                continue
            read += len(records)
            for rec in records:
                owner = str(_val(rec, "externalClientApplication") or "")
                if owner in apps:
                    apps[owner][kind] = rec
        ps_ids = {
            i for a in apps.values() for i in _split(_val(a.get(POLICIES), "commaSeparatedPermissionSet"))
        }
        names = _permission_set_names(ctx, ps_ids) if ps_ids else {}
        return EcaRead(list(apps.values()), read, "; ".join(missing) or None, names)

    def store(self, ctx: Context, conn: Connection, data: EcaRead) -> Reading:  # type: ignore[override]
        """Upsert every app and record each changed field, as the connected-app source does."""
        rows = [eca_row(ctx, app, data.names) for app in data.apps]
        return self.store_rows(ctx, conn, rows, data.why, data.read)


__all__ = ["ExternalClientAppsSource", "eca_row"]
