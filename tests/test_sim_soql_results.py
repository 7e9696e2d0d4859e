"""What the local org's SOQL returns over a small org database: filters, ordering, JSON shapes."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import orjson
import pytest

from oauthwatch.simulator.data import orgdb
from oauthwatch.simulator.soql.parser import SoqlError
from oauthwatch.simulator.soql.records import format_datetime
from oauthwatch.simulator.soql.service import QueryService

NOW = int(datetime(2024, 6, 5, 12, 30, tzinfo=UTC).timestamp() * 1000)


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


U1, U2 = "005000000000001AAA", "005000000000002AAA"
GEO = "04F000000000001AAA"
LOGINS = [
    # Id, UserId, LoginTime, LoginType, LoginSubType, SourceIp, Status, Application, CountryIso, LoginGeoId, OptionsIsGet
    (
        "0Ya000000000001AAA",
        U1,
        ms(2024, 6, 5, 9, 0, 0) + 937,
        "Remote Access 2.0",
        "OAuth Refresh Token",
        "192.0.2.1",
        "Success",
        "Billing Sync",
        "FR",
        GEO,
        0,
    ),
    (
        "0Ya000000000002AAA",
        U2,
        ms(2024, 6, 4, 23, 59, 59) + 999,
        "Remote Access 2.0",
        None,
        "192.0.2.2",
        "Failed: Signature Invalid",
        "Billing Sync",
        None,
        None,
        1,
    ),
    (
        "0Ya000000000003AAA",
        U1,
        ms(2024, 6, 3, 8),
        "Application",
        "UI Username-Password",
        "192.0.2.3",
        "Success",
        "Browser",
        "DE",
        None,
        None,
    ),
    (
        "0Ya000000000004AAA",
        U2,
        ms(2024, 5, 20, 7),
        "Other Apex API",
        None,
        "192.0.2.4",
        "Invalid Password",
        "Data Loader",
        "US",
        GEO,
        0,
    ),
    (
        "0Ya000000000005AAA",
        U1,
        ms(2024, 4, 30, 6),
        "Remote Access 2.0",
        "OAuth Client Credentials",
        "192.0.2.5",
        "Success",
        "50% Off_App",
        None,
        None,
        0,
    ),
]


@pytest.fixture
def svc(tmp_path):
    path = orgdb.db_path(tmp_path)
    conn = orgdb.connect(path)
    orgdb.create_schema(conn, licensed=False)
    conn.execute(
        "INSERT INTO Profile (Id, Name, PermissionsApiEnabled) VALUES ('00e000000000001AAA', 'System Administrator', 1)"
    )
    conn.executemany(
        'INSERT INTO "User" (Id, Username, Name, IsActive, ProfileId, CreatedDate) VALUES (?, ?, ?, ?, ?, ?)',
        [
            (U1, "alice@example.com", "Alice", 1, "00e000000000001AAA", ms(2023, 1, 2, 3, 4, 5)),
            (U2, "bob@example.com", "Bob", 0, None, ms(2023, 2, 3)),
        ],
    )
    conn.execute(
        "INSERT INTO LoginGeo (Id, City, Country, CountryIso, Latitude, Longitude, LoginTime) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (GEO, "Paris", "France", "FR", 48.85, 2, ms(2024, 6, 5, 9)),
    )
    conn.executemany(
        "INSERT INTO LoginHistory (Id, UserId, LoginTime, LoginType, LoginSubType, SourceIp, Status, Application, "
        "CountryIso, LoginGeoId, OptionsIsGet) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        LOGINS,
    )
    conn.execute(
        "INSERT INTO PermissionSet (Id, Name, Label, IsOwnedByProfile, ProfileId) VALUES "
        "('0PS000000000001AAA', 'X00ex', 'Admin PS', 1, '00e000000000001AAA'), "
        "('0PS000000000002AAA', 'Integration', 'Integration', 0, NULL)"
    )
    conn.execute(
        "INSERT INTO SetupEntityAccess (Id, ParentId, SetupEntityId, SetupEntityType) VALUES "
        "('0J0000000000001AAA', '0PS000000000001AAA', '0H4000000000001AAA', 'ConnectedApplication'), "
        "('0J0000000000002AAA', '0PS000000000002AAA', '0H4000000000001AAA', 'ConnectedApplication')"
    )
    conn.execute(
        "INSERT INTO ConnectedApplication (Id, Name, CreatedDate, CreatedById, OptionsAllowAdminApprovedUsersOnly, "
        "RefreshTokenValidityPeriod) VALUES ('0H4000000000001AAA', 'Billing Sync', ?, ?, 1, 90)",
        (ms(2023, 5, 1), U1),
    )
    conn.execute(
        "INSERT INTO EventLogFile (Id, EventType, LogDate, Interval, Sequence, LogFileLength, ApiVersion) "
        "VALUES ('0AT000000000001AAA', 'Login', ?, 'Daily', 0, 2692, 62)",
        (ms(2024, 6, 4),),
    )
    conn.execute(
        "INSERT INTO OauthToken (Id, AppName, UserId, UseCount, LastUsedDate, DeleteToken) VALUES "
        "(NULL, 'Billing Sync', ?, 12, ?, 'secret-delete-token')",
        (U1, ms(2024, 6, 1)),
    )
    conn.commit()
    conn.close()
    service = QueryService(path, licensed=False, now_ms=lambda: NOW)
    yield service
    service.close()


def ids(svc: QueryService, soql: str) -> list[str]:
    return [r["Id"][3:15].lstrip("0") for r in svc.run(soql)["records"]]


def test_record_shape_matches_salesforce_json(svc):
    body = svc.run(
        "SELECT id, logintime, LoginType, LoginGeo.Country, LoginGeo.Latitude, OptionsIsGet, Status "
        "FROM LoginHistory WHERE Id = '0Ya000000000001AAA'"
    )
    assert body == {
        "totalSize": 1,
        "done": True,
        "records": [
            {
                "attributes": {
                    "type": "LoginHistory",
                    "url": "/services/data/v62.0/sobjects/LoginHistory/0Ya000000000001AAA",
                },
                "Id": "0Ya000000000001AAA",
                "LoginTime": "2024-06-05T09:00:00.937+0000",
                "LoginType": "Remote Access 2.0",
                "LoginGeo": {
                    "attributes": {
                        "type": "LoginGeo",
                        "url": "/services/data/v62.0/sobjects/LoginGeo/04F000000000001AAA",
                    },
                    "Country": "France",
                    "Latitude": 48.85,
                },
                "OptionsIsGet": False,
                "Status": "Success",
            }
        ],
    }
    assert list(body["records"][0]) == [
        "attributes",
        "Id",
        "LoginTime",
        "LoginType",
        "LoginGeo",
        "OptionsIsGet",
        "Status",
    ]


def test_null_lookup_is_null_and_null_boolean_stays_null(svc):
    rec = svc.run("SELECT LoginGeo.City, OptionsIsGet FROM LoginHistory WHERE Id = '0Ya000000000003AAA'")[
        "records"
    ][0]
    assert rec["LoginGeo"] is None
    assert rec["OptionsIsGet"] is None
    assert rec["attributes"]["url"].endswith("/LoginHistory/0Ya000000000003AAA")  # url without Id selected


def test_api_version_in_urls(svc):
    rec = svc.run("SELECT Id FROM LoginHistory LIMIT 1", api_version="59.0")["records"][0]
    assert rec["attributes"]["url"].startswith("/services/data/v59.0/sobjects/LoginHistory/")


def test_doubles_ints_and_dates_render_like_salesforce(svc):
    rec = svc.run("SELECT Id, LogFileLength, Sequence, LogDate, ApiVersion FROM EventLogFile")["records"][0]
    raw = orjson.dumps(rec).decode()
    assert '"LogFileLength":2692.0' in raw
    assert '"ApiVersion":62.0' in raw
    assert '"Sequence":0' in raw
    assert rec["LogDate"] == "2024-06-04T00:00:00.000+0000"


def test_multi_level_and_created_by_relationships(svc):
    recs = svc.run("SELECT Id, Parent.Profile.Name, Parent.Label FROM SetupEntityAccess ORDER BY Id")[
        "records"
    ]
    assert recs[0]["Parent"] == {
        "attributes": {
            "type": "PermissionSet",
            "url": "/services/data/v62.0/sobjects/PermissionSet/0PS000000000001AAA",
        },
        "Profile": {
            "attributes": {
                "type": "Profile",
                "url": "/services/data/v62.0/sobjects/Profile/00e000000000001AAA",
            },
            "Name": "System Administrator",
        },
        "Label": "Admin PS",
    }
    assert recs[1]["Parent"]["Profile"] is None
    assert recs[1]["Parent"]["Label"] == "Integration"
    app = svc.run(
        "SELECT Name, CreatedBy.Username, OptionsAllowAdminApprovedUsersOnly, RefreshTokenValidityPeriod FROM ConnectedApplication"
    )
    rec = app["records"][0]
    assert rec["CreatedBy"]["Username"] == "alice@example.com"
    assert rec["OptionsAllowAdminApprovedUsersOnly"] is True
    assert rec["RefreshTokenValidityPeriod"] == 90
    assert (
        svc.run("SELECT Username, Profile.Name FROM User WHERE Profile.Name = 'system administrator'")[
            "totalSize"
        ]
        == 1
    )


def test_oauth_token_id_is_null_and_record_has_no_url(svc):
    rec = svc.run("SELECT Id, AppName, UseCount, LastUsedDate, User.Username FROM OauthToken")["records"][0]
    assert rec["attributes"] == {"type": "OauthToken"}
    assert rec["Id"] is None
    assert rec["UseCount"] == 12
    assert rec["User"]["Username"] == "alice@example.com"


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("LoginType = 'Remote Access 2.0'", ["1", "2", "5"]),
        ("LoginType = 'remote access 2.0'", ["1", "2", "5"]),  # SOQL string equality ignores case
        ("LoginType != 'Remote Access 2.0'", ["3", "4"]),
        ("CountryIso != 'FR'", ["2", "3", "4", "5"]),  # != matches nulls
        ("NOT CountryIso = 'FR'", ["2", "3", "4", "5"]),
        ("CountryIso = null", ["2", "5"]),
        ("CountryIso != null", ["1", "3", "4"]),
        ("CountryIso IN ('FR', 'de')", ["1", "3"]),
        ("CountryIso NOT IN ('FR', 'DE')", ["2", "4", "5"]),
        ("CountryIso IN ('FR', null)", ["1", "2", "5"]),
        ("CountryIso NOT IN ('FR', null)", ["3", "4"]),
        ("NOT (CountryIso NOT IN ('FR'))", ["1"]),
        ("NOT (CountryIso != 'FR')", ["1"]),
        ("LoginUrl = null", ["1", "2", "3", "4", "5"]),
        ("OptionsIsGet = false", ["1", "4", "5"]),
        ("OptionsIsGet = true", ["2"]),
        ("OptionsIsGet != true", ["1", "3", "4", "5"]),
        ("UserId = '005000000000002AAA' AND LoginType = 'Remote Access 2.0'", ["2"]),
        (
            "(UserId = '005000000000002AAA' OR CountryIso = 'DE') AND LoginType != 'Other Apex API'",
            ["2", "3"],
        ),
        ("NOT (UserId = '005000000000001AAA' OR CountryIso = 'US')", ["2"]),
        ("LoginGeo.City = 'Paris'", ["1", "4"]),
        ("LoginGeo.City != 'Paris'", ["2", "3", "5"]),
        ("LoginUrl LIKE 'x%'", []),
        ("CountryIso LIKE 'f_'", ["1"]),
        ("LoginType LIKE '%Access%'", ["1", "2", "5"]),
        ("NOT LoginType LIKE '%Access%'", ["3", "4"]),
    ],
)
def test_where_semantics(svc, where, expected):
    assert ids(svc, f"SELECT Id FROM LoginHistory WHERE {where} ORDER BY Id") == expected


def test_fifteen_character_ids_match(svc):
    conn = orgdb.connect(svc.db_path)
    conn.execute("INSERT INTO User (Id, Username) VALUES ('001D000000IqhSLIAZ', 'real@example.com')")
    conn.commit()
    conn.close()
    rows = svc.run("SELECT Username FROM User WHERE Id = '001D000000IqhSL'")["records"]
    assert [r["Username"] for r in rows] == ["real@example.com"]
    assert (
        svc.run("SELECT Username FROM User WHERE Id = '001d000000IqhSL'")["totalSize"] == 0
    )  # Ids are case-sensitive
    assert (
        svc.run(f"SELECT Username FROM User WHERE Id = '{U1[:15]}'")["records"][0]["Username"]
        == "alice@example.com"
    )


def test_like_wildcards_can_be_escaped(svc):
    def count(pattern: str) -> int:
        return svc.run(f"SELECT Name FROM User WHERE Name LIKE '{pattern}'")["totalSize"]

    assert count("A%") == 1
    assert count("_ob") == 1
    assert count("%") == 2
    # LoginHistory.Application is not filterable, so use an object whose string fields are.
    rec = svc.run(r"SELECT COUNT() FROM ConnectedApplication WHERE Name LIKE 'Billing\_Sync'")
    assert rec["totalSize"] == 0
    assert (
        svc.run(r"SELECT COUNT() FROM ConnectedApplication WHERE Name LIKE 'Billing_Sync'")["totalSize"] == 1
    )
    assert (
        svc.run(r"SELECT COUNT() FROM ConnectedApplication WHERE Name LIKE 'Billing Sync\%'")["totalSize"]
        == 0
    )


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("LoginTime > 2024-06-04T23:59:59.999Z", ["1"]),
        ("LoginTime >= 2024-06-04T23:59:59.999Z", ["1", "2"]),
        ("LoginTime >= 2024-06-05T01:59:59.999+02:00", ["1", "2"]),
        ("LoginTime = 2024-06-05T09:00:00.937Z", ["1"]),
        ("LoginTime < 2024-05-01T00:00:00Z", ["5"]),
        ("LoginTime = TODAY", ["1"]),
        ("LoginTime = YESTERDAY", ["2"]),
        ("LoginTime > YESTERDAY", ["1"]),
        ("LoginTime >= YESTERDAY", ["1", "2"]),
        ("LoginTime < YESTERDAY", ["3", "4", "5"]),
        ("LoginTime <= YESTERDAY", ["2", "3", "4", "5"]),
        ("LoginTime != YESTERDAY", ["1", "3", "4", "5"]),
        ("LoginTime = LAST_N_DAYS:2", ["1", "2", "3"]),
        ("LoginTime = LAST_N_DAYS:30", ["1", "2", "3", "4"]),
        ("LoginTime = THIS_WEEK", ["1", "2", "3"]),
        ("LoginTime = LAST_MONTH", ["4"]),
        ("LoginTime = THIS_MONTH", ["1", "2", "3"]),
        ("LoginTime < LAST_MONTH", ["5"]),
        ("LoginTime = LAST_N_HOURS:4", ["1"]),
        ("LoginTime = TOMORROW", []),
        ("LoginTime = NEXT_N_DAYS:5", []),
    ],
)
def test_datetime_filters(svc, where, expected):
    assert ids(svc, f"SELECT Id FROM LoginHistory WHERE {where} ORDER BY Id") == expected


def test_date_only_literal_is_refused_on_datetime_fields(svc):
    # SOQL docs: "if you specify a date format value, you can filter on date fields only".
    with pytest.raises(SoqlError) as info:
        svc.run("SELECT Id FROM LoginHistory WHERE LoginTime = 2024-06-04")
    assert info.value.error_code == "INVALID_FIELD"
    assert "must be of type dateTime" in info.value.message


def test_order_by_directions_and_nulls(svc):
    assert ids(svc, "SELECT Id FROM LoginHistory ORDER BY LoginTime") == ["5", "4", "3", "2", "1"]
    assert ids(svc, "SELECT Id FROM LoginHistory ORDER BY LoginTime DESC") == ["1", "2", "3", "4", "5"]
    # Nulls sort first by default in both directions, unless NULLS LAST.
    assert ids(svc, "SELECT Id FROM LoginHistory ORDER BY CountryIso, Id") == ["2", "5", "3", "1", "4"]
    assert ids(svc, "SELECT Id FROM LoginHistory ORDER BY CountryIso DESC, Id") == ["2", "5", "4", "1", "3"]
    assert ids(svc, "SELECT Id FROM LoginHistory ORDER BY CountryIso NULLS LAST, Id DESC") == [
        "3",
        "1",
        "4",
        "5",
        "2",
    ]
    assert ids(svc, "SELECT Id FROM LoginHistory ORDER BY LoginGeo.City DESC NULLS LAST, Id") == [
        "1",
        "4",
        "2",
        "3",
        "5",
    ]
    assert ids(svc, "SELECT Id FROM LoginHistory ORDER BY Application, LoginTime DESC LIMIT 2") == ["5", "1"]


def test_string_order_ignores_case(svc):
    names = [r["Name"] for r in svc.run("SELECT Name FROM User ORDER BY Name")["records"]]
    assert names == ["Alice", "Bob"]
    conn = orgdb.connect(svc.db_path)
    conn.execute(
        "INSERT INTO User (Id, Username, Name) VALUES ('005000000000003AAA', 'c@example.com', 'aaron')"
    )
    conn.commit()
    conn.close()
    assert [r["Name"] for r in svc.run("SELECT Name FROM User ORDER BY Name")["records"]] == [
        "aaron",
        "Alice",
        "Bob",
    ]


def test_limit_and_offset(svc):
    assert ids(svc, "SELECT Id FROM LoginHistory ORDER BY Id LIMIT 2") == ["1", "2"]
    assert ids(svc, "SELECT Id FROM LoginHistory ORDER BY Id LIMIT 2 OFFSET 2") == ["3", "4"]
    assert ids(svc, "SELECT Id FROM LoginHistory ORDER BY Id OFFSET 4") == ["5"]
    body = svc.run("SELECT Id FROM LoginHistory ORDER BY Id LIMIT 2 OFFSET 4")
    assert body["totalSize"] == 1
    assert body["done"] is True


def test_count_queries(svc):
    assert svc.run("SELECT COUNT() FROM LoginHistory") == {"totalSize": 5, "done": True, "records": []}
    assert svc.run("SELECT COUNT() FROM LoginHistory WHERE LoginTime = THIS_WEEK")["totalSize"] == 3
    assert svc.run("SELECT COUNT() FROM LoginHistory LIMIT 2")["totalSize"] == 2
    assert svc.run("SELECT COUNT(Id) FROM LoginHistory WHERE UserId = '005000000000001AAA'") == {
        "totalSize": 1,
        "done": True,
        "records": [{"attributes": {"type": "AggregateResult"}, "expr0": 3}],
    }
    body = svc.run("SELECT COUNT(CountryIso) n FROM LoginHistory")
    assert body["records"][0]["n"] == 3  # COUNT(field) skips nulls
    assert svc.count("SELECT Id, Status FROM LoginHistory WHERE CountryIso != null") == 3


def test_empty_result(svc):
    assert svc.run("SELECT Id FROM LoginHistory WHERE LoginTime > 2030-01-01T00:00:00Z") == {
        "totalSize": 0,
        "done": True,
        "records": [],
    }


def test_columns_and_iter_records(svc):
    soql = "SELECT Id, LoginGeo.Country, LoginTime FROM LoginHistory ORDER BY LoginTime"
    assert svc.columns(soql) == ["Id", "LoginGeo.Country", "LoginTime"]
    recs = list(svc.iter_records(soql, fetch=2))
    assert [r["Id"] for r in recs] == [row[0] for row in sorted(LOGINS, key=lambda r: r[2])]
    assert recs[-1]["LoginGeo"]["Country"] == "France"


def test_total_size_counts_through_where_joins_only(svc):
    # The count query keeps the joins WHERE needs and drops the ones only SELECT needs.
    assert (
        svc.run("SELECT Id, LoginGeo.City FROM LoginHistory WHERE LoginGeo.City = 'Paris'")["totalSize"] == 2
    )
    assert svc.run("SELECT Id, LoginGeo.City FROM LoginHistory")["totalSize"] == 5
    assert svc.count("SELECT Id FROM SetupEntityAccess WHERE Parent.Profile.Name != null") == 1


@pytest.mark.parametrize(
    "when",
    [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(2024, 2, 29, 12, 0, 0, 5000, tzinfo=UTC),
        datetime(2024, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(2100, 3, 1, 0, 0, 0, 123000, tzinfo=UTC),
    ],
)
def test_datetime_wire_format(when):
    ms_value = int((when - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1000)
    expected = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"
    assert format_datetime(ms_value) == expected


def test_huge_numbers_and_ranges_compare_without_overflow(svc):
    assert svc.run("SELECT Id FROM OauthToken WHERE UseCount < 99999999999999999999999")["totalSize"] == 1
    assert svc.run("SELECT Id FROM OauthToken WHERE UseCount > 99999999999999999999999")["totalSize"] == 0
    assert svc.count("SELECT Id FROM LoginHistory WHERE LoginTime = LAST_N_DAYS:2147483647") == 5
    assert svc.count("SELECT Id FROM LoginHistory WHERE LoginTime = NEXT_N_DAYS:2147483647") == 0


_FUZZ_FIELDS = {
    "LoginHistory": [
        "Id",
        "LoginTime",
        "UserId",
        "LoginType",
        "Status",
        "SourceIp",
        "LoginGeo.Country",
        "OptionsIsGet",
    ],
    "User": ["Id", "Username", "Profile.Name", "IsActive", "CreatedDate"],
    "OauthToken": ["Id", "AppName", "UseCount", "LastUsedDate", "User.Username"],
    "SetupEntityAccess": ["Id", "Parent.Profile.Name", "Parent.Name", "SetupEntityType"],
}
_FUZZ_VALUES = ["'x'", "'%a%'", "5", "2.5", "true", "null", "2024-05-01T00:00:00Z", "2024-05-01", "TODAY"]
_FUZZ_VALUES += ["LAST_N_DAYS:3", "'005000000000001AAA'", "'005000000000001'", "99999999999999999999999"]


def test_random_valid_looking_queries_answer_or_fail_as_soql_errors(svc):
    """Every generated query either answers consistently or raises SoqlError; SQLite never leaks a 500."""
    rng = random.Random(11)
    answered = 0
    for _ in range(400):
        obj = rng.choice(list(_FUZZ_FIELDS))
        fields = _FUZZ_FIELDS[obj]
        conds = []
        for _ in range(rng.randint(0, 3)):
            field = rng.choice(fields)
            if rng.random() < 0.2:
                conds.append(
                    f"{field} {rng.choice(['IN', 'NOT IN'])} ({', '.join(rng.sample(_FUZZ_VALUES, 2))})"
                )
            else:
                op = rng.choice(["=", "!=", "<", ">=", "LIKE"])
                conds.append(f"{'NOT ' if rng.random() < 0.2 else ''}{field} {op} {rng.choice(_FUZZ_VALUES)}")
        where = f" WHERE {rng.choice([' AND ', ' OR ']).join(conds)}" if conds else ""
        order = f" ORDER BY {rng.choice(fields)} {rng.choice(['ASC', 'DESC NULLS LAST', ''])}"
        soql = f"SELECT {', '.join(rng.sample(fields, rng.randint(1, len(fields))))} FROM {obj}{where}{order}"
        try:
            body = svc.run(soql, batch_size=200)
        except SoqlError:
            continue
        answered += 1
        assert body["totalSize"] == len(body["records"]) == svc.count(soql)
    assert answered > 50
