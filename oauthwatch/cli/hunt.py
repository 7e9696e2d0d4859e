"""``hunt --ioc FILE``: match an IOC list against everything stored (all sources, all time)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from oauthwatch.cli.context import runtime
from oauthwatch.cli.detect import parse_time
from oauthwatch.cli.options import ConfigOpt, FormatOpt, OrgOpt, OutputFormat, VerboseOpt
from oauthwatch.cli.output import emit

app = typer.Typer()

COLUMNS = ("time", "org", "source", "indicator", "user", "app", "ip", "id")


@app.command("hunt")
def hunt_cmd(
    ctx: typer.Context,
    ioc: Annotated[
        Path, typer.Option("--ioc", help="IOC file: one IP, CIDR, ua:TEXT or app:NAME|ID per line.")
    ],
    config_path: ConfigOpt = None,
    org: OrgOpt = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Only events at or after (UTC date or time).")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Only events before (UTC date or time).")] = None,
    fmt: FormatOpt = OutputFormat.table,
    verbose: VerboseOpt = False,
) -> None:
    """Find every stored event that matches an indicator: logins of all sources (collected or
    imported), API calls, Setup Audit Trail entries, grants (once each) and security events. JSON
    prints one object per event: indicator, source, time, user, app, ip, id (plus org and every
    indicator it matched)."""
    from oauthwatch.hunt.indicators import IocFileError, read_iocs
    from oauthwatch.hunt.matcher import Scope, hunt

    try:
        iocs = read_iocs(ioc)
    except IocFileError as exc:
        raise typer.BadParameter(str(exc), param_hint="--ioc") from None
    for err in iocs.errors:
        typer.echo(f"skipped {err}", err=True)
    if not iocs.indicators:
        raise typer.BadParameter(f"{ioc} has no usable indicator", param_hint="--ioc")
    scope = Scope(
        org=org,
        start=parse_time(start, "--from") if start else None,
        end=parse_time(end, "--to") if end else None,
    )
    matches = hunt(runtime(ctx).store, iocs, scope)
    if fmt == OutputFormat.json:
        typer.echo(json.dumps([m.as_json() for m in matches], indent=2))
    else:
        typer.echo(emit([m.as_json() | {"time": m.time} for m in matches], COLUMNS, fmt))
    typer.echo(
        f"{len(matches)} matching event(s) for {len(iocs.indicators)} indicator(s) from {ioc}", err=True
    )
