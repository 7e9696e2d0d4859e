"""Match indicators against every stored event: logins from all sources, then every other source.

Logins hold LoginHistory, LoginEvent and Event Monitoring Login rows, collected or imported from
CSV, each under its own source; a hunt reads all of them (not only the org's primary source),
because an indicator seen by any source is a hit. :func:`hunt` adds API calls, the Setup Audit
Trail, grants and security events (:mod:`oauthwatch.hunt.other_sources`) through the same
matching (:mod:`oauthwatch.hunt.events`): the command and the saved lists search the same sources.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from oauthwatch.hunt.events import Columns, Event, Match, Scope, app_names, collect, row_hits, scope_conds
from oauthwatch.hunt.indicators import Indicator, IocList
from oauthwatch.hunt.other_sources import other_hits
from oauthwatch.store import schema

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = ["Match", "Scope", "hunt", "login_matches", "max_login_id"]


def _login_hits(
    conn: Connection, iocs: IocList, scope: Scope, names: dict[str, Indicator]
) -> Iterator[tuple[Event, list[Indicator]]]:
    t = schema.logins
    c = Columns(t.c.login_time, ip=t.c.source_ip, ua=t.c.browser, app=t.c.application)
    conds: list[Any] = scope_conds(t, c, Scope(org=scope.org, start=scope.start, end=scope.end))
    if scope.after_login_id:
        conds.append(t.c.id > scope.after_login_id)
    if scope.until_login_id:
        conds.append(t.c.id <= scope.until_login_id)
    for r, inds in row_hits(conn, t, c, conds, iocs, names):
        yield (
            Event(
                r.source,
                r.login_time,
                r.username or r.user_id,
                r.application,
                r.source_ip,
                r.natural_id,
                r.org,
            ),
            inds,
        )


def login_matches(engine: Engine, iocs: IocList, scope: Scope) -> list[Match]:
    """Stored logins of every source within ``scope`` that match (saved lists judge each row once)."""
    with engine.connect() as conn:
        return collect(_login_hits(conn, iocs, scope, app_names(conn, iocs.indicators)))


def hunt(engine: Engine, iocs: IocList, scope: Scope | None = None) -> list[Match]:
    """Every stored event of every source matching any indicator of ``iocs`` within ``scope``,
    each once, oldest first."""
    scope = scope or Scope()
    with engine.connect() as conn:
        names = app_names(conn, iocs.indicators)
        return collect([*_login_hits(conn, iocs, scope, names), *other_hits(conn, iocs, scope, names)])


def max_login_id(engine: Engine, org: str) -> int:
    """The newest stored login row id of ``org`` (saved lists resume after it)."""
    t = schema.logins
    with engine.connect() as conn:
        return int(conn.execute(select(func.max(t.c.id)).where(t.c.org == org)).scalar() or 0)
