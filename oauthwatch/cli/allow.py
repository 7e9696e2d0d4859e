"""``allow add|list|remove``: the allowlist of approved connected apps (over detect.allowlist)."""

from __future__ import annotations

from typing import Annotated

import typer

from oauthwatch.cli.context import runtime
from oauthwatch.cli.options import ConfigOpt, FormatOpt, OrgOpt, OutputFormat, who
from oauthwatch.cli.output import emit

app = typer.Typer(name="allow", help="The allowlist of approved connected apps.", no_args_is_help=True)

ENTRY_COLUMNS = (
    "id",
    "org",
    "app_name",
    "owner",
    "ip_ranges",
    "countries",
    "integration_users",
    "expires_at",
    "active",
)


@app.command("add")
def allow_add(
    ctx: typer.Context,
    app_name: Annotated[str, typer.Argument(help="The connected app's name, as Salesforce shows it.")],
    owner: Annotated[str | None, typer.Option("--owner", help="Who answers for the app.")] = None,
    ip_range: Annotated[
        list[str] | None, typer.Option("--ip-range", help="Expected CIDR range (repeatable).")
    ] = None,
    country: Annotated[
        list[str] | None, typer.Option("--country", help="Expected country code (repeatable).")
    ] = None,
    user: Annotated[
        list[str] | None, typer.Option("--user", help="Integration username or 005 id (repeatable).")
    ] = None,
    expires: Annotated[
        str | None, typer.Option("--expires", help="Approval ends on this date (UTC).")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="Why it is approved.")] = None,
    config_path: ConfigOpt = None,
    org: OrgOpt = None,
) -> None:
    """Approve an app (for --org, or every org); replaces its existing entry."""
    from oauthwatch.detect.allowlist import AllowlistError, add_entry, parse_expiry

    engine = runtime(ctx).store
    try:
        entry_id = add_entry(
            engine,
            app_name,
            org=org,
            owner=owner,
            ip_ranges=ip_range or (),
            countries=country or (),
            integration_users=user or (),
            note=note,
            expires_at=parse_expiry(expires),
            created_by=who(),
        )
    except AllowlistError as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(f"allowlist entry #{entry_id}: {app_name} ({org or 'every org'})")


@app.command("list")
def allow_list(
    ctx: typer.Context, config_path: ConfigOpt = None, org: OrgOpt = None, fmt: FormatOpt = OutputFormat.table
) -> None:
    """List the allowlist (expired entries are shown with active = False)."""
    from oauthwatch.detect.allowlist import list_entries

    rows = [e.as_dict() for e in list_entries(runtime(ctx).store, org=org)]
    typer.echo(emit(rows, ENTRY_COLUMNS, fmt))


@app.command("remove")
def allow_remove(
    ctx: typer.Context,
    entry: Annotated[str, typer.Argument(help="Entry id, or app name.")],
    config_path: ConfigOpt = None,
    org: OrgOpt = None,
) -> None:
    """Remove an entry by id or app name."""
    from oauthwatch.detect.allowlist import remove_entry

    n = remove_entry(runtime(ctx).store, entry, org=org)
    typer.echo(f"removed {n} entr{'y' if n == 1 else 'ies'}")
    if not n:
        raise typer.Exit(1)
