"""Scenarios stage incidents in the org: their events, their configuration changes, their ground truth."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from oauthwatch.simulator.data import orgdb
from oauthwatch.simulator.data.clock import to_ms
from oauthwatch.simulator.generate import scenarios
from oauthwatch.simulator.generate.build import build_org
from oauthwatch.simulator.generate.live import Live

NOW = datetime(2026, 2, 10, 16, 5, tzinfo=UTC)
AT = NOW - timedelta(hours=5)


@pytest.fixture
def org(tmp_path: Path) -> Path:
    build_org(tmp_path, seed=5, days=4, users=120, now=NOW)
    return tmp_path


def _truth(state: Path) -> list[dict]:
    return [json.loads(line) for line in (state / scenarios.GROUND_TRUTH).read_text().splitlines()]


def test_parse_scenario_arg() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert scenarios.parse_scenario_arg("spray@now", now) == ("spray", now)
    assert scenarios.parse_scenario_arg("spray@+5m", now)[1] == now + timedelta(minutes=5)
    assert scenarios.parse_scenario_arg("spray@-2h", now)[1] == now - timedelta(hours=2)
    assert scenarios.parse_scenario_arg("spray@-1d", now)[1] == now - timedelta(days=1)
    assert scenarios.parse_scenario_arg("dormant_grant@2026-03-01T10:00Z", now)[1] == datetime(
        2026, 3, 1, 10, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="unknown scenario"):
        scenarios.parse_scenario_arg("nope@now", now)
    with pytest.raises(ValueError, match="NAME@TIME"):
        scenarios.parse_scenario_arg("spray", now)
    with pytest.raises(ValueError, match="not a time"):
        scenarios.parse_scenario_arg("spray@yesterday", now)


def test_cli_injection_errors_are_config_errors(org: Path) -> None:
    from oauthwatch.config import ConfigError

    with pytest.raises(ConfigError, match="known: "):
        scenarios.inject_scenarios(org, [("sprya", "now")])
    assert not (org / scenarios.GROUND_TRUTH).exists()
    result = scenarios.inject_scenarios(org, [("dormant_grant", "-3h"), ("spray", "+2h")])
    assert [r["status"] for r in result] == ["applied", "scheduled"]


def test_licensed_org_sees_incidents_in_threat_stores(tmp_path: Path) -> None:
    build_org(tmp_path, seed=5, days=2, users=60, now=NOW, licensed=True)
    conn = orgdb.connect(orgdb.db_path(tmp_path))
    assert conn.execute('SELECT COUNT(*) FROM "ApiAnomalyEventStore"').fetchone()[0] == 3
    assert (
        conn.execute('SELECT COUNT(*) FROM "LoginEvent"').fetchone()[0]
        == conn.execute('SELECT COUNT(*) FROM "LoginHistory"').fetchone()[0]
    )
    scenarios.inject(conn, "spray", AT, state_dir=tmp_path)
    stuffing = conn.execute('SELECT Username, SourceIp FROM "CredentialStuffingEventStore"').fetchall()
    assert len(stuffing) == 1
    assert stuffing[0][1].startswith("45.134.212.")
    assert (
        conn.execute('SELECT COUNT(*) FROM "LoginEvent"').fetchone()[0]
        == conn.execute('SELECT COUNT(*) FROM "LoginHistory"').fetchone()[0]
    )


def test_registry_has_the_required_scenarios() -> None:
    assert {
        "spray",
        "stolen_refresh_token",
        "runaway_integration",
        "expired_jwt_cert",
        "unapproved_app",
        "dormant_grant",
        "policy_loosened",
    } <= set(scenarios.SCENARIOS)


def test_each_scenario_writes_events_and_ground_truth(org: Path) -> None:
    conn = orgdb.connect(orgdb.db_path(org))
    before = conn.execute('SELECT COUNT(*) FROM "LoginHistory"').fetchone()[0]
    for name in scenarios.SCENARIOS:
        result = scenarios.inject(conn, name, AT, state_dir=org)
        assert result["status"] == "applied", name
    truth = {t["scenario"]: t for t in _truth(org)}
    assert set(truth) == set(scenarios.SCENARIOS)
    for name, t in truth.items():
        assert t["expected_detector"] == scenarios.SCENARIOS[name].detector
        assert t["start"] <= t["end"]
        assert t["description"]

    spray = truth["spray"]
    rows = conn.execute(
        'SELECT Status, UserId FROM "LoginHistory" WHERE SourceIp IN ({})'.format(
            ",".join("?" * len(spray["ips"]))
        ),
        spray["ips"],
    ).fetchall()
    assert len({u for _, u in rows}) == len(spray["users"]) >= 20
    assert sum(s == "Invalid Password" for s, _ in rows) > 40
    assert conn.execute(
        'SELECT COUNT(*) FROM "LoginHistory" lh JOIN "LoginGeo" g ON g.Id = lh.LoginGeoId WHERE lh.SourceIp = ? AND g.Country = ?',
        (spray["ips"][0], "Russia"),
    ).fetchone()[0]

    stolen = truth["stolen_refresh_token"]
    assert (
        conn.execute(
            """SELECT COUNT(*) FROM "LoginHistory" WHERE CountryIso = 'NG' AND LoginSubType = 'OAuth Refresh Token'
           AND Application = ?""",
            (stolen["app"],),
        ).fetchone()[0]
        == 12
    )

    runaway = truth["runaway_integration"]
    start = to_ms(datetime.fromisoformat(runaway["start"]))
    n = conn.execute(
        'SELECT COUNT(*) FROM "LoginHistory" WHERE Application = ? AND LoginTime >= ? AND LoginTime < ?',
        (runaway["app"], start, start + 3_600_000),
    ).fetchone()[0]
    assert n > 1000

    legacy = truth["legacy_password_flow"]
    flows = conn.execute(
        'SELECT LoginTime >= ?, LoginSubType, Status, COUNT(*) FROM "LoginHistory" WHERE Application = ? '
        "AND LoginSubType = 'OAuth Username-Password' GROUP BY 1, 2, 3",
        (to_ms(AT), legacy["app"]),
    ).fetchall()
    # only the incident's logins use the flow, all of them successful: a first use, as the truth says
    assert flows == [(1, "OAuth Username-Password", "Success", legacy["events"])]
    assert legacy["app"] != runaway["app"]
    assert legacy["users"]

    jwt = truth["expired_jwt_cert"]
    start, end = (to_ms(datetime.fromisoformat(jwt[k])) for k in ("start", "end"))
    statuses = {
        r[0]
        for r in conn.execute(
            'SELECT Status FROM "LoginHistory" WHERE Application = ? AND LoginTime >= ? AND LoginTime < ?',
            (jwt["app"], start, min(end, to_ms(NOW))),
        )
    }
    assert statuses == {"Failed: Signature Invalid"}
    from cryptography import x509

    pem = conn.execute("SELECT CertificatePem FROM _AppConfig WHERE Label = ?", (jwt["app"],)).fetchone()[0]
    assert x509.load_pem_x509_certificate(pem.encode()).not_valid_after_utc.timestamp() * 1000 <= start

    app = truth["unapproved_app"]["app"]
    assert conn.execute("SELECT IsAdminApproved FROM _AppConfig WHERE Label = ?", (app,)).fetchone() == (0,)
    assert (
        conn.execute('SELECT COUNT(*) FROM "ConnectedApplication" WHERE Name = ?', (app,)).fetchone()[0] == 1
    )
    grants = conn.execute('SELECT COUNT(*) FROM "OauthToken" WHERE AppName = ?', (app,)).fetchone()[0]
    assert grants == len(truth["unapproved_app"]["users"])

    dormant = truth["dormant_grant"]
    last = conn.execute(
        'SELECT MAX(t.LastUsedDate) FROM "OauthToken" t JOIN "User" u ON u.Id = t.UserId WHERE u.Username = ? AND t.AppName = ?',
        (dormant["users"][0], dormant["app"]),
    ).fetchone()[0]
    assert last >= to_ms(AT)

    loosened = truth["policy_loosened"]["app"]
    assert conn.execute(
        "SELECT IpRelaxation, RefreshTokenPolicy, IsAdminApproved FROM _AppConfig WHERE Label = ?",
        (loosened,),
    ).fetchone() == ("BYPASS", "infinite", 0)
    audit = conn.execute(
        """SELECT Action, Section FROM "SetupAuditTrail" WHERE CreatedDate >= ? AND Display LIKE ?""",
        (to_ms(AT), f"%{loosened}%"),
    ).fetchall()
    assert len(audit) == 3
    assert set(audit) == {("changedConnectedAppAttribute", "Connected Apps")}
    assert before < conn.execute('SELECT COUNT(*) FROM "LoginHistory"').fetchone()[0]
    # Event Log Files already published for those hours still tell their true size
    from oauthwatch.simulator.data import eventlog

    files = conn.execute(
        'SELECT Id, LogFileLength FROM "EventLogFile" WHERE LogDate >= ?', (to_ms(AT) - 86_400_000,)
    ).fetchall()
    assert files
    for fid, length in files:
        assert len(b"".join(eventlog.render_csv(conn, fid))) == length


def test_injecting_the_same_incident_twice_changes_nothing(org: Path) -> None:
    conn = orgdb.connect(orgdb.db_path(org))
    scenarios.inject(conn, "stolen_refresh_token", AT, state_dir=org)
    snapshot = conn.execute('SELECT SUM(UseCount), COUNT(*) FROM "OauthToken"').fetchone()
    rows = conn.execute('SELECT COUNT(*) FROM "LoginHistory"').fetchone()
    again = scenarios.inject(conn, "stolen_refresh_token", AT, state_dir=org)
    assert again["status"] == "already applied"
    assert conn.execute('SELECT SUM(UseCount), COUNT(*) FROM "OauthToken"').fetchone() == snapshot
    assert conn.execute('SELECT COUNT(*) FROM "LoginHistory"').fetchone() == rows
    assert len(_truth(org)) == 1


def test_future_scenario_waits_for_the_live_clock(org: Path) -> None:
    conn = orgdb.connect(orgdb.db_path(org))
    live = Live(conn)
    soon = NOW + timedelta(minutes=30)
    assert scenarios.inject(conn, "spray", soon, state_dir=org)["status"] == "scheduled"
    assert not (org / scenarios.GROUND_TRUTH).exists()
    live.tick(to_ms(NOW + timedelta(minutes=10)))
    assert not (org / scenarios.GROUND_TRUTH).exists()
    live.tick(to_ms(NOW + timedelta(minutes=60)))
    truth = _truth(org)
    assert [t["scenario"] for t in truth] == ["spray"]
    n = conn.execute(
        'SELECT COUNT(*) FROM "LoginHistory" WHERE SourceIp IN ({})'.format(
            ",".join("?" * len(truth[0]["ips"]))
        ),
        truth[0]["ips"],
    ).fetchone()[0]
    assert n == truth[0]["events"]


def test_scheduled_grant_incident_counts_each_use_once(org: Path) -> None:
    conn = orgdb.connect(orgdb.db_path(org))
    live = Live(conn)
    at = NOW + timedelta(minutes=5)
    incident = scenarios.build_incident(live.plan, "dormant_grant", to_ms(at))
    uid = incident.events[0][1]
    sql = 'SELECT UseCount, LastUsedDate FROM "OauthToken" WHERE UserId = ? AND AppName = ?'
    before = conn.execute(sql, (uid, incident.app)).fetchone()
    scenarios.inject(conn, "dormant_grant", at, state_dir=org)
    live.tick(to_ms(NOW + timedelta(minutes=40)))  # applies it mid-way: some events now, the rest later
    live.tick(to_ms(NOW + timedelta(hours=2)))
    after = conn.execute(sql, (uid, incident.app)).fetchone()
    assert after[0] == before[0] + 6  # a dormant grant has no other traffic: exactly its six refreshes
    assert after[1] == max(e[0] for e in incident.events)


def test_running_incident_is_continued_by_the_ticker(org: Path) -> None:
    conn = orgdb.connect(orgdb.db_path(org))
    live = Live(conn)
    at = NOW - timedelta(minutes=30)
    result = scenarios.inject(conn, "runaway_integration", at, state_dir=org)
    first = result["written"]
    assert 0 < first < result["events"]
    live.tick(to_ms(NOW + timedelta(hours=2)))
    n = conn.execute(
        "SELECT COUNT(*) FROM \"LoginHistory\" WHERE substr(Id, 6, 1) = '2' AND Application = ?",
        (result["app"],),
    ).fetchone()[0]
    assert n == result["events"]
