"""What the local org knows about apps, users and the tokens it issued, read fresh on every call.

The OAuth endpoints and the REST layer never cache configuration: a test (or a scenario) that
edits ``_AppConfig``, ``_UserSecret``, ``Profile``, ``User`` or ``SetupEntityAccess`` directly sees
the effect on the next request, which is how failure causes are produced on demand.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from oauthwatch.simulator.data import permissions
from oauthwatch.simulator.data.permissions import Viewer

# Metadata API scope enum -> the scope string on the wire (docs/architecture.md, "Salesforce facts the code relies on").
SCOPE_WIRE = {
    "Api": "api",
    "Web": "web",
    "Full": "full",
    "Basic": "id",
    "Chatter": "chatter_api",
    "CustomApplications": "visualforce",
    "RefreshToken": "refresh_token",
    "OfflineAccess": "offline_access",
    "OpenID": "openid",
    "Profile": "profile",
    "Email": "email",
    "Address": "address",
    "Phone": "phone",
    "CustomPermissions": "custom_permissions",
    "Wave": "wave_api",
    "Eclair": "eclair_api",
    "Pardot": "pardot_api",
    "Lightning": "lightning",
    "Content": "content",
    "Chatbot": "chatbot_api",
    "SFAP": "sfap_api",
}
_TOKEN_ALPHABET = str.maketrans("+/", "._")


def now_ms() -> int:
    """The org's clock in epoch milliseconds (the real clock: the org lives in the present)."""
    return int(time.time() * 1000)


def _opaque(nbytes: int) -> str:
    return base64.b64encode(secrets.token_bytes(nbytes)).decode().rstrip("=").translate(_TOKEN_ALPHABET)


def new_access_token(org_id: str) -> str:
    """An access token shaped like Salesforce's: ``00D…!AQ…`` (15-char org id, then opaque)."""
    return f"{org_id[:15]}!AQ{_opaque(72)}"


def new_refresh_token() -> str:
    """A refresh token shaped like Salesforce's (``5Aep…``)."""
    return "5Aep" + _opaque(60)


def new_code() -> str:
    """An authorization code shaped like Salesforce's (``aPrx…``)."""
    return "aPrx" + _opaque(48)


def rows(conn: sqlite3.Connection, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    """Query results as dicts keyed by column name."""
    cur = conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def one(conn: sqlite3.Connection, sql: str, params: tuple = ()) -> dict[str, Any] | None:
    """The first row of a query as a dict, or None."""
    found = rows(conn, sql, params)
    return found[0] if found else None


def org_id(conn: sqlite3.Connection) -> str:
    """The org's Id (``00D…``)."""
    row = conn.execute('SELECT Id FROM "Organization" LIMIT 1').fetchone()
    return row[0] if row else "00D000000000001AAA"


def app_by_key(conn: sqlite3.Connection, consumer_key: str | None) -> dict[str, Any] | None:
    """The connected app whose consumer key is ``consumer_key`` (exact, as Salesforce)."""
    if not consumer_key:
        return None
    app = one(conn, "SELECT * FROM _AppConfig WHERE ConsumerKey = ?", (consumer_key,))
    if app:
        app["ScopeList"] = json.loads(app["Scopes"] or "[]")
        app["FlowList"] = json.loads(app["Flows"] or "[]")
    return app


_USER_SQL = """SELECT u.Id, u.Username, u.Name, u.FirstName, u.LastName, u.Email, u.IsActive, u.UserType,
    u.ProfileId, u.TimeZoneSidKey, p.PermissionsApiEnabled, s.Password, s.SecurityToken, s.AllowedIpRanges
    FROM "User" u LEFT JOIN "Profile" p ON p.Id = u.ProfileId LEFT JOIN _UserSecret s ON s.UserId = u.Id"""


def user_by_name(conn: sqlite3.Connection, username: str | None) -> dict[str, Any] | None:
    """The user with this username (case-insensitive, as Salesforce logins are)."""
    if not username:
        return None
    return one(conn, _USER_SQL + " WHERE lower(u.Username) = lower(?)", (username,))


def user_by_id(conn: sqlite3.Connection, user_id: str | None) -> dict[str, Any] | None:
    """The user with this Id (18 or 15 characters)."""
    if not user_id:
        return None
    return one(conn, _USER_SQL + " WHERE u.Id = ? OR substr(u.Id, 1, 15) = ?", (user_id, user_id[:15]))


def wire_scopes(app: dict[str, Any]) -> list[str]:
    """The app's scopes as OAuth scope strings, in Salesforce's usual order."""
    return [SCOPE_WIRE[s] for s in app["ScopeList"] if s in SCOPE_WIRE]


def ip_allowed(user: dict[str, Any], client_ip: str) -> bool:
    """Whether the user's profile login IP ranges (if any) include ``client_ip``."""
    raw = user.get("AllowedIpRanges")
    if not raw:
        return True
    ranges = json.loads(raw)
    if not ranges:
        return True
    try:
        ip = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(r, strict=False) for r in ranges)


def admin_assigned(conn: sqlite3.Connection, app: dict[str, Any], user: dict[str, Any]) -> bool:
    """Whether the user's profile (via its profile-owned permission set) is assigned the app."""
    row = conn.execute(
        """SELECT 1 FROM "SetupEntityAccess" sea JOIN "PermissionSet" ps ON ps.Id = sea.ParentId
           WHERE sea.SetupEntityId = ? AND ps.ProfileId = ? LIMIT 1""",
        (app["AppId"], user["ProfileId"]),
    ).fetchone()
    return row is not None


def user_approved(conn: sqlite3.Connection, app: dict[str, Any], user: dict[str, Any]) -> bool:
    """Whether the user approved the app before (a live OauthToken or refresh token of theirs)."""
    row = conn.execute(
        'SELECT 1 FROM "OauthToken" WHERE UserId = ? AND AppName = ? LIMIT 1', (user["Id"], app["Label"])
    ).fetchone()
    if row:
        return True
    row = conn.execute(
        "SELECT 1 FROM _Token WHERE Kind = 'refresh' AND Revoked = 0 AND AppId = ? AND UserId = ? LIMIT 1",
        (app["AppId"], user["Id"]),
    ).fetchone()
    return row is not None


def store_token(
    conn: sqlite3.Connection,
    token: str,
    kind: str,
    app: dict[str, Any],
    user_id: str,
    scopes: list[str],
    *,
    ttl_ms: int | None,
    extra: dict[str, Any] | None = None,
) -> int:
    """Remember an issued token; returns its issue time (epoch ms)."""
    issued = now_ms()
    conn.execute(
        "INSERT INTO _Token (Token, Kind, AppId, UserId, Scopes, IssuedAt, ExpiresAt, Revoked, Extra)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
        (
            token,
            kind,
            app["AppId"],
            user_id,
            " ".join(scopes),
            issued,
            issued + ttl_ms if ttl_ms is not None else None,
            json.dumps(extra) if extra else None,
        ),
    )
    return issued


def token_row(conn: sqlite3.Connection, token: str, kind: str | None = None) -> dict[str, Any] | None:
    """The stored token (any state), optionally of one kind; Extra is decoded."""
    sql = "SELECT * FROM _Token WHERE Token = ?" + (" AND Kind = ?" if kind else "")
    row = one(conn, sql, (token, kind) if kind else (token,))
    if row:
        row["ExtraDict"] = json.loads(row["Extra"]) if row["Extra"] else {}
    return row


def revoke(conn: sqlite3.Connection, token: str) -> bool:
    """Revoke a token (a refresh token takes its access tokens and OauthToken row with it)."""
    row = token_row(conn, token)
    if row is None:
        found = conn.execute(
            'SELECT AccessToken FROM "OauthToken" WHERE DeleteToken = ?', (token,)
        ).fetchone()
        if not found:
            return False
        conn.execute('DELETE FROM "OauthToken" WHERE DeleteToken = ?', (token,))
        if found[0]:
            revoke(conn, found[0])
        conn.commit()
        return True
    conn.execute("UPDATE _Token SET Revoked = 1 WHERE Token = ?", (token,))
    if row["Kind"] == "refresh":
        conn.execute(
            "UPDATE _Token SET Revoked = 1 WHERE Kind = 'access' AND json_extract(Extra, '$.refresh') = ?",
            (token,),
        )
        conn.execute('DELETE FROM "OauthToken" WHERE AccessToken = ?', (token,))
    conn.commit()
    return True


@dataclass(frozen=True)
class Session:
    """A valid access token and who holds it."""

    token: str
    app_id: str
    app_label: str
    user_id: str
    username: str
    scopes: tuple[str, ...]
    expires_at: int | None
    permissions: frozenset[str] = frozenset()

    @property
    def viewer(self) -> Viewer:
        """Who queries run as: this session's user with their effective permissions."""
        return Viewer(self.user_id, self.permissions)

    @property
    def api_allowed(self) -> bool:
        """REST needs the ``api`` (or ``full``) scope."""
        return "api" in self.scopes or "full" in self.scopes


def session_for(conn: sqlite3.Connection, token: str) -> tuple[Session | None, str | None]:
    """The live session of ``token`` and, when the user may not use the API, why (an error code)."""
    row = one(
        conn,
        """SELECT t.Token, t.AppId, t.UserId, t.Scopes, t.ExpiresAt, t.Revoked, a.Label, u.Username, u.IsActive,
                  p.PermissionsApiEnabled
           FROM _Token t LEFT JOIN _AppConfig a ON a.AppId = t.AppId LEFT JOIN "User" u ON u.Id = t.UserId
           LEFT JOIN "Profile" p ON p.Id = u.ProfileId
           WHERE t.Token = ? AND t.Kind = 'access'""",
        (token,),
    )
    if row is None or row["Revoked"] or (row["ExpiresAt"] is not None and row["ExpiresAt"] <= now_ms()):
        return None, None
    if row["IsActive"] is not None and not row["IsActive"]:
        return None, None
    sess = Session(
        token=row["Token"],
        app_id=row["AppId"],
        app_label=row["Label"] or "",
        user_id=row["UserId"],
        username=row["Username"] or "",
        scopes=tuple((row["Scopes"] or "").split()),
        expires_at=row["ExpiresAt"],
        permissions=_permissions_of(conn, row["UserId"], row["PermissionsApiEnabled"]),
    )
    if "ApiEnabled" not in sess.permissions:
        return sess, "API_CURRENTLY_DISABLED"
    return sess, None


def _permissions_of(conn: sqlite3.Connection, user_id: str, profile_api: int | None) -> frozenset[str]:
    """The user's effective permissions; a hand-made org without assignments grants everything
    but what its profile says about the API (tests that fill tables directly rely on this)."""
    if conn.execute(
        'SELECT 1 FROM "PermissionSetAssignment" WHERE AssigneeId = ? LIMIT 1', (user_id,)
    ).fetchone():
        return permissions.effective(conn, user_id)
    granted = frozenset(permissions.LABELS)
    return granted if profile_api is None or profile_api else granted - {"ApiEnabled"}
