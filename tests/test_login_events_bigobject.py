"""LoginEvent collected through Salesforce's big-object rules, on SQLite and PostgreSQL.

The in-process org answers with the local org's SOQL engine, which refuses what Salesforce refuses
on a big object (non-index filters, an ORDER BY against the index, aggregates); the collector
reads EventDate windows newest first, deduplicates on EventIdentifier and moves its cursor only
at a window's end; one object's failure never skips the objects after it.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from collectors.api.client import SalesforceCallError
from collectors.run import ledger
from collectors.run.runner import collect_once
from collectors.sources.login_events import LoginEventStream
from oauthwatch.config import Settings
from oauthwatch.store import schema
from tests.orgdb_helpers import BASE, OrgDbClient, build_org, ms


def settings_for(tmp_path: Path, store_url: str) -> Settings:
    return Settings.model_validate(
        {
            "store": {"url": store_url},
            "collect": {"settle_seconds": 0, "overlap_seconds": 300},
            "orgs": [
                {
                    "name": "acme",
                    "login_url": "https://org.example",
                    "flow": "jwt",
                    "client_id": "x",
                    "username": "u@example.com",
                    "private_key_file": str(tmp_path / "k.pem"),
                }
            ],
        }
    )


def run(settings: Settings, client: OrgDbClient, engine: Any) -> list[Any]:
    def factory(_org: Any, budget: Any, _timeout: float) -> OrgDbClient:
        client.budget = budget
        return client

    return collect_once(settings, sources=["login_events"], client_factory=factory, engine=engine)


def stored_events(engine: Any) -> list[str]:
    lg = schema.logins.c
    with engine.connect() as conn:
        return list(conn.execute(select(lg.natural_id).where(lg.source == "login_event")).scalars())


def add_events(db: Path, start: datetime, n: int, prefix: str, *, duplicate_last: bool = False) -> set[str]:
    rows = [
        (
            f"{prefix}-{i}",
            ms(start + timedelta(minutes=37 * i)),
            ms(start),
            "005000000000001AAA",
            "u1@example.com",
        )
        for i in range(n)
    ]
    if duplicate_last:  # the same event delivered twice (a retransmission)
        rows.append(rows[-1])
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO LoginEvent (EventIdentifier, EventDate, CreatedDate, UserId, Username) VALUES (?,?,?,?,?)",
            rows,
        )
    return {r[0] for r in rows}


def test_windows_in_index_order_dedupe_and_resume(tmp_path: Path, store: Any, monkeypatch) -> None:
    engine = store
    db, blobs, metadata = build_org(tmp_path, logins=200, users=10, tokens_per_user=1)
    with sqlite3.connect(db) as conn:
        org_events = {r[0] for r in conn.execute("SELECT EventIdentifier FROM LoginEvent")}
    org_events |= add_events(db, BASE - timedelta(days=2), 30, "dup", duplicate_last=True)
    monkeypatch.setattr(LoginEventStream, "window", timedelta(hours=2))
    client = OrgDbClient(db, licensed=True, blobs=blobs, metadata=metadata, expire_at_pages={2})
    settings = settings_for(tmp_path, str(engine.url))
    first = run(settings, client, engine)
    assert first[0].outcome == "ok", first[0].line()
    events = stored_events(engine)
    assert sorted(events) == sorted(org_events)  # every event, each once
    # the last run was ten hours ago (cursor set back); what arrived since is read in windows
    now = datetime.now(UTC)
    with engine.begin() as conn:
        ledger.save_checkpoint(
            conn, "acme", "login_events", {"ts": (now - timedelta(hours=10)).isoformat(), "id": ""}
        )
    later = add_events(db, now - timedelta(hours=9), 14, "late", duplicate_last=True)
    client.soql.clear()
    second = run(settings, client, engine)
    assert second[0].outcome == "ok", second[0].line()
    assert sorted(stored_events(engine)) == sorted(org_events | later)
    login_event_soql = [q for q in client.soql if " FROM LoginEvent " in q]
    assert len(login_event_soql) >= 4  # 9 hours of catch-up in 2-hour windows
    assert all(q.endswith("ORDER BY EventDate DESC") and "EventDate >= " in q for q in login_event_soql)


class FailingStore(OrgDbClient):
    """An org where one Threat Detection store fails on every query."""

    def query_pages(self, soql: str, *, batch_size: int = 2000, all_rows: bool = False):
        if " FROM CredentialStuffingEventStore" in soql:
            raise SalesforceCallError("QUERY_TIMEOUT", "Your query request was running for too long.", 400)
        return super().query_pages(soql, batch_size=batch_size, all_rows=all_rows)


def test_one_object_failing_never_skips_the_others(tmp_path: Path, sqlite_store: Any) -> None:
    db, blobs, metadata = build_org(tmp_path, logins=100, users=5, tokens_per_user=1)
    client = FailingStore(db, licensed=True, blobs=blobs, metadata=metadata)
    (res,) = run(settings_for(tmp_path, str(sqlite_store.url)), client, sqlite_store)
    assert res.outcome == "partial", res.line()
    assert any("CredentialStuffingEventStore failed" in n for n in res.notes)
    assert any(" FROM SessionHijackingEventStore" in q for q in client.soql)  # the store after it ran
    with sqlite3.connect(db) as conn:
        assert (
            len(stored_events(sqlite_store)) == conn.execute("SELECT COUNT(*) FROM LoginEvent").fetchone()[0]
        )
