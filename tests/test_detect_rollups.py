"""The detectors' rollups: exact, idempotent under re-collection, and filled by the migration.

``login_app_hourly`` and ``login_seen_daily`` replace the raw history a detection cycle used to
reload; they must equal what the logins say, whatever was written twice, on both databases.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy import delete, func, select

from oauthwatch.store import schema
from oauthwatch.store.migrate import upgrade
from oauthwatch.store.rollups_detect import SEEN_COLUMNS, seen_cells
from oauthwatch.store.writes import ensure_org, refresh_login_rollup, upsert

T0 = datetime(2026, 3, 1, 22, 5, tzinfo=UTC)  # the rows cross midnight: two UTC days


def _logins() -> list[dict[str, object]]:
    rows = []
    for i in range(40):
        ok = i % 7 != 3
        rows.append(
            {
                "org": "acme",
                "source": "login_history",
                "natural_id": f"0Ya{i:015d}",
                "login_time": T0 + timedelta(minutes=i * 11),
                "user_id": f"005{i % 4}",
                "application": "Billing Sync" if i % 3 else "Mobile",
                "success": ok,
                "status": "Success" if ok else "Invalid Password",
                "login_type": "Remote Access 2.0",
                "login_subtype": "OAuth JWT Bearer" if i % 5 else "",
                "source_ip": f"192.0.2.{i % 6}" if i % 9 else "2001:db8:1:2::7",
                "country_iso": "US" if i % 8 else "DE",
                "browser": "Java (Salesforce.com)",
                "ingested_at": T0,
            }
        )
    # Another source's copy of a login: never counted (the primary source feeds the rollups).
    rows.append({**rows[0], "source": "elf_login", "natural_id": "elf-1"})
    return rows


def _write(conn, rows, times) -> None:
    upsert(conn, schema.logins, rows, key=["org", "source", "natural_id"])
    refresh_login_rollup(conn, "acme", "login_history", times)


def _seen(conn) -> pd.DataFrame:
    s = schema.login_seen_daily
    got = pd.DataFrame(conn.execute(select(*(s.c[c] for c in SEEN_COLUMNS))).all(), columns=SEEN_COLUMNS)
    return got.sort_values(SEEN_COLUMNS[:5]).reset_index(drop=True)


def _tuples(df: pd.DataFrame) -> list[tuple[object, ...]]:
    """Rows as plain comparable tuples (the databases hand back their own types)."""
    return sorted(
        (
            k,
            g,
            v,
            str(d),
            bool(ok),
            pd.Timestamp(f).tz_convert("UTC"),
            pd.Timestamp(la).tz_convert("UTC"),
            int(n),
        )
        for k, g, v, d, ok, f, la, n in df[SEEN_COLUMNS].itertuples(index=False, name=None)
    )


def _expected(rows) -> pd.DataFrame:
    df = pd.DataFrame([r for r in rows if r["source"] == "login_history"])
    df = df.assign(
        day=df["login_time"].map(lambda t: t.date()),
        first_at=df["login_time"],
        last_at=df["login_time"],
        events=1,
    )
    exp = seen_cells(df)
    return exp.sort_values(SEEN_COLUMNS[:5]).reset_index(drop=True)


def test_rewriting_the_same_logins_leaves_the_detect_rollups_exact(store):
    rows = _logins()
    times = [r["login_time"] for r in rows]
    with store.begin() as conn:
        ensure_org(conn, "acme")
        _write(conn, rows, times)
        _write(conn, rows, times)  # re-collection of the same events
        _write(conn, rows[5:9], times[5:9])  # a later page touching a few hours again
    a = schema.login_app_hourly
    with store.connect() as conn:
        total = conn.execute(select(func.sum(a.c.events))).scalar_one()
        failed = conn.execute(select(func.sum(a.c.events)).where(a.c.success.is_(False))).scalar_one()
        billing = conn.execute(
            select(func.sum(a.c.events)).where(a.c.application == "Billing Sync")
        ).scalar_one()
        seen = _seen(conn)
    assert (total, failed, billing) == (40, 6, 26)
    assert _tuples(seen) == _tuples(_expected(rows))
    nets = set(seen.loc[seen["kind"] == "app_network", "value"])
    assert nets == {"192.0.2.0/24", "2001:db8:1::/48"}
    assert set(seen["day"].astype(str)) == {"2026-03-01", "2026-03-02"}


def test_migration_backfills_the_detect_rollups(store_url):
    from oauthwatch.store.engine import make_engine

    engine = make_engine(store_url)
    upgrade(engine, "0008_bulk_jobs")
    rows = _logins()
    with engine.begin() as conn:
        ensure_org(conn, "acme")
        # A plain insert: today's upsert targets the partitioned key (natural key + event time),
        # which this older revision does not have yet.
        conn.execute(schema.logins.insert(), rows)
        # What the refresh before this revision left: the hourly rollup only (the new tables do not exist yet).
        lg, h = schema.logins, schema.login_rollup_hourly
        for t in sorted({r["login_time"].replace(minute=0) for r in rows}):  # type: ignore[attr-defined]
            n = conn.execute(
                select(func.count()).where(
                    lg.c.source == "login_history",
                    lg.c.login_time >= t,
                    lg.c.login_time < t + timedelta(hours=1),
                )
            ).scalar_one()
            conn.execute(
                h.insert().values(
                    org="acme", hour=t, application="", login_type="", login_subtype="", success=True,
                    status="", country_iso="", events=n, users=1,
                )
            )  # fmt: skip
    upgrade(engine)
    with engine.connect() as conn:
        seen = _seen(conn)
        total = conn.execute(select(func.sum(schema.login_app_hourly.c.events))).scalar_one()
    assert total == 40
    assert _tuples(seen) == _tuples(_expected(rows))
    with engine.begin() as conn:  # and the tables are ordinary rollups afterwards
        conn.execute(delete(schema.login_seen_daily))
        refresh_login_rollup(conn, "acme", "login_history", [r["login_time"] for r in rows])
        assert _tuples(_seen(conn)) == _tuples(_expected(rows))
    engine.dispose()


def _awkward_logins() -> list[dict[str, object]]:
    """Logins over three UTC days whose values are missing, empty, not addresses, or differ only in case."""
    rng = random.Random(13)
    apps = ["Billing Sync", "billing sync", "Mobile ", "", None, "Données"]
    ips = ["192.0.2.7", "192.0.2.200", "198.51.100.1", "2001:db8:1:2::7", "2001:db8:1:3::9", "Salesforce.com IP",
           " ", "", None, "010.0.0.1"]  # fmt: skip
    users = ["005A", "005B", "", None]
    countries = ["US", "DE", "", None]
    rows: list[dict[str, object]] = []
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for i in range(400):
        ok = rng.random() < 0.8
        rows.append(
            {
                "org": "acme",
                "source": "login_history",
                "natural_id": f"0Yb{i:015d}",
                # the first three open a day: a login at midnight belongs to the day it opens
                "login_time": start + timedelta(days=i)
                if i < 3
                else start + timedelta(seconds=rng.randrange(3 * 86400)),
                "user_id": rng.choice(users),
                "application": rng.choice(apps),
                "success": ok,
                "status": "Success" if ok else "Invalid Password",
                "login_type": rng.choice(["Remote Access 2.0", "Application", None]),
                "login_subtype": rng.choice(["OAuth JWT Bearer", "", None]),
                "source_ip": rng.choice(ips),
                "country_iso": rng.choice(countries),
                "browser": rng.choice(["Java (Salesforce.com)", "Chrome 131", None]),
                "ingested_at": start,
            }
        )
    # Neither another org's logins nor another source's are sightings of this org's primary source.
    rows.append({**rows[0], "source": "elf_login", "natural_id": "elf-1"})
    return rows


def test_stored_sightings_equal_seen_cells_on_the_same_logins(store):
    """The database computes the sightings in SQL; they are the rows ``seen_cells`` makes in memory."""
    rows = _awkward_logins()
    other = [{**r, "org": "other", "natural_id": f"o{n}"} for n, r in enumerate(rows[:50])]
    with store.begin() as conn:
        ensure_org(conn, "acme")
        ensure_org(conn, "other")
        upsert(conn, schema.logins, rows + other, key=["org", "source", "natural_id"])
        refresh_login_rollup(conn, "acme", "login_history", [r["login_time"] for r in rows])
        seen = _seen(conn)
    expected = _expected(rows)
    assert len(expected) > 300  # every kind, with many groups
    assert _tuples(seen) == _tuples(expected)
    nets = set(seen.loc[seen["kind"] == "app_network", "value"])
    assert {"192.0.2.0/24", "2001:db8:1::/48", "Salesforce.com IP", "(unknown)", "", "010.0.0.1"} <= nets
