"""CLI options shared by every command, declared once (STYLE: datasette's habit)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML configuration file (default: $OAUTHWATCH_CONFIG, else ./oauthwatch.toml).",
        show_default=False,
    ),
]
OrgOpt = Annotated[str | None, typer.Option("--org", help="Only this org (its name in the configuration).")]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Log every step (secrets are never logged).")
]


class OutputFormat(StrEnum):
    """How a listing is printed."""

    table = "table"
    json = "json"
    csv = "csv"


FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
