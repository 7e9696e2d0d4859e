"""Match indicators against every stored event: logins from all sources and security events.

Logins hold LoginHistory, LoginEvent and Event Monitoring Login rows, collected or imported from
CSV, each under its own source; a hunt reads all of them (not only the org's primary source),
because an indicator seen by any source is a hit. Security events (the Threat Detection stores)
carry an address, so IP and CIDR indicators are matched there too.

Addresses are matched in Python over the *distinct* addresses in range (CIDR containment is not
portable SQL), then the rows of the matching addresses are read by index; user agents and apps
are SQL filters. Results are one object per event, in time order.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select

from oauthwatch.hunt.indicators import Indicator, IocList
from oauthwatch.store import schema

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

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
    """Which rows a hunt reads: an org (or all), a time span, and rows after an id (saved lists)."""

    org: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    after_login_id: int = 0
    until_login_id: int = 0


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


def _login_filters(scope: Scope) -> list[Any]:
    t = schema.logins
    conds: list[Any] = []
    if scope.org:
        conds.append(t.c.org == scope.org)
    if scope.start:
        conds.append(t.c.login_time >= scope.start)
    if scope.end:
        conds.append(t.c.login_time < scope.end)
    if scope.after_login_id:
        conds.append(t.c.id > scope.after_login_id)
    if scope.until_login_id:
        conds.append(t.c.id <= scope.until_login_id)
    return conds


def _login_matches(conn: Connection, iocs: IocList, scope: Scope) -> dict[int, tuple[Any, list[Indicator]]]:
    t = schema.logins
    base = _login_filters(scope)
    found: dict[int, tuple[Any, list[Indicator]]] = {}
    cols = [
        t.c.id,
        t.c.org,
        t.c.source,
        t.c.natural_id,
        t.c.login_time,
        t.c.user_id,
        t.c.username,
        t.c.application,
        t.c.source_ip,
        t.c.browser,
    ]

    def add(rows: Iterable[Any], why: Any) -> None:
        for r in rows:
            inds = why(r)
            prev = found.get(r.id)
            found[r.id] = (r, (prev[1] if prev else []) + [i for i in inds if not prev or i not in prev[1]])

    net_inds = iocs.of_kind("ip") + iocs.of_kind("cidr")
    if net_inds:
        ips = [
            ip
            for (ip,) in conn.execute(
                select(t.c.source_ip).where(and_(*base, t.c.source_ip.is_not(None))).distinct()
            )
        ]
        hits = ip_hits(ips, net_inds)
        keys = sorted(hits)
        for i in range(0, len(keys), CHUNK):
            rows = conn.execute(select(*cols).where(and_(*base, t.c.source_ip.in_(keys[i : i + CHUNK]))))
            add(rows, lambda r: hits[r.source_ip])
    for ind in iocs.of_kind("ua"):
        rows = conn.execute(
            select(*cols).where(
                and_(*base, func.lower(t.c.browser).contains(ind.value.lower(), autoescape=True))
            )
        )
        add(rows, lambda r, ind=ind: [ind])
    names = app_names(conn, iocs.indicators)
    if names:
        keys = sorted(names)
        for i in range(0, len(keys), CHUNK):
            rows = conn.execute(
                select(*cols).where(and_(*base, func.lower(t.c.application).in_(keys[i : i + CHUNK])))
            )
            add(rows, lambda r: [names[(r.application or "").casefold()]])
    return found


def _security_matches(conn: Connection, iocs: IocList, scope: Scope) -> list[tuple[Any, list[Indicator]]]:
    net_inds = iocs.of_kind("ip") + iocs.of_kind("cidr")
    if not net_inds:
        return []
    t = schema.security_events
    conds: list[Any] = [t.c.source_ip.is_not(None)]
    if scope.org:
        conds.append(t.c.org == scope.org)
    if scope.start:
        conds.append(t.c.event_date >= scope.start)
    if scope.end:
        conds.append(t.c.event_date < scope.end)
    ips = [ip for (ip,) in conn.execute(select(t.c.source_ip).where(and_(*conds)).distinct())]
    hits = ip_hits(ips, net_inds)
    keys = sorted(hits)
    out = []
    for i in range(0, len(keys), CHUNK):
        q = select(t).where(and_(*conds, or_(t.c.source_ip.in_(keys[i : i + CHUNK]))))
        out += [(r, hits[r.source_ip]) for r in conn.execute(q)]
    return out


def _first(inds: list[Indicator]) -> list[Indicator]:
    return sorted(set(inds), key=lambda i: i.line)


def hunt(engine: Engine, iocs: IocList, scope: Scope | None = None) -> list[Match]:
    """Every stored event matching any indicator of ``iocs`` within ``scope``, oldest first."""
    scope = scope or Scope()
    out: list[Match] = []
    with engine.connect() as conn:
        for r, inds in _login_matches(conn, iocs, scope).values():
            ordered = _first(inds)
            out.append(
                Match(
                    indicator=ordered[0].text,
                    source=r.source,
                    time=r.login_time,
                    user=r.username or r.user_id or "",
                    app=r.application or "",
                    ip=r.source_ip or "",
                    id=r.natural_id,
                    org=r.org,
                    indicators=tuple(i.text for i in ordered),
                )
            )
        if not scope.after_login_id and not scope.until_login_id:
            for r, inds in _security_matches(conn, iocs, scope):
                ordered = _first(inds)
                out.append(
                    Match(
                        indicator=ordered[0].text,
                        source=f"security:{r.store}",
                        time=r.event_date,
                        user=r.username or r.user_id or "",
                        app="",
                        ip=r.source_ip or "",
                        id=r.event_id,
                        org=r.org,
                        indicators=tuple(i.text for i in ordered),
                    )
                )
    out.sort(key=lambda m: (m.time, m.org, m.source, m.id))
    return out


def max_login_id(engine: Engine, org: str) -> int:
    """The newest stored login row id of ``org`` (saved lists resume after it)."""
    t = schema.logins
    with engine.connect() as conn:
        return int(conn.execute(select(func.max(t.c.id)).where(t.c.org == org)).scalar() or 0)
