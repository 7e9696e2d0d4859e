"""``oauthwatch run`` end to end: the real collectors, detectors, mailer and digest against the local org.

The service runs as a subprocess (as in production) on a compressed schedule (10 s cycles, digest
due at 00:00 so it is due at once), with an aiosmtpd server on loopback as the mail relay. It is
stopped with SIGTERM, as systemd, Docker or Kubernetes stop it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from oauthwatch.store import open_store
from oauthwatch.store import schema as s
from tests.localorg_helpers import start_run
from tests.simorg import local_org, make_local_org, org_template  # noqa: F401 - fixtures
from tests.smtp_helpers import SmtpSink, free_port

pytestmark = pytest.mark.slow


def _config(org, smtp_port: int, *, live_sources: bool = True) -> Path:
    text = (org.state_dir / "oauthwatch.toml").read_text()
    extra = (
        "\n[collect]\ninterval_seconds = 10\njitter_seconds = 0\n"
        '\n[notify]\nemail_to = ["secops@example.com"]\ndigest_time = 00:00:00\nmin_severity = "high"\n'
        f'\n[notify.smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\n'
        'sender = "oauthwatch@example.com"\n'
    )
    cfg = org.state_dir / "service.toml"
    cfg.write_text(text + extra)
    return cfg


def _start(cfg: Path, log: Path, store_url: str | None = None) -> subprocess.Popen:
    return start_run(cfg, log, store_url)


def _wait(cond, timeout: float, proc: subprocess.Popen, log: Path, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = cond()
        except Exception:  # noqa: BLE001 - the store may not exist yet
            value = None
        if value:
            return value
        if proc.poll() is not None:
            pytest.fail(
                f"service exited ({proc.returncode}) while waiting for {what}:\n{log.read_text()[-3000:]}"
            )
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@pytest.fixture
def smtp():
    sink = SmtpSink()
    port = free_port()
    ctl = Controller(sink, hostname="127.0.0.1", port=port)
    ctl.start()
    yield sink, port
    ctl.stop()


@pytest.mark.timeout(240)
def test_run_collects_detects_alerts_sends_digest_and_stops_on_sigterm(
    make_local_org,  # noqa: F811 - the fixture imported above
    smtp,
    store_url,
) -> None:
    sink, port = smtp
    org = make_local_org("--live", "--scenario", "spray@-45m")
    cfg = _config(org, port)
    log = org.state_dir / "service.log"
    proc = _start(cfg, log, store_url)
    engine = open_store(store_url, migrate=False)
    try:

        def beat():
            with engine.connect() as conn:
                return conn.execute(select(s.service_heartbeats)).mappings().first()

        _wait(lambda: (b := beat()) and b["detail"]["cycles"] >= 2, 150, proc, log, "two service cycles")

        def spray():  # the spray may join an alert another detector opened first (one incident, one alert)
            with engine.connect() as conn:
                return conn.execute(
                    select(s.alerts)
                    .join(s.alert_findings, s.alert_findings.c.alert_id == s.alerts.c.id)
                    .where(s.alert_findings.c.detector == "password_spray")
                ).first()

        alert = _wait(spray, 30, proc, log, "the password spray alert")
        subjects = lambda: [m["Subject"] for m in sink.messages]  # noqa: E731
        _wait(
            lambda: any(str(x).startswith("oauthwatch · local") for x in subjects()),
            30,
            proc,
            log,
            "the digest",
        )
        _wait(lambda: len(sink.messages) >= 2, 30, proc, log, "an alert email")

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        with engine.connect() as conn:
            hb = conn.execute(select(s.service_heartbeats)).mappings().one()
            running = conn.execute(
                select(func.count())
                .select_from(s.collector_runs)
                .where(s.collector_runs.c.outcome == "running")
            ).scalar_one()
            checkpoints = conn.execute(select(func.count()).select_from(s.checkpoints)).scalar_one()
            sent = conn.execute(select(s.digests_sent)).mappings().all()
        assert hb["state"] == "stopped"
        assert hb["detail"]["errors"] == {}, hb["detail"]["errors"]
        assert running == 0, "SIGTERM let the current run finish and record its outcome"
        assert checkpoints > 0

        digests = [m for m in sink.messages if str(m["Subject"]).startswith("oauthwatch · local")]
        assert len(digests) == 1, "the digest is sent once per org and day"
        yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
        assert [(r["org"], r["day"], r["message_id"]) for r in sent] == [
            ("local", yesterday, digests[0]["Message-ID"])
        ]
        text = digests[0].get_body(("plain",)).get_content()
        start = datetime.combine(yesterday, datetime.min.time(), tzinfo=UTC)
        lg = s.logins
        with engine.connect() as conn:
            events = conn.execute(
                select(func.count()).where(
                    lg.c.org == "local",
                    lg.c.source == "login_history",
                    lg.c.login_time >= start,
                    lg.c.login_time < start + timedelta(days=1),
                )
            ).scalar_one()
        assert re.search(rf"events:\s+{events:,}\s", text), text[:400]
        alert_mail = [m for m in sink.messages if m not in digests]
        assert any(
            alert.title in str(m["Subject"]) or alert.title in m.get_body(("plain",)).get_content()
            for m in alert_mail
        )
    finally:
        _kill(proc)
        engine.dispose()


@pytest.mark.timeout(240)
def test_sigterm_mid_backfill_keeps_checkpoints_and_a_restart_completes_exactly(local_org, smtp) -> None:  # noqa: F811
    _, port = smtp
    cfg = _config(local_org, port)
    log = local_org.state_dir / "service.log"
    engine = open_store(f"sqlite:///{local_org.state_dir / 'oauthwatch.db'}")
    proc = _start(cfg, log)
    try:

        def some_logins():
            with engine.connect() as conn:
                return conn.execute(select(func.count()).select_from(s.logins)).scalar_one() > 0

        _wait(some_logins, 90, proc, log, "the first stored page")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        with engine.connect() as conn:
            assert (
                conn.execute(
                    select(func.count())
                    .select_from(s.collector_runs)
                    .where(s.collector_runs.c.outcome == "running")
                ).scalar_one()
                == 0
            )
        proc = _start(cfg, log)

        def backfilled():
            with engine.connect() as conn:
                hb = conn.execute(select(s.service_heartbeats)).mappings().one()
            return hb["pid"] == proc.pid and hb["detail"]["cycles"] >= 1

        _wait(backfilled, 120, proc, log, "a full cycle after the restart")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        org_count = local_org.db().execute("SELECT count(*) FROM LoginHistory").fetchone()[0]
        with engine.connect() as conn:
            stored = conn.execute(
                select(func.count()).select_from(s.logins).where(s.logins.c.source == "login_history")
            ).scalar_one()
        assert stored == org_count, "every LoginHistory row stored exactly once across the interruption"
    finally:
        _kill(proc)
        engine.dispose()
