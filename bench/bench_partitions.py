"""Benchmark: PostgreSQL with monthly partitions vs without, at N stored login events (10M and 30M).

For each size it builds two stores side by side in one database, each in its own schema, with the
same rows: ``part`` (the schema as migrated: ``logins`` and the other event tables partitioned by
month) and ``plain`` (the same schema with those tables made plain tables: same columns, keys and
indexes, no partitions). The events span 15.5 months ending ``END`` (2025-01-01 ..
2026-04-15), in the shape of bench_dashboard.py's data (20 apps with Zipf-like popularity, 2,000
users, an IP pool per app, 8% failures). The build happens in the server, with the keys and
indexes dropped during the load and built once after it:

- ``plain``: ``INSERT … SELECT`` over ``generate_series``, each row's user, app, IP and outcome
  taken from a 65,536-row table of hashed draws (cheaper than hashing every row, same spread);
- ``part``: the very same rows copied from ``plain`` (``INSERT … SELECT``, routed into the months);
- the rollups of the 62 days the pages read, by the store's own ``refresh_login_rollup`` in
  ``plain``, and the rest of the store (bench_dashboard.py's ``seed_rest``), then both copied to
  ``part``; then ``VACUUM ANALYZE``.

Then, on both stores in the same run:

- the dashboard's page times: bench_dashboard.py's ``pages`` (the functions dashboard/data.py
  calls, uncached) over the 30 days before END (Investigate: 2 hours), each warmed once, then
  ``--repeat`` rounds in which each page is timed on both stores one right after the other, in
  alternating order, so that a load spike on the machine hits both; the median of the rounds;
- the disk the logins take (table and indexes), per million events;
- the collectors' write path: new logins upserted in pages of 2,000 (rows/s);
- one prune at END with the default retention (raw 400 days, rollups 5 years, batches of 5,000),
  the same range on both (every login before 11 March 2025): ``part`` drops January and February
  2025 and deletes 1-10 March in batches, ``plain`` deletes all of it in batches.

The machine's load average is printed with each size. The database is dropped at the end,
whatever happens.

    python bench/bench_partitions.py                              # 1,000,000 events (minutes)
    nice -n 10 python bench/bench_partitions.py --sizes 10000000,30000000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, event, make_url, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import bench_dashboard as bd  # noqa: E402 - the pages and the rest of the store, reused
from oauthwatch.store import open_store, rollups_detect, schema  # noqa: E402
from oauthwatch.store.migrate import ensure_current  # noqa: E402
from oauthwatch.store.partitions import EVENT_TIME, add_months, create_month, months  # noqa: E402
from oauthwatch.store.retention import Policy, prune  # noqa: E402
from oauthwatch.store.upsert import upsert  # noqa: E402
from oauthwatch.store.writes import ensure_org, refresh_login_rollup  # noqa: E402

START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2026, 4, 15, tzinfo=UTC)
ORG = bd.ORG
WRITE_ROWS, WRITE_PAGE = 100_000, 2_000
ROLLUP_DAYS = 62
CHUNK = 5_000_000  # rows per load transaction
VARIANTS = ("plain", "part")

# 65,536 draws, one per value i: h is a 64-bit hash of i, its bit fields pick the app (log-uniform,
# i.e. Zipf-like), user, IP, outcome and failure reason.
SHAPE_SQL = """
CREATE TEMPORARY TABLE shape AS
SELECT i, '005' || lpad(((a * 97 + (h >> 8) % 100) % 2000)::text, 12, '0') || 'AAA' AS user_id,
       'user' || ((a * 97 + (h >> 8) % 100) % 2000) || '@bench.example' AS username,
       (ARRAY['OAuth Refresh Token','OAuth Client Credentials','OAuth Web Server',
              'OAuth Username-Password',''])[1 + a % 5] AS login_subtype,
       CASE WHEN ok THEN 'Success' ELSE (ARRAY['Invalid Password','Failed: IP Address Not Allowed',
       'Failed: Invalid Code Verifier','Failed: Signature Invalid'])[1 + (h >> 40) % 4] END AS status,
       ok AS success, 'App ' || lpad(a::text, 2, '0') AS application,
       '10.' || a || '.0.' || (h >> 28) % 60 AS source_ip,
       (ARRAY['US','DE','FR','JP','BR','IN'])[1 + a % 6] AS country_iso,
       (ARRAY['United States','Germany','France','Japan','Brazil','India'])[1 + a % 6] AS country,
       (ARRAY['Ashburn','Frankfurt','Paris','Tokyo','Sao Paulo','Mumbai'])[1 + a % 6] AS city
FROM (
  SELECT i, h, least(19, floor(exp(((h & 1048575) / 1048576.0) * ln(21))) - 1)::int AS a,
         (h >> 20) % 100 >= 8 AS ok
  FROM (SELECT i, hashint8extended(i, 0) & 9223372036854775807 AS h
        FROM generate_series(0, 65535) i) x
) y;
ALTER TABLE shape ADD PRIMARY KEY (i);
ANALYZE shape
"""
# Row g of N: evenly spread times, its draw from the shape table.
LOAD_SQL = """
INSERT INTO logins (org, source, natural_id, login_time, user_id, username, login_type, login_subtype,
                    status, success, application, source_ip, country_iso, country, city, latitude,
                    longitude, ingested_at)
SELECT %(org)s, 'login_history', 'LG' || lpad(g::text, 16, '0'), t, s.user_id, s.username,
       'Remote Access 2.0', s.login_subtype, s.status, s.success, s.application, s.source_ip,
       s.country_iso, s.country, s.city, 0.0, 0.0, t
FROM (SELECT g, %(start)s::timestamptz + make_interval(secs => g * %(step)s) AS t
      FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) g) x
JOIN shape s ON s.i = (x.g & 65535)
"""
# The keys and indexes of logins, built after the load (names and columns as the migrations make them).
KEYS = {
    "plain": "ALTER TABLE logins ADD CONSTRAINT pk_logins PRIMARY KEY (id)",
    "part": "ALTER TABLE logins ADD CONSTRAINT pk_logins PRIMARY KEY (id, login_time)",
}
INDEXES = (
    "ALTER TABLE logins ADD CONSTRAINT uq_logins_natural UNIQUE (org, source, natural_id, login_time)",
    "CREATE INDEX ix_logins_org_time ON logins (org, login_time)",
    "CREATE INDEX ix_logins_org_app_time ON logins (org, application, login_time)",
    "CREATE INDEX ix_logins_org_ip_time ON logins (org, source_ip, login_time)",
    "CREATE INDEX ix_logins_org_user_time ON logins (org, user_id, login_time)",
    "ALTER TABLE logins ADD CONSTRAINT fk_logins_org_orgs FOREIGN KEY (org) REFERENCES orgs (name) "
    "ON DELETE CASCADE",
)


def _admin(url: str):
    return create_engine(url, isolation_level="AUTOCOMMIT")


def _url(admin_url: str, database: str) -> str:
    return make_url(admin_url).set(database=database).render_as_string(hide_password=False)


def _open(url: str, schema_name: str):
    """The store whose tables are in ``schema_name`` (every connection's search_path), migrated."""
    engine = open_store(url, migrate=False)
    event.listen(engine, "connect", lambda dbapi_conn, _rec: _search_path(dbapi_conn, schema_name))
    ensure_current(engine)
    return engine


def _search_path(dbapi_conn, schema_name: str) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"SET search_path TO {schema_name}")
    cur.close()
    dbapi_conn.commit()


def _make_stores(admin_url: str, database: str) -> dict:
    """The two stores, migrated, each in its own schema of ``database``."""
    with _admin(admin_url).connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{database}"'))
    with _admin(_url(admin_url, database)).connect() as c:
        for v in VARIANTS:
            c.execute(text(f"CREATE SCHEMA {v}"))
    engines = {v: _open(_url(admin_url, database), v) for v in VARIANTS}
    plain, part = engines["plain"], engines["part"]
    with plain.begin() as conn:  # plain: the same schema with every event table unpartitioned
        for table in EVENT_TIME:
            _unpartition(conn, table)
    with part.begin() as conn:
        month = START.date()
        while month <= add_months(END.date().replace(day=1), 2):
            if month not in months(conn, "logins"):
                create_month(conn, "logins", month)
            month = add_months(month, 1)
    for engine in engines.values():
        with engine.begin() as conn:
            ensure_org(conn, ORG)
    return engines


def _unpartition(conn, table: str) -> None:
    """``table`` as one plain table: same columns, defaults, checks, keys and indexes, no partitions."""
    run = conn.exec_driver_sql
    run(f"ALTER TABLE {table} RENAME TO {table}_parted")
    run(f"CREATE TABLE {table} (LIKE {table}_parted INCLUDING ALL)")
    run(f"ALTER SEQUENCE IF EXISTS {table}_id_seq OWNED BY {table}.id")
    run(f"DROP TABLE {table}_parted")
    run(
        f"ALTER TABLE {table} ADD CONSTRAINT fk_{table}_org_orgs FOREIGN KEY (org) REFERENCES orgs (name) ON DELETE CASCADE"
    )


def _drop_keys(cur) -> None:
    """Every key, foreign key and index of ``logins`` (whatever they are named), before the load."""
    cur.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'logins'::regclass AND contype IN ('p', 'u', 'f')"
    )
    for (name,) in cur.fetchall():
        cur.execute(f'ALTER TABLE logins DROP CONSTRAINT "{name}"')
    cur.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'logins'"
    )
    for (name,) in cur.fetchall():
        cur.execute(f'DROP INDEX "{name}"')


def _build_keys(cur, variant: str) -> None:
    cur.execute("SET maintenance_work_mem = '1GB'")
    for sql in (KEYS[variant], *INDEXES):
        cur.execute(sql)


def _load(engines: dict, rows: int) -> dict:
    """``plain`` generated, ``part`` copied from it; returns the seconds of each step."""
    out: dict = {}
    step = (END - START).total_seconds() / rows
    cols = ", ".join(c.name for c in schema.logins.c)
    for variant in VARIANTS:
        raw = engines[variant].raw_connection()
        try:
            cur = raw.cursor()
            _drop_keys(cur)
            raw.commit()
            t0 = time.perf_counter()
            if variant == "plain":
                cur.execute(SHAPE_SQL)
                for lo in range(0, rows, CHUNK):
                    hi = min(rows, lo + CHUNK) - 1
                    cur.execute(LOAD_SQL, {"org": ORG, "start": START, "step": step, "lo": lo, "hi": hi})
                    raw.commit()
            else:
                cur.execute(f"INSERT INTO logins ({cols}) SELECT {cols} FROM plain.logins")
                cur.execute(
                    "SELECT setval(pg_get_serial_sequence('logins', 'id'), (SELECT max(id) FROM logins))"
                )
                raw.commit()
            out[f"{variant}_rows_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            _build_keys(cur, variant)
            raw.commit()
            out[f"{variant}_keys_s"] = time.perf_counter() - t0
        finally:
            raw.close()
    return out


def _rollups(engine) -> None:
    """The rollups of the days the pages read (their 30-day window and the one before, for the
    KPIs' change), built by the store's own refresh, so what the pages read is what collection
    writes. Only the detectors read the detection rollups (store/rollups_detect.py), so they are
    left out: they would cost as much as all the others and change no page."""
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE logins")  # the day-by-day refresh reads along the indexes
        conn.commit()
    hours, t = [], END - timedelta(days=ROLLUP_DAYS)
    while t < END:
        hours.append(t)
        t += timedelta(hours=1)
    keep = rollups_detect.refresh_detect_rollups
    rollups_detect.refresh_detect_rollups = lambda *_a, **_k: None
    try:
        for i in range(0, len(hours), 24 * 31):  # a month per transaction
            with engine.begin() as conn:
                refresh_login_rollup(conn, ORG, "login_history", hours[i : i + 24 * 31])
    finally:
        rollups_detect.refresh_detect_rollups = keep


def _copy_rest(engines: dict) -> None:
    """Every table but logins and orgs, copied from ``plain`` to ``part`` (same columns on both)."""
    skip = {"logins", "orgs"}
    with engines["part"].begin() as conn:
        for t in schema.metadata.sorted_tables:
            if t.name in skip:
                continue
            cols = ", ".join(c.name for c in t.c)
            conn.exec_driver_sql(f"INSERT INTO {t.name} ({cols}) SELECT {cols} FROM plain.{t.name}")


def _disk(engine) -> int:
    """Bytes of ``logins`` on disk: table, TOAST and indexes (of every partition, when partitioned)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT coalesce(sum(pg_total_relation_size(relid)), 0) FROM pg_partition_tree('logins') "
                    "WHERE isleaf UNION ALL SELECT pg_total_relation_size('logins') ORDER BY 1 DESC LIMIT 1"
                )
            ).scalar()
        )


def _write(engine) -> float:
    """The collectors' write path: new logins upserted page by page on the natural key."""
    t0 = datetime(2026, 4, 14, tzinfo=UTC)
    rows = [_write_row(i, t0 + timedelta(seconds=i * 0.8)) for i in range(WRITE_ROWS)]
    started = time.perf_counter()
    for i in range(0, WRITE_ROWS, WRITE_PAGE):
        with engine.begin() as conn:
            upsert(
                conn,
                schema.logins,
                rows[i : i + WRITE_PAGE],
                key=["org", "source", "natural_id"],
                update=None,
            )
    return WRITE_ROWS / (time.perf_counter() - started)


def _write_row(i: int, t: datetime) -> dict:
    return {
        "org": ORG,
        "source": "login_history",
        "natural_id": f"WR{i:016d}",
        "login_time": t,
        "user_id": f"005{i % 2000:012d}AAA",
        "login_type": "Remote Access 2.0",
        "status": "Success",
        "success": True,
        "application": f"App {i % 20:02d}",
        "source_ip": f"10.{i % 20}.0.{i % 60}",
        "country_iso": "US",
        "ingested_at": t,
    }


def _pages(engines: dict, repeat: int) -> dict:
    """Median ms per store and page, over ``repeat`` rounds; each page is timed on both stores one
    right after the other, in alternating order, so that a load spike hits both alike."""
    w = bd.q.Window(END - timedelta(days=30), END, (ORG,))
    inv = bd.q.Window(END - timedelta(days=10, hours=2), END - timedelta(days=10), (ORG,))
    fns = {v: bd.pages(engines[v], w, inv) for v in VARIANTS}
    samples: dict = {v: {p: [] for p in fns[v]} for v in VARIANTS}
    for v in VARIANTS:
        for fn in fns[v].values():
            fn()  # warm, as a dashboard open for a while
    for r in range(repeat):
        for i, page in enumerate(fns["plain"]):
            for v in VARIANTS if (r + i) % 2 == 0 else VARIANTS[::-1]:
                t0 = time.perf_counter()
                fns[v][page]()
                samples[v][page].append((time.perf_counter() - t0) * 1000)
    return {v: {p: statistics.median(x) for p, x in samples[v].items()} for v in VARIANTS}


def _load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def measure(admin_url: str, rows: int, repeat: int) -> dict:
    database = f"ow_bench_parts_{rows}_{os.getpid()}"
    out: dict = {v: {} for v in VARIANTS}
    out["load_average"] = [_load_average()]
    engines: dict = {}
    try:
        engines = _make_stores(admin_url, database)
        out["build"] = _load(engines, rows)
        t0 = time.perf_counter()
        _rollups(engines["plain"])
        out["build"]["rollups_s"] = time.perf_counter() - t0
        bd.START, bd.END = END - timedelta(days=bd.DAYS), END  # the rest of the store, in our span
        bd.seed_rest(engines["plain"])
        _copy_rest(engines)
        t0 = time.perf_counter()
        with engines["plain"].connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))  # the whole database: both schemas
        out["build"]["vacuum_s"] = time.perf_counter() - t0
        for v in VARIANTS:
            with engines[v].connect() as conn:
                n = conn.execute(text("SELECT count(*) FROM logins")).scalar()
            assert n == rows, (v, n)
            out[v]["disk_bytes"] = _disk(engines[v])
        print(f"[{rows:,}] built: " + ", ".join(f"{k} {s:.0f}" for k, s in out["build"].items()), flush=True)
        out["load_average"].append(_load_average())
        for v, pages in _pages(engines, repeat).items():
            out[v]["pages"] = pages
        out["load_average"].append(_load_average())
        for v in VARIANTS:
            out[v]["write_rows_s"] = _write(engines[v])
        for v in VARIANTS:
            engine = engines[v]
            t0 = time.perf_counter()
            report = prune(engine, Policy(), END)
            out[v]["prune_s"] = time.perf_counter() - t0
            out[v]["pruned_rows"] = report.by_table().get("logins", 0)
            out[v]["partitions_dropped"] = len(
                {p for i in report.items if i.table == "logins" for p in i.partitions}
            )
            with engine.connect() as conn:
                left = conn.execute(
                    text("SELECT count(*) FROM logins WHERE login_time < :b"), {"b": report.raw_before}
                )
                assert left.scalar() == 0
            print(
                f"[{rows:,} {v}] prune {out[v]['pruned_rows']:,} rows in {out[v]['prune_s']:.1f} s "
                f"({out[v]['partitions_dropped']} partitions dropped)",
                flush=True,
            )
        assert out["plain"]["pruned_rows"] == out["part"]["pruned_rows"], "the same range on both"
        out["load_average"].append(_load_average())
    finally:
        for engine in engines.values():
            engine.dispose()
        with _admin(admin_url).connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    return out


def table(size: int, m: dict, repeat: int) -> None:
    p, q = m["plain"], m["part"]
    b = m["build"]
    print(
        f"\nPostgreSQL, {size:,} login events ({START:%Y-%m-%d} .. {END:%Y-%m-%d}), monthly partitions vs none; "
        f"pages: median of {repeat} rounds, stores alternating, 30-day window; ratio = plain / partitioned "
        f"(above 1: partitions better); load average (1, 5, 15 min) {' / '.join(m['load_average'])}"
    )
    print(f"{'events':>11s} {'measure':24s} {'plain':>12s} {'partitioned':>12s} {'ratio':>7s}")
    lines = [(f"page {k} ms", p["pages"][k], q["pages"][k]) for k in p["pages"]]
    lines += [
        ("prune s", p["prune_s"], q["prune_s"]),
        ("rows pruned", p["pruned_rows"], q["pruned_rows"]),
        ("write rows/s", p["write_rows_s"], q["write_rows_s"]),
        ("keys and indexes s", b["plain_keys_s"], b["part_keys_s"]),
        (
            "disk MiB per 1M events",
            p["disk_bytes"] / 2**20 / size * 1e6,
            q["disk_bytes"] / 2**20 / size * 1e6,
        ),
    ]
    for label, x, y in lines:
        ratio = x / y if y else float("nan")
        if label == "write rows/s":
            ratio = y / x if x else float("nan")  # higher is better: partitioned / plain
        print(f"{size:>11,} {label:24s} {x:12,.1f} {y:12,.1f} {ratio:6.2f}x", flush=True)
    print(
        f"{size:>11,} build: rows generated {b['plain_rows_s']:.0f} s (plain), copied {b['part_rows_s']:.0f} s "
        f"(partitioned), rollups {b['rollups_s']:.0f} s, vacuum {b['vacuum_s']:.0f} s",
        flush=True,
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000000", help="comma-separated event counts")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument(
        "--pg-url",
        default=os.environ.get("OAUTHWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    )
    args = ap.parse_args()
    for size in (int(x) for x in args.sizes.split(",")):
        table(size, measure(args.pg_url, size, args.repeat), args.repeat)  # each size as soon as it is done
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
