"""The store's read-side queries on SQLite and PostgreSQL: counts reconcile with raw logins.

Rows are written through store.writes (tests/factories.py), so the hourly and daily rollups are
the ones collection maintains; every figure the dashboard shows is checked against a direct count
of ``logins``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from oauthwatch.store import open_store, schema
from oauthwatch.store import queries as q
from oauthwatch.store import queries_investigate as qi
from oauthwatch.store import queries_ops as ops
from oauthwatch.store.writes import refresh_login_rollup
from tests.conftest import PG_ADMIN_URL, _reset_pg, require
from tests.factories import seed_store

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def seeded(request, tmp_path_factory, pg_database):
    """One seeded store per backend for the whole module (the tests here only read, or rewrite
    rollups to the same values)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('queries') / 'store.db'}"
    else:
        require(pg_database is not None, f"PostgreSQL is not reachable at {PG_ADMIN_URL}")
        _reset_pg(pg_database)
        url = pg_database
    engine = open_store(url)
    facts = seed_store(engine, days=14, now=NOW)
    yield engine, facts
    engine.dispose()


def raw_count(engine, start, end, **eq):
    t = schema.logins
    cond = [t.c.login_time >= start, t.c.login_time < end]
    cond += [t.c[k] == v for k, v in eq.items()]
    with engine.connect() as conn:
        return conn.execute(select(func.count()).where(*cond)).scalar()


def test_rollup_totals_match_raw_logins_for_short_and_long_windows(seeded):
    engine, facts = seeded
    for start, end in [
        (NOW - timedelta(hours=5), NOW + timedelta(hours=1)),  # hourly only
        (NOW - timedelta(days=9, hours=7), NOW - timedelta(hours=3)),  # edges + whole days
        (facts.start, NOW + timedelta(hours=1)),
    ]:
        w = q.Window(start, end)
        df = q.rollup(engine, w, ("application", "success"))
        assert int(df["events"].sum()) == raw_count(engine, start, end)
        assert int(df["failures"].sum()) == raw_count(engine, start, end, success=False)
        by_app = df.groupby("application")["events"].sum()
        assert int(by_app["Jenkins CI"]) == raw_count(engine, start, end, application="Jenkins CI")


def test_rollup_by_hour_uses_day_buckets_on_long_windows(seeded):
    engine, _ = seeded
    short = q.rollup(engine, q.Window(NOW - timedelta(days=1), NOW), (), by_hour=True)
    long = q.rollup(engine, q.Window(NOW - timedelta(days=10), NOW), (), by_hour=True)
    assert short.attrs["bucket"] == "hour"
    assert long.attrs["bucket"] == "day"
    assert (long["hour"].dt.hour == 0).all()
    assert int(long["events"].sum()) == raw_count(engine, NOW - timedelta(days=10), NOW)


def test_kpis_reconcile_and_previous_period(seeded):
    engine, _facts = seeded
    w = q.Window(NOW - timedelta(days=7), NOW + timedelta(hours=1))
    k = q.kpis(engine, w)
    assert k["events"] == raw_count(engine, w.start, w.end)
    assert k["failures"] == raw_count(engine, w.start, w.end, success=False)
    assert k["apps"] == 4
    assert k["countries"] == 5  # US DE FR JP + the spray's RU
    assert k["users"] == 8
    assert k["new_alerts"] == 2
    prev = q.kpis(engine, w.previous())
    assert prev["events"] == raw_count(engine, w.start - (w.end - w.start), w.start)
    assert prev["countries"] == 4


def test_daily_rollups_are_exact_and_idempotent(seeded):
    engine, facts = seeded
    with engine.connect() as conn:
        users_total = conn.execute(select(func.sum(schema.login_user_daily.c.events))).scalar()
        ips_total = conn.execute(select(func.sum(schema.login_ip_daily.c.events))).scalar()
        fails = conn.execute(select(func.sum(schema.login_ip_daily.c.failures))).scalar()
    assert users_total == facts.logins
    assert ips_total == facts.logins
    assert fails == facts.failures
    with engine.begin() as conn:  # a retried write recomputes, never adds
        refresh_login_rollup(
            conn, "acme", "login_history", [NOW - timedelta(days=2), NOW - timedelta(hours=3)]
        )
    with engine.connect() as conn:
        assert conn.execute(select(func.sum(schema.login_user_daily.c.events))).scalar() == facts.logins
        assert conn.execute(select(func.sum(schema.login_rollup_daily.c.events))).scalar() == facts.logins


def test_users_ips_networks_and_new_origins(seeded):
    engine, _ = seeded
    w = q.Window(NOW - timedelta(days=1), NOW + timedelta(hours=1))
    users = q.users_by(engine, w)
    assert set(users["user_id"]) >= {f"005{i:012d}AAA" for i in range(1, 9)}
    ips = q.ips_by(engine, w)
    spray = ips.set_index("source_ip").loc["185.220.101.4"]
    assert spray["failures"] == spray["events"] == 8
    assert spray["network"] == "185.220.101.0/24"
    nets = q.networks_by(ips)
    assert int(nets.set_index("network").loc["198.51.100.0/24", "ips"]) == 2
    new = q.new_origins(engine, w)
    assert set(zip(new["kind"], new["origin"], strict=True)) == {("country", "RU"), ("ip", "185.220.101.4")}
    older = q.new_origins(engine, q.Window(NOW - timedelta(days=3), NOW - timedelta(days=2)))
    assert older.empty


def test_investigate_reads_only_the_window_with_filters(seeded):
    engine, facts = seeded
    w = q.Window(NOW - timedelta(hours=4), NOW)
    raw = qi.raw_logins(engine, w, {"source_ip": "185.220.101.4"})
    assert len(raw) == 8
    assert raw["login_time"].min() >= w.start
    tl = qi.investigate_timeline(engine, w, {"source_ip": "185.220.101.4"}, minute=True)
    assert len(tl) == 8
    assert int(tl["failures"].sum()) == 8
    by_status = qi.investigate_breakdown(engine, w, "status")
    assert int(by_status["events"].sum()) == raw_count(engine, w.start, w.end)
    with pytest.raises(ValueError, match="cannot filter"):
        qi.raw_logins(engine, w, {"password": "x"})
    capped = qi.raw_logins(engine, q.Window(facts.start, NOW), limit=10)
    assert len(capped) == 10


def test_audit_events_mentioning(seeded):
    engine, _ = seeded
    w = q.Window(NOW - timedelta(days=7), NOW)
    assert len(q.audit_events(engine, w)) == 2
    only = q.audit_events(engine, w, mentioning="Data Loader")
    assert list(only["action"]) == ["changedConnectedAppIpRelaxation"]
    assert q.audit_events(engine, w, mentioning="100%_").empty  # LIKE wildcards are escaped


def test_apps_overview(seeded):
    engine, _ = seeded
    w = q.Window(NOW - timedelta(days=7), NOW + timedelta(hours=1))
    apps = ops.apps_overview(engine, w, now=NOW).set_index("app")
    assert set(apps.index) == {"Data Loader", "Mulesoft Sync", "Tableau CRM", "Jenkins CI"}
    assert int(apps["events"].sum()) == raw_count(engine, w.start, w.end)
    assert apps.loc["Tableau CRM", "allowlisted"]
    assert not apps.loc["Data Loader", "allowlisted"]
    assert "IP restrictions relaxed" in apps.loc["Data Loader", "posture"]
    assert "refresh tokens are valid until revoked" in apps.loc["Mulesoft Sync", "posture"]
    assert "certificate expires" in apps.loc["Jenkins CI", "posture"]
    assert apps.loc["Jenkins CI", "flows"] == "OAuth Client Credentials"
    assert apps.loc["Data Loader", "grants"] == 4
    assert apps.loc["Data Loader", "last_use"] <= NOW
    one = ops.apps_overview(engine, w, only="Jenkins CI")
    assert list(one["app"]) == ["Jenkins CI"]
    assert int(one["events"].iloc[0]) == int(apps.loc["Jenkins CI", "events"])
    idle = ops.apps_overview(engine, q.Window(NOW + timedelta(days=1), NOW + timedelta(days=2))).set_index(
        "app"
    )
    assert idle.loc["Data Loader", "events"] == 0
    assert idle.loc["Data Loader", "last_use"] is not None  # found by the index seek


def test_grants_classification(seeded):
    engine, _ = seeded
    w = q.Window(NOW - timedelta(days=30), NOW)
    g = ops.classify_grants(ops.latest_grants(engine), w, now=NOW)
    assert len(g) == 16
    assert "delete_token_hash" not in g.columns
    inactive = g[g["inactive_user"]]
    assert set(inactive["username"]) == {"integration8@acme.example"}
    # The stale_grants detector's rule: last use, else creation, older than 90 days.
    active = g["last_used_date"].fillna(g["created_date"])
    assert (g["stale"] == (active < NOW - timedelta(days=90))).all()
    never_used_young = g["last_used_date"].isna() & (g["created_date"] > NOW - timedelta(days=90))
    assert never_used_young.any()
    assert not g.loc[never_used_young, "stale"].any()
    assert not (g["stale"] & g["dormant"]).any()


def test_alert_listing(seeded):
    engine, facts = seeded
    w = q.Window(NOW - timedelta(days=7), NOW + timedelta(hours=1))
    assert len(ops.alerts(engine, w)) == 2
    assert list(ops.alerts(engine, w, severities=("high",))["severity"]) == ["high"]
    assert list(ops.alerts(engine, w, statuses=("acknowledged",))["detector"]) == ["posture_ip_relaxation"]
    a = ops.alert(engine, facts.alert_ids[0])
    assert a["evidence"] == {"users": 8, "failures": 8, "status": "Invalid Password"}
    assert a["runbook"][0] == "Check the source IP"
    assert ops.alert(engine, 999_999) is None
    assert q.open_alert_count(engine) == 1


def test_collection_health(seeded):
    engine, _ = seeded
    w = q.Window(NOW - timedelta(days=7), NOW + timedelta(hours=1))
    runs = ops.collector_runs(engine, w)
    assert len(runs) == 4
    assert (runs["seconds"] == 60).all()
    lag = ops.source_lag(engine, now=NOW).set_index("source")
    assert lag.loc["setup_audit_trail", "outcome"] == "failed"
    assert lag.loc["login_history", "lag_minutes"] == pytest.approx(19.0)
    assert ops.coverage(engine, w)["status"].value_counts().to_dict() == {
        "complete": 6,
        "missing": 1,
        "partial": 1,
    }
    budget = ops.api_budget(engine, w)
    assert budget["used_share"].between(0, 1).all()
    counts, rows = ops.quarantine(engine, w)
    assert int(counts["records"].sum()) == 1
    assert rows.iloc[0]["natural_id"] == "0Ya999"
    beats = ops.heartbeats(engine, now=NOW)
    assert beats.iloc[0]["component"] == "collector"


def test_investigate_one_read_matches_sql_grouping(seeded):
    engine, _ = seeded
    w = q.Window(NOW - timedelta(days=2), NOW)
    whole = qi.investigate(engine, w, minute=False)
    assert whole["complete"]
    assert len(whole["raw"]) == raw_count(engine, w.start, w.end)
    sql_tl = qi.investigate_timeline(engine, w, minute=False)
    assert whole["timeline"]["events"].tolist() == sql_tl["events"].tolist()
    assert whole["timeline"]["failures"].tolist() == sql_tl["failures"].tolist()
    for dim in ("application", "source_ip", "status"):
        mine = whole["breakdowns"][dim].set_index(dim)[["events", "failures", "users"]].sort_index()
        sql = (
            qi.investigate_breakdown(engine, w, dim)
            .set_index(dim)[["events", "failures", "users"]]
            .sort_index()
        )
        assert mine.to_dict() == sql.to_dict()
    capped = qi.investigate(engine, w, limit=50)  # more rows than the limit: grouped in SQL, exact
    assert not capped["complete"]
    assert len(capped["raw"]) == 50
    assert int(capped["timeline"]["events"].sum()) == len(whole["raw"])
    empty = qi.investigate(engine, q.Window(NOW + timedelta(days=1), NOW + timedelta(days=2)))
    assert empty["raw"].empty
    assert empty["timeline"].empty


def test_investigate_breaks_down_by_network(seeded):
    engine, _ = seeded
    found = qi.investigate(engine, q.Window(NOW - timedelta(days=2), NOW))
    nets = found["breakdowns"]["network"].set_index("network")
    assert int(nets.loc["198.51.100.0/24", "events"]) == int(
        found["raw"]["source_ip"].isin(["198.51.100.10", "198.51.100.11"]).sum()
    )
    assert "network" not in found["raw"].columns
