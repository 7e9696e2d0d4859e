"""What every detector shares: the Finding it returns, its metadata, and the context it runs in.

A detector is a pure function ``(frames, ctx) -> list[Finding]`` plus the metadata a person
triages with (id, default severity, description, numbered runbook) and its threshold defaults,
which ``[detect.<id>]`` in the configuration overrides. Detectors never touch the store: the
frames come from :mod:`oauthwatch.detect.data`, and the alert lifecycle is
:mod:`oauthwatch.detect.lifecycle`'s job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from oauthwatch.detect.data import Frames
    from oauthwatch.detect.needs import Needs

Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "low", "medium", "high", "critical")
SubjectType = Literal["org", "app", "user", "ip", "network", "country", "source", "grant"]


def severity_rank(severity: str) -> int:
    """0 for info … 4 for critical (unknown strings rank as info)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


@dataclass(frozen=True)
class Finding:
    """One thing a detector saw, explained for a person and keyed for the alert lifecycle.

    ``evidence`` is a flat dict of plain values (str, int, float, bool) that the dashboard, the
    digest and the alert email render as a two-column table; ``dedupe_key`` is stable across runs
    for the same condition, so repeated sightings update one alert instead of opening new ones.
    """

    detector: str
    severity: Severity
    org: str
    subject_type: SubjectType
    subject: str
    title: str
    explanation: str
    evidence: dict[str, Any]
    runbook: tuple[str, ...]
    dedupe_key: str
    event_start: datetime | None = None
    event_end: datetime | None = None


@dataclass(frozen=True)
class Context:
    """Where and when a detector runs: the org, the evaluation time and its thresholds."""

    org: str
    now: datetime
    window: timedelta
    thresholds: Mapping[str, Any]
    covered: bool = True  # the store holds every login of the window (else: never judge a drop)

    @property
    def window_start(self) -> datetime:
        """Start of the recent window the detectors judge (``now - window``)."""
        return self.now - self.window

    def get(self, key: str) -> Any:
        """A threshold (the configured override, else the detector's default)."""
        return self.thresholds[key]


DetectFn = Callable[["Frames", Context], list[Finding]]


@dataclass(frozen=True)
class Detector:
    """A detector's metadata and logic.

    ``clears_after``: how long after its last sighting an open alert resolves itself when the
    detector no longer reports it. Zero for states (a posture setting, a lagging source) that
    clear as soon as they are fixed; a day for events (a spray, a new country) that stop being
    "recent" on their own. ``replayable``: False for detectors that judge the current state
    (posture, collection health), which a backtest over history cannot reconstruct. ``needs``:
    the data it reads, so a cycle loads only what its detectors declare.
    """

    id: str
    title: str
    severity: Severity
    description: str
    runbook: tuple[str, ...]
    fn: DetectFn
    defaults: Mapping[str, Any] = field(default_factory=dict)
    clears_after: timedelta = timedelta(0)
    replayable: bool = True
    needs: Needs | None = None  # what it reads (oauthwatch.detect.needs); None: logins and state

    def thresholds(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults updated with the configured overrides; unknown keys are a configuration error."""
        from oauthwatch.detect.settings_check import closest, coerce_threshold
        from oauthwatch.errors import ConfigError

        merged = dict(self.defaults)
        for key, value in (overrides or {}).items():
            if key not in self.defaults:
                known = ", ".join(sorted(self.defaults)) or "none"
                raise ConfigError(
                    f"[detect.{self.id}] {key!r} is not a known threshold{closest(key, self.defaults)} (known: {known})"
                )
            merged[key] = coerce_threshold(self.id, key, self.defaults[key], value)
        return merged

    def run(self, frames: Frames, ctx: Context) -> list[Finding]:
        """Run the detector (its pure function)."""
        return self.fn(frames, ctx)


def fmt_int(n: float) -> str:
    """1234 -> '1,234' (explanations speak in whole, grouped numbers)."""
    return f"{round(n):,}"


def fmt_time(ts: datetime) -> str:
    """A UTC time as people read it: '2026-03-02 14:00 UTC'."""
    return ts.strftime("%Y-%m-%d %H:%M UTC")
