"""External Client Apps on the dashboard (AppTest over the seeded store, where Tableau CRM is an
External Client App): every page that lists apps marks each one's kind."""

from __future__ import annotations

from tests.dashboard_helpers import run_page, seeded_template, store_env, texts

__all__ = ["seeded_template", "store_env"]  # the fixtures, re-exported for pytest


def test_apps_page_marks_each_kind(store_env):
    table = run_page("apps").dataframe[0].value.set_index("app")
    assert table.loc["Tableau CRM", "kind"] == "External Client App"
    assert set(table.drop(index="Tableau CRM")["kind"]) == {"Connected App"}
    detail = run_page("apps", {"app": "Tableau CRM"})
    assert "**Kind:** External Client App" in texts(detail)
    grants = next(d.value for d in detail.dataframe if "app_kind" in d.value.columns)
    assert set(grants["app_kind"]) == {"External Client App"}


def test_tokens_page_marks_each_grants_kind(store_env):
    at = run_page("tokens")
    table = at.dataframe[0].value
    kinds = dict(zip(table["app_name"], table["app_kind"], strict=True))
    assert kinds["Tableau CRM"] == "External Client App"
    assert kinds["Data Loader"] == "Connected App"
    ranked = next(d.value for d in at.dataframe if "score" in d.value.columns)
    assert set(ranked[ranked["app"] == "Tableau CRM"]["app_kind"]) == {"External Client App"}
