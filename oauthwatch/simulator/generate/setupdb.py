"""Writes the planned setup into the org database: organization, profiles, users, apps, access, audit.

Public tables get exactly what Salesforce shows through SOQL; the private ones (_AppConfig,
_UserSecret) get what only the OAuth endpoints and the Metadata API may use.
"""

from __future__ import annotations

import json
import random
import sqlite3

from oauthwatch.simulator.data import catalog
from oauthwatch.simulator.data.clock import DAY_MS, HOUR_MS
from oauthwatch.simulator.data.ids import make_id, to15
from oauthwatch.simulator.generate import names
from oauthwatch.simulator.generate.access import write_access
from oauthwatch.simulator.generate.plan import App, Plan, opaque, rng_for


def insert(conn: sqlite3.Connection, table: str, rows: list[tuple], *, ignore: bool = False) -> None:
    """Insert positional rows into ``table``: public tables take the catalog's columns in order."""
    if not rows:
        return
    width = len(rows[0])
    marks = ",".join("?" * width)
    obj = catalog.get(table)
    cols = "(" + ",".join(f'"{f.name}"' for f in obj.fields[:width]) + ")" if obj else ""
    verb = "INSERT OR IGNORE" if ignore else "INSERT"
    conn.executemany(f'{verb} INTO "{table}" {cols} VALUES ({marks})', rows)


def write_setup(conn: sqlite3.Connection, plan: Plan) -> None:
    """Every setup record of ``plan``."""
    org_created = plan.start_ms - 1200 * DAY_MS
    insert(
        conn,
        "Organization",
        [(plan.org_id, plan.org_name, "Enterprise Edition", "USA94", 0, "America/Los_Angeles", org_created)],
    )
    insert(
        conn,
        "Profile",
        [
            (pid, p[0], p[1], int(p[2]), int(p[3]))
            for pid, p in zip(plan.profile_ids, names.PROFILES, strict=True)
        ],
    )
    permsets: list[tuple[str, str, str | None, int, str | None]] = [
        (psid, f"X00e{to15(pid)[3:]}", None, 1, pid)
        for psid, pid in zip(plan.profile_permset_ids, plan.profile_ids, strict=True)
    ]
    permsets += [(plan.permset_ids[n], n, label, 0, None) for n, label in names.PERMISSION_SETS]
    insert(conn, "PermissionSet", permsets)
    insert(
        conn,
        "User",
        [
            (
                u.id,
                u.username,
                u.name,
                u.first,
                u.last,
                u.email,
                int(u.active),
                "Standard",
                plan.profile_ids[u.profile],
                u.tz,
                None,
                u.created_ms,
            )
            for u in plan.users
        ],
    )
    srng = rng_for(plan.seed, "secrets")
    legacy_ranges = json.dumps(["12.221.132.0/24"])
    insert(
        conn,
        "_UserSecret",
        [
            (
                u.id,
                plan.passwords[u.idx],
                opaque(srng, "", 25),
                legacy_ranges if u.kind == "service" and u.region == 2 else None,
            )
            for u in plan.users
        ],
    )
    _write_apps(conn, plan)
    _write_access(conn, plan)
    write_access(conn, plan)
    _write_audit(conn, plan)


def _refresh_fields(policy: str) -> tuple[int, int | None]:
    """(OptionsRefreshTokenValidityMetric, RefreshTokenValidityPeriod) of a Metadata refreshTokenPolicy."""
    if policy.startswith("specific_"):
        kind, n, _unit = policy.split(":")
        return (1 if kind == "specific_inactivity" else 0), int(n)
    return 0, (0 if policy == "zero" else None)


def _write_apps(conn: sqlite3.Connection, plan: Plan) -> None:
    admin_id = plan.users[plan.admin].id
    rows, configs, menu = [], [], []
    for app in plan.apps:
        s = app.spec
        metric, period = _refresh_fields(s.refresh_policy)
        mobile = s.kind == "mobile"
        configs.append(_config_row(plan, app))
        if s.external:  # an External Client App: no ConnectedApplication row, no App Launcher item
            continue
        rows.append(
            (
                app.id,
                s.label,
                app.created_ms,
                admin_id,
                app.modified_ms,
                admin_id,
                "15" if mobile else None,
                None,
                s.start_url,
                "4" if mobile else None,
                int(s.admin_approved),
                metric,
                period,
                int(s.high_assurance),
                0,
                0,
                None,
                None,
                0,
                0,
                int(mobile or s.kind == "dataloader"),
            )
        )
        menu.append(
            (
                app.menu_item_id,
                to15(app.id),
                names.full_name(s.label),
                s.label,
                f"{s.label} connected app",
                "ConnectedApplication",
                1,
                1,
                int(s.admin_approved),
                s.start_url,
            )
        )
    insert(conn, "ConnectedApplication", rows)
    insert(conn, "_AppConfig", configs)
    insert(conn, "AppMenuItem", menu)


def _config_row(plan: Plan, app: App) -> tuple:
    """The private ``_AppConfig`` row of one app (connected app or External Client App)."""
    s = app.spec
    run_as = app.service_users[0] if "client_credentials" in s.flows and app.service_users else None
    return (
        app.id,
        s.label,
        names.full_name(s.label),
        f"{s.contact}@{plan.email_domain}",
        app.consumer_key,
        app.consumer_secret,
        app.callback,
        app.cert_pem,
        json.dumps(list(s.scopes)),
        json.dumps(list(s.flows)),
        int(s.admin_approved),
        s.ip_relaxation,
        s.refresh_policy,
        int(s.pkce),
        1,
        plan.users[run_as].id if run_as is not None else None,
        "HIGH_ASSURANCE" if s.high_assurance else None,
        s.kind,
        "ExternalClientApplication" if s.external else "ConnectedApp",
    )


def _write_access(conn: sqlite3.Connection, plan: Plan) -> None:
    """SetupEntityAccess: which permission sets (named or profile-owned) may use admin-approved apps."""
    rows: list[tuple] = []
    seen: set[tuple[str, str]] = set()
    admin_profile_ps = plan.profile_permset_ids[plan.users[plan.admin].profile]

    external = {app.id for app in plan.apps if app.spec.external}

    def grant(parent: str, app_id: str) -> None:
        if (parent, app_id) not in seen:
            seen.add((parent, app_id))
            # UNCONFIRMED (docs/salesforce-behaviour.md §6): the type an External Client App's
            # assignment carries; never ConnectedApplication, so connected-app readers skip it.
            kind = "ExternalClientApplication" if app_id in external else "ConnectedApplication"
            rows.append((make_id("0J0", 2000 + len(rows)), parent, app_id, kind))

    for app in plan.apps:
        s = app.spec
        if not s.admin_approved:
            continue
        if s.permission_set:
            grant(plan.permset_ids[s.permission_set], app.id)
            # Profiles of the users holding that permission set, as admins usually also do.
            for uidx in plan.assignments.get(s.permission_set, [])[:50]:
                if plan.users[uidx].kind in ("integration", "service"):
                    grant(plan.profile_permset_ids[plan.users[uidx].profile], app.id)
        if s.kind in ("oauthwatch", "dataloader") or s.permission_set == "Sales_Productivity_Apps":
            grant(admin_profile_ps, app.id)
        if s.permission_set == "Sales_Productivity_Apps":
            sales = next(i for i, p in enumerate(names.PROFILES) if p[0] == "Sales User")
            grant(plan.profile_permset_ids[sales], app.id)
    # Other entity types share the table (Apex classes, tabs): readers must filter on the type.
    for i in range(4):
        rows.append(
            (
                make_id("0J0", 2000 + len(rows)),
                plan.profile_permset_ids[i],
                make_id("01p", 80 + i),
                "ApexClass",
            )
        )
    rows.append((make_id("0J0", 2000 + len(rows)), plan.profile_permset_ids[1], make_id("02u", 90), "TabSet"))
    insert(conn, "SetupEntityAccess", rows)


_RELAX = {
    "ENFORCE": "Enforce IP restrictions",
    "BYPASS": "Relax IP restrictions",
    "BYPASS_2FACTOR": "Relax IP restrictions with second factor",
    "ENFORCE_RELAXREFRESH": "Enforce IP restrictions, but relax for refresh tokens",
}


def refresh_policy_text(policy: str) -> str:
    if policy == "infinite":
        return "Refresh token is valid until revoked"
    if policy == "zero":
        return "Expire refresh token immediately"
    kind, n, unit = policy.split(":")
    what = "if not used for" if kind == "specific_inactivity" else "after"
    return f"Expire refresh token {what} {n} {unit.title()}"


def relax_text(value: str) -> str:
    return _RELAX.get(value, value)


def audit_row(number: int, action: str, section: str, when_ms: int, by: str, display: str) -> tuple:
    """One SetupAuditTrail row (Id from ``number``)."""
    return (make_id("0Ym", number), action, section, when_ms - when_ms % 1000, by, display, None, None)


def next_audit_number(conn: sqlite3.Connection) -> int:
    return int(conn.execute('SELECT COUNT(*) FROM "SetupAuditTrail"').fetchone()[0]) + 50_000


def _write_audit(conn: sqlite3.Connection, plan: Plan) -> None:
    rng: random.Random = rng_for(plan.seed, "audit")
    admins = [u for u in plan.users if u.kind == "admin"]
    events: list[tuple[int, str, str, str]] = []  # (when, action, section, display)

    def by() -> str:
        return admins[rng.randrange(len(admins))].id

    for app in plan.apps:
        s = app.spec
        t = app.created_ms
        events.append((t, "insertConnectedApplication", "Connected Apps", f"Created Connected App {s.label}"))
        if s.admin_approved:
            events.append(
                (
                    t + 2 * HOUR_MS,
                    "changedConnectedAppAttribute",
                    "Connected Apps",
                    f"Changed Permitted Users of connected app {s.label} from All users may self-authorize to Admin approved users are pre-authorized",
                )
            )
        if s.ip_relaxation != "ENFORCE":
            events.append(
                (
                    app.modified_ms,
                    "changedConnectedAppAttribute",
                    "Connected Apps",
                    f"Changed IP Relaxation of connected app {s.label} from {relax_text('ENFORCE')} to {relax_text(s.ip_relaxation)}",
                )
            )
        if s.refresh_policy != "infinite":
            events.append(
                (
                    t + 3 * HOUR_MS,
                    "changedConnectedAppAttribute",
                    "Connected Apps",
                    f"Changed Refresh Token Policy of connected app {s.label} from {refresh_policy_text('infinite')} to {refresh_policy_text(s.refresh_policy)}",
                )
            )
        if app.cert_pem:
            when = (
                plan.start_ms + rng.randrange(0, max(1, plan.end_ms - plan.start_ms))
                if s.kind == "oauthwatch"
                else t + HOUR_MS
            )
            events.append(
                (
                    when,
                    "updateConnectedApplication",
                    "Connected Apps",
                    f"Uploaded a digital certificate for connected app {s.label}",
                )
            )
        if s.permission_set:
            label = dict(names.PERMISSION_SETS)[s.permission_set]
            events.append(
                (
                    t + 4 * HOUR_MS,
                    "PermSetEnableConnectedApp",
                    "Manage Users",
                    f"Permission set {label}: connected app {s.label} was enabled",
                )
            )
    for name, members in plan.assignments.items():
        label = dict(names.PERMISSION_SETS)[name]
        for uidx in members[:40]:
            u = plan.users[uidx]
            when = max(u.created_ms, plan.start_ms - 400 * DAY_MS) + rng.randrange(1, 30) * DAY_MS
            if rng.random() < 0.1:
                when = plan.start_ms + rng.randrange(0, max(1, plan.end_ms - plan.start_ms))
            events.append(
                (
                    min(when, plan.end_ms - HOUR_MS),
                    "PermSetAssign",
                    "Manage Users",
                    f"Permission set {label}: assigned to user {u.username} ({u.name})",
                )
            )
    for u in plan.users:
        if u.created_ms > plan.start_ms - 365 * DAY_MS:
            events.append((u.created_ms, "createduser", "Manage Users", f"Created new user {u.username}"))
        if not u.active:
            when = plan.start_ms - rng.randrange(1, 200) * DAY_MS
            events.append((when, "deactivateduser", "Manage Users", f"Deactivated user {u.username}"))
    for _ in range(max(5, len(plan.users) // 20)):
        u = plan.users[rng.randrange(len(plan.users))]
        when = plan.start_ms + rng.randrange(0, max(1, plan.end_ms - plan.start_ms))
        events.append((when, "resetpassword", "Manage Users", f"Reset password for {u.username}"))
    events = [e for e in events if e[0] <= plan.end_ms]
    events.sort()
    insert(
        conn,
        "SetupAuditTrail",
        [audit_row(50_000 + i, a, s, w, by(), d) for i, (w, a, s, d) in enumerate(events)],
    )
