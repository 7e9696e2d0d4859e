"""Who holds which powerful permissions, and who is frozen: PermissionSet permission fields,
PermissionSetAssignment and UserLogin.

Salesforce assigns every user their profile's own permission set, so PermissionSetAssignment
answers "what may this user do" for profile and permission sets alike; oauthwatch's grant
inventory reads it to rank grants by their user's power. System Administrators hold every
permission; the integration permission set can read all data (as vendors' integrations often do);
one human user is frozen so a frozen grant holder exists.
"""

from __future__ import annotations

import sqlite3

from oauthwatch.simulator.data.catalog import PERMISSIONS
from oauthwatch.simulator.data.ids import make_id
from oauthwatch.simulator.generate import names
from oauthwatch.simulator.generate.plan import Plan

PROFILE_POWER = {
    "System Administrator": set(PERMISSIONS),
    "Standard User": {"ApiEnabled"},
    "Sales User": {"ApiEnabled"},
    "Support Agent": {"ApiEnabled"},
    "Minimum Access - API Only Integrations": {"ApiEnabled"},
}
SET_POWER = {
    "OAuthwatch_Integration": {"ApiEnabled", "CustomizeApplication", "ManageUsers"},
    "Integration_Apps": {"ApiEnabled", "ViewAllData"},
    "Data_Loader_Users": {"ApiEnabled"},
}


def _set_power(conn: sqlite3.Connection, permset_id: str, held: set[str]) -> None:
    cols = ", ".join(f'"Permissions{p}" = ?' for p in PERMISSIONS)
    conn.execute(
        f'UPDATE "PermissionSet" SET {cols} WHERE Id = ?',
        (*(int(p in held) for p in PERMISSIONS), permset_id),
    )


def write_access_power(conn: sqlite3.Connection, plan: Plan) -> None:
    """Permission fields of every permission set, every assignment, and every user's UserLogin."""
    for psid, profile in zip(plan.profile_permset_ids, names.PROFILES, strict=True):
        _set_power(conn, psid, PROFILE_POWER.get(profile[0], set()))
    for name, _label in names.PERMISSION_SETS:
        _set_power(conn, plan.permset_ids[name], SET_POWER.get(name, set()))
    assignments = []
    for u in plan.users:
        assignments.append((plan.profile_permset_ids[u.profile], u))
        if u.idx == plan.oauthwatch_user:
            assignments.append((plan.permset_ids["OAuthwatch_Integration"], u))
        elif u.kind == "integration":
            assignments.append((plan.permset_ids["Integration_Apps"], u))
    conn.executemany(
        'INSERT INTO "PermissionSetAssignment" (Id, AssigneeId, PermissionSetId) VALUES (?, ?, ?)',
        [(make_id("0Pa", 1000 + n), u.id, psid) for n, (psid, u) in enumerate(assignments)],
    )
    humans = [u for u in plan.users if u.kind == "human" and u.active]
    frozen = humans[-1].idx if humans else -1
    conn.executemany(
        'INSERT INTO "UserLogin" (Id, UserId, IsFrozen) VALUES (?, ?, ?)',
        [(make_id("060", 1000 + u.idx), u.id, int(u.idx == frozen)) for u in plan.users],
    )
