"""`oauthwatch incident`: the report of a stolen-token incident against the local org, its evidence
CSV files and a manifest whose hashes match them."""

from __future__ import annotations

import csv
import hashlib
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from oauthwatch.report.incident_data import IncidentData, Table
from oauthwatch.report.incident_render import render_html, write_report
from oauthwatch.store import open_store, schema
from tests.localorg_helpers import inject_campaign, local_org_config
from tests.simorg import LocalOrg, local_org, make_local_org, org_template  # noqa: F401


def test_report_of_the_stolen_token_incident(local_org: LocalOrg, tmp_path: Path) -> None:  # noqa: F811
    from collectors.run.runner import collect_once
    from oauthwatch.config import load_settings

    truth = inject_campaign(local_org)
    store = tmp_path / "store.db"
    cfg = local_org_config(local_org, store)
    cfg.write_text(
        cfg.read_text().replace(
            'sources = ["login_history"]',
            'sources = ["login_history", "oauth_tokens", "connected_apps", "setup_audit_trail"]',
        )
    )
    settings = load_settings(cfg)
    for res in collect_once(settings):
        assert res.outcome in ("ok", "partial"), res
    engine = open_store(settings.store.url)
    lg = schema.logins
    with engine.connect() as conn:
        first, last, n = conn.execute(
            select(func.min(lg.c.login_time), func.max(lg.c.login_time), func.count()).where(
                lg.c.application == truth["app"]
            )
        ).one()
    start = first.replace(tzinfo=UTC) if first.tzinfo is None else first
    end = (last.replace(tzinfo=UTC) if last.tzinfo is None else last) + timedelta(seconds=1)
    out = tmp_path / "report"
    run = subprocess.run(
        [sys.executable, "-m", "oauthwatch", "incident", "--app", truth["app"], "--from", start.isoformat(),
         "--to", end.isoformat(), "--out", str(out), "--config", str(cfg)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert f"{n} authentication(s) of {truth['app']}" in run.stdout

    manifest = (out / "MANIFEST.sha256").read_text().splitlines()
    listed = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in manifest}
    assert set(listed) == {p.name for p in out.iterdir()} - {"MANIFEST.sha256"}
    assert "report.html" in listed
    assert "timeline.csv" in listed
    for name, digest in listed.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name

    with (out / "timeline.csv").open() as fh:
        timeline = list(csv.DictReader(fh))
    assert len(timeline) == n
    injected = [r for r in timeline if r["event_id"] in truth["ids"]]
    assert [r["ip"] for r in injected] == [
        "208.68.36.90",
        "185.220.101.33",
        "185.220.101.133",
        "44.215.108.109",
    ]
    assert [r["network_class"] for r in injected] == ["hosting", "tor", "tor", "hosting"]
    assert injected[0]["provider"] == "DigitalOcean"
    with (out / "grants.csv").open() as fh:
        grants = list(csv.DictReader(fh))
    org_grants = (
        local_org.db()
        .execute('SELECT COUNT(*) FROM "OauthToken" WHERE AppName = ?', (truth["app"],))
        .fetchone()[0]
    )
    assert len(grants) == org_grants

    html = (out / "report.html").read_text()
    assert f"Incident report: {truth['app']}" in html
    assert "185.220.101.33" in html
    assert '<td class="tor">tor</td>' in html
    assert not re.search(r"<script|<link|src=|@import|url\(", html), (
        "self-contained: nothing loaded from anywhere"
    )


def test_everything_rendered_is_escaped(tmp_path: Path) -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    evil = '<img src=x onerror="alert(1)">'
    d = IncidentData("acme", evil, "", t0, t0 + timedelta(days=1), t0)
    cols = ("time", "source", "event_id", "user", "user_id", "flow", "status", "success", "ip", "network_class",
            "provider", "country", "user_agent")  # fmt: skip
    row = dict.fromkeys(cols, "") | {
        "time": t0,
        "success": True,
        "user_agent": "<script>x</script>",
        "user": "=cmd|' /C calc'!A0",
    }
    d.tables = [Table("timeline", "Timeline", cols, [row])] + [
        Table(n, n, c, [])
        for n, c in (("users", ("user",)), ("ips", ("ip", "network_class")), ("grants", ("user_id",)),
                     ("data_movement", ("requests",)), ("api_calls", ("calls",)), ("bulk_jobs", ("job_id",)),
                     ("audit_trail", ("time",)), ("alerts", ("id",)), ("response_actions", ("time",)))
    ]  # fmt: skip
    d.tables.append(
        Table("exports", "Exports", ("username", "rows", "bytes", "source"),
              [{"username": evil, "rows": 5, "bytes": 10, "source": "<b>files</b>"}])
    )  # fmt: skip
    html = render_html(d)
    assert evil not in html
    assert "<b>files</b>" not in html
    assert "&lt;b&gt;files&lt;/b&gt;" in html
    assert "&lt;script&gt;" in html
    assert "<script>" not in html
    write_report(d, tmp_path)
    assert "'=cmd" in (tmp_path / "timeline.csv").read_text(), "a formula is quoted away in the CSV"


APP = "0H4000000000001AAA"
JOB = "750000000000001AAA"


def _movement_store(tmp_path: Path, licensed: bool):
    """A store with one app, its Bulk job (listed, and named by the app's ApiTotalUsage call) and, when
    ``licensed``, the BulkApi2 and RestApi events of what its users exported."""
    from oauthwatch.store.writes import ensure_org, upsert

    t0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.begin() as conn:
        ensure_org(conn, "acme")
        upsert(conn, schema.connected_apps, [{"org": "acme", "app_id": APP, "name": "Drift", "fingerprint": "f",
               "first_seen": t0, "last_seen": t0}], key=["org", "app_id"])  # fmt: skip
        upsert(conn, schema.users, [
            {"org": "acme", "user_id": "005000000000001AAA", "username": "<i>int</i>@acme.com", "updated_at": t0},
        ], key=["org", "user_id"])  # fmt: skip
        upsert(conn, schema.api_usage_events, [
            {"org": "acme", "request_id": "c1", "event_time": t0, "connected_app_id": APP, "connected_app_name": "Drift",
             "client_name": "", "api_family": "Bulk", "status_code": "200", "user_id": "005000000000001AAA",
             "api_resource": f"/v62.0/jobs/query/{JOB}/results", "entity_name": "Contact", "http_method": "GET",
             "client_ip": "185.220.101.33"},
        ], key=["org", "request_id"])  # fmt: skip
        upsert(conn, schema.bulk_jobs, [
            {"org": "acme", "job_id": JOB, "object": "Contact", "state": "JobComplete", "records": 1200,
             "created_by": "005000000000001AAA", "created_date": t0, "first_seen": t0, "last_seen": t0},
        ], key=["org", "job_id"])  # fmt: skip
        if licensed:
            base = {"org": "acme", "event_time": t0, "client_name": "", "client_ip": "185.220.101.33",
                    "entity": "Contact", "operation": "query", "status": ""}  # fmt: skip
            upsert(conn, schema.api_data_events, [
                base | {"event_type": "BulkApi2", "event_id": "b1:1", "user_id": "005000000000001AAA",
                        "connected_app_id": "", "job_id": JOB, "rows": 500, "bytes": None},
                base | {"event_type": "BulkApi2", "event_id": "b1:2", "user_id": "005000000000001AAA",
                        "connected_app_id": "", "job_id": JOB, "rows": 1200, "bytes": 262144},
                base | {"event_type": "RestApi", "event_id": "r1:1", "user_id": "005000000000002AAA",
                        "connected_app_id": APP, "job_id": "", "rows": 30, "bytes": 5400},
                base | {"event_type": "RestApi", "event_id": "r2:1", "user_id": "005000000000002AAA",
                        "connected_app_id": "0H4000000000009AAA", "job_id": "", "rows": 99, "bytes": 1},
            ], key=["org", "event_type", "event_id", "event_time"])  # fmt: skip
    return engine, t0


def _manifest_holds(out: Path) -> dict[str, str]:
    listed = dict(
        reversed(line.split("  ", 1)) for line in (out / "MANIFEST.sha256").read_text().splitlines()
    )
    assert set(listed) == {p.name for p in out.iterdir()} - {"MANIFEST.sha256"}
    for name, digest in listed.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name
    return listed


def test_the_report_shows_rows_and_bytes_exported_per_user_with_their_source(tmp_path: Path) -> None:
    from oauthwatch.report.incident_data import gather

    engine, t0 = _movement_store(tmp_path, licensed=True)
    try:
        d = gather(engine, "acme", "Drift", t0 - timedelta(hours=1), t0 + timedelta(hours=1), t0)
    finally:
        engine.dispose()
    out = tmp_path / "report"
    write_report(d, out)
    listed = _manifest_holds(out)
    assert {"exports.csv", "bulk_jobs.csv"} <= set(listed)
    with (out / "exports.csv").open() as fh:
        exports = list(csv.DictReader(fh))
    source = "Event Log Files (BulkApi2, RestApi)"
    assert exports == [
        {"user_id": "005000000000001AAA", "username": "<i>int</i>@acme.com", "rows": "1200", "bytes": "262144",
         "source": source},
        {"user_id": "005000000000002AAA", "username": "", "rows": "30", "bytes": "5400", "source": source},
    ], "a job counted once at its largest step; another app's event left out"  # fmt: skip
    with (out / "bulk_jobs.csv").open() as fh:
        [job] = list(csv.DictReader(fh))
    assert (job["job_id"], job["rows"], job["source"]) == (
        JOB,
        "1200",
        "Bulk API job listings, attributed by ApiTotalUsage",
    )
    html = (out / "report.html").read_text()
    assert "<b>1230</b>rows exported" in html
    assert "<b>267544</b>bytes exported" in html
    assert source in html
    assert "&lt;i&gt;int&lt;/i&gt;@acme.com" in html
    assert "<i>int</i>" not in html


def test_without_the_licensed_event_types_exports_are_absent_not_zero(tmp_path: Path) -> None:
    from oauthwatch.report.incident_data import gather

    engine, t0 = _movement_store(tmp_path, licensed=False)
    try:
        d = gather(engine, "acme", APP, t0 - timedelta(hours=1), t0 + timedelta(hours=1), t0)
    finally:
        engine.dispose()
    out = tmp_path / "report"
    write_report(d, out)
    listed = _manifest_holds(out)
    assert "exports.csv" not in listed, "no file of figures the store cannot know"
    assert "bulk_jobs.csv" in listed
    html = (out / "report.html").read_text()
    assert "Absent, not zero" in html
    assert "<b>unknown</b>rows and bytes exported" in html
    assert "rows exported" not in html.replace("rows and bytes exported", "")
