"""Import, then ``detect`` alone: every incident alerted once, on the right subject, like collection.

The local org (a real ``oauthwatch simulate`` process, history ending at a fixed reference time
that the test clock travels to) holds five incidents in its last 30 hours, the legacy password
flow among them. Its LoginHistory is
exported through the REST API the way Workbench does (API names, ``LoginGeo.*`` columns) in two
files: the weeks before (the baseline) and the last 30 hours. Store A imports the baseline, runs
``detect``, imports the last 30 hours and runs ``detect`` again, as a new user would; store B
collects the same org with the collector. Then:

- every incident has an alert at or above ``notify.min_severity`` that names it;
- the second ``detect`` opens at most N + 2 alerts for the N incidents (one incident, one alert),
  and a replay of the incidents' day (``backtest``) also fires at most N + 2;
- an hour after the export, with nothing collected or imported since, ``detect`` raises nothing
  (the hours the import did not cover are not a drop);
- store B, collected, holds the same alerts as store A, imported.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import select

from oauthwatch.config import load_settings
from oauthwatch.detect.base import severity_rank
from oauthwatch.store import open_store, schema
from tests.simorg import start_org

REFERENCE = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
EXPORT = timedelta(hours=30)
INCIDENTS = [
    ("spray", timedelta(hours=27)),
    ("stolen_refresh_token", timedelta(hours=21)),
    ("runaway_integration", timedelta(hours=15)),
    ("unapproved_app", timedelta(hours=8)),
    ("legacy_password_flow", timedelta(hours=4)),
]
GEO = ("City", "Country", "CountryIso", "Subdivision", "PostalCode", "Latitude", "Longitude")
FIELDS = (
    "Id", "UserId", "LoginTime", "LoginType", "LoginSubType", "SourceIp", "LoginUrl", "Status", "Application",
    "Browser", "Platform", "ClientVersion", "ApiType", "ApiVersion", "CountryIso", "LoginGeoId", "TlsProtocol",
    "CipherSuite",
)  # fmt: skip


def _soql_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def export(sf: Any, path: Path, start: datetime, end: datetime) -> int:
    """LoginHistory in ``[start, end)`` as a Workbench-style CSV (API names, relationship columns)."""
    cols = [*FIELDS, *(f"LoginGeo.{g}" for g in GEO)]
    soql = (
        f"SELECT {', '.join(cols)} FROM LoginHistory "
        f"WHERE LoginTime >= {_soql_time(start)} AND LoginTime < {_soql_time(end)} ORDER BY LoginTime"
    )
    records = sf.query_all(soql)["records"]
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(cols)
        for rec in records:
            geo = rec.get("LoginGeo") or {}
            out.writerow(
                [rec.get(f) or "" for f in FIELDS]
                + [geo.get(g) if geo.get(g) is not None else "" for g in GEO]
            )
    return len(records)


def _config(state_dir: Path, store: Path, creds: dict[str, Any], name: str) -> Path:
    text = (state_dir / "oauthwatch.toml").read_text()
    text = text.replace('url = "sqlite:///oauthwatch.db"', f'url = "sqlite:///{store}"')
    lines = [ln for ln in text.splitlines() if not ln.startswith(("login_url", "sources"))]
    idx = lines.index("[[orgs]]")
    lines.insert(idx + 1, f'login_url = "{creds["login_url"]}"')
    lines.insert(idx + 2, 'sources = ["login_history"]')
    cfg = state_dir / f"{name}.toml"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def _matches(alert: dict[str, Any], truth: dict[str, Any]) -> bool:
    names = {truth.get("app"), truth.get("network"), *truth.get("ips", []), *truth.get("users", [])}
    names = {n for n in names if isinstance(n, str) and n and n != "Browser"}
    text = " ".join([alert["subject"], json.dumps(alert["evidence"] or {})])
    return any(n in text or alert["subject"] in n for n in names)


def _alerts(engine: Any, floor: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(schema.alerts).order_by(schema.alerts.c.id)).mappings()]
    return [r for r in rows if severity_rank(r["severity"]) >= severity_rank(floor)]


def _signature(alerts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((a["detector"], a["subject"]) for a in alerts)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_import_then_detect_raises_every_incident_once_like_collection(tmp_path: Path) -> None:
    from collectors.imports.importer import import_csv
    from collectors.run.runner import collect_once
    from oauthwatch.detect.runner import backtest, run_all

    flags = ["--days", "44", "--apps", "10", "--now", REFERENCE.isoformat()]
    for name, before in INCIDENTS:
        flags += ["--scenario", f"{name}@{_soql_time(REFERENCE - before)}"]
    cut = REFERENCE - EXPORT
    with time_machine.travel(REFERENCE, tick=True):
        org = start_org(tmp_path / "org", *flags)
        try:
            sf = org.sf()
            baseline, recent = tmp_path / "baseline.csv", tmp_path / "last-30h.csv"
            assert export(sf, baseline, REFERENCE - timedelta(days=60), cut) > 1000
            assert export(sf, recent, cut, REFERENCE) > 100
            collected = load_settings(
                _config(org.state_dir, tmp_path / "collected.db", org.creds, "collected")
            )
            results = collect_once(collected)
            assert all(r.outcome == "ok" for r in results), [(r.source, r.outcome, r.error) for r in results]
        finally:
            org.stop()
        truths = [json.loads(ln) for ln in (org.state_dir / "ground_truth.jsonl").read_text().splitlines()]
        assert sorted(t["scenario"] for t in truths) == sorted(n for n, _ in INCIDENTS)

        imported = load_settings(_config(org.state_dir, tmp_path / "imported.db", org.creds, "imported"))
        store_a = open_store(imported.store.url)
        floor = imported.notify.min_severity
        import_csv(store_a, "local", baseline)
        now = datetime.now(UTC)
        first = run_all(store_a, imported, now=now)
        assert first.errors == {}
        before = {a["id"] for a in _alerts(store_a, floor)}
        import_csv(store_a, "local", recent)
        second = run_all(store_a, imported, now=now)
        assert second.errors == {}
        assert second.windows >= EXPORT / timedelta(hours=1) - 1, "every imported hour is judged"
        alerts_a = _alerts(store_a, floor)
        new = [a for a in alerts_a if a["id"] not in before]

    missed = [t["scenario"] for t in truths if not any(_matches(a, t) for a in new)]
    legacy = next(t for t in truths if t["scenario"] == "legacy_password_flow")
    on_app = [a for a in new if a["subject"] == legacy["app"]]
    assert any("legacy_flow" in a["detector"] + json.dumps(a["evidence"] or {}) for a in on_app), (
        legacy["app"],
        _signature(new),
    )
    assert not missed, (missed, _signature(new))
    assert len(new) <= len(INCIDENTS) + 2, _signature(new)

    # Nothing collected or imported for the hour after the export: no drop, no alert at all.
    later = run_all(store_a, imported, now=now + timedelta(hours=1))
    assert later.alerts.opened == [], [f.title for f in later.findings]
    assert later.alerts.reopened == [], [f.title for f in later.findings]

    # A replay of the incidents' day counts incidents, not detector-hours.
    day = backtest(store_a, imported, start=cut, end=REFERENCE, step=timedelta(hours=1))
    fired = [f for _, f in day.fired if severity_rank(f.severity) >= severity_rank(floor)]
    assert len(fired) <= len(INCIDENTS) + 2, sorted((f.detector, f.subject) for f in fired)

    # The same data collected gives the same alerts.
    store_b = open_store(collected.store.url)
    report = run_all(store_b, collected, now=now)
    assert report.errors == {}
    assert _signature(_alerts(store_b, floor)) == _signature(alerts_a)
