"""The rules written once (oauthwatch.rules): each judged here on its own, with fixed inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from oauthwatch.rules.network import in_ranges, network_label, network_of
from oauthwatch.rules.posture import judge_app, judge_ip_relaxation
from oauthwatch.rules.thresholds import Thresholds, dormant_grants, is_lagging, stale_grants
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


# ---- posture ----------------------------------------------------------------------------------

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "severity", "label"),
    [
        ("ENFORCE", None, None),
        (None, None, None),
        ("", None, None),
        ("BYPASS", "medium", "IP restrictions relaxed (BYPASS)"),
        ("bypass", "medium", "IP restrictions relaxed (BYPASS)"),
        (
            "ENFORCE_RELAXREFRESH",
            "medium",
            "IP restrictions relaxed for refresh tokens (ENFORCE_RELAXREFRESH)",
        ),
        ("BYPASS_2FACTOR", "low", "IP restrictions relaxed with a second factor (BYPASS_2FACTOR)"),
        # Values other readers used to test for, which Salesforce does not have:
        ("ENFORCE_ACTIVATION", "low", "unknown IP relaxation (ENFORCE_ACTIVATION)"),
        ("RELAX", "low", "unknown IP relaxation (RELAX)"),
    ],
)
def test_ip_relaxation_is_judged_by_salesforces_four_values(value, severity, label):
    judged = judge_ip_relaxation("Billing Sync", value)
    if severity is None:
        assert judged is None
    else:
        assert judged is not None
        assert (judged.check, judged.severity, judged.label) == ("ip_bypass", severity, label)
        assert judged.sentence.startswith("Billing Sync ")


def _app(**over):
    base = {
        "name": "Billing Sync",
        "app_id": "0H4000000000001AAA",
        "ip_relaxation": "ENFORCE",
        "refresh_token_policy": "specific_inactivity:30:DAYS",
        "admin_approved_only": True,
        "scopes": ["Api", "RefreshToken"],
        "certificate_expires_at": None,
    }
    return base | over


def test_a_well_configured_app_has_no_posture_finding():
    assert judge_app(_app(), NOW, 30) == []
    assert judge_app(_app(certificate_expires_at=float("nan"), admin_approved_only=None), NOW, 30) == []


def test_every_risky_setting_is_one_check():
    judged = judge_app(
        _app(
            ip_relaxation="BYPASS",
            refresh_token_policy="Infinite",
            admin_approved_only=0,
            scopes="Api, Full",
            certificate_expires_at=NOW + timedelta(days=10),
        ),
        NOW,
        30,
    )
    assert [(c.check, c.severity) for c in judged] == [
        ("refresh_infinite", "low"),
        ("ip_bypass", "medium"),
        ("self_authorize", "low"),
        ("full_scope", "low"),
        ("cert_expiry", "medium"),
    ]
    assert judged[-1].label == "JWT certificate expires on 2026-03-14"


def test_certificate_warning_follows_the_configured_days():
    soon = _app(certificate_expires_at=(NOW + timedelta(days=10)).replace(tzinfo=None))  # naive = UTC
    assert [c.check for c in judge_app(soon, NOW, 30)] == ["cert_expiry"]
    assert judge_app(soon, NOW, 5) == []
    expired = judge_app(_app(certificate_expires_at=NOW - timedelta(hours=1)), NOW, 5)
    assert [(c.severity, c.label) for c in expired] == [("high", "JWT certificate expired on 2026-03-04")]


# ---- thresholds -------------------------------------------------------------------------------


def test_thresholds_come_from_the_detectors_configuration():
    tables = {"stale_grants": {"days": 60}, "collection_health": {"lag_minutes": 30}}
    t = Thresholds.from_settings(lambda name: tables.get(name, {}))
    assert (t.stale_grant_days, t.dormant_grant_days, t.lag_minutes, t.cert_days) == (60, 30, 30, 30)
    assert t.lag == timedelta(minutes=30)


def test_grant_age_counts_a_never_used_grant_from_its_creation():
    last = pd.Series(
        pd.to_datetime([NOW - timedelta(days=100), NOW - timedelta(days=40), None, None], utc=True)
    )
    created = pd.Series(pd.to_datetime([NOW - timedelta(days=300)] * 3 + [NOW - timedelta(days=1)], utc=True))
    t = Thresholds()
    assert list(stale_grants(last, created, NOW, t.stale_grant_days)) == [True, False, True, False]
    assert list(dormant_grants(last, created, NOW, t)) == [False, True, False, False]


@pytest.mark.parametrize(
    ("last_success", "outcome", "lagging"),
    [
        (NOW - timedelta(minutes=89), "ok", False),
        (NOW - timedelta(minutes=91), "ok", True),
        (NOW - timedelta(minutes=91), "skipped", False),  # skipped on purpose: not licensed, still fresh
        (None, "skipped", False),
        (None, "failed", True),
        (None, None, True),  # never ran
        (NOW - timedelta(minutes=10), "failed", False),  # one failure after a recent success: not yet
    ],
)
def test_lagging(last_success, outcome, lagging):
    assert is_lagging(last_success, outcome, NOW, timedelta(minutes=90)) is lagging
