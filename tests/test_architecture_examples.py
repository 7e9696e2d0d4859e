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
    settings = Settings(detect={"window_minutes": 24 * 60})

    report = run_all(store, settings, now=NOW, only=["ip_refused"])

    assert report.errors == {}
    t = schema.logins
    with store.connect() as conn:
        expected = dict(
            conn.execute(
                select(t.c.application, func.count())
                .where(t.c.status == mod.REFUSED, t.c.login_time >= NOW - timedelta(days=1), t.c.login_time < NOW)
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
