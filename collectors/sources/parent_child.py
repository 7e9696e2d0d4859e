"""Parent records found by a ``(CreatedDate, Id)`` cursor, each stored together with its children.

Parent/child (STYLE: singer-sdk): EventLogFile records are the parents, the rows of each file's CSV
its children. The base owns the parents' cursor: resume from the checkpoint minus
``collect.overlap_seconds`` with ``>=``, read the (short) list of parents whole, hand each to
:meth:`ParentChildSource.process`, which stores the parent's children and moves the cursor past
it (:meth:`ParentChildSource.advance`) in ONE transaction, so a crash re-reads at most one parent.
The cursor is capped by the signpost (parents created inside the settle window are processed now
and looked at again next run) and never moves back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from collectors.run import ledger
from collectors.sources.base import Context, Source
from collectors.sources.paging import fetch_all
from collectors.sources.values import Record, parse_dt, soql_dt

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


class ParentChildSource(Source):
    """Parents by cursor, children stored with each; see the module docstring."""

    object: ClassVar[str]
    parent_fields: ClassVar[tuple[str, ...]]
    cursor_field: ClassVar[str] = "CreatedDate"
    id_field: ClassVar[str] = "Id"

    # -- declarations a concrete source fills in -------------------------------------------
    def where(self, ctx: Context) -> str:
        """Conditions on the parents besides the cursor (default: none)."""
        return ""

    def begin(self, ctx: Context, cursor: dict[str, Any] | None) -> dict[str, Any] | None:
        """Hook run once the checkpoint is loaded, before the listing; returns the cursor to keep."""
        return cursor

    def select_fields(self, ctx: Context) -> tuple[str, ...]:
        """The parents' fields to select (default: :attr:`parent_fields`)."""
        return self.parent_fields

    def process(self, ctx: Context, parent: Record) -> None:  # pragma: no cover - abstract
        """Store ``parent``'s children; call :meth:`advance` in the same transaction."""
        raise NotImplementedError

    # -- the generic engine ----------------------------------------------------------------
    def parent_soql(self, ctx: Context, start: datetime | None) -> str:
        """The parents from ``start`` on, in cursor order."""
        conds = [c for c in (self.where(ctx),) if c]
        if start is not None:
            conds.append(f"{self.cursor_field} >= {soql_dt(start)}")
        where = (" WHERE " + " AND ".join(conds)) if conds else ""
        return (
            f"SELECT {', '.join(self.select_fields(ctx))} FROM {self.object}{where} "
            f"ORDER BY {self.cursor_field} ASC, {self.id_field} ASC"
        )

    def run(self, ctx: Context) -> None:
        """Every parent from the checkpoint on, one transaction each."""
        with ctx.engine.connect() as conn:
            cursor = ledger.load_checkpoint(conn, ctx.org, self.name)
        ctx.cursor_before = cursor
        ctx.cursor_after = cursor = self.begin(ctx, cursor)
        start: datetime | None = ctx.since
        if start is None and cursor and cursor.get("ts"):
            start = parse_dt(cursor["ts"])
            assert start is not None
            start -= timedelta(seconds=ctx.collect.overlap_seconds)
        parents = fetch_all(ctx, self.parent_soql(ctx, start))
        for n, rec in enumerate(parents, 1):
            ctx.check_stop()
            self.process(ctx, rec)
            if ctx.progress:
                ctx.progress(n, len(parents))

    def advance(self, ctx: Context, conn: Connection, ts: datetime, parent_id: str) -> None:
        """Move the cursor past a parent (capped by the signpost, never back), in ``conn``; what else
        the checkpoint holds (see :meth:`begin`) is kept."""
        ts, pid = (ts, parent_id) if ts <= ctx.signpost else (ctx.signpost, "")
        prev: dict[str, Any] = ctx.cursor_after or {}
        if prev.get("ts") and (ts, pid) < (parse_dt(prev["ts"]), prev.get("id") or ""):
            return
        cursor = {**prev, "ts": ts.isoformat(), "id": pid}
        ledger.save_checkpoint(conn, ctx.org, self.name, cursor)
        ctx.cursor_after = cursor
