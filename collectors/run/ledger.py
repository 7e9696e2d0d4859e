"""What the collector remembers: checkpoints, the run ledger, coverage per day, quarantine.

Checkpoints are written with the rows they cover, inside the caller's transaction (``conn``), so
a crash between "rows stored" and "cursor moved" cannot happen. The run ledger is written in its
own short transactions so that a failing run still leaves a record of what it did and why it
stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import and_, func, insert, select, update

from oauthwatch.secrets import redact
from oauthwatch.store import schema
from oauthwatch.store.writes import upsert, utcnow

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection, Engine


@dataclass
class RunStats:
    """Counters of one source run, filled as it goes."""

    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    incomplete: bool = False
    skipped: bool = False
    notes: list[str] = field(default_factory=list)


def load_checkpoint(conn: Connection, org: str, source: str) -> dict[str, Any] | None:
    """The stored cursor of ``source`` in ``org`` (a JSON dict), or None before the first run."""
    c = schema.checkpoints.c
    value = conn.execute(select(c.cursor).where(c.org == org, c.source == source)).scalar_one_or_none()
    if isinstance(value, str):  # some drivers hand JSON back as text
        value = orjson.loads(value)
    return value


def save_checkpoint(conn: Connection, org: str, source: str, cursor: dict[str, Any]) -> None:
    """Store ``cursor`` for ``source``; call inside the transaction that wrote its rows."""
    upsert(
        conn,
        schema.checkpoints,
        [{"org": org, "source": source, "cursor": cursor, "updated_at": utcnow()}],
        key=["org", "source"],
        update=["cursor", "updated_at"],
    )


def start_run(engine: Engine, org: str, source: str, cursor_before: dict[str, Any] | None) -> int:
    """Open a ledger row (outcome ``running``) and return its id."""
    with engine.begin() as conn:
        res = conn.execute(
            insert(schema.collector_runs).values(
                org=org, source=source, started_at=utcnow(), outcome="running", cursor_before=cursor_before
            )
        )
        key = res.inserted_primary_key
        assert key is not None  # a single-row INSERT always reports the key it made
        return int(key[0])


def finish_run(
    engine: Engine,
    run_id: int,
    *,
    outcome: str,
    stats: RunStats,
    api_calls: int,
    error: str | None = None,
    stop_reason: str | None = None,
    cursor_after: dict[str, Any] | None = None,
) -> None:
    """Close the ledger row with what the run did (errors redacted)."""
    with engine.begin() as conn:
        conn.execute(
            update(schema.collector_runs)
            .where(schema.collector_runs.c.id == run_id)
            .values(
                finished_at=utcnow(),
                outcome=outcome,
                rows_read=stats.rows_read,
                rows_written=stats.rows_written,
                rows_quarantined=stats.rows_quarantined,
                api_calls=api_calls,
                error=redact(error)[:4000] if error else None,
                stop_reason=stop_reason,
                cursor_after=cursor_after,
            )
        )


def close_interrupted(engine: Engine, org: str) -> int:
    """Mark ledger rows left ``running`` by a killed process as ``interrupted`` (their rows are safe:
    each page was committed with its checkpoint)."""
    c = schema.collector_runs.c
    with engine.begin() as conn:
        res = conn.execute(
            update(schema.collector_runs)
            .where(c.org == org, c.outcome == "running")
            .values(
                outcome="interrupted", finished_at=utcnow(), stop_reason="the collector process ended mid-run"
            )
        )
        return int(res.rowcount or 0)


def quarantine(
    conn: Connection, org: str, source: str, reason: str, raw: Any, natural_id: str | None = None
) -> bool:
    """Keep a record that could not be stored, with why; once per (record, reason).

    Returns True when it was new (overlap windows re-read the same bad record every run).
    """
    q = schema.quarantine.c
    reason = reason[:2000]  # as stored, so that the same record and reason are found again
    text = raw if isinstance(raw, str) else orjson.dumps(raw, default=str).decode()
    text = redact(text)[:20_000]
    cond = [q.org == org, q.source == source, q.reason == reason]
    cond.append(q.natural_id == natural_id if natural_id else q.raw == text)
    if conn.execute(select(q.id).where(and_(*cond)).limit(1)).first():
        return False
    conn.execute(
        insert(schema.quarantine).values(
            org=org,
            source=source,
            received_at=utcnow(),
            reason=reason,
            natural_id=natural_id,
            raw=text,
        )
    )
    return True


def day_of(ts: datetime) -> date:
    return ts.astimezone(UTC).date()


def day_start(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def count_per_day(
    conn: Connection, table: Table, time_col: str, where: list[Any], days: list[date]
) -> dict[date, int]:
    """Rows stored per UTC day (range queries: index-friendly and backend-neutral)."""
    col = table.c[time_col]
    out: dict[date, int] = {}
    for d in days:
        lo = day_start(d)
        out[d] = int(
            conn.execute(
                select(func.count()).select_from(table).where(*where, col >= lo, col < lo + timedelta(days=1))
            ).scalar_one()
        )
    return out


def set_coverage(
    conn: Connection, org: str, source: str, day: date, status: str, rows: int, note: str | None = None
) -> None:
    """Record how complete ``day`` is for ``source`` (complete | partial | missing | late)."""
    upsert(
        conn,
        schema.coverage,
        [
            {
                "org": org,
                "source": source,
                "day": day,
                "status": status,
                "rows": rows,
                "note": note,
                "updated_at": utcnow(),
            }
        ],
        key=["org", "source", "day"],
        update=["status", "rows", "note", "updated_at"],
    )


def mark_partial(conn: Connection, org: str, source: str, since: datetime, note: str) -> None:
    """Every coverage day ``source`` touched since ``since`` becomes partial, with ``note`` (why)."""
    c = schema.coverage.c
    touched = (c.org == org) & (c.source == source) & (c.updated_at >= since)
    conn.execute(schema.coverage.update().where(touched, c.status == "complete").values(status="partial"))
    conn.execute(schema.coverage.update().where(touched).values(note=note))
    if conn.execute(select(func.count()).select_from(schema.coverage).where(touched)).scalar_one() == 0:
        set_coverage(conn, org, source, since.date(), "partial", 0, note)


def coverage_status(conn: Connection, org: str, source: str, day: date) -> str | None:
    c = schema.coverage.c
    return conn.execute(
        select(c.status).where(c.org == org, c.source == source, c.day == day)
    ).scalar_one_or_none()
