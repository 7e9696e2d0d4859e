"""A fleet end to end: three ``oauthwatch run`` workers on PostgreSQL, twenty orgs served by one
local org process (``oauthwatch simulate --orgs 20``), an aiosmtpd relay (docs/deploy.md, "Workers").

Proven from the outside, by what the orgs and the relay saw: every org is collected exactly (the
store holds each org's LoginHistory, nothing more); no org is collected by two workers at once
(each org's own call log: every burst of calls comes from one session, and a worker's OAuth
session is its own); a worker killed with SIGKILL has its orgs collected by the others within one
interval; each org's digest is sent once. Small orgs and a 40 s interval keep it to a few minutes.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from oauthwatch.store import open_store
from oauthwatch.store import schema as s
from tests.conftest import PG_ADMIN_URL, require
from tests.localorg_helpers import start_run
from tests.simorg import free_port, stop_process
from tests.smtp_helpers import SmtpSink

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ORGS = 20
INTERVAL = 40  # seconds; a worker pass (collect + detect of its orgs) stays well below it on a loaded machine
LEASE = 10
BURST_GAP = 3.0  # seconds: the calls of one collection of one org come closer together than this


def _start_orgs(state: Path) -> tuple[subprocess.Popen, dict[str, dict[str, Any]]]:
    cmd = [sys.executable, "-m", "oauthwatch.cli.simulate", "--state-dir", str(state), "--port", "0",
           "--orgs", str(ORGS), "--seed", "21", "--days", "1", "--users", "6", "--apps", "2"]  # fmt: skip
    log = (state.parent / "simulate.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    ready = state / "credentials.json"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"simulate exited: {(state.parent / 'simulate.log').read_text()[-2000:]}")
        if ready.exists():
            return proc, json.loads(ready.read_text())["orgs"]
        time.sleep(0.5)
    stop_process(proc)
    pytest.fail("the twenty orgs did not get ready")


def _config(state: Path, folder: Path, store_url: str, smtp_port: int) -> Path:
    """The fleet configuration: the simulator's per-org files, each limited to LoginHistory."""
    orgs = folder / "orgs.d"
    orgs.mkdir(parents=True)
    for f in sorted((state / "orgs.d").glob("*.toml")):
        (orgs / f.name).write_text(f.read_text() + 'sources = ["login_history"]\n')
    cfg = folder / "fleet.toml"
    cfg.write_text(
        f'orgs_dir = "orgs.d"\n\n[store]\nurl = "{store_url}"\n\n'
        f"[collect]\ninterval_seconds = {INTERVAL}\njitter_seconds = 0\nlease_seconds = {LEASE}\n\n"
        '[notify]\nemail_to = ["secops@example.com"]\ndigest_time = 00:00:00\nmin_severity = "critical"\n\n'
        f'[notify.smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\nsender = "ow@example.com"\n'
    )
    return cfg


def _wait(cond, timeout: float, procs: list[subprocess.Popen], what: str, logs: list[Path]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        for p in procs:
            if p.poll() is not None:
                pytest.fail(
                    f"a worker exited ({p.returncode}) waiting for {what}: {logs[0].read_text()[-3000:]}"
                )
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what}:\n" + "\n".join(log.read_text()[-1500:] for log in logs))


def _bursts(calls: list[dict[str, Any]]) -> list[set[str]]:
    """The sessions of each burst of calls (calls less than BURST_GAP apart form one burst)."""
    out: list[set[str]] = []
    end = None
    for c in sorted(calls, key=lambda c: c["start"]):
        if end is None or c["start"] - end > BURST_GAP:
            out.append(set())
        out[-1].add(c["session"])
        end = c["end"] if end is None else max(end, c["end"])
    return out


def _overlaps(calls: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Pairs of calls of different sessions in flight at the same time."""
    found = []
    ordered = sorted(calls, key=lambda c: c["start"])
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if b["start"] >= a["end"]:
                break
            if b["session"] != a["session"]:
                found.append((a["session"], b["session"]))
    return found


@pytest.mark.timeout(1200)
def test_three_workers_share_twenty_orgs_exactly_once(tmp_path: Path, pg_database: str | None) -> None:
    require(pg_database is not None, f"PostgreSQL is not reachable at {PG_ADMIN_URL}")
    assert pg_database is not None
    from tests.conftest import _reset_pg

    _reset_pg(pg_database)
    open_store(pg_database).dispose()  # migrated once, before the workers race to it
    sink = SmtpSink()
    smtp_port = free_port()
    relay = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    relay.start()
    sim, creds = _start_orgs(tmp_path / "fleet")
    cfg = _config(tmp_path / "fleet", tmp_path / "service", pg_database, smtp_port)
    logs = [tmp_path / f"worker{i}.log" for i in range(3)]
    workers = [start_run(cfg, log) for log in logs]
    engine = open_store(pg_database, migrate=False)
    try:

        def collected() -> set[str]:
            r = s.collector_runs.c
            with engine.connect() as conn:
                return set(conn.execute(select(r.org).where(r.outcome == "ok").distinct()).scalars())

        _wait(lambda: len(collected()) == ORGS, 600, workers, "every org collected", logs)

        def digests() -> int:
            d = s.digests_sent.c
            with engine.connect() as conn:
                return conn.execute(select(func.count()).where(d.message_id.is_not(None))).scalar() or 0

        _wait(lambda: digests() == ORGS, 240, workers, "every org's digest", logs)

        def holders() -> dict[str, str]:
            lease = s.org_leases.c
            with engine.connect() as conn:
                return dict(
                    conn.execute(select(lease.org, lease.worker).where(lease.worker.is_not(None))).all()
                )

        _wait(
            lambda: len(set(holders().values())) == 3,
            3 * INTERVAL,
            workers,
            "the orgs spread over 3 workers",
            logs,
        )
        shares = Counter(holders().values())
        assert sorted(shares.values()) == [6, 7, 7], shares

        victim = workers[1]
        victim_id = next(w for w in shares if w.split(":")[1] == str(victim.pid))
        victim_orgs = sorted(o for o, w in holders().items() if w == victim_id)
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(10)
        killed_at = datetime.now(UTC)
        survivors = [workers[0], workers[2]]

        def taken_over() -> dict[str, datetime] | None:
            r = s.collector_runs.c
            with engine.connect() as conn:
                rows = conn.execute(
                    select(r.org, func.min(r.started_at))
                    .where(r.org.in_(victim_orgs), r.started_at > killed_at, r.outcome == "ok")
                    .group_by(r.org)
                ).all()
            return dict(rows) if len(rows) == len(victim_orgs) else None

        resumed = _wait(taken_over, 3 * INTERVAL, survivors, "the killed worker's orgs collected again", logs)
        late = {o: (t - killed_at).total_seconds() for o, t in resumed.items()}
        assert max(late.values()) <= INTERVAL, f"taken over later than one interval: {late}"
        print(f"shares {sorted(shares.values())}; killed worker's {len(late)} orgs collected again after "
              f"{min(late.values()):.1f}-{max(late.values()):.1f} s (interval {INTERVAL} s, lease {LEASE} s)")  # fmt: skip
        assert victim_id not in holders().values()
        # the survivors send the due digests of the orgs they claimed at their next wake-ups (every
        # lease / 3 s): three of them, in which a digest of the killed worker's orgs would go again
        time.sleep(LEASE)
        for w in survivors:
            w.send_signal(signal.SIGTERM)
        for w in survivors:
            assert w.wait(60) == 0

        # each org's digest went out once, whoever held the org
        subjects = Counter(
            str(m["Subject"]).split(" · ")[1]
            for m in sink.messages
            if str(m["Subject"]).startswith("oauthwatch · ")
        )
        assert subjects == Counter({name: 1 for name in creds}), subjects

        lg = s.logins.c
        runs = s.collector_runs.c
        for name, org in creds.items():
            # store equals org: every LoginHistory row older than the org's last collection, no other
            with engine.connect() as conn:
                stored = list(
                    conn.execute(
                        select(lg.natural_id).where(lg.org == name, lg.source == "login_history")
                    ).scalars()
                )
                last = conn.execute(
                    select(func.max(runs.started_at)).where(runs.org == name, runs.outcome == "ok")
                ).scalar()
            db = sqlite3.connect(org["db_path"])
            try:
                ids = dict(db.execute("SELECT Id, LoginTime FROM LoginHistory").fetchall())
            finally:
                db.close()
            assert len(stored) == len(set(stored)), f"{name}: a row stored twice"
            assert set(stored) <= set(ids), f"{name}: rows the org does not have"
            cutoff = int(last.timestamp() * 1000) - 1000
            due = {i for i, t in ids.items() if _ms(t) < cutoff}
            assert due <= set(stored), f"{name}: {len(due - set(stored))} LoginHistory row(s) missing"

            # no double collection: in the org's own call log, each burst of calls is one session
            calls = requests.get(
                org["admin_url"] + "/calls",
                headers={"Authorization": f"Bearer {org['admin_token']}"},
                verify=org["ca_bundle"],
                timeout=30,
            ).json()["calls"]
            assert calls, f"{name} was never called"
            assert not _overlaps(calls), f"{name}: two sessions in flight at once"
            shared = [b for b in _bursts(calls) if len(b) > 1]
            assert not shared, f"{name}: collected by {len(shared[0])} sessions in one burst"
            if name in victim_orgs:
                assert len({c["session"] for c in calls}) >= 2, f"{name}: not collected by a second worker"
    finally:
        engine.dispose()
        for w in workers:
            stop_process(w)
        stop_process(sim)
        relay.stop()


def _ms(value: Any) -> int:
    """LoginTime as stored by the local org (epoch milliseconds, or an ISO string)."""
    if isinstance(value, int | float):
        return int(value)
    text = str(value).replace("Z", "+00:00")
    if text.endswith("+0000"):
        text = text[:-5] + "+00:00"
    return int(datetime.fromisoformat(text).timestamp() * 1000)
