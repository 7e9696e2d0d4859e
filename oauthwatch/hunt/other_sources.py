"""Saved lists beyond logins: API calls, the Setup Audit Trail, grants and security events.

A saved list is re-matched against each new batch of events of every source, not only logins:

| source | ``Match.source`` | IP / CIDR | ``ua:`` | ``app:`` | the event's id |
|---|---|---|---|---|---|
| ApiTotalUsage calls (``api_usage_events``) | ``api_usage`` | ``CLIENT_IP`` | ``CLIENT_NAME`` (the client's own name, the nearest ApiTotalUsage has to a user agent) | ``CONNECTED_APP_NAME`` or id | ``REQUEST_ID`` |
| Setup Audit Trail (``audit_events``) | ``audit_trail`` | — | — | the app's name in the entry's text | the entry's Id |
| grants (``oauth_token_snapshots``) | ``grant`` | — | — | the grant's app | user, app and creation time |
| Threat Detection events (``security_events``) | ``security:<store>`` | the event's address | — | — | ``EventIdentifier`` |

These tables have no row numbers to resume after, and their rows arrive late (an ApiTotalUsage
file up to three days after its hour), so each pass re-reads a window reaching ``LATE`` back from
the previous pass and drops the hits already reported (their keys are kept in the list's
checkpoint for as long as they are inside that window): a row is reported once, a late row still
is. A grant is one event however many daily snapshots carry it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select

from oauthwatch.hunt.indicators import Indicator, IocList
from oauthwatch.hunt.matcher import Match, app_names, ip_hits
from oauthwatch.store import schema

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

LATE = timedelta(days=4)  # how far back each pass re-reads: files arrive up to three days late
CHUNK = 500


def _match(
    source: str, r: Any, t: datetime, user: str, app: str, ip: str, key: str, org: str, inds: list[Indicator]
) -> Match:
    ordered = sorted(set(inds), key=lambda i: i.line)
    return Match(ordered[0].text, source, t, user or "", app or "", ip or "", key, org,
                 tuple(i.text for i in ordered))  # fmt: skip


def _by_ip(
    conn: Connection, column: Any, conds: list[Any], inds: list[Indicator]
) -> Iterable[tuple[Any, list[Indicator]]]:
    """Rows whose address ``column`` matches an IP or CIDR indicator (matched over distinct addresses)."""
    if not inds:
        return
    ips = [ip for (ip,) in conn.execute(select(column).where(and_(*conds, column.is_not(None))).distinct())]
    hits = ip_hits(ips, inds)
    keys = sorted(hits)
    for i in range(0, len(keys), CHUNK):
        for r in conn.execute(select(column.table).where(and_(*conds, column.in_(keys[i : i + CHUNK])))):
            yield r, hits[getattr(r, column.name)]


def _api_usage(
    conn: Connection, iocs: IocList, org: str, since: datetime | None, names: dict[str, Indicator]
) -> list[Match]:
    t = schema.api_usage_events
    conds: list[Any] = [t.c.org == org] + ([t.c.event_time >= since] if since else [])
    found: dict[str, tuple[Any, list[Indicator]]] = {}

    def add(rows: Iterable[tuple[Any, list[Indicator]]]) -> None:
        for r, inds in rows:
            found.setdefault(r.request_id, (r, []))[1].extend(inds)

    add(_by_ip(conn, t.c.client_ip, conds, iocs.of_kind("ip") + iocs.of_kind("cidr")))
    for ind in iocs.of_kind("ua"):
        q = select(t).where(*conds, func.lower(t.c.client_name).contains(ind.value.lower(), autoescape=True))
        add((r, [ind]) for r in conn.execute(q))
    ids = {i.value[:15]: i for i in iocs.of_kind("app") if i.is_app_id}
    if names or ids:
        q = select(t).where(*conds, or_(func.lower(t.c.connected_app_name).in_(sorted(names)),
                                         func.substr(t.c.connected_app_id, 1, 15).in_(sorted(ids))))  # fmt: skip
        add(
            (r, [names.get(r.connected_app_name.casefold()) or ids[r.connected_app_id[:15]]])
            for r in conn.execute(q)
        )
    return [_match("api_usage", r, r.event_time, r.user_id, r.connected_app_name, r.client_ip, r.request_id, org, inds)
            for r, inds in found.values()]  # fmt: skip


def _audit(conn: Connection, org: str, since: datetime | None, names: dict[str, Indicator]) -> list[Match]:
    t = schema.audit_events
    conds: list[Any] = [t.c.org == org] + ([t.c.created_date >= since] if since else [])
    out = []
    for name, ind in names.items():
        q = select(t).where(*conds, func.lower(t.c.display).contains(name, autoescape=True))
        out += [_match("audit_trail", r, r.created_date, r.created_by, ind.value, "", r.event_id, org, [ind])
                for r in conn.execute(q)]  # fmt: skip
    return out


def _grants(conn: Connection, org: str, since: datetime | None, names: dict[str, Indicator]) -> list[Match]:
    if not names:
        return []
    t = schema.oauth_token_snapshots
    conds: list[Any] = [t.c.org == org] + ([t.c.seen_at >= since] if since else [])
    q = select(t.c.user_id, t.c.app_name, t.c.created_date).where(
        *conds, func.lower(t.c.app_name).in_(sorted(names))
    )
    return [_match("grant", r, r.created_date, r.user_id, r.app_name, "",
                   f"{r.user_id}:{r.app_name}:{r.created_date.isoformat()}", org, [names[r.app_name.casefold()]])
            for r in conn.execute(q.distinct())]  # fmt: skip


def _security(conn: Connection, iocs: IocList, org: str, since: datetime | None) -> list[Match]:
    t = schema.security_events
    conds: list[Any] = [t.c.org == org] + ([t.c.event_date >= since] if since else [])
    return [_match(f"security:{r.store}", r, r.event_date, r.username or r.user_id, "", r.source_ip,
                   f"{r.store}:{r.event_id}", org, inds)
            for r, inds in _by_ip(conn, t.c.source_ip, conds, iocs.of_kind("ip") + iocs.of_kind("cidr"))]  # fmt: skip


def other_matches(engine: Engine, iocs: IocList, org: str, since: datetime | None) -> list[Match]:
    """Events of every non-login source of ``org`` from ``since`` (all history when None) that match."""
    with engine.connect() as conn:
        names = app_names(conn, iocs.indicators)
        out = _api_usage(conn, iocs, org, since, names) + _audit(conn, org, since, names)
        out += _grants(conn, org, since, names) + _security(conn, iocs, org, since)
    return sorted(out, key=lambda m: (m.time, m.source, m.id))


def new_matches(
    engine: Engine, iocs: IocList, org: str, cursor: dict[str, Any], now: datetime
) -> tuple[list[Match], dict[str, Any]]:
    """The matches not reported by earlier passes, and the cursor to keep (``{"since", "seen"}``)."""
    last = cursor.get("since")
    since = datetime.fromisoformat(last) - LATE if last else None
    seen: dict[str, str] = dict(cursor.get("seen", {}))
    found = other_matches(engine, iocs, org, since)
    fresh = [m for m in found if f"{m.source}|{m.id}" not in seen]
    for m in found:  # kept while it can be read again: a grant as long as its snapshots show it
        seen[f"{m.source}|{m.id}"] = (now if m.source == "grant" else m.time).isoformat()
    seen = {k: t for k, t in seen.items() if datetime.fromisoformat(t) >= now - LATE}
    return fresh, {"since": now.isoformat(), "seen": seen}
