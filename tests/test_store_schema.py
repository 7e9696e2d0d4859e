"""The store: migrations build exactly the schema module, times stay UTC, upserts are idempotent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, insert, select

from oauthwatch.store import schema
from oauthwatch.store.migrate import current_revision, head_revision
from oauthwatch.store.partitions import is_partition_name
from oauthwatch.store.writes import ensure_org, refresh_login_rollup, upsert


def test_migrations_match_schema_module(store):
    """Guards against a schema change without its Alembic revision."""
    with store.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(
                conn,
                opts={
                    "compare_type": False,
                    "include_name": lambda n, t, _p: not (t == "table" and is_partition_name(n)),
                },
            ),
            schema.metadata,
        )
    assert diff == []
    assert current_revision(store) == head_revision(store)


def test_times_come_back_utc_aware(store):
    """SQLite has no tz type; the store must still hand back aware UTC datetimes."""
    cet = timezone(timedelta(hours=1))
    with store.begin() as conn:
        ensure_org(conn, "acme")
        conn.execute(
            insert(schema.checkpoints).values(
                org="acme", source="x", cursor={}, updated_at=datetime(2026, 1, 1, 13, tzinfo=cet)
            )
        )
    with store.connect() as conn:
        got = conn.execute(select(schema.checkpoints.c.updated_at)).scalar_one()
    assert got == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert got.tzinfo is not None


def test_naive_datetimes_are_refused(store):
    with store.begin() as conn:
        ensure_org(conn, "acme")
    with pytest.raises(Exception, match="naive datetime"), store.begin() as conn:
        conn.execute(
            insert(schema.checkpoints).values(
                org="acme",
                source="x",
                cursor={},
                updated_at=datetime(2026, 1, 1),  # noqa: DTZ001
            )
        )


def _login(i: int, ts: datetime, app: str = "App", ok: bool = True, user: str = "005A") -> dict:
    return {
        "org": "acme",
        "source": "login_history",
        "natural_id": f"0Ya{i:015d}",
        "login_time": ts,
        "user_id": user,
        "application": app,
        "success": ok,
        "status": "Success" if ok else "Invalid Password",
        "login_type": "Remote Access 2.0",
        "ingested_at": ts,
    }


def test_upsert_twice_stores_once_and_rollup_is_exact(store):
    t0 = datetime(2026, 3, 1, 10, 5, tzinfo=UTC)
    rows = [_login(i, t0 + timedelta(minutes=i * 7), user=f"005{i % 3}") for i in range(20)]
    rows[3]["success"] = False
    rows[3]["status"] = "Invalid Password"
    with store.begin() as conn:
        ensure_org(conn, "acme")
        for _ in range(2):
            upsert(conn, schema.logins, rows, key=["org", "source", "natural_id"])
        refresh_login_rollup(conn, "acme", "login_history", [r["login_time"] for r in rows])
        refresh_login_rollup(conn, "acme", "login_history", [r["login_time"] for r in rows])
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.logins)).scalar_one() == 20
        total = conn.execute(select(func.sum(schema.login_rollup_hourly.c.events))).scalar_one()
        failures = conn.execute(
            select(func.sum(schema.login_rollup_hourly.c.events)).where(
                schema.login_rollup_hourly.c.success.is_(False)
            )
        ).scalar_one()
        hours = conn.execute(
            select(func.count(func.distinct(schema.login_rollup_hourly.c.hour)))
        ).scalar_one()
    assert total == 20
    assert failures == 1
    assert hours == 3  # 10:05 .. 12:18
