"""The "how to add" examples of docs/architecture.md work as written.

Each example's code block is extracted from the page, saved as the module the page says to create,
and run the way the product would run it: the detector over a seeded store through the real
runner and alert lifecycle.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from oauthwatch.config import Settings
from oauthwatch.detect import registry
from oauthwatch.detect.lifecycle import list_alerts
from oauthwatch.detect.runner import run_all
from oauthwatch.store import schema
from tests.factories import login_row, seed_store, write_logins

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def example(name: str) -> str:
    """The code block that follows ``<!-- example: name -->`` in docs/architecture.md."""
    m = re.search(rf"<!-- example: {name} -->\s*```python\n(.*?)```", DOC.read_text(), re.S)
    assert m, f"docs/architecture.md has no example {name!r}"
    return m.group(1)


def load(code: str, module: str, folder: Path, monkeypatch: pytest.MonkeyPatch):
    """Save ``code`` as ``module`` and import it (gone again after the test)."""
    path = folder / f"{module.rsplit('.', 1)[-1]}.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location(module, path)
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, module, mod)
    spec.loader.exec_module(mod)
    return mod


def test_the_detector_example_raises_alerts_through_the_runner(store, tmp_path, monkeypatch):
    mod = load(example("add-detector"), "oauthwatch.detect.ip_refused", tmp_path, monkeypatch)
    monkeypatch.setattr(registry, "DETECTORS", (*registry.DETECTORS, mod.DETECTOR))
    seed_store(store, org="acme", days=3, now=NOW)
    refused = [
        login_row("acme", f"0Yaexample{i:08d}", NOW - timedelta(minutes=30 + i), application="Tableau CRM",
                  success=False, status=mod.REFUSED, source_ip="203.0.113.50")
        for i in range(5)
    ]  # fmt: skip
    write_logins(store, "acme", refused)
    # One day's window, and no earlier windows re-judged (the store is new: every row is new).
    settings = Settings(detect={"window_minutes": 24 * 60, "lookback_hours": 1})

    report = run_all(store, settings, now=NOW, only=["ip_refused"])

    assert report.errors == {}
    t = schema.logins
    with store.connect() as conn:
        expected = dict(
            conn.execute(
                select(t.c.application, func.count())
                .where(
                    t.c.status == mod.REFUSED, t.c.login_time >= NOW - timedelta(days=1), t.c.login_time < NOW
                )
                .group_by(t.c.application)
            ).all()
        )
    expected = {app: n for app, n in expected.items() if n >= 3}
    assert expected["Tableau CRM"] >= 5
    assert {f.subject: f.evidence["refused"] for f in report.findings} == expected
    alerts = list_alerts(store, detector="ip_refused")
    assert {a["subject"] for a in alerts} == set(expected)


def test_the_detector_example_reads_its_configured_threshold(store, tmp_path, monkeypatch):
    mod = load(example("add-detector"), "oauthwatch.detect.ip_refused", tmp_path, monkeypatch)
    monkeypatch.setattr(registry, "DETECTORS", (*registry.DETECTORS, mod.DETECTOR))
    seed_store(store, org="acme", days=3, now=NOW)
    settings = Settings(detect={"window_minutes": 24 * 60, "ip_refused": {"min_refused": 10_000}})
    assert run_all(store, settings, now=NOW, only=["ip_refused"]).findings == []


@pytest.mark.parametrize("name", ["add-detector"])
def test_examples_are_complete_modules(name):
    code = example(name)
    assert code.startswith('"""'), "an example starts with the module docstring, like every module"
    compile(code, f"<{name}>", "exec")


def test_the_source_example_collects_exactly_through_the_runner(sqlite_store, tmp_path, monkeypatch):
    """The source example, registered and run by the real runner against the in-process org: it
    stores exactly the org's PermSetAssign rows, keeps its cursor, and a second run adds nothing."""
    import sqlite3

    from collectors.run import ledger, runner
    from tests.orgdb_helpers import OrgDbClient, build_org, run, settings_for

    mod = load(example("add-source"), "collectors.sources.permset_assignments", tmp_path, monkeypatch)
    src = mod.PermsetAssignmentsSource
    monkeypatch.setattr(runner, "SOURCES", {**runner.SOURCES, src.name: src})
    assert src.writes == (("audit_events", ("org", "event_id")),)  # declared once, derived
    assert src.probe() == "SELECT Id FROM SetupAuditTrail LIMIT 1"
    db, blobs, metadata = build_org(tmp_path)
    client = OrgDbClient(db, blobs=blobs, metadata=metadata)
    settings = settings_for(tmp_path, str(sqlite_store.url))

    [first] = run(settings, client, [src.name], sqlite_store)
    [second] = run(settings, client, [src.name], sqlite_store)  # stores nothing twice (count below)

    assert (first.outcome, second.outcome) == ("ok", "ok"), first.line()
    truth = {
        r[0]
        for r in sqlite3.connect(db).execute("SELECT Id FROM SetupAuditTrail WHERE Action = 'PermSetAssign'")
    }
    assert len(truth) == 10
    a = schema.audit_events.c
    with sqlite_store.connect() as conn:
        assert set(conn.execute(select(a.event_id)).scalars()) == truth
        cursor = ledger.load_checkpoint(conn, "acme", src.name)
    assert cursor is not None
    assert cursor["ts"]
    assert first.rows_written == 10
    assert second.rows_written < first.rows_written  # resumed from the cursor, not from the start
