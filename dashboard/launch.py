"""How the dashboard is started: the Streamlit command line, the login check, the supervision.

Server settings are passed as flags so they hold even outside the repository (where
``.streamlit/config.toml`` is not found): loopback address, headless, no usage statistics, static
serving for the offline map. A non-loopback address is refused unless OIDC login is configured in
``.streamlit/secrets.toml`` (see docs/dashboard.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def secrets_auth() -> dict[str, object] | None:
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


def supervise(proc: subprocess.Popen[bytes], grace: float = 10.0) -> int:
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
