"""A group of streams: one source made of several objects, each declared once, each on its own.

Some things the product reads come as a family of objects enabled by one licence (LoginEvent and
the Threat Detection stores). :class:`StreamGroupSource` runs its declared :attr:`streams` (each
an :class:`collectors.sources.incremental.IncrementalSource` declaration: its own object, cursor
and checkpoint) one after another, and owns what the family shares:

- an object the org does not have (``INVALID_TYPE``: not licensed) is skipped with one log line
  and not asked again for a day;
- one object's failure is recorded (the run is ``partial``, with the object named) and never
  skips the objects after it; only a budget stop or a stop request ends the whole run;
- each stream's coverage is written with its own cursors, for the streams that declare coverage.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, ClassVar

from collectors.api.budget import BudgetExhausted
from collectors.api.client import ObjectNotAvailable
from collectors.sources.base import Context, Source, Stopped
from collectors.sources.incremental import IncrementalSource

log = logging.getLogger(__name__)

RECHECK_SECONDS = 24 * 3600
_unlicensed: dict[tuple[str, str], float] = {}
_lock = threading.Lock()


class StreamGroupSource(Source):
    """Several objects run as one source; see the module docstring."""

    streams: ClassVar[tuple[type[IncrementalSource], ...]]
    covered: ClassVar[tuple[type[IncrementalSource], ...]] = ()  # streams whose days get coverage rows

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """What the group writes is what its streams write: declared once, by each stream."""
        super().__init_subclass__(**kwargs)
        streams = cls.__dict__.get("streams")
        if streams is not None and "writes" not in cls.__dict__:
            cls.writes = tuple(dict.fromkeys(w for s in streams for w in s.writes))

    def __init__(self) -> None:
        self.ran: list[tuple[IncrementalSource, Any, Any]] = []  # (stream, cursor before, after)
        self.skipped: list[str] = []
        self.failed: list[str] = []

    def run(self, ctx: Context) -> None:
        for cls in self.streams:
            stream = cls()
            key = (ctx.org, stream.object)
            with _lock:
                since_check = time.monotonic() - _unlicensed.get(key, -1e12)
            if since_check < RECHECK_SECONDS:
                self.skipped.append(stream.object)
                continue
            try:
                stream.run(ctx)
                self.ran.append((stream, ctx.cursor_before, ctx.cursor_after))
            except (BudgetExhausted, Stopped):
                raise  # the whole run stops for these, not one object
            except ObjectNotAvailable:
                with _lock:
                    _unlicensed[key] = time.monotonic()
                self.skipped.append(stream.object)
                log.info(
                    "%s: %s is not available in this org (%s is not licensed); skipping it, next check in 24 h",
                    ctx.org,
                    stream.object,
                    self.licence or "its add-on",
                )
            except Exception as exc:
                self.failed.append(stream.object)
                ctx.stats.notes.append(f"{stream.object} failed: {type(exc).__name__}: {exc}"[:300])
                log.warning(
                    "%s: %s failed; the other objects still run", ctx.org, stream.object, exc_info=True
                )
        if self.failed:
            if not self.ran:
                raise RuntimeError("every object failed: " + ", ".join(self.failed))
            ctx.stats.incomplete = True
        ctx.stats.skipped = not self.ran and not self.failed
        if self.skipped:
            ctx.stats.notes.append("not licensed: " + ", ".join(self.skipped))

    def coverage(self, conn: Any, ctx: Context) -> None:
        """Each covered stream's days, from its own cursors (not the last stream's)."""
        saved = (ctx.cursor_before, ctx.cursor_after)
        try:
            for stream, before, after in self.ran:
                if isinstance(stream, self.covered):
                    ctx.cursor_before, ctx.cursor_after = before, after
                    stream.coverage(conn, ctx)
        finally:
            ctx.cursor_before, ctx.cursor_after = saved
