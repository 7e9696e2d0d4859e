"""Turns generated login events into LoginHistory, LoginGeo (and LoginEvent when licensed) rows.

Ids are derived from the hour and the event's position in it, so writing the same hour twice is a
no-op (INSERT OR IGNORE) and the history and the live ticker never disagree. ``record_login`` is
the entry point the HTTPS server uses for every token request it answers.
"""

from __future__ import annotations

import hashlib
import sqlite3
import uuid

from oauthwatch.simulator.data.clock import HOUR_MS, get_state, set_state
from oauthwatch.simulator.data.ids import IdFactory
from oauthwatch.simulator.generate import geo
from oauthwatch.simulator.generate.plan import Plan
from oauthwatch.simulator.generate.traffic import (
    APP,
    BROWSER,
    IP,
    LTYPE,
    NET,
    PLATFORM,
    STATUS,
    SUB,
    TLS,
    URL,
    USER,
)

HISTORY, LIVE_SCALED, SCENARIO, SERVER = "0", "1", "2", "3"  # reserved Id character per writer
GRANT_SUBTYPES = ("OAuth Refresh Token", "OAuth Web Server")
_TLS = (("TLS 1.3", "TLS_AES_256_GCM_SHA384"), ("TLS 1.2", "ECDHE-RSA-AES256-GCM-SHA384"))
_GEO = [(n.city, n.country, n.iso, n.lat, n.lon, n.postal, n.subdivision) for n in geo.NETWORKS]
_NO_GEO = (None, None, None, None, None, None, None)
_FACTORIES: dict[tuple[str, str], IdFactory] = {}


def factory(prefix: str, reserved: str) -> IdFactory:
    key = (prefix, reserved)
    f = _FACTORIES.get(key)
    if f is None:
        f = _FACTORIES[key] = IdFactory(prefix, reserved)
    return f


def seq_base(hour_ms: int) -> int:
    """First Id number of an hour: 2**20 numbers per hour and writer."""
    return (hour_ms // HOUR_MS) << 20


LH_SQL = 'INSERT OR IGNORE INTO "LoginHistory" ("Id","UserId","LoginTime","LoginType","LoginSubType","SourceIp","ForwardedForIp","LoginUrl","Status","Application","Browser","Platform","ClientVersion","ApiType","ApiVersion","CountryIso","LoginGeoId","AuthenticationServiceId","AuthMethodReference","NetworkId","OptionsIsGet","OptionsIsPost","TlsProtocol","CipherSuite") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)'
GEO_SQL = 'INSERT OR IGNORE INTO "LoginGeo" ("Id","City","Country","CountryIso","Latitude","Longitude","LoginTime","PostalCode","Subdivision") VALUES (?,?,?,?,?,?,?,?,?)'
EV_COLS = (
    "Id", "CreatedDate", "EventIdentifier", "UserId", "Username", "EventDate", "SessionLevel", "SourceIp",
    "AdditionalInfo", "ApiType", "ApiVersion", "Application", "Browser", "HttpMethod", "CountryIso",
    "LoginLatitude", "LoginLongitude", "Country", "City", "PostalCode", "Subdivision", "CipherSuite",
    "ClientVersion", "LoginGeoId", "LoginHistoryId", "LoginType", "LoginUrl", "Platform", "Status",
    "TlsProtocol", "UserType", "LoginSubType", "LoginKey", "EvaluationTime",
)  # fmt: skip
EV_SQL = f'INSERT OR IGNORE INTO "LoginEvent" ({",".join(EV_COLS)}) VALUES ({",".join("?" * len(EV_COLS))})'


def login_rows(
    plan: Plan, events: list[tuple], hour_ms: int, reserved: str, first: int = 0
) -> tuple[list[tuple], list[tuple]]:
    """(LoginHistory rows, LoginGeo rows) for events of one hour; ``first`` = position of events[0] in the hour."""
    lh_id, geo_id = factory("0Ya", reserved), factory("04F", reserved)
    base = seq_base(hour_ms) + first
    users = plan.users
    labels = [a.label for a in plan.apps]
    lh, gl = [], []
    for i, e in enumerate(events):
        lid, gid = lh_id(base + i), geo_id(base + i)
        t = e[0]
        g = _GEO[e[NET]] if e[NET] is not None else _NO_GEO
        tls = _TLS[e[TLS]]
        app = e[APP]
        lh.append(
            (lid, users[e[USER]].id, t, e[LTYPE], e[SUB], e[IP], None, e[URL], e[STATUS],
             labels[app] if app >= 0 else "Browser", e[BROWSER], e[PLATFORM], "N/A", "N/A", "N/A",
             g[2], gid, None, None, None, 0, 1, tls[0], tls[1])
        )  # fmt: skip
        gl.append((gid, g[0], g[1], g[2], g[3], g[4], t, g[5], g[6]))
    return lh, gl


def event_rows(
    conn: sqlite3.Connection,
    lh: list[tuple],
    gl: list[tuple] | None = None,
    usernames: dict[str, str] | None = None,
) -> list[tuple]:
    """LoginEvent rows (Real-Time Event Monitoring) mirroring LoginHistory rows (and their LoginGeo rows)."""
    if not lh:
        return []
    if usernames is None:
        ids = sorted({r[1] for r in lh if r[1]})
        marks = ",".join("?" * len(ids))
        usernames = dict(
            conn.execute(f'SELECT Id, Username FROM "User" WHERE Id IN ({marks})', ids).fetchall()
        )
    geos = {g[0]: (g[4], g[5], g[2], g[1], g[7], g[8]) for g in gl} if gl is not None else {}
    names = usernames
    out = []
    for r in lh:
        lid, uid, t, ltype, sub, ip, _fwd, url, st, application, browser, platform = r[:12]
        gid = r[16]
        geo_row = geos.get(gid) or (
            conn.execute(
                'SELECT Latitude, Longitude, Country, City, PostalCode, Subdivision FROM "LoginGeo" WHERE Id = ?',
                (gid,),
            ).fetchone()
            or (None,) * 6
        )
        out.append(
            ("000000000000000AAA", t + 2000, str(uuid.uuid5(uuid.NAMESPACE_URL, lid)), uid, names.get(uid), t,
             "STANDARD", ip, "{}", "N/A", "N/A", application, browser, "POST", r[15], geo_row[0], geo_row[1],
             geo_row[2], geo_row[3], geo_row[4], geo_row[5], r[23], "N/A", gid, lid, ltype, url, platform, st,
             r[22], "Standard", sub, lid[-16:], 0.0)
        )  # fmt: skip
    return out


def write_events(
    conn: sqlite3.Connection,
    plan: Plan,
    events: list[tuple],
    hour_ms: int,
    reserved: str,
    *,
    licensed: bool,
    first: int = 0,
) -> list[tuple]:
    """Insert the LoginHistory/LoginGeo (and LoginEvent) rows of ``events``; returns LoginHistory rows."""
    lh, gl = login_rows(plan, events, hour_ms, reserved, first)
    conn.executemany(GEO_SQL, gl)
    conn.executemany(LH_SQL, lh)
    if licensed:
        usernames = plan.__dict__.get("_usernames")
        if usernames is None:
            usernames = plan.__dict__["_usernames"] = {u.id: u.username for u in plan.users}
        conn.executemany(EV_SQL, event_rows(conn, lh, gl, usernames))
    return lh


def write_rows(conn: sqlite3.Connection, lh: list[tuple], gl: list[tuple]) -> None:
    """Insert ready LoginHistory and LoginGeo rows (and LoginEvent rows when licensed)."""
    conn.executemany(GEO_SQL, gl)
    conn.executemany(LH_SQL, lh)
    if is_licensed(conn):
        conn.executemany(EV_SQL, event_rows(conn, lh, gl))


def apply_grants(conn: sqlite3.Connection, lh: list[tuple]) -> int:
    """Keep OauthToken consistent with new logins: a successful refresh or web-server login of an app
    that issues refresh tokens counts one use; a web-server login without a grant creates one.
    Returns how many grants were created."""
    flows = {r[0]: "refresh_token" in r[1] for r in conn.execute("SELECT Label, Flows FROM _AppConfig")}
    menu = dict(conn.execute('SELECT Label, Id FROM "AppMenuItem"').fetchall())
    created = 0
    for r in lh:
        lid, uid, t, ltype, sub, status, app = r[0], r[1], r[2], r[3], r[4], r[8], r[9]
        if (
            status != "Success"
            or ltype != "Remote Access 2.0"
            or not flows.get(app)
            or sub not in GRANT_SUBTYPES
        ):
            continue
        n = conn.execute(
            'UPDATE "OauthToken" SET UseCount = COALESCE(UseCount, 0) + 1, LastUsedDate = MAX(COALESCE(LastUsedDate, 0), ?) '
            "WHERE UserId = ? AND AppName = ?",
            (t, uid, app),
        ).rowcount
        if n == 0 and sub == "OAuth Web Server":
            h = hashlib.blake2b(lid.encode(), digest_size=48).hexdigest()
            conn.execute(
                'INSERT INTO "OauthToken" ("Id","AccessToken","AppMenuItemId","AppName","CreatedDate","DeleteToken",'
                '"LastUsedDate","RequestToken","UseCount","UserId") VALUES (NULL,?,?,?,?,?,?,?,1,?)',
                (f"5Aep861{h[:40]}", menu.get(app), app, t, f"5Aep861{h[40:80]}", t, f"aPrx{h[80:]}", uid),
            )
            created += 1
    return created


def is_licensed(conn: sqlite3.Connection) -> bool:
    return get_state(conn, "licensed", "0") == "1"


def record_login(
    conn: sqlite3.Connection,
    *,
    user_id: str | None,
    app_label: str | None,
    login_type: str,
    login_subtype: str | None,
    status: str,
    source_ip: str,
    login_url: str,
    when_ms: int,
    api_type: str | None = None,
    browser: str | None = None,
    platform: str | None = None,
) -> str:
    """Insert one LoginHistory row (and its LoginGeo from the IP) for a request the server answered.

    Returns the LoginHistory Id. The caller commits. The location comes from the same network table
    as the generated history, so the server's own logins show up on the map like the others.
    """
    n = int(get_state(conn, "server_login_seq", "0") or 0)
    set_state(conn, "server_login_seq", str(n + 1))
    number = seq_base(when_ms) + (n % (1 << 20))
    lid, gid = factory("0Ya", SERVER)(number), factory("04F", SERVER)(number)
    ni = geo.lookup(source_ip)
    g = _GEO[ni] if ni is not None else _NO_GEO
    conn.execute(GEO_SQL, (gid, g[0], g[1], g[2], g[3], g[4], when_ms, g[5], g[6]))
    row = (
        lid, user_id, when_ms, login_type, login_subtype, source_ip, None, login_url, status,
        app_label or "Browser", browser or "Unknown", platform or "Unknown", "N/A", api_type or "N/A", "N/A",
        g[2], gid, None, None, None, 0, 1, "TLS 1.3", "TLS_AES_256_GCM_SHA384",
    )  # fmt: skip
    conn.execute(LH_SQL, row)
    if is_licensed(conn):
        conn.executemany(EV_SQL, event_rows(conn, [row]))
    return lid
