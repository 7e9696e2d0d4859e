"""The rules written once (oauthwatch.rules): each judged here on its own, with fixed inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from oauthwatch.rules.network import in_ranges, network_label, network_of
from oauthwatch.rules.times import as_utc, as_utc_or_none, parse_utc


@pytest.mark.parametrize(
    ("ip", "network"),
    [
        ("198.51.100.200", "198.51.100.0/24"),
        (" 10.1.2.3 ", "10.1.2.0/24"),
        ("192.0.2.0", "192.0.2.0/24"),
        ("2001:db8:1:2::5", "2001:db8:1::/48"),
        ("010.1.2.3", None),  # leading zeros are ambiguous (octal?): not an address, as ipaddress says
        ("256.1.2.3", None),
        ("not an ip", None),
        ("Salesforce.com IP", None),
        ("", None),
        (None, None),
    ],
)
def test_network_of(ip, network):
    assert network_of(ip) == network


def test_network_label_keeps_values_that_are_not_addresses_visible():
    assert network_label("203.0.113.9") == "203.0.113.0/24"
    assert network_label("Salesforce.com IP") == "Salesforce.com IP"
    assert network_label("  ") == "(unknown)"
    assert network_label(None) == "(unknown)"


def test_in_ranges():
    assert in_ranges("203.0.113.9", ["203.0.113.0/24"])
    assert in_ranges("2001:db8::1", ["bad range", "2001:db8::/32"])
    assert not in_ranges("203.0.114.9", ["203.0.113.0/24"])
    assert not in_ranges("not an ip", ["0.0.0.0/0"])
    assert not in_ranges("203.0.113.9", [])


def test_as_utc_reads_every_shape_the_store_returns():
    aware = datetime(2026, 3, 1, 14, 0, tzinfo=UTC)
    assert as_utc(datetime(2026, 3, 1, 14, 0)) == aware  # noqa: DTZ001 - SQLite hands back naive UTC
    assert as_utc(datetime(2026, 3, 1, 15, 0, tzinfo=timezone(timedelta(hours=1)))) == aware
    assert as_utc("2026-03-01 14:00:00.000000") == aware  # SQLite aggregates come back as text
    assert as_utc("2026-03-01T15:00:00+01:00").tzinfo == UTC
    assert as_utc_or_none(None) is None
    assert as_utc_or_none("2026-03-01T14:00") == aware


def test_parse_utc_explains_what_it_expects():
    assert parse_utc("2026-03-01", "--from") == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_utc("2026-03-01T16:00+02:00", "--to") == datetime(2026, 3, 1, 14, tzinfo=UTC)
    with pytest.raises(ValueError, match=r"--from 'yesterday': write a date like 2026-03-01"):
        parse_utc("yesterday", "--from")
