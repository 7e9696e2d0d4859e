"""The dashboard benchmark still runs end to end (tiny size, SQLite): it builds the store with bulk
inserts and the store's own rollups, checks they reconcile, and prints its table. Timing is the
benchmark's business, not this test's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_dashboard.py"


def test_bench_dashboard_runs_and_prints_its_table():
    out = subprocess.run(
        [sys.executable, str(BENCH), "--rows", "3000", "--repeat", "1", "--backend", "sqlite"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode in (0, 1), out.stderr[-2000:]
    assert "loaded 3,000 logins" in out.stdout
    table = out.stdout.split("median of 1", 1)[1]
    for page in (
        "overview",
        "apps",
        "app detail",
        "failures",
        "origins",
        "alerts",
        "investigate",
        "tokens",
        "collection",
    ):
        assert f"sqlite     {page}" in table
    assert "slowest page:" in out.stdout
