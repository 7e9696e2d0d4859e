"""``db upgrade`` and ``db current``: the store's schema."""

from __future__ import annotations

import typer

from oauthwatch.cli.context import runtime
from oauthwatch.cli.options import ConfigOpt

app = typer.Typer(name="db", help="Manage the store's schema.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(ctx: typer.Context, config_path: ConfigOpt = None) -> None:
    """Apply schema migrations to the store (also done automatically on first use)."""
    from oauthwatch.store.migrate import current_revision, head_revision, upgrade

    engine = runtime(ctx).engine
    before = current_revision(engine)
    upgrade(engine)
    typer.echo(
        f"store {engine.url.render_as_string(hide_password=True)}: {before or 'empty'} -> {head_revision(engine)}"
    )


@app.command("current")
def db_current(ctx: typer.Context, config_path: ConfigOpt = None) -> None:
    """Print the store's schema revision and the newest one this version knows."""
    from oauthwatch.store.migrate import current_revision, head_revision

    engine = runtime(ctx).engine
    typer.echo(f"current {current_revision(engine) or 'empty'}, head {head_revision(engine)}")
