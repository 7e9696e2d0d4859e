"""The API budget governor: how many Salesforce calls a run may still make, and why it stopped.

Salesforce counts every REST call against a rolling 24-hour org limit (``Sforce-Limit-Info:
api-usage=USED/MAX``). A monitor that eats the integrations' budget causes the outages it is
supposed to watch, so each run may spend at most ``run_budget_share`` of the daily limit and all
collection stops once the org as a whole has used ``total_budget_share`` of it. Every reading of
the header is kept (``readings``) so ``org_limits`` can store it.

Usage::

    gov = BudgetGovernor(run_share=0.10, total_share=0.50)
    gov.observe("api-usage=120/15000")   # from each response header
    gov.charge()                          # one call made
    gov.check()                           # raises BudgetExhausted(reason) when over a share
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")
_PER_APP = re.compile(r"per-app-api-usage=(\d+)/(\d+)\(appName=([^)]*)\)")


class BudgetExhausted(Exception):
    """Collection must stop for now; ``reason`` says which share or limit was reached."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LimitReading:
    """One ``Sforce-Limit-Info`` (or /limits) reading."""

    read_at: datetime
    name: str
    used: int
    max: int

    @property
    def remaining(self) -> int:
        return max(0, self.max - self.used)


def parse_limit_info(header: str, *, at: datetime | None = None) -> list[LimitReading]:
    """Readings in one ``Sforce-Limit-Info`` header value (org-wide and per-app)."""
    now = at or datetime.now(UTC)
    out: list[LimitReading] = []
    m = _USAGE.search(header)
    if m and not header[: m.start()].endswith("per-app-"):
        out.append(LimitReading(now, "DailyApiRequests", int(m.group(1)), int(m.group(2))))
    for used, total, app in _PER_APP.findall(header):
        out.append(LimitReading(now, f"DailyApiRequests.{app}", int(used), int(total)))
    return out


@dataclass
class BudgetGovernor:
    """Counts this run's calls, tracks the org's usage and says when to stop (thread-safe)."""

    run_share: float = 0.10
    total_share: float = 0.50
    daily_limit: int | None = None
    used: int | None = None
    calls: int = 0
    stopped: str | None = None
    readings: list[LimitReading] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def observe(self, header: str | None) -> None:
        """Take the usage from a response's ``Sforce-Limit-Info`` header."""
        if not header:
            return
        readings = parse_limit_info(header)
        with self._lock:
            for r in readings:
                if r.name == "DailyApiRequests":
                    self.used, self.daily_limit = r.used, r.max
            self.readings.extend(readings)
            if len(self.readings) > 1000:  # keep the newest; one per call is plenty
                del self.readings[:-1000]

    def observe_limits(self, used: int, maximum: int) -> None:
        """Take the usage from ``/limits`` (DailyApiRequests Max/Remaining)."""
        with self._lock:
            self.used, self.daily_limit = used, maximum

    def charge(self, n: int = 1) -> None:
        """Count ``n`` calls made by this run."""
        with self._lock:
            self.calls += n

    def limit_exceeded(self, message: str = "") -> None:
        """Salesforce answered REQUEST_LIMIT_EXCEEDED: stop everything and remember why."""
        self.stopped = f"Salesforce refused the call: REQUEST_LIMIT_EXCEEDED {message}".strip()
        raise BudgetExhausted(self.stopped)

    def check(self) -> None:
        """Raise :class:`BudgetExhausted` if one more call would break a share."""
        if self.stopped:
            raise BudgetExhausted(self.stopped)
        if not self.daily_limit:
            return
        run_cap = int(self.daily_limit * self.run_share)
        if self.calls >= run_cap:
            self.stopped = (
                f"run budget reached: {self.calls} calls = {self.run_share:.0%} of the daily limit "
                f"{self.daily_limit} (collect.run_budget_share)"
            )
            raise BudgetExhausted(self.stopped)
        total_cap = int(self.daily_limit * self.total_share)
        if self.used is not None and self.used >= total_cap:
            self.stopped = (
                f"org API usage {self.used}/{self.daily_limit} is at or above "
                f"{self.total_share:.0%} of the daily limit (collect.total_budget_share); "
                "collection pauses until usage falls"
            )
            raise BudgetExhausted(self.stopped)

    def summary(self) -> dict[str, int | str | None]:
        """What the ledger and ``status`` show."""
        return {
            "calls": self.calls,
            "used": self.used,
            "daily_limit": self.daily_limit,
            "stopped": self.stopped,
        }
