"""The user's loaded ranges in the store: one feed (kind:provider) replaced whole on each load.

Kept in the store rather than a file so the service, the dashboard and the CLI on other hosts
all classify with the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select

from oauthwatch.intel.networks import RangeRow
from oauthwatch.store import schema
from oauthwatch.store.writes import upsert, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from oauthwatch.intel.feeds import Feed


def loaded_ranges(engine: Engine) -> list[RangeRow]:
    """Every range the user loaded, all feeds."""
    t = schema.network_ranges
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.cidr, t.c.kind, t.c.provider).order_by(t.c.feed, t.c.cidr)).all()
    return [RangeRow(r.cidr, r.kind, r.provider) for r in rows]


def replace_feed(engine: Engine, feed: Feed, *, now: datetime | None = None) -> int:
    """Replace the stored ranges of ``feed.name`` with ``feed.rows`` in one transaction."""
    t = schema.network_ranges
    now = now or utcnow()
    seen: dict[str, RangeRow] = {r.cidr: r for r in feed.rows}
    rows = [
        {
            "feed": feed.name,
            "cidr": r.cidr,
            "kind": r.kind,
            "provider": r.provider[:120],
            "source_file": feed.path,
            "loaded_at": now,
        }
        for r in seen.values()
    ]
    with engine.begin() as conn:
        conn.execute(delete(t).where(t.c.feed == feed.name))
        upsert(conn, t, rows, key=["feed", "cidr"], update=None)
    return len(rows)


@dataclass(frozen=True)
class FeedSummary:
    """One loaded feed as `oauthwatch intel info` lists it."""

    feed: str
    ranges: int
    loaded_at: datetime
    source_file: str


def feed_summaries(engine: Engine) -> list[FeedSummary]:
    """The loaded feeds with their size and when they were loaded."""
    t = schema.network_ranges
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.feed, func.count(), func.max(t.c.loaded_at), func.max(t.c.source_file)).group_by(
                t.c.feed
            )
        ).all()
    return [FeedSummary(r[0], int(r[1]), r[2], r[3] or "") for r in rows]
