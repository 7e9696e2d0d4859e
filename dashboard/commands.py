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


def _secrets_have_auth() -> bool:
    import tomllib

    for p in (Path.cwd() / ".streamlit" / "secrets.toml", Path.home() / ".streamlit" / "secrets.toml"):
        if p.is_file():
            try:
                auth = tomllib.loads(p.read_text()).get("auth") or {}
            except (OSError, tomllib.TOMLDecodeError):
                continue
            if auth.get("redirect_uri"):
                return True
    return False


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
        from dashboard.auth import is_loopback
        from oauthwatch.config import config_path as resolve
        from oauthwatch.config import load_settings

        settings = load_settings(config_path)  # fail here, clearly, on a wrong file
        if not is_loopback(address) and not _secrets_have_auth():
            typer.echo(
                f"refusing to listen on {address} without login: configure OIDC in .streamlit/secrets.toml "
                "(see .streamlit/secrets.toml.example and docs/dashboard.md), or use --address 127.0.0.1",
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


def _supervise(proc: subprocess.Popen[bytes]) -> int:
    """Wait for Streamlit; on SIGTERM/SIGINT stop it too (never leave an orphan server behind)."""
    import signal

    def stop(signum: int, _frame: object) -> None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return proc.wait()
