"""Detectors declare what they read, and a cycle reads raw logins only around the windows it judges.

Everything older comes from the rollups kept as logins are written (docs/architecture.md,
"Detection data"): removing the older raw logins changes nothing a cycle finds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, event

from oauthwatch.config import Settings
from oauthwatch.detect.needs import Data, union
from oauthwatch.detect.registry import all_detectors
from oauthwatch.detect.runner import enabled_detectors, run_all
from oauthwatch.store import schema
from oauthwatch.store.rollups_detect import KINDS
from tests.factories import login_row, write_logins

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # a Wednesday
ORG = "prod"


def test_every_registered_detector_declares_what_it_reads() -> None:
    for d in all_detectors():
        assert d.needs is not None, f"{d.id} declares no needs"
        assert d.needs.data, f"{d.id} declares an empty set of needs"
        assert d.needs.seen <= set(KINDS), f"{d.id} names an unknown sightings kind"
        assert bool(d.needs.seen) == (Data.SEEN in d.needs.data), d.id
        thresholds = d.thresholds()
        assert d.needs.lookback(thresholds) >= timedelta(0), d.id
        assert timedelta(0) <= d.needs.previous_lookback(thresholds) <= timedelta(days=2), d.id
        # Raw logins before a window stay short: older history is the rollups' job.
        assert d.needs.raw_lookback <= timedelta(hours=1), d.id
        if d.replayable and d.needs.data & {Data.SEEN, Data.APP_HOURLY, Data.PREVIOUS_LOGINS}:
            assert Data.WINDOW_LOGINS in d.needs.data, d.id


def _history() -> list[dict[str, Any]]:
    """Four weeks of an hourly integration from one network, then a new network in the last hour."""
    start = NOW - timedelta(days=28)
    rows = [
        login_row(ORG, f"0Ya{i:015d}", start + timedelta(hours=i, minutes=5), application="Billing Sync",
                  source_ip=f"192.0.2.{10 + i % 5}", login_subtype="OAuth JWT Bearer", latitude=37.7, longitude=-122.4)
        for i in range(28 * 24 - 1)
    ]  # fmt: skip
    rows += [
        login_row(ORG, f"0Yb{i:015d}", NOW - timedelta(minutes=40 - i), application="Billing Sync",
                  source_ip="203.0.113.9", login_subtype="OAuth JWT Bearer", latitude=37.7, longitude=-122.4)
        for i in range(3)
    ]  # fmt: skip
    return rows


def _statements(store: Any, fn: Any) -> tuple[Any, list[tuple[str, list[datetime]]]]:
    """Run ``fn`` and return its result and every SELECT on ``logins`` with its time parameters."""
    seen: list[tuple[str, list[datetime]]] = []

    def grab(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        text = " ".join(statement.split())
        if text.startswith("SELECT") and (" FROM logins " in text + " " or " JOIN logins " in text):
            params = [v for p in context.compiled_parameters for v in p.values() if isinstance(v, datetime)]
            seen.append((text, params))

    event.listen(store, "before_cursor_execute", grab)
    try:
        return fn(), seen
    finally:
        event.remove(store, "before_cursor_execute", grab)


def test_a_cycle_reads_raw_logins_only_around_its_windows(store) -> None:
    write_logins(store, ORG, _history(), rollup=True)
    settings = Settings()
    since = NOW - timedelta(hours=2)
    window = timedelta(minutes=settings.detect.window_minutes)
    plan = union((d.needs, t) for d, t in enabled_detectors(settings))
    floor = since - max(window, plan.raw_lookback) - plan.previous_lookback

    report, statements = _statements(store, lambda: run_all(store, settings, now=NOW, since=since))
    assert report.errors == {}
    found = sorted((f.detector, f.subject) for f in report.findings)
    assert ("new_network", "Billing Sync") in found  # judged against four weeks it did not reload
    assert statements
    for text, params in statements:
        if params:
            assert min(params) >= floor, f"reads logins from {min(params)}, before {floor}: {text[:200]}"
        else:  # only the windows' planning reads logins without a time bound: the new rows by id
            assert "logins.id >" in text, text[:200]

    with store.begin() as conn:  # the raw history goes; the rollups stay
        conn.execute(delete(schema.logins).where(schema.logins.c.login_time < floor))
        conn.execute(delete(schema.detect_marks))
    again = run_all(store, settings, now=NOW, since=since)
    assert sorted((f.detector, f.subject) for f in again.findings) == found
    assert [f.explanation for f in sorted(again.findings, key=lambda f: f.dedupe_key)] == [
        f.explanation for f in sorted(report.findings, key=lambda f: f.dedupe_key)
    ]
