"""The ``oauthwatch`` command: thin verbs over documented functions.

Each area registers its own verbs (``register(app)``) so that this file stays a table of
contents; heavy imports (pandas, simple-salesforce, streamlit) happen inside the verbs, so
``oauthwatch --help`` stays fast.
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer

from oauthwatch.config import ConfigError

app = typer.Typer(
    name="oauthwatch",
    help="Monitor Salesforce Connected App OAuth usage: who authenticates, how, from where, and what changed.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Modules that contribute verbs, in the order `--help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "oauthwatch.store.commands",
    "oauthwatch.notify.commands",
    "oauthwatch.detect.commands",
    "oauthwatch.service_commands",
    "oauthwatch.demo_commands",
    "collectors.auth_commands",
    "collectors.commands",
    "dashboard.commands",
    "oauthwatch.simulator.commands",
    "oauthwatch.intel.commands",
    "oauthwatch.hunt.commands",
    "oauthwatch.response.commands",
    "oauthwatch.report.commands",
    "oauthwatch.grants.commands",
)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


def setup_logging(verbose: bool) -> None:
    """One log format for every verb; secrets are redacted by the logging filter."""
    from oauthwatch.secrets import RedactingFilter

    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("urllib3", "alembic.runtime.migration", "zeep", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main() -> None:
    """Entry point: run the app, turning configuration errors into a message and exit code 2."""
    _register_all()
    try:
        app()
    except ConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise SystemExit(2) from None
