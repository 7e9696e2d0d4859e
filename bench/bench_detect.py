"""Benchmark: one detection cycle over 90 days, 50 apps and 1,000,000 stored logins.

Builds a SQLite store directly with bulk inserts (the collectors are not what is measured), runs
one detection cycle (the previous one), adds 15 minutes of new events, then measures in the same
run, seconds and peak memory (tracemalloc, on a second run):

- ``detect cycle``: ``run_all`` as the service calls it after a collection (the windows with new
  events, every detector, the alert lifecycle);
- ``naive per-app loop``: loading the raw history and a per-app Python loop that recomputes each
  app's hour-of-week baseline from it (what a straightforward volume rule costs), the baseline;
- ``backtest 24 h``: an hourly replay over the last day.

Sizes come from the command line (``--events 10000000`` for the big size; ``--events 200000
--apps 20 --days 45`` for a quick run). Prints a table with each figure's ratio to the naive loop.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oauthwatch.config import Settings
from oauthwatch.detect.data import load_frames
from oauthwatch.detect.runner import backtest, run_all
from oauthwatch.store import open_store

FMT = "%Y-%m-%d %H:%M:%S.%f"
STATUSES = [
    "Invalid Password",
    "Failed: Signature Invalid",
    "Failed: IP Address Not Allowed",
    "Restricted IP",
]
FLOWS = ["OAuth Client Credentials", "OAuth Refresh Token", "OAuth Web Server", "OAuth JWT Bearer", ""]
COUNTRIES = ["US", "DE", "GB", "FR", "IN", "JP", "BR", "CA"]


def build(path: Path, *, events: int, apps: int, days: int, now: datetime, seed: int = 5) -> None:
    """A store with ``events`` logins over ``days`` for ``apps`` apps, plus grants and app policies."""
    engine = open_store(f"sqlite:///{path}")
    engine.dispose()
    rng = np.random.default_rng(seed)
    weights = 1 / np.arange(1, apps + 1) ** 0.8
    app_of = rng.choice(apps, size=events, p=weights / weights.sum())
    start = now - timedelta(days=days)
    # Times with a day/night rhythm: accept-reject on the hour of day.
    secs = rng.uniform(0, days * 86400, size=events * 2)
    hours = (secs / 3600 + start.hour) % 24
    keep = rng.uniform(size=secs.size) < (0.35 + 0.65 * np.exp(-(((hours - 14) / 5) ** 2)))
    secs = np.sort(secs[keep][:events])
    app_of = app_of[: len(secs)]
    n = len(secs)
    users = rng.integers(0, 20, size=n)
    success = rng.uniform(size=n) > 0.03
    net = rng.integers(0, 3, size=n)
    host = rng.integers(2, 250, size=n)
    country = np.where(
        rng.uniform(size=n) < 0.98, app_of % len(COUNTRIES), rng.integers(0, len(COUNTRIES), size=n)
    )
    base = start.replace(tzinfo=None)
    ingested = now.strftime(FMT)
    rows = []
    for i in range(n):
        a = int(app_of[i])
        t = base + timedelta(seconds=float(secs[i]))
        ok = bool(success[i])
        rows.append(
            (
                "bench", "login_history", f"0Ya{i:015d}", t.strftime(FMT), f"005{a:04d}{int(users[i]):011d}",
                f"user{users[i]}@app{a}.example.com", "Remote Access 2.0", FLOWS[a % len(FLOWS)],
                "Success" if ok else STATUSES[i % len(STATUSES)], ok, f"App {a:02d}",
                f"10.{a}.{int(net[i])}.{int(host[i])}", COUNTRIES[int(country[i])], 40.0 + a % 10, -70.0 - a % 10, ingested,
            )
        )  # fmt: skip
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO orgs (name, created_at) VALUES ('bench', ?)", (ingested,))
    conn.executemany(
        "INSERT INTO logins (org, source, natural_id, login_time, user_id, username, login_type, login_subtype, status,"
        " success, application, source_ip, country_iso, latitude, longitude, ingested_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    today = now.date().isoformat()
    grants = [
        ("bench", today, f"005{a:04d}{u:011d}", f"App {a:02d}", (now - timedelta(days=int(rng.integers(30, 400)))).strftime(FMT),
         (now - timedelta(days=int(rng.integers(0, 200)))).strftime(FMT), int(rng.integers(1, 999)), ingested)
        for a in range(apps) for u in range(20)
    ]  # fmt: skip
    conn.executemany(
        "INSERT INTO oauth_token_snapshots (org, snapshot_day, user_id, app_name, created_date, last_used_date, use_count,"
        " seen_at) VALUES (?,?,?,?,?,?,?,?)",
        grants,
    )
    conn.executemany(
        "INSERT INTO connected_apps (org, app_id, name, admin_approved_only, ip_relaxation, refresh_token_policy, scopes,"
        " fingerprint, first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?,?,?)",
        [("bench", f"0H4{a:015d}", f"App {a:02d}", a % 2, "ENFORCE" if a % 7 else "BYPASS",
          "infinite" if a % 3 else "specific_inactivity:30:DAYS", '["Api", "RefreshToken"]', "x", ingested, ingested)
         for a in range(apps)],
    )  # fmt: skip
    conn.commit()
    conn.close()


def naive_volume(frames_logins, now: datetime) -> int:
    """Per-app Python loop: rebuild each app's hourly counts and hour-of-week medians from raw rows."""
    flagged = 0
    for app in sorted(set(frames_logins["application"])):
        times = [
            t.to_pydatetime() for t in frames_logins.loc[frames_logins["application"] == app, "login_time"]
        ]
        counts: dict[datetime, int] = {}
        for t in times:
            h = t.replace(minute=0, second=0, microsecond=0)
            counts[h] = counts.get(h, 0) + 1
        last = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        past = sorted(counts.get(last - timedelta(weeks=k), 0) for k in range(1, 5))
        med = (past[1] + past[2]) / 2
        if counts.get(last, 0) > 3 * med + 20:
            flagged += 1
    return flagged


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def peak_mb(fn) -> float:
    """Peak memory (MB) Python and numpy allocate while ``fn`` runs (tracemalloc; a second run)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def add_new_events(
    path: Path, *, now: datetime, minutes: int, apps: int, per_minute: int, seed: int = 9
) -> None:
    """``minutes`` of new logins ending at ``now`` (what one collection cycle brings)."""
    rng = np.random.default_rng(seed)
    start = (now - timedelta(minutes=minutes)).replace(tzinfo=None)
    n = minutes * per_minute
    secs = np.sort(rng.uniform(0, minutes * 60, size=n))
    ingested = now.strftime(FMT)
    rows = []
    for i in range(n):
        a = int(rng.integers(0, apps))
        t = start + timedelta(seconds=float(secs[i]))
        u = int(rng.integers(0, 20))
        rows.append(
            (
                "bench", "login_history", f"0Yb{i:015d}", t.strftime(FMT), f"005{a:04d}{u:011d}",
                f"user{u}@app{a}.example.com", "Remote Access 2.0", FLOWS[a % len(FLOWS)], "Success", True,
                f"App {a:02d}", f"10.{a}.0.{int(rng.integers(2, 250))}", COUNTRIES[a % len(COUNTRIES)],
                40.0 + a % 10, -70.0 - a % 10, ingested,
            )
        )  # fmt: skip
    conn = sqlite3.connect(path)
    conn.executemany(
        "INSERT INTO logins (org, source, natural_id, login_time, user_id, username, login_type, login_subtype, status,"
        " success, application, source_ip, country_iso, latitude, longitude, ingested_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    conn.commit()
    conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--events", type=int, default=1_000_000, help="stored events (10,000,000 for the big size)"
    )
    ap.add_argument("--apps", type=int, default=50)
    ap.add_argument("--days", type=int, default=90)
    args = ap.parse_args()
    now = datetime.now(UTC).replace(minute=7, second=0, microsecond=0)
    cycle = timedelta(minutes=15)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        t_build, _ = timed(
            lambda: build(path, events=args.events, apps=args.apps, days=args.days, now=now - cycle)
        )
        settings = Settings.model_validate({"store": {"url": f"sqlite:///{path}"}})
        engine = open_store(settings.store.url)
        history = timedelta(days=settings.detect.history_days)
        t_first, _ = timed(lambda: run_all(engine, settings, now=now - cycle))  # the previous cycle
        add_new_events(path, now=now, minutes=15, apps=args.apps, per_minute=40)
        t_cycle, report = timed(lambda: run_all(engine, settings, now=now))
        m_cycle = peak_mb(lambda: run_all(engine, settings, now=now, since=now - cycle))
        t_load, frames = timed(lambda: load_frames(engine, "bench", start=now, end=now, history=history))
        t_naive, _ = timed(lambda: naive_volume(frames.logins, now))
        m_naive = peak_mb(
            lambda: naive_volume(
                load_frames(engine, "bench", start=now, end=now, history=history).logins, now
            )
        )
        t_bt, bt = timed(
            lambda: backtest(
                engine, settings, start=now - timedelta(hours=23), end=now, step=timedelta(hours=1)
            )
        )
        engine.dispose()
    print(
        f"\nbench_detect: {args.events:,} stored events, {args.apps} apps, {args.days} days, SQLite "
        f"(built in {t_build:.1f} s; first cycle {t_first:.1f} s; then 15 min of new events: "
        f"{report.windows} window(s) judged, {len(report.findings)} findings)"
    )
    print(f"{'step':34s} {'seconds':>9s} {'peak MB':>9s} {'x naive':>8s}")
    naive = t_load + t_naive
    for name, secs, mb in (
        ("detect cycle", t_cycle, m_cycle),
        ("naive per-app loop", naive, m_naive),
        (f"backtest 24 h ({bt.steps} steps)", t_bt, float("nan")),
    ):
        print(f"{name:34s} {secs:9.2f} {mb:9.1f} {secs / naive:8.2f}")


if __name__ == "__main__":
    main()
