"""Store queries that need their own store: several orgs, and an empty store (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from oauthwatch.store import queries as q
from oauthwatch.store import queries_ops as ops
from tests.factories import seed_store

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def test_org_filter_separates_orgs(store):
    seed_store(store, org="acme", days=2, now=NOW)
    beta = seed_store(store, org="beta", days=2, now=NOW, per_hour=1, seed=2)
    w_all = q.Window(NOW - timedelta(days=3), NOW + timedelta(hours=1))
    w_beta = q.Window(w_all.start, w_all.end, ("beta",))
    assert q.kpis(engine := store, w_beta)["events"] == beta.logins
    assert q.kpis(engine, w_all)["events"] > beta.logins
    assert q.list_orgs(store) == ["acme", "beta"]
    assert q.has_logins(store, ("beta",))
    assert not q.has_logins(store, ("nobody",))


def test_empty_store_answers_without_errors(store):
    w = q.Window(NOW - timedelta(days=7), NOW)
    assert not q.has_logins(store)
    assert q.data_span(store) is None
    assert q.kpis(store, w)["events"] == 0
    assert q.rollup(store, w, ("application",), by_hour=True).empty
    assert ops.apps_overview(store, w).empty
    assert q.new_origins(store, w).empty
    assert ops.source_lag(store).empty
    assert ops.classify_grants(ops.latest_grants(store), w).empty
