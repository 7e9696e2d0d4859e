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


def test_first_seen_keeps_the_earliest_day_whatever_the_refresh_order(store):
    """An origin's first day moves only earlier: refreshing a later day (a re-read, an import of an
    older month afterwards) never moves it, refreshing an earlier one does, several days at once too."""
    from sqlalchemy import select

    from oauthwatch.store import schema
    from oauthwatch.store.writes import ensure_org, refresh_login_rollup, upsert

    def login(n: int, when: datetime, ip: str) -> dict[str, object]:
        return {"org": "acme", "source": "login_history", "natural_id": f"0Yc{n:015d}", "login_time": when,
                "success": True, "status": "Success", "source_ip": ip, "country_iso": "FR", "ingested_at": NOW}  # fmt: skip

    d1, d2, d3 = (NOW - timedelta(days=k) for k in (1, 5, 9))
    f = schema.login_origin_first_seen

    def first_days() -> dict[tuple[str, str], str]:
        with store.connect() as conn:
            return {(k, o): str(d) for k, o, d in conn.execute(select(f.c.kind, f.c.origin, f.c.first_day))}

    with store.begin() as conn:
        ensure_org(conn, "acme")
        upsert(conn, schema.logins, [login(1, d1, "192.0.2.1"), login(2, d1, "192.0.2.2")],
               key=["org", "source", "natural_id"])  # fmt: skip
        refresh_login_rollup(conn, "acme", "login_history", [d1])
    assert first_days() == {("ip", "192.0.2.1"): str(d1.date()), ("ip", "192.0.2.2"): str(d1.date()),
                            ("country", "FR"): str(d1.date())}  # fmt: skip
    with store.begin() as conn:  # two older days at once: 192.0.2.1 on both, 192.0.2.2 on neither
        upsert(conn, schema.logins, [login(3, d2, "192.0.2.1"), login(4, d3, "192.0.2.1"), login(5, d2, "192.0.2.3")],
               key=["org", "source", "natural_id"])  # fmt: skip
        refresh_login_rollup(conn, "acme", "login_history", [d2, d3])
        refresh_login_rollup(conn, "acme", "login_history", [d1])  # a later day again: nothing moves
    assert first_days() == {("ip", "192.0.2.1"): str(d3.date()), ("ip", "192.0.2.2"): str(d1.date()),
                            ("ip", "192.0.2.3"): str(d2.date()), ("country", "FR"): str(d3.date())}  # fmt: skip
