"""User permissions in the local org, and which ones open which objects (docs/salesforce-behaviour.md).

A user's effective permissions are the union of the permission sets assigned to them through
``PermissionSetAssignment``: the profile's own permission set (``IsOwnedByProfile``), ordinary
permission sets, and the aggregate permission set of each permission set group (``Type = 'Group'``)
whose assignment also names the group. That is what Salesforce's ``UserPermissionAccess`` answers
for the running user, and what an admin reads through ``PermissionSetAssignment``.

``ACCESS`` lists the visibility rule of every object the product reads: an object a user may not
see at all answers ``INVALID_TYPE`` (as if it did not exist); LoginHistory and OauthToken answer
only the user's own rows without the permission that shows everyone's.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

# Permission field names (without the ``Permissions`` prefix) → their label in Setup.
LABELS: dict[str, str] = {
    "ApiEnabled": "API Enabled",
    "ApiUserOnly": "API Only User",
    "ViewSetup": "View Setup and Configuration",
    "ManageUsers": "Manage Users",
    "MonitorLoginHistory": "Monitor Login History",
    "CustomizeApplication": "Customize Application",
    "ViewEventLogFiles": "View Event Log Files",
    "ViewDataLeakageEvents": "View Real-Time Event Monitoring Data",
    "AssignPermissionSets": "Assign Permission Sets",
    # powerful permissions the grant inventory weighs (the last two API names are UNCONFIRMED)
    "ModifyAllData": "Modify All Data",
    "ViewAllData": "View All Data",
    "AuthorApex": "Author Apex",
    "ApproveUninstalledApps": "Approve Uninstalled Connected Apps",
    "UseAnyApiClient": "Use Any API Client",
    # the Metadata API (connected apps' and External Client Apps' policies) needs it or Modify All Data
    "ModifyMetadata": "Modify Metadata Through Metadata API Functions",
}
POWER = (
    "ModifyAllData", "ViewAllData", "ManageUsers", "CustomizeApplication", "AuthorApex", "ApiEnabled",
    "ApproveUninstalledApps", "UseAnyApiClient",
)  # fmt: skip
FIELDS = tuple(f"Permissions{name}" for name in LABELS)

# What the product needs, all granted unless ``--integration-permissions`` says otherwise.
PRODUCT_NEEDS = (
    "ApiEnabled",
    "ViewSetup",
    "ManageUsers",
    "CustomizeApplication",
    "ViewEventLogFiles",
    "ViewDataLeakageEvents",
    "ModifyMetadata",
)
# The Metadata API answers only users holding one of these (docs/salesforce-behaviour.md, 1.1).
METADATA_API = ("ModifyMetadata", "ModifyAllData")


@dataclass(frozen=True)
class Access:
    """Who may query an object: ``any_of`` to see it at all (empty: everyone), ``all_rows_with`` to
    see every user's rows; without it only the rows ``own_rows`` (SQL on alias ``t0``, one ``?``
    for the user's Id) selects."""

    any_of: tuple[str, ...] = ()
    all_rows_with: tuple[str, ...] = ()
    own_rows: str | None = None


_SETUP = Access(any_of=("ViewSetup",))
_ASSIGN = Access(any_of=("ViewSetup", "AssignPermissionSets", "ManageUsers"))
_REAL_TIME = Access(any_of=("ViewDataLeakageEvents",))
_LOGINS = ("ManageUsers", "MonitorLoginHistory")
ACCESS: dict[str, Access] = {
    "loginhistory": Access(all_rows_with=_LOGINS, own_rows='t0."UserId" = ?'),
    # UNCONFIRMED: a user without the login permissions sees the geo rows of their own logins.
    "logingeo": Access(
        all_rows_with=_LOGINS,
        own_rows='t0."Id" IN (SELECT "LoginGeoId" FROM "LoginHistory" WHERE "UserId" = ?)',
    ),
    "oauthtoken": Access(all_rows_with=("CustomizeApplication",), own_rows='t0."UserId" = ?'),
    "connectedapplication": _SETUP,
    "setupentityaccess": _SETUP,
    "setupaudittrail": _SETUP,
    "eventlogfile": Access(any_of=("ViewEventLogFiles",)),
    "loginevent": _REAL_TIME,
    "apianomalyeventstore": _REAL_TIME,
    "credentialstuffingeventstore": _REAL_TIME,
    "sessionhijackingeventstore": _REAL_TIME,
    "permissionset": Access(any_of=("ViewSetup", "AssignPermissionSets")),
    "permissionsetassignment": _ASSIGN,
    "permissionsetgroup": Access(any_of=("ViewSetup", "AssignPermissionSets")),
    "permissionsetgroupcomponent": _SETUP,
}


@dataclass(frozen=True)
class Viewer:
    """The user a query runs as, with their effective permissions."""

    user_id: str
    permissions: frozenset[str]

    def may_see(self, obj_name: str) -> bool:
        rule = ACCESS.get(obj_name.lower())
        return rule is None or not rule.any_of or bool(self.permissions & set(rule.any_of))

    def own_rows(self, obj_name: str) -> str | None:
        """The SQL condition (one ``?``: the user's Id) when the user sees only their own rows."""
        rule = ACCESS.get(obj_name.lower())
        if rule is None or not rule.all_rows_with or self.permissions & set(rule.all_rows_with):
            return None
        return rule.own_rows


# A profile's own permission set IS the profile: its flags are read from the Profile row, which is
# what an admin (or a test) edits.
ASSIGNED_SETS = (
    '"PermissionSetAssignment" psa JOIN "PermissionSet" ps ON ps.Id = psa.PermissionSetId '
    'LEFT JOIN "Profile" pr ON pr.Id = ps.ProfileId AND ps.IsOwnedByProfile = 1 '
    "WHERE psa.AssigneeId = ? AND COALESCE(psa.IsActive, 1) = 1"
)


def flag_sql(field: str) -> str:
    """The effective value of one ``Permissions…`` field over the assigned sets (0 or 1)."""
    return f'COALESCE(MAX(CASE WHEN pr.Id IS NULL THEN ps."{field}" ELSE pr."{field}" END), 0)'


EFFECTIVE_SQL = "SELECT " + ", ".join(flag_sql(f) for f in FIELDS) + " FROM " + ASSIGNED_SETS


def effective(conn: sqlite3.Connection, user_id: str) -> frozenset[str]:
    """The permissions ``user_id`` holds through any assigned permission set, group or profile."""
    row = conn.execute(EFFECTIVE_SQL, (user_id,)).fetchone()
    return frozenset(name for name, value in zip(LABELS, row or (), strict=False) if value)


def parse_list(text: str) -> tuple[str, ...]:
    """``ApiEnabled,ViewSetup`` (the ``Permissions`` prefix optional) → known names; ValueError otherwise."""
    names = []
    for raw in text.split(","):
        name = raw.strip().removeprefix("Permissions")
        if not name:
            continue
        if name not in LABELS:
            raise ValueError(f"unknown permission {raw.strip()!r}; known: {', '.join(LABELS)}")
        names.append(name)
    return tuple(dict.fromkeys(names))
