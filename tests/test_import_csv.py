"""``oauthwatch import-csv``: the three file kinds, tolerant of order, extra columns and UI dates."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from collectors.imports.importer import detect_kind, import_csv, parse_ui_time
from collectors.sources.values import Malformed
from oauthwatch.store import schema
from oauthwatch.store.writes import ensure_org, upsert, utcnow


def logins(engine, **where):
    lg = schema.logins.c
    with engine.connect() as conn:
        q = (
            select(schema.logins)
            .where(*(lg[k] == v for k, v in where.items()))
            .order_by(lg.login_time, lg.natural_id)
        )
        return [dict(r) for r in conn.execute(q).mappings()]


UI = """Username,Login Time,Source IP,Login Type,Status,Browser,Platform,Application,Client Version,API Type,API Version,Login URL,Extra Column
ann@example.com,11/29/2026 9:05 AM,192.0.2.10,Remote Access 2.0,Success,Unknown,Unknown,Data Loader,N/A,N/A,N/A,login.salesforce.com,x
ann@example.com,11/29/2026 9:05 AM,192.0.2.10,Remote Access 2.0,Success,Unknown,Unknown,Data Loader,N/A,N/A,N/A,login.salesforce.com,x
bob@example.com,11/29/2026 1:30 PM GMT,198.51.100.7,Application,Invalid Password,Chrome 131,Windows,Browser,,,,login.salesforce.com,y
carl@example.com,yesterday-ish,198.51.100.8,Application,Success,Chrome 131,Windows,Browser,,,,login.salesforce.com,z
"""


def test_setup_download(tmp_path: Path, store) -> None:
    f = tmp_path / "LoginHistory.csv"
    f.write_text(UI)
    report = import_csv(store, "acme", f, timezone="Europe/Paris")
    assert report.imported == 3
    assert report.quarantined == 1
    rows = logins(store, source="login_history")
    # 9:05 Paris (UTC+1 in November) = 08:05 UTC; two identical rows are two logins
    assert [r["login_time"] for r in rows] == [datetime(2026, 11, 29, 8, 5, tzinfo=UTC)] * 2 + [
        datetime(2026, 11, 29, 13, 30, tzinfo=UTC)
    ]
    assert rows[0]["natural_id"] != rows[1]["natural_id"]
    assert rows[2]["success"] is False
    assert rows[2]["status"] == "Invalid Password"
    assert rows[0]["username"] == "ann@example.com"
    again = import_csv(store, "acme", f, timezone="Europe/Paris")
    assert (again.imported, again.new, again.already) == (3, 0, 3)  # the same ids: nothing new
    assert len(logins(store, source="login_history")) == 3
    assert (again.quarantined, again.requarantined) == (1, 1)  # still bad, quarantined once
    with store.connect() as conn:
        q = schema.quarantine.c
        reasons = list(conn.execute(select(q.reason).where(q.source == "import_csv")).scalars())
    assert len(reasons) == 1
    assert "unreadable Login Time" in reasons[0]


def test_setup_download_skips_what_the_api_delivered(tmp_path: Path, sqlite_store) -> None:
    with sqlite_store.begin() as conn:
        ensure_org(conn, "acme")
        upsert(conn, schema.logins, [{
            "org": "acme", "source": "login_history", "natural_id": "0Ya000000000001AAA",
            "login_time": datetime(2026, 11, 29, 13, 30, 42, tzinfo=UTC), "status": "Invalid Password",
            "success": False, "application": "Browser", "source_ip": "198.51.100.7", "ingested_at": utcnow(),
        }], key=["org", "source", "natural_id"])  # fmt: skip
    f = tmp_path / "ui.csv"
    f.write_text(UI)
    report = import_csv(sqlite_store, "acme", f)
    assert (report.via_api, report.already, report.new) == (1, 1, 2)
    assert len(logins(sqlite_store, source="login_history")) == 3  # 1 from the API + 2 ann rows


def test_data_loader_export_any_case_any_order(tmp_path: Path, sqlite_store) -> None:
    f = tmp_path / "extract.csv"
    f.write_text(
        '"STATUS","LOGINTIME","ID","USERID","APPLICATION","LOGINGEO.COUNTRY","SOMETHING"\n'
        '"Success","2026-11-29T08:00:01.000Z","0Ya000000000009AAA","005000000000001AAA","Integration A","France","?"\n'
        '"Failed: Invalid Token","2026-11-29T08:00:02.000+0000","0Ya000000000010AAA","005000000000001AAA","Integration A","",""\n'
        '"Success","","0Ya000000000011AAA","005000000000001AAA","Integration A","",""\n'
    )
    report = import_csv(sqlite_store, "acme", f)
    assert (report.imported, report.quarantined) == (2, 1)
    rows = logins(sqlite_store)
    assert [r["natural_id"] for r in rows] == ["0Ya000000000009AAA", "0Ya000000000010AAA"]
    assert rows[0]["country"] == "France"
    assert rows[1]["success"] is False


def test_elf_csv(tmp_path: Path, shared_dir: Path, sqlite_store) -> None:
    src = shared_dir / "fixtures/external/elastic-integrations-salesforce/deploy-config-extracts"
    report = import_csv(sqlite_store, "acme", src / "EventLogFile_0AT5j00002GVrfnGAD_LogFile_Login.csv")
    assert report.imported == 1
    assert logins(sqlite_store)[0]["source"] == "elf_login"
    with pytest.raises(
        Malformed, match="oauthwatch stores Login, ApiTotalUsage, BulkApi2, BulkApi, RestApi, API only"
    ):
        import_csv(sqlite_store, "acme", src / "EventLogFile_0AT5j00002GWEsRGAX_LogFile_Logout.csv")


def test_api_total_usage_reimport_replaces_counts(tmp_path: Path, sqlite_store) -> None:
    f = tmp_path / "api.csv"
    f.write_text(
        '"EVENT_TYPE","TIMESTAMP_DERIVED","CONNECTED_APP_NAME","API_FAMILY","STATUS_CODE"\n'
        + '"ApiTotalUsage","2026-11-29T08:10:00.000Z","Data Loader","REST","200"\n' * 3
    )
    import_csv(sqlite_store, "acme", f)
    import_csv(sqlite_store, "acme", f)
    with sqlite_store.connect() as conn:
        assert conn.execute(select(func.sum(schema.api_usage_hourly.c.requests))).scalar_one() == 3


def test_unknown_file_and_ui_times() -> None:
    with pytest.raises(Malformed, match="not a Login History"):
        detect_kind(["foo", "bar"])
    from zoneinfo import ZoneInfo

    utc = ZoneInfo("UTC")
    assert parse_ui_time("11/29/2026 1:30:15 PM", utc) == datetime(2026, 11, 29, 13, 30, 15, tzinfo=UTC)
    assert parse_ui_time("2026-11-29 13:30", utc) == datetime(2026, 11, 29, 13, 30, tzinfo=UTC)
    assert parse_ui_time("11/29/2026 1:30 PM +01:00", utc) == datetime(2026, 11, 29, 12, 30, tzinfo=UTC)
    with pytest.raises(Malformed, match="unknown time zone"):
        parse_ui_time("11/29/2026 1:30 PM PST", utc)


def _cli(tmp_path: Path, f: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``oauthwatch import-csv f`` into a store of its own (an org created for it)."""
    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n')
    cmd = [
        sys.executable,
        "-m",
        "oauthwatch",
        "import-csv",
        str(f),
        "--org",
        "acme",
        "--create-org",
        "-c",
        str(cfg),
    ]
    return subprocess.run([*cmd, *extra], capture_output=True, text=True, timeout=300, check=False)


def test_cli_reports(tmp_path: Path) -> None:
    f = tmp_path / "ui.csv"
    f.write_text(UI)
    out = _cli(tmp_path, f)
    assert out.returncode == 2, out.stderr  # a row was quarantined: the caller must know
    assert "read 4 rows: imported 3 (3 new, 0 already there), quarantined 1" in out.stdout
    assert "1 × unreadable Login Time" in out.stdout


def test_cli_json_summary_and_progress_on_stderr(tmp_path: Path) -> None:
    """``--format json`` prints the summary alone on stdout (no bar, even asked for); ``--progress``
    draws the bar on stderr when stderr is not a terminal, and stdout keeps only the summary."""
    from tests.import_files import elf_login_file, write

    f = write(tmp_path / "elf.csv", elf_login_file(12_000))
    out = _cli(tmp_path, f, "--format", "json", "--progress")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert (summary["read"], summary["new"], summary["already_there"], summary["quarantined"]) == (
        12_000,
        12_000,
        0,
        0,
    )
    assert "importing" not in out.stderr
    again = _cli(tmp_path, f, "--progress")
    assert again.returncode == 0, again.stderr
    assert "importing elf.csv" in again.stderr
    assert again.stdout.splitlines()[0].endswith("imported 12000 (0 new, 12000 already there), quarantined 0")
    quiet = _cli(tmp_path, f)
    assert "importing" not in quiet.stderr  # not a terminal, not asked: no bar
