"""Benchmark: PostgreSQL with monthly partitions vs without, at N stored login events (10M and 30M).

For each size it builds two stores in separate databases on the same server, with the same rows:
``partitioned`` (the schema as migrated: ``logins`` and the other event tables partitioned by
month) and ``plain`` (the same store migrated back to the revision before the partitions, with the same
natural key on ``logins``).
The events span 15.5 months ending ``END`` (2025-01-01 .. 2026-04-15), generated inside PostgreSQL
(``INSERT … SELECT`` over ``generate_series`` with the keys and indexes built after the load; the shape of bench_dashboard.py's data: 20 apps with
Zipf-like popularity, 2,000 users, an IP pool per app, 8% failures), then the rollups of the 62 days the pages read with the store's own
``refresh_login_rollup`` and the other tables with bench_dashboard.py's ``seed_rest``. Then, in each store and in the same run:

- the dashboard's page times: bench_dashboard.py's ``pages`` (the functions dashboard/data.py
  calls, uncached), median of ``--repeat``, over the 30 days before END (Investigate: 2 hours);
- the collectors' write path: 200,000 new logins upserted in pages of 2,000 (rows/s);
- one prune at END with the default retention (raw 400 days, rollups 5 years, batches of 5,000):
  on ``partitioned`` it drops January and February 2025 and deletes 1-10 March in batches, on
  ``plain`` it deletes every row before 11 March 2025 in batches;
- the disk the logins take (table and indexes), per million events.

The baseline of each figure is the ``plain`` store, measured in the same run. Databases are
dropped at the end, whatever happens.

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

from alembic import command
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import bench_dashboard as bd  # noqa: E402 - the pages and the rest of the store, reused
from oauthwatch.store import open_store, schema  # noqa: E402
from oauthwatch.store.migrate import alembic_config  # noqa: E402
from oauthwatch.store.partitions import add_months, create_month, months  # noqa: E402
from oauthwatch.store.retention import Policy, prune  # noqa: E402
from oauthwatch.store.upsert import upsert  # noqa: E402
from oauthwatch.store.writes import ensure_org, refresh_login_rollup  # noqa: E402

START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2026, 4, 15, tzinfo=UTC)
ORG = bd.ORG
WRITE_ROWS, WRITE_PAGE = 200_000, 2_000
PLAIN_REVISION = "0011_app_kind"  # the revision before the partitions
ROLLUP_DAYS = 62

# One row per generate_series value g: h is a 64-bit hash of g, its bit fields pick the app
# (log-uniform, i.e. Zipf-like), user, IP, outcome and failure reason; times are evenly spread.
LOAD_SQL = """
INSERT INTO logins (org, source, natural_id, login_time, user_id, username, login_type, login_subtype,
                    status, success, application, source_ip, country_iso, country, city, latitude,
                    longitude, ingested_at)
SELECT :org, 'login_history', 'LG' || lpad(g::text, 16, '0'), t,
       '005' || lpad(((a * 97 + (h >> 8) % 100) % 2000)::text, 12, '0') || 'AAA',
       'user' || ((a * 97 + (h >> 8) % 100) % 2000) || '@bench.example',
       'Remote Access 2.0', (ARRAY['OAuth Refresh Token','OAuth Client Credentials','OAuth Web Server',
       'OAuth Username-Password',''])[1 + a % 5],
       CASE WHEN ok THEN 'Success' ELSE (ARRAY['Invalid Password','Failed: IP Address Not Allowed',
       'Failed: Invalid Code Verifier','Failed: Signature Invalid'])[1 + (h >> 40) % 4] END,
       ok, 'App ' || lpad(a::text, 2, '0'), '10.' || a || '.0.' || (h >> 28) % 60,
       (ARRAY['US','DE','FR','JP','BR','IN'])[1 + a % 6],
       (ARRAY['United States','Germany','France','Japan','Brazil','India'])[1 + a % 6],
       (ARRAY['Ashburn','Frankfurt','Paris','Tokyo','Sao Paulo','Mumbai'])[1 + a % 6],
       0.0, 0.0, t
FROM (
  SELECT g, h, :start + make_interval(secs => g * :step) AS t,
         least(19, floor(exp(((h & 1048575) / 1048576.0) * ln(21))) - 1)::int AS a,
         (h >> 20) % 100 >= 8 AS ok
  FROM (SELECT g, hashint8extended(g, 0) & 9223372036854775807 AS h
        FROM generate_series(:lo::bigint, :hi::bigint) g) x
) y
"""


def _admin(url: str):
    return create_engine(url, isolation_level="AUTOCOMMIT")


def _make_store(admin_url: str, name: str, partitioned: bool):
    with _admin(admin_url).connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    engine = open_store(url)
    if not partitioned:  # the schema before partitions, plus the retention ledger prune writes
        command.downgrade(alembic_config(engine), PLAIN_REVISION)
        schema.pruned_ranges.create(engine)
        with engine.begin() as conn:  # the same natural key as the partitioned table, unpartitioned
            conn.exec_driver_sql("ALTER TABLE logins DROP CONSTRAINT uq_logins_natural")
            conn.exec_driver_sql(
                "ALTER TABLE logins ADD CONSTRAINT uq_logins_natural UNIQUE (org, source, natural_id, login_time)"
            )
    else:
        with engine.begin() as conn:
            month = START.date()
            while month <= add_months(END.date().replace(day=1), 2):
                if month not in months(conn, "logins"):
                    create_month(conn, "logins", month)
                month = add_months(month, 1)
    return engine


def _load(engine, rows: int, partitioned: bool) -> None:
    """Bulk load: every index and key of ``logins`` dropped, rows generated in batches of 2M, then the
    keys and indexes built once (far faster than maintaining them row by row, on both variants)."""
    step = (END - START).total_seconds() / rows
    pk = "(id, login_time)" if partitioned else "(id)"
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for ix in (*bd.SECONDARY_INDEXES, "ix_logins_org_time"):
            cur.execute(f"DROP INDEX IF EXISTS {ix}")
        cur.execute("ALTER TABLE logins DROP CONSTRAINT uq_logins_natural")
        cur.execute("ALTER TABLE logins DROP CONSTRAINT pk_logins")
        raw.commit()
        chunk = 2_000_000
        sql = (
            LOAD_SQL.replace("%", "%%")
            .replace(":org", "%(org)s")
            .replace(":start", "%(start)s")
            .replace(":step", "%(step)s")
            .replace(":lo", "%(lo)s")
            .replace(":hi", "%(hi)s")
        )
        for lo in range(0, rows, chunk):
            cur.execute(
                sql, {"org": ORG, "start": START, "step": step, "lo": lo, "hi": min(rows, lo + chunk) - 1}
            )
            raw.commit()
        cur.execute(f"ALTER TABLE logins ADD CONSTRAINT pk_logins PRIMARY KEY {pk}")
        cur.execute(
            "ALTER TABLE logins ADD CONSTRAINT uq_logins_natural UNIQUE (org, source, natural_id, login_time)"
        )
        cur.execute("CREATE INDEX ix_logins_org_time ON logins (org, login_time)")
        cur.execute("CREATE INDEX ix_logins_org_app_time ON logins (org, application, login_time)")
        cur.execute("CREATE INDEX ix_logins_org_ip_time ON logins (org, source_ip, login_time)")
        cur.execute("CREATE INDEX ix_logins_org_user_time ON logins (org, user_id, login_time)")
        raw.commit()
    finally:
        raw.close()


def _rollups(engine) -> None:
    """The rollups of the days the pages read (their 30-day window and the one before, for the
    KPIs' change), built by the store's own refresh: what the pages read is what a full build gives."""
    hours, t = [], END - timedelta(days=ROLLUP_DAYS)
    while t < END:
        hours.append(t)
        t += timedelta(hours=1)
    for i in range(0, len(hours), 24 * 31):  # a month per transaction
        with engine.begin() as conn:
            refresh_login_rollup(conn, ORG, "login_history", hours[i : i + 24 * 31])


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
    rows = [_write_row(i, t0 + timedelta(seconds=i * 0.4)) for i in range(WRITE_ROWS)]
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


def measure(admin_url: str, rows: int, repeat: int, partitioned: bool) -> dict:
    name = f"ow_bench_{'part' if partitioned else 'plain'}_{rows}_{os.getpid()}"
    out: dict = {}
    engine = _make_store(admin_url, name, partitioned)
    try:
        with engine.begin() as conn:
            ensure_org(conn, ORG)
        t0 = time.perf_counter()
        _load(engine, rows, partitioned)
        out["load_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        _rollups(engine)
        out["rollup_s"] = time.perf_counter() - t0
        bd.START, bd.END = END - timedelta(days=bd.DAYS), END  # the rest of the store, in our span
        bd.seed_rest(engine)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))
        with engine.connect() as conn:
            n = conn.execute(text("SELECT count(*) FROM logins")).scalar()
        assert n == rows, n
        out["disk_bytes"] = _disk(engine)
        w = bd.q.Window(END - timedelta(days=30), END, (ORG,))
        inv = bd.q.Window(END - timedelta(days=10, hours=2), END - timedelta(days=10), (ORG,))
        out["pages"] = {}
        for page, fn in bd.pages(engine, w, inv).items():
            fn()  # warm, as a dashboard open for a while
            samples = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                fn()
                samples.append((time.perf_counter() - t0) * 1000)
            out["pages"][page] = statistics.median(samples)
        out["write_rows_s"] = _write(engine)
        t0 = time.perf_counter()
        report = prune(engine, Policy(), END)
        out["prune_s"] = time.perf_counter() - t0
        out["pruned_rows"] = report.by_table().get("logins", 0)
        out["partitions_dropped"] = len({p for i in report.items for p in i.partitions})
        with engine.connect() as conn:
            left = conn.execute(
                text("SELECT count(*) FROM logins WHERE login_time < :b"), {"b": report.raw_before}
            )
            assert left.scalar() == 0
        label = "partitioned" if partitioned else "plain"
        print(
            f"[{rows:,} {label}] load {out['load_s']:.0f} s, rollups {out['rollup_s']:.0f} s, "
            f"disk {out['disk_bytes'] / 2**30:.2f} GiB, write {out['write_rows_s']:,.0f} rows/s, "
            f"prune {out['pruned_rows']:,} rows in {out['prune_s']:.1f} s",
            flush=True,
        )
    finally:
        engine.dispose()
        with _admin(admin_url).connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return out


def table(size: int, p: dict, q: dict, repeat: int) -> None:
    print(
        f"\nPostgreSQL, {size:,} login events ({START:%Y-%m-%d} .. {END:%Y-%m-%d}), monthly partitions vs none; "
        f"pages: median of {repeat}, 30-day window; ratio = plain / partitioned (above 1: partitions better)"
    )
    print(f"{'events':>11s} {'measure':22s} {'plain':>12s} {'partitioned':>12s} {'ratio':>7s}")
    lines = [(f"page {k} ms", p["pages"][k], q["pages"][k]) for k in p["pages"]]
    lines += [
        ("prune s", p["prune_s"], q["prune_s"]),
        ("rows pruned", p["pruned_rows"], q["pruned_rows"]),
        ("write rows/s", p["write_rows_s"], q["write_rows_s"]),
        ("load s", p["load_s"], q["load_s"]),
        (
            "disk MiB per 1M events",
            p["disk_bytes"] / 2**20 / size * 1e6,
            q["disk_bytes"] / 2**20 / size * 1e6,
        ),
    ]
    for label, a, b in lines:
        ratio = a / b if b else float("nan")
        if label == "write rows/s":
            ratio = b / a if a else float("nan")  # higher is better: partitioned / plain
        print(f"{size:>11,} {label:22s} {a:12,.1f} {b:12,.1f} {ratio:6.2f}x", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000000", help="comma-separated event counts")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--pg-url",
        default=os.environ.get("OAUTHWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    )
    args = ap.parse_args()
    for size in (int(x) for x in args.sizes.split(",")):
        plain = measure(args.pg_url, size, args.repeat, partitioned=False)
        parted = measure(args.pg_url, size, args.repeat, partitioned=True)
        table(size, plain, parted, args.repeat)  # each size as soon as it is done
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
