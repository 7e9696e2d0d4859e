"""``import-csv`` into SQLite and PostgreSQL: oauthwatch vs the naive way, same files, same run.

The naive way is what a user would write: ``pandas.read_csv(path).to_sql(...)`` into a table of
its own (no ids, no dedupe, no quarantine, no rollups). Ours is ``collectors.imports.importer.import_csv``
(stable ids, "already there" counts, quarantine, rollups refreshed once, progress reported), then
the same file imported a second time (it must add nothing: the ``again`` column).
Each side runs in its own process, so its peak RSS (``ru_maxrss``) is its own; two file sizes
show whether memory grows with the file. ``cpu s`` is that process's CPU time (both of its
threads; a PostgreSQL server's work is not in it): on a shared machine the wall time says how
busy the machine was as much as how fast the import is, so the load averages are printed before
and after. Files are generated once per run, deterministically, with ``--ips`` (see :func:`ip`)
choosing the addresses logins come from: ``realistic`` (the default) or ``unique``, the worst
case for the per-address rollups:

- ``setup``: a Setup → Login History download (UI labels, ``MM/dd/yyyy hh:mm AM`` times, no Id),
  the kind that imported at ~290 rows/s before;
- ``dataloader``: a Data Loader export of LoginHistory (API names, ISO times, real Ids);
- ``elf-login``: a Login Event Log File (codes, REQUEST_ID, ``TIMESTAMP_DERIVED``);
- ``elf-api``: an ApiTotalUsage Event Log File (one call per row, keyed by REQUEST_ID).

On PostgreSQL every import gets a database of its own, dropped afterwards (``--pg`` is a server
URL whose user may create databases).

Usage::

    python bench/bench_import.py                                   # 300,000 and 50,000 rows, SQLite
    python bench/bench_import.py --backends sqlite,postgresql      # both stores
    python bench/bench_import.py --rows 1000000                    # the big size
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

UI_HEADER = ["Username", "Login Time", "Source IP", "Login Type", "Status", "Browser", "Platform", "Application",
             "Client Version", "API Type", "API Version", "Login URL", "Country", "City"]  # fmt: skip
API_HEADER = ["EVENT_TYPE", "TIMESTAMP", "REQUEST_ID", "ORGANIZATION_ID", "USER_ID", "USER_NAME", "API_FAMILY",
              "API_VERSION", "API_RESOURCE", "HTTP_METHOD", "STATUS_CODE", "ENTITY_NAME", "CLIENT_NAME", "CLIENT_IP",
              "CONNECTED_APP_ID", "CONNECTED_APP_NAME", "COUNTS_AGAINST_API_LIMIT", "TIMESTAMP_DERIVED"]  # fmt: skip
LOGIN_HEADER = ["EVENT_TYPE", "TIMESTAMP", "REQUEST_ID", "ORGANIZATION_ID", "USER_ID", "USER_NAME", "RUN_TIME", "CPU_TIME",
                "URI", "SESSION_KEY", "LOGIN_KEY", "USER_TYPE", "REQUEST_STATUS", "DB_TOTAL_TIME", "LOGIN_TYPE",
                "BROWSER_TYPE", "API_TYPE", "API_VERSION", "USER_INITIATED_LOGOUT", "SOURCE_IP", "TLS_PROTOCOL",
                "CIPHER_SUITE", "CLIENT_IP", "LOGIN_STATUS", "LOGIN_SUB_TYPE", "TIMESTAMP_DERIVED", "USER_ID_DERIVED",
                "CONNECTED_APP_NAME"]  # fmt: skip
DL_HEADER = ["ID", "USERID", "LOGINTIME", "LOGINTYPE", "LOGINSUBTYPE", "SOURCEIP", "LOGINURL", "STATUS", "APPLICATION",
             "BROWSER", "PLATFORM", "CLIENTVERSION", "APITYPE", "APIVERSION", "COUNTRYISO", "TLSPROTOCOL",
             "CIPHERSUITE", "LOGINGEOID", "LOGINGEO.COUNTRY", "LOGINGEO.CITY"]  # fmt: skip
APPS = ["Data Loader", "Integration A", "Mobile", "Browser", "Workbench", "Salesforce CLI"]
START = datetime(2026, 11, 1, tzinfo=UTC)
IPS = "realistic"  # or "unique" (--ips): which address each login comes from, see ip()


def ip(i: int, user: int) -> str:
    """The source address of login ``i`` by ``user``.

    ``realistic``: as in a real export, far fewer addresses than logins. Integrations log in from a
    few egress addresses of their company, people from their two usual places, and one login in 50
    from an address never seen before (travel, a mobile network). ``unique``: nearly every login
    from an address of its own (~50,000 of them), the worst case for the per-address rollups.
    """
    if IPS == "unique":
        return f"198.51.{i % 251}.{i % 199}"
    if i % 50 == 0:
        return f"203.0.{(i // 50) % 256}.{(i // 12_800) % 256}"
    if APPS[user % len(APPS)] in ("Mobile", "Browser"):
        return f"198.51.{user % 100}.{(user // 100) * 2 + (i // 7) % 2}"
    return f"192.0.2.{user % 8 + 1}"


def app(i: int, user: int) -> str:
    """The application of login ``i``: each user mostly one (``unique``: every user every app)."""
    return APPS[i % len(APPS)] if IPS == "unique" or i % 10 == 0 else APPS[user % len(APPS)]


def write_setup(path: Path, rows: int) -> None:
    """Newest first, as Setup sorts it; ~30 days; a few logins per minute."""
    span = 30 * 24 * 60
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(UI_HEADER)
        for i in range(rows):
            t = START + timedelta(minutes=span - (i * span) // rows)
            w.writerow([f"user{i % 997}@example.com", t.strftime("%m/%d/%Y %I:%M %p"), ip(i, i % 997),
                        "Remote Access 2.0" if i % 4 else "Application", "Success" if i % 9 else "Invalid Password",
                        "Unknown" if i % 4 else "Chrome 131", "Unknown" if i % 4 else "Windows", app(i, i % 997),
                        "N/A", "N/A", "N/A", "login.salesforce.com", "France", "Paris"])  # fmt: skip


def write_api(path: Path, rows: int) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL)
        w.writerow(API_HEADER)
        for i in range(rows):
            t = START + timedelta(milliseconds=(i * 86_400_000) // rows)
            w.writerow(["ApiTotalUsage", t.strftime("%Y%m%d%H%M%S.") + f"{t.microsecond // 1000:03d}",
                        f"4ehU{i:018d}", "00D000000000001", f"0050000000{i % 500:05d}", f"user{i % 500}@example.com",
                        "REST", "62.0", "/services/data/v62.0/query", "GET", "200" if i % 13 else "401", "Account",
                        "", ip(i, i % 500), "0H4000000000001", app(i, i % 500), "true",
                        t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"])  # fmt: skip


def write_login(path: Path, rows: int) -> None:
    """One day of logins, a few per second, in time order, as the daily Login file holds them."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL)
        w.writerow(LOGIN_HEADER)
        for i in range(rows):
            t = START + timedelta(milliseconds=(i * 86_400_000) // rows)
            ok = i % 11 != 0
            w.writerow(["Login", t.strftime("%Y%m%d%H%M%S.") + f"{t.microsecond // 1000:03d}", f"3Lg{i:019d}",
                        "00D000000000001", f"0050000000{i % 500:05d}", f"user{i % 500}@example.com", "41", "",
                        "/services/oauth2/token", "", f"Lk{i:014d}", "Standard", "" if ok else "F", "", "i",
                        "Unknown", "", "62.0", "0", ip(i, i % 500), "TLSv1.3",
                        "TLS_AES_256_GCM_SHA384", ip(i, i % 500),
                        "LOGIN_NO_ERROR" if ok else "LOGIN_ERROR_INVALID_PASSWORD", "oauthcode",
                        t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z",
                        f"0050000000{i % 500:05d}AAA", app(i, i % 500)])  # fmt: skip


def write_dataloader(path: Path, rows: int) -> None:
    """A Data Loader export of LoginHistory (API names upper-cased, ISO times), oldest first; ~30 days."""
    span = 30 * 86_400
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL)
        w.writerow(DL_HEADER)
        for i in range(rows):
            t = START + timedelta(seconds=(i * span) // rows)
            w.writerow([f"0Ya{i:015d}", f"0050000000{i % 997:05d}AAA", t.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                        "Remote Access 2.0" if i % 4 else "Application", "OAuth JWT Bearer" if i % 4 else "",
                        ip(i, i % 997), "login.salesforce.com", "Success" if i % 9 else "Invalid Password",
                        app(i, i % 997), "Unknown" if i % 4 else "Chrome 131", "Unknown", "N/A", "N/A", "62.0",
                        "FR", "TLS 1.3", "TLS_AES_256_GCM_SHA384", f"0LG{i % 50:015d}", "France", "Paris"])  # fmt: skip


WRITERS = {
    "setup": write_setup,
    "dataloader": write_dataloader,
    "elf-login": write_login,
    "elf-api": write_api,
}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def worker_ours(path: str, store: str) -> dict:
    from collectors.imports.importer import import_csv
    from oauthwatch.store import open_store

    engine = open_store(store)
    ticks: list[int] = []
    t0, cpu0 = time.perf_counter(), _cpu()
    report = import_csv(engine, "acme", Path(path), progress=lambda done, total: ticks.append(done))
    seconds, cpu = time.perf_counter() - t0, _cpu() - cpu0
    t1 = time.perf_counter()
    again = import_csv(engine, "acme", Path(path))
    again_seconds = time.perf_counter() - t1
    engine.dispose()
    return {"rows": report.imported, "quarantined": report.quarantined, "seconds": seconds, "cpu": cpu,
            "progress_updates": len(ticks), "rss_mb": _rss_mb(), "again_new": again.new,
            "again_seconds": again_seconds}  # fmt: skip


def worker_naive(path: str, store: str) -> dict:
    import pandas as pd
    from sqlalchemy import create_engine

    engine = create_engine(store)
    t0, cpu0 = time.perf_counter(), _cpu()
    df = pd.read_csv(path)
    df.to_sql("naive_import", engine, if_exists="append", index=False)
    seconds, cpu = time.perf_counter() - t0, _cpu() - cpu0
    engine.dispose()
    return {"rows": len(df), "quarantined": 0, "seconds": seconds, "cpu": cpu, "progress_updates": 0,
            "rss_mb": _rss_mb()}  # fmt: skip


@contextlib.contextmanager
def store_for(backend: str, tmp: Path, name: str, pg: str) -> Iterator[str]:
    """An empty store URL: a SQLite file, or a PostgreSQL database created for it and dropped after."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / name}.db"
        return
    from sqlalchemy import create_engine, text

    admin = create_engine(pg, isolation_level="AUTOCOMMIT")
    db = f"bench_import_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    try:
        yield pg.rsplit("/", 1)[0] + "/" + db
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()


def run_worker(who: str, path: Path, store: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", who, "--file", str(path), "--store", store],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        return {
            "failed": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"
        }
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=300_000, help="rows of the big file")
    ap.add_argument("--small", type=int, default=50_000, help="rows of the small file (flat-memory check)")
    ap.add_argument(
        "--kinds",
        default="setup,dataloader,elf-login,elf-api",
        help="file kinds: setup, dataloader, elf-login, elf-api",
    )
    ap.add_argument(
        "--ips",
        choices=["realistic", "unique"],
        default="realistic",
        help="the addresses logins come from (ip())",
    )
    ap.add_argument("--backends", default="sqlite", help="stores, comma-separated: sqlite, postgresql")
    ap.add_argument(
        "--pg",
        default=os.environ.get("OAUTHWATCH_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
        help="PostgreSQL server URL (its user creates and drops one database per import)",
    )
    ap.add_argument("--worker", choices=["ours", "naive"], help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--store", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        fn = worker_ours if args.worker == "ours" else worker_naive
        print(json.dumps(fn(args.file, args.store)))
        return
    global IPS
    IPS = args.ips
    print(f"addresses: {IPS}; load averages (1, 5, 15 min) before: {_load()}")
    print(
        f"\n{'store':10}  {'file':9}  {'rows':>9}  {'MB':>6}  {'who':6}  {'rows/s':>9}  {'seconds':>8}  "
        f"{'cpu s':>6}  {'peak RSS MB':>11}  {'progress':>8}  {'speed vs naive':>14}  {'again: new, s':>13}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        for kind in args.kinds.split(","):
            for rows in (args.small, args.rows):
                path = Path(tmp) / f"{kind}-{rows}.csv"
                WRITERS[kind](path, rows)
                for backend in args.backends.split(","):
                    res = {}
                    for who in ("naive", "ours"):
                        with store_for(backend, Path(tmp), f"{kind}-{rows}-{who}", args.pg) as url:
                            res[who] = run_worker(who, path, url)
                    for who in ("naive", "ours"):
                        x = res[who]
                        if "failed" in x:
                            print(f"{backend:10}  {kind:9}  {rows:>9}  {who:6}  failed: {x['failed']}")
                            continue
                        assert x["rows"] + x["quarantined"] == rows, (
                            f"{who} accounted for {x['rows']} of {rows}"
                        )
                        ratio = again = ""
                        if who == "ours":
                            again = f"{x['again_new']}, {x['again_seconds']:.1f}"
                            if "failed" not in res["naive"]:
                                ratio = f"{res['naive']['seconds'] / x['seconds']:.2f}x"
                        print(
                            f"{backend:10}  {kind:9}  {rows:>9}  {path.stat().st_size / 1e6:>6.1f}  {who:6}  "
                            f"{x['rows'] / x['seconds']:>9,.0f}  {x['seconds']:>8.1f}  {x['cpu']:>6.1f}  {x['rss_mb']:>11.0f}  "
                            f"{x['progress_updates']:>8}  {ratio:>14}  {again:>13}",
                            flush=True,
                        )
                path.unlink()
    print(f"load averages after: {_load()}")


if __name__ == "__main__":
    main()
