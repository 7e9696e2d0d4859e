"""Prometheus metrics of ``oauthwatch run`` (``--metrics-port``), all named ``oauthwatch_…``.

Two kinds, as Prometheus exporters usually do it (docs/deploy.md, "Metrics and logs"):

- what the process *did* is counted as it happens, from each stage's result
  (:meth:`ServiceMetrics.on_stage`): rows collected and API calls per org and source, source runs by
  outcome, cycles and their duration, each stage's and each detector's duration, alerts opened,
  rows pruned;
- what the store *is* is read at scrape time (:class:`StoreCollector`), so every worker on one
  store reports the same truth, restarts included: lag and coverage per org and source, API budget
  used per org, open alerts, deliveries failed, and which worker holds which org when workers
  share the fleet (``org_leases``).

Label values are org and source names from the configuration, never anything secret.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from oauthwatch.rules.thresholds import SUCCESS_OUTCOMES
from oauthwatch.secrets import redact
from oauthwatch.store import schema as s

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

COVERAGE_DAYS = 7  # coverage gauges count the statuses of the last this many days
CYCLE_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)


class StoreCollector(Collector):
    """Gauges read from the store at each scrape (a failed read is reported, never raised)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("oauthwatch_store_up", "1 when the store answered this scrape's queries")
        try:
            families = list(self._families())
        except Exception as exc:  # noqa: BLE001 - a scrape must answer even when the store does not
            log.warning("metrics: store not readable: %s", redact(str(exc))[:300])
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self) -> Iterator[Metric]:
        now = self.clock()
        runs, cov, lim = s.collector_runs, s.coverage, s.org_limits
        with self.engine.connect() as conn:
            lag = GaugeMetricFamily(
                "oauthwatch_source_lag_seconds",
                "Seconds since the source's last successful run (ok or partial)",
                labels=["org", "source"],
            )
            last_ok = func.max(func.coalesce(runs.c.finished_at, runs.c.started_at))
            for org, source, at in conn.execute(
                select(runs.c.org, runs.c.source, last_ok)
                .where(runs.c.outcome.in_(SUCCESS_OUTCOMES))
                .group_by(runs.c.org, runs.c.source)
            ):
                lag.add_metric([org, source], max(0.0, (now - at.astimezone(UTC)).total_seconds()))
            yield lag
            coverage = GaugeMetricFamily(
                "oauthwatch_coverage_days",
                f"Days of the last {COVERAGE_DAYS} (UTC) per coverage status, per org and source",
                labels=["org", "source", "status"],
            )
            since = (now - timedelta(days=COVERAGE_DAYS - 1)).date()
            for org, source, status, n in conn.execute(
                select(cov.c.org, cov.c.source, cov.c.status, func.count())
                .where(cov.c.day >= since)
                .group_by(cov.c.org, cov.c.source, cov.c.status)
            ):
                coverage.add_metric([org, source, status], n)
            yield coverage
            budget = GaugeMetricFamily(
                "oauthwatch_api_budget_used_ratio",
                "Share of the org's DailyApiRequests limit used, at the newest reading",
                labels=["org"],
            )
            newest = (
                select(lim.c.org, func.max(lim.c.read_at).label("at"))
                .where(lim.c.name == "DailyApiRequests")
                .group_by(lim.c.org)
                .subquery()
            )
            for org, mx, rem in conn.execute(
                select(lim.c.org, lim.c["max"], lim.c.remaining)
                .join(newest, (newest.c.org == lim.c.org) & (newest.c.at == lim.c.read_at))
                .where(lim.c.name == "DailyApiRequests")
            ):
                if mx:
                    budget.add_metric([org], (mx - (rem or 0)) / mx)
            yield budget
            yield from self._alerts(conn)
            yield from self._leases(conn)

    def _alerts(self, conn: Any) -> Iterator[Metric]:
        a, d = s.alerts, s.alert_deliveries
        open_ = GaugeMetricFamily(
            "oauthwatch_alerts_open", "Alerts open or acknowledged", labels=["org", "severity"]
        )
        for org, sev, n in conn.execute(
            select(a.c.org, a.c.severity, func.count())
            .where(a.c.status.in_(("open", "acknowledged")))
            .group_by(a.c.org, a.c.severity)
        ):
            open_.add_metric([org, sev], n)
        yield open_
        failed = GaugeMetricFamily(
            "oauthwatch_deliveries_failed",
            "Alert deliveries whose last attempt failed (retried with backoff)",
            labels=["channel"],
        )
        for channel in ("email", "webhook"):
            n = conn.execute(
                select(func.count()).where(d.c.status == "failed", d.c.channel == channel)
            ).scalar_one()
            failed.add_metric([channel], n)
        yield failed

    def _leases(self, conn: Any) -> Iterator[Metric]:
        """Which worker holds which org (workers sharing a fleet on PostgreSQL; oauthwatch.fleet)."""
        lease = s.org_leases
        held = GaugeMetricFamily(
            "oauthwatch_lease_held", "1 per org lease and the worker holding it", labels=["org", "worker"]
        )
        for org, worker in conn.execute(
            select(lease.c.org, lease.c.worker).where(
                lease.c.worker.is_not(None), lease.c.expires_at > self.clock()
            )
        ):
            held.add_metric([str(org), str(worker)], 1)
        yield held


class ServiceMetrics:
    """The service's own counters and the store's gauges, in one registry served over HTTP."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.registry = r = CollectorRegistry()
        self.rows = Counter(
            "oauthwatch_rows_collected", "Rows written by collection", ["org", "source"], registry=r
        )
        self.api_calls = Counter(
            "oauthwatch_api_calls", "Salesforce API calls made by collection", ["org", "source"], registry=r
        )
        self.runs = Counter(
            "oauthwatch_source_runs", "Source runs by outcome", ["org", "source", "outcome"], registry=r
        )
        self.cycles = Counter("oauthwatch_cycles", "Service cycles completed", registry=r)
        self.cycle_seconds = Histogram(
            "oauthwatch_cycle_duration_seconds",
            "Duration of a whole cycle",
            buckets=CYCLE_BUCKETS,
            registry=r,
        )
        self.stage_seconds = Gauge(
            "oauthwatch_stage_duration_seconds", "Duration of the stage's last run", ["stage"], registry=r
        )
        self.stage_failures = Counter(
            "oauthwatch_stage_failures",
            "Stage runs that raised (logged, the service goes on)",
            ["stage"],
            registry=r,
        )
        self.detector_seconds = Gauge(
            "oauthwatch_detector_duration_seconds",
            "Seconds the detector took in the last detection run (all orgs and windows)",
            ["detector"],
            registry=r,
        )
        self.alerts_opened = Counter("oauthwatch_alerts_opened", "Alerts opened or reopened", registry=r)
        self.pruned = Counter("oauthwatch_rows_pruned", "Rows removed by retention", ["table"], registry=r)
        r.register(StoreCollector(engine, clock))
        self._server: Any = None

    def on_stage(self, name: str, result: Any, seconds: float, failed: bool) -> None:
        """Count what a stage did (called by the service after each stage)."""
        self.stage_seconds.labels(name).set(seconds)
        if failed:
            self.stage_failures.labels(name).inc()
            return
        if name == "collect" and isinstance(result, list):
            for run in result:
                org, source = getattr(run, "org", None), getattr(run, "source", None)
                if org is None or source is None:
                    continue
                self.rows.labels(org, source).inc(run.rows_written)
                self.api_calls.labels(org, source).inc(run.api_calls)
                self.runs.labels(org, source, run.outcome).inc()
        elif name == "detect" and hasattr(result, "opened"):
            self.alerts_opened.inc(result.opened)
            for detector, secs in getattr(result, "seconds", {}).items():
                self.detector_seconds.labels(detector).set(secs)
        elif name == "prune" and hasattr(result, "by_table") and not result.dry_run:
            for table, n in result.by_table().items():
                self.pruned.labels(table).inc(n)

    def on_cycle(self, seconds: float) -> None:
        self.cycles.inc()
        self.cycle_seconds.observe(seconds)

    def serve(self, port: int, address: str = "127.0.0.1") -> int:
        """Serve ``/metrics`` on ``address:port`` in a background thread; returns the bound port."""
        self._server, _thread = start_http_server(port, addr=address, registry=self.registry)
        return int(self._server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
