"""``oauthwatch demo`` (what ``make demo`` runs): the whole product against the local org, one command.

Three child processes, each in its own process group so that Ctrl-C reaches only this supervisor,
which then stops them in order (dashboard, service, org) and waits for each:

1. the local org (``oauthwatch simulate --live``) with incidents scheduled over the next minutes;
2. the service (``oauthwatch run``) collecting every :data:`DEMO_INTERVAL` seconds and detecting;
3. the dashboard (``oauthwatch dashboard``) on http://localhost:8501.

Everything lives in its own folder (``./.demo`` by default, gitignored): the org, its CA, the
store and the logs. A real configuration or store is never read or written.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

DEMO_DIR = Path(".demo")
DEMO_INTERVAL = 15
SCENARIOS: tuple[tuple[str, str, str], ...] = (
    ("spray", "+1m", "a password spray from one network against many users"),
    ("runaway_integration", "+2m", "an integration suddenly making many times its usual logins"),
    ("stolen_refresh_token", "+3m", "a refresh token used from a new country and network"),
    (
        "token_theft",
        "+4m",
        "a vendor app's stolen refresh tokens replayed by scripts from AWS, DigitalOcean and Tor",
    ),
)
CONFIG_NAME = "demo.toml"
STOP_TIMEOUT = 15.0
SERVICE_STOP_TIMEOUT = 60.0  # finishing the batch being written, as in production
DASHBOARD_STOP_TIMEOUT = 3.0  # nothing to save; Streamlit can take long to close its sessions


@dataclass
class Child:
    """One supervised process and the log file it writes to."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    handle: IO[bytes] = field(repr=False)
    stop_timeout: float = STOP_TIMEOUT

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "oauthwatch", *args]


def _start(
    name: str,
    argv: list[str],
    folder: Path,
    env: dict[str, str] | None = None,
    stop_timeout: float = STOP_TIMEOUT,
) -> Child:
    log = folder / f"{name}.log"
    handle = log.open("ab")
    proc = subprocess.Popen(  # noqa: S603 - our own CLI, fixed argv
        argv,
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    return Child(name, proc, log, handle, stop_timeout)


def stop_children(children: list[Child], timeout: float | None = None, out: IO[str] | None = None) -> None:
    """SIGTERM each child's process group (newest first), wait, then SIGKILL what is left.

    Each child waits its own ``stop_timeout`` (unless ``timeout`` overrides it): the service gets
    time to finish the write in progress; the dashboard holds nothing and is not waited for long.
    """
    for child in reversed(children):
        limit = child.stop_timeout if timeout is None else timeout
        t0 = time.monotonic()
        if child.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.proc.pid, signal.SIGTERM)
        how = "stopped"
        try:
            child.proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.proc.pid, signal.SIGKILL)
            child.proc.wait(timeout=5)
            how = f"stopped, forced after {limit:.0f} s"
        if out is not None:
            print(f"  {child.name}: {how} ({time.monotonic() - t0:.1f} s)", file=out, flush=True)
        # Streamlit or uvicorn workers left in the group (the leader may exit first).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.proc.pid, signal.SIGKILL)
        child.handle.close()


def port_is_free(port: int) -> bool:
    """True when nothing listens on ``port`` on loopback (the dashboard would fail to bind)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_for_org(org: Child, state_dir: Path, timeout: float = 180.0) -> dict[str, Any]:
    """Wait until the local org listens (it writes credentials.json then); its credentials."""
    creds = state_dir / "credentials.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if creds.exists():
            with contextlib.suppress(ValueError, OSError):
                return dict(json.loads(creds.read_text()))
        if not org.alive():
            raise RuntimeError(f"the local org stopped (exit {org.proc.returncode}):\n{org.tail()}")
        time.sleep(0.2)
    raise RuntimeError(f"the local org did not start within {timeout:.0f} s:\n{org.tail()}")


def write_demo_config(state_dir: Path, dashboard_url: str, interval: int = DEMO_INTERVAL) -> Path:
    """The org's generated config plus a short collection interval and the demo's dashboard URL."""
    base = (state_dir / "oauthwatch.toml").read_text()
    raw = tomllib.loads(base)
    extra = []
    if "collect" not in raw:
        extra.append(f"[collect]\ninterval_seconds = {interval}\njitter_seconds = 0\n")
    if "notify" not in raw:
        extra.append(f"[notify]\ndashboard_url = {json.dumps(dashboard_url)}\n")
    path = state_dir / CONFIG_NAME
    text = "# Written by `oauthwatch demo` from oauthwatch.toml: a short interval for the demo.\n"
    path.write_text(text + base.rstrip() + "\n\n" + "\n".join(extra))
    tomllib.loads(path.read_text())  # fail here, not in a child, if the merge is wrong
    return path


def _alert_watcher(store_url: str, stop: threading.Event, out: IO[str]) -> None:
    """Print each new alert as the service records it, so the terminal tells the story."""
    from sqlalchemy import select

    from oauthwatch.store import open_store
    from oauthwatch.store import schema as s

    engine = None
    seen: set[int] = set()
    announced_data = False
    while not stop.wait(3):
        try:
            engine = engine or open_store(store_url, migrate=False)
            with engine.connect() as conn:
                if not announced_data:
                    n = conn.execute(select(s.logins.c.id).limit(1)).first()
                    if n is not None:
                        print("· first collection stored: the dashboard has data now", file=out, flush=True)
                        announced_data = True
                rows = conn.execute(
                    select(s.alerts.c.id, s.alerts.c.severity, s.alerts.c.title).order_by(s.alerts.c.id)
                ).all()
        except Exception:  # noqa: BLE001, S112 - the store may not exist yet; try again
            continue
        fresh = [r for r in rows if r.id not in seen]
        if len(fresh) > 8 and not seen:
            print(f"· {len(fresh)} alerts from the org's history (see the Alerts page)", file=out, flush=True)
        else:
            for r in fresh:
                print(f"· alert [{r.severity}] {r.title}", file=out, flush=True)
        seen.update(r.id for r in fresh)
    if engine is not None:
        engine.dispose()


def banner(url: str, config: Path, folder: Path) -> str:
    """What to look at, printed once everything is up."""
    lines = [
        "",
        f"oauthwatch demo is running: open {url}",
        "",
        "  Overview    authentications per app, failures and origins of the local org",
        "  Alerts      what the detectors found, with evidence and a runbook",
        "  Collection  every source's runs, coverage, API budget and the service heartbeat",
        "",
        "Incidents scheduled in the local org (they show up as alerts a cycle after they start):",
    ]
    lines += [f"  {when:>4}  {name}: {what}" for name, when, what in SCENARIOS]
    lines += [
        "",
        f"Everything lives in {folder}/ (org, store, logs); your own configuration is not touched.",
        f"Try also: oauthwatch --help · oauthwatch alerts -c {config} · oauthwatch digest -c {config}",
        "Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


def run_demo(
    folder: Path = DEMO_DIR,
    *,
    port: int = 8501,
    org_port: int = 0,
    interval: int = DEMO_INTERVAL,
    dashboard: bool = True,
    duration: float | None = None,
    out: IO[str] = sys.stdout,
) -> int:
    """Start the org, the service and the dashboard; supervise them until Ctrl-C (or ``duration``)."""
    folder = folder.resolve()
    if dashboard and not port_is_free(port):
        print(
            f"port {port} is already in use (another dashboard or demo?): stop it, or run "
            f"`oauthwatch demo --port {port + 1}`",
            file=out,
            flush=True,
        )
        return 2
    state_dir = folder / "org"
    state_dir.mkdir(parents=True, exist_ok=True)
    (folder / ".gitignore").write_text("*\n")
    stop = threading.Event()
    children: list[Child] = []

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    watcher: threading.Thread | None = None
    code = 0
    try:
        scen = [a for name, when, _ in SCENARIOS for a in ("--scenario", f"{name}@{when}")]
        print(
            f"starting the local org in {state_dir} (first start builds 30 days of history)…",
            file=out,
            flush=True,
        )
        org = _start(
            "org",
            _cli("simulate", "--state-dir", str(state_dir), "--port", str(org_port), "--live", *scen),
            folder,
        )
        children.append(org)
        creds = wait_for_org(org, state_dir)
        print(
            f"local org {creds.get('org_id', '')} listening on {creds['instance_url']}", file=out, flush=True
        )
        url = f"http://localhost:{port}"
        config = write_demo_config(state_dir, url, interval)
        print(f"configuration for it: {config}", file=out, flush=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTHWATCH_")}
        service_argv = _cli("run", "--config", str(config), "--no-digest")
        children.append(_start("service", service_argv, folder, env, stop_timeout=SERVICE_STOP_TIMEOUT))
        if dashboard:
            children.append(
                _start(
                    "dashboard",
                    _cli("dashboard", "--config", str(config), "--port", str(port)),
                    folder,
                    env,
                    stop_timeout=DASHBOARD_STOP_TIMEOUT,
                )
            )
        (folder / "pids.json").write_text(json.dumps({c.name: c.proc.pid for c in children}) + "\n")
        from oauthwatch.config import load_settings

        store_url = load_settings(config).store.url
        print(banner(url if dashboard else "(dashboard disabled)", config, folder), file=out, flush=True)
        watcher = threading.Thread(target=_alert_watcher, args=(store_url, stop, out), daemon=True)
        watcher.start()
        deadline = time.monotonic() + duration if duration else None
        while not stop.wait(0.5):
            dead = [c for c in children if not c.alive()]
            if dead:
                c = dead[0]
                print(
                    f"\n{c.name} stopped unexpectedly (exit {c.proc.returncode}); its log:\n{c.tail()}",
                    file=out,
                )
                code = 1
                break
            if deadline and time.monotonic() >= deadline:
                break
    except RuntimeError as exc:
        print(f"demo failed: {exc}", file=out, flush=True)
        code = 1
    finally:
        stop.set()
        print("stopping the demo…", file=out, flush=True)
        stop_children(children, out=out)
        if watcher is not None:
            watcher.join(timeout=5)
        for sig, handler in old.items():
            signal.signal(sig, handler)
        print(
            f"stopped. The demo's org and store stay in {folder}/ (delete it to start afresh).",
            file=out,
            flush=True,
        )
    return code
