"""The security incidents the local org can stage, each as events plus the configuration it changes.

An incident is a pure function of (plan, seed, time): the same call gives the same events, so the
live ticker can regenerate a running incident and write the part the clock has reached. Each one
names the detector expected to catch it and describes itself for the ground-truth file.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field

from oauthwatch.simulator.data.clock import DAY_MS, HOUR_MS
from oauthwatch.simulator.data.ids import make_id, to15
from oauthwatch.simulator.generate import geo
from oauthwatch.simulator.generate.keys import certificate_pem, rsa_key
from oauthwatch.simulator.generate.names import full_name
from oauthwatch.simulator.generate.plan import App, Plan, opaque
from oauthwatch.simulator.generate.setupdb import (
    audit_row,
    next_audit_number,
    refresh_policy_text,
    relax_text,
)
from oauthwatch.simulator.generate.traffic import REMOTE, SUB_CC, SUB_REFRESH, SUB_UI, SUB_WEB, UI_TYPE

MIN = 60_000

# Scenario event: (t, user_id, login_type, sub_type, status, ip, browser, platform, login_url, application)


@dataclass
class Incident:
    name: str
    start_ms: int
    end_ms: int
    app: str | None
    users: list[str]
    ips: list[str]
    network: str | None
    country: str | None
    detector: str
    description: str
    events: list[tuple] = field(default_factory=list)
    configure: Callable[[sqlite3.Connection], None] | None = None
    replaces: tuple[str, int, int] | None = None  # (app label, start, end): generated logins it supersedes
    follow_up: tuple[str, int] | None = None  # (internal action, when)
    extra: dict = field(default_factory=dict)  # more ground truth (e.g. the API calls a theft staged)
    calls_staged: bool = False  # its logins' API calls are all staged (configure): none are derived

    def truth(self) -> dict:
        from oauthwatch.simulator.data.clock import iso

        return {
            "scenario": self.name,
            "start": iso(self.start_ms),
            "end": iso(self.end_ms),
            "app": self.app,
            "users": self.users,
            "ips": self.ips,
            "network": self.network,
            "country": self.country,
            "expected_detector": self.detector,
            "description": self.description,
            "events": len(self.events),
            **self.extra,
        }


class NotApplicable(ValueError):
    """The org lacks what the scenario needs (the message says which build option adds it)."""


def _pick(items: list, rng: random.Random, what: str):  # noqa: ANN202 - generic
    if not items:
        raise NotApplicable(f"the org has no {what}: build it with more users or apps (--users, --apps)")
    return items[rng.randrange(len(items))]


def _humans(plan: Plan) -> list:
    return [u for u in plan.users if u.kind in ("human", "admin") and u.active]


def _addresses(rng: random.Random, cidr: str, n: int) -> list[str]:
    net = geo.NETWORKS[geo.index(cidr)]
    return sorted({net.address(rng.randrange(2, 250)) for _ in range(n)})


def spray(plan: Plan, rng: random.Random, at: int) -> Incident:
    cidr = "45.134.212.0/24"
    ips = _addresses(rng, cidr, 3)
    people = _humans(plan)
    targets = rng.sample(people, k=min(40, len(people)))
    events = []
    for j, u in enumerate(targets):
        times = sorted(at + rng.randrange(20 * MIN) for _ in range(rng.randint(2, 3)))
        for k, t in enumerate(times):
            st = "Invalid Password"
            if j < 2 and k == len(times) - 1:
                st = "Password Lockout"
            elif j == 2 and k == len(times) - 1:
                st = "Success"
            events.append(
                (
                    t,
                    u.id,
                    UI_TYPE,
                    SUB_UI,
                    st,
                    rng.choice(ips),
                    "Chrome 120",
                    "Linux",
                    plan.login_host,
                    "Browser",
                )
            )
    return Incident(
        "spray", at, at + 20 * MIN, "Browser", [u.username for u in targets], ips, cidr, "RU", "password_spray",
        f"Password spray from {cidr} (Moscow hosting): {len(targets)} users tried 2–3 times each in 20 minutes, "
        f"two locked out, one password guessed ({targets[2].username if len(targets) > 2 else '-'}).",
        events,
    )  # fmt: skip


def stolen_refresh_token(plan: Plan, rng: random.Random, at: int) -> Incident:
    grants = [g for g in plan.grants if g.state == "active" and plan.apps[g.app].kind == "mobile"]
    grants = grants or [
        g for g in plan.grants if g.state == "active" and plan.apps[g.app].kind in ("user", "dataloader")
    ]
    g = _pick(grants, rng, "active user grant")
    user, app = plan.users[g.user], plan.apps[g.app]
    cidr = "102.89.32.0/24"
    ips = _addresses(rng, cidr, 2)
    events = [
        (at + i * 7 * MIN + rng.randrange(MIN), user.id, REMOTE, SUB_REFRESH, "Success", rng.choice(ips), "Unknown", "Unknown", "login.salesforce.com", app.label)
        for i in range(12)
    ]  # fmt: skip
    return Incident(
        "stolen_refresh_token", at, at + 90 * MIN, app.label, [user.username], ips, cidr, "NG", "new_country",
        f"{user.username}'s refresh token for {app.label} replayed 12 times from Lagos, Nigeria ({cidr}); "
        f"the user normally connects from {geo.NETWORKS[user.office_net].country}.",
        events,
    )  # fmt: skip


def _integration(plan: Plan, flow: str) -> App:
    apps = [a for a in plan.apps if a.kind == "integration" and flow in a.spec.flows]
    apps = apps or [a for a in plan.apps if a.kind == "integration"]
    if not apps:
        raise NotApplicable("the org has no integration app: build it with --apps 3 or more")
    return apps[0]


def runaway_integration(plan: Plan, rng: random.Random, at: int) -> Incident:
    app = _integration(plan, "client_credentials")
    user = plan.users[app.service_users[0]]
    sub = (
        SUB_CC if "client_credentials" in app.spec.flows else None if "jwt" in app.spec.flows else SUB_REFRESH
    )
    events, t = [], at
    while t < at + 2 * HOUR_MS:
        st = (
            "Failed: Get Access Token Limit Exceeded"
            if t > at + HOUR_MS and rng.random() < 0.05
            else "Success"
        )
        ip = app.ips[rng.randrange(len(app.ips))][0]
        events.append(
            (t, user.id, REMOTE, sub, st, ip, "Unknown", "Unknown", "login.salesforce.com", app.label)
        )
        t += 1500 + rng.randrange(2000)
    return Incident(
        "runaway_integration", at, at + 2 * HOUR_MS, app.label, [user.username], sorted({e[5] for e in events}),
        app.spec.networks[0] if app.spec.networks else None, "US", "volume",
        f"{app.label} stuck in a retry loop: a new token every ~2.5 s for two hours ({len(events)} logins, "
        "about 50 times its usual rate), the last hour partly refused for exceeding the access-token limit.",
        events,
    )  # fmt: skip


def expired_jwt_cert(plan: Plan, rng: random.Random, at: int) -> Incident:
    apps = [a for a in plan.apps if a.kind == "integration" and "jwt" in a.spec.flows]
    if not apps:
        raise NotApplicable("the org has no JWT bearer integration app: build it with --apps 2 or more")
    app = min(apps, key=lambda a: a.spec.cert_days_left or 9999)
    user = plan.users[app.service_users[0]]
    end = at + 3 * HOUR_MS
    events, t = [], at + rng.randrange(2 * MIN)
    per_hour = max(6, int(app.spec.rate * 3))
    while t < end:
        ip = app.ips[rng.randrange(len(app.ips))][0]
        events.append(
            (
                t,
                user.id,
                REMOTE,
                None,
                "Failed: Signature Invalid",
                ip,
                "Unknown",
                "Unknown",
                "login.salesforce.com",
                app.label,
            )
        )
        t += HOUR_MS // per_hour + rng.randrange(MIN)
    seed_key = f"{plan.seed}:apps"

    def configure(conn: sqlite3.Connection) -> None:
        pem = certificate_pem(
            rsa_key(seed_key), full_name(app.label), _dt(at - 730 * DAY_MS), _dt(at), 5000 + app.idx
        )
        conn.execute("UPDATE _AppConfig SET CertificatePem = ? WHERE AppId = ?", (pem, app.id))

    return Incident(
        "expired_jwt_cert", at, end, app.label, [user.username], sorted({e[5] for e in events}),
        app.spec.networks[0] if app.spec.networks else None, geo.NETWORKS[app.ips[0][1]].iso, "failure_surge",
        f"The certificate uploaded to {app.label} for JWT bearer expired: every token request failed with "
        f"'Failed: Signature Invalid' for three hours ({len(events)} failures) until an admin uploaded a new one.",
        events, configure, replaces=(app.label, at, end), follow_up=("renew_cert", end),
    )  # fmt: skip


def renew_cert(conn: sqlite3.Connection, plan: Plan, at: int, label: str) -> None:
    """Follow-up of expired_jwt_cert: an admin uploads a fresh certificate."""
    app = next(a for a in plan.apps if a.label == label)
    pem = certificate_pem(
        rsa_key(f"{plan.seed}:apps"), full_name(label), _dt(at), _dt(at + 730 * DAY_MS), 6000 + app.idx
    )
    conn.execute("UPDATE _AppConfig SET CertificatePem = ? WHERE AppId = ?", (pem, app.id))
    admin = plan.users[plan.admin].id
    conn.execute(
        'INSERT OR IGNORE INTO "SetupAuditTrail" VALUES (?,?,?,?,?,?,?,?)',
        audit_row(next_audit_number(conn), "updateConnectedApplication", "Connected Apps", at, admin,
                  f"Uploaded a digital certificate for connected app {label}"),
    )  # fmt: skip


def unapproved_app(plan: Plan, rng: random.Random, at: int) -> Incident:
    label = "PDF Butler Free"
    cidr = "103.152.220.0/24"
    vendor_ips = _addresses(rng, cidr, 3)
    people = rng.sample(_humans(plan), k=min(25, len(_humans(plan))))
    end = at + 6 * HOUR_MS
    events = []
    for j, u in enumerate(people):
        # the first user finds the app at the incident's start; word spreads over five hours
        t = at + rng.randrange(2 * MIN) if j == 0 else at + rng.randrange(5 * HOUR_MS)
        ip = u.office_ip if rng.random() < 0.6 else u.home_ip
        events.append(
            (t, u.id, REMOTE, SUB_WEB, "Success", ip, u.browser, u.platform, plan.login_host, label)
        )
        for _ in range(rng.randint(1, 4)):
            t2 = t + rng.randrange(MIN, max(2 * MIN, end - t))
            events.append(
                (
                    t2,
                    u.id,
                    REMOTE,
                    SUB_REFRESH,
                    "Success",
                    rng.choice(vendor_ips),
                    "Unknown",
                    "Unknown",
                    "login.salesforce.com",
                    label,
                )
            )
    events.sort(key=lambda e: e[0])
    number = 800 + (at // MIN) % 100_000
    app_id, menu_id = make_id("0H4", number), make_id("0DS", number)
    key, secret = opaque(rng, "3MVG9", 80), "".join(rng.choice("0123456789ABCDEF") for _ in range(64))
    admin = plan.users[plan.admin].id

    def configure(conn: sqlite3.Connection) -> None:
        if conn.execute("SELECT 1 FROM _AppConfig WHERE Label = ?", (label,)).fetchone():
            return
        conn.execute(
            'INSERT INTO "ConnectedApplication" ("Id","Name","CreatedDate","CreatedById","LastModifiedDate","LastModifiedById",'
            '"OptionsAllowAdminApprovedUsersOnly","OptionsRefreshTokenValidityMetric","RefreshTokenValidityPeriod",'
            '"OptionsHasSessionLevelPolicy","OptionsIsInternal") VALUES (?,?,?,?,?,?,0,0,NULL,0,0)',
            (app_id, label, at, admin, at, admin),
        )
        conn.execute(
            "INSERT INTO _AppConfig (AppId, Label, FullName, ContactEmail, ConsumerKey, ConsumerSecret, CallbackUrl, Scopes, Flows,"
            " IsAdminApproved, IpRelaxation, RefreshTokenPolicy, Kind) VALUES (?,?,?,?,?,?,?,?,?,0,'ENFORCE','infinite','user')",
            (app_id, label, full_name(label), "support@pdfbutler.example.net", key, secret,
             "https://pdfbutler.example.net/oauth/callback", json.dumps(["Full", "RefreshToken"]),
             json.dumps(["web_server", "refresh_token"])),
        )  # fmt: skip
        conn.execute(
            'INSERT INTO "AppMenuItem" VALUES (?,?,?,?,?,?,?,?,?,?)',
            (
                menu_id,
                to15(app_id),
                full_name(label),
                label,
                "Export any record to PDF",
                "ConnectedApplication",
                1,
                1,
                0,
                None,
            ),
        )

    return Incident(
        "unapproved_app", at, end, label, [u.username for u in people], vendor_ips, cidr, "VN", "new_app",
        f"{len(people)} users self-authorized '{label}', an app nobody approved, with Full scope and a refresh token "
        f"valid until revoked; it then refreshed tokens from {cidr} (Hanoi hosting).",
        events, configure,
    )  # fmt: skip


def dormant_grant(plan: Plan, rng: random.Random, at: int) -> Incident:
    grants = [g for g in plan.grants if g.state == "dormant"] or [
        g for g in plan.grants if g.state == "stale"
    ]
    g = _pick(grants or [g for g in plan.grants if plan.users[g.user].active], rng, "grant")
    user, app = plan.users[g.user], plan.apps[g.app]
    cidr = "89.38.96.0/24"
    ips = _addresses(rng, cidr, 2)
    events = [
        (at + i * 9 * MIN + rng.randrange(MIN), user.id, REMOTE, SUB_REFRESH, "Success", rng.choice(ips), "Unknown", "Unknown", "login.salesforce.com", app.label)
        for i in range(6)
    ]  # fmt: skip
    idle = (at - g.last_used_ms) // DAY_MS
    return Incident(
        "dormant_grant", at, at + HOUR_MS, app.label, [user.username], ips, cidr, "RO", "dormant_grant",
        f"{user.username}'s grant to {app.label}, unused for {idle} days, suddenly refreshed 6 times from Bucharest ({cidr}).",
        events,
    )  # fmt: skip


def policy_loosened(plan: Plan, rng: random.Random, at: int) -> Incident:
    candidates = [
        a
        for a in plan.apps
        if a.spec.admin_approved and a.kind == "user" and a.spec.ip_relaxation == "ENFORCE"
    ]
    candidates = candidates or [a for a in plan.apps if a.kind not in ("oauthwatch",)] or plan.apps
    app = candidates[0]
    admins = [u for u in plan.users if u.kind == "admin"]
    admin = admins[rng.randrange(len(admins))]
    old_policy = app.spec.refresh_policy

    def configure(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE _AppConfig SET IpRelaxation = 'BYPASS', RefreshTokenPolicy = 'infinite', IsAdminApproved = 0 WHERE AppId = ?",
            (app.id,),
        )
        conn.execute(
            'UPDATE "ConnectedApplication" SET OptionsAllowAdminApprovedUsersOnly = 0, OptionsRefreshTokenValidityMetric = 0, '
            "RefreshTokenValidityPeriod = NULL, LastModifiedDate = ?, LastModifiedById = ? WHERE Id = ?",
            (at, admin.id, app.id),
        )
        n = next_audit_number(conn)
        rows = [
            audit_row(n, "changedConnectedAppAttribute", "Connected Apps", at, admin.id,
                      f"Changed IP Relaxation of connected app {app.label} from {relax_text('ENFORCE')} to {relax_text('BYPASS')}"),
            audit_row(n + 1, "changedConnectedAppAttribute", "Connected Apps", at + 15_000, admin.id,
                      f"Changed Refresh Token Policy of connected app {app.label} from {refresh_policy_text(old_policy)} to {refresh_policy_text('infinite')}"),
            audit_row(n + 2, "changedConnectedAppAttribute", "Connected Apps", at + 30_000, admin.id,
                      f"Changed Permitted Users of connected app {app.label} from Admin approved users are pre-authorized to All users may self-authorize"),
        ]  # fmt: skip
        conn.executemany('INSERT OR IGNORE INTO "SetupAuditTrail" VALUES (?,?,?,?,?,?,?,?)', rows)

    return Incident(
        "policy_loosened", at, at + MIN, app.label, [admin.username], [], None, None, "posture",
        f"{admin.username} loosened {app.label}: IP restrictions relaxed (BYPASS), refresh tokens valid until revoked, "
        "and any user may now self-authorize.",
        [], configure,
    )  # fmt: skip


def _dt(ms: int):  # noqa: ANN202 - datetime
    from oauthwatch.simulator.data.clock import from_ms

    return from_ms(ms)


BUILDERS: dict[str, Callable[[Plan, random.Random, int], Incident]] = {
    "spray": spray,
    "stolen_refresh_token": stolen_refresh_token,
    "runaway_integration": runaway_integration,
    "expired_jwt_cert": expired_jwt_cert,
    "unapproved_app": unapproved_app,
    "dormant_grant": dormant_grant,
    "policy_loosened": policy_loosened,
}
