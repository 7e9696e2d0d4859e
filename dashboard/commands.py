"""The `oauthwatch dashboard` verb: run the Streamlit app as a subprocess with the right settings.

The configuration path is resolved here and handed to the app through ``$OAUTHWATCH_CONFIG``
(absolute), so the dashboard reads the same store as the other verbs wherever it was started
from. Server settings are passed as flags so they hold even outside the repository (where
``.streamlit/config.toml`` is not found): loopback address, headless, no usage statistics, static
serving for the offline map. A non-loopback ``--address`` is refused unless OIDC login is
configured in ``.streamlit/secrets.toml`` (see docs/dashboard.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from oauthwatch.cli_options import ConfigOpt

APP = Path(__file__).with_name("app.py")


def streamlit_command(port: int, address: str) -> list[str]:
    """The `streamlit run` command line for the app."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--server.headless",
        "true",
        "--server.enableStaticServing",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--browser.serverAddress",
        address,
        "--client.toolbarMode",
        "viewer",
        "--client.showErrorDetails",
        "none",
    ]


def _secrets_auth() -> dict[str, object] | None:
    """The ``[auth]`` section Streamlit will read (project secrets first, then the user's)."""
    import tomllib

    for p in (Path.cwd() / ".streamlit" / "secrets.toml", Path.home() / ".streamlit" / "secrets.toml"):
        if p.is_file():
            try:
                auth = tomllib.loads(p.read_text()).get("auth")
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue
            if auth:
                return dict(auth)
    return None


def register(app: typer.Typer) -> None:
    """Add `dashboard` to the CLI."""

    @app.command("dashboard")
    def dashboard(
        config_path: ConfigOpt = None,
        port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 8501,
        address: Annotated[
            str,
            typer.Option(
                "--address", help="Address to listen on (loopback unless OIDC login is configured)."
            ),
        ] = "127.0.0.1",
    ) -> None:
        """Start the dashboard (Streamlit) on http://127.0.0.1:8501 by default."""
        from dashboard.auth import auth_problem, is_loopback
        from oauthwatch.config import config_path as resolve
        from oauthwatch.config import load_settings

        settings = load_settings(config_path)  # fail here, clearly, on a wrong file
        auth = _secrets_auth()
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
        raise typer.Exit(_supervise(proc))


def _supervise(proc: subprocess.Popen[bytes], grace: float = 10.0) -> int:
    """Wait for Streamlit; on SIGTERM/SIGINT stop it too (never leave an orphan server behind).

    The handler only forwards the signal: waiting inside it would nest a second ``wait`` on the
    child while the interrupted one holds its lock, so the child could not be reaped until the
    timeout ran out (every SIGTERM took the whole grace period). The loop below reaps it as soon as
    it exits and kills it only if it is still there ``grace`` seconds later.
    """
    import signal
    import time

    stopping: list[tuple[int, float]] = []

    def stop(signum: int, _frame: object) -> None:
        if not stopping:
            stopping.append((signum, time.monotonic()))
            proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        try:
            code = proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            if stopping and time.monotonic() - stopping[0][1] > grace:
                proc.kill()
            continue
        return 128 + stopping[0][0] if stopping else code
