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
                     ("data_movement", ("requests",)), ("api_calls", ("calls",)), ("audit_trail", ("time",)), ("alerts", ("id",)),
                     ("response_actions", ("time",)))
    ]  # fmt: skip
    html = render_html(d)
    assert evil not in html
    assert "&lt;script&gt;" in html
    assert "<script>" not in html
    write_report(d, tmp_path)
    assert "'=cmd" in (tmp_path / "timeline.csv").read_text(), "a formula is quoted away in the CSV"
