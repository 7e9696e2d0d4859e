"""``digest``: print, save or send the daily digest (a thin wrapper over notify.digest)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from oauthwatch.cli.context import runtime
from oauthwatch.cli.options import ConfigOpt, OrgOpt, VerboseOpt

app = typer.Typer()


@app.command("digest")
def digest(
    ctx: typer.Context,
    config_path: ConfigOpt = None,
    org: OrgOpt = None,
    day: Annotated[
        str | None,
        typer.Option(
            "--date", help="Local day to report on, YYYY-MM-DD (default: yesterday in digest_timezone)."
        ),
    ] = None,
    send: Annotated[
        bool, typer.Option("--send", help="Email it to the org's recipients (once per org and day).")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write a self-contained HTML file (charts embedded) instead of printing."),
    ] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Build the daily digest per org: print its text, write it as HTML (--out) or email it (--send)."""
    from oauthwatch.notify.digest import build_digest
    from oauthwatch.notify.digest_data import local_yesterday
    from oauthwatch.notify.digest_send import send_digest

    if send and out:
        raise typer.BadParameter("choose one of --send and --out")
    rt = runtime(ctx)
    orgs = rt.orgs(org)
    settings = rt.settings
    try:
        when = date.fromisoformat(day) if day else local_yesterday(settings.notify.digest_timezone)
    except ValueError:
        raise typer.BadParameter(f"--date {day!r} is not a date like 2026-11-28") from None
    engine = rt.store
    failed = False
    for o in orgs:
        if send:
            result = send_digest(engine, settings, o.name, when)
            detail = result.error or ", ".join(result.recipients)
            typer.echo(f"{o.name} {when}: {result.status.replace('_', ' ')} ({detail})")
            failed |= result.status in ("failed", "no_recipients")
            continue
        d = build_digest(engine, settings, o.name, when)
        if out:
            target = out if len(orgs) == 1 else out.with_name(f"{out.stem}-{o.name}{out.suffix}")
            target.write_text(d.html_with_embedded_images(), encoding="utf-8")
            typer.echo(f"{o.name} {when}: wrote {target}")
        else:
            typer.echo(f"Subject: {d.subject}\n\n{d.text}")
    if failed:
        raise typer.Exit(1)
