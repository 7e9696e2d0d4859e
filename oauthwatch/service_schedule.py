"""When each org is next due for collection in the service loop (``oauthwatch.service``).

Every org has its own interval (``interval_seconds`` on the org, else ``[collect]``'s) plus a
random jitter, so orgs with different needs share one worker. An org this worker has just claimed
from another resumes where the store says it was: its next collection is due one interval after
its last finished run (at once when that has passed), so a takeover neither skips nor doubles a
collection.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from oauthwatch.store import schema as s

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from oauthwatch.config import Settings

NO_ORG = ""  # the schedule of a cycle run with no org configured (its collect stage says why)


class Schedule:
    """Next due time per org; see the module docstring."""

    def __init__(self, settings: Settings, engine: Engine, *, pause_seconds: float | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.pause_seconds = pause_seconds
        self._due: dict[str, datetime] = {}

    def pause(self, org: str) -> float:
        """Seconds until ``org`` is due again after a collection."""
        if self.pause_seconds is not None:
            return self.pause_seconds
        jitter = self.settings.collect.jitter_seconds
        extra = random.uniform(0, jitter) if jitter else 0.0
        orgs = {o.name: o for o in self.settings.orgs}
        base = self.settings.interval(orgs[org]) if org in orgs else self.settings.collect.interval_seconds
        return base + extra

    def claimed(self, orgs: Iterable[str], now: datetime) -> None:
        """Orgs taken over: due one interval after their last finished run, or now."""
        for org in orgs:
            with self.engine.connect() as conn:
                last = conn.execute(
                    select(func.max(s.collector_runs.c.finished_at)).where(s.collector_runs.c.org == org)
                ).scalar()
            self._due[org] = last + timedelta(seconds=self.pause(org)) if last else now

    def released(self, orgs: Iterable[str]) -> None:
        """Orgs given back: no longer scheduled here."""
        for org in orgs:
            self._due.pop(org, None)

    def due(self, mine: set[str], now: datetime, *, every_org: bool) -> set[str] | None:
        """The orgs of ``mine`` due at ``now``; None when nothing is (an empty set: a cycle without org)."""
        if not mine:
            return set() if every_org and self._due.setdefault(NO_ORG, now) <= now else None
        ready = {o for o in mine if self._due.setdefault(o, now) <= now}
        return ready or None

    def done(self, orgs: set[str], finished: datetime) -> None:
        """Reschedule the orgs just collected."""
        for org in orgs or {NO_ORG}:
            self._due[org] = finished + timedelta(seconds=self.pause(org))

    def next_at(self, mine: set[str], now: datetime) -> datetime:
        """When the next of ``mine`` is due (now if one has never been scheduled)."""
        return min(self._due.get(o, now) for o in (mine or {NO_ORG}))
