"""``alerts`` (list them) and ``alerts ack|resolve|suppress`` (move one along its lifecycle)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from oauthwatch.cli.context import runtime
from oauthwatch.cli.options import ByOpt, ConfigOpt, FormatOpt, OrgOpt, OutputFormat, who
from oauthwatch.cli.output import emit

app = typer.Typer(
    name="alerts",
    help="List alerts and move them along: ack, resolve, suppress.",
    invoke_without_command=True,
)

ALERT_COLUMNS = (
    "id",
    "status",
    "severity",
    "detector",
    "org",
    "subject",
    "title",
    "count",
    "first_seen",
    "last_seen",
)


@app.callback()
def alerts_list(
    ctx: typer.Context,
    status: Annotated[
        str, typer.Option("--status", help="open | acknowledged | resolved | active | all")
    ] = "active",
    detector: Annotated[str | None, typer.Option("--detector", help="Only this detector.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many (newest first).")] = 200,
    config_path: ConfigOpt = None,
    org: OrgOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """List alerts (default: open and acknowledged), newest activity first."""
    if ctx.invoked_subcommand is not None:
        return
    from oauthwatch.detect.lifecycle import list_alerts

    try:
        rows = list_alerts(runtime(ctx).store, status=status, org=org, detector=detector, limit=limit)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(emit(rows, ALERT_COLUMNS, fmt))


def _change(ctx: typer.Context, action: str, alert_id: int, by: str | None, **kw: Any) -> None:
    from oauthwatch.detect import lifecycle

    try:
        row = getattr(lifecycle, action)(runtime(ctx).store, alert_id, by=who(by), **kw)
    except lifecycle.AlertNotFound as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    extra = f" until {row['suppressed_until']:%Y-%m-%d %H:%M} UTC" if action == "suppress" else ""
    typer.echo(f"alert #{alert_id} {row['status']}{extra} by {row['status_by']}: {row['title']}")


@app.command("ack")
def alerts_ack(ctx: typer.Context, alert_id: int, by: ByOpt = None, config_path: ConfigOpt = None) -> None:
    """Acknowledge an alert: someone is on it (escalations still notify)."""
    _change(ctx, "acknowledge", alert_id, by)


@app.command("resolve")
def alerts_resolve(
    ctx: typer.Context, alert_id: int, by: ByOpt = None, config_path: ConfigOpt = None
) -> None:
    """Resolve an alert; it reopens only if its detector sees something newer."""
    _change(ctx, "resolve", alert_id, by)


@app.command("suppress")
def alerts_suppress(
    ctx: typer.Context,
    alert_id: int,
    hours: Annotated[
        float, typer.Option("--hours", help="Silence notifications for this long.", min=0.1)
    ] = 24.0,
    by: ByOpt = None,
    config_path: ConfigOpt = None,
) -> None:
    """Silence an alert's notifications for a while (it is still tracked)."""
    _change(ctx, "suppress", alert_id, by, until=datetime.now(UTC) + timedelta(hours=hours))
