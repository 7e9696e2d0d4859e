"""The fleet at a glance: per org, the worker holding it, its lag and whether it fails; the workers.

``oauthwatch status`` and the dashboard's Collection page show the same rows (docs/deploy.md,
"Workers"). An org *fails* when the last run of one of its sources failed or ran out of API budget,
or when its lag (time since the last successful run of any source) passes the collection-health
threshold; failing orgs come first, then the most lagging.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from oauthwatch.store import leases
from oauthwatch.store.tables.operations import collector_runs

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

FAILED = ("failed", "budget")


def worker_health(row: dict[str, Any], now: datetime, ttl: timedelta) -> str:
    """``running``, ``stopping``, ``stopped``, or ``stale`` (no beat within the lease time: dead)."""
    if row["state"] == "stopped":
        return "stopped"
    return str(row["state"]) if now - row["beat_at"] <= ttl else "stale"


def fleet_workers(engine: Engine, *, now: datetime, ttl: timedelta) -> list[dict[str, Any]]:
    """Each worker with its health and how many orgs it holds."""
    with engine.connect() as conn:
        rows, held = leases.workers(conn), leases.leases(conn)
    count: dict[str, int] = {}
    for lease in held:
        if lease["worker"] and lease["expires_at"] and lease["expires_at"] >= now:
            count[lease["worker"]] = count.get(lease["worker"], 0) + 1
    return [{**r, "health": worker_health(r, now, ttl), "orgs": count.get(r["worker"], 0)} for r in rows]


def fleet_orgs(engine: Engine, *, now: datetime | None = None, lag_after: timedelta) -> list[dict[str, Any]]:
    """One row per leased or collected org: holder, lease state, last success, lag, failing sources."""
    now = now or datetime.now(UTC)
    r = collector_runs.c
    with engine.connect() as conn:
        held = {x["org"]: x for x in leases.leases(conn)}
        ok = dict(
            conn.execute(
                select(r.org, func.max(r.finished_at)).where(r.outcome.in_(["ok", "partial"])).group_by(r.org)
            ).all()
        )
        last_id = select(func.max(r.id).label("id")).group_by(r.org, r.source).subquery()
        failing: dict[str, list[str]] = {}
        for org, source, outcome, error in conn.execute(
            select(r.org, r.source, r.outcome, r.error).join(last_id, last_id.c.id == r.id)
        ):
            if outcome in FAILED:
                failing.setdefault(org, []).append(
                    f"{source}: {outcome}" + (f" ({error[:120]})" if error else "")
                )
            failing.setdefault(org, [])
    out = []
    for org in sorted(set(held) | set(failing)):
        lease = held.get(org) or {}
        last = ok.get(org)
        lag = int((now - last).total_seconds()) if last else None
        if lease.get("worker") and lease.get("expires_at") and lease["expires_at"] >= now:
            holder, state = lease["worker"], "held"
        else:
            holder, state = lease.get("worker"), ("expired" if lease.get("worker") else "free")
        problems = list(failing.get(org, []))
        if lag is None or lag > lag_after.total_seconds():
            problems.append("never collected" if lag is None else f"lagging {lag // 60} min")
        out.append(
            {
                "org": org,
                "worker": holder,
                "lease": state,
                "last_success": last,
                "lag_seconds": lag,
                "failing": bool(problems),
                "problems": "; ".join(problems),
            }
        )
    out.sort(
        key=lambda x: (
            not x["failing"],
            -(x["lag_seconds"] if x["lag_seconds"] is not None else 10**12),
            x["org"],
        )
    )
    return out
