"""The local org's query service: run SOQL over the org database and page results like Salesforce.

``run`` answers ``/query`` and ``/queryAll``; ``more`` answers ``/query/<locator>``. A result that
does not fit one batch keeps an open SQLite read transaction and cursor behind its locator, so
paging a 10-million-row LoginHistory streams (flat memory, no OFFSET re-queries) and every page
comes from the same snapshot as ``totalSize`` even while the live-mode generator writes (WAL).
Locators expire after 15 minutes idle, at most ``max_locators`` stay open (the oldest opened is
closed, as Salesforce does beyond 10 open cursors per user), and an unknown, expired or closed locator answers
``INVALID_QUERY_LOCATOR`` like a real org.

Usage::

    svc = QueryService(db_path, licensed=False, now_ms=lambda: int(time.time() * 1000))
    body = svc.run("SELECT Id, LoginTime FROM LoginHistory ORDER BY LoginTime, Id")
    while not body["done"]:
        body = svc.more(body["nextRecordsUrl"].rsplit("/", 1)[1])
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oauthwatch.simulator.data.permissions import Viewer
from oauthwatch.simulator.soql.compiler import Compiled, compile_query
from oauthwatch.simulator.soql.parser import SoqlError, parse
from oauthwatch.simulator.soql.records import aggregate_record

MIN_BATCH, MAX_BATCH = 200, 2000
LOCATOR_IDLE_SECONDS = 15 * 60
_ID_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def invalid_locator() -> SoqlError:
    """The error a real org answers for an unknown, expired or closed query locator."""
    return SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator", 400)


def open_reader(db_path: Path | str) -> sqlite3.Connection:
    """A read-only-by-pragma connection in autocommit mode (transactions are explicit).

    ``mode=rw`` rather than ``ro`` so WAL readers work without a writer present; it never creates
    a missing database (a wrong path fails loudly instead of answering from an empty org).
    """
    uri = Path(db_path).resolve().as_uri() + "?mode=rw"
    conn = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA query_only=1")
    return conn


@dataclass
class _Cursor:
    """One open locator: its connection (holding the read snapshot) and how far it has been read."""

    query_id: str
    conn: sqlite3.Connection
    cursor: sqlite3.Cursor
    build: Callable[[tuple[Any, ...]], Any]
    total_size: int
    deliverable: int  # rows this query will ever return (totalSize, or fewer under a row cap)
    batch: int
    position: int
    last_used: float
    last_page: tuple[int, dict[str, Any]] | None = None  # (offset, body) to answer a retried page
    lock: threading.Lock = field(default_factory=threading.Lock)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()


class QueryService:
    """SOQL over one org database, with Salesforce's batch sizes, caps and query locators."""

    def __init__(
        self,
        db_path: Path | str,
        *,
        licensed: bool,
        event_monitoring: bool = True,
        now_ms: Callable[[], int],
        max_locators: int = 10,
        locator_idle_seconds: float = LOCATOR_IDLE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db_path = db_path
        self.licensed = licensed
        self.event_monitoring = event_monitoring
        self.now_ms = now_ms
        self.max_locators = max_locators
        self.locator_idle_seconds = locator_idle_seconds
        self.monotonic = monotonic
        self._open: OrderedDict[str, _Cursor] = OrderedDict()
        self._lock = threading.Lock()

    # --- compiling ---------------------------------------------------------------------------
    def compile(self, soql: str | None, viewer: Viewer | None = None) -> Compiled:
        """Parse, check and compile ``soql`` as ``viewer`` may run it; raises :class:`SoqlError` as a real org would."""
        return compile_query(
            parse(soql),
            licensed=self.licensed,
            now_ms=self.now_ms(),
            viewer=viewer,
            event_monitoring=self.event_monitoring,
        )

    def columns(self, soql: str) -> list[str]:
        """Selected field paths in SELECT order with Salesforce casing (``LoginGeo.Country``)."""
        return self.compile(soql).columns

    # --- one-shot helpers ---------------------------------------------------------------------
    def count(self, soql: str) -> int:
        """How many rows ``soql`` matches (its totalSize), whatever it selects."""
        compiled = self.compile(soql)
        conn = open_reader(self.db_path)
        try:
            return int(conn.execute(compiled.count_sql, compiled.count_params).fetchone()[0])
        finally:
            conn.close()

    def iter_records(
        self, soql: str, *, api_version: str = "62.0", fetch: int = 2000, viewer: Viewer | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every record of ``soql`` in order, streamed from one snapshot (for Bulk API 2.0 export)."""
        compiled = self.compile(soql, viewer)
        if compiled.shape is None:
            raise SoqlError("MALFORMED_QUERY", "Aggregate queries are not supported by this operation")
        build = compiled.shape.builder(api_version)
        conn = open_reader(self.db_path)
        try:
            cur = conn.execute(compiled.select_sql, compiled.params)
            while rows := cur.fetchmany(fetch):
                for row in rows:
                    yield build(row)  # type: ignore[misc]
        finally:
            conn.close()

    # --- REST query ---------------------------------------------------------------------------
    def run(
        self,
        soql: str | None,
        *,
        include_deleted: bool = False,
        batch_size: int = MAX_BATCH,
        api_version: str = "62.0",
        viewer: Viewer | None = None,
    ) -> dict[str, Any]:
        """The JSON body of ``GET /query?q=`` (or ``/queryAll`` with ``include_deleted``).

        The org keeps no deleted rows, so queryAll returns what query returns; its locators are
        the same ``/query/<id>-<offset>`` URLs, as on Salesforce. ``batch_size`` (from
        ``Sforce-Query-Options``) is clamped to 200..2000. OauthToken pages hold at most 500 rows
        and stop after 2,500 (``done`` is then true) while ``totalSize`` keeps the full count, so
        a client can see that rows were withheld and slice the query (docs/architecture.md, "Salesforce facts the code relies on": OauthToken).
        """
        del include_deleted  # nothing in the local org is ever soft-deleted
        compiled = self.compile(soql, viewer)
        self.sweep()
        conn = open_reader(self.db_path)
        keep = False
        try:
            conn.execute("BEGIN")  # count and rows from one snapshot, even while the generator writes
            if compiled.aggregate_key is not None:
                value = int(conn.execute(compiled.select_sql, compiled.params).fetchone()[0])
                return {
                    "totalSize": 1,
                    "done": True,
                    "records": [aggregate_record(compiled.aggregate_key, value)],
                }
            total = int(conn.execute(compiled.count_sql, compiled.count_params).fetchone()[0])
            if compiled.count_only:
                return {"totalSize": total, "done": True, "records": []}
            assert compiled.shape is not None
            batch = min(max(int(batch_size), MIN_BATCH), MAX_BATCH, compiled.obj.batch_cap)
            deliverable = total if compiled.row_cap is None else min(total, compiled.row_cap)
            cur = conn.execute(compiled.select_sql, compiled.params)
            state = _Cursor(
                query_id="01g" + "".join(secrets.choice(_ID_CHARS) for _ in range(15)),
                conn=conn,
                cursor=cur,
                build=compiled.shape.builder(api_version),
                total_size=total,
                deliverable=deliverable,
                batch=batch,
                position=0,
                last_used=self.monotonic(),
            )
            body = self._page(state, api_version)
            if not body["done"]:
                self._register(state)
                keep = True
            return body
        finally:
            if not keep:
                conn.close()

    def more(self, locator: str, *, api_version: str = "62.0") -> dict[str, Any]:
        """The JSON body of ``GET /query/<locator>`` (also ``/queryAll/<locator>``)."""
        query_id, _, offset_text = locator.rpartition("-")
        if not query_id or not offset_text.isdigit():
            raise invalid_locator()
        offset = int(offset_text)
        self.sweep()
        with self._lock:
            state = self._open.get(query_id)
            if state is None:
                raise invalid_locator()
        with state.lock:
            if state.last_page is not None and state.last_page[0] == offset:
                state.last_used = self.monotonic()
                return state.last_page[1]  # the client retried the page it did not get
            if offset != state.position or self._open.get(query_id) is not state:
                raise invalid_locator()
            state.last_used = self.monotonic()
            try:
                body = self._page(state, api_version)
            except sqlite3.Error:
                self._drop(query_id)
                raise invalid_locator() from None
            if body["done"]:
                self._drop(query_id)
            return body

    def _page(self, state: _Cursor, api_version: str) -> dict[str, Any]:
        want = min(state.batch, state.deliverable - state.position)
        rows = state.cursor.fetchmany(want) if want > 0 else []
        build = state.build
        records = [build(row) for row in rows]
        offset = state.position
        state.position += len(records)
        done = state.position >= state.deliverable or len(records) < want
        body: dict[str, Any] = {"totalSize": state.total_size, "done": done}
        if not done:
            body["nextRecordsUrl"] = f"/services/data/v{api_version}/query/{state.query_id}-{state.position}"
        body["records"] = records
        state.last_page = (offset, body)
        return body

    # --- locator bookkeeping ------------------------------------------------------------------
    def _register(self, state: _Cursor) -> None:
        evicted: list[_Cursor] = []
        with self._lock:
            self._open[state.query_id] = state
            while len(self._open) > self.max_locators:
                evicted.append(self._open.popitem(last=False)[1])
        for old in evicted:
            with old.lock:
                old.close()

    def _drop(self, query_id: str) -> None:
        with self._lock:
            state = self._open.pop(query_id, None)
        if state is not None:
            state.close()

    def sweep(self) -> int:
        """Close locators idle longer than the timeout; returns how many were closed."""
        cutoff = self.monotonic() - self.locator_idle_seconds
        with self._lock:
            stale = [qid for qid, st in self._open.items() if st.last_used < cutoff]
            states = [self._open.pop(qid) for qid in stale]
        for st in states:
            with st.lock:
                st.close()
        return len(states)

    def expire_locators(self) -> int:
        """Close every open locator now (the "expired query locator" fault); returns how many."""
        with self._lock:
            states = list(self._open.values())
            self._open.clear()
        for st in states:
            with st.lock:
                st.close()
        return len(states)

    @property
    def open_locators(self) -> int:
        """How many locators are open (for status pages and tests)."""
        return len(self._open)

    def close(self) -> None:
        """Close every open locator (server shutdown)."""
        self.expire_locators()
