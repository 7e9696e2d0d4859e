"""The local org's SOQL parser and checker: what it accepts, and Salesforce's error shapes for what it rejects."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pytest

from oauthwatch.simulator.soql.compiler import compile_query
from oauthwatch.simulator.soql.dates import day_range
from oauthwatch.simulator.soql.parser import BoolOp, Comparison, Not, SoqlError, parse

NOW = int(datetime(2024, 6, 5, 12, 30, tzinfo=UTC).timestamp() * 1000)  # a Wednesday


def check(soql: str, *, licensed: bool = False):
    return compile_query(parse(soql), licensed=licensed, now_ms=NOW)


def error_of(soql: str | None, *, licensed: bool = False) -> SoqlError:
    with pytest.raises(SoqlError) as info:
        check(soql, licensed=licensed)  # type: ignore[arg-type]
    return info.value


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


# --- accepted syntax -----------------------------------------------------------------------------


def test_full_statement_parses_into_tree():
    q = parse(
        "select Id, LoginGeo.Country from LoginHistory where LoginTime >= 2024-05-01T12:34:56.250Z "
        "and (LoginType = 'Remote Access 2.0' or UserId in ('005A', '005B')) and not CountryIso like 'F%' "
        "order by LoginTime desc nulls last, Id limit 10 offset 20"
    )
    assert q.sobject == "LoginHistory"
    assert [f.path for f in q.fields] == [("Id",), ("LoginGeo", "Country")]
    assert isinstance(q.where, BoolOp)
    assert q.where.op == "AND"
    assert len(q.where.items) == 3
    first, second, third = q.where.items
    assert isinstance(first, Comparison)
    assert first.op == ">="
    assert first.value.value == ms(2024, 5, 1, 12, 34, 56) + 250
    assert isinstance(second, BoolOp)
    assert second.op == "OR"
    assert isinstance(second.items[1], Comparison)
    assert [v.value for v in second.items[1].value] == [
        "005A",
        "005B",
    ]
    assert isinstance(third, Not)
    assert third.item.op == "LIKE"
    assert [(o.field.path, o.descending, o.nulls_first) for o in q.order_by] == [
        (("LoginTime",), True, False),
        (("Id",), False, None),
    ]
    assert (q.limit, q.offset) == (10, 20)


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("2024-05-01T12:34:56Z", ms(2024, 5, 1, 12, 34, 56)),
        ("2024-05-01T12:34:56.000Z", ms(2024, 5, 1, 12, 34, 56)),
        ("2024-05-01T12:34:56.937Z", ms(2024, 5, 1, 12, 34, 56) + 937),
        ("2024-05-01T12:34:56+00:00", ms(2024, 5, 1, 12, 34, 56)),  # simple-salesforce format_soql
        ("2024-05-01T12:34:56-05:00", ms(2024, 5, 1, 17, 34, 56)),
        ("2024-05-01T12:34:56+02:00", ms(2024, 5, 1, 10, 34, 56)),
    ],
)
def test_datetime_literals_become_epoch_ms(literal, expected):
    q = parse(f"SELECT Id FROM LoginHistory WHERE LoginTime > {literal}")
    assert q.where.value.kind == "datetime"
    assert q.where.value.value == expected


def test_date_number_boolean_null_and_relative_literals():
    q = parse(
        "SELECT Id FROM X WHERE a = 2024-05-01 AND b = -2.5 AND c = TRUE AND d = null AND e = LAST_N_DAYS:7 AND f = today"
    )
    kinds = [(c.value.kind, c.value.value) for c in q.where.items]
    assert kinds == [
        ("date", date(2024, 5, 1)),
        ("number", -2.5),
        ("boolean", True),
        ("null", None),
        ("relative", ("LAST_N_DAYS", 7)),
        ("relative", ("TODAY", 0)),
    ]


def test_string_escapes_and_like_patterns():
    q = parse(r"SELECT Id FROM X WHERE a = 'it\'s' AND b = 'it''s' AND c LIKE '50\%_off%' AND d = 'a\\b\nc'")
    a, b, c, d = q.where.items
    assert a.value.value == "it's"
    assert b.value.value == "it's"
    assert c.value.value == "50%_off%"
    assert c.value.like == r"50\%_off%"
    assert d.value.value == "a\\b\nc"
    assert d.value.like == "a\\\\b\nc"


def test_count_forms():
    assert parse("SELECT COUNT() FROM LoginHistory").count.field is None
    q = parse("SELECT count(Id) total FROM LoginHistory")
    assert q.count.field.path == ("Id",)
    assert q.count.alias == "total"


# --- MALFORMED_QUERY -----------------------------------------------------------------------------


def test_unknown_keyword_is_malformed_with_caret_and_position():
    err = error_of("SELEC Id FROM LoginHistory")
    assert err.error_code == "MALFORMED_QUERY"
    assert err.status == 400
    assert (
        err.message == "\nSELEC Id FROM LoginHistory\n^\nERROR at Row:1:Column:1\nunexpected token: 'SELEC'"
    )
    assert err.body() == [{"message": err.message, "errorCode": "MALFORMED_QUERY"}]


def test_truncated_where_reports_eof():
    err = error_of("SELECT Id FROM LoginHistory WHERE")
    assert err.message.endswith("ERROR at Row:1:Column:34\nunexpected token: '<EOF>'")


def test_mixing_and_or_without_parentheses_is_rejected_like_soql():
    err = error_of("SELECT Id FROM LoginHistory WHERE LoginType = 'a' AND UserId = 'b' OR Id = 'c'")
    assert err.error_code == "MALFORMED_QUERY"
    assert err.message.endswith("unexpected token: 'OR'")
    check(
        "SELECT Id FROM LoginHistory WHERE LoginType = 'a' AND "
        "(UserId = '005000000000001AAA' OR Id = '0Ya000000000001AAA')"
    )


def test_error_position_on_later_row_of_multiline_query():
    err = error_of("SELECT Id\nFROM LoginHistory\nWHERE LoginTime >> 1")
    assert "\nWHERE LoginTime >> 1\n                 ^\nERROR at Row:3:Column:18\n" in err.message


@pytest.mark.parametrize(
    ("soql", "message"),
    [
        (None, "A query string has to be specified"),
        ("", "A query string has to be specified"),
        ("   ", "SOQL statements cannot be empty or null"),
    ],
)
def test_empty_query(soql, message):
    err = error_of(soql)
    assert (err.error_code, err.message) == ("MALFORMED_QUERY", message)


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT FROM LoginHistory",
        "SELECT Id, FROM LoginHistory",
        "SELECT Id FROM",
        "SELECT Id FROM LoginHistory WHERE LoginTime > 2024-05-01T12:34:56",  # no zone
        "SELECT Id FROM LoginHistory WHERE LoginTime > 2024-02-30T00:00:00Z",  # no such day
        "SELECT Id FROM LoginHistory WHERE LoginType = 'open",
        "SELECT Id FROM LoginHistory LIMIT -1",
        "SELECT Id FROM LoginHistory LIMIT 1.5",
        "SELECT Id FROM LoginHistory WHERE Id IN ()",
        "SELECT Id FROM LoginHistory GROUP BY Id",
        "SELECT Id FROM LoginHistory;",
        "SELECT COUNT(), Id FROM LoginHistory",
        "SELECT Id FROM LoginHistory WHERE LoginTime > LAST_N_DAYS",
        "SELECT Id FROM LoginHistory WHERE LoginType = 'x\\q'",
    ],
)
def test_malformed(soql):
    err = error_of(soql)
    assert err.error_code == "MALFORMED_QUERY"
    assert "\nERROR at Row:1:Column:" in err.message
    assert "^" in err.message


def test_duplicate_field_selected():
    err = error_of("SELECT Id, LoginTime, id FROM LoginHistory")
    assert err.error_code == "MALFORMED_QUERY"
    assert err.message.endswith("duplicate field selected: Id")


def test_offset_above_2000():
    err = error_of("SELECT Id FROM LoginHistory LIMIT 10 OFFSET 2001")
    assert (err.error_code, err.message) == (
        "NUMBER_OUTSIDE_VALID_RANGE",
        "Maximum SOQL offset allowed is 2000",
    )
    check("SELECT Id FROM LoginHistory LIMIT 10 OFFSET 2000")


# --- INVALID_FIELD / INVALID_TYPE ------------------------------------------------------------------


def test_unknown_column_matches_reference_text_exactly():
    err = error_of("SELECT Foo FROM LoginHistory")
    assert err.error_code == "INVALID_FIELD"
    assert err.message == (
        "\nSELECT Foo FROM LoginHistory\n       ^\nERROR at Row:1:Column:8\nNo such column 'Foo' on entity "
        "'LoginHistory'. If you are attempting to use a custom field, be sure to append the '__c' after "
        "the custom field name. Please reference your WSDL or the describe call for the appropriate names."
    )


def test_unknown_column_behind_relationship_names_the_related_entity():
    err = error_of("SELECT LoginGeo.Town FROM LoginHistory")
    assert err.error_code == "INVALID_FIELD"
    assert "No such column 'Town' on entity 'LoginGeo'" in err.message


@pytest.mark.parametrize(
    ("soql", "name"),
    [
        ("SELECT Geo.City FROM LoginHistory", "Geo"),
        ("SELECT User.Username FROM LoginHistory", "User"),  # UserId has no documented relationship
        ("SELECT AuthenticationService.Name FROM LoginHistory", "AuthenticationService"),  # not in the org
        ("SELECT Parent.Nope.Name FROM SetupEntityAccess", "Nope"),
    ],
)
def test_unknown_relationship(soql, name):
    err = error_of(soql)
    assert err.error_code == "INVALID_FIELD"
    assert f"Didn't understand relationship '{name}' in field path." in err.message


def test_status_cannot_be_filtered_on_login_history():
    err = error_of("SELECT Id FROM LoginHistory WHERE Status = 'Success'")
    assert err.error_code == "INVALID_FIELD"
    assert err.message.endswith(
        "ERROR at Row:1:Column:35\nfield 'Status' can not be filtered in a query call"
    )


def test_source_ip_like_on_login_history_fails_as_not_filterable():
    err = error_of("SELECT Id FROM LoginHistory WHERE SourceIp LIKE '10.%'")
    assert err.error_code == "INVALID_FIELD"
    assert "field 'SourceIp' can not be filtered" in err.message


def test_source_ip_like_rejected_even_where_source_ip_filters():
    check("SELECT Id FROM CredentialStuffingEventStore WHERE SourceIp = '192.0.2.1'", licensed=True)
    err = error_of(
        "SELECT Id FROM CredentialStuffingEventStore WHERE SourceIp LIKE '192.0.2.%'", licensed=True
    )
    assert err.error_code == "INVALID_QUERY_FILTER_OPERATOR"
    assert "SourceIp" in err.message


@pytest.mark.parametrize(
    ("soql", "detail"),
    [
        (
            "SELECT Id FROM LoginHistory WHERE LoginTime > '2024-01-01'",
            "must be of type dateTime and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM LoginHistory WHERE LoginType = 5",
            "must be of type string and should be enclosed in quotes",
        ),
        ("SELECT Id FROM LoginHistory WHERE OptionsIsGet = 'true'", "must be of type boolean"),
        ("SELECT Id FROM OauthToken WHERE UseCount > '3'", "must be of type int"),
        ("SELECT Id FROM LoginHistory WHERE LoginType = TODAY", "must be of type string"),
    ],
)
def test_value_type_must_match_field(soql, detail):
    err = error_of(soql)
    assert err.error_code == "INVALID_FIELD"
    assert detail in err.message


def test_id_literals_must_look_like_ids():
    err = error_of("SELECT Id FROM LoginHistory WHERE UserId = 'alice'")
    assert err.error_code == "INVALID_QUERY_FILTER_OPERATOR"
    assert err.message.endswith("invalid ID field: alice")
    # A 15-character Id is accepted and compared in its 18-character form (index-friendly).
    compiled = check("SELECT Id FROM User WHERE Id IN ('001D000000IqhSL', '005000000000001AAA')")
    assert compiled.params == ["001D000000IqhSLIAZ", "005000000000001AAA"]


def test_non_sortable_field_in_order_by():
    err = error_of("SELECT Id FROM EventLogFile ORDER BY LogFile")
    assert err.error_code == "INVALID_FIELD"
    assert err.message.endswith("field 'LogFile' can not be sorted in a query call")


def test_unknown_object():
    err = error_of("SELECT Id FROM Widget")
    assert err.error_code == "INVALID_TYPE"
    assert err.message.startswith("\nSELECT Id FROM Widget\n               ^\nERROR at Row:1:Column:16\n")
    assert "sObject type 'Widget' is not supported." in err.message


def test_licensed_only_objects_need_the_licence():
    err = error_of("SELECT Id, EventDate FROM LoginEvent")
    assert err.error_code == "INVALID_TYPE"
    assert "sObject type 'LoginEvent' is not supported." in err.message
    assert check("SELECT Id, EventDate FROM LoginEvent", licensed=True).obj.name == "LoginEvent"


def test_names_resolve_case_insensitively_to_catalog_casing():
    compiled = check("select id, logingeo.country, LOGINTIME from loginhistory")
    assert compiled.columns == ["Id", "LoginGeo.Country", "LoginTime"]
    assert check("SELECT LoginHistory.Id FROM LoginHistory").columns == ["Id"]


def test_relationship_paths_compile_to_joins():
    compiled = check(
        "SELECT Id, Parent.Profile.Name, Parent.Name FROM SetupEntityAccess WHERE Parent.Profile.Name = 'x'"
    )
    assert compiled.columns == ["Id", "Parent.Profile.Name", "Parent.Name"]
    assert compiled.select_sql.count("LEFT JOIN") == 2
    assert compiled.params == ["x"]


def test_literals_travel_as_parameters_never_inline():
    compiled = check("SELECT Id FROM LoginHistory WHERE LoginType = 'x'' OR 1=1 --'")
    assert "1=1" not in compiled.select_sql
    assert compiled.params == ["x' OR 1=1 --"]


# --- relative dates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "n", "lo", "hi"),
    [
        ("TODAY", 0, (2024, 6, 5), (2024, 6, 6)),
        ("YESTERDAY", 0, (2024, 6, 4), (2024, 6, 5)),
        ("TOMORROW", 0, (2024, 6, 6), (2024, 6, 7)),
        ("LAST_N_DAYS", 7, (2024, 5, 29), (2024, 6, 6)),
        ("NEXT_N_DAYS", 3, (2024, 6, 6), (2024, 6, 9)),
        ("THIS_WEEK", 0, (2024, 6, 2), (2024, 6, 9)),  # weeks start on Sunday
        ("LAST_WEEK", 0, (2024, 5, 26), (2024, 6, 2)),
        ("THIS_MONTH", 0, (2024, 6, 1), (2024, 7, 1)),
        ("LAST_MONTH", 0, (2024, 5, 1), (2024, 6, 1)),
    ],
)
def test_relative_date_ranges(word, n, lo, hi):
    assert day_range(word, n, NOW) == (ms(*lo), ms(*hi))


def test_last_n_hours_and_month_rollover():
    assert day_range("LAST_N_HOURS", 2, NOW) == (ms(2024, 6, 5, 10), ms(2024, 6, 5, 13))
    jan = ms(2024, 1, 15, 8)
    assert day_range("LAST_MONTH", 0, jan) == (ms(2023, 12, 1), ms(2024, 1, 1))
    assert day_range("THIS_MONTH", 0, ms(2024, 12, 31, 23)) == (ms(2024, 12, 1), ms(2025, 1, 1))


_FUZZ_VOCAB = [
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "LIKE",
    "ORDER",
    "BY",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "LIMIT",
    "OFFSET",
    "COUNT",
    "(",
    ")",
    ",",
    "=",
    "!=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "Id",
    "LoginTime",
    "LoginHistory",
    "LoginGeo.Country",
    "Status",
    "User",
    "Profile.Name",
    "'x'",
    "'a''b'",
    "'\\%'",
    "5",
    "-1.5",
    "2024-05-01",
    "2024-05-01T00:00:00Z",
    "TODAY",
    "LAST_N_DAYS",
    ":",
    "7",
    "null",
    "true",
    "OauthToken",
    "UseCount",
    "Parent.Profile.Name",
    "SourceIp",
    "'0Ya000000000001AAA'",
    "UserId",
    "LogFile",
    "LoginEvent",
    ";",
    "#",
    "'",
    "2024-13-45",
]


def test_garbage_only_ever_raises_soql_errors():
    """Whatever a client sends, the server gets a SoqlError to answer with, never a crash (500)."""
    rng = random.Random(7)
    for _ in range(3000):
        words = rng.choices(_FUZZ_VOCAB, k=rng.randint(0, 14))
        if rng.random() < 0.5:
            words = ["SELECT", "Id", "FROM", rng.choice(["LoginHistory", "User", "OauthToken"]), *words]
        text = " ".join(words) if rng.random() < 0.8 else "".join(words)
        codes = []
        try:
            check(text, licensed=rng.random() < 0.5)
        except SoqlError as exc:
            codes.append((exc.status, exc.body()[0]["errorCode"]))
        assert all(status == 400 and code for status, code in codes)


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Id FROM LoginHistory LIMIT 99999999999999999999",
        "SELECT Id FROM LoginHistory WHERE LoginTime = LAST_N_DAYS:2147483648",
    ],
)
def test_integers_beyond_32_bits_are_out_of_range(soql):
    err = error_of(soql)
    assert err.error_code == "NUMBER_OUTSIDE_VALID_RANGE"
    assert "number out of range" in err.message
