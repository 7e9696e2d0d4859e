"""What the local org's Metadata API answers share: one XML element, and who an app is assigned to."""

from __future__ import annotations

import sqlite3
from typing import Any
from xml.sax.saxutils import escape


def el(name: str, value: Any) -> str:
    """``<name>value</name>`` escaped, booleans as ``true``/``false``; nothing for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}>{escape(str(value))}</{name}>"


def assignments(conn: sqlite3.Connection, app_id: str) -> list[tuple[str, str, str | None]]:
    """(permission set Id, its name, the profile's name when the set is a profile's own) of every
    SetupEntityAccess row that assigns the app."""
    return [
        (ps_id, name, profile if owned else None)
        for ps_id, name, owned, profile in conn.execute(
            """SELECT ps.Id, ps.Name, ps.IsOwnedByProfile, p.Name FROM "SetupEntityAccess" sea
               JOIN "PermissionSet" ps ON ps.Id = sea.ParentId LEFT JOIN "Profile" p ON p.Id = ps.ProfileId
               WHERE sea.SetupEntityId = ? ORDER BY ps.Name""",
            (app_id,),
        )
    ]
