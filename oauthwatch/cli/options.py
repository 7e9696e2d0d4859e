"""The options every verb spells the same way, declared once (datasette's habit).

``--config`` and ``--verbose`` do their work while the command line is parsed: the first names
the file the command's Runtime loads (``oauthwatch.cli.context``), the second installs the log. A
verb declares them as parameters (so its ``--help`` lists them) and never passes them on.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from oauthwatch.cli.context import runtime, setup_logging


def _use_config(ctx: typer.Context, value: Path | None) -> Path | None:
    runtime(ctx).config_path = value
    return value


def _use_verbose(value: bool) -> bool:
    setup_logging(value)
    return value


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML configuration file (default: $OAUTHWATCH_CONFIG, else ./oauthwatch.toml).",
        show_default=False,
        callback=_use_config,
    ),
]


def _org_name(value: str | None) -> str | None:
    """Every ``--org`` has the shape of an org name (as in the configuration), whatever the verb."""
    if value is None:
        return None
    from oauthwatch.cli_checks import check_org_name
    from oauthwatch.errors import ConfigError

    try:
        return check_org_name(value)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None


OrgOpt = Annotated[
    str | None,
    typer.Option("--org", help="Only this org (its name in the configuration).", callback=_org_name),
]
OneOrgOpt = Annotated[
    str, typer.Option("--org", help="The org (its name in the configuration).", callback=_org_name)
]
VerboseOpt = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="Log every step (secrets are never logged).", callback=_use_verbose),
]
ByOpt = Annotated[
    str | None, typer.Option("--by", help="Who does this (default: $OAUTHWATCH_USER or $USER).")
]


def who(by: str | None = None) -> str:
    """The person a change is recorded against: ``--by``, else $OAUTHWATCH_USER, else $USER."""
    return by or os.environ.get("OAUTHWATCH_USER") or os.environ.get("USER") or "cli"


class OutputFormat(StrEnum):
    """How a listing is printed."""

    table = "table"
    json = "json"
    csv = "csv"


FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
