"""``import-csv``'s fast converters store exactly what the declared row mapping stores.

Two levels, on the external fixtures (an ELF Login file; ELF Login rows and LoginHistory records
from public integrations, written out as the CSV files Salesforce gives) and on generated files
full of edge cases:

- record by record, a fast converter either refuses the record or gives the declared mapping's
  tuple (the ingestion time aside), and it takes the ordinary records;
- file by file, on SQLite and PostgreSQL, an import with the fast converters and one with the
  declared mapping alone leave the same logins, counts, quarantine and rollups.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from collectors.fastpath.import_converters import (
    api_export_converter,
    elf_api_converter,
    elf_login_converter,
    setup_download_converter,
)
from collectors.fastpath.stage import stage_tuples
from collectors.imports.csv_rows import CsvFile
from collectors.imports.importer import _mapping, detect_kind, import_csv
from collectors.imports.setup_download import SetupRows, parse_ui_time
from collectors.imports.writer import API_COLUMNS
from collectors.sources import elf_csv
from collectors.sources.login_history import LOGIN_COLUMNS, login_row
from collectors.sources.values import Malformed
from oauthwatch.store import schema
from oauthwatch.time_bounds import OutOfRange, check_in_range
from tests.import_files import API_HEADER, api_file, dl_file, elf_login_file, ui_file, write

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
EXTERNAL = "fixtures/external"
UI_EDGE = (
    "Username,Login Time,Source IP,Login Type,Status,Browser,Platform,Application,Location,Login Subtype,"
    "TLS Protocol,Cipher Suite,Country Code,City\n"
    "ann@example.com,11/29/2026 9:05 AM,192.0.2.10,Remote Access 2.0,Success,Unknown,Unknown,Data Loader,"
    '"Paris, France",OAuth Username-Password,TLS 1.3,TLS_AES_256_GCM_SHA384,FR,Paris,005000000000001AAA\n'
    "ann@example.com,11/29/2026 9:05 AM,192.0.2.10,Remote Access 2.0,Success,Unknown,Unknown,Data Loader,"
    '"Paris, France",OAuth Username-Password,TLS 1.3,TLS_AES_256_GCM_SHA384,FR,Paris,005000000000001AAA\n'
    "  bob@example.com  ,11/29/2026 1:30 PM GMT, 198.51.100.7 ,Application,Invalid Password,Chrome 131,"
    "Windows,Browser,,,,,,\n"
    "carl@example.com,yesterday-ish,198.51.100.8,Application,Success,Chrome 131,Windows,Browser,,,,,,\n"
    "dan@example.com,,198.51.100.9,Application,Success,Chrome 131,Windows,Browser,,,,,,\n"
    "eve@example.com,01/01/0001 1:00 AM,198.51.100.9,Application,Success,Chrome 131,Windows,Browser,,,,,,\n"
    "fay@example.com,2026-11-29 10:00:30,198.51.100.10,Remote Access 2.0,SUCCESS ,Unknown,Unknown,"
    + "A"
    * 300
    + ",Lyon,,,,,\n"
    "gus@example.com,11/29/2026 11:00 AM,198.51.100.11\n"
    "hal@example.com,11/29/2026 11:01 AM,198.51.100.12,Remote Access 2.0,Success,Unknown,Unknown,"
    "Bad\x00App,,,,,,\n"
    "ivy@example.com,13/29/2026 11:01 AM,198.51.100.13,Remote Access 2.0,Success,Unknown,Unknown,X,,,,,,\n"
    "jon@example.com,29/11/2026 11:02,198.51.100.14,Remote Access 2.0,Success,Unknown,Unknown,X,,,,,,\n"
)
ELF_EDGE_HEADER = [
    "EVENT_TYPE", "TIMESTAMP", "REQUEST_ID", "USER_ID", "USER_NAME", "TIMESTAMP_DERIVED", "USER_ID_DERIVED",
    "CLIENT_IP", "LOGIN_STATUS", "REQUEST_STATUS", "SOURCE_IP", "LOGIN_TYPE", "LOGIN_SUB_TYPE", "API_TYPE",
    "TLS_PROTOCOL", "CONNECTED_APP_NAME", "BROWSER_TYPE", "API_VERSION",
]  # fmt: skip
ELF_EDGE_ROWS = [
    ["Login", "20261129080000.000", "R1", "005000000000001", "a@x.com", "2026-11-29T08:00:00.000Z", "", "192.0.2.1",
     "LOGIN_NO_ERROR", "", "", "i", "OAuthPassword", "", "TLSv1.2", "Data Loader", "Unknown", "62.0"],
    ["Login", "20261129080001.000", "", "005000000000001", "a@x.com", "2026-11-29T08:00:01.000Z", "", "192.0.2.1",
     "", "Success", "192.0.2.2", "6", "oauthcode", "P", "1.3", "", "Chrome", ""],
    ["Login", "20261129080002.500", "R3", "", "b@x.com", "", "", "", "LOGIN_ERROR_INVALID_PASSWORD", "", "192.0.2.3",
     "A", "", "E", "", "", "", ""],
    ["Login", "20261129080003.000", "R4", "", "c@x.com", "2026-11-29T08:00:03.000+0000", "", "", "WEIRD_CODE", "",
     "192.0.2.4", "Z", "uiup", "", "", "", "", ""],
    ["Login", "99991129080003.000", "R5", "", "c@x.com", "9999-11-29T08:00:03.000Z", "", "", "", "", "", "", "",
     "", "", "", "", ""],
    ["Logout", "20261129080004.000", "R6", "", "c@x.com", "2026-11-29T08:00:04.000Z", "", "", "", "", "", "", "",
     "", "", "", "", ""],
    ["Login", "20261129080005.000", "R7", "005000000000002"],
    ["", "20261129080006.000", "R8" + "x" * 80, "005000000000002", "d" * 300, "2026-11-29T08:00:06.123Z",
     "005000000000002AAA", "192.0.2.9", "LOGIN_NO_ERROR", "", "", "i", "", "", "", "Bad\x00App", "", ""],
    ["Login", "20261129080007.000", "R9", "", "e@x.com", "2026-13-29T08:00:07.000Z", "", "", "", "", "", "", "",
     "", "", "", "", ""],
    ["Login", "20261129080008.000", "R10", "", "f@x.com", "1650-11-29T08:00:08.000Z", "", "", "", "", "", "", "",
     "", "", "", "", ""],
]  # fmt: skip


# A Data Loader / Workbench export (API names, any case): padded values, a repeated column, geography
# with and without LoginGeo columns, times the fast path leaves to the declared mapping.
DL_EDGE_HEADER = ["Id", "UserId", "LoginTime", "LoginType", "SourceIp", "Status", "Application", "CountryIso",
                  "LoginGeo.Country", "LoginGeo.City", "LoginGeo.Latitude", "LoginGeo.Longitude", "LoginGeoId",
                  "Application", "Browser", "LoginGeo.CountryIso"]  # fmt: skip
DL_EDGE_ROWS = [
    ["0Ya000000000000001", "005000000000001AAA", "2026-11-29T08:00:00.000Z", "Remote Access 2.0", "192.0.2.1",
     " Success ", "ignored", "", "France", "Paris", "48.85", "2.35", "0LG000000000000001", " Data Loader ", "", "FR"],
    ["  0Ya000000000000002  ", "", "2026-11-29T08:00:01.500Z", "", "", "Invalid Password", "", "FR", "", "", "",
     "", "", "", "Chrome", "DE"],
    ["0Ya000000000000003", "", "2026-11-29T08:00:02.000+0000", "", "", "Success", "", "", "", "", "", "", "", "", "", ""],
    ["", "", "2026-11-29T08:00:03.000Z", "", "", "Success", "", "", "", "", "", "", "", "", "", ""],
    ["0Ya000000000000005", "", "", "", "", "Success", "", "", "", "", "", "", "", "", "", ""],
    ["0Ya000000000000006", "", "1650-11-29T08:00:06.000Z", "", "", "Success", "", "", "", "", "", "", "", "", "", ""],
    ["0Ya000000000000007", "", "2026-13-29T08:00:07.000Z", "", "", "Success", "", "", "", "", "", "", "", "", "", ""],
    ["0Ya000000000000008", "", "2026-11-29T08:00:08.000Z", "", "", "Success", "", "", "", "", "north", "", "",
     "", "", ""],
    ["0Ya000000000000009", "", "2026-11-29T08:00:09.000Z"],
    ["0Ya" + "9" * 80, "0" * 30, "2026-11-29T08:00:10.000Z", "T" * 70, "192.0.2.10", "S" * 300, "", "FRA1",
     "C" * 90, "", "1e2", "-0", "G" * 20, "A" * 300, "", "ESP"],
]  # fmt: skip
# ApiTotalUsage rows the fast path takes (a USER_ID_DERIVED over USER_ID, long values) or leaves.
API_EDGE_HEADER = [*API_HEADER, "USER_ID_DERIVED"]
_API_OK = ["ApiTotalUsage", "20261129080000.000", "Q1", "00D000000000001", "005000000000001", "a@x.com", "REST", "62.0",
           "/services/data/v62.0/query", "GET", "200", "Account", "", "192.0.2.1", "0H4000000000001", "App", "true",
           "2026-11-29T08:00:00.000Z", "005000000000002"]  # fmt: skip
API_EDGE_ROWS = [
    _API_OK,
    [
        "",
        *_API_OK[1:3],
        "",
        "",
        "",
        "F" * 30,
        "",
        "R" * 300,
        "M" * 20,
        "2000000000",
        "E" * 300,
        "C" * 300,
        "I" * 80,
        "0H4" + "9" * 20,
        "N" * 300,
        "",
        "2026-11-29T08:00:01.123Z",
        "",
    ],
    [_API_OK[0], _API_OK[1], "Q3", *_API_OK[3:17], "2026-11-29T08:00:02.000+0000", ""],
    [_API_OK[0], "20261129080003.000", "Q4", *_API_OK[3:17], "", ""],
    [_API_OK[0], _API_OK[1], "", *_API_OK[3:]],
    ["Login", *_API_OK[1:]],
    [*_API_OK[:17], "1650-11-29T08:00:00.000Z", ""],
    [*_API_OK[:17], "2026-02-30T08:00:00.000Z", ""],
    _API_OK[:5],
]
DL_NO_GEO = "ID,USERID,LOGINTIME,STATUS,LOGINGEO.COUNTRYISO,COUNTRYISO\n0Ya1,005,2026-11-29T08:00:00.000Z,Success,DE,\n"


def _csv(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *rows])
    return buf.getvalue()


def _external_elf_lines(shared: Path) -> str:
    """The public integration's ELF Login rows (JSON lines) written out as an ELF CSV."""
    log = shared / EXTERNAL / "elastic-integrations-salesforce/login/test-login-eventlogfile.log"
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    header = sorted({k for r in rows for k in r})
    return _csv(header, [[str(r.get(k, "")) for k in header] for r in rows])


def _external_setup(shared: Path) -> str:
    """The public integration's LoginHistory records written out as a Setup download (UI labels)."""
    resp = shared / EXTERNAL / "rapid7-insightconnect-salesforce/get_login_history.json.resp"
    recs = json.loads(resp.read_text())["records"]
    header = [
        "Username",
        "Login Time",
        "Source IP",
        "Login Type",
        "Status",
        "Browser",
        "Application",
        "Login URL",
    ]
    out = []
    for r in recs:
        t = datetime.fromisoformat(r["LoginTime"].replace("+0000", "+00:00"))
        out.append(["user@example.com", t.strftime("%m/%d/%Y %I:%M:%S %p"), r["SourceIp"], r["LoginType"],
                    r["Status"], r["Browser"], r["Application"], r["LoginUrl"]])  # fmt: skip
    return _csv(header, out * 3)  # repeated rows are distinct logins: numbered


def _external_dataloader(shared: Path) -> str:
    """The public integration's LoginHistory records written out as a Data Loader export (upper-cased API names)."""
    resp = shared / EXTERNAL / "rapid7-insightconnect-salesforce/get_login_history.json.resp"
    recs = [
        {**r, "Id": r["attributes"]["url"].rsplit("/", 1)[-1]}
        for r in json.loads(resp.read_text())["records"]
    ]
    header = sorted({k for r in recs for k in r if not isinstance(r[k], dict)})
    out = []
    for r in recs:
        t = datetime.fromisoformat(r["LoginTime"].replace("+0000", "+00:00"))
        r = {**r, "LoginTime": t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"}
        out.append(["" if r.get(k) is None else str(r[k]) for k in header])
    return _csv([h.upper() for h in header], out)


def _files(tmp: Path, shared: Path) -> dict[str, Path]:
    src = shared / EXTERNAL / "elastic-integrations-salesforce/deploy-config-extracts"
    return {
        "external-elf-login": src / "EventLogFile_0AT5j00002GVrfnGAD_LogFile_Login.csv",
        "external-elf-lines": write(tmp / "elf-lines.csv", _external_elf_lines(shared)),
        "external-setup": write(tmp / "rapid7-setup.csv", _external_setup(shared)),
        "generated-setup": write(tmp / "setup.csv", ui_file(600)),
        "generated-elf-login": write(tmp / "elf.csv", elf_login_file(600)),
        "edge-setup": write(tmp / "edge-setup.csv", UI_EDGE),
        "edge-elf-login": write(tmp / "edge-elf.csv", _csv(ELF_EDGE_HEADER, ELF_EDGE_ROWS)),
        "external-dataloader": write(tmp / "rapid7-dataloader.csv", _external_dataloader(shared)),
        "generated-dataloader": write(tmp / "dataloader.csv", dl_file(600)),
        "edge-dataloader": write(tmp / "edge-dataloader.csv", _csv(DL_EDGE_HEADER, DL_EDGE_ROWS)),
        "generated-dataloader-no-geo": write(tmp / "dataloader-no-geo.csv", DL_NO_GEO),
        "generated-elf-api": write(tmp / "elf-api.csv", api_file(600)),
        "edge-elf-api": write(tmp / "edge-elf-api.csv", _csv(API_EDGE_HEADER, API_EDGE_ROWS)),
    }


def _declared_tuple(row: dict[str, Any]) -> tuple[Any, ...]:
    return stage_tuples(schema.logins, LOGIN_COLUMNS, [row])[0]


def _pairs(path: Path) -> tuple[int, int]:
    """(records the fast converter took, records), each taken one equal to the declared tuple."""
    taken = total = 0
    with CsvFile(path) as f:
        header = [h.strip().upper() for h in f.header]
        kind = detect_kind(f.header)
        elf, setup = kind == "elf", kind == "ui"
        tz = ZoneInfo("UTC")
        fast_rows, slow_rows = SetupRows(tz), SetupRows(tz)
        api = elf and "API_FAMILY" in header
        if api:
            fast = elf_api_converter("acme", header)
            assert fast is not None
        elif elf:
            fast = elf_login_converter("acme", header, NOW)
            assert fast is not None
        elif not setup:
            mapping = _mapping(f.header, kind)
            fast = api_export_converter("acme", mapping, len(f.header), NOW)
        else:
            mapping = _mapping(f.header, "ui")
            fast = setup_download_converter(
                "acme", mapping, len(f.header), lambda raw: parse_ui_time(raw, tz), fast_rows.natural_id, NOW
            )
        for rec in f.records():
            if rec.error:
                continue
            total += 1
            try:
                if api:
                    row = dict(zip(header, rec.values, strict=False))
                    event = elf_csv.api_event("acme", row, file_id="f", line=rec.line)
                    check_in_range(event["event_time"])
                    expected_api = stage_tuples(schema.api_usage_events, API_COLUMNS, [event])[0]
                    declared = {}
                elif elf:
                    row = dict(zip(header, rec.values, strict=False))
                    declared = elf_csv.login_row("acme", row, file_id="f", line=rec.line)
                else:
                    fields = {
                        mapping[i]: (v.strip() or None) for i, v in enumerate(rec.values) if i in mapping
                    }
                    if setup:
                        fields = slow_rows.record(fields)
                    declared = login_row("acme", "login_history", fields.get("Id"), fields)
                expected: tuple[Any, ...] | None
                if api:
                    expected = expected_api
                else:
                    check_in_range(declared["login_time"])
                    expected = _declared_tuple(declared | {"ingested_at": NOW})
            except (Malformed, OutOfRange):
                expected = None
            try:
                got = fast(rec.values)
            except Exception:  # noqa: BLE001 - refused: the declared mapping takes it
                if setup:  # the importer then numbers it through the declared path
                    with contextlib.suppress(Malformed):
                        fast_rows.record(
                            {
                                mapping[i]: (v.strip() or None)
                                for i, v in enumerate(rec.values)
                                if i in mapping
                            }
                        )
                continue
            assert got == expected, (path.name, rec.line)
            taken += 1
    return taken, total


def test_fast_converters_give_the_declared_tuples(tmp_path: Path, shared_dir: Path) -> None:
    for name, path in _files(tmp_path, shared_dir).items():
        taken, total = _pairs(path)
        assert total > 0, name
        if not name.startswith("edge"):
            assert taken == total, f"{name}: the fast converter refused {total - taken} ordinary records"
        else:
            assert 0 < taken < total, name


def _stored(engine: Any, org: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with engine.connect() as conn:
        for table, order in (
            (schema.logins, ["source", "natural_id"]),
            (schema.login_rollup_hourly, ["hour", "application", "status", "success", "login_type"]),
            (schema.login_user_daily, ["day", "user_id", "application"]),
            (schema.login_import_spans, ["span_start"]),
            (schema.api_usage_events, ["request_id"]),
            (schema.api_usage_hourly, ["hour", "connected_app_name", "status_code", "user_id"]),
            (schema.quarantine, ["reason"]),
        ):
            rows = conn.execute(
                select(table).where(table.c.org == org).order_by(*(table.c[c] for c in order))
            ).mappings()
            skip = {"org", "id", "ingested_at", "imported_at", "received_at"}
            out[table.name] = [{k: v for k, v in r.items() if k not in skip} for r in rows]
    return out


def test_fast_and_declared_imports_store_the_same(tmp_path: Path, shared_dir: Path, store) -> None:
    for n, (name, path) in enumerate(_files(tmp_path, shared_dir).items()):
        org_fast, org_slow = f"fast{n}", f"slow{n}"
        reports = []
        for org, fast in ((org_fast, True), (org_slow, False)):
            first = import_csv(store, org, path, fast=fast)
            again = import_csv(store, org, path, fast=fast)
            assert first.read == first.imported + first.quarantined, name
            assert again.new == 0, name
            reports.append(
                [(r.read, r.new, r.already, r.quarantined, r.requarantined) for r in (first, again)]
            )
        assert reports[0] == reports[1], name
        fast_rows, slow_rows = _stored(store, org_fast), _stored(store, org_slow)
        for table, rows in fast_rows.items():
            assert rows == slow_rows[table], (name, table)
        assert fast_rows["logins"] or fast_rows["api_usage_events"], name


@pytest.mark.parametrize("quarantine_every", [0, 7])
def test_import_counts_hold_across_batches(tmp_path: Path, sqlite_store, quarantine_every: int) -> None:
    """More rows than one batch, some bad: every row is counted once, new then already there."""
    from collectors.imports import writer

    text = elf_login_file(writer.BATCH + 1_234)
    if quarantine_every:
        lines = text.splitlines()
        lines = [ln if i % quarantine_every else ln.replace('Z"', 'garbage"') for i, ln in enumerate(lines)]
        text = "\n".join(lines) + "\n"
    path = write(tmp_path / "big.csv", text)
    first = import_csv(sqlite_store, "acme", path)
    assert first.read == writer.BATCH + 1_234
    assert first.read == first.new + first.quarantined
    again = import_csv(sqlite_store, "acme", path)
    assert (again.new, again.already, again.quarantined) == (0, first.new, first.quarantined)
