"""The test session's clock: a fixed reference time, the same in every process of the session.

Tests that generate data relative to "now" would otherwise see a different hour, weekday and date
depending on when CI runs, and a detector's verdict can change with those. The suite therefore runs
as if it started at :data:`REFERENCE_NOW`: ``tests/conftest.py`` travels its own process there
with ``time_machine`` (ticking on in real seconds) and exports :data:`OFFSET_ENV` and
``tests/subprocess_clock`` on ``PYTHONPATH``, where Python's ``sitecustomize`` hook starts the same
travel in every child process (the local org, ``oauthwatch run``, the dashboard, the CLI) before
any of oauthwatch is imported. A test that builds a child's environment from scratch or filters it
passes it through :func:`subprocess_env`.

Only the clock that Python reads moves: OpenSSL still checks certificates on the real clock. The
reference therefore lies in the past (the local org's certificates, made on the travelled clock,
are valid from then on for years), and a test that makes a short-lived certificate for a TLS
server dates it by :func:`real_time`. A test that needs another moment still travels there itself.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import time_machine

# A Wednesday morning: a suite of half an hour on a loaded machine stays in the same day and week.
# Tests that hard-code dates as "the past" keep them before it; it stays in the real past.
REFERENCE_NOW = datetime(2026, 12, 2, 9, 5, tzinfo=UTC)
OFFSET_ENV = "OW_TEST_CLOCK_OFFSET"  # seconds added to the real clock; read by sitecustomize
SHIM = Path(__file__).resolve().parent / "subprocess_clock"


def real_time() -> float:
    """The machine's clock, also while this process travels."""
    if time_machine.escape_hatch.is_travelling():
        return time_machine.escape_hatch.time.time()
    return time.time()


class SharedClock:
    """``reference`` at the moment the clock is made, then real seconds: one offset for all processes."""

    def __init__(self, reference: datetime = REFERENCE_NOW) -> None:
        self.offset = reference.timestamp() - real_time()

    def now(self) -> datetime:
        """The clock's current time, as every process of the session reads it."""
        return datetime.fromtimestamp(real_time() + self.offset, tz=UTC)

    def subprocess_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) with this clock for a child process."""
        env = dict(os.environ if base is None else base)
        env[OFFSET_ENV] = repr(self.offset)
        paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(SHIM)]
        env["PYTHONPATH"] = os.pathsep.join([str(SHIM), *paths])
        return env

    def export(self) -> None:
        """Every child process this one starts from now on runs on this clock."""
        os.environ.update(self.subprocess_env())

    @contextmanager
    def travel(self) -> Iterator[None]:
        """This process on the clock."""
        with time_machine.travel(self.now(), tick=True):
            yield


SESSION_CLOCK = SharedClock()  # made when the test session imports this module (tests/conftest.py)


def subprocess_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` with the session's clock (for environments built from scratch or filtered)."""
    return SESSION_CLOCK.subprocess_env(base)
