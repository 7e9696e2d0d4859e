"""``grants [--app] [--user] [--format]``: every live grant, riskiest first, with why."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from oauthwatch.cli.context import runtime
from oauthwatch.cli.options import ConfigOpt, FormatOpt, OrgOpt, OutputFormat
from oauthwatch.cli.output import emit

app = typer.Typer()

TABLE = (
    "score",
    "app",
    "app_kind",
    "user",
    "profile",
    "state",
    "scopes",
    "refresh_policy",
    "last_used",
    "reason",
)
CSV = ("score", "org", "app", "app_id", "app_kind", "user", "user_id", "profile", "state", "permissions", "scopes",
       "refresh_policy", "ip_relaxation", "installed", "created", "last_used", "use_count", "reason")  # fmt: skip


@app.command("grants")
def grants_cmd(
    ctx: typer.Context,
    app_ref: Annotated[str | None, typer.Option("--app", help="Only this app (name or 0H4 id).")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user (username or 005 id).")] = None,
    config_path: ConfigOpt = None,
    org: OrgOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Every live OAuth grant (latest token snapshot) of connected apps and External Client Apps
    (app_kind) with its blast radius: the user's profile,
    permissions and state, the app's scopes, refresh-token policy, IP relaxation and install
    state, last use and use count; ranked by risk, with the reason in words."""
    from oauthwatch.grants.inventory import inventory
    from oauthwatch.store.writes import utcnow

    ranked = inventory(runtime(ctx).store, utcnow(), org=org, app=app_ref, user=user)
    rows = [r.as_row() for r in ranked]
    if fmt == OutputFormat.json:
        typer.echo(json.dumps(rows, indent=2, default=str))
    else:
        typer.echo(emit(rows, TABLE if fmt == OutputFormat.table else CSV, fmt))
    typer.echo(f"{len(rows)} live grant(s)", err=True)
