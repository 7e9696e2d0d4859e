"""The fixed parts of a finding, written once (oauthwatch.detect.findings), and the paging start the
local org's Bulk results and job listings share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from oauthwatch.detect.base import Context
from oauthwatch.detect.findings import finding
from oauthwatch.detect.registry import get_detector

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_a_finding_takes_its_detectors_severity_runbook_and_key() -> None:
    d = get_detector("export_volume")
    ctx = Context(org="acme", now=NOW, window=timedelta(hours=1), thresholds=d.thresholds())
    f = finding(d, ctx, subject="Drift", title="t", explanation="e", evidence={"calls": 3}, key="0H4x",
                span=(pd.Timestamp(NOW - timedelta(hours=1)), NOW), subject_type="user")  # fmt: skip
    assert (f.detector, f.severity, f.runbook, f.org) == (d.id, d.severity, d.runbook, "acme")
    assert f.dedupe_key == "export_volume:acme:0H4x"
    assert (f.subject_type, f.subject, f.evidence) == ("user", "Drift", {"calls": 3})
    assert type(f.event_start) is datetime
    assert f.event_start == NOW - timedelta(hours=1)
    assert f.event_end == NOW


def test_bulk_pages_start_where_the_locator_says() -> None:
    from oauthwatch.simulator.api.bulk import _locator, page_start

    assert page_start(None, 10) == 0
    assert page_start("", 10) == 0
    assert page_start(_locator(4), 10) == 4
    assert page_start(_locator(10), 10) == 10
    assert page_start(_locator(11), 10) is None, "past the end"
    assert page_start("not-a-locator!", 10) is None
