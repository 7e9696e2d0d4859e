"""The service loop on a real store: stage order, failure isolation, heartbeats, digest, stopping.

Stages are injected here to test the loop itself; tests/test_service_e2e.py runs the real
collectors and detectors against the local org.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from oauthwatch.service import Service, heartbeats, service_health, summarize
from oauthwatch.store import open_store
from oauthwatch.store import schema as s
from tests.factories import DIGEST_DAY as DAY
from tests.factories import digest_settings, seed_digest_day
from tests.smtp_helpers import SmtpSink, free_port


@pytest.fixture
def engine(store):
    """The service's store on SQLite and on PostgreSQL (heartbeat upserts, JSON detail)."""
    return store


def _recorder(calls: list[str], name: str, result: object = None):
    def stage(settings, engine, stop):
        calls.append(name)
        return result

    return stage


def test_cycles_run_stages_in_order_and_record_heartbeat(engine) -> None:
    calls: list[str] = []
    stages = (
        ("collect", _recorder(calls, "collect", [1, 2, 3])),
        ("detect", _recorder(calls, "detect", {"alerts": 2, "skip": object()})),
        ("deliver", _recorder(calls, "deliver", 4)),
    )
    svc = Service(
        digest_settings("unused"), engine, stages=stages, digests=False, max_cycles=2, pause_seconds=0.2
    )
    svc.run()
    assert calls == ["collect", "detect", "deliver"] * 2
    [row] = heartbeats(engine)
    assert row["component"] == "service"
    assert row["state"] == "stopped"
    assert service_health(row) == "stopped"
    assert row["detail"]["cycles"] == 2
    assert row["detail"]["stages"] == {
        "collect": {"count": 3, "items": [1, 2, 3]},
        "detect": {"alerts": 2},
        "deliver": 4,
    }


def test_a_failing_stage_is_recorded_and_the_next_ones_still_run(engine) -> None:
    calls: list[str] = []

    def broken(settings, engine, stop):
        raise RuntimeError("token refused: access_token=00Dxx!abcdefghijklmnopqrstuvwxyz0123")

    stages = (
        ("collect", broken),
        ("detect", _recorder(calls, "detect")),
        ("deliver", _recorder(calls, "deliver")),
    )
    svc = Service(digest_settings("unused"), engine, stages=stages, digests=False, max_cycles=1)
    svc.run()
    assert calls == ["detect", "deliver"]
    detail = heartbeats(engine)[0]["detail"]
    assert "RuntimeError: token refused" in detail["errors"]["collect"]
    assert "abcdefghijklmnop" not in detail["errors"]["collect"], "secrets are redacted in the heartbeat"


def test_stop_event_ends_a_running_cycle_promptly(engine) -> None:
    started = threading.Event()
    seen_stop: list[bool] = []

    def long_collect(settings, engine, stop):
        started.set()
        seen_stop.append(stop.wait(30))  # a collector finishing its batch when asked to stop
        return []

    later: list[str] = []
    stages = (("collect", long_collect), ("detect", _recorder(later, "detect")))
    svc = Service(digest_settings("unused"), engine, stages=stages, digests=False)
    t = threading.Thread(target=svc.run)
    t.start()
    assert started.wait(10)
    row = heartbeats(engine)[0]
    assert service_health(row) == "running"
    t0 = time.monotonic()
    svc.stop.set()
    t.join(10)
    assert not t.is_alive()
    assert time.monotonic() - t0 < 5
    assert seen_stop == [True]
    assert later == [], "no new stage starts after stop"
    assert heartbeats(engine)[0]["state"] == "stopped"


def test_stale_heartbeat_is_reported() -> None:
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    row = {"state": "running", "beat_at": now - timedelta(minutes=5)}
    assert service_health(row, now) == "stale"
    assert service_health({**row, "beat_at": now - timedelta(seconds=3)}, now) == "running"


def test_service_sends_the_digest_once_when_due(tmp_path) -> None:
    from aiosmtpd.controller import Controller

    sink = SmtpSink()
    port = free_port()
    ctl = Controller(sink, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        url = f"sqlite:///{tmp_path / 'store.db'}"
        eng = open_store(url)
        seed_digest_day(eng)
        settings = digest_settings(url, port)

        def clock():
            return datetime.combine(DAY + timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(
                hours=8
            )

        Service(settings, eng, stages=(), max_cycles=1, clock=clock).run()
        Service(settings, eng, stages=(), max_cycles=1, clock=clock).run()  # a restart
        assert len(sink.messages) == 1
        assert DAY.isoformat() in sink.messages[0]["Subject"]
        detail = heartbeats(eng)[0]["detail"]
        assert detail["digests"] == [
            {"org": "acme", "day": DAY.isoformat(), "status": "already_sent", "error": None}
        ]
        with eng.connect() as conn:
            assert conn.execute(select(s.digests_sent.c.day)).scalars().all() == [DAY]
        eng.dispose()
    finally:
        ctl.stop()


def test_summarize_keeps_heartbeats_small_and_json_safe() -> None:
    from dataclasses import dataclass

    @dataclass
    class Report:
        alerts_new: int
        when: datetime
        findings: list

    out = summarize(Report(3, datetime(2026, 1, 1, tzinfo=UTC), [1, 2]))
    assert out == {"alerts_new": 3, "when": "2026-01-01T00:00:00+00:00", "findings": 2}
    assert summarize(list(range(100)))["count"] == 100


def test_health_verb_reflects_the_heartbeat(tmp_path) -> None:
    import typer
    from typer.testing import CliRunner

    from oauthwatch.cli import service
    from oauthwatch.store.writes import upsert

    db = tmp_path / "store.db"
    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{db}"\n')
    app = typer.Typer()
    app.add_typer(service.app)
    runner = CliRunner()
    res = runner.invoke(app, ["health", "-c", str(cfg)])
    assert res.exit_code == 1
    assert "no heartbeat yet" in res.output
    eng = open_store(f"sqlite:///{db}")
    now = datetime.now(UTC)
    row = {"component": "service", "pid": 42, "started_at": now, "beat_at": now, "state": "running",
           "detail": {"errors": {"collect": "AuthError: the key was refused"}}}  # fmt: skip
    with eng.begin() as conn:
        upsert(conn, s.service_heartbeats, [row], key=["component"], update=None)
    res = runner.invoke(app, ["health", "-c", str(cfg)])
    assert res.exit_code == 0, res.output
    assert "failing: collect (AuthError" in res.output
    with eng.begin() as conn:
        upsert(
            conn,
            s.service_heartbeats,
            [{**row, "beat_at": now - timedelta(minutes=10)}],
            key=["component"],
            update=None,
        )
    res = runner.invoke(app, ["health", "-c", str(cfg)])
    assert res.exit_code == 1
    # ten minutes old when written, a few seconds more by the time the verb reads it on a loaded machine
    assert re.search(r"last heartbeat 60\d s ago", res.output), res.output
    eng.dispose()


def test_run_with_an_unreachable_store_says_what_to_check(tmp_path) -> None:
    import subprocess
    import sys

    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text(
        '[store]\nurl = "postgresql+psycopg://ow:s3cretpw@127.0.0.1:1/none"\n'
        '[[orgs]]\nname = "acme"\nlogin_url = "https://acme.example.com"\nflow = "client_credentials"\n'
        'client_id = "x"\nclient_secret_env = "UNUSED"\n'
    )
    res = subprocess.run(
        [sys.executable, "-m", "oauthwatch", "run", "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 2, res.stderr
    assert "cannot open the store at postgresql+psycopg://ow:***@127.0.0.1:1/none" in res.stderr
    assert "s3cretpw" not in res.stderr + res.stdout
    assert "Traceback" not in res.stderr


def test_run_refuses_an_unknown_digest_timezone_at_start(tmp_path) -> None:
    import subprocess
    import sys

    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n[notify]\ndigest_timezone = "Mars/Olympus"\n'
        '[[orgs]]\nname = "acme"\nlogin_url = "https://acme.example.com"\nflow = "client_credentials"\n'
        'client_id = "x"\nclient_secret_env = "UNUSED"\n'
    )
    res = subprocess.run(
        [sys.executable, "-m", "oauthwatch", "run", "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 2
    assert "notify.digest_timezone: unknown time zone 'Mars/Olympus'" in res.stderr
