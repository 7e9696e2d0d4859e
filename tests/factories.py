"""The one test-data factory: stores seeded with realistic, deterministic rows, written through
``oauthwatch.store.writes`` exactly as the collectors write them.

Rows go in with :func:`upsert` and the rollups are refreshed with :func:`refresh_login_rollup`, so
the hourly and daily rollups reconcile with ``logins``. Every seeder builds its logins with
:func:`login_row`; pick the store that fits the test:

- :func:`seed_store`: two weeks of four apps, five origins, a spray, grants, policies, usage, audit
  rows, runs and alerts (the dashboard, queries and rules tests);
- :func:`seed_digest_day`: a steady week, then :data:`DIGEST_DAY` with a hostile new app, a new
  country and failures (the digest and service tests);
- :func:`login_row` + :func:`write_logins`: hand-made logins for one scenario.

Usage::

    from tests.factories import seed_store
    facts = seed_store(engine, org="acme", days=14, now=NOW)
    facts.logins  # how many login rows were written
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from oauthwatch.config import NotifySettings, OrgSettings, Settings, SmtpSettings, StoreSettings
from oauthwatch.store import schema
from oauthwatch.store.writes import ensure_org, refresh_login_rollup, upsert

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

APPS: tuple[tuple[str, str, str], ...] = (
    # (app name, flow label, 0H4 id)
    ("Data Loader", "OAuth Username-Password", "0H4000000000001AAA"),
    ("Mulesoft Sync", "OAuth Refresh Token", "0H4000000000002AAA"),
    ("Tableau CRM", "OAuth Web Server", "0H4000000000003AAA"),
    ("Jenkins CI", "OAuth Client Credentials", "0H4000000000004AAA"),
)
# (ip, country iso, country, city, lat, lon)
ORIGINS: tuple[tuple[str, str, str, str, float, float], ...] = (
    ("198.51.100.10", "US", "United States", "Ashburn", 39.04, -77.49),
    ("198.51.100.11", "US", "United States", "Ashburn", 39.04, -77.49),
    ("203.0.113.5", "DE", "Germany", "Frankfurt", 50.11, 8.68),
    ("192.0.2.77", "FR", "France", "Paris", 48.86, 2.35),
    ("2001:db8::10", "JP", "Japan", "Tokyo", 35.68, 139.69),
)
FAIL_STATUSES = ("Invalid Password", "Failed: IP Address Not Allowed", "Failed: Invalid Code Verifier")
SPRAY_IP = ("185.220.101.4", "RU", "Russia", "Moscow", 55.75, 37.62)


@dataclass
class SeedFacts:
    """What was written, for assertions."""

    org: str
    start: datetime
    end: datetime
    logins: int = 0
    failures: int = 0
    users: list[str] = field(default_factory=list)
    apps: list[str] = field(default_factory=list)
    alert_ids: list[int] = field(default_factory=list)


def user_id(i: int) -> str:
    """A plausible 18-character User id."""
    return f"005{i:012d}AAA"


def login_row(org: str, natural_id: str, login_time: datetime, **fields: Any) -> dict[str, Any]:
    """One ``logins`` row with plausible defaults (a successful OAuth login to Data Loader);
    ``fields`` set any other column. Every seeder builds its logins with this."""
    row: dict[str, Any] = {
        "org": org,
        "source": "login_history",
        "natural_id": natural_id,
        "login_time": login_time,
        "user_id": "005000000000001AAA",
        "username": None,
        "login_type": "Remote Access 2.0",
        "status": "Success",
        "success": True,
        "application": "Data Loader",
        "source_ip": "198.51.100.7",
        "country_iso": "US",
        "ingested_at": login_time,
    }
    row.update(fields)
    return row


def write_logins(engine: Engine, org: str, rows: list[dict[str, Any]], *, rollup: bool = False) -> None:
    """Store ``rows`` as the collectors do (upsert on the natural key), optionally refreshing the
    hourly rollup of the hours they touch."""
    with engine.begin() as conn:
        ensure_org(conn, org)
        upsert(conn, schema.logins, rows, key=["org", "source", "natural_id"])
        if rollup:
            hours = {r["login_time"].replace(minute=0, second=0, microsecond=0) for r in rows}
            refresh_login_rollup(conn, org, "login_history", hours)


def seed_store(
    engine: Engine,
    *,
    org: str = "acme",
    days: int = 14,
    now: datetime | None = None,
    per_hour: int = 6,
    seed: int = 7,
) -> SeedFacts:
    """Write ``days`` days of logins (plus apps, grants, usage, audit, runs, alerts…) for ``org``."""
    rnd = random.Random(seed)
    now = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(days=days)
    facts = SeedFacts(org=org, start=start, end=now, apps=[a[0] for a in APPS])
    users = [user_id(i) for i in range(1, 9)]
    facts.users = users
    with engine.begin() as conn:
        ensure_org(conn, org, org_id="00D000000000001AAA", instance_url="https://acme.my.salesforce.com")
        upsert(
            conn,
            schema.users,
            [
                {
                    "org": org,
                    "user_id": u,
                    "username": f"integration{i}@acme.example",
                    "name": f"Integration {i}",
                    "is_active": i != 8,
                    "user_type": "Standard",
                    "profile": "API Only",
                    "updated_at": now,
                }
                for i, u in enumerate(users, 1)
            ],
            key=["org", "user_id"],
            update=None,
        )
        rows: list[dict[str, Any]] = []
        hours: set[datetime] = set()
        t = start
        n = 0
        while t < now:
            for _ in range(per_hour):
                n += 1
                app, flow, _ = APPS[rnd.randrange(len(APPS))]
                origin = ORIGINS[rnd.randrange(len(ORIGINS))]
                ok = rnd.random() > 0.12
                u = users[rnd.randrange(len(users) - 1)]
                rows.append(
                    _login(org, n, t + timedelta(minutes=rnd.randrange(60)), u, app, flow, ok, origin, rnd)
                )
            hours.add(t)
            t += timedelta(hours=1)
        # A spray: one foreign IP failing for many users in the last day.
        spray_t = now - timedelta(hours=3)
        for i, u in enumerate(users):
            n += 1
            rows.append(
                _login(
                    org,
                    n,
                    spray_t + timedelta(minutes=i),
                    u,
                    "Data Loader",
                    "OAuth Username-Password",
                    False,
                    SPRAY_IP,
                    rnd,
                    status="Invalid Password",
                )
            )
        hours.add(spray_t.replace(minute=0))
        upsert(conn, schema.logins, rows, key=["org", "source", "natural_id"])
        refresh_login_rollup(conn, org, "login_history", hours)
        facts.logins = len(rows)
        facts.failures = sum(1 for r in rows if not r["success"])
        _seed_apps(conn, org, now)
        _seed_tokens(conn, org, now, users)
        _seed_usage(conn, org, start, now, rnd)
        _seed_audit(conn, org, now)
        _seed_collection(conn, org, now, days)
        facts.alert_ids = _seed_alerts(conn, org, now, spray_t)
    return facts


def _login(
    org: str,
    n: int,
    t: datetime,
    u: str,
    app: str,
    flow: str,
    ok: bool,
    origin: tuple[str, str, str, str, float, float],
    rnd: random.Random,
    status: str | None = None,
) -> dict[str, Any]:
    ip, iso, country, city, lat, lon = origin
    return login_row(
        org,
        f"0Ya{n:015d}",
        t,
        user_id=u,
        username=f"integration{int(u[3:15])}@acme.example",
        login_subtype=flow,
        status="Success" if ok else (status or rnd.choice(FAIL_STATUSES)),
        success=ok,
        application=app,
        source_ip=ip,
        login_url="acme.my.salesforce.com",
        browser="Unknown",
        platform="Unknown",
        api_type="N/A",
        api_version="62.0",
        tls_protocol="TLS 1.3",
        country_iso=iso,
        country=country,
        city=city,
        latitude=lat,
        longitude=lon,
        ingested_at=t + timedelta(minutes=5),
    )


def _seed_apps(conn: Any, org: str, now: datetime) -> None:
    rows = []
    for name, _, app_id in APPS:
        rows.append(
            {
                "org": org,
                "app_id": app_id,
                "name": name,
                "kind": "external_client_app" if name == "Tableau CRM" else "connected_app",
                "admin_approved_only": name != "Data Loader",
                "ip_relaxation": "BYPASS" if name == "Data Loader" else "ENFORCE",
                "refresh_token_policy": "infinite" if name == "Mulesoft Sync" else "zero",
                "scopes": ["Full"] if name == "Data Loader" else ["Api", "RefreshToken"],
                "certificate_expires_at": now + timedelta(days=10) if name == "Jenkins CI" else None,
                "permitted_parents": ["System Administrator"],
                "session_level": None,
                "details": {},
                "fingerprint": hashlib.sha256(name.encode()).hexdigest(),
                "first_seen": now - timedelta(days=60),
                "last_seen": now,
            }
        )
    upsert(conn, schema.connected_apps, rows, key=["org", "app_id"], update=None)
    conn.execute(
        schema.connected_app_changes.insert(),
        [
            {
                "org": org,
                "app_id": APPS[0][2],
                "observed_at": now - timedelta(days=2),
                "field": "ip_relaxation",
                "old_value": "ENFORCE",
                "new_value": "BYPASS",
            }
        ],
    )


def _seed_tokens(conn: Any, org: str, now: datetime, users: list[str]) -> None:
    day = now.date()
    rows = []
    for i, u in enumerate(users):
        for j, (app, _, _) in enumerate(APPS):
            if (i + j) % 2:
                continue
            created = now - timedelta(days=200 - i * 20 - j)
            last = None if (i + j) % 3 == 0 else now - timedelta(days=(i * 13) % 120)
            rows.append(
                {
                    "org": org,
                    "snapshot_day": day,
                    "user_id": u,
                    "app_name": app,
                    "created_date": created,
                    "app_menu_item_id": None,
                    "last_used_date": last,
                    "use_count": i * 10 + j,
                    "delete_token_hash": hashlib.sha256(f"{u}{app}".encode()).hexdigest(),
                    "seen_at": now,
                }
            )
    upsert(
        conn,
        schema.oauth_token_snapshots,
        rows,
        key=["org", "snapshot_day", "user_id", "app_name", "created_date"],
    )


def _seed_usage(conn: Any, org: str, start: datetime, now: datetime, rnd: random.Random) -> None:
    rows = []
    t = start
    while t < now:
        for name, _, app_id in APPS:
            rows.append(
                {
                    "org": org,
                    "hour": t,
                    "connected_app_id": app_id,
                    "connected_app_name": name,
                    "client_name": "",
                    "api_family": "rest",
                    "status_code": "200",
                    "user_id": "",
                    "requests": rnd.randrange(10, 400),
                }
            )
        t += timedelta(hours=1)
    upsert(
        conn,
        schema.api_usage_hourly,
        rows,
        key=[c.name for c in schema.api_usage_hourly.c if c.name != "requests"],
        update=["requests"],
    )


def _seed_audit(conn: Any, org: str, now: datetime) -> None:
    rows = [
        {
            "org": org,
            "event_id": "0Ym000000000001AAA",
            "created_date": now - timedelta(days=2, hours=1),
            "action": "changedConnectedAppIpRelaxation",
            "section": "Connected Apps",
            "display": 'Changed IP relaxation of connected app "Data Loader" to Relax IP restrictions',
            "created_by": "admin@acme.example",
            "delegate_user": None,
        },
        {
            "org": org,
            "event_id": "0Ym000000000002AAA",
            "created_date": now - timedelta(hours=5),
            "action": "insertConnectedApplication",
            "section": "Connected Apps",
            "display": 'Created connected app "Jenkins CI"',
            "created_by": "admin@acme.example",
            "delegate_user": None,
        },
    ]
    upsert(conn, schema.audit_events, rows, key=["org", "event_id"])
    upsert(
        conn,
        schema.org_limits,
        [
            {
                "org": org,
                "read_at": now - timedelta(hours=h),
                "name": "DailyApiRequests",
                "max": 15000,
                "remaining": 15000 - 300 * (24 - h),
                "origin": "limits",
            }
            for h in range(0, 24, 6)
        ],
        key=["org", "read_at", "name"],
    )


def _seed_collection(conn: Any, org: str, now: datetime, days: int) -> None:
    runs = []
    for i, src in enumerate(("login_history", "oauth_tokens", "connected_apps", "setup_audit_trail")):
        runs.append(
            {
                "org": org,
                "source": src,
                "started_at": now - timedelta(minutes=20 + i),
                "finished_at": now - timedelta(minutes=19 + i),
                "outcome": "failed" if src == "setup_audit_trail" else "ok",
                "rows_read": 100 * (i + 1),
                "rows_written": 100 * (i + 1),
                "rows_quarantined": 1 if src == "login_history" else 0,
                "api_calls": 3 + i,
                "error": "INVALID_SESSION_ID: Session expired or invalid"
                if src == "setup_audit_trail"
                else None,
            }
        )
    conn.execute(schema.collector_runs.insert(), runs)
    upsert(
        conn,
        schema.checkpoints,
        [
            {
                "org": org,
                "source": "login_history",
                "cursor": {"ts": (now - timedelta(minutes=7)).isoformat(), "id": "0Ya"},
                "updated_at": now - timedelta(minutes=19),
            },
            {
                "org": org,
                "source": "setup_audit_trail",
                "cursor": {"ts": (now - timedelta(hours=9)).isoformat(), "id": "0Ym"},
                "updated_at": now - timedelta(hours=9),
            },
        ],
        key=["org", "source"],
        update=None,
    )
    cov = []
    for d in range(days):
        day: date = (now - timedelta(days=d)).date()
        status = "partial" if d == 0 else ("missing" if d == 3 else "complete")
        cov.append(
            {
                "org": org,
                "source": "login_history",
                "day": day,
                "status": status,
                "rows": 0 if status == "missing" else 144,
                "note": None,
                "updated_at": now,
            }
        )
    upsert(conn, schema.coverage, cov, key=["org", "source", "day"], update=None)
    conn.execute(
        schema.quarantine.insert(),
        [
            {
                "org": org,
                "source": "login_history",
                "received_at": now - timedelta(hours=2),
                "reason": "LoginTime is not a datetime: 'yesterday'",
                "natural_id": "0Ya999",
                "raw": '{"LoginTime": "yesterday"}',
            }
        ],
    )
    upsert(
        conn,
        schema.service_heartbeats,
        [
            {
                "component": "collector",
                "pid": 4242,
                "started_at": now - timedelta(days=1),
                "beat_at": now - timedelta(minutes=1),
                "state": "running",
                "detail": {"cycle": 96},
            }
        ],
        key=["component"],
        update=None,
    )


def _seed_alerts(conn: Any, org: str, now: datetime, spray_t: datetime) -> list[int]:
    base = {
        "org": org,
        "runbook": ["Check the source IP", "Reset affected passwords"],
        "count": 1,
        "auto_resolved": False,
    }
    rows = [
        {
            **base,
            "dedupe_key": f"{org}:password_spray:185.220.101.4",
            "detector": "password_spray",
            "severity": "high",
            "subject_type": "ip",
            "subject": "185.220.101.4",
            "title": "Password spray from 185.220.101.4",
            "explanation": "One IP failed to log in as 8 different users within 8 minutes.",
            "evidence": {"users": 8, "failures": 8, "status": "Invalid Password"},
            "event_start": spray_t,
            "event_end": spray_t + timedelta(minutes=8),
            "first_seen": spray_t + timedelta(minutes=10),
            "last_seen": spray_t + timedelta(minutes=10),
            "status": "open",
            "status_by": None,
            "status_at": None,
        },
        {
            **base,
            "dedupe_key": f"{org}:posture_ip_relaxation:Data Loader",
            "detector": "posture_ip_relaxation",
            "severity": "medium",
            "subject_type": "app",
            "subject": "Data Loader",
            "title": "Data Loader bypasses IP restrictions",
            "explanation": "The app's IP relaxation policy is BYPASS: logins are accepted from any network.",
            "evidence": {"ip_relaxation": "BYPASS"},
            "event_start": now - timedelta(days=2),
            "event_end": now - timedelta(days=2),
            "first_seen": now - timedelta(days=2),
            "last_seen": now - timedelta(hours=1),
            "status": "acknowledged",
            "status_by": "admin@acme.example",
            "status_at": now - timedelta(days=1),
        },
    ]
    conn.execute(schema.alerts.insert(), rows)
    ids = (
        conn.execute(
            schema.alerts.select()
            .with_only_columns(schema.alerts.c.id)
            .where(schema.alerts.c.org == org)
            .order_by(schema.alerts.c.id)
        )
        .scalars()
        .all()
    )
    conn.execute(
        schema.allowlist.insert(),
        [
            {
                "org": org,
                "app_name": "Tableau CRM",
                "owner": "bi-team@acme.example",
                "note": "BI dashboards",
                "created_at": now,
                "created_by": "admin@acme.example",
            }
        ],
    )
    return list(ids)


# ---- the digest's day: a steady week, then a day with a hostile new app, a new country, failures ----

DIGEST_DAY = date(2026, 11, 27)
EVIL_APP = "<script>alert(1)</script>"


def _digest_login(
    i: int,
    when: datetime,
    app: str,
    ok: bool,
    *,
    ip: str = "198.51.100.7",
    country: str = "US",
    status: str | None = None,
    source: str = "login_history",
) -> dict[str, Any]:
    return login_row(
        "acme",
        f"0Ya{source[:3]}{i:012d}",
        when,
        source=source,
        user_id=f"005{i % 5:015d}",
        username=f"u{i % 5}@example.com",
        status="Success" if ok else (status or "Invalid Password"),
        success=ok,
        application=app,
        source_ip=ip,
        country_iso=country,
    )


def digest_settings(url: str, port: int = 25, tz: str = "UTC", **notify) -> Settings:
    org = OrgSettings(
        name="acme",
        login_url="https://acme.example.com",
        flow="client_credentials",
        client_id="x",
        client_secret_env="UNUSED",
        digest_to=["lead@example.com"],
    )
    smtp = SmtpSettings(
        host="127.0.0.1", port=port, security="none", sender="ow@example.com", timeout_seconds=3
    )
    return Settings(
        store=StoreSettings(url=url),
        notify=NotifySettings(
            email_to=["all@example.com"],
            digest_timezone=tz,
            dashboard_url="http://dash.example:8501",
            smtp=smtp,
            **notify,
        ),
        orgs=[org],
    )


def seed_digest_day(engine: Engine) -> None:
    """The digest's day (:data:`DIGEST_DAY`) for org "acme": seven baseline days of steady traffic, then a day with an unknown app, a new country and failures."""
    rows: list[dict] = []
    i = 0
    start = datetime.combine(DIGEST_DAY, time(0), tzinfo=UTC)
    for back in range(1, 9):
        for k in range(10 + back):
            i += 1
            rows.append(
                _digest_login(
                    i, start - timedelta(days=back) + timedelta(minutes=37 * k), "Data Loader", k % 5 != 0
                )
            )
    for k in range(30):
        i += 1
        rows.append(
            _digest_login(
                i,
                start + timedelta(minutes=40 * k),
                "Data Loader",
                k % 3 != 0,
                status="Failed: IP Address Not Allowed",
            )
        )
    for k in range(12):
        i += 1
        rows.append(
            _digest_login(
                i, start + timedelta(hours=2, minutes=k), EVIL_APP, True, ip="203.0.113.9", country="DE"
            )
        )
    # The same day seen by another source must not be counted twice (one primary source).
    rows.append(_digest_login(i + 1, start + timedelta(hours=3), "Data Loader", False, source="login_event"))
    now = start + timedelta(days=1, hours=7)
    with engine.begin() as conn:
        ensure_org(conn, "acme")
        upsert(conn, schema.logins, rows, key=["org", "source", "natural_id"])
        upsert(
            conn,
            schema.connected_apps,
            [
                {
                    "org": "acme",
                    "app_id": "0H4000000000001AAA",
                    "name": EVIL_APP,
                    "admin_approved_only": False,
                    "ip_relaxation": "BYPASS",
                    "refresh_token_policy": "infinite",
                    "scopes": ["full", "api"],
                    "certificate_expires_at": now + timedelta(days=5),
                    "fingerprint": "f1",
                    "first_seen": start + timedelta(hours=1),
                    "last_seen": now,
                },
                {
                    "org": "acme",
                    "app_id": "0H4000000000002AAA",
                    "name": "Data Loader",
                    "admin_approved_only": True,
                    "ip_relaxation": "ENFORCE",
                    "refresh_token_policy": "specific_lifetime:1:DIGEST_DAYS",
                    "scopes": ["api"],
                    "certificate_expires_at": None,
                    "fingerprint": "f2",
                    "first_seen": start - timedelta(days=30),
                    "last_seen": now,
                },
            ],
            key=["org", "app_id"],
        )
        upsert(
            conn,
            schema.oauth_token_snapshots,
            [
                {
                    "org": "acme",
                    "snapshot_day": DIGEST_DAY,
                    "user_id": f"005{u:015d}",
                    "app_name": EVIL_APP,
                    "created_date": start + timedelta(hours=2, minutes=u),
                    "use_count": 1,
                    "seen_at": now,
                }
                for u in range(3)
            ]
            + [
                {
                    "org": "acme",
                    "snapshot_day": DIGEST_DAY - timedelta(days=1),
                    "user_id": f"005{u:015d}",
                    "app_name": EVIL_APP,
                    "created_date": start + timedelta(hours=2, minutes=u),
                    "use_count": 1,
                    "seen_at": now,
                }
                for u in range(3)
            ],
            key=["org", "snapshot_day", "user_id", "app_name", "created_date"],
        )
        alert = {
            "detector": "new_app",
            "severity": "high",
            "org": "acme",
            "subject_type": "app",
            "subject": EVIL_APP,
            "explanation": "first logins",
            "count": 1,
            "status": "open",
        }
        conn.execute(
            schema.alerts.insert(),
            [
                {
                    **alert,
                    "dedupe_key": "a1",
                    "title": f"New app {EVIL_APP}",
                    "first_seen": start + timedelta(hours=2),
                    "last_seen": start + timedelta(hours=2),
                },
                {
                    **alert,
                    "dedupe_key": "a2",
                    "detector": "spray",
                    "severity": "medium",
                    "title": "Old spray",
                    "first_seen": start - timedelta(days=3),
                    "last_seen": start - timedelta(days=2),
                },
                {
                    **alert,
                    "dedupe_key": "a4",
                    "title": "Opened this morning",
                    "first_seen": now - timedelta(hours=1),
                    "last_seen": now - timedelta(hours=1),
                },
                {
                    **alert,
                    "dedupe_key": "a3",
                    "title": "Resolved thing",
                    "status": "resolved",
                    "first_seen": start - timedelta(days=3),
                    "last_seen": start - timedelta(days=3),
                },
            ],
        )
        conn.execute(
            schema.coverage.insert(),
            [
                {
                    "org": "acme",
                    "source": "login_history",
                    "day": DIGEST_DAY,
                    "status": "complete",
                    "rows": 42,
                    "updated_at": now,
                },
                {
                    "org": "acme",
                    "source": "event_log_files",
                    "day": DIGEST_DAY,
                    "status": "partial",
                    "rows": 1,
                    "updated_at": now,
                },
                {
                    "org": "acme",
                    "source": "oauth_tokens",
                    "day": DIGEST_DAY + timedelta(days=1),
                    "status": "complete",
                    "rows": 6,
                    "updated_at": now,
                },
            ],
        )
        conn.execute(
            schema.collector_runs.insert(),
            [
                {
                    "org": "acme",
                    "source": "login_history",
                    "started_at": now - timedelta(minutes=5),
                    "finished_at": now - timedelta(minutes=4),
                    "outcome": "ok",
                    "error": None,
                },
                {
                    "org": "acme",
                    "source": "event_log_files",
                    "started_at": now - timedelta(days=2),
                    "finished_at": now - timedelta(days=2),
                    "outcome": "failed",
                    "error": "INSUFFICIENT_ACCESS: grant View Event Log Files",
                },
                {
                    "org": "acme",
                    "source": "login_events",
                    "started_at": now - timedelta(minutes=5),
                    "finished_at": now - timedelta(minutes=5),
                    "outcome": "skipped",
                    "error": None,
                },
            ],
        )
        conn.execute(
            schema.org_limits.insert(),
            [
                {
                    "org": "acme",
                    "read_at": now - timedelta(hours=1),
                    "name": "DailyApiRequests",
                    "max": 15000,
                    "remaining": 14000,
                },
                {"org": "acme", "read_at": now, "name": "DailyApiRequests", "max": 15000, "remaining": 13500},
            ],
        )
