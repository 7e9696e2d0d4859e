"""Which windows a detection run judges: those that received events since the last run.

A run judges the window of the detection step (``detect.window_minutes``) that ends now, and
every earlier step window, on the grid of the step, that received logins since the previous run
(rows whose ``logins.id`` is above the org's ``detect_marks.judged_login_id``: collection,
``import-csv`` and a late Event Log File alike) or that became covered since then, back at most
``detect.lookback_hours``. ``detect --since`` re-judges every window from a point on.

Coverage says which windows are complete: collection has read every login up to the newest of
its cursor and the signpost of its last successful run; an import covers the span between its
first and last row. A window without coverage (the partial current hour, an hour nobody
collected or imported) is judged for what its events show but never as a drop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from oauthwatch.rules.times import as_utc, as_utc_or_none
from oauthwatch.store import schema
from oauthwatch.store.writes import upsert

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    """One window to judge: ``[end - step, end)``, and whether the store holds all of it."""

    end: datetime
    covered: bool


@dataclass
class Plan:
    """The windows of one org's run, oldest first, and the marks to save once they are judged."""

    windows: list[Window] = field(default_factory=list)
    judged_login_id: int = 0
    covered_through: datetime | None = None


def grid_end(t: datetime, step: timedelta) -> datetime:
    """The end of the step window holding ``t`` (windows are ``[end - step, end)`` on the epoch grid)."""
    n = (t - EPOCH) // step
    return EPOCH + (n + 1) * step


def collection_through(conn: Connection, org: str, source: str, settle: timedelta) -> datetime | None:
    """Up to when collection has read every login of ``source``: cursor or last clean run's signpost."""
    cp, cr = schema.checkpoints, schema.collector_runs
    cursor = conn.execute(
        select(cp.c.cursor).where(cp.c.org == org, cp.c.source == source)
    ).scalar_one_or_none()
    best = as_utc_or_none(cursor.get("ts")) if isinstance(cursor, dict) else None
    started = conn.execute(
        select(func.max(cr.c.started_at)).where(cr.c.org == org, cr.c.source == source, cr.c.outcome == "ok")
    ).scalar_one_or_none()
    if started is not None:
        signpost = as_utc(started) - settle
        best = signpost if best is None or signpost > best else best
    return best


def import_spans(conn: Connection, org: str, source: str, since: datetime) -> list[tuple[datetime, datetime]]:
    """The spans ``import-csv`` covered for ``source`` that end after ``since``."""
    t = schema.login_import_spans
    rows = conn.execute(
        select(t.c.span_start, t.c.span_end).where(
            t.c.org == org, t.c.source == source, t.c.span_end >= since
        )
    ).all()
    return [(as_utc(a), as_utc(b)) for a, b in rows]


def is_covered(
    start: datetime, end: datetime, through: datetime | None, spans: list[tuple[datetime, datetime]]
) -> bool:
    """Whether the store holds every login of ``[start, end)``."""
    if through is not None and end <= through:
        return True
    return any(a <= start and end <= b for a, b in spans)


def plan_windows(
    conn: Connection,
    org: str,
    *,
    source: str,
    now: datetime,
    step: timedelta,
    lookback: timedelta,
    settle: timedelta,
    since: datetime | None = None,
) -> Plan:
    """The windows to judge for ``org`` now (see the module docstring), oldest first."""
    lg, dm = schema.logins, schema.detect_marks
    mark = conn.execute(select(dm.c.judged_login_id, dm.c.judged_at).where(dm.c.org == org)).first()
    last_id = int(mark[0]) if mark else 0
    prev_through = as_utc(mark[1]) if mark else None
    # The logins written since the last run, found by id. OFFSET 0 keeps them a subquery: flattened,
    # PostgreSQL answers min/max(login_time) by walking the time index from the oldest login and
    # filtering on the id, every row of the store (13 s of a 10M-event cycle).
    new = (
        select(lg.c.id, lg.c.login_time)
        .where(lg.c.org == org, lg.c.source == source, lg.c.id > last_id)
        .offset(0)
        .subquery()
    )
    top, first_new, last_new = conn.execute(
        select(func.max(new.c.id), func.min(new.c.login_time), func.max(new.c.login_time))
    ).one()
    floor = now - lookback
    through = collection_through(conn, org, source, settle)
    spans = import_spans(conn, org, source, floor - step)
    ends: set[datetime] = {now}
    lo: datetime | None = None
    if since is not None:
        lo = since
    elif first_new is not None:
        lo = as_utc(first_new)
    if lo is not None:
        hi = as_utc(last_new) if since is None and last_new is not None else now
        t = grid_end(max(lo, floor), step)
        while t < now and t <= grid_end(hi, step):
            ends.add(t)
            t += step
    if through is not None and prev_through is not None and through > prev_through:
        t = grid_end(max(prev_through, floor), step)  # windows completed by the new collection
        while t <= through and t < now:
            ends.add(t)
            t += step
    plan = Plan(judged_login_id=int(top) if top is not None else last_id, covered_through=through)
    plan.windows = [Window(end=e, covered=is_covered(e - step, e, through, spans)) for e in sorted(ends)]
    return plan


def save_marks(conn: Connection, org: str, plan: Plan, now: datetime) -> None:
    """Remember what this run judged: the next one starts after it."""
    row: dict[str, Any] = {
        "org": org,
        "judged_login_id": plan.judged_login_id,
        "judged_at": plan.covered_through or now,
    }
    upsert(conn, schema.detect_marks, [row], key=["org"], update=["judged_login_id", "judged_at"])
