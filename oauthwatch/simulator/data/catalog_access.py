"""The objects of the local org's access model: profiles, permission sets, their groups and
assignments, frozen logins (``UserLogin``), and ``UserPermissionAccess`` (the running user's
effective permissions).

Kept apart from :mod:`oauthwatch.simulator.data.catalog` (which lists them with the others) so
the permission fields are declared once, from :mod:`oauthwatch.simulator.data.permissions`.
``UserPermissionAccess`` has no table: the query compiler answers it for the running user.
"""

from __future__ import annotations

from oauthwatch.simulator.data.permissions import FIELDS
from oauthwatch.simulator.data.schema import BOOLEAN, DATETIME, ID, PICKLIST, REFERENCE, Field, SObject

_OTHER_PERMISSIONS = tuple(
    Field(f, BOOLEAN) for f in FIELDS if f not in ("PermissionsApiEnabled", "PermissionsApiUserOnly")
)


def _ref(name: str, to: str, rel: str) -> Field:
    return Field(name, REFERENCE, reference_to=to, relationship=rel)


ACCESS_OBJECTS = (
    SObject(
        "Profile",
        "00e",
        (
            Field("Id", ID, nillable=False),
            Field("Name"),
            Field("UserType", PICKLIST),
            Field("PermissionsApiEnabled", BOOLEAN),
            Field("PermissionsApiUserOnly", BOOLEAN),
            *_OTHER_PERMISSIONS,
        ),
    ),
    SObject(
        "PermissionSet",
        "0PS",
        (
            Field("Id", ID, nillable=False),
            Field("Name"),
            Field("Label"),
            Field("IsOwnedByProfile", BOOLEAN),
            _ref("ProfileId", "Profile", "Profile"),
            Field("Type", PICKLIST),
            _ref("PermissionSetGroupId", "PermissionSetGroup", "PermissionSetGroup"),
            Field("PermissionsApiEnabled", BOOLEAN),
            Field("PermissionsApiUserOnly", BOOLEAN),
            *_OTHER_PERMISSIONS,
        ),
    ),
    SObject(
        "PermissionSetGroup",
        "0PG",
        (
            Field("Id", ID, nillable=False),
            Field("DeveloperName"),
            Field("MasterLabel"),
            Field("Status", PICKLIST),
        ),
    ),
    SObject(
        "PermissionSetGroupComponent",
        None,  # UNCONFIRMED key prefix
        (
            Field("Id", ID, nillable=False),
            _ref("PermissionSetGroupId", "PermissionSetGroup", "PermissionSetGroup"),
            _ref("PermissionSetId", "PermissionSet", "PermissionSet"),
        ),
    ),
    SObject(
        "PermissionSetAssignment",
        "0Pa",
        (
            Field("Id", ID, nillable=False),
            _ref("AssigneeId", "User", "Assignee"),
            _ref("PermissionSetId", "PermissionSet", "PermissionSet"),
            _ref("PermissionSetGroupId", "PermissionSetGroup", "PermissionSetGroup"),
            Field("IsActive", BOOLEAN),
            Field("SystemModstamp", DATETIME),
        ),
        indexes=(("AssigneeId",),),
    ),
    SObject(
        "UserLogin",
        "060",
        (
            Field("Id", ID, nillable=False),
            Field("UserId", REFERENCE, reference_to="User"),
            Field("IsFrozen", BOOLEAN),
        ),
    ),
    SObject(
        "UserPermissionAccess",
        None,
        (
            Field("Id", ID),
            Field("LastCacheUpdate", DATETIME),
            Field("PermissionsApiEnabled", BOOLEAN),
            Field("PermissionsApiUserOnly", BOOLEAN),
            *_OTHER_PERMISSIONS,
        ),
        virtual=True,
    ),
)
