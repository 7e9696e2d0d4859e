"""Running the dashboard in tests: the app path, the pages, a seeded store (one template per
session, copied per test), an empty store, and AppTest helpers (run a page, read its text and metrics).

The store is seeded up to a fixed reference time, :data:`NOW`, and every test that reads it runs
with the clock travelled there (ticking): the pages' "last 24 hours" and the seeded days then line
up the same way whenever the suite runs."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import streamlit as st
import time_machine
from streamlit.testing.v1 import AppTest

from oauthwatch.store import open_store
from tests.factories import seed_store

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday noon: the seeded history ends here
PAGES = ["overview", "apps", "failures", "origins", "alerts", "investigate", "tokens", "collection"]


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory):
    """One seeded store file per session; each test gets its own copy (seeding is the slow part)."""
    path = tmp_path_factory.mktemp("dash_template") / "store.db"
    engine = open_store(f"sqlite:///{path}")
    facts = seed_store(engine, days=14, now=NOW)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path, facts


@pytest.fixture
def store_env(seeded_template, tmp_path, monkeypatch):
    """A seeded store the app reads through $OAUTHWATCH_STORE_URL; yields (engine, facts)."""
    template, facts = seeded_template
    shutil.copyfile(template, tmp_path / "store.db")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.delenv("OAUTHWATCH_CONFIG", raising=False)
    monkeypatch.setenv("OAUTHWATCH_STORE_URL", url)
    monkeypatch.chdir(tmp_path)  # no stray oauthwatch.toml
    st.cache_data.clear()
    st.cache_resource.clear()
    engine = open_store(url)
    with time_machine.travel(NOW, tick=True):
        yield engine, facts
    engine.dispose()
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def empty_env(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    monkeypatch.delenv("OAUTHWATCH_CONFIG", raising=False)
    monkeypatch.setenv("OAUTHWATCH_STORE_URL", url)
    monkeypatch.chdir(tmp_path)
    st.cache_data.clear()
    st.cache_resource.clear()
    with time_machine.travel(NOW, tick=True):
        yield url
    st.cache_data.clear()
    st.cache_resource.clear()


def run_page(page: str, params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in (params or {}).items():
        at.query_params[k] = v
    at.run()
    if page != "overview":
        at.switch_page(f"views/{page}.py")
        for k, v in (params or {}).items():
            at.query_params[k] = v
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [i.value for i in at.info] + [c.value for c in at.caption]
    parts += [s.value for s in at.subheader] + [t.value for t in at.title] + [e.value for e in at.error]
    parts += [w.value for w in at.warning] + [s.value for s in at.success]
    return "\n".join(str(p) for p in parts).replace("\\", "")  # markdown escapes removed


def metric(at: AppTest, label: str) -> str:
    for m in at.metric:
        if m.label == label:
            return m.value
    raise AssertionError(f"no metric {label!r}: {[m.label for m in at.metric]}")
