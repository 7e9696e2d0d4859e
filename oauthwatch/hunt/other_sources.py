"""The sources beyond logins: API calls and the licensed API event types, the Setup Audit Trail,
grants and security events.

`oauthwatch hunt` reads them all, back to the oldest row, and a saved list re-matches each new
batch of them (docs/hunting.md):

| source | ``Match.source`` | IP / CIDR | ``ua:`` | ``app:`` | the event's id |
|---|---|---|---|---|---|
| ApiTotalUsage calls (``api_usage_events``) | ``api_usage`` | ``CLIENT_IP`` | ``CLIENT_NAME`` (the client's own name, the nearest ApiTotalUsage has to a user agent) | ``CONNECTED_APP_NAME`` or id | ``REQUEST_ID`` |
| BulkApi2, BulkApi, RestApi, API events (``api_data_events``, Event Monitoring) | ``api_data:<type>`` | ``CLIENT_IP`` | ``CLIENT_NAME`` | ``CONNECTED_APP_ID`` (names resolved to the ids the store has seen; ``Match.app`` is ``Name (id)``, :func:`app_label`; a Bulk event's app is the one whose calls named its job) | the event's id (REQUEST_ID and step) |
| Setup Audit Trail (``audit_events``) | ``audit_trail`` | — | — | the app's name in the entry's text | the entry's Id |
| grants (``oauth_token_snapshots``) | ``grant`` | — | — | the grant's app | user, app and creation time |
| Threat Detection events (``security_events``) | ``security:<store>`` | the event's address | — | — | ``EventIdentifier`` |

``--from``/``--to`` apply to the event's time (a grant's: when the user granted it). Bulk API job
listings (``bulk_jobs``) carry neither an address, a client nor an app, so no indicator can match
them; the calls that created the jobs are in ``api_usage_events``.

For saved lists, these tables have no row numbers to resume after, and their rows arrive late (an ApiTotalUsage
file up to three days after its hour), so each pass re-reads a window reaching ``LATE`` back from
the previous pass and drops the hits already reported (their keys are kept in the list's
checkpoint for as long as they are inside that window): a row is reported once, a late row still
is. A grant is one event however many daily snapshots carry it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from oauthwatch.hunt.events import Columns, Event, Match, Scope, app_names, collect, row_hits, scope_conds
from oauthwatch.hunt.indicators import Indicator, IocList
from oauthwatch.store import schema

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

JOB_NEAR = timedelta(days=1)  # how far from a Bulk event the calls naming its job are looked for
LATE = timedelta(days=4)  # how far back each pass re-reads: files arrive up to three days late
Hits = Iterator[tuple[Event, list[Indicator]]]


def _api_usage(conn: Connection, iocs: IocList, scope: Scope, names: dict[str, Indicator]) -> Hits:
    t = schema.api_usage_events
    c = Columns(t.c.event_time, ip=t.c.client_ip, ua=t.c.client_name, app=t.c.connected_app_name,
                app_id=t.c.connected_app_id)  # fmt: skip
    for r, inds in row_hits(conn, t, c, scope_conds(t, c, scope), iocs, names):
        yield (
            Event(
                "api_usage", r.event_time, r.user_id, r.connected_app_name, r.client_ip, r.request_id, r.org
            ),
            inds,
        )


def _data_events(conn: Connection, iocs: IocList, scope: Scope, names: dict[str, Indicator]) -> Hits:
    t = schema.api_data_events
    c = Columns(t.c.event_time, ip=t.c.client_ip, ua=t.c.client_name, app_id=t.c.connected_app_id)
    labels: dict[tuple[str, str], str] = {}
    jobs: dict[tuple[str, str], str] = {}
    for r, inds in row_hits(conn, t, c, scope_conds(t, c, scope), iocs, names):
        app_id = r.connected_app_id or (r.job_id and _job_app(conn, jobs, r.org, r.job_id, r.event_time))
        yield (
            Event(
                f"api_data:{r.event_type}",
                r.event_time,
                r.user_id,
                app_label(conn, labels, r.org, app_id),
                r.client_ip,
                r.event_id,
                r.org,
            ),
            inds,
        )


def _job_app(conn: Connection, known: dict[tuple[str, str], str], org: str, job_id: str, at: datetime) -> str:
    """The app of a Bulk event, which names only its job: the app whose ApiTotalUsage calls named
    the job within a day of the event, as data movement attributes jobs
    (docs/salesforce-behaviour.md §8); else ``""``. ``known`` keeps the answers."""
    key = (org, job_id[:15])
    if key not in known:
        e = schema.api_usage_events
        known[key] = (
            conn.execute(
                select(e.c.connected_app_id)
                .where(
                    e.c.org == org,
                    e.c.event_time >= at - JOB_NEAR,
                    e.c.event_time < at + JOB_NEAR,
                    e.c.connected_app_id != "",
                    e.c.api_resource.contains("/jobs/", autoescape=True),
                    e.c.api_resource.contains(key[1], autoescape=True),
                )
                .limit(1)
            ).scalar()
            or ""
        )
    return known[key]


def app_label(conn: Connection, known: dict[tuple[str, str], str], org: str, app_id: str) -> str:
    """An app named by its id only, as the other sources name it: ``Name (id)``; the name is the
    org's stored Connected App or External Client App of that id, else the name its ApiTotalUsage
    calls carried; the id alone when the store knows no name. ``known`` keeps the answers."""
    if not app_id:
        return ""
    key = (org, app_id[:15])
    if key not in known:
        ca, au = schema.connected_apps, schema.api_usage_hourly
        name = (
            conn.execute(
                select(ca.c.name)
                .where(ca.c.org == org, func.substr(ca.c.app_id, 1, 15) == key[1])
                .order_by(ca.c.last_seen.desc())
                .limit(1)
            ).scalar()
            or conn.execute(
                select(au.c.connected_app_name)
                .where(
                    au.c.org == org,
                    func.substr(au.c.connected_app_id, 1, 15) == key[1],
                    au.c.connected_app_name != "",
                )
                .order_by(au.c.hour.desc())
                .limit(1)
            ).scalar()
        )
        known[key] = name or ""
    return f"{known[key]} ({app_id})" if known[key] else app_id


def _audit(conn: Connection, scope: Scope, names: dict[str, Indicator]) -> Hits:
    t = schema.audit_events
    conds = scope_conds(t, Columns(t.c.created_date), scope)
    for name, ind in names.items():
        q = select(t).where(*conds, func.lower(t.c.display).contains(name, autoescape=True))
        for r in conn.execute(q):
            yield Event("audit_trail", r.created_date, r.created_by, ind.value, "", r.event_id, r.org), [ind]


def _grants(conn: Connection, scope: Scope, names: dict[str, Indicator]) -> Hits:
    if not names:
        return
    t = schema.oauth_token_snapshots
    conds = scope_conds(t, Columns(t.c.created_date, seen=t.c.seen_at), scope)
    q = select(t.c.org, t.c.user_id, t.c.app_name, t.c.created_date).where(
        *conds, func.lower(t.c.app_name).in_(sorted(names))
    )
    for r in conn.execute(q.distinct()):  # a grant is one event however many snapshots show it
        key = f"{r.user_id}:{r.app_name}:{r.created_date.isoformat()}"
        yield (
            Event("grant", r.created_date, r.user_id, r.app_name, "", key, r.org),
            [names[r.app_name.casefold()]],
        )


def _security(conn: Connection, iocs: IocList, scope: Scope) -> Hits:
    t = schema.security_events
    c = Columns(t.c.event_date, ip=t.c.source_ip)
    for r, inds in row_hits(conn, t, c, scope_conds(t, c, scope), iocs, {}):
        yield (
            Event(
                f"security:{r.store}",
                r.event_date,
                r.username or r.user_id,
                "",
                r.source_ip,
                r.event_id,
                r.org,
            ),
            inds,
        )


def other_hits(conn: Connection, iocs: IocList, scope: Scope, names: dict[str, Indicator]) -> Hits:
    """Rows of every non-login source within ``scope`` that match, per indicator (unmerged)."""
    yield from _api_usage(conn, iocs, scope, names)
    yield from _data_events(conn, iocs, scope, names)
    yield from _audit(conn, scope, names)
    yield from _grants(conn, scope, names)
    yield from _security(conn, iocs, scope)


def other_matches(engine: Engine, iocs: IocList, scope: Scope) -> list[Match]:
    """Events of every non-login source within ``scope`` that match, each once."""
    with engine.connect() as conn:
        return collect(other_hits(conn, iocs, scope, app_names(conn, iocs.indicators)))


def new_matches(
    engine: Engine, iocs: IocList, org: str, cursor: dict[str, Any], now: datetime
) -> tuple[list[Match], dict[str, Any]]:
    """The matches not reported by earlier passes, and the cursor to keep (``{"since", "seen"}``)."""
    last = cursor.get("since")
    since = datetime.fromisoformat(last) - LATE if last else None
    seen: dict[str, str] = dict(cursor.get("seen", {}))
    found = other_matches(engine, iocs, Scope(org=org, read_since=since))
    fresh = [m for m in found if f"{m.source}|{m.id}" not in seen]
    for m in found:  # kept while it can be read again: a grant as long as its snapshots show it
        seen[f"{m.source}|{m.id}"] = (now if m.source == "grant" else m.time).isoformat()
    seen = {k: t for k, t in seen.items() if datetime.fromisoformat(t) >= now - LATE}
    return fresh, {"since": now.isoformat(), "seen": seen}
