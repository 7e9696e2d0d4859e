"""The contract every source keeps, run over each one (STYLE: singer-sdk's stream test suite).

- natural keys of what it stored are non-null and unique;
- its cursor never moves back;
- a second run over the same input adds nothing;
- what it stored equals what the org holds (exactness, on the in-process org).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from collectors.run import ledger
from collectors.sources.registry import SOURCES
from collectors.sources.values import parse_dt
from oauthwatch.store import schema
from tests.orgdb_helpers import BASE, OrgDbClient, build_org, run, settings_for

# what each source writes, under which natural key: from the sources' own declarations
KEYS: dict[str, list[tuple[Any, list[str]]]] = {
    name: [(schema.metadata.tables[table], list(key)) for table, key in cls.writes]
    for name, cls in SOURCES.items()
}


def test_every_source_declares_what_it_reads_needs_and_writes() -> None:
    """The registry is the one list config, check and these tests read: each entry must be whole,
    and each natural key it declares must be a key the store really enforces (else the contract
    below would check uniqueness the store does not guarantee)."""
    from sqlalchemy import PrimaryKeyConstraint, UniqueConstraint

    from oauthwatch.config import ALL_SOURCES
    from oauthwatch.store.partitions import conflict_target

    assert tuple(SOURCES) == ALL_SOURCES
    for name, cls in SOURCES.items():
        assert cls.name == name
        assert cls.label, name
        assert cls.permission is not None, name
        assert cls.permission.label, name
        assert cls.writes, name
        assert cls.probe() is None or cls.probe() == f"SELECT {cls.probe_field} FROM {cls.object} LIMIT 1"
        for table, key in cls.writes:
            t = schema.metadata.tables[table]
            enforced = [
                tuple(c.name for c in con.columns)
                for con in t.constraints
                if isinstance(con, PrimaryKeyConstraint | UniqueConstraint)
            ] + [tuple(c.name for c in ix.columns) for ix in t.indexes if ix.unique]
            # the event tables' keys include their event time (store.partitions); upserts add it
            assert tuple(conflict_target(table, key)) in enforced, f"{name}: {table} has no unique key {key}"


def test_what_else_names_sources_agrees_with_the_registry() -> None:
    """Lists that cannot import the collectors (configuration's login-source choice, the digest,
    the dashboard) are held to the registry here; ``status`` derives from it directly."""
    import typing

    from collectors.sources.registry import LOGIN_SOURCES, SNAPSHOT_SOURCES
    from dashboard.status_texts import SOURCE_VIEWS
    from oauthwatch.config import OrgSettings
    from oauthwatch.notify.digest_state import SNAPSHOT_SOURCES as DIGEST_SNAPSHOTS

    choice = OrgSettings.model_fields["primary_login_source"].annotation
    assert set(typing.get_args(choice)) == set(LOGIN_SOURCES)
    assert DIGEST_SNAPSHOTS == SNAPSHOT_SOURCES
    assert {row[0].split(":")[0] for row in SOURCE_VIEWS} == set(SOURCES)
    for name, cls in SOURCES.items():
        written = {table for table, _ in cls.writes}
        assert set(cls.counted) <= written, name
        assert cls.counted or cls.login_source, f"{name}: status would count nothing"


@pytest.fixture
def org(tmp_path: Path):
    return build_org(tmp_path)


def counts(engine: Any, source: str) -> list[int]:
    with engine.connect() as conn:
        return [conn.execute(select(func.count()).select_from(t)).scalar_one() for t, _ in KEYS[source]]


def cursor_key(c: dict[str, Any] | None) -> tuple[Any, ...]:
    if not c:
        return ()
    if "ts" in c:
        return (parse_dt(c["ts"]), c.get("id") or "")
    return (c.get("day") or "", c.get("taken_at") or c.get("read_at") or "")


@pytest.mark.parametrize("source", list(SOURCES))
def test_source_contract(source: str, org, tmp_path: Path, store, monkeypatch) -> None:
    db, blobs, metadata = org
    client = OrgDbClient(db, licensed=True, blobs=blobs, metadata=metadata)
    settings = settings_for(tmp_path, str(store.url))
    fixed = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    monkeypatch.setattr("collectors.sources.org_limits.utcnow", lambda: fixed)  # same input, same clock

    first = run(settings, client, [source], store)
    assert [r.outcome for r in first] == ["ok"], first[0].line()
    assert first[0].rows_written > 0
    after_first = counts(store, source)
    with store.connect() as conn:
        c1 = ledger.load_checkpoint(conn, "acme", source)
        for table, key in KEYS[source]:
            cols = [table.c[k] for k in key]
            nulls = conn.execute(
                select(func.count()).select_from(table).where(*(c.is_(None) for c in cols[:1]))
            ).scalar_one()
            assert nulls == 0
            total = conn.execute(select(func.count()).select_from(table)).scalar_one()
            distinct = conn.execute(
                select(func.count()).select_from(select(*cols).distinct().subquery())
            ).scalar_one()
            assert total == distinct, f"{table.name}: duplicated keys"

    second = run(settings, client, [source], store)
    assert second[0].outcome == "ok", second[0].line()
    assert counts(store, source) == after_first, "a second run over the same input added rows"
    with store.connect() as conn:
        c2 = ledger.load_checkpoint(conn, "acme", source)
    assert cursor_key(c2) >= cursor_key(c1), f"cursor moved back: {c1} -> {c2}"


def test_exact_against_the_org(org, tmp_path: Path, sqlite_store) -> None:
    """Every source, with locators expiring mid-paging: the store equals the org, row for row."""
    import sqlite3

    db, blobs, metadata = org
    client = OrgDbClient(db, licensed=True, blobs=blobs, metadata=metadata, expire_at_pages={1, 4, 9})
    settings = settings_for(tmp_path, str(sqlite_store.url))
    results = run(settings, client, list(SOURCES), sqlite_store)
    assert {r.source: r.outcome for r in results} == dict.fromkeys(SOURCES, "ok"), [r.line() for r in results]
    assert any("query locator expired" in n for r in results for n in r.notes)
    org_db = sqlite3.connect(db)
    lg = schema.logins.c
    with sqlite_store.connect() as conn:
        stored = set(conn.execute(select(lg.natural_id).where(lg.source == "login_history")).scalars())
        assert stored == {r[0] for r in org_db.execute("SELECT Id FROM LoginHistory")}
        t = schema.oauth_token_snapshots.c
        snap = {
            (r.user_id, r.app_name, r.use_count)
            for r in conn.execute(select(t.user_id, t.app_name, t.use_count))
        }
        assert len(snap) == org_db.execute("SELECT COUNT(*) FROM OauthToken").fetchone()[0] == 3000
        assert snap == set(org_db.execute("SELECT UserId, AppName, UseCount FROM OauthToken"))
        hashes = list(conn.execute(select(t.delete_token_hash)).scalars())
        assert all(h and len(h) == 64 and not h.startswith("DELETE") for h in hashes)
        events = set(conn.execute(select(lg.natural_id).where(lg.source == "login_event")).scalars())
        assert events == {r[0] for r in org_db.execute("SELECT EventIdentifier FROM LoginEvent")}
        elf = set(conn.execute(select(lg.natural_id).where(lg.source == "elf_login")).scalars())
        assert len(elf) == 60
        q = schema.quarantine.c
        bad = list(conn.execute(select(q.reason, q.natural_id).where(q.source == "event_log_files")))
        assert bad == [(bad[0][0], "REQ-BAD")]
        assert "not a datetime" in bad[0][0]
        a = schema.api_usage_hourly.c
        assert conn.execute(select(func.sum(a.requests))).scalar_one() == 90
        audit = set(conn.execute(select(schema.audit_events.c.event_id)).scalars())
        assert (
            len(audit) == 30
        )  # Connected Apps, Manage Users (PermSetAssign), Permission Sets; not Company Profile
        cov = {
            (r.source, r.status)
            for r in conn.execute(select(schema.coverage.c.source, schema.coverage.c.status))
        }
        assert ("event_log_files", "late") in cov
        assert ("login_history", "complete") in cov
        apps = {r.name: r for r in conn.execute(select(schema.connected_apps))}
        assert apps["Mobile"].ip_relaxation == "BYPASS"
        assert apps["Mobile"].scopes == ["Full"]
        assert [p["kind"] for p in apps["Mobile"].permitted_parents] == ["permission_set", "profile"]
        portal = apps["Partner Portal"]  # the External Client App, in the connected-app spelling
        assert (apps["Mobile"].kind, portal.kind, portal.app_id) == (
            "connected_app",
            "external_client_app",
            "0xI000000000001AAA",
        )
        assert (portal.ip_relaxation, portal.refresh_token_policy, portal.admin_approved_only) == (
            "BYPASS_2FACTOR",
            "infinite",
            False,
        )
        assert portal.scopes == ["Api", "RefreshToken"]
        users = conn.execute(select(func.count()).select_from(schema.users)).scalar_one()
        assert users == 60
        jobs = {r.job_id: (r.job_type, r.state, r.records) for r in conn.execute(select(schema.bulk_jobs))}
        assert jobs == {  # the deleted job is not listed; only complete query jobs have rows
            "750000000000001AAA": ("V2Query", "JobComplete", 48_210),
            "750000000000002AAA": ("V2Query", "InProgress", None),
            "750000000000004AAA": ("V2Ingest", "JobComplete", None),
        }
    assert BASE.tzinfo is UTC


def test_rollups_exact_and_recovered_after_a_crash(org, tmp_path: Path, sqlite_store) -> None:
    """Rollups lag the rows by design (recomputed every few pages); the checkpoint's ``rollup_dirty``
    range makes the next run finish the job when a run died before it did."""
    db, blobs, metadata = org
    client = OrgDbClient(db, licensed=True, blobs=blobs, metadata=metadata)
    settings = settings_for(tmp_path, str(sqlite_store.url), query_batch_size=200)
    run(settings, client, ["login_history"], sqlite_store)
    r, lg = schema.login_rollup_hourly, schema.logins

    def totals() -> tuple[int, int]:
        with sqlite_store.connect() as conn:
            return (
                conn.execute(select(func.coalesce(func.sum(r.c.events), 0))).scalar_one(),
                conn.execute(
                    select(func.count()).select_from(lg).where(lg.c.source == "login_history")
                ).scalar_one(),
            )

    events, rows = totals()
    assert events == rows == 1200
    # a run that died after writing rows but before refreshing their rollups
    with sqlite_store.begin() as conn:
        cp = ledger.load_checkpoint(conn, "acme", "login_history")
        assert cp is not None
        assert "rollup_dirty" not in cp
        conn.execute(r.delete())
        ledger.save_checkpoint(
            conn,
            "acme",
            "login_history",
            cp | {"rollup_dirty": [(BASE - timedelta(hours=1)).isoformat(), cp["ts"]]},
        )
    assert totals() == (0, 1200)
    run(settings, client, ["login_history"], sqlite_store)
    assert totals() == (1200, 1200)


def test_first_backfill_above_the_threshold_goes_through_bulk(org, tmp_path: Path, sqlite_store) -> None:
    import sqlite3

    db, blobs, metadata = org
    client = OrgDbClient(db, blobs=blobs, metadata=metadata)
    settings = settings_for(tmp_path, str(sqlite_store.url), bulk_threshold_rows=1000)
    [res] = run(settings, client, ["login_history"], sqlite_store)
    assert res.outcome == "ok"
    assert any("Bulk API 2.0" in n for n in res.notes)
    lg = schema.logins.c
    with sqlite_store.connect() as conn:
        stored = set(conn.execute(select(lg.natural_id).where(lg.source == "login_history")).scalars())
        cp = ledger.load_checkpoint(conn, "acme", "login_history")
    truth = sqlite3.connect(db).execute("SELECT Id, MAX(LoginTime) FROM LoginHistory").fetchall()
    assert len(stored) == 1200
    assert cp is not None
    assert parse_dt(cp["ts"]) == datetime.fromtimestamp(truth[0][1] / 1000, UTC)  # the newest row
    [again] = run(settings, client, ["login_history"], sqlite_store)  # then incremental, over REST
    assert not any("Bulk" in n for n in again.notes)


def test_bulk_fast_path_stores_the_same_rows_as_the_declaration(org, tmp_path: Path, sqlite_store) -> None:
    """The Bulk backfill's CSV fast path (collectors.fastpath) and the REST path through the
    declaration's ``to_row`` store the same LoginHistory rows, column for column: a field added to
    the declaration but not to the fast path (or the reverse) fails here."""
    from oauthwatch.store import open_store

    db, blobs, metadata = org
    rest_client = OrgDbClient(db, blobs=blobs, metadata=metadata)
    [rest] = run(settings_for(tmp_path, str(sqlite_store.url)), rest_client, ["login_history"], sqlite_store)
    bulk_store = open_store(f"sqlite:///{tmp_path / 'bulk.db'}")
    try:
        bulk_client = OrgDbClient(db, blobs=blobs, metadata=metadata)
        settings = settings_for(tmp_path, str(bulk_store.url), bulk_threshold_rows=1000)
        [bulk] = run(settings, bulk_client, ["login_history"], bulk_store)
        assert any("Bulk API 2.0" in n for n in bulk.notes), bulk.line()
        assert not any("Bulk API 2.0" in n for n in rest.notes), rest.line()
        cols = [c for c in schema.logins.c if c.name not in ("id", "ingested_at")]  # ingested_at: run start

        def stored(engine: Any) -> list[tuple[Any, ...]]:
            with engine.connect() as conn:
                return sorted(tuple(r) for r in conn.execute(select(*cols)))

        rows = stored(sqlite_store)
        assert len(rows) == 1200
        assert stored(bulk_store) == rows
    finally:
        bulk_store.dispose()
