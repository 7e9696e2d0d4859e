"""How powerful is each user holding an OAuth grant: profile, state and powerful permissions.

Read with the OauthToken snapshot (a grant's blast radius is its user's power), for the grant
holders only:

- ``User`` (Username, IsActive, Profile.Name);
- ``UserLogin.IsFrozen`` (a frozen user's tokens cannot be used);
- ``PermissionSetAssignment`` with the assigned ``PermissionSet``'s permission fields: the
  profile's own permission set is assigned too, so this covers profile and permission sets.

Which permission fields: the documented ones by API name (PermissionsModifyAllData, …ViewAllData,
…ManageUsers, …CustomizeApplication, …AuthorApex, …ApiEnabled), and the two newer ones ("Approve
Uninstalled Connected Apps", "Use Any API Client") by their label in ``PermissionSet``'s describe,
because their API names are not documented where we could read them (docs/connect.md, UNCONFIRMED).
Reading needs View Setup and Configuration (permission sets) and Manage Users (UserLogin); without
them the grant still gets its profile name and the run says what is missing.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from collectors.api.client import SalesforceCallError
from collectors.sources.paging import fetch_all
from collectors.sources.values import boolean, get, soql_str, text
from oauthwatch.secrets import redact
from oauthwatch.store import schema
from oauthwatch.store.writes import upsert, utcnow

if TYPE_CHECKING:
    from collectors.sources.base import Context

DOCUMENTED = {
    "PermissionsModifyAllData": "Modify All Data",
    "PermissionsViewAllData": "View All Data",
    "PermissionsManageUsers": "Manage Users",
    "PermissionsCustomizeApplication": "Customize Application",
    "PermissionsAuthorApex": "Author Apex",
    "PermissionsApiEnabled": "API Enabled",
}
BY_LABEL = {
    "approveuninstalled": "Approve Uninstalled Connected Apps",
    "useanyapiclient": "Use Any API Client",
}
CHUNK = 200


def _norm(s: str) -> str:
    return re.sub(r"[^a-z]", "", s.lower()).removeprefix("permissions")


def permission_fields(ctx: Context) -> dict[str, str]:
    """API name → label of the powerful permissions this org's PermissionSet has."""
    describe = ctx.client.describe("PermissionSet")
    fields: dict[str, str] = {}
    for f in describe.get("fields", []):
        name, label = str(f.get("name", "")), str(f.get("label", ""))
        if name in DOCUMENTED:
            fields[name] = DOCUMENTED[name]
            continue
        for key, wanted in BY_LABEL.items():
            if name.startswith("Permissions") and (key in _norm(label) or key in _norm(name)):
                fields[name] = wanted
    return fields


def _in(ids: list[str]) -> str:
    return ", ".join(soql_str(i) for i in ids)


def collect_power(ctx: Context, user_ids: list[str]) -> list[str]:
    """Store ``user_power`` rows for ``user_ids``; returns notes on what could not be read."""
    notes: list[str] = []
    users: dict[str, dict[str, Any]] = {}
    for i in range(0, len(user_ids), CHUNK):
        for rec in fetch_all(
            ctx,
            f"SELECT Id, Username, IsActive, Profile.Name FROM User WHERE Id IN ({_in(user_ids[i : i + CHUNK])})",
        ):
            users[str(get(rec, "Id"))[:15]] = rec
    frozen_read: dict[str, bool] = {}
    perms_read: dict[str, set[str]] = {u[:15]: set() for u in user_ids}
    frozen: dict[str, bool] | None = frozen_read  # None when the org would not tell
    perms: dict[str, set[str]] | None = perms_read
    try:
        for i in range(0, len(user_ids), CHUNK):
            soql = f"SELECT UserId, IsFrozen FROM UserLogin WHERE UserId IN ({_in(user_ids[i : i + CHUNK])})"
            for rec in fetch_all(ctx, soql):
                frozen_read[str(get(rec, "UserId"))[:15]] = bool(boolean(get(rec, "IsFrozen")))
    except SalesforceCallError as exc:
        frozen = None
        notes.append(f"frozen state not read (UserLogin needs Manage Users): {redact(str(exc))[:200]}")
    try:
        fields = permission_fields(ctx)
        cols = ", ".join(f"PermissionSet.{f}" for f in sorted(fields))
        for i in range(0, len(user_ids), CHUNK):
            soql = f"SELECT AssigneeId, {cols} FROM PermissionSetAssignment WHERE AssigneeId IN ({_in(user_ids[i : i + CHUNK])})"
            for rec in fetch_all(ctx, soql):
                held = {label for f, label in fields.items() if boolean(get(rec, f"PermissionSet.{f}"))}
                perms_read.setdefault(str(get(rec, "AssigneeId"))[:15], set()).update(held)
    except SalesforceCallError as exc:
        perms = None
        notes.append(f"permissions not read (needs View Setup and Configuration): {redact(str(exc))[:200]}")
    now = utcnow()
    rows = []
    for uid in user_ids:
        rec = users.get(uid[:15], {})
        rows.append(
            {
                "org": ctx.org,
                "user_id": uid[:18],
                "username": text(get(rec, "Username"), 255) if rec else None,
                "profile": text(get(rec, "Profile.Name"), 255) if rec else None,
                "is_active": boolean(get(rec, "IsActive")) if rec else None,
                "is_frozen": frozen.get(uid[:15]) if frozen is not None else None,
                "permissions": sorted(perms.get(uid[:15], set())) if perms is not None else [],
                "permissions_read": perms is not None,
                "read_at": now,
            }
        )
    with ctx.engine.begin() as conn:
        upsert(conn, schema.user_power, rows, key=["org", "user_id"], update=None)
    return notes
