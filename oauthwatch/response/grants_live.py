"""Read an app's live grants from the org, by the app's id where we have it, never by name alone.

Two apps can carry the same label (an attacker's "Data Loader" beside the real one), so an app
given by id (``0H4…``) is resolved to its AppMenuItem rows (``AppMenuItem.ApplicationId``) and the
grants are the OauthToken rows pointing at those (``OauthToken.AppMenuItemId``); an app given by
name is looked up among the org's ConnectedApplication records and refused when the name is
ambiguous. ``DeleteToken`` is what the revoke endpoint takes (docs/incident-response.md cites
Salesforce's documentation); it stays a ``SecretStr`` and leaves this module only as a hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from collectors.sources.values import get, parse_dt, soql_str
from oauthwatch.secrets import fingerprint

if TYPE_CHECKING:
    from collectors.api.client import SalesforceClient


class AppNotFound(LookupError):
    """The app named on the command line is not one of the org's connected apps (or is ambiguous)."""


@dataclass(frozen=True)
class LiveGrant:
    """One OAuth grant as the org holds it now."""

    user_id: str
    username: str
    app_name: str
    app_id: str
    created: datetime | None
    last_used: datetime | None
    use_count: int | None
    delete_token: SecretStr

    @property
    def token_hash(self) -> str:
        """The DeleteToken's fingerprint: identifies the grant in records, never revokes it."""
        return fingerprint(self.delete_token.get_secret_value())


@dataclass(frozen=True)
class AppRef:
    """The app a revocation targets: its id (15 characters) and label."""

    app_id: str
    name: str
    menu_item_ids: tuple[str, ...]


def resolve_app(client: SalesforceClient, app: str) -> AppRef:
    """The connected app named ``app`` (a 0H4 id or its exact label), with its AppMenuItem ids."""
    apps = list(client.query("SELECT Id, Name FROM ConnectedApplication"))
    if app[:3] == "0H4":
        chosen = [a for a in apps if str(get(a, "Id"))[:15] == app[:15]]
    else:
        chosen = [a for a in apps if str(get(a, "Name")).casefold() == app.casefold()]
    if not chosen:
        known = ", ".join(sorted(str(get(a, "Name")) for a in apps))
        raise AppNotFound(f"no connected app {app!r} in the org (known: {known})")
    if len(chosen) > 1:
        ids = ", ".join(str(get(a, "Id")) for a in chosen)
        raise AppNotFound(f"{len(chosen)} connected apps are called {app!r} ({ids}): name one by its id")
    app_id = str(get(chosen[0], "Id"))[:15]
    items = [
        str(get(r, "Id"))
        for r in client.query("SELECT Id, ApplicationId FROM AppMenuItem WHERE Type = 'ConnectedApplication'")
        if str(get(r, "ApplicationId") or "")[:15] == app_id
    ]
    return AppRef(app_id, str(get(chosen[0], "Name")), tuple(items))


def resolve_user(client: SalesforceClient, user: str) -> str:
    """A 005 id as given, or the id of the user with that username."""
    if user[:3] == "005" and len(user) in (15, 18):
        return user
    rows = list(client.query(f"SELECT Id FROM User WHERE Username = {soql_str(user)}"))
    if not rows:
        raise AppNotFound(f"no user with username {user!r} in the org")
    return str(get(rows[0], "Id"))


def _row(rec: Any, ref: AppRef, usernames: dict[str, str]) -> LiveGrant:
    uid = str(get(rec, "UserId"))
    return LiveGrant(
        user_id=uid,
        username=usernames.get(uid[:15], ""),
        app_name=str(get(rec, "AppName") or ref.name),
        app_id=ref.app_id,
        created=parse_dt(get(rec, "CreatedDate")),
        last_used=parse_dt(get(rec, "LastUsedDate")),
        use_count=get(rec, "UseCount"),
        delete_token=SecretStr(str(get(rec, "DeleteToken") or "")),
    )


def live_grants(client: SalesforceClient, ref: AppRef, user_id: str | None = None) -> list[LiveGrant]:
    """The app's grants (all users, or one), read now; rows without a DeleteToken are left out."""
    if not ref.menu_item_ids:
        return []
    items = ", ".join(soql_str(i) for i in ref.menu_item_ids)
    where = f"AppMenuItemId IN ({items})" + (f" AND UserId = {soql_str(user_id)}" if user_id else "")
    soql = f"SELECT UserId, AppName, CreatedDate, LastUsedDate, UseCount, DeleteToken FROM OauthToken WHERE {where} ORDER BY UserId"
    recs = [r for r in client.query(soql) if get(r, "DeleteToken")]
    ids = sorted({str(get(r, "UserId")) for r in recs})
    usernames: dict[str, str] = {}
    for i in range(0, len(ids), 200):
        in_list = ", ".join(soql_str(x) for x in ids[i : i + 200])
        for u in client.query(f"SELECT Id, Username FROM User WHERE Id IN ({in_list})"):
            usernames[str(get(u, "Id"))[:15]] = str(get(u, "Username"))
    return [_row(r, ref, usernames) for r in recs]
