"""The long-running service behind ``oauthwatch run``: collect, detect, alert, digest, in one process.

One cycle = collect the orgs that are due (``collectors.run.runner.collect_once``), run their
detectors (``oauthwatch.detect.run_all``) and saved hunts, deliver pending alerts
(``notify.alert_delivery.deliver_pending``), apply retention (``store.retention.prune``: small
batches, one pruner per store, a no-op once the day's prune is done). Each org is due every ``collect.interval_seconds``
(or its own ``interval_seconds``) plus a random jitter. Between cycles the service wakes every few
seconds to write its heartbeat and to send the daily digest once the configured local time has
passed (once per org and day, recorded in the store).

With a :class:`oauthwatch.fleet.Fleet` the service is one worker among several: it works only on
the orgs it holds a lease on, balances its share at each wake-up, and resumes a claimed org's
schedule from the store (its last run), so a takeover keeps the org's interval.

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
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select

from oauthwatch.secrets import redact
from oauthwatch.service_schedule import Schedule
from oauthwatch.store import schema as s
from oauthwatch.store.writes import upsert

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from oauthwatch.config import Settings
    from oauthwatch.fleet import Fleet

log = logging.getLogger(__name__)

COMPONENT = "service"
TICK_SECONDS = 5.0
DIGEST_RETRY = timedelta(minutes=5)
STALE_AFTER = timedelta(seconds=60)


class LeaseStop(threading.Event):
    """The stop the stages get: the service's, and per org (:meth:`for_org`) one that also fires
    when this worker no longer holds the org's lease, so a collection stops at its next page
    rather than overlap with the worker that took the org over."""

    def __init__(self, base: threading.Event, fleet: Fleet | None = None, org: str | None = None) -> None:
        super().__init__()
        self.base, self.fleet, self.org = base, fleet, org

    def is_set(self) -> bool:
        lost = self.fleet is not None and self.org is not None and not self.fleet.holds(self.org)
        return self.base.is_set() or lost

    def wait(self, timeout: float | None = None) -> bool:
        return self.base.wait(timeout)

    def set(self) -> None:
        self.base.set()

    def for_org(self, org: str) -> threading.Event:
        """The stop of one org's collection."""
        return LeaseStop(self.base, self.fleet, org) if self.fleet is not None else self.base


def _collect(settings: Settings, engine: Engine, stop: threading.Event) -> Any:
    from collectors.run.runner import collect_once

    per_org = stop.for_org if isinstance(stop, LeaseStop) else None
    return collect_once(settings, stop=stop, engine=engine, stop_for=per_org)


def _detect(settings: Settings, engine: Engine, stop: threading.Event) -> Any:
    from oauthwatch.detect import run_all

    return run_all(engine, settings)


def _hunt(settings: Settings, engine: Engine, stop: threading.Event) -> Any:
    from oauthwatch.hunt.lists import match_saved_lists

    return match_saved_lists(engine, settings, orgs={o.name for o in settings.orgs} or None)


def _deliver(settings: Settings, engine: Engine, stop: threading.Event) -> Any:
    from oauthwatch.notify.alert_delivery import deliver_pending

    return deliver_pending(engine, settings)


def _prune(settings: Settings, engine: Engine, stop: threading.Event) -> Any:
    """Retention, in small batches between the other stages' work (oauthwatch.store.retention)."""
    from oauthwatch.store.retention import Policy, prune

    r = settings.store.retention
    policy = Policy(raw_days=r.raw_days, rollup_days=r.rollup_days, batch_rows=r.batch_rows)
    return prune(engine, policy, datetime.now(UTC), stop=stop) if r.enabled else "disabled"


Stage = Callable[["Settings", "Engine", threading.Event], Any]


class Observer(Protocol):
    """Told what each stage returned and how long it took (the metrics: oauthwatch.service_metrics)."""

    def on_stage(self, name: str, result: Any, seconds: float, failed: bool) -> None: ...

    def on_cycle(self, seconds: float) -> None: ...


DEFAULT_STAGES: tuple[tuple[str, Stage], ...] = (
    ("collect", _collect),
    ("detect", _detect),
    ("hunt", _hunt),
    ("deliver", _deliver),
    ("prune", _prune),
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
    worker: str | None = None
    held: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        iso = lambda v: v.isoformat() if v else None  # noqa: E731 - local one-liner
        return {
            "worker": self.worker,
            "held": self.held,
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
        fleet: Fleet | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.stop = stop or threading.Event()
        self.stages = stages
        self.digests = digests
        self.max_cycles = max_cycles
        self.pause_seconds = pause_seconds
        self.clock = clock
        self.observer = observer
        self.state = ServiceState()
        self.started_at = clock()
        self.fleet = fleet
        self._stage_stop = LeaseStop(self.stop, fleet)
        self.schedule = Schedule(settings, engine, pause_seconds=pause_seconds)
        self.tick = min(TICK_SECONDS, settings.lease_seconds() / 3) if fleet else TICK_SECONDS
        self._digest_done: dict[str, date] = {}
        self._digest_retry_at: datetime | None = None
        if fleet is not None:
            self.state.worker = fleet.worker

    # -- heartbeat ---------------------------------------------------------------------------
    def beat(self, state: str) -> None:
        """Write this process's heartbeat row (component ``service``)."""
        if self.fleet is not None and state != "stopped":
            try:
                self.fleet.renew(state)
            except Exception as exc:  # noqa: BLE001 - retried at the next beat, before the lease runs out
                log.warning("leases not renewed: %s", redact(str(exc)))
            self.state.held = sorted(self.fleet.held)
        row = {
            "component": COMPONENT
            if self.fleet is None or self.fleet.single
            else f"{COMPONENT}@{self.fleet.tag}",
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
    def cycle(self, orgs: set[str] | None = None) -> None:
        """One collect → detect → deliver pass over ``orgs`` (default: every configured org); each
        stage's failure is recorded, not raised."""
        self.state.last_cycle_started = self.clock()
        settings = self.settings if orgs is None else self.settings.only(orgs)
        cycle_t0 = time.monotonic()
        for name, stage in self.stages:
            if self.stop.is_set():
                return  # an interrupted cycle is not counted as done
            t0, result, failed = time.monotonic(), None, False
            try:
                result = stage(settings, self.engine, self._stage_stop)
                self.state.stages[name] = summarize(result)
                self.state.errors.pop(name, None)
            except Exception as exc:  # noqa: BLE001 - one failing stage must not kill the service
                msg = redact(f"{type(exc).__name__}: {exc}")[:1000]
                self.state.errors[name] = msg
                failed = True
                log.error("%s failed: %s", name, msg)
            if self.observer is not None:
                self.observer.on_stage(name, result, time.monotonic() - t0, failed)
        self.state.cycles += 1
        self.state.last_cycle_finished = self.clock()
        if self.observer is not None:
            self.observer.on_cycle(time.monotonic() - cycle_t0)

    def maybe_send_digests(self) -> None:
        """Send the due digests of the orgs this worker holds, once per local day (retrying after failures)."""
        if not self.digests:
            return
        from oauthwatch.notify.digest_send import digest_due, send_due_digests

        now = self.clock()
        day = digest_due(self.settings, now)
        if day is None:
            return
        mine = {o.name for o in self.settings.selected_orgs()}
        if self.fleet is not None:
            mine &= self.fleet.held
        todo = {o for o in mine if self._digest_done.get(o) != day}
        if not todo or (self._digest_retry_at and now < self._digest_retry_at):
            return
        try:
            outcomes = send_due_digests(self.engine, self.settings.only(todo), now)
        except Exception as exc:  # noqa: BLE001 - retried later; the service keeps collecting
            self.state.errors["digest"] = redact(f"{type(exc).__name__}: {exc}")[:1000]
            log.error("digest failed: %s", self.state.errors["digest"])
            self._digest_retry_at = now + DIGEST_RETRY
            return
        for o in outcomes:
            self.state.digests.append(
                {"org": o.org, "day": o.day.isoformat(), "status": o.status, "error": o.error}
            )
        failed = {o.org for o in outcomes if o.status == "failed"}
        self._digest_done.update({o: day for o in todo - failed})
        if failed:
            self.state.errors["digest"] = "; ".join(o.error or "" for o in outcomes if o.status == "failed")
            self._digest_retry_at = now + DIGEST_RETRY
        else:
            self.state.errors.pop("digest", None)
            self._digest_retry_at = None

    def _mine(self) -> set[str]:
        """The orgs this worker works on now: its leases after balancing, or every enabled org."""
        if self.fleet is None:
            return {o.name for o in self.settings.orgs if o.enabled}
        try:
            claimed, released = self.fleet.balance()
        except Exception as exc:  # noqa: BLE001 - the store is away: keep what is held, retry next tick
            log.warning("leases not balanced: %s", redact(str(exc)))
            claimed, released = [], []
        if claimed or released:
            log.info("worker %s claimed %s, released %s", self.fleet.worker, claimed or "-", released or "-")
        self.schedule.claimed(claimed, self.clock())
        self.schedule.released(released)
        self.state.held = sorted(self.fleet.held)
        return set(self.fleet.held)

    def _beat_loop(self, done: threading.Event) -> None:
        while not done.wait(self.tick):
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
        if self.fleet is not None:
            self.fleet.start()  # a second worker on SQLite stops here, with the reason
            self.stop.wait(self.tick)  # workers started together see each other before claiming
        self.beat("running")
        done = threading.Event()
        beater = threading.Thread(target=self._beat_loop, args=(done,), name="heartbeat", daemon=True)
        beater.start()
        try:
            while not self.stop.is_set():
                mine = self._mine()
                due = self.schedule.due(mine, self.clock(), every_org=self.fleet is None)
                if due is not None:
                    self.cycle(None if self.fleet is None and due == mine else due)
                    self.schedule.done(due, self.clock())
                self.maybe_send_digests()
                if self.max_cycles is not None and self.state.cycles >= self.max_cycles:
                    break
                wake = self.schedule.next_at(mine, self.clock())
                self.state.next_cycle_at = wake
                if self.fleet is not None:
                    wake = min(wake, self.clock() + timedelta(seconds=self.tick))  # claim promptly
                while not self.stop.is_set() and self.clock() < wake:
                    left = (wake - self.clock()).total_seconds()
                    if self.stop.wait(min(self.tick, max(0.0, left))):
                        break
                    self.maybe_send_digests()
        finally:
            done.set()
            beater.join(timeout=self.tick * 2)
            self.state.next_cycle_at = None
            if self.fleet is not None:
                self.fleet.stop()
                self.state.held = []
            self.beat("stopped")
            log.info("service stopped after %d cycle(s)", self.state.cycles)


def heartbeats(engine: Engine) -> list[dict[str, Any]]:
    """Every heartbeat row, for ``oauthwatch status`` and the dashboard's Collection page."""
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(s.service_heartbeats)).mappings()]


def own_heartbeat(rows: list[dict[str, Any]], host: str) -> dict[str, Any] | None:
    """The freshest ``run`` heartbeat of this host (a container's own worker), else of any host."""
    runs = [r for r in rows if r["component"] == COMPONENT or r["component"].startswith(COMPONENT + "@")]
    here = [r for r in runs if str((r.get("detail") or {}).get("worker") or "").startswith(host + ":")]
    return max(here or runs, key=lambda r: r["beat_at"], default=None)


def service_health(row: dict[str, Any], now: datetime | None = None) -> str:
    """``running``, ``stopping``, ``stopped`` or ``stale`` (no beat for a minute: the process died)."""
    now = now or datetime.now(UTC)
    if row["state"] == "stopped":
        return "stopped"
    return str(row["state"]) if now - row["beat_at"] <= STALE_AFTER else "stale"
