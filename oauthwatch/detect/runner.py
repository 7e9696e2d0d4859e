"""Run every detector over the store (``oauthwatch detect``) or replay them over history (``backtest``).

``run_all`` is what the collector service calls after each cycle: load per org what the enabled
detectors declare (:mod:`oauthwatch.detect.needs`, :mod:`oauthwatch.detect.load`), run
each enabled detector with its configured thresholds, record the findings as alerts, and write
new, reopened and escalated ones to the alert outbox (:mod:`oauthwatch.detect.outbox`; notify
drains and sends it, so a mail server being down never loses an alert nor fails a run). A detector that raises is reported in
``DetectReport.errors`` and its alerts are left as they were; the others still run.

``backtest`` loads each org once for the whole span, through the same declarations and loader
(raw logins for the span, rollups before it), judges every step with the replayable
detectors and counts what would have fired, without touching alert state.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from oauthwatch.detect.base import Context, Detector, Finding
from oauthwatch.detect.incidents import Incident, correlation_keys, find_incident
from oauthwatch.detect.lifecycle import LifecycleResult, apply_findings
from oauthwatch.detect.load import load_frames
from oauthwatch.detect.needs import union
from oauthwatch.detect.outbox import outbox_rows
from oauthwatch.detect.registry import all_detectors
from oauthwatch.detect.windows import plan_windows, save_marks
from oauthwatch.secrets import redact
from oauthwatch.store import schema
from oauthwatch.store.writes import utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from oauthwatch.config import Settings
    from oauthwatch.detect.data import Frames

log = logging.getLogger(__name__)


@dataclass
class DetectReport:
    """What one ``run_all`` found and did."""

    now: datetime
    orgs: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    alerts: LifecycleResult = field(default_factory=LifecycleResult)
    queued: int = 0
    windows: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # per detector, over every org and window

    @property
    def opened(self) -> int:
        """New and reopened alerts."""
        return len(self.alerts.opened) + len(self.alerts.reopened)

    @property
    def updated(self) -> int:
        """Alerts seen again."""
        return len(self.alerts.updated)

    @property
    def resolved(self) -> int:
        """Alerts that resolved themselves because their condition cleared."""
        return len(self.alerts.resolved)

    def summary(self) -> str:
        """One line for logs and the CLI."""
        text = (
            f"{len(self.findings)} finding(s) in {self.windows} window(s) of {len(self.orgs)} org(s): {self.opened} alert(s) opened, "
            f"{self.updated} updated, {len(self.alerts.escalated)} escalated, {self.resolved} resolved; "
            f"{self.queued} alert change(s) in the outbox for notification"
        )
        if self.errors:
            text += f"; {len(self.errors)} detector error(s): " + ", ".join(sorted(self.errors))
        return text


def enabled_detectors(
    settings: Settings, only: list[str] | None = None, org: str | None = None
) -> list[tuple[Detector, dict[str, Any]]]:
    """Detectors to run with their thresholds, ``org``'s own over the common ones (configuration
    errors surface here, before any run)."""
    from oauthwatch.detect.settings_check import check_detect_settings

    check_detect_settings(settings)
    out = []
    for d in all_detectors():
        if d.id in settings.detect.disabled or (only and d.id not in only):
            continue
        out.append((d, d.thresholds(settings.detector(d.id, org))))
    return out


def _orgs(engine: Engine, settings: Settings, org: str | None) -> list[str]:
    with engine.connect() as conn:
        known = [r[0] for r in conn.execute(select(schema.orgs.c.name).order_by(schema.orgs.c.name))]
    if org:
        return [org] if org in known else []
    configured = {o.name for o in settings.orgs if o.enabled}
    disabled = {o.name for o in settings.orgs if not o.enabled}
    return [o for o in known if (not configured or o in configured) and o not in disabled]


def _primary(settings: Settings, org: str) -> str:
    for o in settings.orgs:
        if o.name == org:
            return o.primary_login_source
    return "login_history"


def _self_user(settings: Settings, org: str) -> str | None:
    """oauthwatch's own integration user in ``org`` (its logins are not news about the org)."""
    for o in settings.orgs:
        if o.name == org:
            return o.username
    return None


def run_detectors(
    frames: Frames,
    detectors: list[tuple[Detector, dict[str, Any]]],
    window: timedelta,
    now: datetime,
    *,
    covered: bool = True,
    seconds: dict[str, float] | None = None,
) -> tuple[list[Finding], dict[str, str]]:
    """Run ``detectors`` over one org's frames; returns the findings and the errors by detector id.

    ``seconds``, when given, accumulates each detector's run time (the service's metrics)."""
    findings: list[Finding] = []
    errors: dict[str, str] = {}
    for d, thresholds in detectors:
        ctx = Context(org=frames.org, now=now, window=window, thresholds=thresholds, covered=covered)
        t0 = time.monotonic()
        try:
            findings.extend(d.run(frames, ctx))
        except Exception as exc:
            log.exception("detector %s failed for org %s", d.id, frames.org)
            errors[d.id] = redact(f"{type(exc).__name__}: {exc}")
        if seconds is not None:
            seconds[d.id] = seconds.get(d.id, 0.0) + time.monotonic() - t0
    return findings, errors


def run_all(
    engine: Engine,
    settings: Settings,
    *,
    now: datetime | None = None,
    org: str | None = None,
    only: list[str] | None = None,
    since: datetime | None = None,
) -> DetectReport:
    """Judge every window with new events (:mod:`oauthwatch.detect.windows`), record the alerts.

    The replayable detectors judge each planned window (the one ending ``now`` and the earlier
    ones that received events or coverage since the last run, or all from ``since``); the
    current-state detectors judge ``now`` once. ``now`` defaults to the current time (tests and
    the simulator pass their own clock).
    """
    now = now or utcnow()
    if now.tzinfo is None or (since is not None and since.tzinfo is None):
        raise ValueError("now and since must be tz-aware (UTC)")
    enabled_detectors(settings, only)  # a configuration error stops the run before any org
    window = timedelta(minutes=settings.detect.window_minutes)
    history = timedelta(days=settings.detect.history_days)
    lookback = timedelta(hours=settings.detect.lookback_hours)
    settle = timedelta(seconds=settings.collect.settle_seconds)
    report = DetectReport(now=now)
    for name in _orgs(engine, settings, org):
        detectors = enabled_detectors(settings, only, name)
        replay = [(d, t) for d, t in detectors if d.replayable]
        state = [(d, t) for d, t in detectors if not d.replayable]
        source = _primary(settings, name)
        with engine.connect() as conn:
            plan = plan_windows(
                conn, name, source=source, now=now, step=window, lookback=lookback, settle=settle, since=since
            )
        frames = load_frames(
            engine,
            name,
            start=plan.windows[0].end,
            end=now,
            window=window,
            history=history,
            plan=union((d.needs, t) for d, t in detectors),
            primary_source=source,
            self_username=_self_user(settings, name),
        )
        findings, errors = run_detectors(frames, state, window, now, seconds=report.seconds)
        for w in plan.windows:
            view = frames if w.end == now else frames.at(w.end)
            found, failed = run_detectors(
                view, replay, window, w.end, covered=w.covered, seconds=report.seconds
            )
            findings.extend(found)
            errors.update(failed)
        report.orgs.append(name)
        report.windows += len(plan.windows)
        report.findings.extend(findings)
        report.errors.update({f"{name}:{k}": v for k, v in errors.items()})
        ran = {d.id: d.clears_after for d, _ in detectors if d.id not in errors}
        with engine.begin() as conn:
            result = apply_findings(conn, findings, org=name, clears_after=ran, now=now)
            save_marks(conn, name, plan, now)
            report.queued += len(outbox_rows(result))
        report.alerts.merge(result)
    log.info("detect: %s", report.summary())
    return report


@dataclass
class BacktestRow:
    """What one detector would have fired over the replayed span."""

    detector: str
    alerts: int = 0
    findings: int = 0
    subjects: dict[str, int] = field(default_factory=dict)
    first: datetime | None = None
    errors: int = 0


@dataclass
class BacktestReport:
    """Per-detector results of a replay, plus the detectors a replay cannot judge."""

    start: datetime
    end: datetime
    step: timedelta
    steps: int = 0
    rows: dict[str, BacktestRow] = field(default_factory=dict)
    fired: list[tuple[datetime, Finding]] = field(default_factory=list)
    linked: list[tuple[datetime, Finding]] = field(default_factory=list)
    not_replayed: list[str] = field(default_factory=list)


class _Replay:
    """The alerts a replay would have opened: the live lifecycle's rules, in memory.

    A finding continues its alert while its dedupe key was seen within its detector's
    ``clears_after`` (plus one step), joins an open alert of the same incident
    (:func:`oauthwatch.detect.incidents.find_incident`), or opens a new one.
    """

    def __init__(self, clears: dict[str, timedelta], step: timedelta) -> None:
        self.clears, self.step = clears, step
        self.last_seen: dict[str, datetime] = {}
        self.owner: dict[str, Incident] = {}
        self.incidents: list[Incident] = []

    def _alive(self, inc: Incident, t: datetime) -> bool:
        return t - inc.last_seen <= self.clears.get(inc.detector, timedelta(0)) + self.step

    def opens(self, f: Finding, t: datetime) -> bool:
        """Record ``f`` seen at ``t``; True when it opens a new alert."""
        keys = correlation_keys(f.subject_type, f.subject, f.evidence)
        prev, inc = self.last_seen.get(f.dedupe_key), self.owner.get(f.dedupe_key)
        opened = False
        if prev is None or inc is None or t - prev > self.clears[f.detector] + self.step:
            live = [i for i in self.incidents if self._alive(i, t)]
            self.incidents = live
            inc = find_incident(live, keys, f.event_start, f.event_end)
            if inc is None:
                inc = Incident(len(self.owner), f.detector, set(keys), f.event_start, f.event_end, t)
                self.incidents.append(inc)
                opened = True
        inc.absorb(keys, f.event_start, f.event_end, f.detector)
        inc.last_seen = t
        self.owner[f.dedupe_key] = inc
        self.last_seen[f.dedupe_key] = t
        return opened


def backtest(
    engine: Engine,
    settings: Settings,
    *,
    start: datetime,
    end: datetime,
    step: timedelta | None = None,
    org: str | None = None,
    only: list[str] | None = None,
) -> BacktestReport:
    """Replay the detectors at every ``step`` in ``[start, end]``; count alerts that would have opened.

    An alert "would open" when a dedupe key appears that was not seen within its detector's
    ``clears_after`` (plus one step) and no open alert describes the same incident: the rules the
    live lifecycle applies (``fired`` lists the opening findings, ``linked`` the others). Alert
    state in the store is not touched.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be tz-aware (UTC)")
    step = step or timedelta(minutes=settings.detect.window_minutes)
    window = timedelta(minutes=settings.detect.window_minutes)
    history = timedelta(days=settings.detect.history_days)
    detectors = enabled_detectors(settings, only)
    report = BacktestReport(start=start, end=end, step=step)
    report.not_replayed = [d.id for d, _ in detectors if not d.replayable]
    replay = [(d, t) for d, t in detectors if d.replayable]
    clears = {d.id: d.clears_after for d, _ in replay}
    for d, _ in replay:
        report.rows[d.id] = BacktestRow(detector=d.id)
    for name in _orgs(engine, settings, org):
        full = load_frames(
            engine,
            name,
            start=start,
            end=end,
            window=window,
            history=history,
            plan=union((d.needs, t) for d, t in replay),
            primary_source=_primary(settings, name),
            self_username=_self_user(settings, name),
        )
        replay_state = _Replay(clears, step)
        t = start
        while t <= end:
            findings, errors = run_detectors(full.at(t), replay, window, t)
            report.steps += 1
            for det in errors:
                report.rows[det].errors += 1
            for f in findings:
                row = report.rows[f.detector]
                row.findings += 1
                if replay_state.opens(f, t):
                    row.alerts += 1
                    row.subjects[f.subject] = row.subjects.get(f.subject, 0) + 1
                    row.first = row.first or t
                    report.fired.append((t, f))
                else:
                    report.linked.append((t, f))
            t += step
    return report
