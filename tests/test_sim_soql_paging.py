"""Query paging of the local org: batches, locators, OauthToken caps, snapshots and threads."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from oauthwatch.simulator.data import orgdb
from oauthwatch.simulator.soql.parser import SoqlError
from oauthwatch.simulator.soql.service import QueryService

T0 = 1_717_200_000_000  # 2024-06-01T00:00:00Z
N_LOGINS = 4_500
N_TOKENS = 3_000
SOQL = "SELECT Id, LoginTime, UserId, LoginType FROM LoginHistory ORDER BY LoginTime, Id"


def login_row(i: int) -> tuple:
    # Several rows share a LoginTime so the Id tiebreak matters.
    return (f"0Ya{i:012d}AAA", f"005{i % 7:012d}AAA", T0 + (i // 3) * 1000, "Remote Access 2.0")


@pytest.fixture
def db(tmp_path):
    path = orgdb.db_path(tmp_path)
    conn = orgdb.connect(path)
    orgdb.create_schema(conn, licensed=False)
    conn.executemany(
        "INSERT INTO LoginHistory (Id, UserId, LoginTime, LoginType) VALUES (?, ?, ?, ?)",
        [login_row(i) for i in reversed(range(N_LOGINS))],
    )
    conn.executemany(
        "INSERT INTO OauthToken (Id, AppName, UserId, UseCount) VALUES (NULL, ?, ?, ?)",
        [(f"App {i % 5}", f"005{i % 7:012d}AAA", i) for i in range(N_TOKENS)],
    )
    conn.commit()
    conn.close()
    return path


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def svc(db, clock):
    service = QueryService(db, licensed=False, now_ms=lambda: T0, max_locators=3, monotonic=clock)
    yield service
    service.close()


def locator_of(body: dict) -> str:
    return body["nextRecordsUrl"].rsplit("/", 1)[1]


def page_all(svc: QueryService, body: dict, api_version: str = "62.0") -> list[dict]:
    pages = [body]
    while not pages[-1]["done"]:
        pages.append(svc.more(locator_of(pages[-1]), api_version=api_version))
    return pages


def invalid_locator(svc: QueryService, locator: str) -> SoqlError:
    with pytest.raises(SoqlError) as info:
        svc.more(locator)
    return info.value


def test_every_row_once_in_order_across_batches(svc):
    first = svc.run(SOQL)
    pages = page_all(svc, first)
    assert [len(p["records"]) for p in pages] == [2000, 2000, 500]
    assert all(p["totalSize"] == N_LOGINS for p in pages)
    assert [p["done"] for p in pages] == [False, False, True]
    assert "nextRecordsUrl" not in pages[-1]
    query_id = locator_of(first).rsplit("-", 1)[0]
    assert len(query_id) == 18
    assert query_id.startswith("01g")
    assert first["nextRecordsUrl"] == f"/services/data/v62.0/query/{query_id}-2000"
    assert pages[1]["nextRecordsUrl"] == f"/services/data/v62.0/query/{query_id}-4000"
    got = [r["Id"] for p in pages for r in p["records"]]
    assert got == [login_row(i)[0] for i in range(N_LOGINS)]
    assert list(pages[0]) == ["totalSize", "done", "nextRecordsUrl", "records"]
    assert svc.open_locators == 0  # a finished query frees its cursor


@pytest.mark.parametrize(
    ("asked", "pages"), [(1000, [1000] * 4 + [500]), (100, None), (5000, [2000, 2000, 500])]
)
def test_batch_size_is_honoured_within_200_to_2000(svc, asked, pages):
    sizes = [len(p["records"]) for p in page_all(svc, svc.run(SOQL, batch_size=asked))]
    assert sizes == (pages or [200] * 22 + [100])


def test_query_all_pages_through_query_urls(svc):
    first = svc.run(SOQL, include_deleted=True)
    assert "/query/" in first["nextRecordsUrl"]
    assert sum(len(p["records"]) for p in page_all(svc, first)) == N_LOGINS


def test_api_version_of_each_request_is_used(svc):
    first = svc.run(SOQL, api_version="59.0")
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/")
    second = svc.more(locator_of(first), api_version="61.0")
    assert second["nextRecordsUrl"].startswith("/services/data/v61.0/query/")
    assert second["records"][0]["attributes"]["url"].startswith("/services/data/v59.0/")  # built by the query


def test_limit_larger_than_a_batch(svc):
    pages = page_all(svc, svc.run(SOQL + " LIMIT 2500"))
    assert [len(p["records"]) for p in pages] == [2000, 500]
    assert pages[0]["totalSize"] == 2500


def test_oauth_token_caps_500_per_batch_and_2500_in_total(svc):
    first = svc.run("SELECT AppName, UseCount FROM OauthToken ORDER BY UseCount", batch_size=2000)
    pages = page_all(svc, first)
    assert [len(p["records"]) for p in pages] == [500] * 5
    assert all(p["totalSize"] == N_TOKENS for p in pages)  # totalSize is the full count; rows stop at 2500
    assert [r["UseCount"] for p in pages for r in p["records"]] == list(range(2500))
    assert pages[-1]["done"] is True
    assert "nextRecordsUrl" not in pages[-1]
    assert svc.run("SELECT COUNT() FROM OauthToken")["totalSize"] == N_TOKENS
    small = page_all(svc, svc.run("SELECT UseCount FROM OauthToken WHERE AppName = 'App 1'"))
    assert [len(p["records"]) for p in small] == [500, 100]


def test_unknown_and_malformed_locators(svc):
    for bad in ("01gNOPE-2000", "nonsense", "01gX-abc", ""):
        err = invalid_locator(svc, bad)
        assert err.body() == [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}]
        assert err.status == 400


def test_locator_only_moves_forward_but_a_retried_page_is_answered_again(svc):
    first = svc.run(SOQL)
    loc = locator_of(first)
    second = svc.more(loc)
    assert svc.more(loc) == second  # client retry after a lost response
    qid = loc.rsplit("-", 1)[0]
    invalid_locator(svc, f"{qid}-0")
    invalid_locator(svc, f"{qid}-4321")
    third = svc.more(locator_of(second))
    assert third["done"]
    invalid_locator(svc, locator_of(second))  # finished query: its locator is gone


def test_idle_locators_expire_after_15_minutes(svc, clock):
    first = svc.run(SOQL)
    clock.t += 14 * 60
    second = svc.more(locator_of(first))  # use resets the idle timer
    clock.t += 14 * 60
    third = svc.more(locator_of(second))
    assert third["done"]
    other = svc.run(SOQL)
    clock.t += 15 * 60 + 1
    invalid_locator(svc, locator_of(other))
    assert svc.open_locators == 0


def test_expire_locators_fault(svc):
    bodies = [svc.run(SOQL) for _ in range(2)]
    assert svc.open_locators == 2
    assert svc.expire_locators() == 2
    for body in bodies:
        invalid_locator(svc, locator_of(body))
    assert page_all(svc, svc.run(SOQL))[-1]["done"]  # new queries still work


def test_oldest_locator_is_evicted_beyond_the_limit(svc, clock):
    bodies = []
    for _ in range(4):
        clock.t += 1
        bodies.append(svc.run(SOQL))
    assert svc.open_locators == 3
    invalid_locator(svc, locator_of(bodies[0]))
    for body in bodies[1:]:
        assert svc.more(locator_of(body))["records"][0]["Id"] == login_row(2000)[0]


def test_pages_come_from_the_snapshot_of_the_first_page(svc, db):
    first = svc.run(SOQL)
    conn = orgdb.connect(db)
    conn.executemany(
        "INSERT INTO LoginHistory (Id, UserId, LoginTime, LoginType) VALUES (?, ?, ?, ?)",
        [(f"0Yb{i:012d}AAA", "005000000000001AAA", T0 + 10, "Application") for i in range(50)],
    )
    conn.execute("DELETE FROM LoginHistory WHERE Id = ?", (login_row(N_LOGINS - 1)[0],))
    conn.commit()
    conn.close()
    pages = page_all(svc, first)
    got = [r["Id"] for p in pages for r in p["records"]]
    assert got == [login_row(i)[0] for i in range(N_LOGINS)]
    assert svc.run("SELECT COUNT() FROM LoginHistory")["totalSize"] == N_LOGINS + 49


def test_concurrent_clients_page_independently(db, clock):
    svc = QueryService(db, licensed=False, now_ms=lambda: T0, max_locators=10, monotonic=clock)

    def client(k: int) -> list[str]:
        soql = f"SELECT Id FROM LoginHistory WHERE UserId = '005{k:012d}AAA' ORDER BY LoginTime, Id"
        pages = page_all(svc, svc.run(soql, batch_size=200))
        return [r["Id"] for p in pages for r in p["records"]]

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(client, range(6)))
    svc.close()
    for k in range(6):
        assert results[k] == [login_row(i)[0] for i in range(N_LOGINS) if i % 7 == k]


def test_iter_records_streams_everything_and_count_agrees(svc):
    ids = [r["Id"] for r in svc.iter_records(SOQL, fetch=700)]
    assert ids == [login_row(i)[0] for i in range(N_LOGINS)]
    assert svc.count(SOQL) == N_LOGINS
    assert len(list(svc.iter_records("SELECT UseCount FROM OauthToken"))) == 2500


def test_paging_while_a_writer_inserts(svc, db):
    """The live-mode generator writes through WAL while clients page: no lock errors, stable pages."""
    stop = threading.Event()

    def writer() -> None:
        conn = orgdb.connect(db)
        i = 0
        while not stop.is_set():
            conn.execute(
                "INSERT INTO LoginHistory (Id, UserId, LoginTime, LoginType) VALUES (?, ?, ?, ?)",
                (f"0Yc{i:012d}AAA", "005000000000001AAA", T0 + 5, "Application"),
            )
            conn.commit()
            i += 1
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(3):
            pages = page_all(svc, svc.run(SOQL, batch_size=500))
            got = [r["Id"] for p in pages for r in p["records"]]
            assert len(got) == pages[0]["totalSize"] == len(set(got))
    finally:
        stop.set()
        thread.join(timeout=30)


def test_missing_database_fails_instead_of_creating_an_empty_org(tmp_path):
    svc = QueryService(tmp_path / "absent.sqlite3", licensed=False, now_ms=lambda: T0)
    with pytest.raises(sqlite3.OperationalError):
        svc.run("SELECT Id FROM LoginHistory")
    assert not (tmp_path / "absent.sqlite3").exists()


def test_eviction_follows_opening_order_not_use(svc):
    first = svc.run(SOQL)
    others = [svc.run(SOQL) for _ in range(2)]
    second_page = svc.more(locator_of(first))  # using it does not make it younger
    svc.run(SOQL)  # a fourth open locator closes the first opened
    invalid_locator(svc, locator_of(second_page))
    for body in others:
        assert svc.more(locator_of(body))["records"][0]["Id"] == login_row(2000)[0]
