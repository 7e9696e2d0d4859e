"""The runner: orgs in parallel, a failing org does not stop the others, the ledger and status say
what happened; ``status`` reads the store alone."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import select

from collectors.run.runner import collect_once
from collectors.run.status import render_table, status_rows
from oauthwatch.config import Settings
from oauthwatch.store import schema
from tests.orgdb_helpers import OrgDbClient, build_org


def two_orgs(tmp_path: Path, store_url: str) -> Settings:
    org = {"login_url": "https://org.example", "flow": "jwt", "client_id": "x", "username": "u@example.com",
           "private_key_file": str(tmp_path / "k.pem")}  # fmt: skip
    return Settings.model_validate({
        "store": {"url": store_url},
        "collect": {"settle_seconds": 0},
        "orgs": [{"name": "good", **org}, {"name": "broken", **org}],
    })  # fmt: skip


class _Refusing:
    def token(self) -> Any:
        raise RuntimeError("org broken: invalid_grant (user hasn't approved this consumer)")


def test_a_failing_org_does_not_stop_the_others(tmp_path: Path, sqlite_store) -> None:
    db, blobs, metadata = build_org(tmp_path, logins=300, users=10, tokens_per_user=3, licensed=False)
    good = OrgDbClient(db, blobs=blobs, metadata=metadata)
    threads: set[str] = set()

    def factory(org: Any, budget: Any, _t: float) -> Any:
        threads.add(threading.current_thread().name)
        if org.name == "broken":
            bad = OrgDbClient(db)
            bad.provider = _Refusing()  # type: ignore[assignment]
            return bad
        good.budget = budget
        return good

    settings = two_orgs(tmp_path, str(sqlite_store.url))
    results = collect_once(settings, client_factory=factory, engine=sqlite_store)
    by_org: dict[str, dict[str, str]] = {}
    for r in results:
        by_org.setdefault(r.org, {})[r.source] = r.outcome
    assert set(by_org["broken"].values()) == {"failed"}
    assert by_org["good"]["login_history"] == "ok"
    assert by_org["good"]["login_events"] == "skipped"  # not licensed: one line, not a failure
    assert len(threads) == 2  # one thread per org
    broken = next(r for r in results if r.org == "broken")
    assert "invalid_grant" in (broken.error or "")

    rows = status_rows(sqlite_store)
    good_lh = next(r for r in rows if r["org"] == "good" and r["source"] == "login_history")
    assert good_lh["rows_stored"] == 300
    assert good_lh["outcome"] == "ok"
    assert good_lh["cursor"]["ts"]
    assert good_lh["api_calls_today"] >= 1
    broken_lh = next(r for r in rows if r["org"] == "broken" and r["source"] == "login_history")
    assert broken_lh["outcome"] == "failed"
    assert "invalid_grant" in broken_lh["why"]
    json.dumps(rows, default=str)
    table = render_table(rows)
    assert "good" in table
    assert "broken" in table
    assert "login_history" in table


def test_stop_request_ends_the_run_between_pages(tmp_path: Path, sqlite_store) -> None:
    db, blobs, metadata = build_org(tmp_path, logins=5000, users=10, tokens_per_user=3, licensed=False)
    client = OrgDbClient(db, blobs=blobs, metadata=metadata)
    stop = threading.Event()
    stop.set()
    settings = two_orgs(tmp_path, str(sqlite_store.url)).model_copy(update={})

    def factory(_org: Any, budget: Any, _t: float) -> Any:
        client.budget = budget
        return client

    results = collect_once(settings, org="good", sources=["login_history"], stop=stop, client_factory=factory,
                           engine=sqlite_store)  # fmt: skip
    assert results == []  # stopped before the first source started
    stop.clear()
    [res] = collect_once(
        settings, org="good", sources=["login_history"], client_factory=factory, engine=sqlite_store
    )
    assert res.outcome == "ok"
    assert res.rows_written == 5000
    with sqlite_store.connect() as conn:
        runs = list(conn.execute(select(schema.collector_runs.c.outcome, schema.collector_runs.c.api_calls)))
    assert runs == [("ok", res.api_calls)]


def test_status_cli_reads_the_store_only(tmp_path: Path) -> None:
    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n')
    out = subprocess.run([sys.executable, "-m", "oauthwatch", "status", "-c", str(cfg), "--format", "json"],
                         capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"fleet": {"workers": [], "orgs": []}, "sources": [], "service": []}
    out = subprocess.run([sys.executable, "-m", "oauthwatch", "status", "-c", str(cfg)], capture_output=True,
                         text=True, timeout=120, check=False)  # fmt: skip
    assert "nothing collected yet" in out.stdout
    assert "service: not running" in out.stdout


def test_collect_cli_without_orgs_says_what_to_do(tmp_path: Path) -> None:
    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n')
    out = subprocess.run([sys.executable, "-m", "oauthwatch", "collect", "--once", "-c", str(cfg)],
                         capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert out.returncode == 2
    assert "no enabled org" in out.stderr


def test_status_shows_the_service_heartbeat(tmp_path: Path) -> None:
    """Issue 7: the service's health shows in `oauthwatch status` (and on the Collection page)."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    from oauthwatch.store import open_store

    url = f"sqlite:///{tmp_path / 's.db'}"
    engine = open_store(url)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(schema.service_heartbeats).values(
                component="service", pid=4242, started_at=now - timedelta(hours=1), beat_at=now,
                state="running", detail={"cycles": 7},
            )
        )  # fmt: skip
    engine.dispose()
    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text(f'[store]\nurl = "{url}"\n')
    out = subprocess.run([sys.executable, "-m", "oauthwatch", "status", "-c", str(cfg), "--format", "json"],
                         capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    service = json.loads(out.stdout)["service"]
    assert [(s["component"], s["health"], s["pid"], s["cycles"]) for s in service] == [
        ("service", "running", 4242, 7)
    ]
    out = subprocess.run([sys.executable, "-m", "oauthwatch", "status", "-c", str(cfg)],
                         capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    assert "service service: running (pid 4242" in out.stdout


def test_quiet_days_after_the_last_event_are_complete_not_missing(tmp_path: Path, sqlite_store) -> None:
    """Regression: a sparse source (the audit trail) left every day after its last event without
    coverage, so the digest called a day with no setup changes 'incomplete'."""
    from datetime import UTC, datetime

    from oauthwatch.store.writes import utcnow

    db, blobs, metadata = build_org(tmp_path, logins=50, users=5, tokens_per_user=1, licensed=False)
    client = OrgDbClient(db, blobs=blobs, metadata=metadata)
    settings = two_orgs(tmp_path, str(sqlite_store.url)).model_copy(
        update={"orgs": two_orgs(tmp_path, "x").orgs[:1]}
    )

    def factory(_org: Any, budget: Any, _t: float) -> Any:
        client.budget = budget
        return client

    [res] = collect_once(settings, sources=["setup_audit_trail"], client_factory=factory, engine=sqlite_store)
    assert res.outcome == "ok"
    with sqlite_store.connect() as conn:
        last_event = conn.execute(select(schema.audit_events.c.created_date).order_by(
            schema.audit_events.c.created_date.desc()).limit(1)).scalar_one()  # fmt: skip
        days = dict(conn.execute(select(schema.coverage.c.day, schema.coverage.c.status).where(
            schema.coverage.c.source == "setup_audit_trail")).all())  # fmt: skip
    today = utcnow().date()
    assert last_event.date() < today or last_event <= datetime.now(UTC)
    assert days[today] == "partial"  # today is still being written
    quiet = [d for d in days if last_event.date() < d < today]
    assert all(days[d] == "complete" for d in quiet)
    assert max(days) == today
