"""What a hunt returns and how it matches one table, shared by every source it reads.

The command (`oauthwatch hunt`) and the saved lists read the same sources through the same code
(docs/hunting.md): logins (:mod:`oauthwatch.hunt.matcher`), and API calls, the Setup Audit Trail,
grants and security events (:mod:`oauthwatch.hunt.other_sources`). Addresses are matched in
Python over the *distinct* addresses in range (CIDR containment is not portable SQL), then the
rows of the matching addresses are read by index; user agents and apps are SQL filters. An event
matched by several indicators is reported once, with all of them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select

from oauthwatch.hunt.indicators import Indicator, IocList
from oauthwatch.store import schema

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

CHUNK = 500


@dataclass(frozen=True)
class Match:
    """One stored event that matched: the indicator (first in file order), and the event."""

    indicator: str
    source: str
    time: datetime
    user: str
    app: str
    ip: str
    id: str
    org: str
    indicators: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        """The JSON object `hunt --format json` prints for this event."""
        d = asdict(self)
        d["time"] = self.time.isoformat()
        d["indicators"] = list(self.indicators)
        return d


@dataclass(frozen=True)
class Scope:
    """Which rows a hunt reads: an org (or all) and a span of event times. Saved lists add the
    login rows after an id, and for the other sources a re-read window (``read_since``, on the
    grant's snapshot time rather than its creation, since a grant is re-read while it lives)."""

    org: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    after_login_id: int = 0
    until_login_id: int = 0
    read_since: datetime | None = None


@dataclass(frozen=True)
class Event:
    """A stored row as a hunt reports it; ``(org, source, id)`` identifies it."""

    source: str
    time: datetime
    user: str | None
    app: str | None
    ip: str | None
    id: str
    org: str


@dataclass(frozen=True)
class Columns:
    """Where a table keeps what indicators are matched against (None: it has no such column)."""

    time: Any
    ip: Any = None
    ua: Any = None
    app: Any = None
    app_id: Any = None
    seen: Any = None  # what ``Scope.read_since`` applies to, when not the event time


def ip_hits(ips: Iterable[str], indicators: list[Indicator]) -> dict[str, list[Indicator]]:
    """Each address of ``ips`` that an IP or CIDR indicator matches, with those indicators."""
    exact = {i.value: i for i in indicators if i.kind == "ip"}
    nets = [(ipaddress.ip_network(i.value), i) for i in indicators if i.kind == "cidr"]
    out: dict[str, list[Indicator]] = {}
    for ip in ips:
        try:
            addr = ipaddress.ip_address(ip.strip())
        except ValueError:
            continue
        hits = [exact[str(addr)]] if str(addr) in exact else []
        hits += [ind for net, ind in nets if addr.version == net.version and addr in net]
        if hits:
            out[ip] = hits
    return out


def app_names(conn: Connection, indicators: list[Indicator]) -> dict[str, Indicator]:
    """casefolded app name → indicator; ids are resolved to names through what the store knows."""
    names: dict[str, Indicator] = {}
    for ind in indicators:
        if ind.kind != "app":
            continue
        names.setdefault(ind.value.casefold(), ind)
        if ind.is_app_id:
            ca, au = schema.connected_apps, schema.api_usage_hourly
            prefix = ind.value[:15]
            for (name,) in conn.execute(select(ca.c.name).where(func.substr(ca.c.app_id, 1, 15) == prefix)):
                names.setdefault(name.casefold(), ind)
            q = (
                select(au.c.connected_app_name)
                .where(func.substr(au.c.connected_app_id, 1, 15) == prefix)
                .distinct()
            )
            for (name,) in conn.execute(q):
                if name:
                    names.setdefault(name.casefold(), ind)
    return names


def app_ids(conn: Connection, names: dict[str, Indicator]) -> dict[str, Indicator]:
    """15-character app id → indicator: the ``app:`` ids, and the ids the store has seen under the
    ``app:`` names (Connected App policies, ApiTotalUsage), for sources that name apps by id only."""
    ca, au = schema.connected_apps, schema.api_usage_hourly
    out: dict[str, Indicator] = {}
    for name, ind in names.items():
        if ind.is_app_id:
            out.setdefault(ind.value[:15], ind)
        for q in (
            select(ca.c.app_id).where(func.lower(ca.c.name) == name),
            select(au.c.connected_app_id).where(func.lower(au.c.connected_app_name) == name).distinct(),
        ):
            for (app_id,) in conn.execute(q):
                if app_id:
                    out.setdefault(app_id[:15], ind)
    return out


def scope_conds(table: Any, cols: Columns, scope: Scope) -> list[Any]:
    """The WHERE terms of ``scope`` on one table."""
    conds: list[Any] = []
    if scope.org:
        conds.append(table.c.org == scope.org)
    if scope.start:
        conds.append(cols.time >= scope.start)
    if scope.end:
        conds.append(cols.time < scope.end)
    if scope.read_since:
        conds.append((cols.time if cols.seen is None else cols.seen) >= scope.read_since)
    return conds


def row_hits(
    conn: Connection, table: Any, cols: Columns, conds: list[Any], iocs: IocList, names: dict[str, Indicator]
) -> Iterator[tuple[Any, list[Indicator]]]:
    """Rows of ``table`` within ``conds`` matching an indicator on the columns it has, with the
    indicators each matched (a row may come more than once: :func:`collect` merges)."""
    nets = iocs.of_kind("ip") + iocs.of_kind("cidr")
    if cols.ip is not None and nets:
        ips = [
            ip for (ip,) in conn.execute(select(cols.ip).where(and_(*conds, cols.ip.is_not(None))).distinct())
        ]
        hits = ip_hits(ips, nets)
        keys = sorted(hits)
        for i in range(0, len(keys), CHUNK):
            for r in conn.execute(select(table).where(and_(*conds, cols.ip.in_(keys[i : i + CHUNK])))):
                yield r, hits[getattr(r, cols.ip.name)]
    if cols.ua is not None:
        for ind in iocs.of_kind("ua"):
            q = select(table).where(*conds, func.lower(cols.ua).contains(ind.value.lower(), autoescape=True))
            yield from ((r, [ind]) for r in conn.execute(q))
    if cols.app_id is None:
        ids: dict[str, Indicator] = {}
    elif cols.app is None:  # a source that names apps by id only: names resolved to ids
        ids = app_ids(conn, names)
    else:
        ids = {i.value[:15]: i for i in iocs.of_kind("app") if i.is_app_id}
    if cols.app is None:
        names = {}
    if names or ids:
        keys = sorted(names)
        terms = [func.lower(cols.app).in_(keys[i : i + CHUNK]) for i in range(0, len(keys), CHUNK)]
        if ids:
            terms.append(func.substr(cols.app_id, 1, 15).in_(sorted(ids)))
        for r in conn.execute(select(table).where(*conds, or_(*terms))):
            app = (getattr(r, cols.app.name) or "").casefold() if cols.app is not None else ""
            app_id = getattr(r, cols.app_id.name)[:15] if cols.app_id is not None else ""
            yield r, [names.get(app) or ids[app_id]]


def collect(hits: Iterable[tuple[Event, Iterable[Indicator]]]) -> list[Match]:
    """One match per event, naming every indicator it matched (first in file order), oldest first."""
    by_event: dict[tuple[str, str, str], tuple[Event, set[Indicator]]] = {}
    for ev, inds in hits:
        by_event.setdefault((ev.org, ev.source, ev.id), (ev, set()))[1].update(inds)
    out = []
    for ev, inds in by_event.values():
        ordered = sorted(inds, key=lambda i: i.line)
        out.append(Match(ordered[0].text, ev.source, ev.time, ev.user or "", ev.app or "", ev.ip or "", ev.id,
                         ev.org, tuple(i.text for i in ordered)))  # fmt: skip
    return sorted(out, key=lambda m: (m.time, m.org, m.source, m.id))
