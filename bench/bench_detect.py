"""Benchmark: every detector over 90 days, 50 apps and 1,000,000 logins.

Builds a SQLite store directly with bulk inserts (the collectors are not what is measured), then
times, in the same run:

- ``load``: loading the frames the detectors read (the baseline: the least any detection costs);
- ``detectors``: running every detector on the loaded frames;
- ``run_all``: the whole ``oauthwatch detect`` path (load + detectors + alert lifecycle);
- ``backtest 24 h``: an hourly replay over the last day (24 evaluations, one load);
- ``naive loop``: a per-app Python loop that recomputes each app's hour-of-week baseline from the
  raw rows (what a straightforward implementation of the volume rule costs), for the ratio.

Sizes come from the command line (``--events 200000 --apps 20 --days 45`` for a quick run).
Prints a table with each figure's ratio to ``load``.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oauthwatch.config import Settings
from oauthwatch.detect.base import Context
from oauthwatch.detect.data import load_frames
from oauthwatch.detect.runner import backtest, enabled_detectors, run_all
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--apps", type=int, default=50)
    ap.add_argument("--days", type=int, default=90)
    args = ap.parse_args()
    now = datetime.now(UTC).replace(minute=7, second=0, microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        t_build, _ = timed(lambda: build(path, events=args.events, apps=args.apps, days=args.days, now=now))
        settings = Settings.model_validate({"store": {"url": f"sqlite:///{path}"}})
        engine = open_store(settings.store.url)
        history = timedelta(days=settings.detect.history_days)
        window = timedelta(minutes=settings.detect.window_minutes)
        t_load, frames = timed(lambda: load_frames(engine, "bench", start=now, end=now, history=history))
        detectors = enabled_detectors(settings)

        def run_detectors() -> int:
            found = 0
            for d, th in detectors:
                found += len(d.run(frames, Context("bench", now, window, th)))
            return found

        t_det, n_findings = timed(run_detectors)
        t_all, report = timed(lambda: run_all(engine, settings, now=now))
        t_bt, bt = timed(
            lambda: backtest(
                engine, settings, start=now - timedelta(hours=23), end=now, step=timedelta(hours=1)
            )
        )
        t_naive, _ = timed(lambda: naive_volume(frames.logins, now))
        engine.dispose()
    rows = [
        ("load frames (baseline)", t_load),
        ("all detectors, once", t_det),
        ("run_all (load+detect+alerts)", t_all),
        (f"backtest 24 h ({bt.steps} steps)", t_bt),
        ("naive per-app loop, volume only", t_naive),
    ]
    print(
        f"\nbench_detect: {args.events:,} logins, {args.apps} apps, {args.days} days "
        f"(store built in {t_build:.1f} s; {len(frames.logins):,} rows in the {history.days}-day frames; "
        f"{n_findings} findings, {report.opened} alerts)"
    )
    print(f"{'step':34s} {'seconds':>9s} {'x load':>8s}")
    for name, secs in rows:
        print(f"{name:34s} {secs:9.2f} {secs / t_load:8.2f}")


if __name__ == "__main__":
    main()
