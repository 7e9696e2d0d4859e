"""``config show``: the effective configuration, secrets shown only as where they come from."""

from __future__ import annotations

import json

import typer

from oauthwatch.cli.context import runtime
from oauthwatch.cli.options import ConfigOpt

app = typer.Typer(name="config", help="Inspect the configuration.", no_args_is_help=True)


@app.command("show")
def config_show(ctx: typer.Context, config_path: ConfigOpt = None) -> None:
    """Print the effective configuration (secrets appear as the env var or file that holds them)."""
    from oauthwatch.config import masked

    typer.echo(json.dumps(masked(runtime(ctx).settings), indent=2, default=str))
