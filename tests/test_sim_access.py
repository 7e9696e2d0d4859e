"""The local org's access model: effective permissions from profile, permission sets and groups;
Salesforce's visibility rules on every object the product reads; LoginEvent held to big-object SOQL.

Queries run through the org's query service as a given user (the REST layer does the same with the
session's user), and once over HTTPS with ``--integration-permissions``.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from simorg import make_local_org, org_template  # noqa: F401 - fixtures
from simple_salesforce.exceptions import SalesforceMalformedRequest

from oauthwatch.simulator.data import orgdb, permissions
from oauthwatch.simulator.data.permissions import Viewer
from oauthwatch.simulator.generate.access import grant_integration, integration_user
from oauthwatch.simulator.generate.build import build_org
from oauthwatch.simulator.soql.parser import SoqlError
from oauthwatch.simulator.soql.service import QueryService

NOW = datetime(2026, 11, 2, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    state = tmp_path_factory.mktemp("access-org")
    build_org(state, seed=3, days=3, users=40, apps=8, licensed=True, now=NOW)
    return state


@pytest.fixture
def db(org: Path):
    conn = orgdb.connect(orgdb.db_path(org))
    yield conn
    grant_integration(conn, permissions.PRODUCT_NEEDS)  # leave the module's org as built
    conn.close()


def service(org: Path) -> QueryService:
    return QueryService(orgdb.db_path(org), licensed=True, now_ms=lambda: int(NOW.timestamp() * 1000))


def viewer(db, *granted: str) -> Viewer:
    grant_integration(db, granted)
    user = integration_user(db)
    assert user is not None
    return Viewer(user, permissions.effective(db, user))


def count(org: Path, soql: str, who: Viewer | None) -> int:
    return int(service(org).run(soql, viewer=who)["totalSize"])


def test_effective_permissions_come_from_profile_set_and_group(org, db):
    user = integration_user(db)
    assert permissions.effective(db, user) >= set(permissions.PRODUCT_NEEDS)
    rows = service(org).run(
        "SELECT PermissionSet.Type, PermissionSet.PermissionsApiEnabled, PermissionSet.PermissionsViewSetup, "
        "PermissionSet.PermissionsViewEventLogFiles, PermissionSetGroupId FROM PermissionSetAssignment "
        f"WHERE AssigneeId = '{user}'",
        viewer=viewer(db, *permissions.PRODUCT_NEEDS),
    )["records"]
    by_type = {r["PermissionSet"]["Type"]: r for r in rows}
    assert set(by_type) == {"Profile", "Regular", "Group"}
    assert by_type["Profile"]["PermissionSet"]["PermissionsApiEnabled"] is True
    assert by_type["Regular"]["PermissionSet"]["PermissionsViewSetup"] is True
    assert by_type["Group"]["PermissionSet"]["PermissionsViewEventLogFiles"] is True
    assert by_type["Group"]["PermissionSetGroupId"] is not None


def test_user_permission_access_answers_for_the_running_user(org, db):
    who = viewer(db, "ApiEnabled", "ViewSetup")
    (rec,) = service(org).run(
        "SELECT PermissionsApiEnabled, PermissionsViewSetup, PermissionsManageUsers FROM UserPermissionAccess",
        viewer=who,
    )["records"]
    assert (rec["PermissionsApiEnabled"], rec["PermissionsViewSetup"], rec["PermissionsManageUsers"]) == (
        True,
        True,
        False,
    )


@pytest.mark.parametrize(
    ("obj", "own", "needed"),
    [
        ("LoginHistory", "UserId", "ManageUsers"),
        ("LoginHistory", "UserId", "MonitorLoginHistory"),
        ("OauthToken", "UserId", "CustomizeApplication"),
    ],
)
def test_without_the_permission_only_own_rows_are_visible(org, db, obj, own, needed):
    everyone = count(org, f"SELECT Id FROM {obj}", None)
    restricted = viewer(db, "ApiEnabled", "ViewSetup")
    mine = count(org, f"SELECT Id FROM {obj} WHERE {own} = '{restricted.user_id}'", None)
    assert everyone > mine
    assert count(org, f"SELECT Id FROM {obj}", restricted) == mine
    assert service(org).run(f"SELECT COUNT() FROM {obj}", viewer=restricted)["totalSize"] == mine
    assert count(org, f"SELECT Id FROM {obj}", viewer(db, "ApiEnabled", needed)) == everyone


@pytest.mark.parametrize(
    ("obj", "needed"),
    [
        ("SetupAuditTrail", "ViewSetup"),
        ("ConnectedApplication", "ViewSetup"),
        ("SetupEntityAccess", "ViewSetup"),
        ("PermissionSetAssignment", "ViewSetup"),
        ("EventLogFile", "ViewEventLogFiles"),
        ("LoginEvent", "ViewDataLeakageEvents"),
        ("CredentialStuffingEventStore", "ViewDataLeakageEvents"),
    ],
)
def test_objects_the_user_may_not_see_do_not_exist_for_them(org, db, obj, needed):
    with pytest.raises(SoqlError) as err:
        service(org).run(f"SELECT Id FROM {obj}", viewer=viewer(db, "ApiEnabled"))
    assert err.value.error_code == "INVALID_TYPE"
    assert f"sObject type '{obj}' is not supported" in err.value.message
    service(org).run(f"SELECT Id FROM {obj} LIMIT 1", viewer=viewer(db, "ApiEnabled", needed))


@pytest.mark.parametrize(
    ("soql", "message"),
    [
        ("SELECT COUNT() FROM LoginEvent", "Aggregate functions not supported"),
        ("SELECT Id FROM LoginEvent ORDER BY EventDate ASC", "direction of the index"),
        ("SELECT Id FROM LoginEvent ORDER BY EventDate DESC, EventIdentifier ASC", "direction of the index"),
        ("SELECT Id FROM LoginEvent ORDER BY EventIdentifier DESC", "index fields in order"),
        ("SELECT Id FROM LoginEvent ORDER BY UserId DESC", "index fields in order"),
        ("SELECT Id FROM LoginEvent WHERE UserId = '005000000000001AAA'", "not on the index"),
        ("SELECT Id FROM LoginEvent WHERE EventIdentifier = 'x'", "without gaps"),
        ("SELECT Id FROM LoginEvent WHERE EventDate != 2026-11-01T00:00:00Z", "!= operator"),
        (
            "SELECT Id FROM LoginEvent WHERE EventDate > 2026-11-01T00:00:00Z OR EventDate < 2026-10-01T00:00:00Z",
            "Only AND",
        ),
        (
            "SELECT Id FROM LoginEvent WHERE EventDate > 2026-11-01T00:00:00Z AND EventIdentifier = 'x'",
            "range filter",
        ),
    ],
)
def test_login_event_refuses_what_a_big_object_refuses(org, soql, message):
    with pytest.raises(SoqlError) as err:
        service(org).run(soql)
    assert err.value.error_code == "BIG_OBJECT_UNSUPPORTED_OPERATION"
    assert message in err.value.message


def test_login_event_accepts_index_queries_in_index_order(org):
    window = "EventDate >= 2026-11-01T00:00:00Z AND EventDate < 2026-11-02T00:00:00Z"
    body = service(org).run(
        f"SELECT EventIdentifier, EventDate FROM LoginEvent WHERE {window} ORDER BY EventDate DESC"
    )
    dates = [r["EventDate"] for r in body["records"]]
    assert dates
    assert dates == sorted(dates, reverse=True)
    assert body["totalSize"] == count(org, f"SELECT Id FROM LoginEvent WHERE {window}", None)
    first = body["records"][0]
    exact = service(org).run(
        f"SELECT EventIdentifier FROM LoginEvent WHERE EventDate = {first['EventDate'].replace('+0000', 'Z')} "
        f"AND EventIdentifier = '{first['EventIdentifier']}' ORDER BY EventDate DESC, EventIdentifier DESC"
    )
    assert [r["EventIdentifier"] for r in exact["records"]] == [first["EventIdentifier"]]


def test_integration_permissions_over_https(make_local_org):  # noqa: F811
    org = make_local_org("--integration-permissions", "ApiEnabled,ViewSetup")
    sf = org.sf_login()
    me = sf.query("SELECT PermissionsViewSetup, PermissionsManageUsers FROM UserPermissionAccess")["records"][
        0
    ]
    assert (me["PermissionsViewSetup"], me["PermissionsManageUsers"]) == (True, False)
    user = org.token()["id"].rsplit("/", 1)[1]
    visible = sf.query("SELECT COUNT() FROM LoginHistory")["totalSize"]
    with org.db() as db:
        (mine,) = db.execute('SELECT COUNT(*) FROM "LoginHistory" WHERE UserId = ?', (user,)).fetchone()
    assert visible == mine
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id FROM EventLogFile LIMIT 1")
    assert err.value.content[0]["errorCode"] == "INVALID_TYPE"
    sf.query("SELECT Id FROM SetupAuditTrail LIMIT 1")


def test_unknown_permission_name_is_refused(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "oauthwatch.cli.simulate", "--state-dir", str(tmp_path / "o"),
         "--integration-permissions", "ApiEnabled,ViewEverything", "--days", "1", "--users", "5"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "unknown permission 'ViewEverything'" in proc.stderr
