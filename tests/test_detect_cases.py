"""Every detector against positive and negative cases on synthetic, redacted frames.

One parametrised test runs them all (Panther's habit): each case builds the frames a detector
sees at ``NOW`` and states which subjects must be reported (an empty list: nothing). Addresses
are documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24), users @example.com.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from oauthwatch.detect.allowlist import AllowEntry
from oauthwatch.detect.base import Context
from oauthwatch.detect.data import LOGIN_COLUMNS, Frames, add_derived, empty_frames
from oauthwatch.detect.registry import all_detectors, get_detector

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # a Wednesday
ORG = "prod"


def login(t: datetime, app: str = "Billing Sync", **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "login_time": t,
        "user_id": "005000000000001AAA",
        "username": "integration@example.com",
        "application": app,
        "login_type": "Remote Access 2.0",
        "login_subtype": "OAuth Client Credentials",
        "status": "Success",
        "success": True,
        "source_ip": "192.0.2.10",
        "country_iso": "US",
        "latitude": 37.77,
        "longitude": -122.42,
    }
    row.update(kw)
    return row


def steady(
    app: str = "Billing Sync", days: int = 20, every: timedelta = timedelta(hours=1), **kw: object
) -> list[dict[str, object]]:
    """One login every ``every`` for ``days`` before the recent window (a quiet, known baseline)."""
    start = NOW - timedelta(days=days)
    n = int((timedelta(days=days) - timedelta(hours=1)) / every)
    return [login(start + i * every, app, **kw) for i in range(n)]


def frames(
    logins: list[dict[str, object]] = (),  # type: ignore[assignment]
    *,
    tokens: list[dict[str, object]] = (),  # type: ignore[assignment]
    apps: list[dict[str, object]] = (),  # type: ignore[assignment]
    users: list[dict[str, object]] = (),  # type: ignore[assignment]
    allowlist: tuple[AllowEntry, ...] = (),
    **state: pd.DataFrame,
) -> Frames:
    """Frames at NOW built from row dicts, shaped as :func:`load_frames` shapes them."""
    f = empty_frames(ORG, NOW)
    if logins:
        df = pd.DataFrame(list(logins), columns=list(LOGIN_COLUMNS))
        df["login_time"] = pd.to_datetime(df["login_time"], utc=True)
        for c in ("application", "login_subtype", "status", "source_ip", "country_iso", "user_id"):
            df[c] = df[c].fillna("").astype(str)
        df = (
            df[df["login_time"] < pd.Timestamp(NOW)]
            .sort_values("login_time", kind="stable")
            .reset_index(drop=True)
        )
        df = add_derived(df)
        first = df.groupby("application")["login_time"].min()
        f = replace(f, logins=df, app_first_seen=first, org_first_seen=first.min())
    if tokens:
        t = pd.DataFrame(list(tokens))
        for c in ("created_date", "last_used_date"):
            t[c] = pd.to_datetime(t[c], utc=True)
        tfirst = t.groupby("app_name")["created_date"].min()
        f = replace(f, tokens=t, token_app_first_seen=tfirst)
    if apps:
        f = replace(f, apps=pd.DataFrame(list(apps)))
    if users:
        f = replace(f, users=pd.DataFrame(list(users)))
    return replace(f, allowlist=allowlist, **state)


def entry(app: str, **kw: object) -> AllowEntry:
    base: dict[str, object] = {
        "id": 1,
        "org": None,
        "app_name": app,
        "owner": "ops@example.com",
        "ip_ranges": (),
        "countries": (),
        "integration_users": (),
        "note": None,
        "expires_at": None,
        "created_at": NOW - timedelta(days=30),
        "created_by": None,
    }
    base.update(kw)
    return AllowEntry(**base)  # type: ignore[arg-type]


def grant(
    day: date,
    last_used: datetime | None,
    user: str = "005000000000002AAA",
    app: str = "Mobile Sync",
    **kw: object,
) -> dict[str, object]:
    row = {
        "snapshot_day": day,
        "user_id": user,
        "app_name": app,
        "created_date": datetime(2025, 1, 10, tzinfo=UTC),
        "last_used_date": last_used,
        "use_count": 12,
        "delete_token_hash": "0" * 64,
    }
    row.update(kw)
    return row


def app_row(name: str = "Billing Sync", **kw: object) -> dict[str, object]:
    row = {
        "app_id": "0H4000000000001AAA",
        "name": name,
        "admin_approved_only": True,
        "ip_relaxation": "ENFORCE",
        "refresh_token_policy": "specific_inactivity:30:DAYS",
        "scopes": ["Api", "RefreshToken"],
        "certificate_expires_at": NOW + timedelta(days=300),
        "session_level": None,
    }
    row.update(kw)
    return row


def hourly_rhythm(app: str, weeks: int = 5, base: float = 30.0, seed: int = 7) -> list[dict[str, object]]:
    """Poisson logins with a day/night and weekday/weekend rhythm, for ``weeks`` before NOW."""
    rng = np.random.default_rng(seed)
    rows = []
    start = NOW - timedelta(weeks=weeks)
    for h in range(int(timedelta(weeks=weeks) / timedelta(hours=1)) - 1):
        t = start + timedelta(hours=h)
        lam = base * (1.5 if 8 <= t.hour <= 18 else 0.6) * (0.5 if t.weekday() >= 5 else 1.0)
        for k in range(rng.poisson(lam)):
            rows.append(
                login(
                    t + timedelta(seconds=int(3600 * k / (lam + 1))), app, source_ip=f"192.0.2.{10 + k % 3}"
                )
            )
    return rows


def last_hour(n: int, app: str = "Billing Sync", **kw: object) -> list[dict[str, object]]:
    return [
        login(NOW - timedelta(minutes=59) + timedelta(seconds=int(3540 * i / max(n, 1))), app, **kw)
        for i in range(n)
    ]


def _without_last_hour(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [r for r in rows if r["login_time"] < NOW - timedelta(hours=1)]  # type: ignore[operator]


RHYTHM = hourly_rhythm("Billing Sync")
STEADY_US = steady()
SPRAY_USERS = [f"user{i}@example.com" for i in range(12)]


def _spray(span_minutes: float, users: int = 12, success_after: bool = False) -> list[dict[str, object]]:
    rows = [
        login(
            NOW - timedelta(minutes=50) + timedelta(minutes=span_minutes * i / users),
            "Browser",
            user_id=f"00500000000010{i:02d}AA",
            username=SPRAY_USERS[i],
            login_type="Application",
            login_subtype="UI Username-Password",
            status="Invalid Password",
            success=False,
            source_ip="203.0.113.7",
            country_iso="NL",
        )
        for i in range(users)
    ]
    if success_after:
        rows.append(
            login(
                NOW - timedelta(minutes=5),
                "Browser",
                user_id="0050000000001003AA",
                username=SPRAY_USERS[3],
                login_type="Application",
                source_ip="203.0.113.7",
                country_iso="NL",
            )
        )
    return rows


@dataclass(frozen=True)
class Case:
    detector: str
    name: str
    build: Callable[[], Frames]
    subjects: tuple[str, ...]
    check: Callable[[list], None] | None = None  # extra assertions on the findings


def _explains(*needles: str) -> Callable[[list], None]:
    def check(findings: list) -> None:
        text = " ".join(f.explanation for f in findings)
        for n in needles:
            assert n in text, f"{n!r} not in {text!r}"

    return check


CASES: list[Case] = [
    # volume
    Case(
        "volume",
        "runaway integration from one new IP",
        lambda: frames(_without_last_hour(RHYTHM) + last_hour(900, source_ip="203.0.113.7")),
        ("Billing Sync", "prod"),
        _explains("203.0.113.7", "never seen for this app before", "usually does"),
    ),
    Case(
        "volume",
        "integration stopped",
        lambda: frames(_without_last_hour(hourly_rhythm("Billing Sync", base=80))),
        ("Billing Sync", "prod"),
    ),
    Case("volume", "ordinary hour", lambda: frames(RHYTHM), ()),
    Case(
        "volume",
        "app younger than a week",
        lambda: frames(
            [r for r in _without_last_hour(RHYTHM) if r["login_time"] > NOW - timedelta(days=5)]
            + last_hour(900)
        ),
        (),
    ),
    # failure_surge
    Case(
        "failure_surge",
        "signature failures after a certificate rotation",
        lambda: frames(STEADY_US + last_hour(60, status="Failed: Signature Invalid", success=False)),
        ("Billing Sync",),
        _explains("Failed: Signature Invalid"),
    ),
    Case(
        "failure_surge",
        "failures at their usual rate",
        lambda: frames(
            steady(every=timedelta(minutes=2), status="Failed: IP Address Not Allowed", success=False)
            + last_hour(30, status="Failed: IP Address Not Allowed", success=False)
        ),
        (),
    ),
    Case(
        "failure_surge",
        "expired certificate: every one of three attempts fails",
        lambda: frames(STEADY_US + last_hour(3, status="Failed: Signature Invalid", success=False)),
        ("Billing Sync",),
        lambda fs: (
            (fs[0].severity == "high" and fs[0].title.startswith("Every login")) or pytest.fail(str(fs[0]))
        ),
    ),
    Case(
        "failure_surge",
        "two failed attempts among successes",
        lambda: frames(
            STEADY_US + last_hour(2, status="Failed: Signature Invalid", success=False) + last_hour(1)
        ),
        (),
    ),
    # new_country
    Case(
        "new_country",
        "refresh token replayed abroad",
        lambda: frames(STEADY_US + last_hour(3, country_iso="RO", source_ip="198.51.100.9")),
        ("Billing Sync",),
        _explains("RO", "no user of Billing Sync from this one"),
    ),
    Case(
        "new_country",
        "allowlisted country",
        lambda: frames(
            STEADY_US + last_hour(3, country_iso="DE"),
            allowlist=(entry("Billing Sync", countries=("US", "DE")),),
        ),
        (),
    ),
    Case(
        "new_country",
        "only failed attempts from the new country",
        lambda: frames(STEADY_US + last_hour(3, country_iso="RO", success=False, status="Invalid Password")),
        (),
    ),
    # new_network
    Case(
        "new_network",
        "new /24",
        lambda: frames(STEADY_US + last_hour(2, source_ip="198.51.100.9")),
        ("Billing Sync",),
        _explains("198.51.100.0/24"),
    ),
    Case(
        "new_network",
        "another host in the known /24",
        lambda: frames(STEADY_US + last_hour(2, source_ip="192.0.2.200")),
        (),
    ),
    Case(
        "new_network",
        "new IPv6 /48 inside allowlisted range",
        lambda: frames(
            steady(source_ip="2001:db8:1::5") + last_hour(2, source_ip="2001:db8:2::5"),
            allowlist=(entry("Billing Sync", ip_ranges=("2001:db8::/32",)),),
        ),
        (),
    ),
    Case(
        "new_network",
        "new IPv6 /48",
        lambda: frames(steady(source_ip="2001:db8:1::5") + last_hour(2, source_ip="2001:db8:2::5")),
        ("Billing Sync",),
    ),
    Case(
        "new_network",
        "app that meets a new network every few days",
        lambda: frames(
            [login(NOW - timedelta(days=d, hours=3), source_ip=f"198.51.{d}.9") for d in range(1, 22, 2)]
            + STEADY_US
            + last_hour(2, source_ip="203.0.113.50")
        ),
        (),
    ),
    # new_user
    Case(
        "new_user",
        "someone else uses the integration's app",
        lambda: frames(
            STEADY_US + last_hour(2, user_id="005000000000009AAA", username="mallory@example.com")
        ),
        ("mallory@example.com",),
    ),
    Case(
        "new_user",
        "app used by many people",
        lambda: frames(
            [
                login(
                    NOW - timedelta(days=2, minutes=i),
                    "Mobile",
                    user_id=f"0050000000{i:04d}AAAA",
                    username=f"u{i}@example.com",
                )
                for i in range(40)
            ]
            + steady("Mobile")
            + last_hour(1, "Mobile", user_id="005000000000009AAA", username="new@example.com")
        ),
        (),
    ),
    # password_spray
    Case(
        "password_spray",
        "one IP, 12 users, 6 minutes",
        lambda: frames(STEADY_US + _spray(6)),
        ("203.0.113.0/24",),
        _explains("12 different users"),
    ),
    Case(
        "password_spray",
        "spray that got in",
        lambda: frames(STEADY_US + _spray(6, success_after=True)),
        ("203.0.113.0/24",),
        lambda fs: (fs[0].severity == "critical") or pytest.fail("a successful spray is critical"),
    ),
    Case("password_spray", "12 users spread over 45 minutes", lambda: frames(STEADY_US + _spray(45)), ()),
    Case("password_spray", "a few users mistyping", lambda: frames(STEADY_US + _spray(3, users=4)), ()),
    # impossible_travel
    Case(
        "impossible_travel",
        "San Francisco then Sydney in 30 minutes",
        lambda: frames(
            [
                *STEADY_US,
                login(
                    NOW - timedelta(minutes=30),
                    source_ip="198.51.100.20",
                    country_iso="AU",
                    latitude=-33.87,
                    longitude=151.21,
                ),
            ]
        ),
        ("integration@example.com",),
        _explains("km"),
    ),
    Case(
        "impossible_travel",
        "San Francisco then San Jose",
        lambda: frames(
            [
                *STEADY_US,
                login(
                    NOW - timedelta(minutes=30), source_ip="198.51.100.20", latitude=37.34, longitude=-121.89
                ),
            ]
        ),
        (),
    ),
    # legacy_flow
    Case(
        "legacy_flow",
        "username-password flow succeeds",
        lambda: frames(STEADY_US + last_hour(2, "Old ETL", login_subtype="OAuth Username-Password")),
        ("Old ETL",),
    ),
    Case(
        "legacy_flow",
        "username-password attempt refused",
        lambda: frames(
            STEADY_US
            + last_hour(
                2,
                "Old ETL",
                login_subtype="OAuth Username-Password",
                success=False,
                status="Failed: OAuth API access disabled",
            )
        ),
        (),
    ),
    Case(
        "legacy_flow",
        "ongoing username-password use is low severity",
        lambda: frames(
            steady("Old ETL", every=timedelta(hours=6), login_subtype="OAuth Username-Password")
            + last_hour(1, "Old ETL", login_subtype="OAuth Username-Password")
        ),
        ("Old ETL",),
        lambda fs: fs[0].severity == "low" or pytest.fail(fs[0].severity),
    ),
    # new_flow
    Case(
        "new_flow",
        "client-credentials app starts refreshing tokens",
        lambda: frames(STEADY_US + last_hour(2, login_subtype="OAuth Refresh Token")),
        ("Billing Sync",),
    ),
    Case("new_flow", "same flow as always", lambda: frames(STEADY_US + last_hour(2)), ()),
    # dormant_grant
    Case(
        "dormant_grant",
        "unused 100 days, used today",
        lambda: frames(
            tokens=[
                grant(date(2026, 3, 3), NOW - timedelta(days=100)),
                grant(date(2026, 3, 4), NOW - timedelta(minutes=10)),
            ]
        ),
        ("005000000000002AAA / Mobile Sync",),
        _explains("99 days"),
    ),
    Case(
        "dormant_grant",
        "used daily",
        lambda: frames(
            tokens=[
                grant(date(2026, 3, 3), NOW - timedelta(days=1)),
                grant(date(2026, 3, 4), NOW - timedelta(minutes=10)),
            ]
        ),
        (),
    ),
    Case(
        "dormant_grant",
        "old grant used again, no login for it in 30 days of history",
        lambda: frames(
            STEADY_US
            + last_hour(
                2,
                "Mobile Sync",
                user_id="005000000000002AAA",
                username="sleeper@example.com",
                login_subtype="OAuth Refresh Token",
                source_ip="198.51.100.4",
            ),
            grants_created=pd.DataFrame(
                [
                    {
                        "user_id": "005000000000002AAA",
                        "app_name": "Mobile Sync",
                        "created_date": pd.Timestamp(NOW - timedelta(days=200)),
                    }
                ]
            ),
        ),
        ("sleeper@example.com / Mobile Sync",),
        _explains("198.51.100.4", "history"),
    ),
    Case(
        "dormant_grant",
        "grant used last week",
        lambda: frames(
            [
                *STEADY_US,
                login(NOW - timedelta(days=7), "Mobile Sync", user_id="005000000000002AAA"),
                *last_hour(
                    2, "Mobile Sync", user_id="005000000000002AAA", login_subtype="OAuth Refresh Token"
                ),
            ],
            grants_created=pd.DataFrame(
                [
                    {
                        "user_id": "005000000000002AAA",
                        "app_name": "Mobile Sync",
                        "created_date": pd.Timestamp(NOW - timedelta(days=200)),
                    }
                ]
            ),
        ),
        (),
    ),
    # inactive_grant
    Case(
        "inactive_grant",
        "deactivated user still holds a grant",
        lambda: frames(
            tokens=[grant(date(2026, 3, 4), NOW - timedelta(days=3))],
            users=[
                {
                    "user_id": "005000000000002AAA",
                    "username": "leaver@example.com",
                    "is_active": False,
                    "user_type": "Standard",
                }
            ],
        ),
        ("leaver@example.com",),
    ),
    Case(
        "inactive_grant",
        "active user",
        lambda: frames(
            tokens=[grant(date(2026, 3, 4), NOW - timedelta(days=3))],
            users=[
                {
                    "user_id": "005000000000002AAA",
                    "username": "staff@example.com",
                    "is_active": True,
                    "user_type": "Standard",
                }
            ],
        ),
        (),
    ),
    # new_app
    Case(
        "new_app",
        "rogue data loader look-alike",
        lambda: frames(STEADY_US + last_hour(3, "My Data Loader", login_subtype="OAuth Web Server")),
        ("My Data Loader",),
    ),
    Case(
        "new_app",
        "unapproved while the allowlist is in use",
        lambda: frames(STEADY_US + last_hour(2), allowlist=(entry("Other App"),)),
        ("Billing Sync",),
    ),
    Case(
        "new_app",
        "approved app",
        lambda: frames(STEADY_US + last_hour(2), allowlist=(entry("billing sync"),)),
        (),
    ),
    Case(
        "new_app",
        "expired approval",
        lambda: frames(
            STEADY_US + last_hour(2),
            allowlist=(entry("Billing Sync", expires_at=NOW - timedelta(days=1)), entry("Other App")),
        ),
        ("Billing Sync",),
        _explains("expired"),
    ),
    Case(
        "new_app",
        "store too young to call anything new",
        lambda: frames(
            [r for r in STEADY_US if r["login_time"] > NOW - timedelta(days=2)]
            + last_hour(3, "My Data Loader")
        ),
        (),
    ),
    Case(
        "new_app",
        "oauthwatch's own first logins",
        lambda: frames(
            STEADY_US + last_hour(1, "OAuthwatch", user_id="005000000000077AAA"),
            extra={"self_user_ids": {"005000000000077AAA"}},
        ),
        (),
    ),
    # integration_network
    Case(
        "integration_network",
        "integration from outside its ranges",
        lambda: frames(
            STEADY_US + last_hour(2, source_ip="198.51.100.9"),
            allowlist=(entry("Billing Sync", ip_ranges=("192.0.2.0/24",)),),
        ),
        ("Billing Sync",),
        _explains("192.0.2.0/24"),
    ),
    Case(
        "integration_network",
        "integration user on another app, outside ranges",
        lambda: frames(
            STEADY_US + last_hour(1, "Workbench", source_ip="198.51.100.9"),
            allowlist=(
                entry(
                    "Billing Sync",
                    ip_ranges=("192.0.2.0/24",),
                    integration_users=("integration@example.com",),
                ),
            ),
        ),
        ("Billing Sync",),
    ),
    Case(
        "integration_network",
        "inside its ranges",
        lambda: frames(
            STEADY_US + last_hour(2, source_ip="192.0.2.99"),
            allowlist=(entry("Billing Sync", ip_ranges=("192.0.2.0/24",)),),
        ),
        (),
    ),
    # posture
    Case(
        "posture",
        "every risky setting",
        lambda: frames(
            apps=[
                app_row(
                    ip_relaxation="BYPASS",
                    refresh_token_policy="infinite",
                    admin_approved_only=False,
                    scopes=["Full", "Api"],
                    certificate_expires_at=NOW + timedelta(days=10),
                )
            ]
        ),
        ("Billing Sync",),
        lambda fs: (
            {f.evidence["check"] for f in fs}
            == {"ip_bypass", "refresh_infinite", "self_authorize", "full_scope", "cert_expiry"}
            or pytest.fail(f"checks: {[f.evidence['check'] for f in fs]}")
        ),
    ),
    Case(
        "posture",
        "expired certificate is high",
        lambda: frames(apps=[app_row(certificate_expires_at=NOW - timedelta(hours=2))]),
        ("Billing Sync",),
        lambda fs: fs[0].severity == "high" or pytest.fail(fs[0].severity),
    ),
    Case(
        "posture",
        "policy loosened today escalates",
        lambda: frames(
            apps=[app_row(ip_relaxation="BYPASS")],
            app_changes=pd.DataFrame(
                [
                    {
                        "app_id": "0H4000000000001AAA",
                        "observed_at": NOW - timedelta(minutes=20),
                        "field": "ip_relaxation",
                        "old_value": "ENFORCE",
                        "new_value": "BYPASS",
                    }
                ]
            ),
        ),
        ("Billing Sync",),
        lambda fs: (fs[0].severity == "high" and "ENFORCE" in fs[0].explanation) or pytest.fail(fs[0]),
    ),
    Case("posture", "well-configured app", lambda: frames(apps=[app_row()]), ()),
    Case(
        "posture",
        "loosened per the Setup Audit Trail before oauthwatch first read the app",
        lambda: frames(
            apps=[app_row(refresh_token_policy="infinite")],
            audit=pd.DataFrame(
                [
                    {
                        "created_date": pd.Timestamp(NOW - timedelta(minutes=30)),
                        "action": "changedConnectedAppAttribute",
                        "section": "Connected Apps",
                        "display": "Changed Refresh Token Policy of connected app Billing Sync from Expire refresh "
                        "token if not used for 30 Days to Refresh token is valid until revoked",
                        "created_by": "admin@example.com",
                    }
                ]
            ),
        ),
        ("Billing Sync",),
        lambda fs: (
            (fs[0].severity == "high" and "Setup Audit Trail" in fs[0].explanation) or pytest.fail(str(fs[0]))
        ),
    ),
    # stale_grants
    Case(
        "stale_grants",
        "grant unused 120 days",
        lambda: frames(tokens=[grant(date(2026, 3, 4), NOW - timedelta(days=120))]),
        ("Mobile Sync",),
    ),
    Case(
        "stale_grants",
        "grant used last week",
        lambda: frames(tokens=[grant(date(2026, 3, 4), NOW - timedelta(days=7))]),
        (),
    ),
    # collection_health
    Case(
        "collection_health",
        "lagging source, partial day, API budget at 96%",
        lambda: frames(
            checkpoints=pd.DataFrame(
                [{"source": "login_history", "updated_at": pd.Timestamp(NOW - timedelta(hours=5))}]
            ),
            coverage=pd.DataFrame(
                [
                    {
                        "source": "login_history",
                        "day": date(2026, 3, 3),
                        "status": "partial",
                        "rows": 10,
                        "note": "",
                    }
                ]
            ),
            limits=pd.DataFrame(
                [{"name": "DailyApiRequests", "read_at": NOW, "max": 100000, "remaining": 4000}]
            ),
        ),
        ("login_history", "DailyApiRequests"),
        lambda fs: (
            any(f.severity == "high" and f.subject == "DailyApiRequests" for f in fs) or pytest.fail(str(fs))
        ),
    ),
    Case(
        "collection_health",
        "all current",
        lambda: frames(
            checkpoints=pd.DataFrame(
                [{"source": "login_history", "updated_at": pd.Timestamp(NOW - timedelta(minutes=10))}]
            ),
            coverage=pd.DataFrame(
                [
                    {
                        "source": "login_history",
                        "day": date(2026, 3, 3),
                        "status": "complete",
                        "rows": 10,
                        "note": "",
                    }
                ]
            ),
            limits=pd.DataFrame(
                [{"name": "DailyApiRequests", "read_at": NOW, "max": 100000, "remaining": 90000}]
            ),
        ),
        (),
    ),
]

# the 2025 token-theft campaign detectors
AWS_STEADY = steady(source_ip="3.5.140.10", browser="Vendor-Sync/3.1")
CASES += [
    Case(
        "app_risky_network",
        "stolen tokens replayed from Tor",
        lambda: frames(AWS_STEADY + last_hour(3, source_ip="185.220.101.33", browser="Salesforce-Multi-Org-Fetcher/1.0")),
        ("Billing Sync",),
        lambda fs: (fs[0].severity == "critical" and "tor" in fs[0].evidence["network_classes"]) or pytest.fail(str(fs)),
    ),
    Case(
        "app_risky_network",
        "from a cloud provider the app never used",
        lambda: frames(AWS_STEADY + last_hour(2, source_ip="208.68.36.90")),
        ("Billing Sync",),
        _explains("208.68.36.90", "DigitalOcean", "Amazon AWS"),
    ),
    Case("app_risky_network", "the vendor's usual cloud", lambda: frames(AWS_STEADY + last_hour(5, source_ip="3.5.140.11")), ()),
    Case("app_risky_network", "an office network", lambda: frames(AWS_STEADY + last_hour(5, source_ip="192.0.2.99")), ()),
    Case(
        "new_user_agent",
        "a scripting client",
        lambda: frames(AWS_STEADY + last_hour(2, browser="python-requests/2.32.4")),
        ("Billing Sync",),
        lambda fs: (fs[0].severity == "high" and fs[0].evidence["scripted"]) or pytest.fail(str(fs)),
    ),
    Case(
        "new_user_agent",
        "a new browser is low",
        lambda: frames(AWS_STEADY + last_hour(1, browser="Firefox 133")),
        ("Billing Sync",),
        lambda fs: fs[0].severity == "low" or pytest.fail(str(fs)),
    ),
    Case("new_user_agent", "the usual agent", lambda: frames(AWS_STEADY + last_hour(5, browser="Vendor-Sync/3.1")), ()),
    Case(
        "app_imitation",
        "a Data Loader no admin installed",
        lambda: frames(
            tokens=[grant(date(2026, 3, 4), NOW - timedelta(hours=2), app="Data Loader", app_menu_item_id="0DS000000000001")],
            apps=[{"app_id": "0H4000000000001AAA", "name": "Dataloader Partner"}],
        ),
        ("Data Loader",),
        _explains("named like Data Loader"),
    ),
    Case(
        "app_imitation",
        "a device-flow grant",
        lambda: frames(STEADY_US + last_hour(1, app="Helper", login_subtype="OAuth Device Flow")),
        ("Helper",),
        lambda fs: fs[0].severity == "critical" or pytest.fail(str(fs)),
    ),
    Case(
        "app_imitation",
        "the installed tool",
        lambda: frames(
            tokens=[grant(date(2026, 3, 4), NOW - timedelta(hours=2), app="Data Loader", app_menu_item_id="0DS000000000001")],
            apps=[{"app_id": "0H4000000000001AAA", "name": "Data Loader"}],
        ),
        (),
    ),
]  # fmt: skip


# exfiltration: ApiTotalUsage calls and Bulk job listings, as oauthwatch.detect.exfil_data loads them
VENDOR, VENDOR_ID, JOB = "Slack for Salesforce", "0H4000000000009", "750000000000123"


def call(
    t: datetime, resource: str, method: str = "GET", entity: str = "", app: str = VENDOR_ID
) -> dict[str, object]:
    return {"event_time": t, "app": app, "app_name": VENDOR, "user_id": "005000000000001AAA", "api_family": "REST",
            "api_resource": resource, "http_method": method, "entity_name": entity, "client_ip": "208.68.36.90"}  # fmt: skip


def recon(at: datetime) -> list[dict[str, object]]:
    rows = [call(at, "/v62.0/sobjects"), call(at, "/v62.0/limits")]
    rows += [
        call(at + timedelta(seconds=5 * i), f"/v62.0/sobjects/{o}/describe", entity=o)
        for i, o in enumerate(("Account", "Contact"))
    ]
    return [*rows, call(at + timedelta(seconds=30), "/v62.0/query", entity="Contact")]


def export(at: datetime, job: str = JOB) -> list[dict[str, object]]:
    return [
        call(at, "/v62.0/jobs/query", "POST", "Contact"),
        call(at + timedelta(minutes=2), f"/v62.0/jobs/query/{job}/results", entity="Contact"),
    ]


def exfil_frames(
    calls: list[dict[str, object]] = (), jobs: list[dict[str, object]] = (), hourly: list[float] = ()
) -> Frames:  # type: ignore[assignment]
    f = frames()
    df = pd.DataFrame(list(calls), columns=["event_time", "app", "app_name", "user_id", "api_family", "api_resource",
                                            "http_method", "entity_name", "client_ip"])  # fmt: skip
    df["event_time"] = pd.to_datetime(df["event_time"], utc=True)
    is_job = df["api_resource"].astype(str).str.contains("/jobs/")
    jb = pd.DataFrame(list(jobs), columns=["job_id", "job_type", "operation", "object", "created_by", "created_date",
                                           "system_modstamp", "state", "records", "gone_at"])  # fmt: skip
    for c in ("created_date", "system_modstamp", "gone_at"):
        jb[c] = pd.to_datetime(jb[c], utc=True)
    grid = pd.date_range(
        pd.Timestamp(NOW).floor("h") - pd.Timedelta(hours=len(hourly)), periods=len(hourly), freq="h"
    )
    hours = pd.DataFrame({"hour": grid, "app": VENDOR_ID, "app_name": VENDOR, "calls": list(hourly)})
    span = (grid[0], grid[-1]) if len(grid) else None
    f.extra.update(api_job_calls=df[is_job], api_recon_calls=df[~is_job], api_query_hourly=hours,
                   api_known_span=span, api_loaded_until=pd.Timestamp(NOW), bulk_jobs=jb)  # fmt: skip
    return f


def job(finished: datetime, gone: datetime | None, rows: int = 161_873) -> dict[str, object]:
    return {"job_id": JOB + "AAA", "job_type": "V2Query", "operation": "query", "object": "Contact",
            "created_by": "005000000000001AAA", "created_date": finished - timedelta(minutes=2),
            "system_modstamp": finished, "state": "JobComplete", "records": rows, "gone_at": gone}  # fmt: skip


QUIET_READS = [float(3 + (h % 24 >= 8) * 4 + h % 3) for h in range(24 * 21)]
EARLIER_EXPORTS = [
    r
    for d in range(4, 8)
    for r in recon(NOW - timedelta(days=d)) + export(NOW - timedelta(days=d, minutes=-20))
]
CASES += [
    Case(
        "recon_then_export",
        "describe, count and limits, then a Bulk query job",
        lambda: exfil_frames(recon(NOW - timedelta(minutes=50)) + export(NOW - timedelta(minutes=30))),
        (VENDOR,),
        _explains("listed the objects", "objects Account, Contact", "208.68.36.90"),
    ),
    Case("recon_then_export", "a Bulk export without reconnaissance", lambda: exfil_frames(export(NOW - timedelta(minutes=30))), ()),
    Case(
        "recon_then_export",
        "an app that exports every day",
        lambda: exfil_frames(EARLIER_EXPORTS + recon(NOW - timedelta(minutes=50)) + export(NOW - timedelta(minutes=30))),
        (),
    ),
    Case(
        "export_volume",
        "a burst of Bulk result pages",
        lambda: exfil_frames(hourly=[*QUIET_READS, 120.0]),
        (VENDOR,),
        _explains("120 data-reading API calls"),
    ),
    Case("export_volume", "the usual reading", lambda: exfil_frames(hourly=[*QUIET_READS, 9.0]), ()),
    Case(
        "bulk_job_deleted",
        "deleted two minutes after its results were read",
        lambda: exfil_frames([*export(NOW - timedelta(minutes=40)), call(NOW - timedelta(minutes=36), f"/v62.0/jobs/query/{JOB}", "DELETE", "Contact")]),
        (VENDOR,),
        lambda fs: (fs[0].evidence["seen_by"] == "DELETE call" and fs[0].evidence["minutes_after_finish"] == 2.0) or pytest.fail(str(fs)),
    ),
    Case(
        "bulk_job_deleted",
        "gone from the listing right after it finished",
        lambda: exfil_frames(export(NOW - timedelta(minutes=40)), [job(NOW - timedelta(minutes=35), NOW - timedelta(minutes=20))]),
        (VENDOR,),
        _explains("161,873 rows of Contact", "gone from the job listings 15 minutes later"),
    ),
    Case(
        "bulk_job_deleted",
        "deleted days after it finished",
        lambda: exfil_frames(jobs=[job(NOW - timedelta(days=3), NOW - timedelta(minutes=20))]),
        (),
    ),
]  # fmt: skip


def run_detector(detector_id: str, f: Frames) -> list:
    d = get_detector(detector_id)
    return d.run(f, Context(org=ORG, now=NOW, window=timedelta(hours=1), thresholds=d.thresholds()))


@pytest.mark.parametrize("case", CASES, ids=[f"{c.detector}-{c.name}" for c in CASES])
def test_detector_case(case: Case) -> None:
    findings = run_detector(case.detector, case.build())
    assert {f.subject for f in findings} == set(case.subjects), [f.title for f in findings]
    for f in findings:
        assert f.detector == case.detector
        assert f.org == ORG
        assert f.explanation
        assert f.title
        assert f.runbook
        assert f.dedupe_key.startswith(f"{case.detector}:{ORG}:")
        assert all(isinstance(v, str | int | float | bool) or v is None for v in f.evidence.values()), (
            f.evidence
        )
    if case.check and findings:
        case.check(findings)


def test_every_detector_has_positive_and_negative_cases() -> None:
    for d in all_detectors():
        mine = [c for c in CASES if c.detector == d.id]
        assert any(c.subjects for c in mine), f"{d.id} has no positive case"
        assert any(not c.subjects for c in mine), f"{d.id} has no negative case"


def test_dedupe_key_is_stable_across_runs() -> None:
    f = frames(STEADY_US + _spray(6))
    a = run_detector("password_spray", f)
    b = run_detector("password_spray", f)
    assert [x.dedupe_key for x in a] == [x.dedupe_key for x in b] == ["password_spray:prod:203.0.113.0/24"]


def test_thresholds_come_from_configuration() -> None:
    from oauthwatch.config import ConfigError

    d = get_detector("password_spray")
    assert d.thresholds({"min_users": 20})["min_users"] == 20
    with pytest.raises(ConfigError, match="not a known threshold"):
        d.thresholds({"min_userz": 20})
    strict = Context(org=ORG, now=NOW, window=timedelta(hours=1), thresholds=d.thresholds({"min_users": 20}))
    assert d.run(frames(STEADY_US + _spray(6)), strict) == []


def test_docs_list_every_detector_and_threshold() -> None:
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[1] / "docs" / "detectors.md").read_text()
    for d in all_detectors():
        assert f"`{d.id}`" in docs, f"docs/detectors.md does not describe {d.id}"
        row = next((line for line in docs.splitlines() if line.startswith(f"| `{d.id}` | `")), "")
        for key, value in d.defaults.items():
            assert f"`{key}`" in row, f"docs/detectors.md: threshold {d.id}.{key} is missing"
            shown = (
                str(value).lower()
                if isinstance(value, bool)
                else f"{value:g}"
                if isinstance(value, float)
                else str(value)
            )
            assert f"`{key}` {shown}" in row, f"docs/detectors.md: {d.id}.{key} default is not {shown}"
