"""The session's reference clock reaches the test and every child process, filtered env or not."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from tests.shared_clock import REFERENCE_NOW, SESSION_CLOCK, subprocess_env

PRINT_NOW = "import datetime; print(datetime.datetime.now(datetime.UTC).isoformat())"


def _child_now(env: dict[str, str] | None) -> datetime:
    out = subprocess.run(
        [sys.executable, "-c", PRINT_NOW], env=env, capture_output=True, text=True, check=True
    )
    return datetime.fromisoformat(out.stdout.strip())


def test_the_session_runs_at_the_reference_time() -> None:
    now = datetime.now(UTC)
    assert REFERENCE_NOW <= now < REFERENCE_NOW + timedelta(hours=3), now  # a session is shorter than that
    assert abs(now - SESSION_CLOCK.now()) < timedelta(seconds=5)


def test_children_read_the_same_clock_inherited_or_filtered() -> None:
    before = datetime.now(UTC)
    inherited = _child_now(None)
    filtered = _child_now(subprocess_env({k: v for k, v in os.environ.items() if not k.startswith("OW_")}))
    after = datetime.now(UTC)
    for child in (inherited, filtered):
        assert before - timedelta(seconds=1) <= child <= after + timedelta(seconds=1), (before, child, after)
