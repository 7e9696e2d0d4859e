"""The demo's helpers, without starting anything heavy: config merge, busy port, process-group stop."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from oauthwatch.config import load_settings
from oauthwatch.demo import Child, port_is_free, run_demo, stop_children, write_demo_config


def test_demo_config_adds_a_short_interval_and_the_dashboard_url(tmp_path) -> None:
    (tmp_path / "oauthwatch.toml").write_text(
        '[store]\nurl = "sqlite:///oauthwatch.db"\n\n[[orgs]]\nname = "local"\nlogin_url = "https://127.0.0.1:1"\n'
        'flow = "client_credentials"\nclient_id = "x"\nclient_secret_file = "client_secret.txt"\nca_bundle = "ca.pem"\n'
    )
    cfg = write_demo_config(tmp_path, "http://localhost:8599", interval=12)
    raw = tomllib.loads(cfg.read_text())
    assert raw["collect"] == {"interval_seconds": 12, "jitter_seconds": 0}
    settings = load_settings(cfg)
    assert settings.notify.dashboard_url == "http://localhost:8599"
    assert settings.orgs[0].name == "local"
    assert settings.store.url == f"sqlite:///{(tmp_path / 'oauthwatch.db').resolve()}", (
        "the store stays in the demo folder"
    )
    assert settings.orgs[0].ca_bundle == tmp_path / "ca.pem"


def test_a_busy_dashboard_port_is_reported_before_starting_anything(tmp_path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert not port_is_free(port)
        out = io.StringIO()
        assert run_demo(tmp_path / "demo", port=port, out=out) == 2
    assert f"port {port} is already in use" in out.getvalue()
    assert not (tmp_path / "demo").exists(), "nothing started, nothing written"


def test_stop_children_stops_the_whole_process_group(tmp_path) -> None:
    # A parent that starts a grandchild in its own group, as Streamlit and uvicorn do with workers.
    script = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    log = tmp_path / "c.log"
    handle = log.open("ab")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=handle, start_new_session=True)
    time.sleep(0.5)
    pgid = proc.pid
    t0 = time.monotonic()
    stop_children([Child("c", proc, log, handle)], timeout=5)
    assert proc.poll() is not None
    assert time.monotonic() - t0 < 5
    time.sleep(0.2)
    assert _live_members(pgid) == [], "no process left in the child's group"


def _live_members(pgid: int) -> list[int]:
    """Running (not zombie) processes whose process group is ``pgid``, from /proc."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out
