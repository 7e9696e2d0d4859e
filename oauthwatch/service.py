"""The long-running service behind ``oauthwatch run``: collect, detect, alert, digest, in one process.

One cycle = collect every enabled org (``collectors.run.runner.collect_once``), run the detectors
(``oauthwatch.detect.run_all``), deliver pending alerts (``notify.alert_delivery.deliver_pending``).
Cycles repeat every ``collect.interval_seconds`` plus a random jitter. Between cycles the service
wakes every few seconds to write its heartbeat and to send the daily digest once the configured
local time has passed (once per org and day, recorded in the store).

Shutdown is graceful: SIGTERM/SIGINT set a stop :class:`threading.Event` that is handed to the
collectors, which finish the batch they are writing (rows and checkpoint commit together) and
return; the service then records ``stopped`` in ``service_heartbeats`` and exits. A failing stage
is logged and shown in the heartbeat, and never kills the service.

Usage::

    from oauthwatch.service import Service
    Service(settings, engine).run()          # until stop is set
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from oauthwatch.secrets import redact
from oauthwatch.store import schema as s
from oauthwatch.store.writes import upsert

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from oauthwatch.config import Settings

log = logging.getLogger(__name__)

COMPONENT = "service"
TICK_SECONDS = 5.0
DIGEST_RETRY = timedelta(minutes=5)
STALE_AFTER = timedelta(seconds=60)


def _collect(settings: Settings, engine: Engine, stop: threading.Event) -> Any:
    from collectors.run.runner import collect_once

    return collect_once(settings, stop=stop, engine=engine)


def _detect(settings: Settings, engine: Engine, stop: threading.Event) -> Any:
    from oauthwatch.detect import run_all

    return run_all(engine, settings)


def _hunt(settings: Settings, engine: Engine, stop: threading.Event) -> Any:
    from oauthwatch.hunt.lists import match_saved_lists

    return match_saved_lists(engine, settings)


def _deliver(settings: Settings, engine: Engine, stop: threading.Event) -> Any:
    from oauthwatch.notify.alert_delivery import deliver_pending

    return deliver_pending(engine, settings)


Stage = Callable[["Settings", "Engine", threading.Event], Any]
DEFAULT_STAGES: tuple[tuple[str, Stage], ...] = (
    ("collect", _collect),
    ("detect", _detect),
    ("hunt", _hunt),
    ("deliver", _deliver),
)


def summarize(result: Any) -> Any:
    """A small JSON-safe summary of a stage's return value, for the heartbeat."""
    if result is None or isinstance(result, bool | int | float | str):
        return result
    if isinstance(result, list | tuple):
        items = [summarize(x) for x in result[:50]]
        return {"count": len(result), "items": items}
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(result):
            v = getattr(result, f.name)
            if isinstance(v, bool | int | float | str) or v is None:
                out[f.name] = v
            elif isinstance(v, datetime):
                out[f.name] = v.isoformat()
            elif isinstance(v, list | tuple | dict | set | frozenset):
                out[f.name] = len(v)
        return out
    if isinstance(result, dict):
        return {str(k): v for k, v in result.items() if isinstance(v, bool | int | float | str) or v is None}
    return redact(str(result))[:500]


@dataclass
class ServiceState:
    """What the heartbeat row's ``detail`` shows about the running service."""

    cycles: int = 0
    last_cycle_started: datetime | None = None
    last_cycle_finished: datetime | None = None
    next_cycle_at: datetime | None = None
    stages: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    digests: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        iso = lambda v: v.isoformat() if v else None  # noqa: E731 - local one-liner
        return {
            "cycles": self.cycles,
            "last_cycle_started": iso(self.last_cycle_started),
            "last_cycle_finished": iso(self.last_cycle_finished),
            "next_cycle_at": iso(self.next_cycle_at),
            "stages": self.stages,
            "errors": self.errors,
            "digests": self.digests[-20:],
        }


class Service:
    """The collect → detect → deliver loop with digests and heartbeats; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        stop: threading.Event | None = None,
        stages: tuple[tuple[str, Stage], ...] = DEFAULT_STAGES,
        digests: bool = True,
        max_cycles: int | None = None,
        pause_seconds: float | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.stop = stop or threading.Event()
        self.stages = stages
        self.digests = digests
        self.max_cycles = max_cycles
        self.pause_seconds = pause_seconds
        self.clock = clock
        self.state = ServiceState()
        self.started_at = clock()
        self._digest_done: date | None = None
        self._digest_retry_at: datetime | None = None

    # -- heartbeat ---------------------------------------------------------------------------
    def beat(self, state: str) -> None:
        """Write this process's heartbeat row (component ``service``)."""
        row = {
            "component": COMPONENT,
            "pid": os.getpid(),
            "started_at": self.started_at,
            "beat_at": self.clock(),
            "state": state,
            "detail": self.state.as_json(),
        }
        try:
            with self.engine.begin() as conn:
                upsert(conn, s.service_heartbeats, [row], key=["component"], update=None)
        except Exception as exc:  # noqa: BLE001 - a missed heartbeat must not stop collection
            log.warning("heartbeat not written: %s", redact(str(exc)))

    # -- work --------------------------------------------------------------------------------
    def cycle(self) -> None:
        """One collect → detect → deliver pass; each stage's failure is recorded, not raised."""
        self.state.last_cycle_started = self.clock()
        for name, stage in self.stages:
            if self.stop.is_set():
                return  # an interrupted cycle is not counted as done
            try:
                self.state.stages[name] = summarize(stage(self.settings, self.engine, self.stop))
                self.state.errors.pop(name, None)
            except Exception as exc:  # noqa: BLE001 - one failing stage must not kill the service
                msg = redact(f"{type(exc).__name__}: {exc}")[:1000]
                self.state.errors[name] = msg
                log.error("%s failed: %s", name, msg)
        self.state.cycles += 1
        self.state.last_cycle_finished = self.clock()

    def maybe_send_digests(self) -> None:
        """Send the due digests once per local day (retrying after failures)."""
        if not self.digests:
            return
        from oauthwatch.notify.digest_send import digest_due, send_due_digests

        now = self.clock()
        day = digest_due(self.settings, now)
        if day is None or day == self._digest_done:
            return
        if self._digest_retry_at and now < self._digest_retry_at:
            return
        try:
            outcomes = send_due_digests(self.engine, self.settings, now)
        except Exception as exc:  # noqa: BLE001 - retried later; the service keeps collecting
            self.state.errors["digest"] = redact(f"{type(exc).__name__}: {exc}")[:1000]
            log.error("digest failed: %s", self.state.errors["digest"])
            self._digest_retry_at = now + DIGEST_RETRY
            return
        for o in outcomes:
            self.state.digests.append(
                {"org": o.org, "day": o.day.isoformat(), "status": o.status, "error": o.error}
            )
        if any(o.status == "failed" for o in outcomes):
            self.state.errors["digest"] = "; ".join(o.error or "" for o in outcomes if o.status == "failed")
            self._digest_retry_at = now + DIGEST_RETRY
        else:
            self.state.errors.pop("digest", None)
            self._digest_done = day
            self._digest_retry_at = None

    def _pause(self) -> float:
        if self.pause_seconds is not None:
            return self.pause_seconds
        c = self.settings.collect
        return c.interval_seconds + (random.uniform(0, c.jitter_seconds) if c.jitter_seconds else 0.0)

    def _beat_loop(self, done: threading.Event) -> None:
        while not done.wait(TICK_SECONDS):
            self.beat("stopping" if self.stop.is_set() else "running")

    def run(self) -> None:
        """Cycle until ``stop`` is set (or ``max_cycles`` ran), then record ``stopped``.

        A background thread beats every few seconds, so a long backfill still shows as alive.
        """
        log.info(
            "service started (pid %d), collecting every %ss",
            os.getpid(),
            self.settings.collect.interval_seconds,
        )
        self.beat("running")
        done = threading.Event()
        beater = threading.Thread(target=self._beat_loop, args=(done,), name="heartbeat", daemon=True)
        beater.start()
        try:
            while not self.stop.is_set():
                self.cycle()
                self.maybe_send_digests()
                if self.max_cycles is not None and self.state.cycles >= self.max_cycles:
                    break
                due = self.clock() + timedelta(seconds=self._pause())
                self.state.next_cycle_at = due
                while not self.stop.is_set() and self.clock() < due:
                    left = (due - self.clock()).total_seconds()
                    if self.stop.wait(min(TICK_SECONDS, max(0.0, left))):
                        break
                    self.maybe_send_digests()
        finally:
            done.set()
            beater.join(timeout=TICK_SECONDS * 2)
            self.state.next_cycle_at = None
            self.beat("stopped")
            log.info("service stopped after %d cycle(s)", self.state.cycles)


def heartbeats(engine: Engine) -> list[dict[str, Any]]:
    """Every heartbeat row, for ``oauthwatch status`` and the dashboard's Collection page."""
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(s.service_heartbeats)).mappings()]


def service_health(row: dict[str, Any], now: datetime | None = None) -> str:
    """``running``, ``stopping``, ``stopped`` or ``stale`` (no beat for a minute: the process died)."""
    now = now or datetime.now(UTC)
    if row["state"] == "stopped":
        return "stopped"
    return str(row["state"]) if now - row["beat_at"] <= STALE_AFTER else "stale"
