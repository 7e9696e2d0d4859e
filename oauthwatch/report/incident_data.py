"""Everything the store knows about one app over a span, gathered as evidence tables.

Each table is a list of plain rows (str, int, float, bool, None, tz-aware datetimes) with fixed
columns, so the same rows become the HTML report's sections and the evidence CSV files, and the
two cannot disagree. Logins come from every source (each row says which), so nothing collected or
imported is left out; addresses carry their network class (docs/hunting.md).

Data movement is :func:`oauthwatch.movement.app_usage.app_movement`'s, as the per-app page shows
it: the rows and bytes each user exported through the app from the licensed event types, and the
app's Bulk jobs from the listings, each row naming the source of its figures. An org without those
event types gets no exports table at all (``Table.absent`` says why), never a table of zeros.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select

from oauthwatch.intel.networks import network_index
from oauthwatch.movement.app_usage import JOBS_SOURCE, app_movement
from oauthwatch.store import schema

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

Row = dict[str, Any]


class UnknownApp(LookupError):
    """No app of that name or id in the store for the org."""


@dataclass
class Table:
    """One evidence table: its file name, title, columns and rows."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: list[Row] = field(default_factory=list)
    absent: str = ""  # why the store cannot know these figures (no table, no file), else empty


@dataclass
class IncidentData:
    """The app, the span, and the evidence tables in report order."""

    org: str
    app_name: str
    app_id: str
    start: datetime
    end: datetime
    generated_at: datetime
    tables: list[Table] = field(default_factory=list)

    def table(self, name: str) -> Table:
        """The evidence table called ``name``."""
        return next(t for t in self.tables if t.name == name)


def resolve_app(conn: Connection, org: str, app: str) -> tuple[str, str]:
    """(name, id) of ``app`` given by name or 0H4 id, from the stored policies or logins."""
    ca = schema.connected_apps
    if app[:3] == "0H4":
        row = conn.execute(
            select(ca.c.name, ca.c.app_id).where(ca.c.org == org, func.substr(ca.c.app_id, 1, 15) == app[:15])
        ).first()
        if row is None:
            raise UnknownApp(
                f"no connected app with id {app} stored for org {org} (collect connected_apps first)"
            )
        return row.name, row.app_id
    row = conn.execute(
        select(ca.c.name, ca.c.app_id).where(ca.c.org == org, func.lower(ca.c.name) == app.casefold())
    ).first()
    if row is not None:
        return row.name, row.app_id
    lg = schema.logins
    seen = conn.execute(
        select(lg.c.application)
        .where(lg.c.org == org, func.lower(lg.c.application) == app.casefold())
        .limit(1)
    ).scalar()
    if seen is None:
        raise UnknownApp(f"no app called {app!r} in org {org}'s stored policies or logins")
    return seen, ""


def _logins(conn: Connection, d: IncidentData) -> list[Row]:
    lg = schema.logins
    q = (
        select(lg)
        .where(
            lg.c.org == d.org,
            func.lower(lg.c.application) == d.app_name.casefold(),
            lg.c.login_time >= d.start,
            lg.c.login_time < d.end,
        )
        .order_by(lg.c.login_time, lg.c.source, lg.c.natural_id)
    )
    index = network_index(conn.engine)
    out = []
    for r in conn.execute(q).mappings():
        cls = index.classify(r["source_ip"])
        out.append(
            {
                "time": r["login_time"], "source": r["source"], "event_id": r["natural_id"],
                "user": r["username"] or r["user_id"] or "", "user_id": r["user_id"] or "",
                "flow": r["login_subtype"] or r["login_type"] or "", "status": r["status"] or "",
                "success": bool(r["success"]), "ip": r["source_ip"] or "", "network_class": cls.kind,
                "provider": cls.provider, "country": r["country_iso"] or "", "user_agent": r["browser"] or "",
            }
        )  # fmt: skip
    return out


def _users(logins: list[Row]) -> list[Row]:
    by: dict[str, list[Row]] = defaultdict(list)
    for r in logins:
        by[r["user"]].append(r)
    return [
        {
            "user": u, "logins": len(rs), "failures": sum(1 for r in rs if not r["success"]),
            "first": rs[0]["time"], "last": rs[-1]["time"], "ips": len({r["ip"] for r in rs}),
        }
        for u, rs in sorted(by.items(), key=lambda kv: -len(kv[1]))
    ]  # fmt: skip


def _ips(logins: list[Row]) -> list[Row]:
    by: dict[str, list[Row]] = defaultdict(list)
    for r in logins:
        by[r["ip"]].append(r)
    return [
        {
            "ip": ip, "network_class": rs[0]["network_class"], "provider": rs[0]["provider"],
            "country": rs[0]["country"], "logins": len(rs), "users": len({r["user"] for r in rs}),
            "user_agents": "; ".join(sorted({r["user_agent"] for r in rs if r["user_agent"]}))[:500],
            "first": rs[0]["time"], "last": rs[-1]["time"],
        }
        for ip, rs in sorted(by.items(), key=lambda kv: -len(kv[1]))
    ]  # fmt: skip


def _grants(conn: Connection, d: IncidentData) -> list[Row]:
    s, u = schema.oauth_token_snapshots, schema.users
    day = conn.execute(
        select(func.max(s.c.snapshot_day)).where(s.c.org == d.org, s.c.app_name == d.app_name)
    ).scalar()
    if day is None:
        return []
    q = (
        select(s, u.c.username, u.c.profile, u.c.is_active)
        .select_from(s.outerjoin(u, and_(u.c.org == s.c.org, u.c.user_id == s.c.user_id)))
        .where(s.c.org == d.org, s.c.app_name == d.app_name, s.c.snapshot_day == day)
        .order_by(s.c.created_date)
    )
    return [
        {
            "snapshot_day": r["snapshot_day"].isoformat(), "user_id": r["user_id"], "username": r["username"] or "",
            "profile": r["profile"] or "", "active": r["is_active"], "created": r["created_date"],
            "last_used": r["last_used_date"], "use_count": r["use_count"],
        }
        for r in conn.execute(q).mappings()
    ]  # fmt: skip


def _api_usage(conn: Connection, d: IncidentData) -> list[Row]:
    a = schema.api_usage_hourly
    app_match = func.lower(a.c.connected_app_name) == d.app_name.casefold()
    if d.app_id:
        app_match = or_(app_match, func.substr(a.c.connected_app_id, 1, 15) == d.app_id[:15])
    q = (
        select(
            a.c.hour, a.c.api_family, a.c.status_code, a.c.user_id, a.c.client_name, func.sum(a.c.requests)
        )
        .where(a.c.org == d.org, app_match, a.c.hour >= d.start, a.c.hour < d.end)
        .group_by(a.c.hour, a.c.api_family, a.c.status_code, a.c.user_id, a.c.client_name)
        .order_by(a.c.hour, a.c.api_family, a.c.status_code, a.c.user_id)
    )
    cols = ("hour", "api_family", "status_code", "user_id", "client_name", "requests")
    return [dict(zip(cols, (*r[:5], int(r[5] or 0)), strict=True)) for r in conn.execute(q)]


def _api_calls(conn: Connection, d: IncidentData) -> list[Row]:
    e = schema.api_usage_events
    app_match = func.lower(e.c.connected_app_name) == d.app_name.casefold()
    if d.app_id:
        app_match = or_(app_match, func.substr(e.c.connected_app_id, 1, 15) == d.app_id[:15])
    keys = (e.c.api_family, e.c.http_method, e.c.api_resource, e.c.entity_name, e.c.user_id, e.c.client_ip)
    q = (
        select(*keys, func.count(), func.min(e.c.event_time), func.max(e.c.event_time))
        .where(e.c.org == d.org, app_match, e.c.event_time >= d.start, e.c.event_time < d.end)
        .group_by(*keys)
        .order_by(func.count().desc())
    )
    index = network_index(conn.engine)
    cols = (
        "api_family",
        "http_method",
        "api_resource",
        "entity_name",
        "user_id",
        "client_ip",
        "calls",
        "first",
        "last",
    )
    return [
        dict(zip(cols, r, strict=True)) | {"network_class": index.classify(r[5]).label}
        for r in conn.execute(q)
    ]


NO_EXPORTS = (
    "Absent, not zero: the store holds no BulkApi2, BulkApi, RestApi or API events for this org (they "
    "need the Event Monitoring licence, docs/salesforce-behaviour.md §8), so how many rows and bytes "
    "the app exported is unknown. The Bulk jobs below and the API calls above are what is known."
)


def _movement(engine: Engine, conn: Connection, d: IncidentData) -> list[Table]:
    """Rows and bytes exported per user (licensed event types), and the app's Bulk jobs (listings)."""
    m = app_movement(engine, d.org, d.app_name, d.start, d.end)
    exports = Table(
        "exports",
        "Data movement: rows and bytes exported per user",
        ("user_id", "username", "rows", "bytes", "source"),
    )
    if m.exported is None:
        exports.absent = NO_EXPORTS
    else:
        u = schema.users
        ids = [r["user_id"] for r in m.exported.by_user]
        names = dict(
            conn.execute(
                select(u.c.user_id, u.c.username).where(u.c.org == d.org, u.c.user_id.in_(ids))
            ).all()
        )
        exports.rows = [
            {"user_id": r["user_id"], "username": names.get(r["user_id"]) or "", "rows": r["rows"],
             "bytes": r["bytes"], "source": m.exported.source}
            for r in m.exported.by_user
        ]  # fmt: skip
    jobs = Table(
        "bulk_jobs",
        "Data movement: the app's Bulk API jobs and the rows each processed",
        ("job_id", "object", "state", "rows", "created", "deleted", "source"),
        [{**j, "source": JOBS_SOURCE} for j in m.jobs],
    )
    return [exports, jobs]


def _audit(conn: Connection, d: IncidentData) -> list[Row]:
    t = schema.audit_events
    q = (
        select(t)
        .where(t.c.org == d.org, t.c.created_date >= d.start, t.c.created_date < d.end)
        .where(or_(t.c.display.contains(d.app_name, autoescape=True), t.c.section.ilike("%connected app%")))
        .order_by(t.c.created_date, t.c.event_id)
    )
    rows = [
        {"time": r["created_date"], "event_id": r["event_id"], "action": r["action"] or "", "section": r["section"] or "",
         "display": r["display"] or "", "by": r["created_by"] or ""}
        for r in conn.execute(q).mappings()
    ]  # fmt: skip
    if d.app_id:
        c = schema.connected_app_changes
        q2 = select(c).where(
            c.c.org == d.org, c.c.app_id == d.app_id, c.c.observed_at >= d.start, c.c.observed_at < d.end
        )
        rows += [
            {"time": r["observed_at"], "event_id": f"policy-change-{r['id']}", "action": f"policy {r['field']} changed",
             "section": "oauthwatch: connected app policy", "display": f"{r['old_value']!s} → {r['new_value']!s}", "by": ""}
            for r in conn.execute(q2).mappings()
        ]  # fmt: skip
    return sorted(rows, key=lambda r: (r["time"], r["event_id"]))


def _alerts(conn: Connection, d: IncidentData) -> list[Row]:
    t = schema.alerts
    q = (
        select(t)
        .where(t.c.org == d.org, t.c.last_seen >= d.start, t.c.first_seen < d.end)
        .where(
            or_(
                func.lower(t.c.subject) == d.app_name.casefold(),
                t.c.title.contains(d.app_name, autoescape=True),
            )
        )
        .order_by(t.c.first_seen, t.c.id)
    )
    return [
        {"id": r["id"], "severity": r["severity"], "detector": r["detector"], "title": r["title"], "status": r["status"],
         "first_seen": r["first_seen"], "last_seen": r["last_seen"], "explanation": r["explanation"]}
        for r in conn.execute(q).mappings()
    ]  # fmt: skip


def _actions(conn: Connection, d: IncidentData) -> list[Row]:
    t = schema.response_actions
    app_match = (
        t.c.app_name == d.app_name if not d.app_id else func.substr(t.c.app_id, 1, 15) == d.app_id[:15]
    )
    q = select(t).where(t.c.org == d.org, app_match).order_by(t.c.requested_at, t.c.id)
    return [
        {"time": r["requested_at"], "action": r["action"], "dry_run": r["dry_run"], "outcome": r["outcome"],
         "user": r["username"] or r["user_id"], "by": r["requested_by"], "via": r["via"], "answer": r["answer"] or ""}
        for r in conn.execute(q).mappings()
    ]  # fmt: skip


def gather(engine: Engine, org: str, app: str, start: datetime, end: datetime, now: datetime) -> IncidentData:
    """The evidence tables of ``app`` in ``org`` over ``[start, end)``."""
    with engine.connect() as conn:
        name, app_id = resolve_app(conn, org, app)
        d = IncidentData(org, name, app_id, start, end, now)
        logins = _logins(conn, d)
        d.tables = [
            Table("timeline", "Timeline: every authentication of the app", tuple(logins[0]) if logins else
                  ("time", "source", "event_id", "user", "user_id", "flow", "status", "success", "ip",
                   "network_class", "provider", "country", "user_agent"), logins),
            Table("users", "Users", ("user", "logins", "failures", "first", "last", "ips"), _users(logins)),
            Table("ips", "Addresses, with their network class", ("ip", "network_class", "provider", "country",
                  "logins", "users", "user_agents", "first", "last"), _ips(logins)),
            Table("grants", "Grants (latest OAuth token snapshot)", ("snapshot_day", "user_id", "username",
                  "profile", "active", "created", "last_used", "use_count"), _grants(conn, d)),
            Table("data_movement", "Data movement: API requests per hour (ApiTotalUsage)", ("hour", "api_family",
                  "status_code", "user_id", "client_name", "requests"), _api_usage(conn, d)),
            Table("api_calls", "Data movement: every API call grouped by resource, object, user and address",
                  ("api_family", "http_method", "api_resource", "entity_name", "user_id", "client_ip",
                   "network_class", "calls", "first", "last"), _api_calls(conn, d)),
            *_movement(engine, conn, d),
            Table("audit_trail", "Audit-trail and policy changes", ("time", "event_id", "action", "section",
                  "display", "by"), _audit(conn, d)),
            Table("alerts", "Alerts", ("id", "severity", "detector", "title", "status", "first_seen",
                  "last_seen", "explanation"), _alerts(conn, d)),
            Table("response_actions", "Response actions (revocations and dry runs)", ("time", "action",
                  "dry_run", "outcome", "user", "by", "via", "answer"), _actions(conn, d)),
        ]  # fmt: skip
    return d
