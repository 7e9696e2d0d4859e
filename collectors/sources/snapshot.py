"""Objects read whole each run and kept as one consistent reading per day (grants, apps, limits).

The base owns what every snapshot shares, so a concrete source says only how to read and how to
store: load the checkpoint; skip the run when today's reading is recent enough (:meth:`due`);
read everything from Salesforce first (:meth:`read`, no transaction open meanwhile); then store
it and save the checkpoint in ONE transaction (:meth:`store`), so the store always holds a whole
reading; count what was read and written; and write the day's coverage: ``complete``, or
``partial`` with the reason when the reading is known to be short.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from collectors.run import ledger
from collectors.sources.base import Context, Source

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

T = TypeVar("T")


@dataclass
class Reading:
    """What one snapshot stored: the checkpoint to keep, counts, and whether it is whole."""

    cursor: dict[str, Any]
    read: int
    written: int
    covered: int  # what the day's coverage row counts (grants, apps, limits)
    complete: bool = True
    gap: str | None = None  # coverage note when not complete
    notes: list[str] = field(default_factory=list)  # for the run's ledger line, in order
    covers_day: bool = True  # False: nothing to say about the day (e.g. an empty reading)


class DailySnapshotSource(Source, Generic[T]):
    """Read whole, store as one reading, coverage per run day; see the module docstring."""

    skip_note: ClassVar[str] = "today's snapshot is recent"

    def __init__(self) -> None:
        self.reading: Reading | None = None

    # -- declarations a concrete source fills in -------------------------------------------
    def due(self, ctx: Context, cursor: dict[str, Any] | None) -> bool:
        """Whether to take a reading this run (default: every run)."""
        return True

    def read(self, ctx: Context) -> T:  # pragma: no cover - abstract
        """Everything the reading needs, from Salesforce."""
        raise NotImplementedError

    def store(self, ctx: Context, conn: Connection, data: T) -> Reading:  # pragma: no cover - abstract
        """Store ``data`` in the open transaction; the checkpoint goes in the same one."""
        raise NotImplementedError

    def after_store(self, ctx: Context) -> None:
        """Hook run once the reading is committed (e.g. read more about what it found)."""

    # -- the generic engine ----------------------------------------------------------------
    def run(self, ctx: Context) -> None:
        """Take (or skip) today's reading."""
        with ctx.engine.connect() as conn:
            cursor = ledger.load_checkpoint(conn, ctx.org, self.name)
        ctx.cursor_before = ctx.cursor_after = cursor
        if not self.due(ctx, cursor):
            ctx.stats.skipped = True
            ctx.stats.notes.append(self.skip_note)
            return
        data = self.read(ctx)
        with ctx.engine.begin() as conn:
            reading = self.store(ctx, conn, data)
            ledger.save_checkpoint(conn, ctx.org, self.name, reading.cursor)
        ctx.cursor_after = reading.cursor
        ctx.stats.rows_read += reading.read
        ctx.stats.rows_written += reading.written
        if not reading.complete:
            ctx.stats.incomplete = True
        ctx.stats.notes.extend(reading.notes)
        self.reading = reading
        self.after_store(ctx)

    def coverage(self, conn: Connection, ctx: Context) -> None:
        """The run day: ``complete``, or ``partial`` with why."""
        r = self.reading
        if r is None or not r.covers_day:
            return
        status = "complete" if r.complete else "partial"
        note = None if r.complete else r.gap
        ledger.set_coverage(conn, ctx.org, self.name, ctx.run_start.date(), status, r.covered, note)
