"""``dashboard``: run the Streamlit app as a subprocess with the right settings.

The configuration path is resolved here and handed to the app through ``$OAUTHWATCH_CONFIG``
(absolute), so the dashboard reads the same store as the other verbs wherever it was started
from. How Streamlit is started and supervised lives in ``dashboard.launch``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from oauthwatch.cli.context import runtime
from oauthwatch.cli.options import ConfigOpt

app = typer.Typer()


@app.command("dashboard")
def dashboard(
    ctx: typer.Context,
    config_path: ConfigOpt = None,
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 8501,
    address: Annotated[
        str,
        typer.Option("--address", help="Address to listen on (loopback unless OIDC login is configured)."),
    ] = "127.0.0.1",
) -> None:
    """Start the dashboard (Streamlit) on http://127.0.0.1:8501 by default."""
    import os
    import subprocess

    from dashboard.auth import auth_problem, is_loopback
    from dashboard.launch import secrets_auth, streamlit_command, supervise
    from oauthwatch.config import config_path as resolve

    settings = runtime(ctx).settings  # fail here, clearly, on a wrong file
    auth = secrets_auth()
    problem = auth_problem(auth)
    if auth and problem:
        typer.echo(f"refusing to start: {problem} (see docs/dashboard.md)", err=True)
        raise typer.Exit(2)
    if not is_loopback(address) and problem:
        typer.echo(
            f"refusing to listen on {address or 'every interface (empty --address)'} without login: configure OIDC in "
            ".streamlit/secrets.toml (see .streamlit/secrets.toml.example and docs/dashboard.md), or use "
            "--address 127.0.0.1",
            err=True,
        )
        raise typer.Exit(2)
    env = dict(os.environ)
    path = resolve(config_path)
    if path.exists():
        env["OAUTHWATCH_CONFIG"] = str(path.resolve())
    else:
        env.pop("OAUTHWATCH_CONFIG", None)
        env["OAUTHWATCH_STORE_URL"] = settings.store.url
    typer.echo(f"dashboard on http://{address}:{port} (store {settings.store.url.split('@')[-1]})")
    proc = subprocess.Popen(streamlit_command(port, address), env=env)  # noqa: S603 - fixed argv
    raise typer.Exit(supervise(proc))
