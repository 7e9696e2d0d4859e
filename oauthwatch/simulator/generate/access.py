"""Who holds which permission in the generated org, who is frozen, and ``--integration-permissions``.

Salesforce assigns every user their profile's own permission set, so ``PermissionSetAssignment``
answers "what may this user do" for profiles, permission sets and groups alike: oauthwatch's grant
inventory reads it to rank grants by their user's power, and ``check`` to learn what its own
integration user may see. System Administrators hold every permission; the ``Integration_Apps``
set can read all data (as vendors' integrations often do); one human user is frozen.

oauthwatch's integration user gets its permissions from three places, so a reader must combine
all three the way Salesforce does: the profile (API Enabled), the permission set
``OAuthwatch_Integration`` (Setup, users, tokens) and the permission set group
``OAuthwatch_Monitoring`` (event monitoring), whose aggregate permission set (``Type = 'Group'``)
is what its assignment points to.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from oauthwatch.simulator.data import permissions
from oauthwatch.simulator.data.ids import make_id
from oauthwatch.simulator.generate import names
from oauthwatch.simulator.generate.plan import Plan

INTEGRATION_SET = "OAuthwatch_Integration"
MONITORING_GROUP = "OAuthwatch_Monitoring"
MONITORING_SET = "OAuthwatch_Event_Monitoring"
SET_POWER = {"Integration_Apps": {"ApiEnabled", "ViewAllData"}, "Data_Loader_Users": {"ApiEnabled"}}
# where each permission the product needs comes from for the integration user
_FROM_PROFILE = {"ApiEnabled"}
_FROM_SET = {"ViewSetup", "ManageUsers", "MonitorLoginHistory", "CustomizeApplication", "ModifyMetadata"}
_FROM_GROUP = {"ViewEventLogFiles", "ViewDataLeakageEvents"}
_GROUP_ID = make_id("0PG", 1)
_GROUP_PS_ID = make_id("0PS", 1800)
_COMPONENT_PS_ID = make_id("0PS", 1801)


def _set_flags(
    conn: sqlite3.Connection, table: str, row_id: str, granted: Iterable[str], only: Iterable[str]
) -> None:
    granted, cols = set(granted), [f for f in permissions.LABELS if f in set(only)]
    sets = ", ".join(f'"Permissions{f}" = ?' for f in cols)
    conn.execute(f'UPDATE "{table}" SET {sets} WHERE Id = ?', (*(int(f in granted) for f in cols), row_id))


def write_access(conn: sqlite3.Connection, plan: Plan) -> None:
    """Permission flags, the monitoring group, every PermissionSetAssignment and every UserLogin."""
    everything = set(permissions.LABELS)
    for pid, psid, prof in zip(plan.profile_ids, plan.profile_permset_ids, names.PROFILES, strict=True):
        granted = everything - {"ApiUserOnly"} if prof[0] == "System Administrator" else set()
        granted |= {n for n, on in (("ApiEnabled", prof[2]), ("ApiUserOnly", prof[3])) if on}
        _set_flags(conn, "Profile", pid, granted, everything)
        _set_flags(conn, "PermissionSet", psid, granted, everything)
        conn.execute("UPDATE \"PermissionSet\" SET Type = 'Profile' WHERE Id = ?", (psid,))
    for name, _label in names.PERMISSION_SETS:
        _set_flags(conn, "PermissionSet", plan.permset_ids[name], SET_POWER.get(name, set()), everything)
    conn.execute("UPDATE \"PermissionSet\" SET Type = 'Regular' WHERE Type IS NULL")
    conn.execute(
        'INSERT INTO "PermissionSetGroup" (Id, DeveloperName, MasterLabel, Status) VALUES (?, ?, ?, ?)',
        (_GROUP_ID, MONITORING_GROUP, "OAuthwatch Monitoring", "Updated"),
    )
    conn.executemany(
        'INSERT INTO "PermissionSet" (Id, Name, Label, IsOwnedByProfile, Type, PermissionSetGroupId) '
        "VALUES (?, ?, ?, 0, ?, ?)",
        [
            (_COMPONENT_PS_ID, MONITORING_SET, "OAuthwatch Event Monitoring", "Regular", None),
            (_GROUP_PS_ID, f"X{_GROUP_ID[3:15]}", None, "Group", _GROUP_ID),
        ],
    )
    conn.execute(
        'INSERT INTO "PermissionSetGroupComponent" (Id, PermissionSetGroupId, PermissionSetId) VALUES (?, ?, ?)',
        (make_id("0PH", 1), _GROUP_ID, _COMPONENT_PS_ID),
    )
    rows: list[tuple[str, str, str, str | None, int]] = []

    def assign(user_id: str, ps_id: str, group: str | None = None) -> None:
        rows.append((make_id("0Pa", 1000 + len(rows)), user_id, ps_id, group, 1))

    for u in plan.users:
        assign(u.id, plan.profile_permset_ids[u.profile])
        if u.idx == plan.oauthwatch_user:
            assign(u.id, plan.permset_ids[INTEGRATION_SET])
            assign(u.id, _GROUP_PS_ID, _GROUP_ID)
        elif u.kind == "integration":
            assign(u.id, plan.permset_ids["Integration_Apps"])
    conn.executemany(
        'INSERT INTO "PermissionSetAssignment" (Id, AssigneeId, PermissionSetId, PermissionSetGroupId, IsActive) '
        "VALUES (?, ?, ?, ?, ?)",
        rows,
    )
    humans = [u for u in plan.users if u.kind == "human" and u.active]
    frozen = humans[-1].idx if humans else -1
    conn.executemany(
        'INSERT INTO "UserLogin" (Id, UserId, IsFrozen) VALUES (?, ?, ?)',
        [(make_id("060", 1000 + u.idx), u.id, int(u.idx == frozen)) for u in plan.users],
    )
    grant_integration(conn, permissions.PRODUCT_NEEDS, commit=False)


def integration_user(conn: sqlite3.Connection) -> str | None:
    """The Id of oauthwatch's integration user (the holder of the ``OAuthwatch_Integration`` set)."""
    row = conn.execute(
        'SELECT psa.AssigneeId FROM "PermissionSetAssignment" psa JOIN "PermissionSet" ps '
        "ON ps.Id = psa.PermissionSetId WHERE ps.Name = ? LIMIT 1",
        (INTEGRATION_SET,),
    ).fetchone()
    return row[0] if row else None


def grant_integration(conn: sqlite3.Connection, granted: Iterable[str], *, commit: bool = True) -> None:
    """Give the integration user exactly ``granted`` of the permissions the product needs.

    API Enabled lives on its profile, which other integration users share, as in a real org; the
    powerful permissions the grant inventory weighs are left as generated.
    """
    granted = set(granted)
    user = integration_user(conn)
    if user is None:
        return
    product = _FROM_PROFILE | _FROM_SET | _FROM_GROUP
    profile_id = conn.execute('SELECT ProfileId FROM "User" WHERE Id = ?', (user,)).fetchone()[0]
    (profile_ps,) = conn.execute(
        'SELECT Id FROM "PermissionSet" WHERE ProfileId = ? AND IsOwnedByProfile = 1', (profile_id,)
    ).fetchone()
    (integration_ps,) = conn.execute(
        'SELECT Id FROM "PermissionSet" WHERE Name = ?', (INTEGRATION_SET,)
    ).fetchone()
    holders = [
        ("Profile", profile_id, _FROM_PROFILE),
        ("PermissionSet", profile_ps, _FROM_PROFILE),
        ("PermissionSet", integration_ps, _FROM_SET),
        ("PermissionSet", _COMPONENT_PS_ID, _FROM_GROUP),
        ("PermissionSet", _GROUP_PS_ID, _FROM_GROUP),
    ]
    for table, row_id, placed in holders:
        _set_flags(conn, table, row_id, granted & placed, product if table == "PermissionSet" else placed)
    if commit:
        conn.commit()
