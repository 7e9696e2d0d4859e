"""The token thief's API calls, end to end: the local org stages reconnaissance, Bulk export jobs and
a deleted job where Salesforce shows them (ApiTotalUsage event log files, the Bulk job listings),
the collectors store them, and the exfiltration detectors alert on the vendor app within one
collection cycle; the per-app data movement shows the Bulk jobs and rows against the baseline."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import func, select

from oauthwatch.config import load_settings
from oauthwatch.detect.runner import run_all
from oauthwatch.store import open_store, schema
from tests.localorg_helpers import local_org_config
from tests.simorg import start_org

CYCLE = timedelta(minutes=15)
EXFIL = ["recon_then_export", "export_volume", "bulk_job_deleted"]
SOURCES = '["login_history", "oauth_tokens", "connected_apps", "event_log_files", "bulk_jobs"]'


@pytest.fixture(scope="module")
def theft(tmp_path_factory: pytest.TempPathFactory):
    from collectors.run.runner import collect_once
    from oauthwatch.simulator.data import eventlog
    from oauthwatch.simulator.data.clock import DAY_MS, org_now_ms
    from oauthwatch.simulator.generate.build import read_params

    state = tmp_path_factory.mktemp("exfil-org")
    org = start_org(state, "--scenario", "token_theft@-3h")
    try:
        db = org.db()
        # the demo's Event Log File delay (minutes, not hours), so the theft's hour has its file now
        eventlog.set_lag(db, eventlog.DEMO_LAG)
        now_ms = org_now_ms(db)
        params = read_params(db)
        assert params is not None
        eventlog.create_due_files(db, since_ms=now_ms - 9 * DAY_MS, now_ms=now_ms, seed=int(params["seed"]))
        cfg = local_org_config(org, state / "store.db")
        text = cfg.read_text().replace(
            'sources = ["login_history"]', f'sources = {SOURCES}\nevent_log_interval = "Hourly"'
        )
        cfg.write_text(text)
        settings = load_settings(cfg)
        since = pd.Timestamp(now_ms, unit="ms", tz="UTC").to_pydatetime() - timedelta(days=8)
        for res in collect_once(settings, since=since):
            assert res.outcome in ("ok", "partial"), res
        truth = json.loads((state / "ground_truth.jsonl").read_text().splitlines()[0])
        yield org, settings, open_store(settings.store.url), truth
    finally:
        org.stop()


def _calls(engine, truth) -> pd.DataFrame:
    e = schema.api_usage_events
    with engine.connect() as conn:
        rows = conn.execute(
            select(e.c.event_time, e.c.api_resource, e.c.http_method, e.c.client_ip, e.c.client_name)
            .where(func.substr(e.c.connected_app_id, 1, 15) == truth["app_id"][:15], e.c.client_name == "")
            .order_by(e.c.event_time)
        ).all()
    return pd.DataFrame(rows, columns=["t", "resource", "method", "ip", "client"])


def test_the_staged_calls_and_jobs_are_where_salesforce_shows_them(theft) -> None:
    org, _settings, engine, truth = theft
    assert "api_calls_staged: true" in truth["description"]
    calls = _calls(engine, truth)
    assert len(calls) == truth["api_calls"] == truth["recon_calls"] + truth["export_calls"]
    assert set(calls["ip"]) <= set(truth["ips"])
    assert (calls["resource"] == "/v62.0/sobjects").sum() == 1
    deletes = calls[calls["method"] == "DELETE"]
    assert [r.split("/")[-1] for r in deletes["resource"]] == truth["deleted_jobs"]
    b = schema.bulk_jobs
    with engine.connect() as conn:
        jobs = {r.job_id: r for r in conn.execute(select(b))}
    # the deleted job was created and deleted before the first listing: only its calls show it
    assert set(jobs) == set(truth["bulk_jobs"]) - set(truth["deleted_jobs"])
    assert all(j.state == "JobComplete" and j.records and j.job_type == "V2Query" for j in jobs.values())
    listed = org.db().execute('SELECT SUM(Records) FROM "_BulkJob" WHERE DeletedMs IS NULL').fetchone()[0]
    assert sum(j.records for j in jobs.values()) == listed


def _first(calls: pd.DataFrame, method: str, resource: str) -> datetime:
    hit = calls[(calls["method"] == method) & calls["resource"].str.contains(resource)]
    return pd.Timestamp(hit["t"].iloc[0]).to_pydatetime()


def test_each_exfiltration_detector_alerts_on_the_vendor_app_within_one_cycle(theft) -> None:
    _org, settings, engine, truth = theft
    calls = _calls(engine, truth)
    export = _first(calls, "POST", "/jobs/query")
    report = run_all(engine, settings, now=export + CYCLE, only=EXFIL)
    assert report.errors == {}
    found = {f.detector: f for f in report.findings if f.subject == truth["app"]}
    recon = found["recon_then_export"]
    assert recon.evidence["recon_calls"] >= 10
    assert set(recon.evidence["recon_kinds"].split(", ")) == {
        "count_query",
        "describe",
        "limits",
        "list_objects",
    }
    deleted = _first(calls, "DELETE", "/jobs/query/")
    report = run_all(engine, settings, now=deleted + CYCLE, only=EXFIL)
    found = {f.detector: f for f in report.findings if f.subject == truth["app"]}
    gone = found["bulk_job_deleted"]
    assert gone.evidence["job_id"] == truth["deleted_jobs"][0][:15]
    assert 0 < gone.evidence["minutes_after_finish"] <= 3
    volume = found["export_volume"]
    assert volume.evidence["calls"] >= 20
    assert volume.evidence["calls"] > 5 * volume.evidence["expected"]
    others = {f.subject for f in report.findings if f.detector in EXFIL} - {truth["app"]}
    assert not others, f"only the vendor app: {others}"


def test_the_week_before_the_theft_stays_quiet(theft) -> None:
    """Replayed hourly over the org's API history before the theft, the three detectors say nothing."""
    from oauthwatch.detect.runner import backtest

    _org, settings, engine, truth = theft
    start = datetime.fromisoformat(truth["start"].replace("Z", "+00:00"))
    quiet = backtest(engine, settings, start=start - timedelta(days=7), end=start - timedelta(hours=1),
                     step=timedelta(hours=1), only=EXFIL)  # fmt: skip
    assert quiet.steps >= 24 * 7 - 1
    assert sum(r.errors for r in quiet.rows.values()) == 0
    assert [f.title for _, f in quiet.fired] == []


def test_a_job_deleted_between_two_readings_is_marked_gone_and_alerted(theft) -> None:
    from collectors.run.runner import collect_once
    from oauthwatch.simulator.data import staged
    from oauthwatch.simulator.data.clock import org_now_ms

    org, settings, engine, _truth = theft
    db = org.db()
    now = org_now_ms(db)
    user = db.execute('SELECT CreatedById FROM "_BulkJob" LIMIT 1').fetchone()[0]
    job = staged.BulkJob(
        "750000000000999AAA", "query", "Lead", user, now - 8 * 60_000, now - 5 * 60_000, 12_345
    )
    staged.stage(db, [], [job])
    for res in collect_once(settings, sources=["bulk_jobs"]):
        assert res.outcome == "ok", res
    sf = org.sf()
    resp = sf.session.delete(f"{sf.base_url}jobs/query/{job.id}", headers=sf.headers)
    assert resp.status_code == 204, resp.text
    for res in collect_once(settings, sources=["bulk_jobs"]):
        assert res.outcome == "ok", res
    b = schema.bulk_jobs
    with engine.connect() as conn:
        gone = conn.execute(
            select(b.c.job_id, b.c.records, b.c.gone_at).where(b.c.gone_at.is_not(None))
        ).all()
    assert [(g.job_id, g.records) for g in gone] == [(job.id, 12_345)]
    report = run_all(engine, settings, now=gone[0].gone_at + timedelta(minutes=1), only=["bulk_job_deleted"])
    named = {f.evidence["job_id"]: f for f in report.findings}
    assert named[job.id[:15]].evidence["seen_by"] == "no longer listed"
    assert named[job.id[:15]].evidence["rows"] == 12_345


def test_data_movement_shows_the_apps_bulk_jobs_and_rows_against_its_baseline(theft) -> None:
    from oauthwatch.movement.app_usage import app_movement, day_movement

    _org, _settings, engine, truth = theft
    start = datetime.fromisoformat(truth["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(truth["end"].replace("Z", "+00:00")) + timedelta(seconds=1)
    m = app_movement(engine, "local", truth["app"], start, end)
    deleted = set(truth["deleted_jobs"])
    assert m.bulk_jobs == len(truth["bulk_jobs"]), "the deleted job counts, known by its calls"
    assert m.bulk_deleted == len(deleted)
    assert {j["job_id"] for j in m.jobs} == set(truth["bulk_jobs"]) - deleted
    assert m.bulk_rows == sum(j["rows"] for j in m.jobs) > 0
    assert m.baseline_bulk_rows == 0, "the vendor app never ran Bulk jobs before"
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    with engine.connect() as conn:
        days = {
            a.name: a
            for a in day_movement(conn, "local", day, day + timedelta(days=1), day - timedelta(days=7))
        }
    assert days[truth["app"]].bulk_jobs == m.bulk_jobs
    assert days[truth["app"]].bulk_rows == m.bulk_rows


def test_the_licensed_event_types_say_how_many_rows_each_user_exported(theft) -> None:
    """BulkApi2 and RestApi event log files, collected with the others: the app's Bulk rows are the
    ground truth's, the deleted job's included (the listings never saw it), each job counted once
    however many steps it logged, and every figure names its source."""
    from oauthwatch.movement.app_usage import app_movement

    org, _settings, engine, truth = theft
    start = datetime.fromisoformat(truth["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(truth["end"].replace("Z", "+00:00")) + timedelta(minutes=5)
    with engine.connect() as conn:
        kinds = dict(
            conn.execute(
                select(schema.api_data_events.c.event_type, func.count()).group_by(
                    schema.api_data_events.c.event_type
                )
            ).all()
        )
    jobs = len(truth["bulk_jobs"])
    assert kinds["BulkApi2"] == 3 * jobs + len(truth["deleted_jobs"]), (
        "created, in progress, complete (+ deleted)"
    )
    assert kinds["RestApi"] > 0
    m = app_movement(engine, "local", truth["app"], start, end)
    assert m.exported is not None
    assert m.exported.by_type["BulkApi2"] == truth["bulk_rows"]
    assert m.exported.by_type["BulkApi2"] > m.bulk_rows, "the deleted job's rows, unlisted"
    assert m.exported.rows == sum(u["rows"] for u in m.exported.by_user)
    assert m.exported.bytes > 0
    thieves = {r[0] for r in org.db().execute('SELECT DISTINCT CreatedById FROM "_BulkJob"')}
    assert {u["user_id"] for u in m.exported.by_user if u["rows"]} >= thieves
    assert m.sources["exported_rows"] == "Event Log Files (BulkApi2, RestApi)"
    assert m.sources["calls"] == "ApiTotalUsage"
