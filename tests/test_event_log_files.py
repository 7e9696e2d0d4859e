"""Event Log Files as they really are: with and without the Event Monitoring licence, and a file
whose size never matches its LogFileLength.

The in-process org answers with the local org's SOQL engine; without Event Monitoring it has no
``EventLogFile.Interval`` (INVALID_FIELD, and absent from describe) and only the free event types.
The collector describes EventLogFile once (the answer is kept with its checkpoint), so the same
source reads both orgs, exactly. A wedged file is quarantined after bounded attempts, its day is
partial, and the files after it are still collected. Over HTTPS the local org started with
``--no-event-monitoring`` is read the same way, and what is stored equals what its files hold.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from simorg import make_local_org, org_template  # noqa: F401 - fixtures
from sqlalchemy import func, select

from collectors.run import ledger
from collectors.run.runner import collect_once
from oauthwatch.config import load_settings
from oauthwatch.store import open_store, schema
from tests.orgdb_helpers import OrgDbClient, build_org, run, settings_for


def csv_rows(blobs: dict[str, bytes], ids: list[str]) -> int:
    return sum(len(blobs[i].decode().strip().splitlines()) - 1 for i in ids)


def stored(engine: Any) -> tuple[int, int]:
    with engine.connect() as conn:
        lg = schema.logins.c
        logins = conn.execute(select(func.count()).where(lg.source == "elf_login")).scalar_one()
        calls = conn.execute(select(func.count()).select_from(schema.api_usage_events)).scalar_one()
    return logins, calls


@pytest.mark.parametrize("event_monitoring", [True, False], ids=["licensed", "no-event-monitoring"])
def test_both_event_monitoring_modes_are_collected_exactly(
    tmp_path: Path, store, event_monitoring: bool
) -> None:
    db, blobs, metadata = build_org(tmp_path, logins=100, tokens_per_user=1, malformed=False)
    client = OrgDbClient(db, blobs=blobs, metadata=metadata, event_monitoring=event_monitoring)
    settings = settings_for(tmp_path, str(store.url))
    (result,) = run(settings, client, ["event_log_files"], store)
    assert result.outcome == "ok", result.error
    with sqlite3.connect(db) as conn:
        login_ids = [r[0] for r in conn.execute("SELECT Id FROM EventLogFile WHERE EventType = 'Login'")]
        api_ids = [
            r[0] for r in conn.execute("SELECT Id FROM EventLogFile WHERE EventType = 'ApiTotalUsage'")
        ]
    assert stored(store) == (csv_rows(blobs, login_ids), csv_rows(blobs, api_ids))
    listing = [q for q in client.soql if "FROM EventLogFile" in q]
    assert listing
    assert all(("Interval" in q) == event_monitoring for q in listing)
    if not event_monitoring:
        assert any("no Interval field" in n for n in result.notes)
    # describe once: the answer is kept with the checkpoint, a second run does not ask again
    (again,) = run(settings, client, ["event_log_files"], store)
    assert again.outcome == "ok"
    assert again.rows_written == 0
    assert client.described == ["EventLogFile"]
    with store.connect() as conn:
        cursor = ledger.load_checkpoint(conn, "acme", "event_log_files")
    assert cursor is not None
    assert ("Interval" in cursor["shape"]["fields"]) == event_monitoring


def test_without_event_monitoring_interval_does_not_exist(tmp_path: Path) -> None:
    from collectors.api.client import SalesforceCallError

    db, blobs, _ = build_org(tmp_path, logins=100, tokens_per_user=1)
    client = OrgDbClient(db, blobs=blobs, event_monitoring=False)
    with pytest.raises(SalesforceCallError, match="INVALID_FIELD"):
        list(client.query("SELECT Id, Interval FROM EventLogFile"))
    fields = {f["name"]: f for f in client.describe("EventLogFile")["fields"]}
    assert "Interval" not in fields
    kinds = {v["value"] for v in fields["EventType"]["picklistValues"]}
    assert {"Login", "ApiTotalUsage"} <= kinds
    assert "URI" not in kinds


def test_a_wedged_file_is_quarantined_while_later_files_are_collected(tmp_path: Path, store) -> None:
    db, blobs, metadata = build_org(tmp_path, logins=100, tokens_per_user=1, malformed=False)
    with sqlite3.connect(db) as conn:  # the oldest Login file: its record states a size it never has
        wedged, log_date = conn.execute(
            "SELECT Id, LogDate FROM EventLogFile WHERE EventType = 'Login' ORDER BY CreatedDate, Id LIMIT 1"
        ).fetchone()
        conn.execute("UPDATE EventLogFile SET LogFileLength = LogFileLength + 7 WHERE Id = ?", (wedged,))
        others = [
            r[0]
            for r in conn.execute(
                "SELECT Id FROM EventLogFile WHERE EventType = 'Login' AND Id != ?", (wedged,)
            )
        ]
        api_ids = [
            r[0] for r in conn.execute("SELECT Id FROM EventLogFile WHERE EventType = 'ApiTotalUsage'")
        ]
    client = OrgDbClient(db, blobs=blobs, metadata=metadata)
    settings = settings_for(tmp_path, str(store.url))
    (result,) = run(settings, client, ["event_log_files"], store)
    assert result.outcome == "partial"
    assert any(f"file {wedged} quarantined" in n for n in result.notes)
    assert stored(store) == (csv_rows(blobs, others), csv_rows(blobs, api_ids))
    elf, q, cov = schema.event_log_files.c, schema.quarantine.c, schema.coverage.c
    with store.connect() as conn:
        files = {r.file_id: r for r in conn.execute(select(elf.file_id, elf.processed_at, elf.rows))}
        assert files[wedged].processed_at is None
        assert files[wedged].rows == 0
        assert all(files[f].processed_at is not None for f in others + api_ids)
        reasons = list(conn.execute(select(q.reason).where(q.natural_id == wedged)).scalars())
        assert len(reasons) == 1
        assert "LogFileLength" in reasons[0]
        days = {
            r.day: r
            for r in conn.execute(
                select(cov.day, cov.status, cov.note).where(cov.source == "event_log_files")
            )
        }
        day = datetime.fromtimestamp(log_date / 1000, UTC).date()
        assert days[day].status == "partial"
        assert "quarantined" in days[day].note
        assert {r.status for d, r in days.items() if d != day} <= {"complete", "late"}
        cursor = ledger.load_checkpoint(conn, "acme", "event_log_files")
    # the cursor moved past every file: the next run reads nothing again and quarantines nothing
    (again,) = run(settings, client, ["event_log_files"], store)
    assert again.rows_written == 0
    with store.connect() as conn:
        assert conn.execute(select(func.count()).where(q.natural_id == wedged)).scalar_one() == 1
        after = ledger.load_checkpoint(conn, "acme", "event_log_files")
    assert cursor is not None
    assert after is not None
    assert after["ts"] >= cursor["ts"]


def test_local_org_without_event_monitoring_over_https(make_local_org, store_url: str) -> None:  # noqa: F811
    from oauthwatch.simulator.data import clock, eventlog

    org = make_local_org("--no-event-monitoring")
    with org.db() as conn:
        files = conn.execute('SELECT Id, EventType, Interval, CreatedDate FROM "EventLogFile"').fetchall()
        now = clock.org_now_ms(conn)
        truth = {
            kind: sum(_rows(conn, f[0]) for f in files if f[1] == kind) for kind in ("Login", "ApiTotalUsage")
        }
    # daily files only, none older than a day (how many exist depends on the hour the org's clock says)
    assert {f[2] for f in files} <= {"Daily"}
    assert all(now - f[3] <= eventlog.DAY_MS for f in files)
    settings = load_settings(org.state_dir / "oauthwatch.toml")
    settings = settings.model_copy(update={"store": settings.store.model_copy(update={"url": store_url})})
    (result,) = collect_once(settings, sources=["event_log_files"])
    assert result.outcome == "ok", result.error
    assert not {f[1] for f in files} & {"BulkApi2", "RestApi"}, "the data-movement types need the licence"
    engine = open_store(store_url)
    try:
        assert stored(engine) == (truth["Login"], truth["ApiTotalUsage"])
        from oauthwatch.movement.app_usage import app_movement

        with engine.connect() as conn:
            app = conn.execute(
                select(schema.api_usage_events.c.connected_app_name).where(
                    schema.api_usage_events.c.connected_app_name != ""
                )
            ).scalar()
        assert app, "the org's API calls name their apps"
        m = app_movement(
            engine, "local", app, datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
        )
        assert m.calls > 0
        assert m.exported is None, "no licence: no rows-exported figure rather than a false zero"
        assert "exported_rows" not in m.sources
    finally:
        engine.dispose()


def _rows(conn: sqlite3.Connection, file_id: str) -> int:
    from oauthwatch.simulator.data import eventlog

    return b"".join(eventlog.render_csv(conn, file_id)).count(b"\n") - 1


def test_apps_are_listed_from_api_usage_when_elf_login_is_primary(tmp_path: Path, store) -> None:
    """The Login file has no connected-app column: with it as the primary login source the app
    list still shows each app, from ApiTotalUsage's CONNECTED_APP_NAME, with its API requests."""
    from oauthwatch.store import queries_ops as ops
    from oauthwatch.store.queries_base import Window
    from tests.orgdb_helpers import APPS, BASE

    db, blobs, metadata = build_org(tmp_path, logins=100, tokens_per_user=1, malformed=False)
    settings = settings_for(tmp_path, str(store.url))
    org = settings.orgs[0].model_copy(update={"primary_login_source": "elf_login"})
    settings = settings.model_copy(update={"orgs": [org]})
    (result,) = run(settings, OrgDbClient(db, blobs=blobs, metadata=metadata), ["event_log_files"], store)
    assert result.outcome == "ok", result.error
    w = Window(BASE, BASE + timedelta(days=5), ("acme",))
    apps = ops.apps_overview(store, w, now=BASE + timedelta(days=5)).set_index("app")
    assert set(APPS[:2]) <= set(apps.index)
    assert all(apps.loc[a, "api_requests"] > 0 for a in APPS[:2])
    assert all(apps.loc[a, "events"] == 0 for a in APPS[:2])  # no per-app logins from the Login file


def test_a_wedged_file_over_https_is_quarantined_after_the_clients_retries(
    make_local_org,  # noqa: F811
    store_url: str,
) -> None:
    """The real client sees the size mismatch on the wire (LengthMismatch), retries it, and the
    source then sets the file aside while the other files of the org are collected."""
    from collectors.api.client import SalesforceClient
    from collectors.auth import provider_for

    org = make_local_org()
    with org.db() as conn:
        wedged = conn.execute(
            "SELECT Id FROM EventLogFile WHERE EventType = 'Login' AND Interval = 'Daily' ORDER BY CreatedDate LIMIT 1"
        ).fetchone()[0]
        conn.execute("UPDATE EventLogFile SET LogFileLength = LogFileLength + 7 WHERE Id = ?", (wedged,))
        daily = [r[0] for r in conn.execute("SELECT Id FROM EventLogFile WHERE Interval = 'Daily'")]
    settings = load_settings(org.state_dir / "oauthwatch.toml")
    settings = settings.model_copy(update={"store": settings.store.model_copy(update={"url": store_url})})

    def quick(o: Any, budget: Any, timeout: float) -> SalesforceClient:
        return SalesforceClient(
            provider_for(o, timeout=timeout),
            budget=budget,
            timeout=timeout,
            retries=2,
            backoff=0.01,
            max_backoff=0.01,
        )

    (result,) = collect_once(settings, sources=["event_log_files"], client_factory=quick)
    assert result.outcome == "partial"
    assert any(f"file {wedged} quarantined" in n for n in result.notes)
    engine = open_store(store_url)
    try:
        elf = schema.event_log_files.c
        with engine.connect() as conn:
            done = {r.file_id: r.processed_at for r in conn.execute(select(elf.file_id, elf.processed_at))}
    finally:
        engine.dispose()
    assert done[wedged] is None
    assert all(done[f] is not None for f in daily if f != wedged)


def test_check_says_the_org_has_no_event_monitoring(make_local_org, tmp_path: Path) -> None:  # noqa: F811
    """``check`` describes EventLogFile: without the licence it says only daily files exist, kept
    one day, and warns when the configuration asks for hourly ones."""
    import json
    import subprocess
    import sys

    from tests.auth_helpers import org_settings, write_config

    org = make_local_org("--no-event-monitoring")
    entry = org_settings(org, tmp_path, "jwt", event_log_interval="Hourly", sources=["event_log_files"])
    cfg = write_config(tmp_path / "oauthwatch.toml", [entry])
    r = subprocess.run(
        [sys.executable, "-m", "oauthwatch", "check", "--config", str(cfg), "--format", "json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    rep = json.loads(r.stdout)["orgs"][0]
    found = {f["code"]: f["severity"] for f in rep["findings"]}
    assert found["event_log_files_no_event_monitoring"] == "info"
    assert found["event_log_files_hourly_unavailable"] == "warning"
    assert rep["facts"]["sources"]["event_log_files"] == "ok"


class _CutClient(OrgDbClient):
    """Cuts the first downloads of one file short, by a different amount each time (a flaky wire)."""

    def __init__(self, *args: Any, cut: str, cuts: list[int], **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.cut, self.cuts = cut, cuts

    def download(self, relative_url: str, dest: Path, *, expected_size: int | None = None) -> int:
        size = super().download(relative_url, dest, expected_size=expected_size)
        if self.cut in relative_url and self.cuts:
            size -= self.cuts.pop(0)
            dest.write_bytes(dest.read_bytes()[:size])
        return size


def test_a_file_cut_short_differently_each_time_is_read_again_not_quarantined(tmp_path: Path, store) -> None:
    db, blobs, metadata = build_org(tmp_path, logins=100, tokens_per_user=1, malformed=False)
    with sqlite3.connect(db) as conn:
        first = conn.execute("SELECT Id FROM EventLogFile ORDER BY CreatedDate, Id LIMIT 1").fetchone()[0]
    client = _CutClient(db, blobs=blobs, metadata=metadata, cut=first, cuts=[5, 9])
    settings = settings_for(tmp_path, str(store.url))
    (result,) = run(settings, client, ["event_log_files"], store)
    assert result.outcome == "failed"
    assert "DOWNLOAD_UNSTABLE" in (result.error or "")
    (again,) = run(settings, client, ["event_log_files"], store)  # the wire is fine now
    assert again.outcome == "ok", again.error
    q = schema.quarantine.c
    with store.connect() as conn:
        assert conn.execute(select(func.count()).where(q.natural_id == first)).scalar_one() == 0
        done = conn.execute(
            select(schema.event_log_files.c.processed_at).where(schema.event_log_files.c.file_id == first)
        ).scalar_one()
    assert done is not None
