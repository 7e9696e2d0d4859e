"""The independent conformance client in ../shared/conformance holds the local org to the reference.

It uses only public clients (PyJWT, requests, simple-salesforce) and our CLI, so it catches what our
own tests, written beside the server, might share as a blind spot.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_local_org_passes_shared_conformance(shared_dir: Path):
    script = shared_dir / "conformance" / "local_org.py"
    env = dict(os.environ)
    # requests lets REQUESTS_CA_BUNDLE override a Session's `verify`; the script sets only the latter.
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        env.pop(var, None)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    out = proc.stdout + proc.stderr
    match = re.search(r"wire checks (\d+)/(\d+) passed", out)
    assert match, out[-2000:]
    passed, total = int(match[1]), int(match[2])
    assert total >= 20, out[-2000:]
    assert passed == total, out[-2000:]
    assert proc.returncode == 0, out[-2000:]
