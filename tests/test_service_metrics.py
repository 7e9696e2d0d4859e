"""``oauthwatch run --metrics-port N --log-format json`` against the local org: the scraped
Prometheus metrics equal what the store holds, and every log line is one JSON object with secrets
masked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from oauthwatch.detect.registry import DETECTORS
from oauthwatch.service_metrics import COVERAGE_DAYS
from oauthwatch.store import open_store
from oauthwatch.store import schema as s
from tests.simorg import local_org, make_local_org, org_template  # noqa: F401 - fixtures
from tests.smtp_helpers import free_port

pytestmark = pytest.mark.slow


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def _get(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.mark.timeout(240)
def test_run_serves_metrics_equal_to_the_store_and_logs_json_lines(local_org) -> None:  # noqa: F811
    cfg = local_org.state_dir / "metrics.toml"
    cfg.write_text(
        (local_org.state_dir / "oauthwatch.toml").read_text()
        + "\n[collect]\ninterval_seconds = 3600\njitter_seconds = 0\n"  # one cycle, then a long pause
    )
    port = free_port()
    log = local_org.state_dir / "service.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTHWATCH_")}
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "oauthwatch", "run", "--config", str(cfg), "--no-digest", "--verbose"),
            *("--metrics-port", str(port), "--log-format", "json"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        start_new_session=True,
        env=env,
    )
    engine = open_store(f"sqlite:///{local_org.state_dir / 'oauthwatch.db'}")
    try:
        deadline = time.monotonic() + 200
        samples: dict = {}
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                samples = _scrape(port)
            except requests.ConnectionError:
                samples = {}
            if samples.get(("oauthwatch_cycles_total", ())) == 1.0:
                break
            time.sleep(1)
        else:
            pytest.fail(f"no completed cycle in the metrics:\n{log.read_text()[-3000:]}")

        with engine.connect() as conn:
            runs = s.collector_runs
            written = dict(
                conn.execute(
                    select(runs.c.source, func.sum(runs.c.rows_written)).group_by(runs.c.source)
                ).all()
            )
            calls = dict(
                conn.execute(select(runs.c.source, func.sum(runs.c.api_calls)).group_by(runs.c.source)).all()
            )
            logins = conn.execute(
                select(func.count()).where(s.logins.c.org == "local", s.logins.c.source == "login_history")
            ).scalar_one()
            alerts = conn.execute(select(func.count()).select_from(s.alerts)).scalar_one()
            lim = s.org_limits
            mx, rem = conn.execute(
                select(lim.c["max"], lim.c.remaining)
                .where(lim.c.org == "local", lim.c.name == "DailyApiRequests")
                .order_by(lim.c.read_at.desc())
                .limit(1)
            ).one()
            complete = conn.execute(
                select(func.count()).where(
                    s.coverage.c.org == "local",
                    s.coverage.c.source == "login_history",
                    s.coverage.c.status == "complete",
                    # the gauge counts the last COVERAGE_DAYS UTC days, as of the scrape (the live org's clock)
                    s.coverage.c.day >= (datetime.now(UTC) - timedelta(days=COVERAGE_DAYS - 1)).date(),
                )
            ).scalar_one()

        assert _get(samples, "oauthwatch_store_up") == 1
        assert logins > 0
        assert _get(samples, "oauthwatch_rows_collected_total", org="local", source="login_history") == logins
        for source, n in written.items():
            assert _get(samples, "oauthwatch_rows_collected_total", org="local", source=source) == n
            assert _get(samples, "oauthwatch_api_calls_total", org="local", source=source) == calls[source]
        assert _get(samples, "oauthwatch_alerts_opened_total") == alerts
        assert _get(samples, "oauthwatch_api_budget_used_ratio", org="local") == pytest.approx(
            (mx - rem) / mx
        )
        lag = _get(samples, "oauthwatch_source_lag_seconds", org="local", source="login_history")
        assert 0 <= lag < 3600
        assert complete > 0
        assert (
            _get(samples, "oauthwatch_coverage_days", org="local", source="login_history", status="complete")
            == complete
        )
        assert _get(samples, "oauthwatch_cycle_duration_seconds_count") == 1
        for stage in ("collect", "detect", "hunt", "deliver", "prune"):
            assert _get(samples, "oauthwatch_stage_duration_seconds", stage=stage) >= 0
        timed = {
            dict(k[1]).get("detector") for k in samples if k[0] == "oauthwatch_detector_duration_seconds"
        }
        assert {d.id for d in DETECTORS} <= timed
        assert _get(samples, "oauthwatch_deliveries_failed", channel="email") == 0

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        engine.dispose()

    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    messages = [r["message"] for r in records]
    assert any(m.startswith("service started") for m in messages)
    assert any(m.startswith(f"metrics on http://127.0.0.1:{port}/metrics") for m in messages)
    assert any(m.startswith("service stopped") for m in messages)
    key = Path(local_org.creds["private_key_file"]).read_text().splitlines()[1]
    assert key not in log.read_text()
