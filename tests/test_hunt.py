"""IOC hunt: the file format, and `hunt` against the local org's collected and imported logins.

Ground truth is the org's own database: the indicators are the campaign's public ones (from the
shipped example list) injected as logins of a trusted integration, plus addresses and a network
that the org's generated history already holds; the hunt must find exactly the rows the org's
LoginHistory holds for them, after a real collection over HTTPS and after a CSV import.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from oauthwatch.hunt.indicators import parse_iocs, read_iocs
from oauthwatch.hunt.matcher import Scope, hunt
from oauthwatch.store import open_store, schema
from tests.localorg_helpers import inject_campaign, local_org_config
from tests.simorg import LocalOrg, local_org, make_local_org, org_template  # noqa: F401

EXAMPLE = Path(__file__).resolve().parents[1] / "oauthwatch/hunt/lists/campaigns-2025.ioc"


def test_ioc_file_kinds_comments_defanged_and_errors() -> None:
    iocs = parse_iocs(
        "# comment\n"
        "203.0.113.7   # an address\n"
        "3.239.45[.]43\n"
        "198.51.100.0/24\n"
        "ua:Python/3.11 aiohttp/3.12.15 # spaces are part of it\n"
        "APP:My Ticket Portal\n"
        "app:0H4000000000001AAA\n"
        "not an indicator\n"
        "ua:\n"
        "203.0.113.7\n"
    )
    assert [(i.kind, i.value) for i in iocs.indicators] == [
        ("ip", "203.0.113.7"),
        ("ip", "3.239.45.43"),
        ("cidr", "198.51.100.0/24"),
        ("ua", "Python/3.11 aiohttp/3.12.15"),
        ("app", "My Ticket Portal"),
        ("app", "0H4000000000001AAA"),
    ]
    assert iocs.indicators[-1].is_app_id
    assert not iocs.indicators[-2].is_app_id
    assert len(iocs.errors) == 2
    assert iocs.errors[0].startswith("line 8:")
    assert "ua:TEXT" in iocs.errors[0]
    assert iocs.errors[1].startswith("line 9:")


def test_the_shipped_example_list_parses_and_cites_its_sources() -> None:
    iocs = read_iocs(EXAMPLE)
    assert iocs.errors == []
    kinds = {i.kind for i in iocs.indicators}
    assert kinds == {"ip", "ua", "app"}
    text = EXAMPLE.read_text()
    for source in (
        "data-theft-salesforce-instances-via-salesloft-drift",
        "005229029",
        "voice-phishing-data-extortion",
    ):
        assert source in text
    assert any(i.value == "208.68.36.90" for i in iocs.indicators)


def _truth(conn: sqlite3.Connection, ips: list[str], cidr_prefix: str, uas: list[str]) -> set[str]:
    marks = ",".join("?" * len(ips))
    q = f'SELECT Id FROM "LoginHistory" WHERE SourceIp IN ({marks}) OR SourceIp LIKE ? ' + "".join(
        " OR lower(Browser) LIKE ?" for _ in uas
    )
    return {r[0] for r in conn.execute(q, (*ips, cidr_prefix + "%", *(f"%{u.lower()}%" for u in uas)))}


def test_hunt_finds_exactly_the_injected_and_historic_events(local_org: LocalOrg, tmp_path: Path) -> None:  # noqa: F811
    from collectors.run.runner import collect_once
    from oauthwatch.config import load_settings

    truth_run = inject_campaign(local_org)
    conn = local_org.db()
    # two addresses and one /24 that the generated history already holds
    common = [r[0] for r in conn.execute(
        'SELECT SourceIp FROM "LoginHistory" WHERE SourceIp NOT LIKE \'%:%\' GROUP BY SourceIp ORDER BY COUNT(*) DESC LIMIT 3'
    )]  # fmt: skip
    net = ".".join(common[2].split(".")[:3])
    ioc_text = EXAMPLE.read_text() + f"\n{common[0]}\n{common[1]}\n{net}.0/24\n"
    ioc = tmp_path / "iocs.txt"
    ioc.write_text(ioc_text)
    ips = [i.value for i in parse_iocs(ioc_text).indicators if i.kind == "ip"]
    uas = [i.value for i in parse_iocs(ioc_text).indicators if i.kind == "ua"]
    truth = _truth(conn, ips, net + ".", uas)
    assert set(truth_run["ids"]) <= truth

    store = tmp_path / "store.db"
    settings = load_settings(local_org_config(local_org, store))
    [res] = collect_once(settings)
    assert res.outcome in ("ok", "partial"), res
    engine = open_store(settings.store.url)
    with engine.connect() as c:
        collected = c.execute(select(schema.logins.c.natural_id)).scalars().all()
    org_ids = {r[0] for r in conn.execute('SELECT Id FROM "LoginHistory"')}
    assert set(collected) == org_ids, "the collection read the whole history"

    matches = hunt(engine, read_iocs(ioc))
    assert {m.id for m in matches} == truth
    assert len(matches) == len(truth)
    by_id = {m.id: m for m in matches}
    first = by_id[truth_run["ids"][0]]
    assert first.indicator == "208.68.36.90"
    assert "ua:python-requests/2.32.4" in first.indicators
    assert first.app == truth_run["app"]
    assert first.source == "login_history"

    # the CLI prints one JSON object per event with the documented keys
    out = subprocess.run(
        [sys.executable, "-m", "oauthwatch", "hunt", "--ioc", str(ioc), "--config", str(local_org_config(local_org, store)),
         "--format", "json"], capture_output=True, text=True, check=True,
    )  # fmt: skip
    printed = json.loads(out.stdout)
    assert len(printed) == len(truth)
    assert {"indicator", "source", "time", "user", "app", "ip", "id"} <= set(printed[0])
    assert f"{len(truth)} matching event(s)" in out.stderr

    # a time window narrows it to the injected hour
    start = min(m.time for m in matches if m.id in truth_run["ids"])
    after = {m.id for m in hunt(engine, read_iocs(ioc), Scope(start=start))}
    before = {m.id for m in hunt(engine, read_iocs(ioc), Scope(end=start))}
    assert set(truth_run["ids"]) <= after
    assert not set(truth_run["ids"]) & before
    assert after | before == truth
    assert not after & before

    # imported data: the same rows as a Data Loader export, into another org of a fresh store
    from collectors.imports.importer import import_csv

    export = tmp_path / "export.csv"
    cols = ["Id", "UserId", "LoginTime", "SourceIp", "Status", "Application", "Browser", "LoginType"]
    with export.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for r in conn.execute(f'SELECT {",".join(cols)} FROM "LoginHistory" ORDER BY LoginTime'):
            row = list(r)
            row[2] = datetime.fromtimestamp(row[2] / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            w.writerow(row)
    fresh = open_store(f"sqlite:///{tmp_path / 'imported.db'}")
    report = import_csv(fresh, "imported", export)
    assert report.imported == len(org_ids)
    imported = hunt(fresh, read_iocs(ioc), Scope(org="imported"))
    assert {m.id for m in imported} == truth


def _login(n: int, ip: str, ua: str = "Chrome 131", app: str = "Drift") -> dict[str, Any]:
    from oauthwatch.store.writes import utcnow

    return {
        "org": "acme", "source": "login_history", "natural_id": f"0Ya{n:015d}", "success": True,
        "login_time": datetime(2026, 11, 20, 10, n % 60, tzinfo=UTC), "application": app, "source_ip": ip,
        "browser": ua, "username": "int@acme.com", "user_id": "005000000000001AAA", "ingested_at": utcnow(),
    }  # fmt: skip


def test_saved_lists_alert_once_per_indicator_and_judge_each_row_once(store, tmp_path: Path) -> None:
    from oauthwatch.config import Settings
    from oauthwatch.hunt.lists import match_saved_lists
    from oauthwatch.settings_threat import HuntList, HuntSettings
    from oauthwatch.store.writes import ensure_org, upsert

    ioc = tmp_path / "campaign.ioc"
    ioc.write_text("185.220.101.0/24\nua:python-requests\n")
    settings = Settings(hunt=HuntSettings(lists=[HuntList(name="campaign", file=ioc, severity="critical")]))
    key = ["org", "source", "natural_id"]
    with store.begin() as conn:
        ensure_org(conn, "acme")
        upsert(conn, schema.logins, [_login(1, "203.0.113.5"), _login(2, "185.220.101.33")], key=key)
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    first = match_saved_lists(store, settings, now=now)
    assert first.matched == {"acme:campaign": 1}
    assert first.alerts_opened == 1
    with store.connect() as conn:
        [alert] = conn.execute(select(schema.alerts)).mappings().all()
    assert alert["detector"] == "ioc_hunt"
    assert alert["severity"] == "critical"
    assert alert["evidence"]["indicator"] == "185.220.101.0/24"
    assert alert["evidence"]["events"] == 1
    assert alert["subject"] == "Drift"

    assert match_saved_lists(store, settings, now=now).matched == {}, "no new rows, nothing judged again"

    with store.begin() as conn:
        upsert(
            conn,
            schema.logins,
            [_login(3, "185.220.101.34"), _login(4, "198.51.100.9", "python-requests/2.32.4")],
            key=key,
        )
    again = match_saved_lists(store, settings, now=now)
    assert again.matched == {"acme:campaign": 2}
    assert again.alerts_opened == 1
    with store.connect() as conn:
        alerts = {r["evidence"]["indicator"]: r for r in conn.execute(select(schema.alerts)).mappings()}
    assert alerts["185.220.101.0/24"]["count"] == 2, "the same indicator updates its alert"
    assert alerts["ua:python-requests"]["evidence"]["ips"] == "198.51.100.9"


def test_a_missing_list_file_is_reported_not_fatal(sqlite_store, tmp_path: Path) -> None:
    from oauthwatch.config import Settings
    from oauthwatch.hunt.lists import match_saved_lists
    from oauthwatch.settings_threat import HuntList, HuntSettings

    settings = Settings(hunt=HuntSettings(lists=[HuntList(name="gone", file=tmp_path / "nope.ioc")]))
    report = match_saved_lists(sqlite_store, settings)
    assert "cannot read the IOC file" in report.errors["gone"]


def test_saved_lists_rematch_api_calls_audit_trail_grants_and_security_events(store, tmp_path: Path) -> None:
    """Each new batch of every source is matched once; late rows are still found, grants count once."""
    from datetime import date, timedelta

    from oauthwatch.config import Settings
    from oauthwatch.hunt.lists import match_saved_lists
    from oauthwatch.settings_threat import HuntList, HuntSettings
    from oauthwatch.store.writes import ensure_org, upsert

    ioc = tmp_path / "campaign.ioc"
    ioc.write_text("185.220.101.0/24\nua:python-requests\napp:Evil Portal\n")
    settings = Settings(hunt=HuntSettings(lists=[HuntList(name="campaign", file=ioc, severity="high")]))
    t0 = datetime(2026, 11, 20, 10, tzinfo=UTC)

    def call(
        n: int, t: datetime, ip: str = "198.51.100.9", client: str = "", app: str = "Drift"
    ) -> dict[str, Any]:
        return {"org": "acme", "request_id": f"req{n}", "event_time": t, "connected_app_id": "", "connected_app_name": app,
                "client_name": client, "api_family": "REST", "status_code": "200", "user_id": "005000000000001AAA",
                "api_resource": "/v62.0/query", "entity_name": "Account", "http_method": "GET", "client_ip": ip}  # fmt: skip

    def grant(day: date) -> dict[str, Any]:
        return {"org": "acme", "snapshot_day": day, "user_id": "005000000000002AAA", "app_name": "Evil Portal",
                "created_date": t0 - timedelta(days=3), "seen_at": datetime.combine(day, datetime.min.time(), UTC)}  # fmt: skip

    with store.begin() as conn:
        ensure_org(conn, "acme")
        upsert(conn, schema.api_usage_events, [call(1, t0, ip="185.220.101.33"), call(2, t0, client="python-requests/2.32"),
               call(3, t0, app="Evil Portal"), call(4, t0)], key=["org", "request_id"])  # fmt: skip
        upsert(conn, schema.audit_events, [
            {"org": "acme", "event_id": "0Ym000000000001AAA", "created_date": t0, "action": "connectedAppCreated",
             "section": "Connected Apps", "display": "Installed connected app Evil Portal", "created_by": "admin@acme.com"},
            {"org": "acme", "event_id": "0Ym000000000002AAA", "created_date": t0, "action": "changedPassword",
             "section": "Manage Users", "display": "Changed password for int@acme.com", "created_by": "admin@acme.com"},
        ], key=["org", "event_id"])  # fmt: skip
        upsert(conn, schema.oauth_token_snapshots, [grant(date(2026, 11, 19)), grant(date(2026, 11, 20))],
               key=["org", "snapshot_day", "user_id", "app_name", "created_date"])  # fmt: skip
        upsert(conn, schema.security_events, [{"org": "acme", "store": "ApiAnomalyEventStore", "event_id": "ev1",
               "event_date": t0, "source_ip": "185.220.101.40", "username": "int@acme.com"}],
               key=["org", "store", "event_id"])  # fmt: skip
    now = t0 + timedelta(hours=2)
    first = match_saved_lists(store, settings, now=now)
    assert first.matched == {"acme:campaign": 6}, (
        "API ip, API client, API app, audit entry, grant, security event"
    )
    assert first.alerts_opened == 3, "one alert per indicator"
    with store.connect() as conn:
        alerts = {r["evidence"]["indicator"]: r for r in conn.execute(select(schema.alerts)).mappings()}
    assert alerts["app:Evil Portal"]["evidence"]["sources"] == "api_usage, audit_trail, grant"
    assert alerts["185.220.101.0/24"]["evidence"]["sources"] == "api_usage, security:ApiAnomalyEventStore"

    with store.begin() as conn:  # the next day's snapshot of the same grant is not a new event
        upsert(conn, schema.oauth_token_snapshots, [grant(date(2026, 11, 21))],
               key=["org", "snapshot_day", "user_id", "app_name", "created_date"])  # fmt: skip
    assert match_saved_lists(store, settings, now=now + timedelta(hours=1)).matched == {}

    with store.begin() as conn:  # an Event Log File arriving late, with a call from before the last pass
        upsert(conn, schema.api_usage_events, [call(5, t0 - timedelta(hours=5), ip="185.220.101.34")],
               key=["org", "request_id"])  # fmt: skip
    late = match_saved_lists(store, settings, now=now + timedelta(hours=2))
    assert late.matched == {"acme:campaign": 1}
    assert late.alerts_opened == 0
    with store.connect() as conn:
        alerts = {r["evidence"]["indicator"]: r for r in conn.execute(select(schema.alerts)).mappings()}
    assert alerts["185.220.101.0/24"]["count"] == 2, "the late call updates the indicator's alert"


def _stored_truth(engine: Any, app: str, app_id: str, ips: set[str], uas: list[str]) -> dict[str, set[str]]:
    """What the store holds for the indicators, per source, read back row by row in Python (not
    through the matcher): logins and API calls by address, agent or app, the licensed API events by
    address, agent or app id, audit entries naming the app, grants of the app once each, security
    events by address."""
    out: dict[str, set[str]] = {}
    with engine.connect() as c:
        for r in c.execute(select(schema.logins)):
            if (
                r.source_ip in ips
                or any(u.lower() in (r.browser or "").lower() for u in uas)
                or r.application == app
            ):
                out.setdefault(r.source, set()).add(r.natural_id)
        for r in c.execute(select(schema.api_usage_events)):
            if (
                r.client_ip in ips
                or any(u.lower() in r.client_name.lower() for u in uas)
                or r.connected_app_name == app
            ):
                out.setdefault("api_usage", set()).add(r.request_id)
        for r in c.execute(select(schema.api_data_events)):
            if (
                r.client_ip in ips
                or any(u.lower() in r.client_name.lower() for u in uas)
                or r.connected_app_id[:15] == app_id[:15]
            ):
                out.setdefault(f"api_data:{r.event_type}", set()).add(r.event_id)
        for r in c.execute(select(schema.audit_events)):
            if app.lower() in (r.display or "").lower():
                out.setdefault("audit_trail", set()).add(r.event_id)
        t = schema.oauth_token_snapshots
        for r in c.execute(select(t.c.user_id, t.c.app_name, t.c.created_date).where(t.c.app_name == app)):
            out.setdefault("grant", set()).add(f"{r.user_id}:{r.app_name}:{r.created_date.isoformat()}")
        for r in c.execute(select(schema.security_events)):
            if r.source_ip in ips:
                out.setdefault(f"security:{r.store}", set()).add(r.event_id)
    return out


def test_hunt_command_searches_every_source_of_collected_data(store_url: str, tmp_path: Path) -> None:
    """The stolen-token scenario collected from the local org over HTTPS (all sources): `hunt`
    finds exactly its indicators' events in logins, API calls, grants, audit trail and security
    events, counted against the org's ground truth and against what the store holds."""
    from collectors.run.runner import collect_once
    from oauthwatch.config import load_settings
    from tests.simorg import start_org

    state = tmp_path / "org"
    org = start_org(state, "--licensed", "--scenario", "token_theft@-30h")
    try:
        text = (
            (state / "oauthwatch.toml")
            .read_text()
            .replace('url = "sqlite:///oauthwatch.db"', f'url = "{store_url}"')
        )
        lines = [ln for ln in text.splitlines() if not ln.startswith("login_url")]
        lines.insert(lines.index("[[orgs]]") + 1, f'login_url = "{org.creds["login_url"]}"')
        cfg = state / "hunt-all.toml"
        cfg.write_text("\n".join(lines) + "\n")
        for res in collect_once(load_settings(cfg)):
            assert res.outcome in ("ok", "partial"), res
        [truth] = [json.loads(ln) for ln in (state / "ground_truth.jsonl").read_text().splitlines()]
        db = org.db()
        ioc = tmp_path / "iocs.txt"
        ioc.write_text(EXAMPLE.read_text() + f"\napp:{truth['app']}\n")
        iocs = parse_iocs(ioc.read_text())
        ips = {i.value for i in iocs.indicators if i.kind == "ip"}
        uas = [i.value for i in iocs.indicators if i.kind == "ua"]
        q = f'SELECT Id FROM "LoginHistory" WHERE SourceIp IN ({",".join("?" * len(ips))}) OR Application = ?'
        q += "".join(" OR lower(Browser) LIKE ?" for _ in uas)
        org_logins = {r[0] for r in db.execute(q, (*ips, truth["app"], *(f"%{u.lower()}%" for u in uas)))}
        grants = db.execute(
            'SELECT COUNT(*) FROM "OauthToken" WHERE AppName = ?', (truth["app"],)
        ).fetchone()[0]
        out = subprocess.run(
            [sys.executable, "-m", "oauthwatch", "hunt", "--ioc", str(ioc), "--config", str(cfg), "--format", "json"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        files = _downloads(db, truth, tmp_path, ("ApiTotalUsage", "BulkApi2", "RestApi"))
    finally:
        org.stop()
    printed = json.loads(out.stdout)
    assert f"{len(printed)} matching event(s)" in out.stderr
    assert all({"indicator", "source", "time", "user", "app", "ip", "id"} <= set(m) for m in printed)
    found: dict[str, list[str]] = {}
    for m in printed:
        found.setdefault(m["source"], []).append(m["id"])

    engine = open_store(store_url)
    try:
        stored = _stored_truth(engine, truth["app"], truth["app_id"], ips, uas)
    finally:
        engine.dispose()
    assert {s: sorted(v) for s, v in found.items()} == {s: sorted(v) for s, v in stored.items()}, (
        "each event once"
    )
    # against the org itself: its LoginHistory rows, the staged theft calls, the app's grants
    assert set(found["login_history"]) == org_logins
    theft = [m for m in printed if m["source"] == "api_usage" and m["ip"] in ips]
    # every call from the thief's addresses is one the ground truth counts (reconnaissance, exports)
    assert len(theft) == truth["api_calls"]
    assert {m["app"] for m in theft} == {truth["app"]}
    # the licensed event types hold the same theft: each job's steps, and the reconnaissance's REST calls
    steps = [m for m in printed if m["source"] == "api_data:BulkApi2" and m["ip"] in ips]
    assert len(steps) == 3 * len(truth["bulk_jobs"]) + len(truth["deleted_jobs"])
    rest = [m for m in printed if m["source"] == "api_data:RestApi" and m["ip"] in ips]
    assert len(rest) == truth["recon_calls"]
    assert len(found["grant"]) == grants > 0
    assert len(found["api_usage"]) > truth["api_calls"], "the app's own history matches app:NAME too"
    assert found["security:ApiAnomalyEventStore"], "the licensed org's API anomaly event from the replay"

    # imported data: the same calls and licensed events from the files a person downloads, into a fresh store
    from collectors.imports.importer import import_csv

    fresh = open_store(f"sqlite:///{tmp_path / 'imported-api.db'}")
    try:
        for f in files:
            assert import_csv(fresh, "imported", f).quarantined == 0, f.name
        imported = hunt(fresh, iocs, Scope(org="imported"))
    finally:
        fresh.dispose()
    stolen = [m for m in imported if m.source == "api_usage" and m.ip in ips]
    assert len(stolen) == truth["api_calls"]
    assert sorted(m.id for m in stolen) == sorted(m["id"] for m in theft)
    for source, collected in (("api_data:BulkApi2", steps), ("api_data:RestApi", rest)):
        got = [m.id for m in imported if m.source == source and m.ip in ips]
        assert sorted(got) == sorted(m["id"] for m in collected), source


def _downloads(
    db: sqlite3.Connection, truth: dict[str, Any], out: Path, types: tuple[str, ...]
) -> list[Path]:
    """The org's hourly files of ``types`` for the theft's hours, as Setup's download writes them."""
    from oauthwatch.simulator.data import eventlog
    from oauthwatch.simulator.data.clock import HOUR_MS, to_ms

    start, end = (to_ms(datetime.fromisoformat(truth[k])) for k in ("start", "end"))
    paths = []
    for kind in types:
        ids = [r[0] for r in db.execute(
            "SELECT Id FROM \"EventLogFile\" WHERE EventType = ? AND Interval = 'Hourly'"
            " AND LogDate > ? AND LogDate <= ? ORDER BY LogDate", (kind, start - HOUR_MS, end),
        )]  # fmt: skip
        assert ids, f"the theft's hours have their {kind} files"
        for fid in ids:
            path = out / f"{kind}-{fid}.csv"
            path.write_bytes(b"".join(eventlog.render_csv(db, fid)))
            paths.append(path)
    return paths


def test_licensed_api_events_name_their_app_by_name_and_id(store, tmp_path: Path) -> None:
    """A RestApi or API event names its app by id only, a Bulk event only its job; the hunt and the
    saved lists show the stored Connected App's (or External Client App's) name with the id, else the
    name ApiTotalUsage carried for the id, else the id alone; a job's app is the one whose calls
    named it."""
    from oauthwatch.config import Settings
    from oauthwatch.hunt.lists import match_saved_lists
    from oauthwatch.settings_threat import HuntList, HuntSettings
    from oauthwatch.store.writes import ensure_org, upsert

    t0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
    drift, eca, seen, unknown = (
        "0H4000000000001AAA",
        "0H4000000000002AAA",
        "0H4000000000003AAA",
        "0H4000000000004AAA",
    )

    def event(n: int, app_id: str) -> dict[str, Any]:
        return {"org": "acme", "event_type": "RestApi", "event_id": f"R{n}:x", "event_time": t0, "user_id": "005000000000001AAA",
                "connected_app_id": app_id, "client_name": "", "client_ip": "185.220.101.33", "entity": "Account",
                "operation": "GET", "job_id": "", "status": "200", "rows": 10, "bytes": 100}  # fmt: skip

    with store.begin() as conn:
        ensure_org(conn, "acme")
        upsert(conn, schema.connected_apps, [
            {"org": "acme", "app_id": drift, "name": "Drift", "kind": "connected_app", "fingerprint": "a",
             "first_seen": t0, "last_seen": t0},
            {"org": "acme", "app_id": eca[:15], "name": "Portal <ECA>", "kind": "external_client_app",
             "fingerprint": "b", "first_seen": t0, "last_seen": t0},
        ], key=["org", "app_id"])  # fmt: skip
        upsert(conn, schema.api_usage_hourly, [
            {"org": "acme", "hour": t0, "connected_app_id": seen, "connected_app_name": "Loader", "client_name": "",
             "api_family": "REST", "status_code": "200", "user_id": "005000000000001AAA", "requests": 1},
        ], key=["org", "hour", "connected_app_id", "connected_app_name", "client_name", "api_family", "status_code",
                "user_id"])  # fmt: skip
        job = {"event_type": "BulkApi2", "event_id": "J1:x", "job_id": "750000000000001AAA"}
        upsert(conn, schema.api_data_events, [event(1, drift) | {"client_name": "python-requests/2.32"}, event(2, eca), event(3, seen), event(4, unknown),
               event(5, "") | job, event(6, "") | job | {"event_id": "J2:x", "job_id": "750000000000002AAA"}],
               key=["org", "event_type", "event_id", "event_time"])  # fmt: skip
        upsert(conn, schema.api_usage_events, [  # the app's call that read job 1's results
            {"org": "acme", "request_id": "c1", "event_time": t0 - timedelta(minutes=5), "connected_app_id": drift,
             "connected_app_name": "Drift", "client_name": "", "api_family": "Bulk", "status_code": "200",
             "user_id": "005000000000001AAA", "api_resource": "/v62.0/jobs/query/750000000000001AAA/results",
             "entity_name": "", "http_method": "GET", "client_ip": "203.0.113.9"},
        ], key=["org", "request_id"])  # fmt: skip
    apps = {m.id: m.app for m in hunt(store, parse_iocs("185.220.101.0/24\n"))}
    assert apps == {
        "R1:x": f"Drift ({drift})",
        "R2:x": f"Portal <ECA> ({eca})",
        "R3:x": f"Loader ({seen})",
        "R4:x": unknown,
        "J1:x": f"Drift ({drift})",
        "J2:x": "",
    }, "a Bulk event's app is the one whose calls named its job"
    by_name = hunt(store, parse_iocs("app:Drift\n"))
    assert [(m.source, m.app) for m in by_name if m.source != "api_usage"] == [
        ("api_data:RestApi", f"Drift ({drift})")
    ]

    ioc = tmp_path / "drift.ioc"
    ioc.write_text("ua:python-requests\n")
    settings = Settings(hunt=HuntSettings(lists=[HuntList(name="drift", file=ioc)]))
    assert match_saved_lists(store, settings, now=t0 + timedelta(hours=1)).alerts_opened == 1
    with store.connect() as conn:
        [alert] = conn.execute(select(schema.alerts)).mappings().all()
    assert alert["subject"] == f"Drift ({drift})"
