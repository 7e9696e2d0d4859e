"""Org leases in the store: how the workers of ``oauthwatch run`` divide the orgs between them.

Plain rows, no coordination service (docs/deploy.md, "Workers"): a worker claims free or expired
leases with ``SELECT … FOR UPDATE SKIP LOCKED`` (two workers claiming at once never get the same
org, and neither waits for the other), renews what it holds while it beats, and gives back what it
holds beyond its share. A worker that dies stops renewing; its leases expire and the others claim
them. On SQLite the same statements run (``FOR UPDATE`` is ignored there; one worker only, which
:mod:`oauthwatch.fleet` enforces).

Times are the workers' clocks (UTC): keep them in sync (NTP); a lease outlives its last renewal
by ``ttl``, which dwarfs any ordinary skew.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.engine import Connection

from oauthwatch.store.tables.fleet import fleet_workers, org_leases
from oauthwatch.store.upsert import upsert

FORGET_AFTER = timedelta(days=1)  # a dead worker's row is shown as stale for a day, then dropped


def beat(
    conn: Connection, worker: str, *, host: str, pid: int, started_at: datetime, now: datetime, state: str
) -> None:
    """Write (or refresh) the worker's row; rows of workers silent for a day are dropped."""
    row = {
        "worker": worker,
        "host": host,
        "pid": pid,
        "started_at": started_at,
        "beat_at": now,
        "state": state,
    }
    upsert(conn, fleet_workers, [row], key=["worker"], update=["beat_at", "state"])
    conn.execute(delete(fleet_workers).where(fleet_workers.c.beat_at < now - FORGET_AFTER))


def live_workers(conn: Connection, now: datetime, ttl: timedelta) -> list[str]:
    """Workers that beat within ``ttl`` and are not stopping: the ones that share the orgs."""
    rows = conn.execute(
        select(fleet_workers.c.worker)
        .where(fleet_workers.c.beat_at >= now - ttl, fleet_workers.c.state == "running")
        .order_by(fleet_workers.c.worker)
    )
    return [r[0] for r in rows]


def ensure_rows(conn: Connection, orgs: Iterable[str]) -> None:
    """A lease row for every configured org (free), so that it can be claimed."""
    rows = [{"org": o, "worker": None, "acquired_at": None, "expires_at": None} for o in orgs]
    upsert(conn, org_leases, rows, key=["org"], update=[])


def renew(conn: Connection, worker: str, orgs: Iterable[str], now: datetime, ttl: timedelta) -> set[str]:
    """Extend the leases ``worker`` still holds among ``orgs``; returns those (a lost one is missing)."""
    names = list(orgs)
    if not names:
        return set()
    conn.execute(
        update(org_leases)
        .where(org_leases.c.worker == worker, org_leases.c.org.in_(names))
        .values(expires_at=now + ttl)
    )
    held = conn.execute(
        select(org_leases.c.org).where(org_leases.c.worker == worker, org_leases.c.org.in_(names))
    )
    return {r[0] for r in held}


def claim(
    conn: Connection, worker: str, orgs: Iterable[str], n: int, now: datetime, ttl: timedelta
) -> list[str]:
    """Take up to ``n`` free or expired leases among ``orgs``; returns the orgs taken.

    ``SKIP LOCKED``: rows another worker is claiming in its own transaction are passed over, not
    waited for, so concurrent claims split the free orgs instead of colliding on them.
    """
    names = list(orgs)
    if n <= 0 or not names:
        return []
    free = or_(org_leases.c.worker.is_(None), org_leases.c.expires_at < now)
    picked = [
        r[0]
        for r in conn.execute(
            select(org_leases.c.org)
            .where(org_leases.c.org.in_(names), free)
            .order_by(org_leases.c.expires_at.is_not(None), org_leases.c.org)
            .limit(n)
            .with_for_update(skip_locked=True)
        )
    ]
    if picked:
        conn.execute(
            update(org_leases)
            .where(org_leases.c.org.in_(picked))
            .values(worker=worker, acquired_at=now, expires_at=now + ttl)
        )
    return picked


def release(conn: Connection, worker: str, orgs: Iterable[str]) -> None:
    """Give leases back (free at once for the others), only those ``worker`` still holds."""
    names = list(orgs)
    if names:
        conn.execute(
            update(org_leases)
            .where(and_(org_leases.c.worker == worker, org_leases.c.org.in_(names)))
            .values(worker=None, acquired_at=None, expires_at=None)
        )


def leases(conn: Connection) -> list[dict[str, Any]]:
    """Every lease with its holder's host, pid and last beat (for ``status`` and the Collection page)."""
    w = fleet_workers
    q = select(
        org_leases.c.org,
        org_leases.c.worker,
        org_leases.c.acquired_at,
        org_leases.c.expires_at,
        w.c.host,
        w.c.pid,
        w.c.beat_at,
        w.c.state,
    ).select_from(org_leases.outerjoin(w, w.c.worker == org_leases.c.worker))
    return [dict(r) for r in conn.execute(q.order_by(org_leases.c.org)).mappings()]


def workers(conn: Connection) -> list[dict[str, Any]]:
    """Every worker row, newest first."""
    q = select(fleet_workers).order_by(fleet_workers.c.beat_at.desc())
    return [dict(r) for r in conn.execute(q).mappings()]
