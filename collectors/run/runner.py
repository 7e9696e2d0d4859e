"""The generic runner: every selected source of every org, with checkpoints, ledger and coverage.

Orgs run in parallel threads (one token each; a failing org does not stop the others); inside an
org the sources run one after another under one API budget. Each source run gets a ledger row
(``collector_runs``) that says what it read and wrote, how many calls it made, how it ended and
why it stopped; coverage rows say which days are complete. Nothing here knows a source's
object: the sources declare, the runner schedules.

Usage (the service and the CLI call this)::

    results = collect_once(settings)                       # every enabled org, every source
    results = collect_once(settings, org="prod", sources=["login_history"], since=datetime(...))
"""

from __future__ import annotations

import logging
import random
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from collectors.api.budget import BudgetExhausted, BudgetGovernor
from collectors.api.client import SalesforceClient
from collectors.fastpath.bulk_backfill import run_bulk_backfill
from collectors.run import ledger
from collectors.run.visibility import limited
from collectors.sources.base import Context, Stopped
from collectors.sources.org_limits import store_header_readings
from collectors.sources.registry import SOURCES
from oauthwatch.config import ConfigError
from oauthwatch.secrets import redact
from oauthwatch.store.writes import ensure_org, utcnow

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Engine

    from oauthwatch.config import OrgSettings, Settings

log = logging.getLogger("oauthwatch.collect")


@dataclass
class RunResult:
    """How one source run in one org ended (the ledger row, as a value)."""

    org: str
    source: str
    outcome: str  # ok | partial | failed | budget | skipped
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    api_calls: int = 0
    seconds: float = 0.0
    error: str | None = None
    stop_reason: str | None = None
    run_id: int | None = None
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        """The one log line of a source run."""
        parts = [f"{self.org}/{self.source}: {self.outcome}", f"read {self.rows_read}",
                 f"wrote {self.rows_written}"]  # fmt: skip
        if self.rows_quarantined:
            parts.append(f"quarantined {self.rows_quarantined}")
        parts.append(f"{self.api_calls} API calls, {self.seconds:.1f}s")
        tail = "; ".join(x for x in (self.stop_reason, self.error, *self.notes) if x)
        return ", ".join(parts) + (f" ({tail})" if tail else "")


ClientFactory = "Callable[[OrgSettings, BudgetGovernor, float], SalesforceClient]"


def _default_client(org: OrgSettings, budget: BudgetGovernor, timeout: float) -> SalesforceClient:
    from collectors.auth import provider_for

    return SalesforceClient(provider_for(org, timeout=timeout), budget=budget, timeout=timeout)


def collect_once(
    settings: Settings,
    *,
    org: str | None = None,
    sources: list[str] | None = None,
    since: datetime | None = None,
    stop: threading.Event | None = None,
    progress: bool = False,
    client_factory: Any = None,
    engine: Engine | None = None,
    stop_for: Callable[[str], threading.Event] | None = None,
) -> list[RunResult]:
    """Run every selected source of every selected org once; one :class:`RunResult` per source run.

    ``stop_for(org)``, when given, is that org's stop (the service's worker stops an org whose
    lease it lost); else ``stop`` stops them all."""
    from oauthwatch.store import open_store

    unknown = sorted(set(sources or []) - set(SOURCES))
    if unknown:
        raise ConfigError(f"unknown source(s) {unknown}; known: {list(SOURCES)}")
    if since is not None:
        from oauthwatch.cli_checks import check_since

        check_since(since, datetime.now(UTC))  # a ConfigError before any query, never an OverflowError
    orgs = settings.selected_orgs(org)
    if not orgs:
        raise ConfigError("no enabled org in the configuration: add an [[orgs]] table")
    own_engine = engine is None
    eng = engine or open_store(settings.store.url)
    factory = client_factory or _default_client
    try:
        stops = {o.name: stop_for(o.name) if stop_for else stop for o in orgs}
        if len(orgs) == 1:
            return _collect_org(
                settings, eng, orgs[0], sources, since, stops[orgs[0].name], progress, factory
            )
        results: list[RunResult] = []
        with ThreadPoolExecutor(max_workers=min(8, len(orgs)), thread_name_prefix="collect") as pool:
            futures = [
                pool.submit(_collect_org, settings, eng, o, sources, since, stops[o.name], False, factory)
                for o in orgs
            ]
            for o, fut in zip(orgs, futures, strict=True):
                try:
                    results.extend(fut.result())
                except Exception as exc:
                    log.exception("org %s: collection crashed", o.name)
                    results.append(RunResult(o.name, "*", "failed", error=redact(str(exc))))
        return results
    finally:
        if own_engine:
            eng.dispose()


def _collect_org(
    settings: Settings,
    engine: Engine,
    org: OrgSettings,
    sources: list[str] | None,
    since: datetime | None,
    stop: threading.Event | None,
    progress: bool,
    factory: Any,
) -> list[RunResult]:
    collect = settings.collect
    budget = BudgetGovernor(run_share=collect.run_budget_share, total_share=collect.total_budget_share)
    names = list(sources) if sources else [n for n in SOURCES if n in org.sources]
    results: list[RunResult] = []
    work = Path(tempfile.mkdtemp(prefix=f"oauthwatch-{org.name}-"))
    try:
        with engine.begin() as conn:
            ensure_org(conn, org.name)
        ledger.close_interrupted(engine, org.name)
        client = factory(org, budget, collect.request_timeout_seconds)
        try:
            tok = client.provider.token()
            with engine.begin() as conn:
                ensure_org(conn, org.name, org_id=tok.org_id, instance_url=tok.instance_url)
        except Exception as exc:  # noqa: BLE001 - no token: every source of this org fails, with why
            err = redact(str(exc))
            log.error("org %s: cannot authenticate: %s", org.name, err)
            for name in names:
                results.append(_record_failure(engine, org.name, name, err))
            return results
        fatal: str | None = None
        for name in names:
            if stop is not None and stop.is_set():
                break
            if fatal:
                results.append(_record_failure(engine, org.name, name, fatal))
                continue
            result = run_source(
                engine,
                org,
                collect,
                client,
                name,
                since=since,
                stop=stop,
                forced=bool(sources),
                progress=progress,
                work_dir=work,
            )
            results.append(result)
            if result.outcome == "failed" and result.error and result.error.startswith("auth:"):
                fatal = result.error
        try:
            store_header_readings(engine, org.name, budget.readings)
        except Exception:
            log.warning("org %s: could not store Sforce-Limit-Info readings", org.name, exc_info=True)
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _record_failure(engine: Engine, org: str, source: str, error: str) -> RunResult:
    run_id = ledger.start_run(engine, org, source, None)
    ledger.finish_run(engine, run_id, outcome="failed", stats=ledger.RunStats(), api_calls=0, error=error)
    res = RunResult(org, source, "failed", error=error, run_id=run_id)
    log.info(res.line())
    return res


def run_source(
    engine: Engine,
    org: OrgSettings,
    collect: Any,
    client: SalesforceClient,
    name: str,
    *,
    since: datetime | None = None,
    stop: threading.Event | None = None,
    forced: bool = False,
    progress: bool = False,
    work_dir: Path | None = None,
) -> RunResult:
    """Run one source in one org: ledger row, the source's own run, coverage, one log line."""
    from collectors.auth import AuthError

    src = SOURCES[name]()
    with engine.connect() as conn:
        before = ledger.load_checkpoint(conn, org.name, name)
    run_id = ledger.start_run(engine, org.name, name, before)
    ctx = Context(
        org=org.name,
        org_settings=org,
        collect=collect,
        client=client,
        engine=engine,
        run_start=utcnow(),
        work_dir=work_dir or Path(tempfile.gettempdir()),
        since=since,
        forced=forced,
        stop=stop,
        backfill=run_bulk_backfill,
    )
    calls0 = client.budget.calls
    t0 = time.monotonic()
    outcome, error, stop_reason = "ok", None, None
    seen = limited(client, name)  # a source that sees only the integration user's own rows
    partial_view = seen if seen is not None and seen.status == "own_rows" else None
    bar = _progress_bar(org.name, name) if progress else None
    if bar is not None:
        ctx.progress = bar[1]
    try:
        src.run(ctx)
        if ctx.stats.skipped:
            outcome = "skipped"
        elif ctx.stats.incomplete:
            outcome = "partial"
        else:
            ctx.read_through = ctx.signpost
    except BudgetExhausted as exc:
        outcome, stop_reason = "budget", exc.reason
    except Stopped:
        outcome, stop_reason = "partial", "stop requested"
    except AuthError as exc:
        outcome, error = "failed", "auth: " + str(exc)
    except Exception as exc:
        outcome, error = "failed", f"{type(exc).__name__}: {redact(str(exc))}"
        log.debug("%s/%s failed", org.name, name, exc_info=True)
    finally:
        if bar is not None:
            bar[0].stop()
    if partial_view is not None:  # the run did all it could; coverage says what it could not see
        ctx.stats.notes.append(partial_view.coverage_note)
    try:
        with engine.begin() as conn:
            src.coverage(conn, ctx)
            if partial_view is not None:
                ledger.mark_partial(conn, org.name, name, ctx.run_start, partial_view.coverage_note)
            if (
                outcome in ("failed", "budget")
                and ledger.coverage_status(conn, org.name, name, ctx.run_start.date()) is None
            ):
                ledger.set_coverage(
                    conn, org.name, name, ctx.run_start.date(), "missing", 0, stop_reason or error
                )
    except Exception:
        log.warning("%s/%s: coverage not updated", org.name, name, exc_info=True)
    api_calls = client.budget.calls - calls0
    ledger.finish_run(
        engine,
        run_id,
        outcome=outcome,
        stats=ctx.stats,
        api_calls=api_calls,
        error=error,
        stop_reason=stop_reason,
        cursor_after=ctx.cursor_after,
    )
    res = RunResult(
        org.name,
        name,
        outcome,
        ctx.stats.rows_read,
        ctx.stats.rows_written,
        ctx.stats.rows_quarantined,
        api_calls,
        time.monotonic() - t0,
        error,
        stop_reason,
        run_id,
        list(ctx.stats.notes),
    )
    log.info(res.line())
    return res


def _progress_bar(org: str, source: str) -> tuple[Any, Callable[[int, int | None], None]] | None:
    """A rich progress bar on a terminal (backfills, imports); None when not a terminal."""
    if not sys.stderr.isatty():
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn(f"{org}/{source}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True
    )
    task = bar.add_task(source, total=None)
    bar.start()

    def update(done: int, total: int | None) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update


def run_forever(
    settings: Settings,
    *,
    org: str | None = None,
    sources: list[str] | None = None,
    stop: threading.Event | None = None,
    cycles: int | None = None,
) -> None:
    """Collect in a loop: every ``collect.interval_seconds`` plus up to ``jitter_seconds``."""
    stop = stop or threading.Event()
    n = 0
    while not stop.is_set():
        try:
            collect_once(settings, org=org, sources=sources, stop=stop)
        except ConfigError:
            raise
        except Exception:
            log.exception("collection cycle failed")
        n += 1
        if cycles is not None and n >= cycles:
            return
        delay = settings.collect.interval_seconds + random.uniform(0, settings.collect.jitter_seconds)
        stop.wait(delay)
