"""Staged inserts: finished store tuples go to a scratch table, then one ``INSERT … SELECT`` per group.

Shared by the Bulk backfill and ``import-csv`` (docs/architecture.md, decision 11). Why a stage:

- on SQLite the scratch table is a file of its own, attached to the store's connection: the parser
  fills it through its own connection (in another thread, for the backfill), and each group moves
  into the store with one statement that runs wholly inside SQLite, GIL released, where an
  ``executemany`` of Python tuples made parsing and index maintenance wait for each other at every
  row. The staging columns have no affinity, so values keep their SQLite types and what lands is
  what binding the same tuples directly would store;
- on PostgreSQL the scratch table is an unlogged table of the store's column types, filled with
  ``COPY`` (one round trip per group instead of one per row) by the parser's own connection, so
  the server parses one group while it moves the previous one;
- either way the move says how many rows it inserted (``ON CONFLICT DO NOTHING`` skips the rest),
  so a writer learns what was new and what was already there without a SELECT per row.

Stage tuples are the SQLite bind form of the row (:func:`collectors.fastpath.csv_converters.stored_utc`
times, 0/1 booleans), so one fast converter serves both stores: the PostgreSQL session that moves a
group reads those times as UTC.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.dialects import sqlite as _sqlite_dialect

from oauthwatch.store.upsert import bind_params

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection

ALIAS = "bulk_stage"  # the schema name the SQLite stage file is attached under
_SQLITE = _sqlite_dialect.dialect()


def conflict_clause(conn: Connection, key: Sequence[str], update: Sequence[str]) -> str:
    """``ON CONFLICT (key) DO UPDATE SET …`` (or ``DO NOTHING`` without columns to update)."""
    q = conn.dialect.identifier_preparer.quote
    action = (
        "DO UPDATE SET " + ", ".join(f"{q(c)} = excluded.{q(c)}" for c in update) if update else "DO NOTHING"
    )
    return f"ON CONFLICT ({', '.join(q(k) for k in key)}) {action}"


class Stage:
    """A scratch SQLite file the parser fills with finished store tuples (see module docstring)."""

    def __init__(self, path: Path, width: int) -> None:
        self.path, self.width = path, width
        self.insert = f"INSERT INTO rows VALUES ({', '.join('?' * width)})"
        self.last = 0

    @classmethod
    def create(cls, work_dir: Path, width: int) -> Stage:
        path = work_dir / f"bulk-stage-{uuid.uuid4().hex}.sqlite3"
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=WAL")  # the writer reads committed groups while more arrive
        conn.execute(f"CREATE TABLE rows ({', '.join(f'c{i}' for i in range(width))})")
        conn.commit()
        conn.close()
        return cls(path, width)

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path)
        conn.execute("PRAGMA synchronous=OFF")  # scratch: a crash restarts the work anyway
        return conn

    def add(self, conn: sqlite3.Connection, params: list[tuple[Any, ...]]) -> tuple[int, int]:
        """Append ``params``; their rowid range (rows are only appended, never deleted)."""
        conn.executemany(self.insert, params)
        conn.commit()
        first, self.last = self.last + 1, self.last + len(params)
        return first, self.last

    def attach(self, conn: Connection) -> None:
        """Make the stage readable from the store's connection as ``bulk_stage.rows``."""
        conn.exec_driver_sql(f"ATTACH DATABASE '{self.path}' AS {ALIAS}")
        conn.commit()

    def detach(self, conn: Connection) -> None:
        conn.exec_driver_sql(f"DETACH DATABASE {ALIAS}")

    def remove(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)


def move_sql(
    conn: Connection,
    table: str,
    cols: Sequence[str],
    conflict: str,
    *,
    where: str = "",
    order: Sequence[str] = (),
    pg_stage: str = "",
) -> str:
    """The one statement moving the staged rows ``BETWEEN`` two bounds (rowid / seq) into ``table``.

    ``where`` adds conditions on the staged row, aliased ``s`` (its columns are ``c0``, ``c1``…).
    Rows go in staging order, or sorted by the ``order`` columns first (staging order among equals,
    so the first of two rows with the same key is still the one kept). Sorted by the unique key, a
    group's insertions into that index sweep it once from left to right instead of landing on
    random pages, which matters where the key is a content hash (a Setup download's) and the index
    has outgrown the cache; while it fits, the sort costs about what it saves.
    """
    q = conn.dialect.identifier_preparer.quote
    src, seq, arg = staged_rows(conn, pg_stage)
    by = ", ".join([*(f"s.c{cols.index(c)}" for c in order), f"s.{seq}"])
    return (
        f"INSERT INTO {q(table)} ({', '.join(q(c) for c in cols)}) "
        f"SELECT {', '.join(f's.c{i}' for i in range(len(cols)))} FROM {src} s "
        f"WHERE s.{seq} BETWEEN {arg} AND {arg}{' AND ' + where if where else ''} ORDER BY {by} {conflict}"
    )


def staged_rows(conn: Connection, pg_stage: str = "") -> tuple[str, str, str]:
    """The stage's table (on PostgreSQL, the one named), its order column and the driver's
    placeholder, for queries over a range."""
    return (f"{ALIAS}.rows", "rowid", "?") if conn.dialect.name == "sqlite" else (pg_stage, "seq", "%s")


def stage_tuples(
    table: Table, cols: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> list[tuple[Any, ...]]:
    """Rows of a declared mapping as stage tuples: each value through its column's SQLite bind processor."""
    return bind_params(_SQLITE, table, list(cols), rows)


class PgStage:
    """The PostgreSQL stage: an unlogged table typed like the target's columns, filled by ``COPY``.

    The reading thread fills it through a connection of its own (:meth:`add`), so the server
    parses one batch while it moves the previous one, as the SQLite stage file lets SQLite do; a
    temporary table would be visible to the session that made it only. Rows are only appended (keyed
    by ``seq``) and the table is dropped with the import; one left by a killed process is dropped
    by the next import (its name holds the server process of the session that made it).
    Staged times are UTC text; the store's sessions run in UTC (:mod:`oauthwatch.store.engine`),
    so ``COPY`` reads them as the instants they are.
    """

    PREFIX = "oauthwatch_stage_"

    def __init__(self, conn: Connection, table: str, cols: Sequence[str]) -> None:
        q = conn.dialect.identifier_preparer.quote
        self.width, self.last = len(cols), 0
        _drop_stale(conn)
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        self.name = f"{self.PREFIX}{pid}_{uuid.uuid4().hex[:8]}"
        typed = ", ".join(f"{q(c)} AS c{i}" for i, c in enumerate(cols))
        conn.exec_driver_sql(
            f"CREATE UNLOGGED TABLE {self.name} AS SELECT 0::bigint AS seq, {typed} FROM {q(table)} WITH NO DATA"
        )
        conn.exec_driver_sql(f"ALTER TABLE {self.name} ADD PRIMARY KEY (seq)")

    def add(self, conn: Connection, params: list[tuple[Any, ...]]) -> tuple[int, int]:
        """Append ``params`` with ``COPY`` and commit (``conn`` is the reading thread's); their ``seq`` range."""
        first = self.last + 1
        cols = ", ".join(["seq", *(f"c{i}" for i in range(self.width))])
        with conn.begin():
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            with cur.copy(f"COPY {self.name} ({cols}) FROM STDIN") as copy:
                for n, p in enumerate(params, first):
                    copy.write_row((n, *p))
        self.last += len(params)
        return first, self.last

    def drop(self, conn: Connection) -> None:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self.name}")


def _drop_stale(conn: Connection) -> None:
    """Drop the stages of sessions that are gone (an import killed before it could drop its own)."""
    rows = conn.exec_driver_sql(
        "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND c.relname LIKE %s "
        "AND c.relnamespace = current_schema()::regnamespace",
        (PgStage.PREFIX.replace("_", r"\_") + "%",),
    ).all()
    for (name,) in rows:
        pid = name[len(PgStage.PREFIX) :].split("_", 1)[0]
        alive = (
            pid.isdigit()
            and conn.exec_driver_sql("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (int(pid),)).first()
        )
        if not alive:
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')


__all__ = ["ALIAS", "PgStage", "Stage", "conflict_clause", "move_sql", "stage_tuples", "staged_rows"]
