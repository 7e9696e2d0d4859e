"""The local org's generated data: deterministic, consistent, realistic enough for the detectors."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from oauthwatch.simulator.data import orgdb
from oauthwatch.simulator.data.ids import is_valid
from oauthwatch.simulator.generate.build import build_org, org_facts
from oauthwatch.simulator.generate.live import record_login

NOW = datetime(2026, 3, 18, 15, 20, 11, tzinfo=UTC)


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    state = tmp_path_factory.mktemp("org")
    build_org(state, seed=7, days=14, users=200, now=NOW)
    return state


def connect(state: Path) -> sqlite3.Connection:
    return orgdb.connect(orgdb.db_path(state))


def test_build_is_deterministic_and_seed_dependent(org: Path, tmp_path: Path) -> None:
    again, other = tmp_path / "again", tmp_path / "other"
    build_org(again, seed=7, days=14, users=200, now=NOW)
    build_org(other, seed=8, days=14, users=200, now=NOW)
    sql = 'SELECT Id, UserId, LoginTime, Status, SourceIp, Application FROM "LoginHistory" ORDER BY Id'
    a, b, c = (connect(p).execute(sql).fetchall() for p in (org, again, other))
    assert a == b
    assert a != c
    tok = 'SELECT AppName, UserId, UseCount, LastUsedDate, DeleteToken FROM "OauthToken" ORDER BY DeleteToken'
    assert connect(org).execute(tok).fetchall() == connect(again).execute(tok).fetchall()
    assert (org / "oauthwatch-jwt.key").read_bytes() == (again / "oauthwatch-jwt.key").read_bytes()


def test_rebuild_with_same_parameters_keeps_the_database(org: Path) -> None:
    before = orgdb.db_path(org).stat().st_mtime_ns
    build_org(org, seed=7, days=14, users=200, now=NOW)
    assert orgdb.db_path(org).stat().st_mtime_ns == before


def test_ids_are_valid_and_prefixed(org: Path) -> None:
    conn = connect(org)
    for table, prefix in [("LoginHistory", "0Ya"), ("LoginGeo", "04F"), ("User", "005"), ("ConnectedApplication", "0H4"),
                          ("Organization", "00D"), ("SetupAuditTrail", "0Ym"), ("PermissionSet", "0PS")]:  # fmt: skip
        ids = [r[0] for r in conn.execute(f'SELECT Id FROM "{table}" LIMIT 500')]
        assert ids, table
        assert all(i.startswith(prefix) and is_valid(i) for i in ids), table


def test_referential_consistency(org: Path) -> None:
    conn = connect(org)
    orphans = conn.execute(
        'SELECT COUNT(*) FROM "LoginHistory" lh LEFT JOIN "User" u ON u.Id = lh.UserId WHERE u.Id IS NULL'
    ).fetchone()[0]
    assert orphans == 0
    mismatched = conn.execute(
        """SELECT COUNT(*) FROM "LoginHistory" lh JOIN "LoginGeo" g ON g.Id = lh.LoginGeoId
           WHERE g.CountryIso IS NOT lh.CountryIso OR g.LoginTime != lh.LoginTime"""
    ).fetchone()[0]
    assert mismatched == 0
    assert (
        conn.execute(
            'SELECT COUNT(*) FROM "LoginHistory" WHERE LoginGeoId NOT IN (SELECT Id FROM "LoginGeo")'
        ).fetchone()[0]
        == 0
    )
    apps = {r[0] for r in conn.execute('SELECT Name FROM "ConnectedApplication"')}
    external = {
        r[0] for r in conn.execute("SELECT Label FROM _AppConfig WHERE Model = 'ExternalClientApplication'")
    }
    # External Client Apps have no ConnectedApplication row, but their grants and logins name them
    assert external
    assert not external & apps
    apps |= external
    assert {r[0] for r in conn.execute('SELECT DISTINCT AppName FROM "OauthToken"')} <= apps
    oauth_apps = {
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT Application FROM \"LoginHistory\" WHERE LoginType = 'Remote Access 2.0'"
        )
    }
    assert oauth_apps <= apps
    assert (
        conn.execute(
            'SELECT COUNT(*) FROM "OauthToken" WHERE UserId NOT IN (SELECT Id FROM "User")'
        ).fetchone()[0]
        == 0
    )


def test_org_facts_name_a_usable_app_and_users(org: Path) -> None:
    conn = connect(org)
    facts = org_facts(conn)
    assert facts["org_id"].startswith("00D")
    assert (org / facts["private_key_file"]).stat().st_mode & 0o777 == 0o600
    assert (org / facts["certificate_file"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
    app = conn.execute(
        "SELECT Flows, Scopes, IsAdminApproved, ClientCredentialUserId, CallbackUrl, AppId FROM _AppConfig WHERE ConsumerKey = ?",
        (facts["consumer_key"],),
    ).fetchone()
    assert sorted(json.loads(app[0])) == sorted(
        ["jwt", "client_credentials", "web_server", "refresh_token", "password"]
    )
    assert app[2] == 1
    assert app[4] == "http://localhost:1717/callback"
    jwt_user = conn.execute(
        'SELECT Id, ProfileId FROM "User" WHERE Username = ?', (facts["jwt_username"],)
    ).fetchone()
    assert jwt_user[0] == app[3]
    for username in (facts["jwt_username"], facts["username"]):
        allowed = conn.execute(
            """SELECT COUNT(*) FROM "User" u JOIN "PermissionSet" ps ON ps.ProfileId = u.ProfileId
               JOIN "SetupEntityAccess" sea ON sea.ParentId = ps.Id WHERE u.Username = ? AND sea.SetupEntityId = ?""",
            (username, app[5]),
        ).fetchone()[0]
        assert allowed == 1, username
    pw = conn.execute(
        'SELECT s.Password FROM _UserSecret s JOIN "User" u ON u.Id = s.UserId WHERE u.Username = ?',
        (facts["username"],),
    ).fetchone()[0]
    assert pw == facts["password"]


def test_record_login_writes_history_and_geo(tmp_path: Path, org: Path) -> None:
    conn = connect(org)
    uid = conn.execute('SELECT Id FROM "User" LIMIT 1').fetchone()[0]
    when = 1_773_847_211_000
    lid = record_login(conn, user_id=uid, app_label="OAuthwatch", login_type="Remote Access 2.0", login_subtype=None,
                       status="Success", source_ip="3.214.120.77", login_url="localhost", when_ms=when)  # fmt: skip
    lid2 = record_login(conn, user_id=uid, app_label="OAuthwatch", login_type="Remote Access 2.0", login_subtype=None,
                        status="Failed: Signature Invalid", source_ip="127.0.0.1", login_url="localhost", when_ms=when)  # fmt: skip
    conn.commit()
    assert lid != lid2
    assert is_valid(lid)
    assert lid.startswith("0Ya")
    row = conn.execute(
        'SELECT lh.CountryIso, g.City, g.CountryIso, lh.Status FROM "LoginHistory" lh JOIN "LoginGeo" g ON g.Id = lh.LoginGeoId WHERE lh.Id = ?',
        (lid,),
    ).fetchone()
    assert row == ("US", "Ashburn", "US", "Success")
    assert conn.execute('SELECT CountryIso FROM "LoginHistory" WHERE Id = ?', (lid2,)).fetchone()[0] is None
    conn.execute('DELETE FROM "LoginHistory" WHERE Id IN (?, ?)', (lid, lid2))
    conn.commit()


def test_weekday_and_working_hour_rhythm(org: Path) -> None:
    from zoneinfo import ZoneInfo

    conn = connect(org)
    rows = conn.execute(
        """SELECT lh.LoginTime, u.TimeZoneSidKey FROM "LoginHistory" lh JOIN "User" u ON u.Id = lh.UserId
           WHERE lh.LoginType = 'Application'"""
    ).fetchall()
    weekday = weekend = work = night = 0
    for t, tz in rows:
        local = datetime.fromtimestamp(t / 1000, tz=ZoneInfo(tz))
        if local.weekday() >= 5:
            weekend += 1
        else:
            weekday += 1
            if 9 <= local.hour < 17:
                work += 1
            elif local.hour < 6:
                night += 1
    assert weekday / 5 > 5 * (weekend / 2)  # per day: weekends are quiet
    assert work > 10 * max(1, night)  # people log in during their working hours


def test_integrations_come_from_fixed_cloud_networks(org: Path) -> None:
    conn = connect(org)
    rows = conn.execute(
        """SELECT lh.Application, COUNT(DISTINCT lh.SourceIp), COUNT(DISTINCT lh.CountryIso), MIN(lh.LoginSubType)
           FROM "LoginHistory" lh JOIN _AppConfig c ON c.Label = lh.Application WHERE c.Kind = 'integration'
           GROUP BY lh.Application"""
    ).fetchall()
    assert len(rows) >= 3
    for _app, ips, countries, _sub in rows:
        assert ips <= 6
        assert countries == 1
    jwt = conn.execute(
        """SELECT COUNT(*) FROM "LoginHistory" lh JOIN _AppConfig c ON c.Label = lh.Application
           WHERE c.Flows = '["jwt"]' AND lh.LoginSubType IS NOT NULL"""
    ).fetchone()[0]
    assert jwt == 0  # JWT bearer logins have no LoginSubType
    user_countries = conn.execute(
        """SELECT COUNT(DISTINCT CountryIso) FROM "LoginHistory" WHERE LoginSubType = 'OAuth Web Server'"""
    ).fetchone()[0]
    assert user_countries >= 5
    browsers = {
        r[0]
        for r in conn.execute("SELECT DISTINCT Browser FROM \"LoginHistory\" WHERE Application = 'Browser'")
    }
    assert any(b.startswith("Chrome ") for b in browsers)


def test_failures_use_salesforce_status_texts(org: Path) -> None:
    conn = connect(org)
    statuses = dict(conn.execute('SELECT Status, COUNT(*) FROM "LoginHistory" GROUP BY Status').fetchall())
    total = sum(statuses.values())
    assert 0.9 < statuses["Success"] / total < 0.999
    for text in ("Invalid Password", "Failed: Signature Invalid", "User is Inactive"):
        assert statuses.get(text, 0) > 0, text


def test_grants_policies_and_audit_look_like_a_real_org(org: Path) -> None:
    conn = connect(org)
    now = int(NOW.timestamp() * 1000)
    day = 86_400_000
    assert (
        conn.execute(
            'SELECT COUNT(*) FROM "OauthToken" WHERE LastUsedDate < ?', (now - 90 * day,)
        ).fetchone()[0]
        >= 2
    )
    dormant = conn.execute(
        'SELECT COUNT(*) FROM "OauthToken" WHERE LastUsedDate BETWEEN ? AND ?',
        (now - 90 * day, now - 30 * day),
    ).fetchone()[0]
    assert dormant >= 1
    assert (
        conn.execute(
            'SELECT COUNT(*) FROM "OauthToken" WHERE UseCount < 1 OR DeleteToken IS NULL'
        ).fetchone()[0]
        == 0
    )
    cfg = conn.execute(
        "SELECT IpRelaxation, RefreshTokenPolicy, Scopes, CertificatePem, Kind FROM _AppConfig"
    ).fetchall()
    assert sum(r[0] == "BYPASS" for r in cfg) == 1
    assert sum(r[1] == "infinite" for r in cfg) >= 2
    assert sum('"Full"' in r[2] for r in cfg) >= 1
    from cryptography import x509

    soon = [
        r[4]
        for r in cfg
        if r[3]
        and x509.load_pem_x509_certificate(r[3].encode()).not_valid_after_utc.timestamp() * 1000
        < now + 30 * day
    ]
    assert soon == ["integration"]
    actions = {r[0] for r in conn.execute('SELECT DISTINCT Action FROM "SetupAuditTrail"')}
    assert {"insertConnectedApplication", "changedConnectedAppAttribute", "PermSetAssign"} <= actions
    sections = {r[0] for r in conn.execute('SELECT DISTINCT Section FROM "SetupAuditTrail"')}
    assert {"Connected Apps", "Manage Users"} <= sections
    assert (
        conn.execute(
            """SELECT COUNT(*) FROM "PermissionSet" WHERE IsOwnedByProfile = 1 AND ProfileId IN (SELECT Id FROM "Profile")"""
        ).fetchone()[0]
        == conn.execute('SELECT COUNT(*) FROM "Profile"').fetchone()[0]
    )
    assert conn.execute('SELECT COUNT(*) FROM "User" WHERE IsActive = 0').fetchone()[0] >= 1


def test_large_orgs_have_more_grants_than_the_oauthtoken_cap() -> None:
    from oauthwatch.simulator.generate.plan import make_plan

    end = int(NOW.timestamp() * 1000)
    plan = make_plan(seed=7, users=2500, apps=12, start_ms=end - 30 * 86_400_000, end_ms=end)
    assert len(plan.grants) > 2500


def test_grant_use_counts_cover_the_logins_they_made(org: Path) -> None:
    conn = connect(org)
    rows = conn.execute(
        """SELECT t.UserId, t.AppName, t.UseCount, t.LastUsedDate, t.CreatedDate, COUNT(lh.Id), MAX(lh.LoginTime)
           FROM "OauthToken" t JOIN "LoginHistory" lh ON lh.UserId = t.UserId AND lh.Application = t.AppName
           WHERE lh.Status = 'Success' AND lh.LoginSubType IN ('OAuth Refresh Token', 'OAuth Web Server')
           GROUP BY t.UserId, t.AppName"""
    ).fetchall()
    assert len(rows) > 50
    for _uid, _app, uses, last, created, logins, newest in rows:
        assert uses >= logins
        assert last == newest
        assert created <= newest
    # every app that refreshed tokens in the window has grants for the users who did it
    missing = conn.execute(
        """SELECT COUNT(DISTINCT lh.UserId || lh.Application) FROM "LoginHistory" lh
           JOIN _AppConfig c ON c.Label = lh.Application
           WHERE lh.Status = 'Success' AND lh.LoginSubType = 'OAuth Refresh Token' AND c.Flows LIKE '%refresh_token%'
           AND NOT EXISTS (SELECT 1 FROM "OauthToken" t WHERE t.UserId = lh.UserId AND t.AppName = lh.Application)"""
    ).fetchone()[0]
    assert missing == 0


def test_other_parameters_rebuild_and_more_apps_are_generated(tmp_path: Path) -> None:
    build_org(tmp_path, seed=7, days=2, users=40, apps=12, now=NOW)
    build_org(tmp_path, seed=7, days=2, users=60, apps=15, now=NOW)
    conn = connect(tmp_path)
    assert conn.execute('SELECT COUNT(*) FROM "User"').fetchone()[0] == 60
    names = [r[0] for r in conn.execute('SELECT Name FROM "ConnectedApplication"')]
    names += [
        r[0] for r in conn.execute("SELECT Label FROM _AppConfig WHERE Model = 'ExternalClientApplication'")
    ]
    assert len(names) == len(set(names)) == 15
    assert conn.execute("SELECT COUNT(*) FROM _AppConfig").fetchone()[0] == 15
    assert not list(tmp_path.glob("*.building"))


def test_record_login_mirrors_login_event_when_licensed(tmp_path: Path) -> None:
    build_org(tmp_path, seed=7, days=1, users=30, now=NOW, licensed=True)
    conn = connect(tmp_path)
    uid = conn.execute('SELECT Id FROM "User" LIMIT 1').fetchone()[0]
    lid = record_login(conn, user_id=uid, app_label="OAuthwatch", login_type="Remote Access 2.0",
                       login_subtype="OAuth Client Credentials", status="Success", source_ip="52.212.64.9",
                       login_url="localhost", when_ms=int(NOW.timestamp() * 1000) + 5000)  # fmt: skip
    row = conn.execute(
        'SELECT Country, City, LoginSubType FROM "LoginEvent" WHERE LoginHistoryId = ?', (lid,)
    ).fetchone()
    assert row == ("Ireland", "Dublin", "OAuth Client Credentials")
