"""Local-org history build: generated LoginHistory rows per second, against SQLite's storage floor.

The floor is measured in the same run: the same number of LoginHistory + LoginGeo rows written with
the same bulk settings but no generation (a constant row with sequential Ids), i.e. the least any
generator storing these rows could cost. The ratio says how much the traffic model, Ids, geo and
grants add on top. Each side runs in its own process so the peak RSS is its own: the build stays
flat in memory whatever the size (hour-by-hour generation, chunked inserts).

Usage::

    python bench/bench_sim_build.py                          # ~200,000 rows (2,000 users, 15 days)
    python bench/bench_sim_build.py --users 10000 --days 150 # ~10 million rows
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _usage() -> dict:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return {"rss_mb": use.ru_maxrss / 1024, "cpu": use.ru_utime + use.ru_stime}


def child_build(state: str, users: int, days: int, elf_days: int) -> None:
    from datetime import UTC, datetime

    from oauthwatch.simulator.generate.build import build_org

    t0 = time.perf_counter()
    build_org(
        Path(state), users=users, days=days, elf_days=elf_days, now=datetime(2026, 6, 1, 12, tzinfo=UTC)
    )
    seconds = time.perf_counter() - t0
    rows = (
        sqlite3.connect(Path(state) / "org.sqlite3")
        .execute('SELECT COUNT(*) FROM "LoginHistory"')
        .fetchone()[0]
    )
    print(json.dumps({"rows": rows, "seconds": seconds, **_usage()}))


def child_floor(path: str, rows: int) -> None:
    from oauthwatch.simulator.data import catalog, schema
    from oauthwatch.simulator.data.ids import IdFactory
    from oauthwatch.simulator.generate.logins import GEO_SQL, LH_SQL

    conn = sqlite3.connect(path)
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-200000", "locking_mode=EXCLUSIVE"):
        conn.execute(f"PRAGMA {pragma}")
    for name in ("LoginHistory", "LoginGeo"):
        conn.execute(schema.ddl(catalog.get(name))[0])  # type: ignore[arg-type]
    lh_id, geo_id = IdFactory("0Ya"), IdFactory("04F")
    t0 = time.perf_counter()
    done = 0
    while done < rows:
        n = min(5000, rows - done)
        lh = [(lh_id(done + i), "0055j0000000A1bAAE", 1_780_000_000_000 + done + i, "Remote Access 2.0", None,
               "3.214.120.10", None, "login.salesforce.com", "Success", "MuleSoft Order Sync", "Unknown", "Unknown",
               "N/A", "N/A", "N/A", "US", geo_id(done + i), None, None, None, 0, 1, "TLS 1.3", "TLS_AES_256_GCM_SHA384")
              for i in range(n)]  # fmt: skip
        gl = [(geo_id(done + i), "Ashburn", "United States", "US", 39.0, -77.4, 1_780_000_000_000 + done + i, "20149", "Virginia")
              for i in range(n)]  # fmt: skip
        conn.executemany(GEO_SQL, gl)
        conn.executemany(LH_SQL, lh)
        done += n
    for name in ("LoginHistory",):
        for stmt in schema.ddl(catalog.get(name))[1:]:  # type: ignore[arg-type]
            conn.execute(stmt)
    conn.commit()
    seconds = time.perf_counter() - t0
    print(json.dumps({"rows": rows, "seconds": seconds, **_usage()}))


def run(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--days", type=int, default=15)
    ap.add_argument(
        "--elf-days", type=int, default=0, help="days of Event Log Files to build too (default none)"
    )
    ap.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    ns = ap.parse_args()
    if ns.child:
        kind, *rest = ns.child
        if kind == "build":
            child_build(rest[0], int(rest[1]), int(rest[2]), int(rest[3]))
        else:
            child_floor(rest[0], int(rest[1]))
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-sim-"))
    try:
        build = run(["--child", "build", str(tmp / "org"), str(ns.users), str(ns.days), str(ns.elf_days)])
        floor = run(["--child", "floor", str(tmp / "floor.db"), str(build["rows"])])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"Local org build: {ns.users} users, {ns.days} days, {ns.elf_days} days of ELF")
    print(
        f"{'side':<28}{'rows':>12}{'wall s':>9}{'CPU s':>9}{'rows/s':>11}{'rows/CPU s':>12}{'peak RSS MB':>13}"
    )
    for name, r in (("build_org (generate+store)", build), ("storage floor (same rows)", floor)):
        print(
            f"{name:<28}{r['rows']:>12,}{r['seconds']:>9.1f}{r['cpu']:>9.1f}{r['rows'] / r['seconds']:>11,.0f}"
            f"{r['rows'] / r['cpu']:>12,.0f}{r['rss_mb']:>13.0f}"
        )
    print(
        f"ratio build/floor: {build['seconds'] / floor['seconds']:.2f}x wall, {build['cpu'] / floor['cpu']:.2f}x CPU"
    )


if __name__ == "__main__":
    main()
