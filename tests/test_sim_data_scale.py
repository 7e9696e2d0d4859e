"""Scale smoke: a ~200k-row org builds hour by hour with memory that does not grow with its size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, resource, sqlite3, sys
from datetime import UTC, datetime
from pathlib import Path
from oauthwatch.simulator.generate.build import build_org
state, days = Path(sys.argv[1]), int(sys.argv[2])
build_org(state, seed=9, users=1500, days=days, elf_days=1, now=datetime(2026, 7, 1, 8, tzinfo=UTC))
conn = sqlite3.connect(state / "org.sqlite3")
rows = conn.execute('SELECT COUNT(*) FROM "LoginHistory"').fetchone()[0]
geo = conn.execute('SELECT COUNT(*) FROM "LoginGeo"').fetchone()[0]
print(json.dumps({"rows": rows, "geo": geo, "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _build(state: Path, days: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(state), str(days)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_big_build_keeps_memory_flat(tmp_path: Path) -> None:
    small = _build(tmp_path / "small", 2)
    big = _build(tmp_path / "big", 20)
    assert big["rows"] > 150_000
    assert big["rows"] > 8 * small["rows"]
    assert big["geo"] == big["rows"]
    # ten times the rows, (almost) the same peak memory: history is generated and written hour by hour
    assert big["rss_kb"] < small["rss_kb"] + 40 * 1024
