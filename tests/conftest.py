"""Shared fixtures: stores on SQLite and PostgreSQL, and the rule that CI may not skip.

``store_url`` is parametrised over both backends. PostgreSQL is the machine's service at
127.0.0.1:5432 (override with OAUTHWATCH_TEST_PG); each test session gets its own database,
dropped at the end. When ``CI=true`` a missing PostgreSQL or Chromium is a failure, not a skip.

The whole session, child processes included, runs on one fixed reference clock
(tests/shared_clock.py), so no test's outcome depends on the hour or the day it runs.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.shared_clock import SESSION_CLOCK

PG_ADMIN_URL = os.environ.get("OAUTHWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


SESSION_CLOCK.export()  # every child process started from here on reads the session's clock


@pytest.fixture(scope="session", autouse=True)
def _session_clock() -> Iterator[None]:
    """This process on the session's clock (its children get it from the environment)."""
    with SESSION_CLOCK.travel():
        yield


def require(condition: bool, reason: str) -> None:
    """Skip a test for a missing service locally; fail it in CI, where every service must be there."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true and {reason}: this test is mandatory in CI")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database for this test session (None when the server is unreachable)."""
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            name = f"ow_test_{uuid.uuid4().hex[:10]}"
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:  # noqa: BLE001 - any failure means "no PostgreSQL here"
        yield None
        return
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def _reset_pg(url: str) -> None:
    eng = create_engine(url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    eng.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path, pg_database: str | None) -> str:
    """An empty store URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    require(pg_database is not None, f"PostgreSQL is not reachable at {PG_ADMIN_URL}")
    assert pg_database is not None
    _reset_pg(pg_database)
    return pg_database


@pytest.fixture
def store(store_url: str):
    """A migrated store engine on each backend."""
    from oauthwatch.store import open_store

    engine = open_store(store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path):
    """A migrated SQLite store, for tests where the backend does not matter."""
    from oauthwatch.store import open_store

    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared (read-only): reference, conformance checks and external fixtures."""
    require(SHARED.is_dir(), f"{SHARED} is missing")
    return SHARED


@pytest.fixture(autouse=True)
def _dashboard_served_on_loopback() -> Iterator[None]:
    """AppTest runs the app without a server: give it the address ``oauthwatch dashboard`` serves by
    default, whatever directory the test runs in (an unset address means "every interface")."""
    import sys

    if "streamlit.testing.v1" not in sys.modules:
        yield
        return
    from streamlit import config as st_config

    before = st_config.get_option("server.address")
    st_config.set_option("server.address", "127.0.0.1")
    try:
        yield
    finally:
        st_config.set_option("server.address", before)
