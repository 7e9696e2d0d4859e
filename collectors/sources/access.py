"""What the integration user can see: its effective permissions against each source's declaration.

A ``LIMIT 1`` probe proves nothing: since API 37.0 any user reads its own LoginHistory rows, and
OauthToken shows other users' grants only with Customize Application (docs/salesforce-behaviour.md).
So the permissions are read, not guessed: the user's ``PermissionSetAssignment`` rows (its
profile's own permission set, its permission sets and the aggregate permission set of each group)
name every grant and where it comes from; a user not allowed to read those (they need View Setup
and Configuration, Assign Permission Sets or Manage Users) still reads its own effective
permissions from ``UserPermissionAccess``.

``visibility`` then says, per source, whether it sees the whole org, only the user's own rows
(collected, but marked ``partial (own rows only)``), or nothing at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from collectors.sources.base import Permission, Source
from collectors.sources.registry import SOURCES

API_ENABLED = Permission("ApiEnabled", "API Enabled", "any API call")
LABELS: dict[str, str] = {"ApiEnabled": "API Enabled", "MonitorLoginHistory": "Monitor Login History"}
LABELS |= {c.permission.api_name: c.permission.label for c in SOURCES.values() if c.permission is not None}
OWN_ROWS = "own rows only"

Query = Callable[[str], Iterable[Mapping[str, Any]]]


def needed(sources: Iterable[type[Source]] | None = None) -> list[str]:
    """Every permission API name the sources (and the API itself) depend on, in a stable order."""
    names = ["ApiEnabled"]
    for cls in SOURCES.values() if sources is None else sources:
        if cls.permission is not None:
            for name in (cls.permission.api_name, *cls.permission.alternatives):
                if name not in names:
                    names.append(name)
    return names


def label(api_name: str) -> str:
    return LABELS.get(api_name, api_name)


@dataclass(frozen=True)
class Effective:
    """The integration user's permissions, and where each one comes from when that is known."""

    held: frozenset[str]
    via: dict[str, tuple[str, ...]] = field(default_factory=dict)
    read_from: str = "PermissionSetAssignment"

    def has(self, permission: Permission) -> bool:
        return bool(self.held & {permission.api_name, *permission.alternatives})


def _holder(rec: Mapping[str, Any]) -> str:
    ps = rec.get("PermissionSet") or {}
    group = rec.get("PermissionSetGroup") or {}
    if ps.get("IsOwnedByProfile"):
        profile = (ps.get("Profile") or {}).get("Name")
        return f"profile {profile}" if profile else "its profile"
    if group.get("DeveloperName") or ps.get("Type") == "Group":
        return f"permission set group {group.get('DeveloperName') or ps.get('Name')}"
    return f"permission set {ps.get('Label') or ps.get('Name')}"


def read_effective(query: Query, user_id: str, names: list[str]) -> Effective:
    """The user's effective ``names`` permissions; raises what ``query`` raises if neither object is
    readable (an API version below 41.0, or no API access at all)."""
    fields = ", ".join(f"PermissionSet.Permissions{n}" for n in names)
    soql = (
        "SELECT PermissionSet.Name, PermissionSet.Label, PermissionSet.Type, PermissionSet.IsOwnedByProfile, "
        f"PermissionSet.Profile.Name, PermissionSetGroup.DeveloperName, {fields} "
        f"FROM PermissionSetAssignment WHERE AssigneeId = '{user_id}'"
    )
    try:
        records = list(query(soql))
    except Exception:  # noqa: BLE001 - not allowed to read assignments: fall back to its own view
        (rec,) = list(
            query(f"SELECT {', '.join(f'Permissions{n}' for n in names)} FROM UserPermissionAccess")
        )
        return Effective(
            frozenset(n for n in names if rec.get(f"Permissions{n}")), read_from="UserPermissionAccess"
        )
    via: dict[str, list[str]] = {}
    for rec in records:
        ps = rec.get("PermissionSet") or {}
        for n in names:
            if ps.get(f"Permissions{n}"):
                via.setdefault(n, []).append(_holder(rec))
    return Effective(frozenset(via), {k: tuple(v) for k, v in via.items()})


@dataclass(frozen=True)
class Visibility:
    """What one source can see when its permission is missing."""

    source: str
    status: str  # "own_rows" | "nothing"
    missing: Permission

    @property
    def coverage_note(self) -> str:
        """The coverage note of a partial read: starts with ``own rows only``."""
        return f"{OWN_ROWS}: the integration user lacks '{self.missing.label}'"

    @property
    def setup_path(self) -> str:
        alt = "".join(f" (or '{label(a)}')" for a in self.missing.alternatives)
        return (
            f"Setup → Users → Permission Sets → the permission set assigned to the integration user → "
            f"System Permissions → Edit → enable '{self.missing.label}'{alt}"
        )


def visibility(cls: type[Source], effective: Effective) -> Visibility | None:
    """None when the source sees all it should; else what it is reduced to."""
    perm = cls.permission
    if not effective.has(API_ENABLED):
        return Visibility(cls.name, "nothing", API_ENABLED)
    if perm is None or effective.has(perm):
        return None
    return Visibility(cls.name, "own_rows" if perm.without_it == "own_rows" else "nothing", perm)
