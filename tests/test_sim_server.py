"""The local org's REST, Bulk 2.0 and Metadata answers over HTTPS, read with simple-salesforce and
compared with what is in the org database and with real payloads (../shared/fixtures/external).
"""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import time
import tomllib
from datetime import UTC, datetime

import pytest
import requests
from simple_salesforce.exceptions import SalesforceError, SalesforceMalformedRequest, SalesforceRefusedRequest

pytest_plugins = ["tests.simorg"]

DT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
LH_FIELDS = "Id, UserId, LoginTime, LoginType, LoginSubType, Status, Application, SourceIp, LoginUrl, Browser"


def sf_datetime(ms: int) -> str:
    when = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+0000"


def error_code(exc: SalesforceError) -> tuple[int, str, str]:
    item = exc.content[0]  # type: ignore[index]
    return exc.status, item["errorCode"], item["message"]


def test_query_all_iter_returns_exactly_the_org_rows(local_org_session):
    org = local_org_session
    sf = org.sf()
    got = {r["Id"]: r for r in sf.query_all_iter(f"SELECT {LH_FIELDS} FROM LoginHistory")}
    rows = org.db().execute(f"SELECT {LH_FIELDS} FROM LoginHistory").fetchall()
    assert len(rows) > 2000  # more than one page
    assert len(got) == len(rows)
    names = [f.strip() for f in LH_FIELDS.split(",")]
    for row in rows:
        want = dict(zip(names, row, strict=True))
        want["LoginTime"] = sf_datetime(want["LoginTime"])
        rec = got[want["Id"]]
        assert {k: rec[k] for k in names} == want
        assert rec["attributes"] == {
            "type": "LoginHistory",
            "url": f"/services/data/v59.0/sobjects/LoginHistory/{want['Id']}",
        }


def test_paging_batch_size_header_and_locators(local_org_session):
    org = local_org_session
    tok = org.token()
    auth = {"Authorization": "Bearer " + tok["access_token"], "Sforce-Query-Options": "batchSize=500"}
    r = org.session.get(
        org.url + "/services/data/v62.0/query",
        params={"q": "SELECT Id FROM LoginHistory"},
        headers=auth,
        timeout=30,
    )
    body = r.json()
    total = org.db().execute("SELECT COUNT(*) FROM LoginHistory").fetchone()[0]
    assert (body["totalSize"], body["done"], len(body["records"])) == (total, False, 500)
    assert re.fullmatch(r"/services/data/v62\.0/query/[0-9A-Za-z]+-500", body["nextRecordsUrl"])
    seen = [x["Id"] for x in body["records"]]
    while not body["done"]:
        body = org.session.get(org.url + body["nextRecordsUrl"], headers=auth, timeout=30).json()
        seen += [x["Id"] for x in body["records"]]
    assert "nextRecordsUrl" not in body
    assert len(seen) == len(set(seen)) == total
    bad = org.session.get(org.url + "/services/data/v62.0/query/01gXXX-500", headers=auth, timeout=30)
    assert (bad.status_code, bad.json()[0]["errorCode"]) == (400, "INVALID_QUERY_LOCATOR")


@pytest.mark.parametrize(
    ("soql", "code", "message"),
    [
        (
            "SELECT Id FROM LoginHistory WHERE Status = 'Success'",
            "INVALID_FIELD",
            "field 'Status' can not be filtered in a query call",
        ),
        ("SELECT Foo FROM LoginHistory", "INVALID_FIELD", "No such column 'Foo' on entity 'LoginHistory'"),
        ("SELEC Id FROM LoginHistory", "MALFORMED_QUERY", "ERROR at Row:1:Column:"),
        ("SELECT Id FROM Widget", "INVALID_TYPE", "sObject type 'Widget' is not supported"),
    ],
)
def test_soql_errors_have_salesforces_shape(local_org_session, soql, code, message):
    sf = local_org_session.sf()
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query(soql)
    status, got_code, got_message = error_code(exc.value)
    assert (status, got_code) == (400, code)
    assert message in got_message


def test_http_level_errors(local_org_session, shared_dir):
    org = local_org_session
    auth = {"Authorization": "Bearer " + org.token()["access_token"]}
    base = org.url + "/services/data/v62.0"
    r = org.session.get(base + "/query", headers=auth, timeout=30)
    assert (r.status_code, r.json()) == (
        400,
        [{"message": "A query string has to be specified", "errorCode": "MALFORMED_QUERY"}],
    )
    r = org.session.get(base + "/nothing/here", headers=auth, timeout=30)
    assert (r.status_code, r.json()) == (
        404,
        [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}],
    )
    assert (
        org.session.get(org.url + "/services/data/v99.0/limits", headers=auth, timeout=30).status_code == 404
    )
    r = org.session.get(
        base + "/query",
        params={"q": "SELECT Id FROM User WHERE Id IN ('" + "a" * 17000 + "')"},
        headers=auth,
        timeout=30,
    )
    assert r.status_code == 414
    r = org.session.get(base + "/limits", headers={"Authorization": "Basic abc"}, timeout=30)
    assert (r.status_code, r.json()[0]["errorCode"]) == (401, "INVALID_AUTH_HEADER")
    # the real error payload (elastic fixture) has the same shape: a list of {message, errorCode}
    real = shared_dir / "fixtures/external/elastic-integrations-salesforce/deploy-config-extracts"
    real_error = json.loads((real / "soql_error_http500_query_timeout.json").read_text())
    assert [set(e) for e in real_error] == [set(e) for e in r.json()]


def test_payloads_agree_with_real_ones(local_org_session, shared_dir):
    org = local_org_session
    sf = org.sf()
    rapid7 = json.loads(
        (
            shared_dir / "fixtures/external/rapid7-insightconnect-salesforce/get_login_history.json.resp"
        ).read_text()
    )
    fields = [k for k in rapid7["records"][0] if k not in ("attributes", "dataType")]
    ours = sf.query(
        f"SELECT {', '.join(fields)} FROM LoginHistory WHERE LoginType = 'Remote Access 2.0' LIMIT 5"
    )
    assert set(ours) == set(rapid7)
    assert ours["records"]
    for real, mine in zip(rapid7["records"], ours["records"], strict=False):
        assert set(mine) == set(real) - {"dataType"}
        for key in fields:
            assert type(mine[key]) is type(real[key]), key
        assert DT.match(mine["LoginTime"])
        assert DT.match(real["LoginTime"])
    elastic = shared_dir / "fixtures/external/elastic-integrations-salesforce/deploy-config-extracts"
    empty = json.loads((elastic / "soql_empty_result.json").read_text())
    assert sf.query("SELECT Id FROM LoginHistory WHERE LoginTime > 2099-01-01T00:00:00Z") == empty
    page = json.loads((elastic / "loginevent_query_v59_page1_nextRecordsUrl.json").read_text())
    mine = sf.query("SELECT Id FROM LoginHistory")
    assert list(mine) == list(page)  # totalSize, done, nextRecordsUrl, records: same keys, same order
    versions = json.loads(
        (shared_dir / "fixtures/external/rapid7-insightconnect-salesforce/get_version.json.resp").read_text()
    )
    listed = org.session.get(org.url + "/services/data/", timeout=30)
    assert "Sforce-Limit-Info" not in listed.headers
    assert listed.json()[: len(versions)] == versions


def test_limit_info_limits_and_budget(make_local_org):
    org = make_local_org("--api-limit", "6")
    sf = org.sf()
    sf.query("SELECT Id FROM User LIMIT 1")
    assert sf.api_usage["api-usage"].used == 1
    assert sf.api_usage["api-usage"].total == 6
    lim = sf.limits()
    assert lim["DailyApiRequests"]["Max"] == 6
    assert lim["DailyApiRequests"]["Remaining"] == 4
    assert lim["DailyApiRequests"][org.creds["app_label"]] == {"Max": 6, "Remaining": 4}
    assert all(set(v) >= {"Max", "Remaining"} for v in lim.values())
    for _ in range(4):
        sf.query("SELECT Id FROM User LIMIT 1")
    with pytest.raises(SalesforceRefusedRequest) as exc:
        sf.query("SELECT Id FROM User LIMIT 1")
    assert error_code(exc.value) == (403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    state = json.loads(org.db().execute("SELECT Value FROM _State WHERE Key = 'api_usage'").fetchone()[0])
    assert state["total"] == 6


def test_describe_and_sobjects(local_org_session):
    sf = local_org_session.sf()
    names = {o["name"] for o in sf.describe()["sobjects"]}
    assert {"LoginHistory", "OauthToken", "EventLogFile", "ConnectedApplication"} <= names
    assert "LoginEvent" not in names  # not licensed
    fields = {f["name"]: f for f in sf.LoginHistory.describe()["fields"]}
    assert fields["Status"]["filterable"] is False
    assert fields["LoginTime"]["type"] == "datetime"
    assert fields["LoginGeoId"]["relationshipName"] == "LoginGeo"


def test_bulk2_query_returns_the_org_rows_as_csv(local_org_session):
    org = local_org_session
    sf = org.sf()
    pages = list(
        sf.bulk2.LoginHistory.query(
            "SELECT Id, LoginTime, LoginGeo.Country FROM LoginHistory", max_records=1000, wait=0.1
        )
    )
    rows = [r for page in pages for r in csv.DictReader(io.StringIO(page))]
    db = (
        org.db()
        .execute(
            "SELECT lh.Id, lh.LoginTime, g.Country FROM LoginHistory lh LEFT JOIN LoginGeo g ON g.Id = lh.LoginGeoId"
        )
        .fetchall()
    )
    assert len(pages) == -(-len(db) // 1000)
    assert {r["Id"]: (r["LoginTime"], r["LoginGeo.Country"]) for r in rows} == {
        i: (sf_datetime(t).replace("+0000", "Z"), c or "") for i, t, c in db
    }
    with pytest.raises(SalesforceError):
        next(
            sf.bulk2.LoginHistory.query(
                "SELECT UserId, COUNT(Id) FROM LoginHistory GROUP BY UserId", wait=0.1
            )
        )


def test_metadata_api_reads_connected_apps_without_secrets(local_org_session):
    org = local_org_session
    sf = org.sf()
    md = sf.mdapi
    md._client.transport.session.verify = org.creds["ca_bundle"]
    md._client.transport.session.trust_env = False
    listed = md.list_metadata([md.ListMetadataQuery(type="ConnectedApp")])
    apps = {r.fullName: r for r in listed}
    conn = org.db()
    want = dict(
        conn.execute("SELECT FullName, AppId FROM _AppConfig WHERE Model = 'ConnectedApp'").fetchall()
    )
    assert {k: v.id for k, v in apps.items()} == want
    name = conn.execute("SELECT FullName FROM _AppConfig WHERE Kind = 'oauthwatch'").fetchone()[0]
    app = md.ConnectedApp.read([name])
    assert app.oauthConfig.consumerKey == org.creds["consumer_key"]
    assert app.oauthConfig.consumerSecret is None
    assert app.oauthConfig.scopes == ["Api", "RefreshToken"]
    assert app.oauthPolicy.ipRelaxation == "ENFORCE"
    assert app.oauthConfig.certificate.startswith("-----BEGIN CERTIFICATE-----")


def test_event_log_file_download_matches_its_field_names(local_org_session):
    org = local_org_session
    sf = org.sf()
    recs = sf.query(
        "SELECT Id, LogFile, LogFileFieldNames FROM EventLogFile WHERE EventType = 'Login' LIMIT 1"
    )["records"]
    assert recs
    r = org.session.get(
        org.url + recs[0]["LogFile"], headers={"Authorization": "Bearer " + sf.session_id}, timeout=30
    )
    assert r.status_code == 200
    assert "Sforce-Limit-Info" in r.headers
    header = next(csv.reader(io.StringIO(r.text)))
    assert header == recs[0]["LogFileFieldNames"].split(",")
    missing = org.session.get(
        org.url + "/services/data/v62.0/sobjects/EventLogFile/0AT000000000000AAA/LogFile",
        headers={"Authorization": "Bearer " + sf.session_id},
        timeout=30,
    )
    assert missing.status_code == 404


def test_credentials_config_restart_and_clean_stop(make_local_org):
    from oauthwatch.config import load_settings

    org = make_local_org()
    state = org.state_dir
    settings = load_settings(state / "oauthwatch.toml")
    local = settings.org("local")
    assert (local.login_url, local.flow, local.client_id, local.username) == (
        org.url,
        "jwt",
        org.creds["consumer_key"],
        org.creds["jwt_username"],
    )
    assert local.client_secret().get_secret_value() == org.creds["client_secret"]
    assert str(local.private_key_file) == org.creds["private_key_file"]
    assert settings.store.url == f"sqlite:///{(state / 'oauthwatch.db').resolve()}"
    text = (state / "oauthwatch.toml").read_text()
    assert org.creds["client_secret"] not in text
    tomllib.loads(text)
    ca = (state / "ca.pem").read_bytes()
    org.proc.send_signal(signal.SIGINT)
    assert org.proc.wait(timeout=15) == 0
    assert not (state / "credentials.json").exists()
    from tests.simorg import start_org

    restarted = start_org(state)
    try:
        assert (state / "ca.pem").read_bytes() == ca  # the CA is reused, clients keep trusting it
        assert restarted.session.get(restarted.url + "/services/data/", timeout=30).status_code == 200
    finally:
        restarted.stop()
    assert restarted.proc.returncode == 0


def test_admin_endpoints_need_the_token_and_report_health(local_org_session):
    org = local_org_session
    assert org.session.get(org.creds["admin_url"] + "/health", timeout=30).status_code == 401
    health = org.admin("health").json()
    assert health["status"] == "ok"
    assert (
        health["rows"]["LoginHistory"] == org.db().execute("SELECT COUNT(*) FROM LoginHistory").fetchone()[0]
    )
    bad = org.admin("faults", {"profile": "nope"})
    assert bad.status_code == 400


def _outcomes(org, n: int) -> list[str]:
    auth = {"Authorization": "Bearer " + org.token()["access_token"]}
    out = []
    for _ in range(n):
        try:
            r = org.session.get(
                org.url + "/services/data/v62.0/query",
                params={"q": "SELECT Id FROM User"},
                headers=auth,
                timeout=30,
            )
            r.json()
            out.append(str(r.status_code))
        except requests.exceptions.JSONDecodeError:
            out.append("truncated")
        except requests.exceptions.RequestException:
            out.append("dropped")
    return out


def test_transport_faults_are_reproducible(local_org):
    org = local_org
    spec = {"profile": "none", "seed": 11, "error_rate": 0.25, "drop_rate": 0.15, "truncate_rate": 0.15}
    assert org.admin("faults", spec).status_code == 200
    first = _outcomes(org, 30)
    assert {"503", "dropped", "truncated", "200"} <= set(first)
    assert org.admin("faults", spec).status_code == 200  # same seed, same stream
    assert _outcomes(org, 30) == first
    org.admin("faults", {})
    assert set(_outcomes(org, 5)) == {"200"}


def test_session_expiry_locator_expiry_and_timeouts(local_org):
    org = local_org
    sf = org.sf()
    org.admin("faults", {"expire_session_after": 2})
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] > 0
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] > 0
    with pytest.raises(SalesforceError) as exc:
        sf.query("SELECT COUNT() FROM User")
    assert error_code(exc.value)[:2] == (401, "INVALID_SESSION_ID")
    # mid-paging: the token dies after a page that has a next page
    org.admin("faults", {"expire_mid_paging_rate": 1.0})
    sf = org.sf()
    first = sf.query("SELECT Id FROM LoginHistory")
    assert not first["done"]
    with pytest.raises(SalesforceError) as exc:
        sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert error_code(exc.value)[:2] == (401, "INVALID_SESSION_ID")
    org.admin("faults", {"locator_expiry_rate": 1.0})
    sf = org.sf()
    first = sf.query("SELECT Id FROM LoginHistory")
    with pytest.raises(SalesforceError) as exc:
        sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert error_code(exc.value)[:2] == (400, "INVALID_QUERY_LOCATOR")
    org.admin("faults", {"query_timeout_rate": 1.0})
    with pytest.raises(SalesforceError) as exc:
        sf.query("SELECT Id FROM LoginHistory")
    assert error_code(exc.value) == (400, "QUERY_TIMEOUT", "Your query request was running for too long.")
    org.admin("faults", {"exhaust_budget": True})
    with pytest.raises(SalesforceRefusedRequest):
        sf.query("SELECT Id FROM User")
    assert org.admin("health").json()["faults"]["injected"]["exhaust_budget"] == 1


def test_scenario_injection_through_admin(local_org):
    org = local_org
    before = org.db().execute("SELECT COUNT(*) FROM LoginHistory").fetchone()[0]
    r = org.admin("scenario", {"name": "spray", "params": {"at": "-2h"}})
    assert r.status_code == 200, r.text
    assert r.json()["result"]["status"] == "applied"
    assert org.db().execute("SELECT COUNT(*) FROM LoginHistory").fetchone()[0] > before
    assert org.admin("scenario", {"name": "nope"}).status_code == 404


def test_live_scenario_and_licensed_flags(tmp_path):
    from tests.simorg import start_org

    org = start_org(tmp_path / "lic", "--licensed", "--live", "--scenario", "spray@-3h")
    try:
        sf = org.sf()
        assert (
            sf.query("SELECT EventIdentifier FROM LoginEvent LIMIT 1")["totalSize"] > 0
        )  # Event Monitoring objects exist (a big object: no COUNT())
        truth = [json.loads(line) for line in (org.state_dir / "ground_truth.jsonl").read_text().splitlines()]
        assert [t["scenario"] for t in truth] == ["spray"]
        db = org.db()
        cursor = int(db.execute("SELECT Value FROM _State WHERE Key = 'live_cursor'").fetchone()[0])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            now = int(db.execute("SELECT Value FROM _State WHERE Key = 'live_cursor'").fetchone()[0])
            if now > cursor:
                break
            time.sleep(0.5)
        assert now > cursor  # the live ticker moves the org forward while the server runs
    finally:
        org.stop()


def test_fault_profile_from_the_command_line(make_local_org):
    org = make_local_org("--faults", "slow", "--fault-seed", "3")
    tok = org.token()  # OAuth is not slowed: faults apply to the REST API
    # Counted by the local org, not timed: a loaded machine can make any request take 0.5 s.
    assert org.admin("health").json()["faults"]["injected"].get("slow", 0) == 0
    t0 = time.monotonic()
    r = org.session.get(
        org.url + "/services/data/v62.0/limits/",
        headers={"Authorization": "Bearer " + tok["access_token"]},
        timeout=30,
    )
    assert r.status_code == 200
    assert time.monotonic() - t0 >= 0.5  # a lower bound: load can only lengthen it
    faults = org.admin("health").json()["faults"]
    assert faults["profile"]["name"] == "slow"
    assert faults["injected"]["slow"] == 1


def test_concurrent_clients_and_retried_pages(local_org_session):
    from concurrent.futures import ThreadPoolExecutor

    org = local_org_session
    clients = [org.sf() for _ in range(3)]  # each token request adds a LoginHistory row: count after
    total = org.db().execute("SELECT COUNT(*) FROM LoginHistory").fetchone()[0]

    def read_all(sf) -> list[str]:
        return [r["Id"] for r in sf.query_all_iter("SELECT Id FROM LoginHistory")]

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(read_all, clients))
    assert all(len(ids) == len(set(ids)) == total for ids in results)
    auth = {"Authorization": "Bearer " + org.token()["access_token"]}
    first = org.session.get(
        org.url + "/services/data/v62.0/query",
        params={"q": "SELECT Id FROM LoginHistory"},
        headers=auth,
        timeout=30,
    ).json()
    second = org.session.get(org.url + first["nextRecordsUrl"], headers=auth, timeout=30).json()
    again = org.session.get(org.url + first["nextRecordsUrl"], headers=auth, timeout=30).json()
    assert again == second  # a client that lost a page may ask for it again


def test_bulk2_wire_details(local_org_session):
    org = local_org_session
    auth = {"Authorization": "Bearer " + org.token()["access_token"]}
    jobs = org.url + "/services/data/v62.0/jobs/query"
    job = org.session.post(
        jobs, json={"operation": "query", "query": "SELECT Id FROM User"}, headers=auth, timeout=30
    ).json()
    assert set(job) >= {
        "id",
        "operation",
        "object",
        "createdById",
        "createdDate",
        "state",
        "apiVersion",
        "lineEnding",
        "columnDelimiter",
    }
    assert job["id"].startswith("750")
    assert job["object"] == "User"
    deadline = time.monotonic() + 20
    while org.session.get(f"{jobs}/{job['id']}", headers=auth, timeout=30).json()["state"] != "JobComplete":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    users = org.db().execute('SELECT COUNT(*) FROM "User"').fetchone()[0]
    r = org.session.get(f"{jobs}/{job['id']}/results", params={"maxRecords": 7}, headers=auth, timeout=30)
    assert r.headers["Sforce-NumberOfRecords"] == "7"
    assert r.headers["Sforce-Locator"] == "Nw"  # base64("7") without padding, as Salesforce's are
    assert r.text.splitlines()[0] == '"Id"'
    assert len(r.text.splitlines()) == 8
    r = org.session.get(
        f"{jobs}/{job['id']}/results",
        params={"maxRecords": 10_000, "locator": "Nw"},
        headers=auth,
        timeout=30,
    )
    assert (r.headers["Sforce-Locator"], int(r.headers["Sforce-NumberOfRecords"])) == ("null", users - 7)
    refused = org.session.post(
        jobs,
        json={"operation": "query", "query": "SELECT FIELDS(ALL) FROM User LIMIT 10"},
        headers=auth,
        timeout=30,
    )
    assert refused.status_code == 400
    missing = org.session.get(f"{jobs}/750000000000000AAA", headers=auth, timeout=30)
    assert (missing.status_code, missing.json()[0]["errorCode"]) == (404, "NOT_FOUND")


def test_metadata_api_refuses_a_bad_session(local_org_session):
    from simple_salesforce import Salesforce
    from zeep.exceptions import Fault

    org = local_org_session
    sf = Salesforce(instance_url=org.url, session_id="00Dbogus!AQnope", session=org.session)
    md = sf.mdapi
    md._client.transport.session.verify = org.creds["ca_bundle"]
    md._client.transport.session.trust_env = False
    with pytest.raises(Fault) as exc:
        md.list_metadata([md.ListMetadataQuery(type="ConnectedApp")])
    assert exc.value.code == "sf:INVALID_SESSION_ID"


def test_query_all_and_the_version_root(local_org_session):
    org = local_org_session
    auth = {"Authorization": "Bearer " + org.token()["access_token"]}
    base = org.url + "/services/data/v62.0"
    body = org.session.get(
        base + "/queryAll/", params={"q": "SELECT Id FROM LoginHistory"}, headers=auth, timeout=30
    ).json()
    seen = len(body["records"])
    while not body["done"]:
        nxt = body["nextRecordsUrl"].replace("/query/", "/queryAll/")  # both spellings page the same locator
        body = org.session.get(org.url + nxt, headers=auth, timeout=30).json()
        seen += len(body["records"])
    assert seen == body["totalSize"]
    root = org.session.get(base + "/", headers=auth, timeout=30)
    assert root.json()["query"] == "/services/data/v62.0/query"
    assert root.headers["Sforce-Limit-Info"].startswith("api-usage=")
    nobody = org.session.get(
        org.url + "/services/oauth2/userinfo", headers={"Authorization": "Bearer nope"}, timeout=30
    )
    assert (nobody.status_code, nobody.json()[0]["errorCode"]) == (401, "INVALID_SESSION_ID")
