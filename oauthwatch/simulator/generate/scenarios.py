"""Scenarios: staged incidents written into the org, with their ground truth for evaluation.

``inject(conn, name, at, state_dir=…, seed=…)`` applies the incident's configuration change,
writes its login events up to the org's clock and appends one JSON line to
``DIR/ground_truth.jsonl``. Events after the org's clock are written by the live ticker as time
reaches them; an incident whose start is in the future is kept pending in ``_State`` and applied by
the live ticker when the org clock gets there. ``NAME@TIME`` on the command line: TIME is an ISO
datetime, ``now``, or relative to the org clock (``+5m``, ``-2h``, ``-1d``, ``+30s``).
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from oauthwatch.simulator.data import eventlog, orgdb, staged
from oauthwatch.simulator.data.clock import from_ms, get_state, iso, org_now_ms, set_state, to_ms
from oauthwatch.simulator.generate import campaigns, geo, incidents, legacy
from oauthwatch.simulator.generate.build import plan_from_params, read_params
from oauthwatch.simulator.generate.logins import SCENARIO, apply_grants, factory, write_rows
from oauthwatch.simulator.generate.plan import Plan

GROUND_TRUTH = "ground_truth.jsonl"
PENDING_KEY, ACTIVE_KEY, SUPPRESS_KEY = "scenarios_pending", "scenarios_active", "scenarios_suppressed"
APPLIED_KEY = "scenarios_applied"
BUILDERS = {**incidents.BUILDERS, **campaigns.BUILDERS, **legacy.BUILDERS}
_NUMBER = {name: i + 1 for i, name in enumerate(BUILDERS)}
_REL = re.compile(r"^([+-])(\d+)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Scenario:
    name: str
    detector: str
    summary: str


SCENARIOS: dict[str, Scenario] = {
    "spray": Scenario("spray", "password_spray", "password spray from one hosting network against ~40 users"),
    "stolen_refresh_token": Scenario("stolen_refresh_token", "new_country", "a user's refresh token replayed from a new country"),
    "runaway_integration": Scenario("runaway_integration", "volume", "an integration requesting tokens in a loop for two hours"),
    "expired_jwt_cert": Scenario("expired_jwt_cert", "failure_surge", "a JWT bearer certificate expires: three hours of failures"),
    "unapproved_app": Scenario("unapproved_app", "new_app", "an app nobody approved, self-authorized by ~25 users"),
    "dormant_grant": Scenario("dormant_grant", "dormant_grant", "a grant unused for weeks wakes up from an unusual network"),
    "policy_loosened": Scenario("policy_loosened", "posture", "a connected app's OAuth policies loosened (SetupAuditTrail + Metadata)"),
    "token_theft": Scenario("token_theft", "app_risky_network", "a vendor app's stolen refresh tokens replayed from AWS, DigitalOcean and Tor by scripts"),
    "fake_dataloader": Scenario("fake_dataloader", "app_imitation", "a lookalike 'Data Loader' authorised through the device flow, pulling data over a VPN"),
    "legacy_password_flow": Scenario("legacy_password_flow", "legacy_flow", "an integration's fallback script logging in with the OAuth Username-Password flow"),
}  # fmt: skip


def parse_time(text: str, now: datetime) -> datetime:
    """``now``, ``+5m``/``-2h``/``-1d``/``+30s`` (relative to ``now``), or an ISO datetime (UTC if no zone)."""
    text = text.strip()
    if text.lower() == "now":
        return now
    m = _REL.match(text)
    if m:
        delta = timedelta(seconds=int(m.group(2)) * _UNIT[m.group(3)])
        return now + delta if m.group(1) == "+" else now - delta
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: use now, +5m, -2h, -1d, +30s or an ISO datetime like 2026-03-01T10:00Z"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_scenario_arg(arg: str, now: datetime) -> tuple[str, datetime]:
    """``NAME@TIME`` → (name, time); errors say what to write instead."""
    name, sep, when = arg.partition("@")
    if not sep or not when:
        raise ValueError(f"{arg!r}: write NAME@TIME, e.g. spray@-2h or spray@2026-03-01T10:00Z")
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}")
    return name, parse_time(when, now)


def _state_list(conn: sqlite3.Connection, key: str) -> list:
    raw = get_state(conn, key)
    return json.loads(raw) if raw else []


def _state_dir(conn: sqlite3.Connection) -> Path:
    for _seq, name, path in conn.execute("PRAGMA database_list"):
        if name == "main" and path:
            return Path(path).parent
    raise LookupError("in-memory org database: pass state_dir")


def _plan(conn: sqlite3.Connection) -> Plan:
    params = read_params(conn)
    if params is None:
        raise LookupError("the org database was not built by build_org")
    return plan_from_params(params)


def build_incident(plan: Plan, name: str, at_ms: int) -> incidents.Incident:
    rng = random.Random(f"{plan.seed}:{name}:{at_ms}")
    return BUILDERS[name](plan, rng, at_ms)


def inject(
    conn: sqlite3.Connection,
    name: str,
    at: datetime,
    *,
    state_dir: Path | None = None,
    seed: int | None = None,
    plan: Plan | None = None,
) -> dict[str, Any]:
    """Stage scenario ``name`` at ``at``: now (or in the past) it is applied at once; later it is scheduled."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}")
    plan = plan or _plan(conn)
    if seed is not None and seed != plan.seed:
        raise ValueError(f"the org was built with seed {plan.seed}, not {seed}")
    at_ms = to_ms(at) - to_ms(at) % 1000
    now = org_now_ms(conn)
    if at_ms > now:
        pending = _state_list(conn, PENDING_KEY)
        if {"name": name, "at_ms": at_ms} not in pending:
            pending.append({"name": name, "at_ms": at_ms})
        set_state(conn, PENDING_KEY, json.dumps(pending))
        conn.commit()
        return {"scenario": name, "status": "scheduled", "start": iso(at_ms)}
    result = _apply(conn, plan, name, at_ms, now, Path(state_dir) if state_dir else _state_dir(conn))
    conn.commit()
    return result


def _apply(
    conn: sqlite3.Connection, plan: Plan, name: str, at_ms: int, now: int, state_dir: Path
) -> dict[str, Any]:
    applied = _state_list(conn, APPLIED_KEY)
    if [name, at_ms] in applied:  # the same incident at the same time: already in the org
        return {"scenario": name, "status": "already applied", "start": iso(at_ms), "written": 0}
    set_state(conn, APPLIED_KEY, json.dumps([*applied, [name, at_ms]]))
    inc = build_incident(plan, name, at_ms)
    if inc.configure:
        inc.configure(conn)
    if inc.replaces:
        _replace(conn, *inc.replaces)
    written = _write(conn, inc, 0, now)
    if inc.end_ms > now or any(e[0] > now for e in inc.events):
        active = _state_list(conn, ACTIVE_KEY)
        active.append(
            {"name": name, "at_ms": at_ms, "end_ms": max([inc.end_ms, *(e[0] for e in inc.events)])}
        )
        set_state(conn, ACTIVE_KEY, json.dumps(active))
    if inc.follow_up:
        action, when = inc.follow_up
        pending = _state_list(conn, PENDING_KEY)
        pending.append({"name": action, "at_ms": when, "app": inc.app})
        set_state(conn, PENDING_KEY, json.dumps(pending))
    _threat_rows(conn, inc)
    truth = inc.truth()
    with (state_dir / GROUND_TRUTH).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(truth, sort_keys=True) + "\n")
    if inc.events:
        eventlog.refresh_lengths(conn, at_ms, min(now, inc.end_ms) + 1)
    # an hour the incident alone fills (a staged job's BulkApi2 steps) gets its file, as a late one:
    # created now, so a collector already past that hour still lists it
    eventlog.create_due_files(conn, since_ms=at_ms, now_ms=now, seed=plan.seed, not_before_ms=now - 1000)
    return {**truth, "status": "applied", "written": written}


def _replace(conn: sqlite3.Connection, app: str, start: int, end: int) -> None:
    """Remove generated logins of ``app`` in [start, end) and keep the live ticker from making more."""
    ids = [r[0] for r in conn.execute(
        "SELECT LoginGeoId FROM \"LoginHistory\" WHERE Application = ? AND LoginTime >= ? AND LoginTime < ? AND substr(Id, 6, 1) IN ('0', '1')",
        (app, start, end),
    )]  # fmt: skip
    conn.executemany('DELETE FROM "LoginGeo" WHERE Id = ?', [(i,) for i in ids])
    conn.execute(
        "DELETE FROM \"LoginHistory\" WHERE Application = ? AND LoginTime >= ? AND LoginTime < ? AND substr(Id, 6, 1) IN ('0', '1')",
        (app, start, end),
    )
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'LoginEvent'").fetchone():
        conn.execute(
            "DELETE FROM \"LoginEvent\" WHERE Application = ? AND EventDate >= ? AND EventDate < ? AND substr(LoginHistoryId, 6, 1) IN ('0', '1')",
            (app, start, end),
        )
    windows = _state_list(conn, SUPPRESS_KEY)
    windows.append([app, start, end])
    set_state(conn, SUPPRESS_KEY, json.dumps(windows))


def _rows(inc: incidents.Incident, lo: int, hi: int) -> tuple[list[tuple], list[tuple]]:
    """LoginHistory and LoginGeo rows for inc.events[lo:hi] (Ids from the incident, its start and position)."""
    base = ((inc.start_ms // 60_000) << 24) | (_NUMBER[inc.name] << 19)
    lh_id, geo_id = factory("0Ya", SCENARIO), factory("04F", SCENARIO)
    lh, gl = [], []
    for i in range(lo, hi):
        t, uid, ltype, sub, status, ip, browser, platform, url, application = inc.events[i]
        lid, gid = lh_id(base + i), geo_id(base + i)
        ni = geo.lookup(ip)
        n = geo.NETWORKS[ni] if ni is not None else None
        iso_code = n.iso if n else None
        lh.append((lid, uid, t, ltype, sub, ip, None, url, status, application, browser, platform, "N/A", "N/A", "N/A",
                   iso_code, gid, None, None, None, 0, 1, "TLS 1.3", "TLS_AES_256_GCM_SHA384"))  # fmt: skip
        gl.append((gid, n.city if n else None, n.country if n else None, iso_code, n.lat if n else None,
                   n.lon if n else None, t, n.postal if n else None, n.subdivision if n else None))  # fmt: skip
    return lh, gl


def _write(conn: sqlite3.Connection, inc: incidents.Incident, after: int, until: int) -> int:
    """Write the incident's events with after < t <= until (events are kept in time order)."""
    inc.events.sort(key=lambda e: e[0])
    lo = next((i for i, e in enumerate(inc.events) if e[0] > after), len(inc.events))
    hi = next((i for i, e in enumerate(inc.events) if e[0] > until), len(inc.events))
    if lo >= hi:
        return 0
    lh, gl = _rows(inc, lo, hi)
    have: set[str] = set()
    for k in range(0, len(lh), 500):
        ids = [r[0] for r in lh[k : k + 500]]
        marks = ",".join("?" * len(ids))
        have.update(r[0] for r in conn.execute(f'SELECT Id FROM "LoginHistory" WHERE Id IN ({marks})', ids))
    if have:  # written before (the tick that applied the incident): never count a login twice
        keep = [i for i, r in enumerate(lh) if r[0] not in have]
        lh, gl = [lh[i] for i in keep], [gl[i] for i in keep]
    write_rows(conn, lh, gl)
    if inc.calls_staged:
        staged.mark_sessions(conn, [r[0] for r in lh])
    apply_grants(conn, lh)
    return len(lh)


def _threat_rows(conn: sqlite3.Connection, inc: incidents.Incident) -> None:
    """Licensed orgs also see the incident in the threat-detection stores."""
    table = {
        "spray": "CredentialStuffingEventStore",
        "runaway_integration": "ApiAnomalyEventStore",
        "token_theft": "ApiAnomalyEventStore",
    }.get(inc.name)
    if not table or not conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone():
        return
    hit = next((e for e in inc.events if e[4] == "Success"), inc.events[0] if inc.events else None)
    if hit is None:
        return
    username = conn.execute('SELECT Username FROM "User" WHERE Id = ?', (hit[1],)).fetchone()
    conn.execute(
        f'INSERT INTO "{table}" ("Id","EventIdentifier","EventDate","CreatedDate","UserId","Username","SourceIp","Score",'
        '"Summary","PolicyOutcome","LoginKey","SessionKey","SecurityEventData") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)',
        ("000000000000000AAA", f"{inc.name}-{inc.start_ms}", hit[0], hit[0] + 5000, hit[1], username[0] if username else None,
         hit[5], 0.93, inc.description[:255], "NoAction", None, None, json.dumps({"scenario": inc.name})),
    )  # fmt: skip


def apply_due(conn: sqlite3.Connection, now_ms: int, *, plan: Plan | None = None) -> list[dict[str, Any]]:
    """Apply pending scenarios (and follow-ups) whose time the org clock has reached."""
    pending = _state_list(conn, PENDING_KEY)
    due = [p for p in pending if p["at_ms"] <= now_ms]
    if not due:
        return []
    set_state(conn, PENDING_KEY, json.dumps([p for p in pending if p["at_ms"] > now_ms]))
    plan = plan or _plan(conn)
    out = []
    for p in sorted(due, key=lambda p: p["at_ms"]):
        if p["name"] == "renew_cert":
            incidents.renew_cert(conn, plan, p["at_ms"], p["app"])
        else:
            out.append(_apply(conn, plan, p["name"], p["at_ms"], now_ms, _state_dir(conn)))
    return out


def continue_active(conn: sqlite3.Connection, after: int, until: int, *, plan: Plan | None = None) -> int:
    """Write the events of running incidents that fall in (after, until]; forget finished incidents."""
    active = _state_list(conn, ACTIVE_KEY)
    if not active:
        return 0
    plan = plan or _plan(conn)
    written = 0
    for a in active:
        written += _write(conn, build_incident(plan, a["name"], a["at_ms"]), after, until)
    set_state(conn, ACTIVE_KEY, json.dumps([a for a in active if a["end_ms"] > until]))
    return written


def suppressed_windows(conn: sqlite3.Connection) -> list[tuple[str, int, int]]:
    """(app, start, end) windows where incidents replace the app's normal traffic."""
    return [tuple(w) for w in _state_list(conn, SUPPRESS_KEY)]


def inject_now(conn: sqlite3.Connection, name: str, **params: Any) -> dict[str, Any]:
    """Server admin endpoint: stage ``name`` at the org's current time (or ``at``: ISO / relative)."""
    now = from_ms(org_now_ms(conn))
    at = parse_time(str(params["at"]), now) if "at" in params else now
    return inject(conn, name, at)


def inject_scenarios(state_dir: Path, injections: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """CLI: stage each (name, TIME) against the org in ``state_dir``.

    A bad name or time raises ConfigError (the CLI prints it and exits 2) before anything is written.
    """
    from oauthwatch.errors import ConfigError

    path = orgdb.db_path(Path(state_dir))
    if not path.exists():
        raise ConfigError(f"no org database in {state_dir}: start `oauthwatch simulate` once to build it")
    conn = orgdb.connect(path)
    try:
        now = from_ms(org_now_ms(conn))
        try:
            parsed = [parse_scenario_arg(f"{name}@{when}", now) for name, when in injections]
        except ValueError as exc:
            raise ConfigError(f"--scenario {exc}") from None
        plan = _plan(conn)
        try:
            return [inject(conn, name, at, state_dir=Path(state_dir), plan=plan) for name, at in parsed]
        except incidents.NotApplicable as exc:
            raise ConfigError(f"--scenario: {exc}") from None
    finally:
        conn.close()
