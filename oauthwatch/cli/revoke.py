"""``revoke --app APP [--user USER] [--dry-run]``: revoke an app's grants, dry run first."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from oauthwatch.cli.context import runtime
from oauthwatch.cli.options import ByOpt, ConfigOpt, FormatOpt, OrgOpt, OutputFormat, VerboseOpt, who
from oauthwatch.cli.output import emit

if TYPE_CHECKING:
    from oauthwatch.response.revoke import RevokeReport

app = typer.Typer()

COLUMNS = ("outcome", "username", "user_id", "app_name", "created", "last_used", "use_count", "answer")


def _rows(report: RevokeReport) -> list[dict[str, Any]]:
    return [
        {
            "outcome": o.outcome,
            "username": o.grant.username,
            "user_id": o.grant.user_id,
            "app_name": o.grant.app_name,
            "created": o.grant.created,
            "last_used": o.grant.last_used,
            "use_count": o.grant.use_count,
            "answer": o.answer or None,
        }
        for o in report.outcomes
    ]


@app.command("revoke")
def revoke_cmd(
    ctx: typer.Context,
    app_ref: Annotated[
        str, typer.Option("--app", help="The connected app: its id (0H4…) or its exact name.")
    ],
    user: Annotated[
        str | None, typer.Option("--user", help="Only this user's grant (username or 005 id).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be revoked.")] = False,
    yes: Annotated[
        bool, typer.Option("--yes", help="Do not ask for confirmation after the dry run.")
    ] = False,
    by: ByOpt = None,
    config_path: ConfigOpt = None,
    org: OrgOpt = None,
    fmt: FormatOpt = OutputFormat.table,
    verbose: VerboseOpt = False,
) -> None:
    """Revoke the live OAuth grants of an app through Salesforce's revoke endpoint.

    Always starts with a dry run listing the grants; then, unless --dry-run, asks for confirmation
    (or takes --yes) and revokes each one. Needs `[response] allow_revoke = true`. Every run is
    recorded in the store with who, when, which grant and Salesforce's answer.
    """
    from oauthwatch.errors import ConfigError
    from oauthwatch.response.grants_live import AppNotFound
    from oauthwatch.response.revoke import RevokeNotAllowed, org_client, revoke_app

    rt = runtime(ctx)
    settings = rt.settings
    orgs = settings.selected_orgs(org)
    if len(orgs) != 1:
        raise ConfigError(
            f"revoke acts on one org: name it with --org (configured: {', '.join(o.name for o in orgs) or 'none'})"
        )
    target = orgs[0]
    actor = who(by)
    engine = rt.store
    _, client = org_client(settings, target.name)
    try:
        plan = revoke_app(engine, settings, target, client, app=app_ref, user=user, dry_run=True, by=actor)
    except AppNotFound as exc:
        raise typer.BadParameter(str(exc), param_hint="--app/--user") from None
    typer.echo(emit(_rows(plan), COLUMNS, fmt))
    typer.echo(plan.summary(), err=True)
    if dry_run or not plan.count("dry_run"):
        return
    if not settings.response.allow_revoke:
        typer.echo(str(RevokeNotAllowed("revoking is off: set `[response] allow_revoke = true`")), err=True)
        raise typer.Exit(2)
    if not yes:
        if not sys.stdin.isatty():
            typer.echo("not revoking: confirm with --yes when not at a terminal", err=True)
            raise typer.Exit(2)
        typer.confirm(
            f"Revoke these {plan.count('dry_run')} grant(s) of {plan.app_name} ({plan.app_id}) in {target.name}?",
            abort=True,
        )
    done = revoke_app(
        engine,
        settings,
        target,
        client,
        app=plan.app_id,
        user=user,
        dry_run=False,
        by=actor,
        confirmed=frozenset(o.grant.token_hash for o in plan.outcomes if o.outcome == "dry_run"),
    )
    typer.echo(emit(_rows(done), COLUMNS, fmt))
    typer.echo(done.summary(), err=True)
    if done.count("failed"):
        raise typer.Exit(1)
