"""Values Salesforce sends in more than one form are stored in one: 18-character Ids, TLS versions,
and the Login file's LOGIN_SUB_TYPE codes read with Salesforce's documented meaning."""

from __future__ import annotations

import pytest

from collectors.sources.elf_csv import LOGIN_SUB_TYPES, api_event, login_row
from oauthwatch.rules.salesforce_values import id18, tls_protocol
from oauthwatch.simulator.data.elfformat import LOGIN_SUB_TYPE_CODES
from oauthwatch.simulator.data.ids import make_id, to15


def test_id18_matches_the_public_converters_example() -> None:
    assert id18("00558000001N0Ke") == "00558000001N0KeAAK"


@pytest.mark.parametrize("n", [1, 7, 42, 999, 123456])
def test_id18_restores_the_local_orgs_ids(n: int) -> None:
    full = make_id("005", n)
    assert id18(to15(full)) == full
    assert id18(full) == full  # already long: unchanged


@pytest.mark.parametrize("value", [None, "", "Salesforce.com IP", "0055800000"])
def test_id18_leaves_what_is_not_a_short_id(value: str | None) -> None:
    assert id18(value) == value


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("1.2", "TLS 1.2"), ("TLSv1.2", "TLS 1.2"), ("TLS 1.3", "TLS 1.3"), ("Unknown", "Unknown"), ("", None)],
)
def test_tls_protocol_in_loginhistorys_form(raw: str, stored: str | None) -> None:
    assert tls_protocol(raw) == stored


@pytest.mark.parametrize(
    ("code", "label"),
    [
        ("oauthtoken", "OAuth User-Agent"),
        ("oauthhybridtoken", "OAuth User-Agent for Hybrid Apps"),
        ("oauthcode", "OAuth Web Server"),
        ("oauthclientcredential", "OAuth Client Credentials"),
        ("uiup", "UI Username-Password"),
    ],
)
def test_login_sub_type_codes_mean_what_salesforce_documents(code: str, label: str) -> None:
    row = {"EVENT_TYPE": "Login", "TIMESTAMP_DERIVED": "2026-11-01T10:00:00.000Z", "REQUEST_ID": "R1",
           "USER_ID": "00558000001N0Ke", "LOGIN_TYPE": "i", "LOGIN_SUB_TYPE": code, "TLS_PROTOCOL": "1.2"}  # fmt: skip
    stored = login_row("acme", row)
    assert stored["login_subtype"] == label
    assert stored["user_id"] == "00558000001N0KeAAK"
    assert stored["tls_protocol"] == "TLS 1.2"


def test_the_local_org_writes_the_codes_the_collector_reads() -> None:
    assert {code: label for label, code in LOGIN_SUB_TYPE_CODES.items()} == LOGIN_SUB_TYPES
    assert "OAuth Refresh Token" not in LOGIN_SUB_TYPE_CODES  # no documented code: written empty


def test_api_total_usage_user_ids_join_with_every_other_source() -> None:
    full = make_id("005", 77)
    row = {"EVENT_TYPE": "ApiTotalUsage", "TIMESTAMP_DERIVED": "2026-11-01T10:00:00.000Z", "REQUEST_ID": "R2",
           "USER_ID": to15(full), "CONNECTED_APP_ID": "0H4000000000001", "API_FAMILY": "REST"}  # fmt: skip
    assert api_event("acme", row)["user_id"] == full
