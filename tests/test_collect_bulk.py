"""Bulk API 2.0 backfills against the local org over HTTPS: what lands equals the REST path's rows,
column for column; an org that refuses Bulk for the object is read over REST instead; the fast
CSV converter equals ``login_row`` + the bind processors, record for record, edge cases included."""

from __future__ import annotations

import csv
import gc
import io
import sqlite3
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from collectors.fastpath.bulk_backfill import slice_bounds, sliced_soql
from collectors.fastpath.csv_converters import login_history_csv_converter
from collectors.run.runner import collect_once
from collectors.sources.login_history import LOGIN_COLUMNS, LoginHistorySource, login_row
from oauthwatch.config import load_settings
from oauthwatch.store import open_store, schema
from oauthwatch.store.upsert import bind_params
from tests.simorg import local_org, make_local_org, org_template  # noqa: F401

EXTRA = 2500  # rows added to the org so the backfill is above the (minimum) threshold of 1000


def grow(org: Any) -> int:
    """Copy the org's LoginHistory rows with new Ids, adding awkward values; return the total."""
    conn = sqlite3.connect(org.db_path)
    cols = [r[1] for r in conn.execute('PRAGMA table_info("LoginHistory")')]
    rows = conn.execute(f"SELECT {', '.join(cols)} FROM LoginHistory ORDER BY LoginTime").fetchall()
    i_id, i_t, i_b, i_geo = (
        cols.index("Id"),
        cols.index("LoginTime"),
        cols.index("Browser"),
        cols.index("LoginGeoId"),
    )
    add = []
    for k in range(EXTRA):
        r = list(rows[k % len(rows)])
        r[i_id] = f"0Yb{k:012d}ZZZ"
        r[i_t] = r[i_t] - (k % 500) * 60_000 if k % 7 else rows[0][i_t]  # many rows share one instant
        if k % 11 == 0:
            r[i_b] = 'Chrome "quoted", with\nnewline, and ünïcode'
        if k % 13 == 0:
            r[i_geo] = None  # no LoginGeo: every LoginGeo.* cell is empty
        add.append(r)
    conn.executemany(
        f"INSERT INTO LoginHistory ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", add
    )
    conn.commit()
    total = conn.execute("SELECT COUNT(*) FROM LoginHistory").fetchone()[0]
    conn.close()
    return total


def collect(org: Any, tmp_path: Path, name: str, threshold: int) -> tuple[Any, list[tuple[Any, ...]]]:
    settings = load_settings(org.state_dir / "oauthwatch.toml")
    settings = settings.model_copy(
        update={
            "store": settings.store.model_copy(update={"url": f"sqlite:///{tmp_path / name}.db"}),
            "collect": settings.collect.model_copy(update={"bulk_threshold_rows": threshold}),
        }
    )
    gc_before = gc.get_threshold()
    [res] = collect_once(settings, sources=["login_history"])
    assert res.outcome == "ok", res.line()
    assert gc.get_threshold() == gc_before  # the backfill's collector setting does not outlive it
    engine = open_store(settings.store.url)
    lg = schema.logins.c
    cols = [c for c in schema.logins.c if c.name not in ("id", "ingested_at")]
    with engine.connect() as conn:
        rows = sorted(conn.execute(select(*cols).where(lg.source == "login_history")).all())
    engine.dispose()
    return res, rows


def test_bulk_backfill_stores_exactly_what_rest_stores(
    local_org,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import collectors.fastpath.bulk_backfill

    monkeypatch.setattr(collectors.fastpath.bulk_backfill, "SLICE_ROWS", 1000)
    total = grow(local_org)
    bulk, bulk_rows = collect(local_org, tmp_path, "bulk", threshold=1000)
    rest, rest_rows = collect(local_org, tmp_path, "rest", threshold=10_000_000)
    assert any("through Bulk API 2.0" in n for n in bulk.notes), bulk.notes
    assert not any("Bulk" in n for n in rest.notes)
    truth = {r[0] for r in sqlite3.connect(local_org.db_path).execute("SELECT Id FROM LoginHistory")}
    assert {r[2] for r in bulk_rows} == truth  # (org, source, natural_id, …)
    assert len(bulk_rows) == len(truth) >= total  # + the collector's own logins
    assert set(bulk_rows) <= set(rest_rows)  # every column equal, the awkward values included
    assert len(rest_rows) - len(bulk_rows) <= 2  # the REST run's own later login(s)
    assert any("(7 query jobs)" in n for n in bulk.notes), bulk.notes  # time slices of ~1,000 rows


def test_an_org_refusing_bulk_is_read_over_rest(local_org, tmp_path: Path) -> None:  # noqa: F811
    total = grow(local_org)
    conn = sqlite3.connect(local_org.db_path)
    conn.execute(
        "INSERT OR REPLACE INTO _State (Key, Value) VALUES ('bulk_unsupported_objects', 'LoginHistory')"
    )
    conn.commit()
    conn.close()
    res, rows = collect(local_org, tmp_path, "fallback", threshold=1000)
    assert any("refused" in n and "INVALIDENTITY" in n for n in res.notes), res.notes
    assert len(rows) == len({r[2] for r in rows}) >= total


def _cells(rec: dict[str, str]) -> list[str]:
    return [rec.get(f, "") for f in LoginHistorySource.fields]


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"LoginGeo.City": "", "LoginGeo.Country": "", "LoginGeo.Latitude": "", "LoginGeo.Longitude": ""},
        {"CountryIso": "", "LoginGeo.CountryIso": "DEU"},
        {"Status": "  SUCCESS  "},
        {"Status": "Failed: Invalid Password"},
        {"Browser": "x" * 400, "Application": 'Ünïcode, "quoted"\nline'},
        {"LoginGeo.Latitude": "-0.0", "LoginGeo.Longitude": "1e-7"},
        {"LoginTime": "2024-02-29T23:59:59.999Z"},
    ],
)
def test_fast_csv_converter_equals_the_ordinary_path(change: dict[str, str]) -> None:
    rec = {
        "Id": "0Ya000000000001AAA", "UserId": "005000000000001AAA", "LoginTime": "2026-11-19T12:04:48.232Z",
        "LoginType": "Remote Access 2.0", "LoginSubType": "OAuth Refresh Token", "SourceIp": "3.214.120.5",
        "LoginUrl": "login.salesforce.com", "Status": "Success", "Application": "Slack", "Browser": "Unknown",
        "Platform": "Unknown", "ClientVersion": "N/A", "ApiType": "N/A", "ApiVersion": "N/A", "CountryIso": "US",
        "LoginGeoId": "04F000000000001AAA", "TlsProtocol": "TLS 1.3", "CipherSuite": "TLS_AES_256_GCM_SHA384",
        "LoginGeo.City": "Ashburn", "LoginGeo.Country": "United States", "LoginGeo.CountryIso": "US",
        "LoginGeo.Subdivision": "Virginia", "LoginGeo.PostalCode": "20149", "LoginGeo.Latitude": "39.0469",
        "LoginGeo.Longitude": "-77.4903",
    } | change  # fmt: skip
    header = list(reversed(LoginHistorySource.fields))  # column order does not matter
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL).writerows([header, [rec[h] for h in header]])
    got_header, cells = list(csv.reader(io.StringIO(buf.getvalue())))
    now = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    fast = login_history_csv_converter("acme", "login_history", now, got_header)
    assert fast is not None
    flat = {k: (None if v == "" else v) for k, v in zip(got_header, cells, strict=True)}
    row = login_row("acme", "login_history", flat["Id"], flat, now=now)
    assert list(row) == LOGIN_COLUMNS
    from sqlalchemy.dialects import sqlite

    [slow] = bind_params(sqlite.dialect(), schema.logins, LOGIN_COLUMNS, [row])
    assert fast(cells) == slow


@pytest.mark.parametrize(
    "bad", ["2026-13-01T00:00:00.000Z", "2026-11-19T12:04:60.000Z", "2026-11-19 12:04:48", ""]
)
def test_fast_converter_refuses_what_it_is_not_sure_of(bad: str) -> None:
    fast = login_history_csv_converter(
        "acme", "login_history", datetime.now(UTC), list(LoginHistorySource.fields)
    )
    cells = _cells({"Id": "0Ya000000000001AAA", "LoginTime": bad})
    with pytest.raises(ValueError, match=r".|^$"):
        fast(cells)


def test_slices_cover_the_range_once() -> None:
    lo = datetime(2026, 11, 1, tzinfo=UTC)
    hi = lo + timedelta(days=30)
    cuts = slice_bounds(lo, hi, 1_000_000, 100_000)
    assert len(cuts) == 9
    assert cuts == sorted(set(cuts))
    assert lo < cuts[0]
    assert cuts[-1] < hi
    queries = sliced_soql(LoginHistorySource(), lo, cuts)
    assert len(queries) == 10
    assert "LoginTime >= 2026-11-01T00:00:00.000Z" in queries[0]
    assert "LoginTime <" in queries[0]
    assert "LoginTime <" not in queries[-1]  # the last slice is open: rows arriving meanwhile are kept
    for a, b in pairwise(queries):
        assert a.split("LoginTime < ")[1] == b.split("LoginTime >= ")[1].split(" AND")[0]
    assert slice_bounds(lo, lo, 5_000_000, 100_000) == []  # one instant: one job


def test_bulk_backfill_on_every_store(tmp_path: Path, store) -> None:
    """SQLite (scratch stage + INSERT … SELECT) and PostgreSQL (tuples upserted directly) store the
    same rows; records in the REST datetime shape take the ordinary converter."""
    from tests.orgdb_helpers import OrgDbClient, build_org, run, settings_for

    db, blobs, metadata = build_org(tmp_path)
    client = OrgDbClient(db, blobs=blobs, metadata=metadata)
    settings = settings_for(tmp_path, str(store.url), bulk_threshold_rows=1000)
    [res] = run(settings, client, ["login_history"], store)
    assert res.outcome == "ok", res.line()
    assert any("through Bulk API 2.0" in n for n in res.notes), res.notes
    lg = schema.logins.c
    with store.connect() as conn:
        stored = list(conn.execute(select(lg.natural_id).where(lg.source == "login_history")).scalars())
    truth = {r[0] for r in sqlite3.connect(db).execute("SELECT Id FROM LoginHistory")}
    assert len(stored) == len(set(stored)) == len(truth)
    assert set(stored) == truth
