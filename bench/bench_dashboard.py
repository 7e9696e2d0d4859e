"""Benchmark: each dashboard page's store queries on N login events (default 10 million).

For SQLite and PostgreSQL it builds a store of ``--rows`` login events over 90 days (bulk inserts:
``executemany`` on SQLite, ``COPY`` on PostgreSQL), builds the rollups with the store's own
``refresh_login_rollup`` (grouped INSERT … SELECT per batch of hours / per day), then times each
page's queries (the functions ``dashboard/data.py`` calls, uncached) ``--repeat`` times over a
30-day window (Investigate: a 2-hour window, as from an alert). The baseline, measured in the same
run, is the naive approach: read the window's events with pandas and group by in memory.

    python bench/bench_dashboard.py                      # 10M rows, both backends
    python bench/bench_dashboard.py --rows 200000 --backend sqlite

Prints a table per backend: page, median ms, naive ms, ratio; exits 1 if a median is over 300 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oauthwatch.store import open_store, schema
from oauthwatch.store import queries as q
from oauthwatch.store import queries_investigate as qi
from oauthwatch.store import queries_ops as ops
from oauthwatch.store.writes import ensure_org, refresh_login_rollup, upsert

ORG = "bench"
DAYS = 90
N_APPS = 20
N_USERS = 2000
IPS_PER_APP = 60
END = datetime(2026, 1, 1, tzinfo=UTC)
START = END - timedelta(days=DAYS)
FLOWS = [
    "OAuth Refresh Token",
    "OAuth Client Credentials",
    "OAuth Web Server",
    "OAuth Username-Password",
    "",
]
FAILS = [
    "Invalid Password",
    "Failed: IP Address Not Allowed",
    "Failed: Invalid Code Verifier",
    "Failed: Signature Invalid",
]
COUNTRIES = [
    ("US", "United States", "Ashburn", 39.04, -77.49),
    ("DE", "Germany", "Frankfurt", 50.11, 8.68),
    ("FR", "France", "Paris", 48.86, 2.35),
    ("JP", "Japan", "Tokyo", 35.68, 139.69),
    ("BR", "Brazil", "Sao Paulo", -23.55, -46.63),
    ("IN", "India", "Mumbai", 19.08, 72.88),
]
COLS = [
    "org",
    "source",
    "natural_id",
    "login_time",
    "user_id",
    "username",
    "login_type",
    "login_subtype",
    "status",
    "success",
    "application",
    "source_ip",
    "country_iso",
    "country",
    "city",
    "latitude",
    "longitude",
    "ingested_at",
]
SECONDARY_INDEXES = ("ix_logins_org_app_time", "ix_logins_org_ip_time", "ix_logins_org_user_time")


def chunks(rows: int, size: int = 250_000):
    """Yield lists of login tuples, time-ordered, ``size`` at a time (vectorised with numpy)."""
    rng = np.random.default_rng(42)
    span = (END - START).total_seconds()
    apps = np.array([f"App {i:02d}" for i in range(N_APPS)], dtype=object)
    app_flow = np.array([FLOWS[i % len(FLOWS)] for i in range(N_APPS)], dtype=object)
    # Zipf-ish app popularity; each app from its own IP pool, mostly in one country.
    weights = 1 / np.arange(1, N_APPS + 1)
    weights /= weights.sum()
    done = 0
    while done < rows:
        n = min(size, rows - done)
        secs = np.sort(
            START.timestamp() + (done + np.arange(n)) * (span / rows) + rng.random(n) * (span / rows)
        )
        app_i = rng.choice(N_APPS, n, p=weights)
        user_i = (app_i * 97 + rng.integers(0, 100, n)) % N_USERS
        ip_i = rng.integers(0, IPS_PER_APP, n)
        ok = rng.random(n) > 0.08
        fail_i = rng.integers(0, len(FAILS), n)
        # 97% from the app's own egress pool (in the app's home country), 3% from a foreign pool;
        # an IP always has the same location, as GeoIP gives it.
        foreign = rng.random(n) < 0.03
        ctry_i = np.where(foreign, (app_i + 1 + ip_i % 5) % len(COUNTRIES), app_i % len(COUNTRIES))
        out = []
        for k in range(n):
            t = datetime.fromtimestamp(float(secs[k]), UTC)
            a = int(app_i[k])
            c = COUNTRIES[int(ctry_i[k])]
            out.append(
                (
                    ORG,
                    "login_history",
                    f"0Ya{done + k:015d}",
                    t,
                    f"005{int(user_i[k]):012d}AAA",
                    f"user{int(user_i[k])}@bench.example",
                    "Remote Access 2.0",
                    app_flow[a],
                    "Success" if ok[k] else FAILS[int(fail_i[k])],
                    bool(ok[k]),
                    apps[a],
                    f"203.0.{a}.{int(ip_i[k])}"
                    if foreign[k]
                    else f"10.{a}.{int(ip_i[k]) // 250}.{int(ip_i[k]) % 250}",
                    c[0],
                    c[1],
                    c[2],
                    c[3],
                    c[4],
                    t,
                )
            )
        done += n
        yield out


def load_sqlite(engine, rows: int) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA synchronous=OFF")
        for ix in SECONDARY_INDEXES:
            cur.execute(f"DROP INDEX IF EXISTS {ix}")
        sql = f"INSERT INTO logins ({', '.join(COLS)}) VALUES ({', '.join('?' * len(COLS))})"
        fmt = "%Y-%m-%d %H:%M:%S.%f"
        for chunk in chunks(rows):
            cur.executemany(
                sql,
                [
                    (*r[:3], r[3].strftime(fmt), *r[4:9], int(r[9]), *r[10:17], r[17].strftime(fmt))
                    for r in chunk
                ],
            )
            raw.commit()
        cur.execute("CREATE INDEX ix_logins_org_app_time ON logins (org, application, login_time)")
        cur.execute("CREATE INDEX ix_logins_org_ip_time ON logins (org, source_ip, login_time)")
        cur.execute("CREATE INDEX ix_logins_org_user_time ON logins (org, user_id, login_time)")
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def load_postgres(engine, rows: int) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for ix in SECONDARY_INDEXES:
            cur.execute(f"DROP INDEX IF EXISTS {ix}")
        with cur.copy(f"COPY logins ({', '.join(COLS)}) FROM STDIN") as copy:
            for chunk in chunks(rows):
                for r in chunk:
                    copy.write_row(r)
        cur.execute("CREATE INDEX ix_logins_org_app_time ON logins (org, application, login_time)")
        cur.execute("CREATE INDEX ix_logins_org_ip_time ON logins (org, source_ip, login_time)")
        cur.execute("CREATE INDEX ix_logins_org_user_time ON logins (org, user_id, login_time)")
        raw.commit()
    finally:
        raw.close()


def seed_rest(engine) -> None:
    """Apps, grants, API usage, audit, alerts, runs, coverage: realistic sizes for 90 days."""
    now = END
    with engine.begin() as conn:
        apps = [f"App {i:02d}" for i in range(N_APPS)]
        upsert(
            conn,
            schema.connected_apps,
            [
                {
                    "org": ORG,
                    "app_id": f"0H4{i:012d}AAA",
                    "name": a,
                    "admin_approved_only": i % 3 != 0,
                    "ip_relaxation": "BYPASS" if i % 5 == 0 else "ENFORCE",
                    "refresh_token_policy": "infinite" if i % 4 == 0 else "zero",
                    "scopes": ["Api"],
                    "fingerprint": "x",
                    "first_seen": START,
                    "last_seen": now,
                }
                for i, a in enumerate(apps)
            ],
            key=["org", "app_id"],
        )
        upsert(
            conn,
            schema.oauth_token_snapshots,
            [
                {
                    "org": ORG,
                    "snapshot_day": d,
                    "user_id": f"005{u:012d}AAA",
                    "app_name": apps[u % N_APPS],
                    "created_date": START + timedelta(hours=u),
                    "last_used_date": now - timedelta(days=u % 200),
                    "use_count": u,
                    "seen_at": now,
                }
                for d in (date(2025, 12, 30), date(2025, 12, 31))
                for u in range(N_USERS)
            ],
            key=["org", "snapshot_day", "user_id", "app_name", "created_date"],
        )
        usage = []
        t = START
        while t < END:
            for i, a in enumerate(apps):
                usage.append(
                    {
                        "org": ORG,
                        "hour": t,
                        "connected_app_id": f"0H4{i:012d}AAA",
                        "connected_app_name": a,
                        "client_name": "",
                        "api_family": "rest",
                        "status_code": "200",
                        "user_id": "",
                        "requests": 100 + i,
                    }
                )
            t += timedelta(hours=1)
        upsert(
            conn,
            schema.api_usage_hourly,
            usage,
            key=[c.name for c in schema.api_usage_hourly.c if c.name != "requests"],
        )
        conn.execute(
            schema.audit_events.insert(),
            [
                {
                    "org": ORG,
                    "event_id": f"0Ym{i:015d}",
                    "created_date": START + timedelta(hours=4 * i),
                    "action": "changedConnectedApp",
                    "section": "Connected Apps",
                    "display": f"Changed connected app App {i % N_APPS:02d}",
                    "created_by": "admin@bench.example",
                }
                for i in range(500)
            ],
        )
        conn.execute(
            schema.alerts.insert(),
            [
                {
                    "dedupe_key": f"k{i}",
                    "detector": "volume_spike",
                    "severity": ("low", "medium", "high")[i % 3],
                    "org": ORG,
                    "subject_type": "app",
                    "subject": apps[i % N_APPS],
                    "title": f"alert {i}",
                    "explanation": "x",
                    "evidence": {"i": i},
                    "event_start": END - timedelta(hours=i),
                    "event_end": END - timedelta(hours=i - 1),
                    "first_seen": END - timedelta(hours=i),
                    "last_seen": END - timedelta(hours=i),
                    "status": ("open", "acknowledged", "resolved")[i % 3],
                }
                for i in range(1, 2000)
            ],
        )
        runs = []
        t = START
        while t < END:
            for s in ("login_history", "oauth_tokens", "connected_apps", "setup_audit_trail"):
                runs.append(
                    {
                        "org": ORG,
                        "source": s,
                        "started_at": t,
                        "finished_at": t + timedelta(seconds=20),
                        "outcome": "ok",
                        "rows_read": 10,
                        "rows_written": 10,
                        "api_calls": 2,
                    }
                )
            t += timedelta(minutes=15)
        conn.execute(schema.collector_runs.insert(), runs)
        upsert(
            conn,
            schema.coverage,
            [
                {
                    "org": ORG,
                    "source": "login_history",
                    "day": (START + timedelta(days=d)).date(),
                    "status": "complete",
                    "rows": 1,
                    "updated_at": now,
                }
                for d in range(DAYS)
            ],
            key=["org", "source", "day"],
        )
        conn.execute(
            schema.org_limits.insert(),
            [
                {
                    "org": ORG,
                    "read_at": START + timedelta(minutes=15 * i),
                    "name": "DailyApiRequests",
                    "max": 100000,
                    "remaining": 90000,
                    "origin": "limits",
                }
                for i in range(DAYS * 96)
            ],
        )


def build_rollups(engine) -> None:
    hours = []
    t = START
    while t <= END:
        hours.append(t)
        t += timedelta(hours=1)
    with engine.begin() as conn:
        refresh_login_rollup(conn, ORG, "login_history", hours)


# ---- the pages' queries (what dashboard/data.py calls, uncached) ----------------------------------


def pages(engine, w: q.Window, inv: q.Window) -> dict:
    app = "App 03"
    return {
        "overview": lambda: (
            q.has_logins(engine, w.orgs),
            q.kpis(engine, w),
            q.kpis(engine, w.previous()),
            q.open_alert_count(engine, w.orgs),
            q.rollup(engine, w, ("application",), by_hour=True),
            q.rollup(engine, w, (), by_hour=True),
            q.rollup(engine, w, ("login_subtype",)),
        ),
        "apps": lambda: ops.apps_overview(engine, w),
        "app detail": lambda: (
            ops.apps_overview(engine, w, only=app),
            q.rollup(engine, w, ("login_subtype", "status", "success"), by_hour=True, application=app),
            q.users_by(engine, w, application=app),
            ops.classify_grants(ops.latest_grants(engine, w.orgs), w),
            ops.api_usage(engine, w, app),
            ops.connected_apps(engine, w.orgs),
            q.audit_events(engine, w, mentioning=app),
        ),
        "failures": lambda: (
            q.rollup(engine, w, ("application",)),
            q.rollup(engine, w, ("status", "success"), by_hour=True),
            q.users_by(engine, w),
            q.ips_by(engine, w),
        ),
        "origins": lambda: (
            q.rollup(engine, w, ("application",)),
            q.networks_by(q.ips_by(engine, w)),
            q.new_origins(engine, w),
        ),
        "alerts": lambda: (ops.alerts(engine, w, statuses=("open", "acknowledged")), ops.alert(engine, 5)),
        "investigate": lambda: (qi.investigate(engine, inv, minute=True), q.audit_events(engine, inv)),
        "tokens": lambda: ops.classify_grants(ops.latest_grants(engine, w.orgs), w),
        "collection": lambda: (
            ops.collector_runs(engine, w),
            ops.source_lag(engine, w.orgs),
            ops.coverage(engine, w),
            ops.api_budget(engine, w),
            ops.quarantine(engine, w),
            ops.heartbeats(engine),
        ),
    }


def naive(engine, w: q.Window, inv: q.Window) -> dict:
    """The baseline: read the window's events into pandas, group by in memory."""

    def events(win: q.Window, cols: str) -> pd.DataFrame:
        lo, hi = (win.start, win.end)
        if engine.dialect.name == "sqlite":
            lo, hi = lo.strftime("%Y-%m-%d %H:%M:%S"), hi.strftime("%Y-%m-%d %H:%M:%S")
        with engine.connect() as conn:
            return pd.read_sql(
                text(f"SELECT {cols} FROM logins WHERE org = :o AND login_time >= :lo AND login_time < :hi"),
                conn,
                params={"o": ORG, "lo": lo, "hi": hi},
            )

    def overview():
        df = events(w, "login_time, application, login_subtype, success, user_id, country_iso")
        df["hour"] = pd.to_datetime(df["login_time"]).dt.floor("h")
        return (
            df.groupby(["hour", "application"]).size(),
            df["user_id"].nunique(),
            df["country_iso"].nunique(),
            df.groupby("login_subtype").size(),
        )

    def apps():
        df = events(w, "login_time, application, login_subtype, success, user_id")
        return df.groupby("application").agg(
            events=("success", "size"),
            failures=("success", lambda s: (~s.astype(bool)).sum()),
            users=("user_id", "nunique"),
            last=("login_time", "max"),
        )

    def failures():
        df = events(w, "login_time, application, status, success, user_id, source_ip")
        f = df[~df["success"].astype(bool)]
        return (
            f.groupby(["status"]).size(),
            f.groupby("application").size(),
            f.groupby("user_id").size(),
            f.groupby("source_ip").size(),
        )

    def origins():
        df = events(w, "source_ip, country_iso, latitude, longitude, success")
        return df.groupby(["source_ip", "country_iso"]).agg(
            events=("success", "size"), lat=("latitude", "mean")
        )

    def investigate():
        df = events(inv, "*")
        df["minute"] = pd.to_datetime(df["login_time"]).dt.floor("min")
        return [
            df.groupby(c).size()
            for c in (
                "minute",
                "application",
                "username",
                "source_ip",
                "country_iso",
                "login_subtype",
                "status",
            )
        ]

    return {
        "overview": overview,
        "apps": apps,
        "app detail": apps,
        "failures": failures,
        "origins": origins,
        "investigate": investigate,
    }


def timed(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def run(url: str, rows: int, repeat: int) -> list[tuple[str, float, float | None]]:
    engine = open_store(url)
    with engine.begin() as conn:
        ensure_org(conn, ORG)
    t0 = time.perf_counter()
    (load_postgres if engine.dialect.name == "postgresql" else load_sqlite)(engine, rows)
    t1 = time.perf_counter()
    build_rollups(engine)
    t2 = time.perf_counter()
    seed_rest(engine)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as c:
            c.execute(text("ANALYZE"))
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM logins")).scalar()
        cells = conn.execute(text("SELECT count(*), sum(events) FROM login_rollup_hourly")).one()
    assert n == rows, n
    assert cells[1] == rows, cells
    print(
        f"[{engine.dialect.name}] loaded {n:,} logins in {t1 - t0:.0f} s, rollups ({cells[0]:,} hourly cells) in {t2 - t1:.0f} s",
        flush=True,
    )
    w = q.Window(END - timedelta(days=30), END, (ORG,))
    inv = q.Window(END - timedelta(days=10, hours=2), END - timedelta(days=10), (ORG,))
    base = naive(engine, w, inv)
    out = []
    for name, fn in pages(engine, w, inv).items():
        fn()  # warm the page cache / plans once, as a dashboard that has been open a while
        med = timed(fn, repeat)
        nv = timed(base[name], 1) if name in base else None
        out.append((name, med, nv))
        print(f"  {name:12s} {med:8.1f} ms" + (f"   naive {nv:9.1f} ms" if nv else ""), flush=True)
    engine.dispose()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument(
        "--pg-url",
        default=os.environ.get("OAUTHWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    )
    args = ap.parse_args()
    results: dict[str, list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend in ("sqlite", "both"):
            results["sqlite"] = run(f"sqlite:///{tmp}/bench.db", args.rows, args.repeat)
        if args.backend in ("postgres", "both"):
            from sqlalchemy import create_engine

            admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
            name = f"ow_bench_{os.getpid()}"
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                results["postgresql"] = run(
                    args.pg_url.rsplit("/", 1)[0] + "/" + name, args.rows, args.repeat
                )
            finally:
                with admin.connect() as c:
                    c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    worst = 0.0
    print(
        f"\nDashboard page queries on {args.rows:,} login events (30-day window; Investigate 2 h); median of {args.repeat}"
    )
    print(f"{'backend':10s} {'page':12s} {'median ms':>10s} {'naive ms':>10s} {'ratio':>8s}")
    for backend, rows in results.items():
        for name, med, nv in rows:
            worst = max(worst, med)
            ratio = (f"{nv / med:7.0f}x" if nv / med >= 10 else f"{nv / med:7.2f}x") if nv else "     n/a"
            print(f"{backend:10s} {name:12s} {med:10.1f} {nv if nv else float('nan'):10.1f} {ratio:>8s}")
    print(f"\nslowest page: {worst:.1f} ms (target ≤ 300 ms): {'OK' if worst <= 300 else 'TOO SLOW'}")
    return 0 if worst <= 300 else 1


if __name__ == "__main__":
    raise SystemExit(main())
