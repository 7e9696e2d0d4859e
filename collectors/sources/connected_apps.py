"""Connected apps: ConnectedApplication, who may use each (SetupEntityAccess), and its policies.

The sObject lacks the OAuth policies (docs/architecture.md, "Salesforce facts the code relies on"); they come from the Metadata API
(``ConnectedApp``: oauthConfig, oauthPolicy, sessionPolicy) through simple-salesforce's
``mdapi`` where the integration user may read it; when it may not, the app is still stored and
the run says why the policies are missing. Every run compares each app with what the store holds
and records each changed field in ``connected_app_changes`` (history), including apps that
appear or disappear.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import orjson
from sqlalchemy import insert, select

from collectors.sources.base import Context, Permission, Writes
from collectors.sources.paging import fetch_all
from collectors.sources.snapshot import DailySnapshotSource, Reading
from collectors.sources.values import Record, boolean, get
from oauthwatch.store import schema
from oauthwatch.store.writes import upsert, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

APP_FIELDS = (
    "Id", "Name", "CreatedDate", "LastModifiedDate", "OptionsAllowAdminApprovedUsersOnly",
    "OptionsRefreshTokenValidityMetric", "RefreshTokenValidityPeriod", "OptionsHasSessionLevelPolicy",
    "OptionsAppIssueJwtTokenEnabled", "OptionsTokenExchangeManageBitEnabled", "StartUrl", "MobileStartUrl",
)  # fmt: skip
ACCESS_SOQL = (
    "SELECT Id, ParentId, Parent.Name, Parent.Label, Parent.IsOwnedByProfile, Parent.Profile.Name, SetupEntityId "
    "FROM SetupEntityAccess WHERE SetupEntityType = 'ConnectedApplication'"
)
TRACKED = (
    "name", "admin_approved_only", "ip_relaxation", "refresh_token_policy", "scopes",
    "certificate_expires_at", "permitted_parents", "session_level",
)  # fmt: skip


POLICY_FIELDS = ("ip_relaxation", "refresh_token_policy", "scopes", "certificate_expires_at", "session_level")


@dataclass
class AppsRead:
    """One reading of the org's apps, before it is stored."""

    apps: Sequence[Record]
    access: Sequence[Record]
    policies: dict[str, dict[str, Any]]
    why: str | None  # why the policies are missing, when they are


def _policy_fingerprint(row: dict[str, Any]) -> str:
    return hashlib.sha256(
        orjson.dumps({k: row.get(k) for k in TRACKED}, default=str, option=orjson.OPT_SORT_KEYS)
    ).hexdigest()


def _val(obj: Any, *path: str) -> Any:
    for p in path:
        if obj is None:
            return None
        obj = obj.get(p) if isinstance(obj, dict) else getattr(obj, p, None)
    return obj


def _cert_expiry(pem: str | None) -> Any:
    if not pem:
        return None
    try:
        from cryptography import x509

        return x509.load_pem_x509_certificate(pem.encode()).not_valid_after_utc
    except (ValueError, TypeError):
        return None


def read_policies(ctx: Context, labels: set[str]) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Metadata API policies by app label, or ({}, why they could not be read)."""
    try:
        listed = ctx.client.list_metadata("ConnectedApp")
        names = [str(_val(x, "fullName")) for x in listed if _val(x, "fullName")]
        out: dict[str, dict[str, Any]] = {}
        for md in ctx.client.read_metadata("ConnectedApp", names) if names else []:
            label = _val(md, "label")
            if not label:
                continue
            scopes = _val(md, "oauthConfig", "scopes")
            out[str(label)] = {
                "ip_relaxation": _val(md, "oauthPolicy", "ipRelaxation"),
                "refresh_token_policy": _val(md, "oauthPolicy", "refreshTokenPolicy"),
                "scopes": sorted(str(s) for s in scopes) if scopes else None,
                "certificate_expires_at": _cert_expiry(_val(md, "oauthConfig", "certificate")),
                "session_level": _val(md, "sessionPolicy", "sessionLevel"),
                "meta": {
                    "fullName": _val(md, "fullName"),
                    "isAdminApproved": _val(md, "oauthConfig", "isAdminApproved"),
                    "isClientCredentialEnabled": _val(md, "oauthConfig", "isClientCredentialEnabled"),
                    "isPkceRequired": _val(md, "oauthConfig", "isPkceRequired"),
                    "isSecretRequiredForRefreshToken": _val(
                        md, "oauthConfig", "isSecretRequiredForRefreshToken"
                    ),
                    "isRefreshTokenRotationEnabled": _val(md, "oauthConfig", "isRefreshTokenRotationEnabled"),
                    "callbackUrl": _val(md, "oauthConfig", "callbackUrl"),
                },
            }
        return out, None
    except Exception as exc:  # noqa: BLE001 - any Metadata API failure: store the apps without policies
        from oauthwatch.secrets import redact

        return {}, f"policies not read from the Metadata API: {redact(str(exc))[:300]}"


def app_rows(
    ctx: Context, apps: Sequence[Record], access: Sequence[Record], policies: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    parents: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in access:
        owned = boolean(get(a, "Parent.IsOwnedByProfile"))
        parents[str(get(a, "SetupEntityId"))[:15]].append(
            {
                "id": get(a, "ParentId"),
                "kind": "profile" if owned else "permission_set",
                "name": get(a, "Parent.Profile.Name")
                if owned
                else (get(a, "Parent.Label") or get(a, "Parent.Name")),
            }
        )
    now = utcnow()
    rows = []
    for app in apps:
        app_id, name = str(get(app, "Id")), str(get(app, "Name"))
        pol = policies.get(name, {})
        row = {
            "org": ctx.org,
            "app_id": app_id[:18],
            "name": name[:255],
            "admin_approved_only": boolean(get(app, "OptionsAllowAdminApprovedUsersOnly")),
            "ip_relaxation": pol.get("ip_relaxation"),
            "refresh_token_policy": pol.get("refresh_token_policy"),
            "scopes": pol.get("scopes"),
            "certificate_expires_at": pol.get("certificate_expires_at"),
            "permitted_parents": sorted(
                parents.get(app_id[:15], []), key=lambda p: (p["kind"], str(p["name"]))
            ),
            "session_level": pol.get("session_level"),
            "details": {k: get(app, k) for k in APP_FIELDS if k not in ("Id", "Name")}
            | {"metadata": pol.get("meta")},
            "first_seen": now,
            "last_seen": now,
        }
        row["fingerprint"] = _policy_fingerprint(row)
        rows.append(row)
    return rows


def _jsonable(v: Any) -> Any:
    return orjson.loads(orjson.dumps(v, default=str)) if v is not None else None


class ConnectedAppsSource(DailySnapshotSource[AppsRead]):
    """ConnectedApplication + SetupEntityAccess + Metadata API → ``connected_apps`` (+ changes)."""

    name: ClassVar[str] = "connected_apps"
    counted: ClassVar[tuple[str, ...]] = ("connected_apps",)
    label: ClassVar[str] = "Connected apps"
    object: ClassVar[str | None] = "ConnectedApplication"
    min_api_version: ClassVar[tuple[float, str]] = (
        59.0,
        "ConnectedApplication.OptionsAppIssueJwtTokenEnabled",
    )
    permission: ClassVar[Permission | None] = Permission(
        "ViewSetup",
        "View Setup and Configuration",
        "connected apps, who may use them (SetupEntityAccess) and their policies (Metadata API)",
    )  # UNCONFIRMED: the object reference states no access rule for ConnectedApplication
    writes: ClassVar[tuple[Writes, ...]] = (("connected_apps", ("org", "app_id")),)
    app_kind: ClassVar[str] = "connected_app"  # connected_apps.kind of the rows this source owns

    def read(self, ctx: Context) -> AppsRead:
        """Apps, who may use them, and their policies (or why the policies could not be read)."""
        apps = fetch_all(ctx, f"SELECT {', '.join(APP_FIELDS)} FROM ConnectedApplication ORDER BY Id")
        access = fetch_all(ctx, ACCESS_SOQL)
        policies, why = read_policies(ctx, {str(get(a, "Name")) for a in apps})
        return AppsRead(apps, access, policies, why)

    def store(self, ctx: Context, conn: Connection, data: AppsRead) -> Reading:
        """Upsert every app, record each changed field (apps appearing or disappearing included)."""
        rows = app_rows(ctx, data.apps, data.access, data.policies)
        return self.store_rows(ctx, conn, rows, data.why, len(data.apps) + len(data.access))

    def store_rows(
        self, ctx: Context, conn: Connection, rows: list[dict[str, Any]], why: str | None, read: int
    ) -> Reading:
        """Store one reading of this source's kind of app; the other kind's rows are left alone."""
        t = schema.connected_apps
        for row in rows:
            row["kind"] = self.app_kind
        mine = select(t).where(t.c.org == ctx.org, t.c.kind == self.app_kind)
        stored = {r["app_id"]: dict(r) for r in conn.execute(mine).mappings()}
        now = utcnow()
        changes = []
        for row in rows:
            old = stored.get(row["app_id"])
            if old is None:
                if stored:  # not the first reading: a new app is a change worth keeping
                    changes.append(self._change(ctx, row["app_id"], now, "present", False, True))
                continue
            if why:  # policies unknown this time: keep what we knew
                for k in POLICY_FIELDS:
                    row[k] = old.get(k)
                row["fingerprint"] = _policy_fingerprint(row)
            row["first_seen"] = old["first_seen"]
            if old["fingerprint"] != row["fingerprint"]:
                for k in TRACKED:
                    if _jsonable(old.get(k)) != _jsonable(row.get(k)):
                        changes.append(self._change(ctx, row["app_id"], now, k, old.get(k), row.get(k)))
        seen = {r["app_id"] for r in rows}
        for app_id in stored.keys() - seen:
            details = stored[app_id]["details"] or {}
            if stored[app_id].get("last_seen") and details.get("removed") is not True:
                changes.append(self._change(ctx, app_id, now, "present", True, False))
                conn.execute(
                    t.update()
                    .where(t.c.org == ctx.org, t.c.app_id == app_id)
                    .values(details=details | {"removed": True})
                )
        update = [c for c in rows[0] if c not in ("org", "app_id")] if rows else ()
        upsert(conn, t, rows, key=["org", "app_id"], update=update)
        if changes:
            conn.execute(insert(schema.connected_app_changes), changes)
        notes = [why] if why else []
        if changes:
            notes.append(f"{len(changes)} app change(s) recorded")
        return Reading(
            {"read_at": now.isoformat(), "apps": len(rows), "policies": not why},
            read=read,
            written=len(rows) + len(changes),
            covered=len(rows),
            complete=not why,
            gap="policies missing",
            notes=notes,
        )

    def _change(self, ctx: Context, app_id: str, at: Any, field: str, old: Any, new: Any) -> dict[str, Any]:
        return {
            "org": ctx.org,
            "app_id": app_id,
            "observed_at": at,
            "field": field,
            "old_value": _jsonable(old),
            "new_value": _jsonable(new),
        }


__all__ = ["ConnectedAppsSource", "app_rows", "read_policies"]
