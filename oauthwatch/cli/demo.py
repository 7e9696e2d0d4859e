"""``demo`` (what ``make demo`` runs): the local org, the service and the dashboard at once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer()


@app.command("demo")
def demo(
    folder: Annotated[
        Path,
        typer.Option("--dir", help="Folder for the demo's org, store and logs (never your real store)."),
    ] = Path(".demo"),
    port: Annotated[int, typer.Option("--port", "-p", help="Dashboard port.")] = 8501,
    org_port: Annotated[
        int, typer.Option("--org-port", help="Local org HTTPS port (0 = any free port).")
    ] = 0,
    interval: Annotated[
        int, typer.Option("--interval", min=10, help="Seconds between collection cycles.")
    ] = 15,
    no_dashboard: Annotated[bool, typer.Option("--no-dashboard", help="Do not start the dashboard.")] = False,
    duration: Annotated[
        float | None, typer.Option("--duration", help="Stop by itself after this many seconds.")
    ] = None,
) -> None:
    """Try oauthwatch now: a live local org with incidents, collection, detection and the dashboard.

    Ctrl-C stops everything. Data lives in --dir (default ./.demo), apart from any real store.
    """
    from oauthwatch.demo import run_demo

    code = run_demo(
        folder,
        port=port,
        org_port=org_port,
        interval=interval,
        dashboard=not no_dashboard,
        duration=duration,
    )
    raise typer.Exit(code)
