"""Benchmark: one detection cycle over a store of 1,000,000 (or 10,000,000) logins, 50 apps, 90 days.

Builds the store directly with bulk inserts (SQLite ``executemany``, PostgreSQL ``COPY``; the
collectors are not what is measured), fills the rollups once with set-based SQL
(``refresh_login_rollup`` over every hour), runs one detection cycle (the previous one), writes
15 minutes of new events as a collector does (rows, then the rollups of the hours they touch), then
measures in the same run, seconds (wall, and this process's CPU, steadier on a busy machine; a
PostgreSQL server's work is in the wall time only) and peak memory (tracemalloc, on a second run):

- ``detect cycle``: ``run_all`` as the service calls it after a collection (the windows with new
  events, every detector, the alert lifecycle);
- ``naive per-app loop``: loading the raw history and a per-app Python loop that recomputes each
  app's hour-of-week baseline from it (what a straightforward volume rule costs), the baseline;
- ``backtest 24 h``: an hourly replay over the last day.

``--db sqlite|postgres|both`` picks the stores (PostgreSQL: a database created on the server of
``--pg-url`` and dropped afterwards); ``--events 10000000`` is the big size, ``--events 200000
--apps 20 --days 45`` a quick run. Prints a table per store with each figure's ratio to the
naive loop. The clock is fixed, so runs compare. ``--keep DIR`` keeps the built store and reuses
it (each run measures a fresh copy, in the same state), so that the 10M builds are paid once.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import Engine, make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oauthwatch.config import Settings
from oauthwatch.detect.runner import backtest, run_all
from oauthwatch.detect.store_read import read_frame, time_col
from oauthwatch.store import open_store, schema
from oauthwatch.store.partitions import add_months, create_month, month_of, months
from oauthwatch.store.writes import ensure_org, refresh_login_rollup

NOW = datetime(2026, 3, 4, 15, 7, tzinfo=UTC)  # a Wednesday afternoon, past the hour on purpose
ORG = "bench"
STATUSES = np.array(
    ["Invalid Password", "Failed: Signature Invalid", "Failed: IP Address Not Allowed", "Restricted IP"]
)
FLOWS = np.array(
    ["OAuth Client Credentials", "OAuth Refresh Token", "OAuth Web Server", "OAuth JWT Bearer", ""]
)
COUNTRIES = np.array(["US", "DE", "GB", "FR", "IN", "JP", "BR", "CA"])
COLUMNS = ("org", "source", "natural_id", "login_time", "user_id", "username", "login_type", "login_subtype",
           "status", "success", "application", "source_ip", "country_iso", "latitude", "longitude", "ingested_at")  # fmt: skip
CHUNK = 500_000
CYCLE = timedelta(minutes=15)


def _num(values: np.ndarray, width: int) -> np.ndarray:
    return np.char.zfill(values.astype(str), width)


def login_columns(
    rng: np.random.Generator,
    *,
    n: int,
    apps: int,
    start: datetime,
    seconds: float,
    tag: str,
    rhythm: bool,
    offset: int = 0,
) -> pd.DataFrame:
    """``n`` logins from ``start`` over ``seconds``, built column by column (no per-row Python);
    their natural ids count from ``offset``."""
    weights = 1 / np.arange(1, apps + 1) ** 0.8
    if rhythm:  # a day/night rhythm: accept-reject on the hour of day
        secs = rng.uniform(0, seconds, size=n * 2)
        hours = (secs / 3600 + start.hour) % 24
        keep = rng.uniform(size=secs.size) < (0.35 + 0.65 * np.exp(-(((hours - 14) / 5) ** 2)))
        secs = np.sort(secs[keep][:n])
    else:
        secs = np.sort(rng.uniform(0, seconds, size=n))
    n = len(secs)
    app = rng.choice(apps, size=n, p=weights / weights.sum())
    user = rng.integers(0, 20, size=n)
    ok = rng.uniform(size=n) > 0.03
    net, host = rng.integers(0, 3, size=n), rng.integers(2, 250, size=n)
    country = np.where(
        rng.uniform(size=n) < 0.98, app % len(COUNTRIES), rng.integers(0, len(COUNTRIES), size=n)
    )
    base = np.datetime64(start.replace(tzinfo=None), "us")
    times = base + (secs * 1e6).astype("timedelta64[us]")
    a4, u11 = _num(app, 4), _num(user, 11)
    return pd.DataFrame(
        {
            "org": ORG,
            "source": "login_history",
            "natural_id": np.char.add(f"0Y{tag}", _num(np.arange(offset, offset + n), 15)),
            "login_time": times,
            "user_id": np.char.add(np.char.add("005", a4), u11),
            "username": np.char.add(np.char.add(np.char.add("user", user.astype(str)), "@app"), np.char.add(app.astype(str), ".example.com")),
            "login_type": "Remote Access 2.0",
            "login_subtype": FLOWS[app % len(FLOWS)],
            "status": np.where(ok, "Success", STATUSES[np.arange(n) % len(STATUSES)]),
            "success": ok,
            "application": np.char.add("App ", _num(app, 2)),
            "source_ip": np.char.add(np.char.add(np.char.add("10.", app.astype(str)), np.char.add(".", net.astype(str))), np.char.add(".", host.astype(str))),
            "country_iso": COUNTRIES[country],
            "latitude": 40.0 + app % 10,
            "longitude": -70.0 - app % 10,
            "ingested_at": np.datetime64(NOW.replace(tzinfo=None), "us"),
        }
    )  # fmt: skip


def _stamp(values: pd.Series) -> np.ndarray:
    """UTC times as the store's text ("2026-03-04 15:07:00.000000"), formatted in bulk."""
    text = np.datetime_as_string(values.to_numpy().astype("datetime64[us]"), unit="us")
    return np.char.replace(text, "T", " ")


def write_logins(engine: Engine, frames: Iterable[pd.DataFrame], *, bulk: bool = False) -> None:
    """Insert the rows: ``executemany`` on SQLite, ``COPY`` on PostgreSQL. ``bulk``: an initial
    load, which drops the secondary indexes of ``logins`` and builds them again after."""
    indexes = list(schema.logins.indexes) if bulk else []
    with engine.begin() as conn:
        for ix in indexes:
            ix.drop(conn)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "postgresql":
            cur.execute("SET synchronous_commit = off")
        else:
            cur.execute("PRAGMA synchronous = OFF")
        for part in frames:
            if engine.dialect.name == "postgresql":
                buf = io.StringIO()
                out = part.assign(login_time=np.char.add(_stamp(part["login_time"]), "+00"),
                                  ingested_at=np.char.add(_stamp(part["ingested_at"]), "+00"))  # fmt: skip
                out.to_csv(buf, header=False, index=False)
                with cur.copy(f"COPY logins ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT csv)") as cp:  # type: ignore[attr-defined]
                    cp.write(buf.getvalue())
            else:
                out = part.assign(login_time=_stamp(part["login_time"]), ingested_at=_stamp(part["ingested_at"]),
                                  success=part["success"].astype(int))  # fmt: skip
                cols = [out[c].tolist() for c in COLUMNS]
                cur.executemany(
                    f"INSERT INTO logins ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                    zip(*cols, strict=True),
                )
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as conn:
        for ix in indexes:
            ix.create(conn)


def refresh(engine: Engine, lo: datetime, hi: datetime) -> None:
    """The rollups of every hour in ``[lo, hi)``, set-based (what every write path calls)."""
    hours = pd.date_range(lo.replace(minute=0, second=0, microsecond=0), hi, freq="h", inclusive="left")
    with engine.begin() as conn:
        refresh_login_rollup(conn, ORG, "login_history", [h.to_pydatetime() for h in hours])


def build(engine: Engine, *, events: int, apps: int, days: int, now: datetime) -> dict[str, float]:
    """A store with ``events`` logins over ``days`` for ``apps`` apps, its rollups, grants and app
    policies; returns the seconds of each stage."""
    rng = np.random.default_rng(5)
    start = now - timedelta(days=days)
    with engine.begin() as conn:
        ensure_org(conn, ORG)
        if engine.dialect.name == "postgresql":  # one partition per month, as the store keeps them
            have, m = set(months(conn, "logins")), month_of(start)
            while m <= month_of(now):
                if m not in have:
                    create_month(conn, "logins", m)
                m = add_months(m, 1)
    stages, t0 = {}, time.perf_counter()
    parts = (
        login_columns(rng, n=min(CHUNK, events - k), apps=apps, start=start, seconds=days * 86400, tag="a",
                      rhythm=True, offset=k)
        for k in range(0, events, CHUNK)
    )  # fmt: skip
    write_logins(engine, parts, bulk=True)
    stages["rows and insert"], t0 = time.perf_counter() - t0, time.perf_counter()
    refresh(engine, start, now)
    stages["rollups"] = time.perf_counter() - t0
    grants = [
        {"org": ORG, "snapshot_day": now.date(), "user_id": f"005{a:04d}{u:011d}", "app_name": f"App {a:02d}",
         "created_date": now - timedelta(days=int(rng.integers(30, 400))),
         "last_used_date": now - timedelta(days=int(rng.integers(0, 200))), "use_count": int(rng.integers(1, 999)),
         "seen_at": now}
        for a in range(apps) for u in range(20)
    ]  # fmt: skip
    policies = [
        {"org": ORG, "app_id": f"0H4{a:015d}", "name": f"App {a:02d}", "admin_approved_only": bool(a % 2),
         "ip_relaxation": "ENFORCE" if a % 7 else "BYPASS",
         "refresh_token_policy": "infinite" if a % 3 else "specific_inactivity:30:DAYS",
         "scopes": ["Api", "RefreshToken"], "fingerprint": "x", "first_seen": now, "last_seen": now}
        for a in range(apps)
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(schema.oauth_token_snapshots), grants)
        conn.execute(insert(schema.connected_apps), policies)
        conn.execute(text("ANALYZE"))
    return stages


def add_new_events(engine: Engine, *, now: datetime, minutes: int, apps: int, per_minute: int) -> None:
    """``minutes`` of new logins ending at ``now``, written as a collector writes them."""
    rng = np.random.default_rng(9)
    start = now - timedelta(minutes=minutes)
    df = login_columns(
        rng, n=minutes * per_minute, apps=apps, start=start, seconds=minutes * 60, tag="b", rhythm=False
    )
    write_logins(engine, [df])
    refresh(engine, start, now)


def raw_history(engine: Engine, now: datetime, history: timedelta) -> pd.DataFrame:
    """The naive way: every raw login of the history, into one frame."""
    lg = schema.logins
    with engine.connect() as conn:
        stmt = (
            select(time_col(conn, lg.c.login_time), lg.c.application)
            .where(lg.c.org == ORG, lg.c.login_time >= now - history, lg.c.login_time < now)
            .order_by(lg.c.login_time)
        )
        return read_frame(conn, stmt, ("login_time",))


def naive_volume(logins: pd.DataFrame, now: datetime) -> int:
    """Per-app Python loop: rebuild each app's hourly counts and hour-of-week medians from raw rows."""
    flagged = 0
    for app in sorted(set(logins["application"])):
        times = [t.to_pydatetime() for t in logins.loc[logins["application"] == app, "login_time"]]
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


CPU: dict[str, float] = {}  # this process's CPU seconds per step (steadier than wall time on a busy machine)


def timed(fn: Callable[[], Any], step: str = "") -> tuple[float, Any]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    CPU[step] = CPU.get(step, 0.0) + time.process_time() - c0
    return time.perf_counter() - t0, out


def peak_mb(fn: Callable[[], Any]) -> float:
    """Peak memory (MB) Python and numpy allocate while ``fn`` runs (tracemalloc; a second run)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


BASE_VERSION = 1  # bump when build() makes different data, so that kept stores are rebuilt


def _pg_admin(pg_url: str) -> Engine:
    return create_engine(pg_url, isolation_level="AUTOCOMMIT")


def _pg_exists(admin: Engine, name: str) -> bool:
    with admin.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
    return found is not None


def _pg_url(pg_url: str, name: str) -> str:
    return make_url(pg_url).set(database=name).render_as_string(hide_password=False)


def _kept_name(args: argparse.Namespace) -> str:
    return f"bench_detect_v{BASE_VERSION}_{args.events}_{args.apps}_{args.days}"


def _build_into(url: str, args: argparse.Namespace) -> tuple[float, dict[str, float]]:
    engine = open_store(url)
    try:
        return timed(
            lambda: build(engine, events=args.events, apps=args.apps, days=args.days, now=NOW - CYCLE)
        )
    finally:
        engine.dispose()


@contextlib.contextmanager
def store(kind: str, args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """A store URL holding the built data, and how it was made.

    Without ``--keep``: a temporary SQLite file, or a database created (and dropped) on the
    server, built here. With ``--keep DIR``: the built store is kept (SQLite: a file in ``DIR``;
    PostgreSQL: a database named after the parameters) and reused when present; every run
    measures a copy of it (a file copy, or ``CREATE DATABASE ... TEMPLATE``), so each run starts
    from the same state: the data is deterministic and the copy is thrown away afterwards.
    """
    name = _kept_name(args)
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp) / "bench.db"
            if not args.keep:
                t, stages = _build_into(f"sqlite:///{work}", args)
                yield f"sqlite:///{work}", _built(t, stages)
                return
            base = Path(args.keep) / f"{name}.db"
            how = f"reused {base.name}"
            if not base.exists():
                part = base.with_suffix(".building")
                part.unlink(missing_ok=True)
                t, stages = _build_into(f"sqlite:///{part}", args)
                _checkpoint(part)
                part.rename(base)
                how = _built(t, stages)
            shutil.copyfile(base, work)
            yield f"sqlite:///{work}", how
        return
    admin = _pg_admin(args.pg_url)
    work_name = f"oauthwatch_bench_detect_{os.getpid()}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{work_name}"'))
        if args.keep:
            how = f"reused database {name}"
            if not _pg_exists(admin, name):
                part = f"{name}_building"
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{part}"'))
                    conn.execute(text(f'CREATE DATABASE "{part}"'))
                t, stages = _build_into(_pg_url(args.pg_url, part), args)
                with admin.connect() as conn:
                    conn.execute(text(f'ALTER DATABASE "{part}" RENAME TO "{name}"'))
                how = _built(t, stages)
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{work_name}" TEMPLATE "{name}" STRATEGY FILE_COPY'))
            yield _pg_url(args.pg_url, work_name), how
        else:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{work_name}"'))
            t, stages = _build_into(_pg_url(args.pg_url, work_name), args)
            yield _pg_url(args.pg_url, work_name), _built(t, stages)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{work_name}" WITH (FORCE)'))
        admin.dispose()


def _built(seconds: float, stages: dict[str, float]) -> str:
    return f"built in {seconds:.0f} s ({', '.join(f'{k} {v:.0f} s' for k, v in stages.items())})"


def _checkpoint(path: Path) -> None:
    """Fold the write-ahead log into the file, so that the file alone is the store."""
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


def bench(kind: str, url: str, built: str, args: argparse.Namespace) -> None:
    now, cycle = NOW, CYCLE
    print(f"{kind}: {built}", flush=True)
    engine = open_store(url)
    settings = Settings.model_validate({"store": {"url": url}})
    history = timedelta(days=settings.detect.history_days)
    # The previous cycle, judging its own window (not the 72 hours a first run ever would).
    t_first, _ = timed(lambda: run_all(engine, settings, now=now - cycle, since=now - cycle))
    # New events at the rate the store was filled at this hour of the day (its rhythm peaks at 14:00).
    per_minute = max(1, round(args.events / (args.days * 1440) * 1.65))
    add_new_events(engine, now=now, minutes=15, apps=args.apps, per_minute=per_minute)
    t_cycle, report = timed(lambda: run_all(engine, settings, now=now), "cycle")
    m_cycle = peak_mb(lambda: run_all(engine, settings, now=now, since=now - cycle))
    t_load, logins = timed(lambda: raw_history(engine, now, history), "naive")
    t_naive, _ = timed(lambda: naive_volume(logins, now), "naive")
    m_naive = peak_mb(lambda: naive_volume(raw_history(engine, now, history), now))
    if args.profile:  # the cycle again under cProfile (judging the last window), for reading
        cProfile.runctx("run_all(engine, settings, now=now, since=now - cycle)", globals(), locals(),
                        f"{args.profile}.{kind}")  # fmt: skip
    t_bt, bt = timed(
        lambda: backtest(engine, settings, start=now - timedelta(hours=23), end=now, step=timedelta(hours=1)),
        "backtest",
    )
    engine.dispose()
    label = "SQLite" if kind == "sqlite" else "PostgreSQL"
    print(
        f"\nbench_detect: {args.events:,} stored events, {args.apps} apps, {args.days} days, {label} "
        f"({built}; previous cycle {t_first:.1f} s; then 15 min of new events, {15 * per_minute:,}: "
        f"{report.windows} window(s) judged, {len(report.findings)} findings)"
    )
    print(
        f"{'step':34s} {'seconds':>9s} {'cpu s':>7s} {'peak MB':>9s} {'x naive':>8s}  (load {os.getloadavg()[0]:.1f})"
    )
    naive = t_load + t_naive
    for name, secs, cpu, mb in (
        ("detect cycle", t_cycle, CPU.pop("cycle"), m_cycle),
        ("naive per-app loop", naive, CPU.pop("naive"), m_naive),
        (f"backtest 24 h ({bt.steps} steps)", t_bt, CPU.pop("backtest"), None),  # memory not traced
    ):
        peak = f"{mb:9.1f}" if mb is not None else f"{'-':>9s}"
        print(f"{name:34s} {secs:9.2f} {cpu:7.2f} {peak} {secs / naive:8.2f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument(
        "--events", type=int, default=1_000_000, help="stored events (10,000,000 for the big size)"
    )
    ap.add_argument("--apps", type=int, default=50)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
                    help="a PostgreSQL server where the benchmark may create and drop a database")  # fmt: skip
    ap.add_argument("--keep", metavar="DIR",
                    help="keep the built store (SQLite: a file in DIR; PostgreSQL: a database named after the "
                         "parameters) and reuse it when present; each run measures a fresh copy of it")  # fmt: skip
    ap.add_argument("--profile", metavar="FILE", help="write cProfile stats of a cycle to FILE.<db>")
    args = ap.parse_args()
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
    for kind in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        with store(kind, args) as (url, built):
            bench(kind, url, built, args)


if __name__ == "__main__":
    main()
