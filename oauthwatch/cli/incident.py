"""``incident --app APP --from --to --out DIR``: the incident report of one app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from oauthwatch.cli.context import runtime
from oauthwatch.cli.detect import parse_time
from oauthwatch.cli.options import ConfigOpt, OrgOpt

app = typer.Typer()


@app.command("incident")
def incident_cmd(
    ctx: typer.Context,
    app_ref: Annotated[str, typer.Option("--app", help="The app: its id (0H4…) or its name.")],
    start: Annotated[str, typer.Option("--from", help="Start of the span (UTC date or time).")],
    end: Annotated[str, typer.Option("--to", help="End of the span, excluded (UTC date or time).")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the report and evidence into.")],
    config_path: ConfigOpt = None,
    org: OrgOpt = None,
) -> None:
    """Write a self-contained HTML report (timeline, users, addresses with their network class,
    grants, data movement, audit-trail changes, alerts, response actions), the evidence as CSV
    files, and MANIFEST.sha256 with every file's SHA-256."""
    from oauthwatch.errors import ConfigError
    from oauthwatch.report.incident_data import UnknownApp, gather
    from oauthwatch.report.incident_render import MANIFEST, write_report
    from oauthwatch.store.writes import utcnow

    rt = runtime(ctx)
    engine = rt.store
    names = [org] if org else [o.name for o in rt.settings.selected_orgs()]
    if len(names) != 1:
        raise ConfigError(
            f"an incident report covers one org: name it with --org (configured: {', '.join(names) or 'none'})"
        )
    t0, t1 = parse_time(start, "--from"), parse_time(end, "--to")
    if t1 <= t0:
        raise typer.BadParameter("--to must be after --from", param_hint="--to")
    try:
        data = gather(engine, names[0], app_ref, t0, t1, utcnow())
    except UnknownApp as exc:
        raise typer.BadParameter(str(exc), param_hint="--app") from None
    hashes = write_report(data, out)
    typer.echo(
        f"{out / 'report.html'}: {len(data.table('timeline').rows)} authentication(s) of {data.app_name}"
    )
    typer.echo(f"{len(hashes)} file(s) with their SHA-256 in {out / MANIFEST}")
