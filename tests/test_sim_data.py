"""The local org's generated data: deterministic, consistent, realistic enough for the detectors."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from oauthwatch.simulator import orgdb
from oauthwatch.simulator.generator import build_org, org_facts
from oauthwatch.simulator.ids import is_valid
from oauthwatch.simulator.live import record_login

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
