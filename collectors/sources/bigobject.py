"""Event objects stored as big objects: read in time windows, in index order, deduplicated.

Salesforce accepts on a big object only filters on its index fields (in index order) and an
``ORDER BY`` in the index's direction; no other sort, no aggregate
(docs/salesforce-behaviour.md §2). So an :class:`IncrementalSource` declared on :class:`BigObjectStream` is read:

- in windows of :attr:`BigObjectStream.window` of the cursor field (``>= lo AND < hi``) from the
  checkpoint to the signpost (the first run: everything the org keeps, in one window);
- in the only order the index allows (:attr:`BigObjectStream.index_order`, newest first for
  LoginEvent), so the ``(timestamp, Id)`` cursor of the base cannot move inside a window: rows
  are stored page by page, and the cursor moves to a window's end only once the whole window is;
- deduplicated on the id field within a window (a retransmitted event is stored once; the natural
  key keeps it once across windows);
- read again whole when its query locator expires.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, ClassVar

from collectors.api.client import QueryLocatorExpired
from collectors.run import ledger
from collectors.sources.base import Context
from collectors.sources.incremental import IncrementalSource
from collectors.sources.values import soql_dt


class BigObjectStream(IncrementalSource):
    """An event object with big-object query rules; see the module docstring."""

    window: ClassVar[timedelta] = timedelta(hours=6)
    index_order: ClassVar[str] = "DESC"  # the index's direction on the cursor field
    window_attempts: ClassVar[int] = 6  # a window whose query locator keeps expiring fails the run

    def soql_window(self, lo: datetime | None, hi: datetime) -> str:
        """One window, in the only order the index allows."""
        conds = [f"{self.cursor_field} >= {soql_dt(lo)}"] if lo is not None else []
        conds.append(f"{self.cursor_field} < {soql_dt(hi)}")
        return (
            f"SELECT {', '.join(self.fields)} FROM {self.object} WHERE {' AND '.join(conds)} "
            f"ORDER BY {self.cursor_field} {self.index_order}"
        )

    def _run_with_restarts(self, ctx: Context, cursor: dict[str, Any] | None, start: datetime | None) -> None:
        end = ctx.signpost
        if start is None:  # first run: everything the org keeps, in one window
            self._read_window(ctx, None, end)
            return
        lo = start
        while lo < end:
            hi = min(lo + self.window, end)
            ctx.check_stop()
            self._read_window(ctx, lo, hi)
            lo = hi

    def _read_window(self, ctx: Context, lo: datetime | None, hi: datetime) -> None:
        size = min(self.batch_size, ctx.collect.query_batch_size)
        for attempt in range(self.window_attempts):
            seen: set[str] = set()
            try:
                for page in ctx.client.query_pages(self.soql_window(lo, hi), batch_size=size):
                    ctx.check_stop()
                    fresh = []
                    for rec in page.records:
                        key = self.key_of(rec)
                        if key is None or key not in seen:
                            fresh.append(rec)
                            if key is not None:
                                seen.add(key)
                    converted = replace(self._convert(ctx, fresh, page.total_size), last=None)
                    self._commit(ctx, [converted])  # rows only: the cursor waits for the window's end
                break
            except QueryLocatorExpired:
                if attempt == self.window_attempts - 1:
                    raise
                ctx.stats.notes.append(f"query locator expired; the {self.object} window was read again")
        with ctx.engine.begin() as conn:
            cursor = {**(ctx.cursor_after or {}), "ts": hi.isoformat(), "id": ""}
            ledger.save_checkpoint(conn, ctx.org, self.name, cursor)
        ctx.cursor_after = cursor
