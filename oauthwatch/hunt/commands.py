"""``oauthwatch hunt --ioc FILE``: match an IOC list against everything stored (all sources, all time)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from oauthwatch.cli_options import ConfigOpt, FormatOpt, OrgOpt, OutputFormat, VerboseOpt

COLUMNS = ("time", "org", "source", "indicator", "user", "app", "ip", "id")


def register(app: typer.Typer) -> None:
    """Add ``hunt`` to the CLI."""

    @app.command("hunt")
    def hunt_cmd(
        ioc: Annotated[
            Path, typer.Option("--ioc", help="IOC file: one IP, CIDR, ua:TEXT or app:NAME|ID per line.")
        ],
        config_path: ConfigOpt = None,
        org: OrgOpt = None,
        start: Annotated[
            str | None, typer.Option("--from", help="Only events at or after (UTC date or time).")
        ] = None,
        end: Annotated[
            str | None, typer.Option("--to", help="Only events before (UTC date or time).")
        ] = None,
        fmt: FormatOpt = OutputFormat.table,
        verbose: VerboseOpt = False,
    ) -> None:
        """Find every stored event (logins of all sources, collected or imported, and security events)
        that matches an indicator. JSON prints one object per event: indicator, source, time, user,
        app, ip, id (plus org and every indicator it matched)."""
        from oauthwatch.cli import setup_logging
        from oauthwatch.config import load_settings
        from oauthwatch.detect.commands import _parse_time, emit
        from oauthwatch.hunt.indicators import IocFileError, read_iocs
        from oauthwatch.hunt.matcher import Scope, hunt
        from oauthwatch.store import open_store

        setup_logging(verbose)
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
            start=_parse_time(start, "--from") if start else None,
            end=_parse_time(end, "--to") if end else None,
        )
        settings = load_settings(config_path)
        engine = open_store(settings.store.url)
        matches = hunt(engine, iocs, scope)
        if fmt == OutputFormat.json:
            typer.echo(json.dumps([m.as_json() for m in matches], indent=2))
        else:
            typer.echo(emit([m.as_json() | {"time": m.time} for m in matches], COLUMNS, fmt))
        typer.echo(
            f"{len(matches)} matching event(s) for {len(iocs.indicators)} indicator(s) from {ioc}", err=True
        )
