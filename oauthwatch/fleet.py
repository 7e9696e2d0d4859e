"""One worker of the fleet: which orgs this ``oauthwatch run`` process holds (docs/deploy.md, "Workers").

Every worker runs the same loop over the same configuration; what differs is the set of orgs it
holds. :class:`Fleet` keeps that set in the store (:mod:`oauthwatch.store.leases`):

- :meth:`Fleet.renew` (every beat, from the heartbeat thread, also during a long collection)
  keeps this worker's row alive and extends its leases; a lease found taken away is dropped;
- :meth:`Fleet.balance` (between passes, from the service loop, so never in the middle of
  collecting an org) gives back what this worker holds beyond its share and claims free or expired
  leases up to it. The share is ``ceil(orgs / live workers)``: a new worker makes the others give
  back, a dead one stops beating and its orgs are claimed once its leases expire.

On SQLite there is one worker: the store is a local file that one writer at a time may change, so
a second ``oauthwatch run`` gets :class:`FleetError` at start. An OS lock on a file next to the
database says so (it goes away with the process, even after SIGKILL, so a restart never waits).
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import secrets
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING

from oauthwatch.errors import ConfigError
from oauthwatch.store import leases

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from oauthwatch.config import Settings


class FleetError(ConfigError):
    """A worker that must not start (a second one on SQLite); the message says what to do."""


def worker_id() -> str:
    """``host:pid:random``: unique per process start, readable in ``status``."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(3)}"


def _sqlite_file(engine: Engine) -> Path | None:
    if engine.dialect.name != "sqlite":
        return None
    db = engine.url.database
    return Path(db) if db and db != ":memory:" else None


class Fleet:
    """This worker's leases; see the module docstring."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        worker: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.orgs = [o.name for o in settings.orgs if o.enabled]
        self.ttl = timedelta(seconds=settings.lease_seconds())
        self.worker = worker or worker_id()
        self.clock = clock
        self.started_at = clock()
        self.held: set[str] = set()
        self.valid_until = self.started_at  # leases are trusted until then (last renewal + most of ttl)
        self._lock_file: IO[str] | None = None
        self._mutex = threading.RLock()  # the heartbeat thread renews while the loop balances

    @property
    def tag(self) -> str:
        """``pid:random``, the part of the worker id that is unique on its host (heartbeat key)."""
        return ":".join(self.worker.rsplit(":", 2)[-2:])

    @property
    def single(self) -> bool:
        """True on SQLite, where this worker holds every org."""
        return self.engine.dialect.name == "sqlite"

    def start(self) -> None:
        """Register this worker (after taking the SQLite lock, when the store is SQLite)."""
        path = _sqlite_file(self.engine)
        if path is not None:
            self._lock_sqlite(path)
        with self.engine.begin() as conn:
            leases.ensure_rows(conn, self.orgs)
        self._beat("running")

    def _lock_sqlite(self, db: Path) -> None:
        lock = db.with_name(db.name + ".worker-lock")
        fh = lock.open("a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            other = fh.read().strip() or "another process"
            fh.close()
            raise FleetError(
                f"the SQLite store {db} is already used by `oauthwatch run` ({other}); SQLite allows one "
                "worker: stop that one first, or move the store to PostgreSQL ([store] url = "
                '"postgresql+psycopg://…") to run several workers'
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"worker {self.worker}\n")
        fh.flush()
        self._lock_file = fh

    def _beat(self, state: str) -> None:
        with self.engine.begin() as conn:
            leases.beat(
                conn,
                self.worker,
                host=socket.gethostname()[:255],
                pid=os.getpid(),
                started_at=self.started_at,
                now=self.clock(),
                state=state,
            )

    def renew(self, state: str = "running") -> None:
        """Beat and extend this worker's leases; forget those another worker took meanwhile.

        A ``stopping`` worker keeps its leases (it finishes its write) but no longer counts as a
        live worker, so the others already take its share into account."""
        with self._mutex:
            now = self.clock()
            self._beat(state)
            with self.engine.begin() as conn:
                self.held &= leases.renew(conn, self.worker, self.held, now, self.ttl)
            self.valid_until = now + self.ttl * 0.75

    def holds(self, org: str) -> bool:
        """Whether this worker may still work on ``org``: it holds the lease and renewed it recently
        enough that no other worker can have claimed it (a stalled renewal stops work before the
        lease runs out, not after). On SQLite, where it is the only worker, holding is enough."""
        if self.single:
            return org in self.held  # no other worker can take it: a slow renewal costs nothing
        return org in self.held and self.clock() < self.valid_until

    def share(self, live: int) -> int:
        """How many orgs this worker should hold when ``live`` workers share them."""
        if self.single:
            return len(self.orgs)
        return math.ceil(len(self.orgs) / max(1, live))

    def balance(self) -> tuple[list[str], list[str]]:
        """Give back the surplus, claim up to the share; returns (claimed, released)."""
        with self._mutex:
            self.renew()
            return self._rebalance(self.clock())

    def _rebalance(self, now: datetime) -> tuple[list[str], list[str]]:
        with self.engine.begin() as conn:
            live = leases.live_workers(conn, now, self.ttl)
            want = self.share(len(live))
            released: list[str] = []
            if len(self.held) > want:
                released = sorted(self.held)[want:]
                leases.release(conn, self.worker, released)
                self.held -= set(released)
            claimed = leases.claim(
                conn,
                self.worker,
                [o for o in self.orgs if o not in self.held],
                want - len(self.held),
                now,
                self.ttl,
            )
            self.held |= set(claimed)
        return claimed, released

    def stop(self) -> None:
        """Give every lease back and record ``stopped`` (a clean shutdown hands over at once)."""
        try:
            with self.engine.begin() as conn:
                leases.release(conn, self.worker, self.held)
            self.held = set()
            self._beat("stopped")
        finally:
            if self._lock_file is not None:
                with contextlib.suppress(OSError):
                    fcntl.flock(self._lock_file, fcntl.LOCK_UN)
                self._lock_file.close()
                self._lock_file = None
