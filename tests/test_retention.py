"""Retention: prune removes exactly the rows older than the horizon, on both backends (whole monthly
partitions on PostgreSQL), keeps the rollups, and the dashboard and the digest still show the
pruned days from them, saying "pruned" rather than "missing"."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import streamlit as st
from sqlalchemy import func, select

from oauthwatch.notify.digest import build_digest
from oauthwatch.settings_store import RetentionSettings
from oauthwatch.store import open_store
from oauthwatch.store import queries as q
from oauthwatch.store import schema as s
from oauthwatch.store.partitions import months
from oauthwatch.store.retention import Policy, prune
from oauthwatch.store.writes import ensure_org, refresh_login_rollup, upsert
from tests.dashboard_helpers import metric, run_page, texts
from tests.factories import DIGEST_DAY, digest_settings, login_row, seed_digest_day, write_logins

NOW = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)
POLICY = Policy(raw_days=60, rollup_days=90, batch_rows=7)  # tiny batches: many of them are run
RAW_BEFORE = datetime(2026, 4, 16, tzinfo=UTC)  # NOW's day minus 60 days, at midnight UTC
ROLLUP_BEFORE = datetime(2026, 3, 17, tzinfo=UTC)


def _seed(engine) -> list[dict]:
    """A login every 5 hours from 10 January to 14 June, rollups, API calls, audit rows, coverage."""
    t0 = datetime(2026, 1, 10, 1, 30, tzinfo=UTC)
    logins = [
        login_row("acme", f"0Ya{i:015d}", t0 + timedelta(hours=5 * i), success=i % 4 != 0)
        for i in range(int((NOW - t0).total_seconds() // (5 * 3600)))
    ]
    write_logins(engine, "acme", logins, rollup=True)
    with engine.begin() as conn:
        hours = {r["login_time"].replace(minute=0, second=0) for r in logins}
        refresh_login_rollup(conn, "acme", "login_history", hours)
        calls = [
            {"org": "acme", "request_id": f"req{i}", "event_time": t0 + timedelta(days=i, minutes=3)}
            for i in range(150)
        ]
        upsert(conn, s.api_usage_events, calls, key=["org", "request_id"])
        audit = [
            {
                "org": "acme",
                "event_id": f"0Ym{i:015d}",
                "created_date": t0 + timedelta(days=3 * i),
                "action": "x",
            }
            for i in range(50)
        ]
        upsert(conn, s.audit_events, audit, key=["org", "event_id"])
        day = t0.date()
        cov = []
        while day < NOW.date():
            cov.append(
                {
                    "org": "acme",
                    "source": "login_history",
                    "day": day,
                    "status": "complete",
                    "rows": 5,
                    "updated_at": t0,
                }
            )
            day += timedelta(days=1)
        upsert(conn, s.coverage, cov, key=["org", "source", "day"], update=None)
    return logins


def _count(engine, table, *where) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_prune_removes_exactly_the_rows_older_than_retention_and_keeps_rollups(store):
    logins = _seed(store)
    lg, hr = s.logins, s.login_rollup_hourly
    kept_ids = sorted(r["natural_id"] for r in logins if r["login_time"] >= RAW_BEFORE)
    with store.connect() as conn:
        hourly_kept = conn.execute(
            select(hr.c.hour, hr.c.success, hr.c.events)
            .where(hr.c.hour >= ROLLUP_BEFORE)
            .order_by(hr.c.hour, hr.c.success)
        ).all()
    daily_kept = _count(store, s.login_rollup_daily, s.login_rollup_daily.c.day >= ROLLUP_BEFORE.date())

    dry = prune(store, POLICY, NOW, dry_run=True)
    assert dry.by_table()["logins"] == len(logins) - len(kept_ids)
    assert _count(store, lg) == len(logins)  # a dry run removes nothing

    report = prune(store, POLICY, NOW)
    assert (report.raw_before, report.rollup_before) == (RAW_BEFORE, ROLLUP_BEFORE)
    assert report.by_table() == dry.by_table()
    with store.connect() as conn:
        ids = sorted(conn.execute(select(lg.c.natural_id)).scalars())
        hourly = conn.execute(
            select(hr.c.hour, hr.c.success, hr.c.events).order_by(hr.c.hour, hr.c.success)
        ).all()
    assert ids == kept_ids
    assert report.by_table()["logins"] == len(logins) - len(kept_ids)
    assert hourly == hourly_kept  # rollups kept (90 days) past the raw horizon (60 days), untouched
    assert _count(store, s.login_rollup_daily) == daily_kept
    assert _count(store, s.api_usage_events) == 150 - (RAW_BEFORE.date() - date(2026, 1, 10)).days
    assert _count(store, s.audit_events, s.audit_events.c.created_date < RAW_BEFORE) == 0
    cov = s.coverage
    assert _count(store, cov, cov.c.day < RAW_BEFORE.date(), cov.c.status != "pruned") == 0
    assert _count(store, cov, cov.c.day >= RAW_BEFORE.date(), cov.c.status != "complete") == 0
    with store.connect() as conn:
        ledger = conn.execute(
            select(s.pruned_ranges.c.pruned_before, s.pruned_ranges.c.rows).where(
                s.pruned_ranges.c.table_name == "logins"
            )
        ).one()
    assert ledger == (RAW_BEFORE, len(logins) - len(kept_ids))
    if store.dialect.name == "postgresql":
        # January to March went as whole partitions; April's first half was deleted in batches.
        dropped = sorted({p for i in report.items if i.table == "logins" for p in i.partitions})
        assert dropped == ["logins_p202601", "logins_p202602", "logins_p202603"]
        with store.connect() as conn:
            have = months(conn, "logins")
            in_default = conn.exec_driver_sql("SELECT count(*) FROM logins_pdefault").scalar_one()
        assert date(2026, 4, 1) in have
        assert date(2026, 3, 1) not in have
        assert in_default == 0  # rows of months without a partition were moved into their month

    again = prune(store, POLICY, NOW)  # nothing left to prune: a no-op, the ledger's totals unchanged
    assert again.rows == 0
    assert _count(store, lg) == len(kept_ids)


def _digest_day_pruned(store):
    """The digest's day with rollups and coverage, its digest and KPIs, then pruned (60 days, 70 later)."""
    seed_digest_day(store)
    with store.begin() as conn:
        ensure_org(conn, "acme")
        hours = conn.execute(
            select(s.logins.c.login_time).where(s.logins.c.source == "login_history")
        ).scalars()
        refresh_login_rollup(conn, "acme", "login_history", list(hours))
        upsert(
            conn,
            s.coverage,
            [
                {
                    "org": "acme",
                    "source": src,
                    "day": DIGEST_DAY,
                    "status": "complete",
                    "rows": 43,
                    "updated_at": NOW,
                }
                for src in ("login_history", "connected_apps")
            ],
            key=["org", "source", "day"],
            update=None,
        )
    settings = digest_settings("unused")
    when = datetime.combine(DIGEST_DAY + timedelta(days=1), time(7), tzinfo=UTC)
    before = build_digest(store, settings, "acme", DIGEST_DAY, now=when).data
    day = q.Window(
        datetime.combine(DIGEST_DAY, time(0), tzinfo=UTC),
        datetime.combine(DIGEST_DAY + timedelta(days=1), time(0), tzinfo=UTC),
        ("acme",),
    )
    kpis_before = q.kpis(store, day)

    later = when + timedelta(days=70)  # the digest's day and its baseline are past a 60-day retention
    report = prune(store, Policy(raw_days=60, rollup_days=400), later)
    return before, kpis_before, later, report, day


def test_dashboard_and_digest_show_pruned_days_from_the_rollups(store):
    before, kpis_before, later, report, day = _digest_day_pruned(store)
    settings = digest_settings("unused")
    assert report.by_table()["logins"] > 0
    assert _count(store, s.logins) == 0

    after = build_digest(store, settings, "acme", DIGEST_DAY, now=later)
    d = after.data
    assert d.from_rollups
    assert (d.events, d.failures) == (before.events, before.failures) == (42, 10)
    assert [x.events for x in d.daily] == [x.events for x in before.daily]
    assert [(a.name, a.count) for a in d.busiest_apps] == [(a.name, a.count) for a in before.busiest_apps]
    assert [(r.name, r.count) for r in d.top_reasons] == [(r.name, r.count) for r in before.top_reasons]
    health = {h.source: h.coverage for h in d.health}
    assert health["login_history"] == "pruned"
    assert "missing" not in health.values()
    assert "pruned by retention" in after.text
    assert "Collection is not complete" not in after.text
    kpis_after = q.kpis(store, day)
    assert (kpis_after["events"], kpis_after["failures"]) == (kpis_before["events"], kpis_before["failures"])


def test_dashboard_pages_say_pruned_for_pruned_days(tmp_path, monkeypatch):
    """The Overview shows a pruned day's totals (from the rollups) with a note; the Collection page
    marks it pruned."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = open_store(url)
    try:
        _digest_day_pruned(engine)
    finally:
        engine.dispose()
    monkeypatch.delenv("OAUTHWATCH_CONFIG", raising=False)
    monkeypatch.setenv("OAUTHWATCH_STORE_URL", url)
    monkeypatch.chdir(tmp_path)
    st.cache_data.clear()
    params = {
        "range": "custom",
        "start": DIGEST_DAY.isoformat(),
        "end": DIGEST_DAY.isoformat(),
        "org": "acme",
    }
    at = run_page("overview", params)
    assert "pruned by retention" in texts(at)
    assert metric(at, "Auth events") == "42"
    at = run_page("collection", params)
    assert "pruned by retention" in texts(at)
    st.cache_data.clear()


def test_retention_settings_refuse_rollups_shorter_than_raw_events():
    with pytest.raises(ValueError, match=r"rollup_days .* must be at least raw_days"):
        RetentionSettings(raw_days=400, rollup_days=100)
    with pytest.raises(ValueError, match="greater than or equal to 30"):
        RetentionSettings(raw_days=3)
    assert RetentionSettings().raw_days == 400
    assert RetentionSettings().rollup_days == 1826
