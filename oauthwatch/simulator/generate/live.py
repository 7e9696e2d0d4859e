"""Live mode: the org keeps producing events as its clock moves on.

``Live.tick(now_ms)`` writes every event between the previous tick and ``now_ms`` with the same
hourly model as the history (so a live org looks like its past), keeps OauthToken use counts and
User.LastLoginDate in step, applies scenarios whose time has come, continues running incidents, and
publishes the Event Log Files that became due. The cursor lives in ``_State`` (``live_cursor``), so a
tick for a time already covered does nothing. ``speed`` multiplies the traffic rate (a demo may
want busier hours); with ``speed != 1`` the events get their own Id space.

Event Log File lag: the live ticker switches the org to ``eventlog.DEMO_LAG`` (files 1–3 minutes
after their hour, daily files minutes after midnight UTC) unless ``elf_lag`` is given, e.g.
``eventlog.REAL_LAG`` for Salesforce's 3–6 hours.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from oauthwatch.simulator.data import eventlog, orgdb
from oauthwatch.simulator.data.clock import DAY_MS, HOUR_MS, get_state, hour_floor, org_now_ms, set_state
from oauthwatch.simulator.generate.build import plan_from_params, read_params
from oauthwatch.simulator.generate.logins import (
    HISTORY,
    LIVE_SCALED,
    apply_grants,
    is_licensed,
    record_login,
    write_events,
)
from oauthwatch.simulator.generate.traffic import Traffic

__all__ = ["Live", "record_login"]
log = logging.getLogger(__name__)
CURSOR_KEY = "live_cursor"
MAX_CATCH_UP_MS = 31 * DAY_MS
ELF_LOOKBACK_MS = 4 * DAY_MS


class Live:
    """Generates the org's events up to the org clock, every ~2 s when running."""

    def __init__(
        self,
        org: Path | sqlite3.Connection,
        *,
        seed: int | None = None,
        speed: float = 1.0,
        interval_s: float = 2.0,
        elf_lag: eventlog.Lag | None = None,
    ) -> None:
        if isinstance(org, sqlite3.Connection):
            self.conn, self._owned = org, False
        else:
            path = orgdb.db_path(Path(org))
            if not path.exists():
                raise LookupError(f"no org database in {org}: build it first (oauthwatch simulate does)")
            self.conn, self._owned = orgdb.connect(path), True
        params = read_params(self.conn)
        if params is None:
            raise LookupError("the org database was not built by build_org: no build parameters")
        if seed is not None and seed != params["seed"]:
            raise ValueError(f"the org was built with seed {params['seed']}, not {seed}")
        self.params = params
        self.seed = params["seed"]
        self.speed = speed
        self.interval_s = interval_s
        self.plan = plan_from_params(params)
        self.traffic = Traffic(self.plan)
        self.licensed = is_licensed(self.conn)
        eventlog.set_lag(self.conn, elf_lag or eventlog.DEMO_LAG)
        self.conn.commit()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- one step ------------------------------------------------------------------------------
    def tick(self, now_ms: int | None = None) -> int:
        """Write everything that happened after the last tick up to ``now_ms``; returns logins written."""
        from oauthwatch.simulator.generate import scenarios

        conn = self.conn
        now = org_now_ms(conn) if now_ms is None else int(now_ms)
        cursor = int(get_state(conn, CURSOR_KEY, str(self.params["end_ms"])) or 0)
        if now <= cursor:
            return 0
        cursor = max(cursor, now - MAX_CATCH_UP_MS)
        scenarios.apply_due(conn, now, plan=self.plan)
        suppressed = scenarios.suppressed_windows(conn)
        written = 0
        hour = hour_floor(cursor)
        last_login: dict[str, int] = {}
        while hour <= now:
            scaled = self.speed != 1.0
            events = self.traffic.hour(hour, scale=self.speed, salt=7 if scaled else 0)
            lo = _first_after(events, cursor)
            hi = _first_after(events, now)
            if lo < hi:
                chunk = list(events[lo:hi])
                if suppressed:
                    chunk = [e if not _hidden(e, self.plan, suppressed) else None for e in chunk]  # type: ignore[misc]
                rows = self._write(chunk, hour, LIVE_SCALED if scaled else HISTORY, lo)
                written += len(rows)
                for r in rows:
                    if r[8] == "Success":
                        last_login[r[1]] = r[2]
            hour += HOUR_MS
        written += scenarios.continue_active(conn, cursor, now, plan=self.plan)
        conn.executemany(
            'UPDATE "User" SET LastLoginDate = MAX(COALESCE(LastLoginDate, 0), ?) WHERE Id = ?',
            [(t, u) for u, t in last_login.items()],
        )
        eventlog.create_due_files(
            conn,
            since_ms=min(now - ELF_LOOKBACK_MS, cursor - DAY_MS),
            now_ms=now,
            seed=self.seed,
            not_before_ms=cursor,
        )
        eventlog.expire_files(conn, now)  # 30 days with Event Monitoring, one day without
        set_state(conn, CURSOR_KEY, str(now))
        conn.commit()
        return written

    def _write(self, chunk: list, hour: int, reserved: str, first: int) -> list[tuple]:
        """Write a contiguous run of an hour's events (None = suppressed, keeps positions)."""
        rows: list[tuple] = []
        run: list[tuple] = []
        start = first
        for i, e in enumerate([*chunk, None]):
            if e is None:
                if run:
                    rows += write_events(
                        self.conn, self.plan, run, hour, reserved, licensed=self.licensed, first=start
                    )
                run, start = [], first + i + 1
            else:
                run.append(e)
        apply_grants(self.conn, rows)
        return rows

    # --- running -------------------------------------------------------------------------------
    def run_forever(self, stop_event: threading.Event) -> None:
        """Tick every ``interval_s`` seconds until ``stop_event`` is set (errors are logged, not fatal)."""
        while not stop_event.is_set():
            try:
                self.tick()
            except sqlite3.OperationalError as exc:  # busy: the server holds the write lock; retry next tick
                log.warning("live tick skipped: %s", exc)
            stop_event.wait(self.interval_s)

    def start(self) -> None:
        """Run in a daemon thread with its own connection (the server keeps its own)."""
        if self._thread is not None:
            return
        if not self._owned:
            raise RuntimeError("start() needs a Live built from a state folder (it owns its connection)")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.run_forever, args=(self._stop,), name="oauthwatch-live", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self._owned:
            self.conn.close()


def _first_after(events: list[tuple], t: int) -> int:
    """Index of the first event strictly after ``t`` (events are time-ordered)."""
    lo, hi = 0, len(events)
    while lo < hi:
        mid = (lo + hi) // 2
        if events[mid][0] <= t:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _hidden(event: tuple, plan: object, windows: list[tuple[str, int, int]]) -> bool:
    app = event[2]
    if app < 0:
        return False
    label = plan.apps[app].label  # type: ignore[attr-defined]
    return any(label == w_app and start <= event[0] < end for w_app, start, end in windows)
