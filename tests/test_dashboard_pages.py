"""AppTest for every dashboard page: with data, with an empty store, filters, and actions on the store.

Each test runs the real app (``dashboard/app.py`` with ``st.navigation``) over a SQLite store seeded
through ``oauthwatch.store.writes`` (tests/factories.py). Caches are cleared between tests because
Streamlit's caches live in the process, not in an AppTest.
"""

from __future__ import annotations

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.dashboard_helpers import APP, PAGES, empty_env, metric, run_page, seeded_template, store_env, texts  # noqa: F401 - fixtures


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_data(store_env, page):  # noqa: F811 - fixture from dashboard_helpers
    at = run_page(page)
    assert at.title[0].value.lower().startswith(page[:5]) or page == "apps"
    assert not at.error or page == "collection"  # collection shows the seeded failed run as an error
    assert "No login data collected yet" not in texts(at)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_says_how_to_connect_when_empty(empty_env, page):  # noqa: F811 - fixture from dashboard_helpers
    at = run_page(page)
    body = texts(at)
    assert "No login data collected yet" in body
    assert "oauthwatch simulate" in body
    assert "oauthwatch collect" in body


def test_store_error_becomes_a_hint_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.delenv("OAUTHWATCH_CONFIG", raising=False)
    monkeypatch.setenv("OAUTHWATCH_STORE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    monkeypatch.chdir(tmp_path)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=60).run()
    st.cache_resource.clear()
    assert not at.exception, [e.value for e in at.exception]
    assert any("could not be read" in e.value and "oauthwatch db upgrade" in e.value for e in at.error)
