"""Hourly login rollups kept exact while a stream writes, across crashes, without recomputing per page.

Refreshing per page would re-aggregate each touched day hundreds of times in a backfill. Instead a
:class:`RollupMark` remembers the range of hours written since the last refresh; the range goes
into the checkpoint (``rollup_dirty``) in the same transaction as the rows, so a run that dies
leaves the next run a note of what to recompute and rollups are never left wrong. The owning
stream refreshes every so many rows and at the end of its run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from collectors.run import ledger
from collectors.sources.values import parse_dt
from oauthwatch.store.writes import refresh_login_rollup

if TYPE_CHECKING:
    from collectors.sources.base import Context

KEY = "rollup_dirty"


class RollupMark:
    """The hours whose rollups are behind the rows one stream has written."""

    def __init__(self) -> None:
        self.range: tuple[datetime, datetime] | None = None
        self.rows_since = 0

    def restore(self, cursor: dict[str, Any] | None) -> bool:
        """Take over the range a previous run left in its checkpoint; whether there was one."""
        if not cursor or not cursor.get(KEY):
            return False
        lo, hi = (parse_dt(x) for x in cursor[KEY])
        if lo is None or hi is None:
            return False
        self.range = (lo, hi)
        return True

    def widen(self, lo: datetime, hi: datetime) -> None:
        """Add the hours ``lo``…``hi`` (a batch's oldest and newest row) to the range behind."""
        if self.range is not None:
            lo, hi = min(lo, self.range[0]), max(hi, self.range[1])
        self.range = (lo, hi)

    def written(self, rows: int) -> None:
        """Count rows written since the last refresh."""
        self.rows_since += rows

    def note(self, cursor: dict[str, Any]) -> dict[str, Any]:
        """``cursor`` carrying the range behind (to be saved with the rows that widened it)."""
        if self.range is not None:
            cursor[KEY] = [self.range[0].isoformat(), self.range[1].isoformat()]
        return cursor

    def flush(self, ctx: Context, checkpoint: str, rollup_source: str | None) -> None:
        """Recompute the rollups over the range, then clear the mark in the checkpoint."""
        if self.range is None:
            return
        lo, hi = self.range
        hours = []
        h = lo.replace(minute=0, second=0, microsecond=0)
        while h <= hi:
            hours.append(h)
            h += timedelta(hours=1)
        with ctx.engine.begin() as conn:
            if rollup_source is not None:
                refresh_login_rollup(conn, ctx.org, rollup_source, hours)
            cursor = dict(ctx.cursor_after or {})
            cursor.pop(KEY, None)
            ledger.save_checkpoint(conn, ctx.org, checkpoint, cursor)
        ctx.cursor_after = cursor
        self.range = None
        self.rows_since = 0


def without_mark(cursor: dict[str, Any]) -> dict[str, Any]:
    """``cursor`` without the rollup mark."""
    return {k: v for k, v in cursor.items() if k != KEY}
