"""Verbs: ``collect``, ``status`` and ``import-csv`` (thin wrappers over the runner, status, importer)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from oauthwatch.cli.context import runtime
from oauthwatch.cli.options import ConfigOpt, FormatOpt, OneOrgOpt, OrgOpt, OutputFormat, VerboseOpt

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from oauthwatch.config import Settings

app = typer.Typer()


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    from oauthwatch.cli_checks import parse_since

    return parse_since(value, datetime.now(UTC))


@app.command("collect")
def collect(
    ctx: typer.Context,
    config_path: ConfigOpt = None,
    org: OrgOpt = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Only this source (repeatable).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Backfill from this date/time (UTC), e.g. 2026-10-01.")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="One cycle, then exit (cron, CI, backfills).")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Collect every source of every enabled org: once, or in a loop every collect.interval_seconds."""
    logging.getLogger("oauthwatch.collect").setLevel(logging.INFO)
    settings = runtime(ctx).load(must_exist=True)
    start = _since(since)
    if once or start is not None:
        from collectors.run.runner import collect_once

        results = collect_once(
            settings, org=org, sources=source or None, since=start, progress=sys.stderr.isatty()
        )
        failed = [r for r in results if r.outcome == "failed"]
        raise typer.Exit(1 if failed else 0)
    import signal
    import threading

    from collectors.run.runner import run_forever

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        run_forever(settings, org=org, sources=source or None, stop=stop)
    except KeyboardInterrupt:
        stop.set()


@app.command("status")
def status(
    ctx: typer.Context,
    config_path: ConfigOpt = None,
    org: OrgOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """The workers and the org each holds (failing orgs first), then per org and source: rows
    stored, cursor, last run, lag, coverage, API budget used."""
    from collectors.run.status import render_table, status_rows

    rt = runtime(ctx)
    engine = rt.store
    rows = [r for r in status_rows(engine) if org is None or r["org"] == org]
    service = _service_lines(engine)
    workers, orgs = _fleet(rt.settings, engine)
    orgs = [o for o in orgs if org is None or o["org"] == org]
    if fmt == OutputFormat.json:
        fleet = {"workers": workers, "orgs": orgs}
        typer.echo(json.dumps({"fleet": fleet, "sources": rows, "service": service}, indent=2, default=str))
    elif fmt == OutputFormat.csv:
        import csv

        w = csv.writer(sys.stdout)
        w.writerow(["org", "source", "rows_stored", "cursor", "last_run", "outcome", "why", "lag_seconds",
                    "coverage_7d", "api_calls_today", "org_api_usage"])  # fmt: skip
        for r in rows:
            w.writerow([r["org"], r["source"], r["rows_stored"], json.dumps(r["cursor"]), r["last_run"],
                        r["outcome"], r["why"], r["lag_seconds"], json.dumps(r["coverage_7d"]),
                        r["api_calls_today"], r["org_api_usage"]])  # fmt: skip
    else:
        for line in _fleet_lines(workers, orgs):
            typer.echo(line)
        typer.echo(render_table(rows) if rows else "nothing collected yet: run `oauthwatch collect --once`")
        for svc in service:
            typer.echo(
                f"service {svc['component']}: {svc['health']} (pid {svc['pid']}, last beat {svc['beat_at']}, "
                f"cycles {svc['cycles']})"
            )
        if not service:
            typer.echo("service: not running (start it with `oauthwatch run`)")


class ReportFormat(StrEnum):
    """How import-csv prints its summary."""

    text = "text"
    json = "json"


@app.command("import-csv")
def import_csv_cmd(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The CSV file to import.")],
    org: OneOrgOpt,
    config_path: ConfigOpt = None,
    timezone: Annotated[
        str,
        typer.Option(
            "--timezone", help="Zone of the Setup download's Login Time column (e.g. Europe/Paris)."
        ),
    ] = "UTC",
    create_org: Annotated[
        bool, typer.Option("--create-org", help="Store under --org even though it is not configured.")
    ] = False,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="text or json")] = ReportFormat.text,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Progress bar on stderr (default: only on a terminal; never with --format json).",
        ),
    ] = None,
) -> None:
    """Import Setup's Login History download, a Data Loader/Workbench LoginHistory export, or an ELF CSV."""
    from collectors.imports.importer import import_csv
    from collectors.imports.progress import import_progress
    from collectors.sources.values import Malformed
    from oauthwatch.cli_checks import check_org

    rt = runtime(ctx)
    check_org(rt.settings, org, create=create_org)
    primary = next((o.primary_login_source for o in rt.settings.orgs if o.name == org), "login_history")
    engine = rt.store
    started = datetime.now(UTC)
    show = progress if progress is not None else sys.stderr.isatty()
    bar, update = (
        import_progress(file, force=bool(progress)) if show and fmt is ReportFormat.text else (None, None)
    )
    try:
        report = import_csv(engine, org, file, timezone=timezone, primary_source=primary, progress=update)
    except Malformed as exc:
        typer.echo(f"{file}: " + "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(exc)), err=True)
        raise typer.Exit(2) from None
    finally:
        if bar is not None:
            bar.stop()
    seconds = (datetime.now(UTC) - started).total_seconds()
    if fmt is ReportFormat.json:
        typer.echo(json.dumps(report.summary() | {"seconds": round(seconds, 3)}))
    else:
        for line in report.lines():
            typer.echo(line)
        typer.echo(f"done in {seconds:.1f}s")
    raise typer.Exit(2 if report.quarantined else 0)


def _service_lines(engine: Engine) -> list[dict[str, object]]:
    """The `oauthwatch run` heartbeats with their health (running, stopping, stopped, stale)."""
    from oauthwatch.service import heartbeats, service_health

    return [
        {
            "component": row["component"],
            "health": service_health(row),
            "pid": row["pid"],
            "started_at": row["started_at"],
            "beat_at": row["beat_at"],
            "cycles": (row.get("detail") or {}).get("cycles"),
        }
        for row in heartbeats(engine)
    ]


def _fleet(settings: Settings, engine: Engine) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The workers and, per org, its holder and lag (failing first): docs/deploy.md, "Workers"."""
    from datetime import timedelta

    from oauthwatch.rules.thresholds import Thresholds
    from oauthwatch.store.queries_fleet import fleet_orgs, fleet_workers

    now = datetime.now(UTC)
    ttl = timedelta(seconds=settings.lease_seconds())
    lag = Thresholds.from_settings(settings.detector).lag
    return fleet_workers(engine, now=now, ttl=ttl), fleet_orgs(engine, now=now, lag_after=lag)


def _fleet_lines(workers: list[dict[str, Any]], orgs: list[dict[str, Any]]) -> list[str]:
    if not workers:
        return []
    lines = [f"workers ({sum(w['health'] == 'running' for w in workers)} running):"]
    for w in workers:
        lines.append(
            f"  {w['worker']:<40} {w['health']:<8} {w['orgs']:>4} org(s), last beat {w['beat_at']:%H:%M:%S}"
        )
    lines.append("orgs (failing first):")
    for o in orgs:
        lag = "never" if o["lag_seconds"] is None else f"{o['lag_seconds'] // 60} min"
        mark = "FAILING" if o["failing"] else "ok"
        lines.append(
            f"  {o['org']:<24} {mark:<8} {o['lease']:<8} {o['worker'] or '-':<40} lag {lag:<10} {o['problems']}"
        )
    return [*lines, ""]
