"""The client over the real wire (HTTPS to the local org, simple-salesforce underneath), fault by fault,
plus the budget governor's arithmetic."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.api.budget import BudgetExhausted, BudgetGovernor, parse_limit_info
from collectors.api.client import RetriableError, SalesforceCallError, SalesforceClient
from tests.simorg import make_local_org, org_template  # noqa: F401


def client_for(org, **kw) -> SalesforceClient:
    from collectors.auth import TokenProvider
    from oauthwatch.config import load_settings

    settings = load_settings(org.state_dir / "oauthwatch.toml")
    provider = TokenProvider(settings.orgs[0], timeout=20)
    return SalesforceClient(provider, sleep=lambda _s: None, **kw)


def faults(org, **spec) -> None:
    r = org.admin("faults", {"seed": 3, **spec})
    assert r.status_code == 200, r.text


@pytest.fixture
def org(make_local_org):  # noqa: F811
    return make_local_org()


def test_pages_stream_and_every_call_is_counted(org) -> None:
    c = client_for(org)
    n_org = org.db().execute("SELECT COUNT(*) FROM LoginHistory").fetchone()[0]
    pages = list(c.query_pages("SELECT Id FROM LoginHistory ORDER BY LoginTime, Id", batch_size=500))
    assert sum(len(p.records) for p in pages) >= n_org  # our own token request adds one login
    assert all(len(p.records) == 500 for p in pages[:-1])
    assert c.calls == len(pages)
    assert c.budget.daily_limit
    assert c.budget.used
    assert c.budget.readings[-1].name == "DailyApiRequests"


def test_transient_faults_are_retried(org) -> None:
    faults(org, error_rate=0.3, drop_rate=0.2, truncate_rate=0.2, query_timeout_rate=0.2)
    c = client_for(org, retries=8)
    ids = [r["Id"] for r in c.query("SELECT Id FROM LoginHistory ORDER BY LoginTime, Id", batch_size=200)]
    injected = org.admin("health").json()["faults"]["injected"]
    faults(org)
    truth = [r[0] for r in org.db().execute("SELECT Id FROM LoginHistory ORDER BY LoginTime, Id")]
    assert ids == truth[: len(ids)]
    assert len(ids) >= len(truth) - 2  # the token requests of this test log in too
    assert sum(injected.values()) >= 3, injected


def test_permanent_5xx_gives_up_with_a_typed_error(org) -> None:
    faults(org, error_rate=1.0)
    c = client_for(org, retries=2)
    with pytest.raises(RetriableError, match="RETRIES_EXHAUSTED"):
        c.count("SELECT COUNT() FROM LoginHistory")
    assert c.calls == 3


def test_session_expiry_mid_paging_renews_once(org) -> None:
    c = client_for(org)
    first = c.provider.token().access_token
    pages = c.query_pages("SELECT Id FROM LoginHistory ORDER BY LoginTime, Id", batch_size=200)
    got = len(next(pages).records)
    assert org.admin("revoke-tokens", {}).status_code == 200  # the session dies under us
    got += sum(len(p.records) for p in pages)
    assert c.provider.token().access_token != first
    assert got >= org.db().execute("SELECT COUNT(*) FROM LoginHistory").fetchone()[0] - 2


def test_request_limit_exceeded_stops_with_the_reason(org) -> None:
    faults(org, exhaust_budget=True)
    c = client_for(org)
    with pytest.raises(BudgetExhausted, match="REQUEST_LIMIT_EXCEEDED"):
        c.count("SELECT COUNT() FROM LoginHistory")
    with pytest.raises(BudgetExhausted):  # and nothing more is attempted
        c.count("SELECT COUNT() FROM User")


def test_malformed_query_is_not_retried(org) -> None:
    c = client_for(org)
    with pytest.raises(SalesforceCallError) as exc:
        c.count("SELECT COUNT() FROM LoginHistory WHERE Status = 'Success'")
    assert exc.value.code == "INVALID_FIELD"
    assert c.calls == 1


def test_download_checks_the_length(org, tmp_path: Path) -> None:
    row = (
        org.db().execute("SELECT Id, LogFileLength FROM EventLogFile ORDER BY CreatedDate LIMIT 1").fetchone()
    )
    faults(org, truncate_rate=0.5)
    c = client_for(org, retries=10)
    url = f"/services/data/v62.0/sobjects/EventLogFile/{row[0]}/LogFile"
    size = c.download(url, tmp_path / "f.csv", expected_size=int(row[1]))
    assert size == int(row[1]) == (tmp_path / "f.csv").stat().st_size


# -- the governor ---------------------------------------------------------------------------------
def test_limit_info_parsing() -> None:
    readings = parse_limit_info("api-usage=120/15000; per-app-api-usage=17/250(appName=oauthwatch)")
    assert [(r.name, r.used, r.max) for r in readings] == [
        ("DailyApiRequests", 120, 15000),
        ("DailyApiRequests.oauthwatch", 17, 250),
    ]


def test_run_and_total_shares() -> None:
    gov = BudgetGovernor(run_share=0.1, total_share=0.5)
    gov.observe("api-usage=100/1000")
    for _ in range(100):
        gov.check()
        gov.charge()
    with pytest.raises(BudgetExhausted, match="run budget reached: 100 calls"):
        gov.check()
    org_wide = BudgetGovernor(run_share=0.1, total_share=0.5)
    org_wide.observe("api-usage=500/1000")
    with pytest.raises(BudgetExhausted, match=r"collect\.total_budget_share"):
        org_wide.check()
    assert org_wide.summary()["stopped"]


def test_bulk_query_streams_csv_files(org, tmp_path: Path) -> None:
    import csv

    c = client_for(org)
    files = list(
        c.bulk_query_csv("SELECT Id, LoginTime FROM LoginHistory", tmp_path, max_records=1000, poll=0.1)
    )
    ids = [row["Id"] for f in files for row in csv.DictReader(f.open())]
    truth = {r[0] for r in org.db().execute("SELECT Id FROM LoginHistory")}
    assert len(files) > 1
    assert len(ids) == len(set(ids))
    assert set(ids) <= truth
    assert len(ids) >= len(truth) - 2
