"""The ``oauthwatch`` app: the verb modules in the order ``--help`` lists them, and the entry point.

Each verb module owns a ``typer.Typer`` (named when it is a group such as ``db`` or ``alerts``)
whose verbs are top-level functions; they import their heavy dependencies inside the verb, so
loading them all costs little and ``oauthwatch --help`` stays fast.
"""

from __future__ import annotations

from types import ModuleType

import typer

from oauthwatch.cli import (
    alerts,
    allow,
    collect,
    config,
    connect,
    dashboard,
    db,
    demo,
    detect,
    digest,
    grants,
    hunt,
    incident,
    intel,
    revoke,
    service,
    simulate,
)
from oauthwatch.cli.context import runtime
from oauthwatch.errors import ConfigError

app = typer.Typer(
    name="oauthwatch",
    help="Monitor Salesforce Connected App OAuth usage: who authenticates, how, from where, and what changed.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Single verbs first, then the groups: the order `oauthwatch --help` lists them.
VERB_MODULES: tuple[ModuleType, ...] = (
    digest,
    detect,
    service,
    demo,
    connect,
    collect,
    dashboard,
    simulate,
    hunt,
    revoke,
    incident,
    grants,
    db,
    config,
    alerts,
    allow,
    intel,
)
for _module in VERB_MODULES:
    app.add_typer(_module.app)


@app.callback()
def _root(ctx: typer.Context) -> None:
    # The Runtime every verb reads its settings and store from (oauthwatch.cli.context).
    runtime(ctx)


def main() -> None:
    """Entry point: run the app, turning configuration errors into a message and exit code 2."""
    try:
        app()
    except ConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise SystemExit(2) from None
