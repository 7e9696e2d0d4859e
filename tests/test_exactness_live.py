"""Exactness under fire: the store ends up equal to the org, whatever happened on the way.

The local org runs live (new logins, grants and event log files keep arriving) with faults (5xx,
dropped connections, truncated bodies, query timeouts, expired locators, sessions revoked in the
middle of paging and after N calls, and once the whole API budget spent), while
``oauthwatch collect --once`` runs as a real process over HTTPS and is killed with SIGKILL at
random moments, cycle after cycle. Then the org is stopped, restarted quiet, one last clean run
is made, and every source is compared with the org database (the ground truth): nothing lost,
nothing duplicated. The counts are printed.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from collectors.sources import elf_csv
from collectors.sources.elf_csv import DATA_EVENT_TYPES
from collectors.sources.setup_audit_trail import is_relevant
from oauthwatch.store import open_store, schema
from tests.simorg import make_local_org, org_template, start_org  # noqa: F401

FAULTS = {
    "seed": 11,
    "error_rate": 0.05,
    "drop_rate": 0.03,
    "truncate_rate": 0.03,
    "query_timeout_rate": 0.03,
    "locator_expiry_rate": 0.05,
    "expire_session_after": 25,
    "expire_mid_paging_rate": 0.3,
}
CYCLES = int(os.environ.get("OAUTHWATCH_EXACTNESS_CYCLES", "12"))


def write_config(org_dir: Path, store: Path, creds: dict[str, Any]) -> Path:
    text = (org_dir / "oauthwatch.toml").read_text()
    text = text.replace('url = "sqlite:///oauthwatch.db"', f'url = "sqlite:///{store}"')
    text = text.replace(
        "[[orgs]]",
        "[collect]\nsettle_seconds = 5\noverlap_seconds = 300\n"
        "token_snapshot_minutes = 0\nrequest_timeout_seconds = 20\n\n[[orgs]]",
        1,
    )
    lines = [ln for ln in text.splitlines() if not ln.startswith("login_url")]
    idx = lines.index("[[orgs]]")
    lines.insert(idx + 2, f'login_url = "{creds["login_url"]}"')
    cfg = org_dir / "collect.toml"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def run_collect(
    cfg: Path, *extra: str, kill_after: float | None = None, log: Path | None = None
) -> int | None:
    cmd = [sys.executable, "-m", "oauthwatch", "collect", "--once", "-c", str(cfg), *extra]
    err = log.open("ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    try:
        proc.wait(timeout=kill_after if kill_after is not None else 120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        return None
    return proc.returncode


def ground_truth(db: Path, interval: str) -> dict[str, Any]:
    conn = sqlite3.connect(db)
    try:
        from oauthwatch.simulator.data.eventlog import render_csv

        files = conn.execute(
            "SELECT Id, EventType FROM EventLogFile WHERE Interval = ? AND EventType IN (?, ?, ?, ?, ?, ?)",
            (interval, "Login", "ApiTotalUsage", *DATA_EVENT_TYPES),
        ).fetchall()
        elf_ids: set[str] = set()
        api_rows = 0
        data_rows = 0
        for fid, etype in files:
            data = b"".join(render_csv(conn, fid)).decode()
            tmp = db.parent / f"gt-{fid}.csv"
            tmp.write_text(data)
            _h, rows = elf_csv.read_csv(tmp)
            for _line, row in rows:
                if etype == "Login":
                    elf_ids.add(row["REQUEST_ID"])
                elif etype in DATA_EVENT_TYPES:
                    data_rows += 1
                else:
                    api_rows += 1
            tmp.unlink()
        audit = conn.execute("SELECT Id, Action, Section, Display FROM SetupAuditTrail").fetchall()
        return {
            "login_history": {r[0] for r in conn.execute("SELECT Id FROM LoginHistory")},
            "oauth_tokens": {
                (u, a, c, n)
                for u, a, c, n in conn.execute(
                    "SELECT UserId, AppName, CreatedDate, UseCount FROM OauthToken"
                )
            },
            "connected_apps": {r[0] for r in conn.execute("SELECT Id FROM ConnectedApplication")}
            | {
                r[0]
                for r in conn.execute(
                    "SELECT AppId FROM _AppConfig WHERE Model = 'ExternalClientApplication'"
                )
            },
            "elf_files": {r[0] for r in files},
            "elf_login": elf_ids,
            "api_rows": api_rows,
            "data_rows": data_rows,
            "audit": {r[0] for r in audit if is_relevant({"Action": r[1], "Section": r[2], "Display": r[3]})},
            "users": {
                r[0]
                for r in conn.execute("SELECT DISTINCT UserId FROM LoginHistory WHERE UserId IS NOT NULL")
            },
        }
    finally:
        conn.close()


def stored(store_url: str) -> dict[str, Any]:
    engine = open_store(store_url)
    lg = schema.logins.c
    t = schema.oauth_token_snapshots.c
    with engine.connect() as conn:
        day = conn.execute(select(func.max(t.snapshot_day))).scalar_one()
        ms = lambda d: int(d.timestamp() * 1000)  # noqa: E731
        out = {
            "login_history_rows": conn.execute(
                select(func.count()).select_from(schema.logins).where(lg.source == "login_history")
            ).scalar_one(),
            "login_history": set(
                conn.execute(select(lg.natural_id).where(lg.source == "login_history")).scalars()
            ),
            "oauth_tokens": {
                (r.user_id, r.app_name, ms(r.created_date), r.use_count)
                for r in conn.execute(
                    select(t.user_id, t.app_name, t.created_date, t.use_count).where(t.snapshot_day == day)
                )
            },
            "connected_apps": set(conn.execute(select(schema.connected_apps.c.app_id)).scalars()),
            "elf_files": set(conn.execute(select(schema.event_log_files.c.file_id)).scalars()),
            "elf_login": set(conn.execute(select(lg.natural_id).where(lg.source == "elf_login")).scalars()),
            "api_rows": conn.execute(
                select(func.coalesce(func.sum(schema.api_usage_hourly.c.requests), 0))
            ).scalar_one(),
            "data_rows": conn.execute(select(func.count()).select_from(schema.api_data_events)).scalar_one(),
            "audit": set(conn.execute(select(schema.audit_events.c.event_id)).scalars()),
            "users": set(conn.execute(select(schema.users.c.user_id)).scalars()),
            "outcomes": dict(
                conn.execute(
                    select(schema.collector_runs.c.outcome, func.count()).group_by(
                        schema.collector_runs.c.outcome
                    )
                ).all()
            ),
            "quarantined": conn.execute(select(func.count()).select_from(schema.quarantine)).scalar_one(),
            "errors": list(
                conn.execute(
                    select(schema.collector_runs.c.source, schema.collector_runs.c.error).where(
                        schema.collector_runs.c.outcome == "failed"
                    )
                ).all()
            ),
        }
    engine.dispose()
    return out


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_store_equals_org_after_faults_and_kills(make_local_org, tmp_path: Path) -> None:  # noqa: F811
    org = make_local_org("--live")
    store = tmp_path / "store.db"
    cfg = write_config(org.state_dir, store, org.creds)
    # the store's schema exists before the first kill (a migration is not what this test is about)
    open_store(f"sqlite:///{store}").dispose()
    assert org.admin("faults", FAULTS).status_code == 200
    rnd = random.Random(20261129)
    log = tmp_path / "collect.log"
    stop_revoking = threading.Event()

    def revoke_now_and_then() -> None:  # sessions die under the collector's feet, mid-paging too
        while not stop_revoking.wait(rnd.uniform(0.5, 2.0)):
            with contextlib.suppress(requests.RequestException):
                org.admin("revoke-tokens", {})

    revoker = threading.Thread(target=revoke_now_and_then, daemon=True)
    revoker.start()
    killed = finished = 0
    budget_cycle = CYCLES // 2
    started = time.monotonic()
    for cycle in range(CYCLES):
        if cycle == budget_cycle:
            assert org.admin("faults", {**FAULTS, "exhaust_budget": True}).status_code == 200
        kill = rnd.random() < 0.8
        rc = run_collect(cfg, kill_after=rnd.uniform(1.0, 4.5) if kill else None, log=log)
        if rc is None:
            killed += 1
        else:
            finished += 1
        if cycle == budget_cycle:
            # the day's budget was spent: the run must have stopped for it; then the admin raises the limit
            outcomes = stored(f"sqlite:///{store}")["outcomes"]
            assert outcomes.get("budget", 0) > 0 or rc is None, outcomes
            with sqlite3.connect(org.db_path) as c:
                c.execute("INSERT OR REPLACE INTO _State (Key, Value) VALUES ('api_limit', '10000000')")
    stop_revoking.set()
    revoker.join(timeout=10)
    health = org.admin("health").json()
    renewals = log.read_text().count("renewing the token")
    # quiet the org: stop the live ticker (and faults) and let one clean run catch up
    org.stop()
    with sqlite3.connect(org.db_path) as c:  # a new day for the API budget: the last run must be clean
        c.execute("DELETE FROM _State WHERE Key IN ('api_usage', 'api_limit')")
    quiet = start_org(org.state_dir)
    try:
        cfg = write_config(quiet.state_dir, store, quiet.creds)
        final_log = tmp_path / "final.log"
        final_sources = ("org_limits", "login_history", "oauth_tokens", "connected_apps", "external_client_apps",
                         "event_log_files", "setup_audit_trail")  # fmt: skip
        rc = run_collect(cfg, *(f"--source={s}" for s in final_sources), log=final_log)
        assert rc == 0, final_log.read_text()[-3000:]
        final_lines = [ln for ln in final_log.read_text().splitlines() if "oauthwatch.collect:" in ln]
        assert len(final_lines) == len(final_sources), final_lines
        assert all(": ok," in ln for ln in final_lines), final_lines
        interval = "Daily"
        truth = ground_truth(quiet.db_path, interval)
    finally:
        quiet.stop()
    got = stored(f"sqlite:///{store}")
    print(
        f"\nexactness: {CYCLES} cycles ({killed} killed, {finished} finished) in {time.monotonic() - started:.0f}s; "
        f"faults injected {json.dumps(health['faults']['injected'])}; run outcomes {got['outcomes']}; "
        f"quarantined {got['quarantined']}; token renewals after INVALID_SESSION_ID {renewals}"
    )
    for source, error in got["errors"]:
        print(f"  failed run: {source}: {error[:200]}")
    for key in ("login_history", "oauth_tokens", "connected_apps", "elf_files", "elf_login", "audit"):
        print(f"  {key:15s} org {len(truth[key]):7d}  store {len(got[key]):7d}")
    for key in ("api_rows", "data_rows"):
        print(f"  {key:15s} org {truth[key]:7d}  store {got[key]:7d}")
    assert got["login_history_rows"] == len(got["login_history"])
    missing = truth["login_history"] - got["login_history"]
    if missing:
        with sqlite3.connect(tmp_path / "org0" / "org.sqlite3") as c:
            for row in c.execute(
                f"SELECT Id, LoginTime, Application, LoginType, Status FROM LoginHistory WHERE Id IN ({','.join('?' * len(missing))})",
                sorted(missing),
            ):
                print("  missing:", row)
        eng = open_store(f"sqlite:///{store}")
        with eng.connect() as conn:
            for r in conn.execute(
                select(schema.collector_runs).where(schema.collector_runs.c.source == "login_history")
            ):
                print(
                    "  run:",
                    r.started_at,
                    r.outcome,
                    r.rows_read,
                    r.cursor_before,
                    r.cursor_after,
                    r.stop_reason,
                )
    assert got["login_history"] == truth["login_history"]
    assert got["oauth_tokens"] == truth["oauth_tokens"]
    assert got["connected_apps"] == truth["connected_apps"]
    assert got["elf_files"] == truth["elf_files"]
    assert got["elf_login"] == truth["elf_login"]
    assert got["api_rows"] == truth["api_rows"]
    assert got["data_rows"] == truth["data_rows"] > 0
    assert got["audit"] == truth["audit"]
    assert truth["users"] <= got["users"]
    assert killed > 0
    assert renewals > 0
    assert sum(health["faults"]["injected"].values()) > 0
