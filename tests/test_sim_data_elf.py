"""Event Log Files of the local org: headers as Salesforce writes them, counts that reconcile."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from oauthwatch.simulator.data import elfformat, eventlog, orgdb
from oauthwatch.simulator.data.clock import DAY_MS, HOUR_MS, to_ms
from oauthwatch.simulator.data.ids import is_valid
from oauthwatch.simulator.generate.build import build_org

NOW = datetime(2026, 5, 6, 9, 45, tzinfo=UTC)


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory):
    state = tmp_path_factory.mktemp("elf")
    build_org(state, seed=11, days=5, users=120, now=NOW)
    c = orgdb.connect(orgdb.db_path(state))
    yield c
    c.close()


def _csv(conn, file_id: str) -> list[list[str]]:
    data = b"".join(eventlog.render_csv(conn, file_id))
    return list(csv.reader(io.StringIO(data.decode())))


def test_login_header_follows_the_real_capture_and_the_field_names(conn, shared_dir: Path) -> None:
    real = shared_dir / "fixtures/external/elastic-integrations-salesforce/deploy-config-extracts"
    real_header = next(csv.reader((real / "EventLogFile_0AT5j00002GVrfnGAD_LogFile_Login.csv").open()))
    fid, names, types = conn.execute(
        """SELECT Id, LogFileFieldNames, LogFileFieldTypes FROM "EventLogFile"
           WHERE EventType = 'Login' AND Interval = 'Hourly' ORDER BY LogDate LIMIT 1"""
    ).fetchone()
    header = _csv(conn, fid)[0]
    assert header == names.split(",")
    assert header[: len(real_header)] == real_header
    assert {"LOGIN_TYPE", "LOGIN_SUB_TYPE", "LOGIN_URL", "CLIENT_IP"} <= set(header)
    assert len(types.split(",")) == len(header)


def test_every_value_is_quoted_and_length_is_the_byte_count(conn) -> None:
    for fid, length in conn.execute(
        'SELECT Id, LogFileLength FROM "EventLogFile" ORDER BY Id LIMIT 40'
    ).fetchall():
        data = b"".join(eventlog.render_csv(conn, fid))
        assert len(data) == length
        first_record = data.split(b"\n")[1]
        assert first_record.startswith(b'"')
        assert first_record.endswith(b'"')
        assert data == b"".join(eventlog.render_csv(conn, fid))  # same bytes every time


def test_hourly_login_rows_match_login_history_one_to_one(conn) -> None:
    files = conn.execute(
        """SELECT Id, LogDate FROM "EventLogFile" WHERE EventType = 'Login' AND Interval = 'Hourly'
           ORDER BY LogDate LIMIT 12"""
    ).fetchall()
    assert files
    for fid, log_date in files:
        rows = _csv(conn, fid)
        head, body = rows[0], rows[1:]
        history = conn.execute(
            """SELECT Id, UserId, SourceIp, Status FROM "LoginHistory"
               WHERE LoginTime >= ? AND LoginTime < ? ORDER BY LoginTime, Id""",
            (log_date, log_date + HOUR_MS),
        ).fetchall()
        assert len(body) == len(history)
        col = {name: i for i, name in enumerate(head)}
        for rec, (_id, uid, ip, status) in zip(body, history, strict=True):
            assert rec[col["USER_ID_DERIVED"]] == uid
            assert rec[col["USER_ID"]] == uid[:15]
            assert rec[col["SOURCE_IP"]] == ip
            assert (rec[col["LOGIN_STATUS"]] == "LOGIN_NO_ERROR") == (status == "Success")
            assert len(rec[col["TIMESTAMP"]]) == 18
            assert rec[col["TIMESTAMP_DERIVED"]].endswith("Z")


def test_codes_follow_the_reference(conn) -> None:
    fid = conn.execute(
        """SELECT Id FROM "EventLogFile" WHERE EventType = 'Login' AND Interval = 'Daily' ORDER BY LogDate LIMIT 1"""
    ).fetchone()[0]
    rows = _csv(conn, fid)
    col = {name: i for i, name in enumerate(rows[0])}
    types = {r[col["LOGIN_TYPE"]] for r in rows[1:]}
    subs = {r[col["LOGIN_SUB_TYPE"]] for r in rows[1:]}
    statuses = {r[col["LOGIN_STATUS"]] for r in rows[1:]}
    assert types <= {"i", "A"}
    assert {"oauthclientcredential", "oauthcode", "uiup"} <= subs
    assert "" in subs  # refresh-token logins: no documented code
    assert subs <= set(elfformat.LOGIN_SUB_TYPE_CODES.values()) | {""}
    assert "LOGIN_NO_ERROR" in statuses
    assert statuses <= set(elfformat.LOGIN_STATUS_CODES.values()) | {"LOGIN_ERROR_UNKNOWN_ERROR"}


def test_daily_and_hourly_timing_follow_salesforce(conn) -> None:
    for log_date, created, seq in conn.execute(
        """SELECT LogDate, CreatedDate, Sequence FROM "EventLogFile" WHERE Interval = 'Daily'"""
    ):
        assert log_date % DAY_MS == 0
        assert seq == 0
        assert log_date + DAY_MS + 2 * HOUR_MS <= created
    lags = [
        created - (log_date + HOUR_MS)
        for log_date, created, seq in conn.execute(
            """SELECT LogDate, CreatedDate, Sequence FROM "EventLogFile" WHERE Interval = 'Hourly'"""
        )
    ]
    assert min(lags) >= 3 * HOUR_MS - 1000
    assert sorted(lags)[len(lags) // 2] <= 6 * HOUR_MS
    assert max(lags) <= 6 * HOUR_MS + 3 * DAY_MS
    assert any(lag > 6 * HOUR_MS for lag in lags)  # a few files arrive late, as Salesforce's do
    newest = conn.execute('SELECT MAX(CreatedDate) FROM "EventLogFile"').fetchone()[0]
    assert newest <= to_ms(NOW)  # no file from the future
    assert all(is_valid(r[0]) for r in conn.execute('SELECT Id FROM "EventLogFile"'))


def test_api_total_usage_rows_come_from_successful_oauth_logins(conn) -> None:
    fid, log_date = conn.execute(
        """SELECT Id, LogDate FROM "EventLogFile" WHERE EventType = 'ApiTotalUsage' AND Interval = 'Hourly'
           ORDER BY LogDate LIMIT 1"""
    ).fetchone()
    rows = _csv(conn, fid)
    col = {name: i for i, name in enumerate(rows[0])}
    apps = dict(conn.execute("SELECT Label, AppId FROM _AppConfig").fetchall())
    logins = conn.execute(
        """SELECT COUNT(*) FROM "LoginHistory" WHERE LoginTime >= ? AND LoginTime < ?
           AND LoginType = 'Remote Access 2.0' AND Status = 'Success'""",
        (log_date, log_date + HOUR_MS),
    ).fetchone()[0]
    assert len(rows) - 1 >= logins > 0
    for rec in rows[1:]:
        assert rec[col["CONNECTED_APP_ID"]] == apps[rec[col["CONNECTED_APP_NAME"]]][:15]
        assert log_date <= to_ms(datetime.fromisoformat(rec[col["TIMESTAMP_DERIVED"]])) < log_date + HOUR_MS
