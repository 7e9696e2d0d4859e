"""Verbs about the store and the configuration: `db upgrade`, `db current`, `config show`."""

from __future__ import annotations

import json

import typer

from oauthwatch.cli_options import ConfigOpt


def register(app: typer.Typer) -> None:
    """Add `db …` and `config …` to the CLI."""
    db = typer.Typer(help="Manage the store's schema.", no_args_is_help=True)
    config = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
    app.add_typer(db, name="db")
    app.add_typer(config, name="config")

    @db.command("upgrade")
    def db_upgrade(config_path: ConfigOpt = None) -> None:
        """Apply schema migrations to the store (also done automatically on first use)."""
        from oauthwatch.config import load_settings
        from oauthwatch.store.engine import make_engine
        from oauthwatch.store.migrate import current_revision, head_revision, upgrade

        settings = load_settings(config_path)
        engine = make_engine(settings.store.url)
        before = current_revision(engine)
        upgrade(engine)
        typer.echo(
            f"store {engine.url.render_as_string(hide_password=True)}: {before or 'empty'} -> {head_revision(engine)}"
        )

    @db.command("current")
    def db_current(config_path: ConfigOpt = None) -> None:
        """Print the store's schema revision and the newest one this version knows."""
        from oauthwatch.config import load_settings
        from oauthwatch.store.engine import make_engine
        from oauthwatch.store.migrate import current_revision, head_revision

        engine = make_engine(load_settings(config_path).store.url)
        typer.echo(f"current {current_revision(engine) or 'empty'}, head {head_revision(engine)}")

    @config.command("show")
    def config_show(config_path: ConfigOpt = None) -> None:
        """Print the effective configuration (secrets appear as the env var or file that holds them)."""
        from oauthwatch.config import load_settings, masked

        typer.echo(json.dumps(masked(load_settings(config_path)), indent=2, default=str))
