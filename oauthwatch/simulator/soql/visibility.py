"""Who sees what: the running user's permissions applied to a query (docs/salesforce-behaviour.md).

An object the user may not see answers ``INVALID_TYPE`` exactly as a missing object does; an
object whose other-user rows need a permission the user lacks gets the user's own-rows condition
ANDed to the query, so ``totalSize``, paging and ``COUNT()`` all agree with what Salesforce would
show that user. ``UserPermissionAccess`` is answered from the user's assigned permission sets.
A query compiled without a viewer (the org's own tooling and tests) sees everything.
"""

from __future__ import annotations

from typing import Any

from oauthwatch.simulator.data import permissions
from oauthwatch.simulator.data.permissions import Viewer
from oauthwatch.simulator.data.schema import SObject
from oauthwatch.simulator.soql.lexer import SoqlError

__all__ = ["Viewer", "own_rows", "source"]


def hidden(obj: SObject, viewer: Viewer | None) -> bool:
    """Whether ``obj`` must answer as if it did not exist for ``viewer``."""
    return viewer is not None and not viewer.may_see(obj.name)


def own_rows(obj: SObject, viewer: Viewer | None) -> tuple[str, list[Any]]:
    """The own-rows condition (and its parameter) when ``viewer`` sees only their own rows."""
    if viewer is None:
        return "", []
    cond = viewer.own_rows(obj.name)
    return (cond, [viewer.user_id]) if cond else ("", [])


def source(obj: SObject, viewer: Viewer | None) -> tuple[str, list[Any]]:
    """The FROM term for alias ``t0``: the object's table, or a virtual object's rows for ``viewer``."""
    if not obj.virtual:
        return f'"{obj.name}" AS t0', []
    if obj.name != "UserPermissionAccess":
        raise SoqlError("INVALID_TYPE", f"sObject type '{obj.name}' is not supported.")
    cols = ", ".join(
        f'{permissions.flag_sql(f.name)} AS "{f.name}"'
        for f in obj.fields
        if f.name.startswith("Permissions")
    )
    user = viewer.user_id if viewer is not None else ""
    sub = f'SELECT NULL AS "Id", NULL AS "LastCacheUpdate", {cols} FROM {permissions.ASSIGNED_SETS}'
    return f"({sub}) AS t0", [user]
