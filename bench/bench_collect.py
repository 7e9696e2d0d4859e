"""LoginHistory collection from the local org into SQLite: oauthwatch vs the naive way, same run.

The naive way is what a user would write: ``sf.query_all(...)`` (simple-salesforce) and
``pandas.json_normalize(records).to_sql(...)``. Ours is ``collect_once(..., sources=["login_history"])``
(streaming pages, prefetch, executemany upserts, rollups and checkpoints included). Each side runs
in its own process against the same running org (HTTPS on loopback), so its peak RSS is its own
(``resource.getrusage(RUSAGE_SELF)`` in the child). Two org sizes show whether memory is flat.

The orgs are built once into a cache folder: the data helper's generator makes a realistic small
org, then LoginHistory is topped up to exactly N rows with copies of its own rows (new Ids, times
spread over the same 30 days, same users, apps and geo), which is far faster than generating
N rows of traffic and gives an exact size.

Ours runs twice: the REST path (paging ``/query``, what every incremental run does) and the
backfill path (first run above ``collect.bulk_threshold_rows``: time-sliced Bulk API 2.0 query
jobs), each with its rows/s, peak RSS, API calls per 100k rows and ratio to the naive way.

Usage::

    python bench/bench_collect.py                        # 1,000,000 and 100,000 rows
    python bench/bench_collect.py --rows 50000 --small 10000   # what CI could afford
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

FIELDS = (
    "Id, UserId, LoginTime, LoginType, LoginSubType, SourceIp, LoginUrl, Status, Application, Browser, Platform, "
    "ClientVersion, ApiType, ApiVersion, CountryIso, LoginGeoId, TlsProtocol, CipherSuite, LoginGeo.City, "
    "LoginGeo.Country, LoginGeo.CountryIso, LoginGeo.Subdivision, LoginGeo.PostalCode, LoginGeo.Latitude, "
    "LoginGeo.Longitude"
)


def build_org(cache: Path, rows: int) -> Path:
    """A state folder whose LoginHistory holds exactly ``rows`` rows (built once, then reused)."""
    state = cache / f"org-{rows}"
    if (state.exists() and not (state / "bench-rows").exists()) or (
        (state / "bench-rows").exists() and (state / "bench-rows").read_text() != f"{rows} v2"
    ):
        import shutil

        shutil.rmtree(state)  # an older or half-built cache: build again
    marker = state / "bench-rows"
    if marker.exists() and marker.read_text() == f"{rows} v2":
        return state
    from simorg import start_org

    org = start_org(state, timeout=900)  # generator: the default small org
    org.stop()
    conn = sqlite3.connect(state / "org.sqlite3")
    cols = [r[1] for r in conn.execute('PRAGMA table_info("LoginHistory")')]
    template = conn.execute(f"SELECT {', '.join(cols)} FROM LoginHistory ORDER BY LoginTime").fetchall()
    have = len(template)
    t_lo = min(r[cols.index("LoginTime")] for r in template)
    t_hi = max(r[cols.index("LoginTime")] for r in template)
    span = max(1, t_hi - t_lo)
    need = rows - have
    id_i, time_i = cols.index("Id"), cols.index("LoginTime")
    placeholders = ", ".join("?" * len(cols))
    # times spread over the same window; Ids increase with time as Salesforce's do (they are
    # allocated in sequence), so copy k gets the k-th time in order
    times = sorted(t_lo + (k * 7919 * 1000) % span for k in range(need))
    done = 0
    while done < need:
        chunk = []
        for k in range(done, min(need, done + 50_000)):
            src = list(template[k % have])
            src[id_i] = f"0Yb{k:012d}AAA"
            src[time_i] = times[k]
            chunk.append(src)
        conn.executemany(f"INSERT INTO LoginHistory ({', '.join(cols)}) VALUES ({placeholders})", chunk)
        conn.commit()
        done += len(chunk)
    assert conn.execute("SELECT COUNT(*) FROM LoginHistory").fetchone()[0] == rows
    conn.close()
    marker.write_text(f"{rows} v2")
    return state


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_ours(cfg: str) -> dict:
    from collectors.auth import provider_for
    from collectors.run.runner import collect_once
    from oauthwatch.config import load_settings
    from oauthwatch.store import open_store

    settings = load_settings(cfg)
    open_store(settings.store.url).dispose()  # migrations and the token are not part of the race
    provider_for(settings.orgs[0], timeout=settings.collect.request_timeout_seconds).token()
    t0 = time.perf_counter()
    [res] = collect_once(settings, sources=["login_history"])
    dt = time.perf_counter() - t0
    assert res.outcome == "ok", res.line()
    return {"rows": res.rows_written, "seconds": dt, "api_calls": res.api_calls, "rss_mb": peak_rss_mb()}


def worker_naive(cfg: str) -> dict:
    import pandas as pd
    from simple_salesforce import Salesforce
    from sqlalchemy import create_engine

    from collectors.auth import provider_for
    from oauthwatch.config import load_settings

    settings = load_settings(cfg)
    org = settings.orgs[0]
    provider = provider_for(org)
    tok = provider.token()
    sf = Salesforce(
        instance_url=tok.instance_url,
        session_id=tok.access_token,
        session=provider.session(),
        version=org.api_version,
    )
    calls = 0
    real = sf._call_salesforce  # count the calls it makes, nothing else

    def counting(*a, **kw):
        nonlocal calls
        calls += 1
        return real(*a, **kw)

    sf._call_salesforce = counting  # type: ignore[method-assign]
    t0 = time.perf_counter()
    result = sf.query_all(f"SELECT {FIELDS} FROM LoginHistory")
    df = pd.json_normalize(result["records"])
    df = df.drop(
        columns=[
            c
            for c in df.columns
            if c.startswith("attributes") or c.endswith(".attributes.type") or c.endswith(".attributes.url")
        ]
    )
    engine = create_engine(settings.store.url)
    df.to_sql("login_history", engine, if_exists="append", index=False)
    dt = time.perf_counter() - t0
    return {"rows": len(df), "seconds": dt, "api_calls": calls, "rss_mb": peak_rss_mb()}


def _cap_memory() -> None:
    """The naive side holds every record in memory: cap it so it cannot take the machine down."""
    cap = int(os.environ.get("OAUTHWATCH_BENCH_NAIVE_MAX_GB", "14")) << 30
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def run_worker(kind: str, cfg: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", kind, "--config", str(cfg)],
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
        preexec_fn=_cap_memory if kind == "naive" else None,
    )
    if out.returncode != 0:
        if kind == "naive" and "MemoryError" in out.stderr:
            cap = os.environ.get("OAUTHWATCH_BENCH_NAIVE_MAX_GB", "14")
            return {"failed": f"MemoryError: needed more than {cap} GB"}
        raise RuntimeError(f"{kind} worker failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def config_for(state: Path, store: Path, *, bulk: bool) -> Path:
    text = (state / "oauthwatch.toml").read_text()
    creds = json.loads((state / "credentials.json").read_text())
    lines = [ln for ln in text.splitlines() if not ln.startswith("login_url") and not ln.startswith("url =")]
    lines.insert(lines.index("[store]") + 1, f'url = "sqlite:///{store}"')
    lines.insert(lines.index("[[orgs]]") + 2, f'login_url = "{creds["login_url"]}"')
    lines.insert(
        lines.index("[[orgs]]"), f"[collect]\nbulk_threshold_rows = {1000 if bulk else 1_000_000_000}\n"
    )
    cfg = store.parent / f"{store.stem}.toml"
    cfg.write_text("\n".join(lines) + "\n")
    for name in ("ca.pem", "oauthwatch-jwt.key", "client_secret.txt"):
        target = store.parent / name
        target.unlink(missing_ok=True)
        target.symlink_to(state / name)
    return cfg


KINDS = ("naive", "ours REST", "ours Bulk")


def measure(cache: Path, rows: int) -> dict:
    from simorg import start_org

    state = build_org(cache, rows)
    # the cached org counts its daily API usage across runs: each measurement starts on a fresh
    # daily budget (as on a new day), or the budget governor would rightly stop a later run
    with sqlite3.connect(state / "org.sqlite3") as conn:
        conn.execute("DELETE FROM _State WHERE Key = 'api_usage'")
    org = start_org(state)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-collect-") as tmp:
            res = {}
            for kind in KINDS:
                store = Path(tmp) / f"{kind.replace(' ', '-')}.db"
                worker = "naive" if kind == "naive" else "ours"
                res[kind] = run_worker(worker, config_for(state, store, bulk=kind == "ours Bulk"))
            return res
    finally:
        org.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="LoginHistory rows of the big org")
    ap.add_argument("--small", type=int, default=100_000, help="rows of the small org (flat-memory check)")
    ap.add_argument(
        "--cache", type=Path, default=Path(os.environ.get("OAUTHWATCH_BENCH_CACHE", ROOT / ".bench-cache"))
    )
    ap.add_argument("--worker", choices=["ours", "naive"], help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        fn = worker_ours if args.worker == "ours" else worker_naive
        print(json.dumps(fn(args.config)))
        return
    args.cache.mkdir(parents=True, exist_ok=True)
    print(
        f"\n{'org rows':>10}  {'who':10}  {'rows/s':>10}  {'seconds':>8}  {'peak RSS MB':>11}  "
        f"{'API calls/100k':>14}  {'÷ naive':>8}"
    )
    for rows in (args.small, args.rows):
        r = measure(args.cache, rows)
        naive = r["naive"]
        for kind in KINDS:
            x = r[kind]
            if "failed" in x:
                print(f"{rows:>10}  {kind:10}  failed: {x['failed']}")
                continue
            assert x["rows"] >= rows, f"{kind} stored {x['rows']} of {rows} rows"  # + its own login(s)
            ratio = "" if kind == "naive" or "failed" in naive else f"{naive['seconds'] / x['seconds']:.2f}x"
            print(
                f"{rows:>10}  {kind:10}  {x['rows'] / x['seconds']:>10,.0f}  {x['seconds']:>8.1f}  "
                f"{x['rss_mb']:>11.0f}  {x['api_calls'] * 100_000 / rows:>14.1f}  {ratio:>8}",
                flush=True,
            )


if __name__ == "__main__":
    main()
