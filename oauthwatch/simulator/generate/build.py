"""Builds the local org's database from a seed: setup, 30 days (or more) of logins, grants, files.

``build_org`` is deterministic (same parameters → same rows, Ids included) and idempotent (an
existing database built with the same parameters is kept). History is generated hour by hour and
written in chunks, so memory stays flat whatever the size: 10 million LoginHistory rows only take
longer. The build writes into a temporary file and renames it, so a crash never leaves half an org.

``_State`` keys kept by the data side: ``build_params`` (JSON: what the org was built from),
``licensed``, ``clock_offset`` (ms added to the wall clock), ``live_cursor`` (last live tick, ms),
``elf_lag`` (Event Log File lag model), ``scenarios_pending`` / ``scenarios_active`` /
``scenarios_suppressed`` (staged incidents) and ``server_login_seq`` (Ids of server-logged logins).
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oauthwatch.simulator.data import catalog, orgdb, schema
from oauthwatch.simulator.data.clock import DAY_MS, HOUR_MS, get_state, hour_floor, set_state, to_ms
from oauthwatch.simulator.generate.keys import private_pem, rsa_key
from oauthwatch.simulator.generate.logins import HISTORY, record_login, write_events
from oauthwatch.simulator.generate.plan import Plan, make_plan
from oauthwatch.simulator.generate.setupdb import write_setup
from oauthwatch.simulator.generate.traffic import APP, STATUS, SUB, SUB_REFRESH, SUB_WEB, USER, Traffic

__all__ = ["build_org", "org_facts", "plan_from_params", "read_params", "record_login"]
PARAMS_KEY = "build_params"
KEY_FILE = "oauthwatch-jwt.key"
CERT_FILE = "oauthwatch-jwt.crt"
GRANT_SUBTYPES = (SUB_REFRESH, SUB_WEB)


def read_params(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """The parameters the org database was built with (None if it was not built by us)."""
    try:
        raw = get_state(conn, PARAMS_KEY)
    except sqlite3.Error:
        return None
    return json.loads(raw) if raw else None


def plan_from_params(params: dict[str, Any]) -> Plan:
    """The in-memory plan of an org built with ``params`` (used by the live ticker and scenarios)."""
    return make_plan(
        seed=params["seed"],
        users=params["users"],
        apps=params["apps"],
        start_ms=params["start_ms"],
        end_ms=params["end_ms"],
    )


def build_org(
    state_dir: Path,
    *,
    seed: int = 7,
    days: int = 30,
    users: int = 300,
    apps: int = 12,
    licensed: bool = False,
    now: datetime | None = None,
    elf_days: int = 30,
) -> None:
    """Create ``state_dir/org.sqlite3`` filled from the seed, plus the oauthwatch app's key and cert.

    With ``now`` the history ends there and the org's clock is set to it (``_State.clock_offset``);
    without it the history ends at the wall clock. Event Log Files cover the last ``elf_days`` days.
    """
    wall_start = to_ms(datetime.now(UTC))
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    wanted = {
        "seed": seed,
        "days": days,
        "users": users,
        "apps": apps,
        "licensed": licensed,
        "elf_days": elf_days,
    }
    if now is not None:
        wanted["now"] = to_ms(now)
    path = orgdb.db_path(state_dir)
    if path.exists():
        conn = orgdb.connect(path)
        try:
            have = read_params(conn)
        finally:
            conn.close()
        if have is not None and {k: have.get(k) for k in wanted} == wanted:
            _write_key_files(state_dir, seed, have)
            return
    end_ms = to_ms(now) if now is not None else to_ms(datetime.now(UTC))
    start_ms = hour_floor(end_ms) - days * DAY_MS
    params = {**wanted, "start_ms": start_ms, "end_ms": end_ms}
    tmp = path.with_name(path.name + ".building")
    for p in (tmp, Path(str(tmp) + "-journal")):
        p.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-32000")  # 32 MB: appends need little; memory stays flat
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        _create_tables(conn, licensed)
        plan = plan_from_params(params)
        write_setup(conn, plan)
        _write_history(conn, plan, start_ms, end_ms, licensed=licensed)
        orgdb.create_schema(conn, licensed=licensed)  # indexes, after the bulk load
        set_state(conn, PARAMS_KEY, json.dumps(params, sort_keys=True))
        set_state(conn, "licensed", "1" if licensed else "0")
        set_state(conn, "live_cursor", str(end_ms))
        set_state(conn, "clock_offset", str(end_ms - wall_start) if now is not None else "0")
        _after_history(conn, plan, end_ms, elf_days)
        conn.commit()
    finally:
        conn.close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    os.replace(tmp, path)
    conn = orgdb.connect(path)  # switch the finished file to WAL for the server and live ticker
    conn.close()
    _write_key_files(state_dir, seed, params)


def _after_history(conn: sqlite3.Connection, plan: Plan, end_ms: int, elf_days: int) -> None:
    """Event Log Files for the last ``elf_days`` of history; threat events when licensed."""
    from oauthwatch.simulator.data import eventlog

    if elf_days > 0:
        eventlog.create_due_files(conn, since_ms=end_ms - elf_days * DAY_MS, now_ms=end_ms, seed=plan.seed)
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'ApiAnomalyEventStore'").fetchone():
        _threat_history(conn, plan)


def _threat_history(conn: sqlite3.Connection, plan: Plan) -> None:
    """A licensed org's threat detection has flagged a few things before: low-score API anomalies."""
    rng = random.Random(f"{plan.seed}:threats")
    service = [u for u in plan.users if u.kind == "service"] or plan.users
    rows = []
    for i in range(3):
        u = service[rng.randrange(len(service))]
        t = plan.start_ms + rng.randrange(max(1, plan.end_ms - plan.start_ms))
        data = {
            "queriedEntities": "Account",
            "rowsProcessed": 20_000 + rng.randrange(80_000),
            "operation": "Query",
        }
        rows.append(
            ("000000000000000AAA", f"hist-anomaly-{plan.seed}-{i}", t, t + 4000, u.id, u.username, u.office_ip,
             round(0.3 + rng.random() * 0.3, 3), f"{u.username} queried an unusual number of Account rows",
             "NoAction", None, None, json.dumps(data))
        )  # fmt: skip
    conn.executemany(
        'INSERT INTO "ApiAnomalyEventStore" ("Id","EventIdentifier","EventDate","CreatedDate","UserId","Username",'
        '"SourceIp","Score","Summary","PolicyOutcome","LoginKey","SessionKey","SecurityEventData") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)',
        rows,
    )


def _create_tables(conn: sqlite3.Connection, licensed: bool) -> None:
    """Tables without their indexes (bulk inserts are faster; create_schema adds indexes after)."""
    for obj in catalog.OBJECTS.values():
        if (obj.licensed_only and not licensed) or obj.virtual:
            continue
        conn.execute(schema.ddl(obj)[0])
    for stmt in orgdb.PRIVATE_DDL:
        conn.execute(stmt)


def _write_history(
    conn: sqlite3.Connection, plan: Plan, start_ms: int, end_ms: int, *, licensed: bool
) -> None:
    traffic = Traffic(plan)
    uses: dict[tuple[int, int], list[int]] = {}  # (user, app) → [count, last success ms]
    last_login: dict[int, int] = {}
    hour = start_ms
    while hour < end_ms:
        events = traffic.hour(hour)
        if hour + HOUR_MS > end_ms:
            events = events[: _count_until(events, end_ms)]
        write_events(conn, plan, events, hour, HISTORY, licensed=licensed)
        for e in events:
            if e[STATUS] != "Success":
                continue
            last_login[e[USER]] = e[0]
            if e[APP] >= 0 and e[SUB] in GRANT_SUBTYPES:
                u = uses.get((e[USER], e[APP]))
                if u is None:
                    uses[(e[USER], e[APP])] = [1, e[0]]
                else:
                    u[0] += 1
                    u[1] = e[0]
        hour += HOUR_MS
    conn.executemany(
        'UPDATE "User" SET LastLoginDate = ? WHERE Id = ?',
        [(t, plan.users[u].id) for u, t in last_login.items()],
    )
    _write_grants(conn, plan, uses)


def _count_until(events: list[tuple], end_ms: int) -> int:
    """How many of the (time-ordered) events happen at or before ``end_ms``."""
    n = 0
    for e in events:
        if e[0] > end_ms:
            break
        n += 1
    return n


def _write_grants(conn: sqlite3.Connection, plan: Plan, uses: dict[tuple[int, int], list[int]]) -> None:
    """OauthToken rows: UseCount = uses before the window + successful logins in it."""
    rows = []
    for g in plan.grants:
        app = plan.apps[g.app]
        used = uses.get((g.user, g.app))
        count = g.prior_uses + (used[0] if used else 0)
        last = max(g.last_used_ms, used[1]) if used else g.last_used_ms
        if count == 0:
            continue  # authorized inside the window but never succeeded: no grant
        rows.append(
            (
                None,
                g.access_token,
                None if app.spec.external else app.menu_item_id,  # UNCONFIRMED for External Client Apps
                app.label,
                g.created_ms,
                g.delete_token,
                last,
                g.request_token,
                count,
                plan.users[g.user].id,
            )
        )
    conn.executemany(
        'INSERT INTO "OauthToken" ("Id","AccessToken","AppMenuItemId","AppName","CreatedDate","DeleteToken","LastUsedDate","RequestToken","UseCount","UserId") VALUES (?,?,?,?,?,?,?,?,?,?)',
        rows,
    )


def _write_key_files(state_dir: Path, seed: int, params: dict[str, Any]) -> None:
    """The oauthwatch app's private key (PKCS#8, 0600) and certificate, next to the database."""
    key_path = state_dir / KEY_FILE
    pem = private_pem(rsa_key(f"{seed}:oauthwatch"))
    if not key_path.exists() or key_path.read_bytes() != pem:
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
    os.chmod(key_path, 0o600)
    conn = orgdb.connect(orgdb.db_path(state_dir), readonly=True)
    try:
        row = conn.execute("SELECT CertificatePem FROM _AppConfig WHERE Kind = 'oauthwatch'").fetchone()
    finally:
        conn.close()
    (state_dir / CERT_FILE).write_text(row[0] if row and row[0] else "")


def org_facts(conn: sqlite3.Connection) -> dict[str, Any]:
    """What ``credentials.json`` needs to reach the org as the oauthwatch app.

    ``private_key_file`` / ``certificate_file`` are file names relative to the state folder.
    """
    app = conn.execute(
        "SELECT ConsumerKey, ConsumerSecret, ClientCredentialUserId FROM _AppConfig WHERE Kind = 'oauthwatch'"
    ).fetchone()
    if app is None:
        raise LookupError("the org has no oauthwatch app: build it with build_org first")
    jwt_user = conn.execute('SELECT Username FROM "User" WHERE Id = ?', (app[2],)).fetchone()
    admin = conn.execute(
        """SELECT u.Id, u.Username, s.Password FROM "User" u JOIN "Profile" p ON p.Id = u.ProfileId
           JOIN _UserSecret s ON s.UserId = u.Id
           WHERE p.Name = 'System Administrator' AND u.IsActive = 1 ORDER BY u.Id LIMIT 1"""
    ).fetchone()
    org_id = conn.execute('SELECT Id FROM "Organization"').fetchone()[0]
    return {
        "consumer_key": app[0],
        "client_secret": app[1],
        "private_key_file": KEY_FILE,
        "certificate_file": CERT_FILE,
        "jwt_username": jwt_user[0],
        "username": admin[1],
        "password": admin[2],
        "org_id": org_id,
    }
