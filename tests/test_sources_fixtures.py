"""Real payloads from public projects (../shared/fixtures/external/) ingest correctly.

Each guards a shape the local org might not reproduce: LoginHistory records without ``Id`` (the
Id lives only in ``attributes.url``), ELF CSVs whose header lacks LOGIN_TYPE, LoginEvent records
with ``N/A`` placeholders and nulls, datetimes as ``+0000`` and as ``Z``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from collectors.sources import elf_csv
from collectors.sources.event_log_files import store_file_rows
from collectors.sources.login_events import LoginEventStream
from collectors.sources.login_history import LoginHistorySource, login_row
from collectors.sources.setup_audit_trail import SetupAuditTrailSource
from collectors.sources.values import parse_dt, record_id
from oauthwatch.store import schema
from oauthwatch.store.writes import ensure_org

ELASTIC = "fixtures/external/elastic-integrations-salesforce"


def ctx(org: str = "acme") -> SimpleNamespace:
    return SimpleNamespace(org=org, run_start=datetime(2026, 11, 29, tzinfo=UTC))


def test_login_history_page_without_ids(shared_dir: Path) -> None:
    body = json.loads(
        (
            shared_dir / "fixtures/external/rapid7-insightconnect-salesforce/get_login_history.json.resp"
        ).read_text()
    )
    rows = [LoginHistorySource().to_row(ctx(), r) for r in body["records"]]  # type: ignore[arg-type]
    assert [r["natural_id"] for r in rows] == ["0YaHn0000EUyGdHKQV", "0YaHn0000EUyGkcKQF"]
    first = rows[0]
    assert first["login_time"] == datetime(2023, 7, 23, 16, 18, 23, tzinfo=UTC)
    assert (first["login_type"], first["application"], first["success"]) == (
        "Remote Access 2.0",
        "New Connected App",
        True,
    )
    assert rows[1]["browser"] == "Chrome 115"


def test_loginevent_records(shared_dir: Path) -> None:
    base = shared_dir / ELASTIC / "deploy-config-extracts"
    full = json.loads((base / "loginevent_query_v56_full_record.json").read_text())["records"][0]
    row = LoginEventStream().to_row(ctx(), full)  # type: ignore[arg-type]
    assert row is not None
    assert row["natural_id"] == "f8c0ee8b-23a0-4c38-9c15-b054291d9a8b"
    assert row["login_time"] == datetime(2024, 6, 5, 5, 41, 17, 937000, tzinfo=UTC)
    assert (row["country"], row["latitude"], row["login_subtype"]) == (
        "India",
        21.9974,
        "OAuth Username-Password",
    )
    assert row["api_type"] is None  # "N/A" means none
    pages = [
        json.loads((base / f).read_text())
        for f in ("loginevent_query_v59_page1_nextRecordsUrl.json", "loginevent_query_v59_page2_done.json")
    ]
    ids = [LoginEventStream().to_row(ctx(), r)["natural_id"] for p in pages for r in p["records"]]  # type: ignore[index,arg-type]
    assert ids == ["c3d4e5f6-pagination-login-event-page-1", "c3d4e5f6-pagination-login-event-page-2"]
    # the connector's log lines hold the same records with "Z" times
    for line in (shared_dir / ELASTIC / "login/test-login-object.log").read_text().splitlines():
        rec = json.loads(line)
        r = LoginEventStream().to_row(ctx(), rec)  # type: ignore[arg-type]
        assert r is not None
        assert r["login_time"] == parse_dt(rec["EventDate"])


def test_elf_login_csv(shared_dir: Path, sqlite_store) -> None:
    path = shared_dir / ELASTIC / "deploy-config-extracts/EventLogFile_0AT5j00002GVrfnGAD_LogFile_Login.csv"
    bad: list[str] = []
    with sqlite_store.begin() as conn:
        ensure_org(conn, "acme")
        read, stored = store_file_rows(
            "acme",
            conn,
            file_id="0AT5j00002GVrfnGAD",
            event_type="Login",
            path=path,
            quarantine=lambda _c, why, _raw, _nid: bad.append(why),
        )
    assert (read, stored, bad) == (1, 1, [])
    with sqlite_store.connect() as conn:
        row = conn.execute(select(schema.logins)).mappings().one()
    assert row["natural_id"] == "4ehU_U-nbQyAPFl1cJILm-"
    assert row["login_time"] == datetime(2022, 11, 22, 4, 46, 15, 591000, tzinfo=UTC)  # TIMESTAMP_DERIVED
    assert (row["user_id"], row["username"], row["source_ip"]) == (
        "0055j000000utlPAAQ",
        "user@elastic.co",
        "81.2.69.142",
    )
    # the real file says "TLSv1.2": stored in LoginHistory's form, so every source agrees
    assert (row["status"], row["success"], row["tls_protocol"]) == ("Success", True, "TLS 1.2")


def test_elf_logout_and_other_types_are_refused_by_the_login_parser(shared_dir: Path) -> None:
    base = shared_dir / ELASTIC / "deploy-config-extracts"
    for name in (
        "EventLogFile_0AT5j00002GWEsRGAX_LogFile_Logout.csv",
        "EventLogFile_0AT5j00002GWEsRGAY_LogFile_ApexCallout.csv",
    ):
        _header, rows = elf_csv.read_csv(base / name)
        for line, row in rows:
            with pytest.raises(Exception, match="not a Login event"):
                elf_csv.login_row("acme", row, line=line)


def test_elf_timestamp_without_derived(shared_dir: Path) -> None:
    _h, rows = elf_csv.read_csv(
        shared_dir / ELASTIC / "deploy-config-extracts/EventLogFile_0AT5j00002GVrfnGAD_LogFile_Login.csv"
    )
    _line, row = next(rows)
    row.pop("TIMESTAMP_DERIVED")
    assert elf_csv.event_time(row) == datetime(2022, 11, 22, 4, 46, 15, 591000, tzinfo=UTC)


def test_eventlogfile_query_bodies(shared_dir: Path) -> None:
    body = json.loads(
        (shared_dir / ELASTIC / "deploy-config-extracts/eventlogfile_query_login_hourly_v56.json").read_text()
    )
    rec = body["records"][0]
    assert record_id(rec) == "0AT5j00002GVrfnGAD"
    assert parse_dt(rec["CreatedDate"]) == datetime(2022, 9, 14, 21, 43, 41, tzinfo=UTC)
    assert rec["LogFile"].endswith("/0AT5j00002GVrfnGAD/LogFile")


def test_setup_audit_trail_record(shared_dir: Path) -> None:
    body = json.loads(
        (shared_dir / ELASTIC / "deploy-config-extracts/setupaudittrail_query_v56.json").read_text()
    )
    row = SetupAuditTrailSource().to_row(ctx(), body["records"][0])  # type: ignore[arg-type]
    assert row is not None
    assert (row["event_id"], row["section"], row["action"]) == (
        "0Ym5j000019nwonCAA",
        "Connected Apps",
        "insertConnectedApplication",
    )
    assert row["created_by"] == "0055j000000utlPAAQ"


def test_login_row_rejects_what_cannot_be_stored() -> None:
    from collectors.sources.values import Malformed

    with pytest.raises(Malformed, match="no LoginTime"):
        login_row("acme", "login_history", "0Ya1", {"Status": "Success"})
    with pytest.raises(Malformed, match="not a datetime"):
        login_row("acme", "login_history", "0Ya1", {"LoginTime": "yesterday"})


def test_azure_sentinel_elf_rows(shared_dir: Path) -> None:
    """37 ELF rows of many types with lower-cased keys, one of them a stray header row: only the
    Login row becomes a login; everything else is refused with a reason (and would be quarantined)."""
    from collectors.sources.values import Malformed

    rows = json.loads(
        (
            shared_dir / "fixtures/external/azure-sentinel-salesforce/SalesforceServiceCloud_CL.json"
        ).read_text()
    )
    made, refused = [], []
    for i, raw in enumerate(rows):
        row = {k.upper(): v for k, v in raw.items()}
        try:
            made.append(elf_csv.login_row("acme", row, file_id="f", line=i))
        except Malformed as exc:
            refused.append(str(exc))
    assert len(made) == 1
    login = made[0]
    assert login["natural_id"] == "4Ytkf2fEw5GaH40fHw22i-"
    assert login["login_time"] == datetime(2020, 10, 16, 10, 0, 2, 529000, tzinfo=UTC)
    assert (login["source_ip"], login["success"], login["user_id"]) == (
        "Salesforce.com IP",
        True,
        "0050O000003RJycQAG",
    )
    assert len(refused) == 36
    assert any("'EVENT_TYPE'" in r for r in refused)  # the stray header row
