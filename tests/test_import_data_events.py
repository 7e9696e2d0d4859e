"""`import-csv` of the licensed BulkApi2, BulkApi, RestApi and API Event Log Files.

The same files are stored once as the collector stores them (the EventLogFile source's file types)
and once through `import-csv`: the rows must be identical, a bad row is quarantined with its
reason, importing a file again or importing a file that was collected adds nothing, and hunt and
data movement find the imported rows as they find the collected ones.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from collectors.imports.importer import import_csv
from collectors.sources.event_log_files import store_file_rows
from oauthwatch.hunt.indicators import parse_iocs
from oauthwatch.hunt.matcher import Scope, hunt
from oauthwatch.movement.event_data import app_exports
from oauthwatch.rules.salesforce_values import id18
from oauthwatch.simulator.data.elfformat import BULK2_FIELDS, REST_FIELDS
from oauthwatch.store import open_store, schema
from oauthwatch.store.writes import ensure_org

T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
THIEF = "185.220.101.33"
APP15 = "0H4000000000001"
USER = "005000000000001AAA"
JOBS = ("750000000000001", "750000000000002")


def _ts(t: datetime) -> tuple[str, str]:
    return t.strftime("%Y%m%d%H%M%S.%f")[:-3], t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _write(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL, lineterminator="\n")
        w.writerow(header)
        w.writerows([[r.get(h, "") for h in header] for r in rows])
    return path


def _files(tmp: Path) -> dict[str, Path]:
    """One file per type as Setup's download writes it; each holds one bad row."""
    bulk2: list[dict[str, str]] = []
    for j, job in enumerate(JOBS):
        for s, (status, records) in enumerate(
            (("UploadComplete", ""), ("InProgress", "500"), ("JobComplete", "1200"))
        ):
            ts, derived = _ts(T0 + timedelta(minutes=10 * j + s))
            bulk2.append({"EVENT_TYPE": "BulkApi2", "TIMESTAMP": ts, "TIMESTAMP_DERIVED": derived,
                          "REQUEST_ID": f"TID{j}", "USER_ID": USER[:15], "JOB_ID": job, "JOB_STATUS": status,
                          "OPERATION_TYPE": "query", "ENTITY_TYPE": "Contact", "RECORDS_PROCESSED": records,
                          "RESULT_SIZE_MB": "0.25" if records else "", "CLIENT_IP": THIEF})  # fmt: skip
    bulk2.append({**bulk2[-1], "TIMESTAMP": "yesterday", "TIMESTAMP_DERIVED": "", "JOB_STATUS": "Deleted"})
    rest = []
    for i in range(4):
        ts, derived = _ts(T0 + timedelta(minutes=i))
        rest.append({"EVENT_TYPE": "RestApi", "TIMESTAMP": ts, "TIMESTAMP_DERIVED": derived, "REQUEST_ID": f"R{i}",
                     "USER_ID": USER[:15], "URI": "/services/data/v62.0/query", "METHOD": "GET", "STATUS_CODE": "200",
                     "ENTITY_NAME": "Account", "ROWS_PROCESSED": str(100 * (i + 1)), "RESPONSE_SIZE": "4096",
                     "CLIENT_NAME": "python-requests/2.32.4", "CLIENT_IP": "198.51.100.9",
                     "CONNECTED_APP_ID": APP15})  # fmt: skip
    rest.append({**rest[0], "EVENT_TYPE": "Login", "REQUEST_ID": "R9"})
    ts, derived = _ts(T0)
    bulk1 = [
        {"TIMESTAMP": ts, "TIMESTAMP_DERIVED": derived, "REQUEST_ID": "B1", "USER_ID": USER[:15], "JOB_ID": "750000000000003",
         "BATCH_ID": "751000000000001", "ROWS_PROCESSED": "40", "ENTITY_TYPE": "Lead", "OPERATION_TYPE": "query",
         "CLIENT_IP": THIEF},
        {"TIMESTAMP": "", "TIMESTAMP_DERIVED": "", "REQUEST_ID": "B2", "JOB_ID": "750000000000003"},
    ]  # fmt: skip
    soap = [
        {"EVENT_TYPE": "API", "TIMESTAMP": ts, "TIMESTAMP_DERIVED": derived, "REQUEST_ID": "S1", "USER_ID": USER[:15],
         "API_TYPE": "P", "METHOD": "query", "ENTITY_NAME": "Case", "ROWS_PROCESSED": "7", "RESPONSE_SIZE": "900",
         "CLIENT_NAME": "Data Loader", "CLIENT_IP": "203.0.113.4", "CONNECTED_APP_ID": APP15},
        {"EVENT_TYPE": "ApiTotalUsage", "TIMESTAMP": ts, "TIMESTAMP_DERIVED": derived, "REQUEST_ID": "S2"},
    ]  # fmt: skip
    bulk1_header = ["TIMESTAMP", "TIMESTAMP_DERIVED", "REQUEST_ID", "USER_ID", "JOB_ID", "BATCH_ID", "ROWS_PROCESSED",
                    "ENTITY_TYPE", "OPERATION_TYPE", "CLIENT_IP"]  # fmt: skip  # no EVENT_TYPE column
    soap_header = ["EVENT_TYPE", "TIMESTAMP", "REQUEST_ID", "USER_ID", "API_TYPE", "METHOD", "ENTITY_NAME", "ROWS_PROCESSED",
                   "RESPONSE_SIZE", "CLIENT_NAME", "CLIENT_IP", "CONNECTED_APP_ID", "TIMESTAMP_DERIVED"]  # fmt: skip
    return {
        "BulkApi2": _write(tmp / "BulkApi2.csv", [n for n, _ in BULK2_FIELDS], bulk2),
        "RestApi": _write(tmp / "RestApi.csv", [n for n, _ in REST_FIELDS], rest),
        "BulkApi": _write(tmp / "BulkApi.csv", bulk1_header, bulk1),
        "API": _write(tmp / "API.csv", soap_header, soap),
    }


GOOD = {"BulkApi2": 6, "RestApi": 4, "BulkApi": 1, "API": 1}
BAD = {"BulkApi2": 1, "RestApi": 1, "BulkApi": 1, "API": 1}


def _rows(engine: Any) -> list[tuple[Any, ...]]:
    t = schema.api_data_events
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(t)))


def _quarantined(engine: Any) -> list[str]:
    with engine.connect() as conn:
        return [r.reason for r in conn.execute(select(schema.quarantine.c.reason))]


def test_imported_data_event_files_equal_collected_ones(tmp_path: Path, store) -> None:
    """Imported into the store of each backend, collected into SQLite."""
    files = _files(tmp_path)
    collected = open_store(f"sqlite:///{tmp_path / 'collected.db'}")
    imported = store
    try:
        bad_collected: list[str] = []
        with collected.begin() as conn:
            ensure_org(conn, "acme")
            for kind, path in files.items():
                read, stored = store_file_rows(
                    "acme", conn, file_id=f"0AT{kind}", event_type=kind, path=path,
                    quarantine=lambda _c, reason, _row, _nid: bad_collected.append(reason),
                )  # fmt: skip
                assert (read, stored) == (GOOD[kind] + BAD[kind], GOOD[kind])
        assert len(bad_collected) == sum(BAD.values())

        for kind, path in files.items():
            report = import_csv(imported, "acme", path)
            assert report.kind == f"Event Log File ({kind})"
            assert (report.read, report.new, report.already) == (GOOD[kind] + BAD[kind], GOOD[kind], 0), kind
            assert report.quarantined == BAD[kind], kind
        assert _rows(imported) == _rows(collected), "the same declaration made the same rows"
        reasons = _quarantined(imported)
        assert len(reasons) == sum(BAD.values())
        for why in ("no usable TIMESTAMP_DERIVED/TIMESTAMP", "not a RestApi event: 'Login'",
                    "not a API event: 'ApiTotalUsage'"):  # fmt: skip
            assert any(why in r for r in reasons), why
        assert all(" line " in r for r in reasons), "each reason names the file's line"

        before = _rows(imported)
        for store in (imported, collected):  # imported again; imported after the collector read it
            for kind, path in files.items():
                again = import_csv(store, "acme", path)
                assert (again.new, again.already) == (0, GOOD[kind]), kind
        assert _rows(imported) == before
        assert _rows(collected) == before

        # hunt and data movement find the imported rows as they find the collected ones
        iocs = parse_iocs(f"{THIEF}\nua:python-requests\napp:{id18(APP15)}\n")
        found = {
            name: sorted((m.source, m.id, m.indicator) for m in hunt(engine, iocs, Scope(org="acme")))
            for name, engine in (("imported", imported), ("collected", collected))
        }
        assert found["imported"] == found["collected"]
        sources = [s for s, _id, _ind in found["imported"]]
        assert sources.count("api_data:BulkApi2") == GOOD["BulkApi2"]
        assert sources.count("api_data:BulkApi") == 1
        assert sources.count("api_data:RestApi") == GOOD["RestApi"]
        assert sources.count("api_data:API") == 1
        span = (T0 - timedelta(hours=1), T0 + timedelta(hours=1))
        with imported.connect() as a, collected.connect() as b:
            mine = app_exports(a, "acme", {APP15}, set(JOBS), *span)
            theirs = app_exports(b, "acme", {APP15}, set(JOBS), *span)
        assert mine is not None
        assert theirs is not None
        assert (mine.rows, mine.bytes, mine.by_user) == (theirs.rows, theirs.bytes, theirs.by_user)
        assert mine.by_type == {"BulkApi2": 2 * 1200, "RestApi": 1000, "API": 7}
    finally:
        collected.dispose()
