"""Live mode: ticks add the events the clock reached, once, and keep grants and files in step."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from oauthwatch.simulator.data import clock, eventlog, orgdb
from oauthwatch.simulator.data.clock import HOUR_MS, to_ms
from oauthwatch.simulator.generate.build import build_org
from oauthwatch.simulator.generate.live import Live

NOW = datetime(2026, 4, 14, 10, 17, 33, tzinfo=UTC)  # a Tuesday morning


@pytest.fixture
def org(tmp_path: Path) -> Path:
    build_org(tmp_path, seed=3, days=3, users=150, now=NOW)
    return tmp_path


def count(conn, sql: str = 'SELECT COUNT(*) FROM "LoginHistory"', *args) -> int:
    return conn.execute(sql, args).fetchone()[0]


def test_tick_adds_events_once(org: Path) -> None:
    conn = orgdb.connect(orgdb.db_path(org))
    live = Live(conn)
    before = count(conn)
    t1 = to_ms(NOW + timedelta(minutes=20))
    added = live.tick(t1)
    assert added > 0
    assert count(conn) == before + added
    assert live.tick(t1) == 0  # the same time again: nothing new
    assert live.tick(t1 - 60_000) == 0  # and never backwards
    assert count(conn) == before + added
    newest = count(conn, 'SELECT MAX(LoginTime) FROM "LoginHistory"')
    assert to_ms(NOW) < newest <= t1
    assert (
        count(conn, 'SELECT COUNT(*) FROM "LoginHistory" WHERE LoginGeoId NOT IN (SELECT Id FROM "LoginGeo")')
        == 0
    )


def test_live_continues_the_history_model(org: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Building up to T then ticking to T+2h gives the same rows as building up to T+2h directly."""
    conn = orgdb.connect(orgdb.db_path(org))
    later = NOW + timedelta(hours=2)
    Live(conn).tick(to_ms(later))
    direct = tmp_path_factory.mktemp("direct")
    build_org(direct, seed=3, days=3, users=150, now=later)
    other = orgdb.connect(orgdb.db_path(direct))
    sql = 'SELECT Id, UserId, LoginTime, Status, SourceIp FROM "LoginHistory" WHERE LoginTime > ? AND LoginTime <= ? ORDER BY Id'
    window = (to_ms(NOW), to_ms(later))
    assert conn.execute(sql, window).fetchall() == other.execute(sql, window).fetchall()


def test_grants_follow_live_logins(org: Path) -> None:
    conn = orgdb.connect(orgdb.db_path(org))
    uses_before = count(conn, 'SELECT SUM(UseCount) FROM "OauthToken"')
    Live(conn).tick(to_ms(NOW + timedelta(hours=3)))
    refreshed = count(
        conn,
        """SELECT COUNT(*) FROM "LoginHistory" lh JOIN _AppConfig c ON c.Label = lh.Application
           WHERE lh.LoginTime > ? AND lh.Status = 'Success' AND lh.LoginSubType IN ('OAuth Refresh Token', 'OAuth Web Server')
           AND c.Flows LIKE '%refresh_token%'""",
        to_ms(NOW),
    )
    assert refreshed > 0
    assert count(conn, 'SELECT SUM(UseCount) FROM "OauthToken"') == uses_before + refreshed
    assert count(conn, 'SELECT MAX(LastUsedDate) FROM "OauthToken"') > to_ms(NOW)


def test_event_log_files_appear_minutes_after_the_hour_in_demo_mode(org: Path) -> None:
    conn = orgdb.connect(orgdb.db_path(org))
    live = Live(conn)  # demo lag by default
    hour_end = clock.hour_floor(to_ms(NOW)) + HOUR_MS
    live.tick(hour_end + 30_000)
    assert count(conn, 'SELECT COUNT(*) FROM "EventLogFile" WHERE LogDate = ?', hour_end - HOUR_MS) == 0
    live.tick(hour_end + 4 * 60_000)
    files = conn.execute(
        "SELECT Id, CreatedDate, LogFileLength, EventType FROM \"EventLogFile\" WHERE LogDate = ? AND Interval = 'Hourly'",
        (hour_end - HOUR_MS,),
    ).fetchall()
    # Login and ApiTotalUsage every hour; a licensed data event type only for an hour it has events
    # (this hour has REST calls; no Bulk job ran in it).
    assert sorted(f[3] for f in files) == ["ApiTotalUsage", "Login", "RestApi"]
    for fid, created, length, _type in files:
        assert hour_end + 30_000 < created <= hour_end + 4 * 60_000
        assert len(b"".join(eventlog.render_csv(conn, fid))) == length


def test_real_lag_is_configurable(org: Path) -> None:
    conn = orgdb.connect(orgdb.db_path(org))
    live = Live(conn, elf_lag=eventlog.REAL_LAG)
    hour_end = clock.hour_floor(to_ms(NOW)) + HOUR_MS
    live.tick(hour_end + 2 * HOUR_MS)
    assert count(conn, 'SELECT COUNT(*) FROM "EventLogFile" WHERE LogDate = ?', hour_end - HOUR_MS) == 0


def test_run_forever_ticks_on_the_org_clock(org: Path) -> None:
    conn = orgdb.connect(orgdb.db_path(org))
    clock.set_offset_ms(
        conn, to_ms(NOW + timedelta(minutes=45)) - clock.org_now_ms(conn) + clock.offset_ms(conn)
    )
    conn.close()
    live = Live(org, interval_s=0.05)
    live.start()
    try:
        check = orgdb.connect(orgdb.db_path(org), readonly=True)
        deadline = threading.Event()
        for _ in range(100):
            if int(clock.get_state(check, "live_cursor") or 0) > to_ms(NOW + timedelta(minutes=44)):
                break
            deadline.wait(0.05)
        assert int(clock.get_state(check, "live_cursor") or 0) > to_ms(NOW + timedelta(minutes=44))
        assert count(check, 'SELECT MAX(LoginTime) FROM "LoginHistory"') > to_ms(NOW)
    finally:
        live.stop()


def test_old_files_expire_after_thirty_days(tmp_path: Path) -> None:
    build_org(tmp_path, seed=3, days=3, users=60, now=NOW)
    conn = orgdb.connect(orgdb.db_path(tmp_path))
    oldest = count(conn, 'SELECT MIN(CreatedDate) FROM "EventLogFile"')
    live = Live(conn)
    live.tick(oldest + 30 * 86_400_000 + 60_000)
    assert count(conn, 'SELECT MIN(CreatedDate) FROM "EventLogFile"') > oldest
    assert count(conn, 'SELECT COUNT(*) FROM "EventLogFile" WHERE CreatedDate < ?', oldest + 60_000) == 0


def test_speed_multiplies_the_traffic(org: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    other = tmp_path_factory.mktemp("fast")
    build_org(other, seed=3, days=3, users=150, now=NOW)
    until = to_ms(NOW + timedelta(hours=3))
    normal = Live(orgdb.connect(orgdb.db_path(org))).tick(until)
    fast_conn = orgdb.connect(orgdb.db_path(other))
    fast = Live(fast_conn, speed=3.0).tick(until)
    assert 2.2 * normal < fast < 4.0 * normal
    ids = [
        r[0] for r in fast_conn.execute('SELECT Id FROM "LoginHistory" WHERE LoginTime > ?', (to_ms(NOW),))
    ]
    assert all(i[5] == "1" for i in ids)  # their own Id space, apart from the history's


def test_live_needs_a_built_org(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="build it first"):
        Live(tmp_path)
    assert not orgdb.db_path(tmp_path).exists()
