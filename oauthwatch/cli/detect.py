"""``detect`` (run every detector now) and ``backtest`` (replay them over stored history).

Thin wrappers over detect.runner.run_all / backtest and notify.alert_delivery.deliver_pending.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import typer

from oauthwatch.cli.context import runtime
from oauthwatch.cli.options import ConfigOpt, FormatOpt, OrgOpt, OutputFormat, VerboseOpt
from oauthwatch.cli.output import emit

app = typer.Typer()


def parse_time(text: str, what: str) -> datetime:
    from oauthwatch.rules.times import parse_utc

    try:
        return parse_utc(text, what)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command("detect")
def detect(
    ctx: typer.Context,
    config_path: ConfigOpt = None,
    org: OrgOpt = None,
    deliver: Annotated[
        bool, typer.Option("--deliver/--no-deliver", help="Send queued notifications afterwards.")
    ] = True,
    fmt: FormatOpt = OutputFormat.table,
    verbose: VerboseOpt = False,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Judge again every window from this UTC date or time on (default: the windows "
            "that received events since the last run).",
        ),
    ] = None,
) -> None:
    """Judge every window with new events, record alerts, and send notifications for new ones."""
    from oauthwatch.detect.runner import run_all
    from oauthwatch.notify.alert_delivery import deliver_pending

    rt = runtime(ctx)
    settings, engine = rt.settings, rt.store
    report = run_all(engine, settings, org=org, since=parse_time(since, "--since") if since else None)
    rows = [
        {
            "severity": f.severity,
            "detector": f.detector,
            "org": f.org,
            "subject": f.subject,
            "title": f.title,
            "explanation": f.explanation,
            "evidence": f.evidence,
            "dedupe_key": f.dedupe_key,
        }
        for f in report.findings
    ]
    typer.echo(emit(rows, ("severity", "detector", "org", "subject", "title"), fmt))
    sent = deliver_pending(engine, settings) if deliver else 0
    typer.echo(report.summary() + (f"; {sent} sent" if deliver else ""), err=True)
    if report.errors:
        for k, v in report.errors.items():
            typer.echo(f"detector error {k}: {v}", err=True)
        raise typer.Exit(1)


@app.command("backtest")
def backtest_cmd(
    ctx: typer.Context,
    start: Annotated[str, typer.Option("--from", help="Start of the replay (UTC date or time).")],
    end: Annotated[str, typer.Option("--to", help="End of the replay (UTC date or time).")],
    step_minutes: Annotated[
        int | None,
        typer.Option("--step-minutes", help="Replay step (default: the detection window).", min=5),
    ] = None,
    detector: Annotated[
        list[str] | None, typer.Option("--detector", help="Only this detector (repeatable).")
    ] = None,
    config_path: ConfigOpt = None,
    org: OrgOpt = None,
    fmt: FormatOpt = OutputFormat.table,
    verbose: VerboseOpt = False,
) -> None:
    """Replay the detectors over stored history and report what would have fired, per detector."""
    from oauthwatch.detect.runner import backtest

    rt = runtime(ctx)
    settings = rt.settings
    t0, t1 = parse_time(start, "--from"), parse_time(end, "--to")
    if t1 <= t0:
        raise typer.BadParameter("--to must be after --from")
    step = timedelta(minutes=step_minutes) if step_minutes else None
    report = backtest(rt.store, settings, start=t0, end=t1, step=step, org=org, only=detector or None)
    rows = [
        {
            "detector": r.detector,
            "alerts": r.alerts,
            "findings": r.findings,
            "first": r.first,
            "top_subjects": ", ".join(
                f"{s} ({n})" for s, n in sorted(r.subjects.items(), key=lambda x: -x[1])[:3]
            ),
            "errors": r.errors,
        }
        for r in report.rows.values()
    ]
    typer.echo(emit(rows, ("detector", "alerts", "findings", "first", "top_subjects", "errors"), fmt))
    if report.not_replayed:
        typer.echo(f"not replayed (they judge the current state): {', '.join(report.not_replayed)}", err=True)
    typer.echo(
        f"{report.steps} step(s) of {report.step} from {t0:%Y-%m-%d %H:%M} to {t1:%Y-%m-%d %H:%M} UTC",
        err=True,
    )
