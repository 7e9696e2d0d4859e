"""Insert-if-absent in bulk, and telling new rows from rows already stored.

Imports must say what was new and what was already there, at the collector's speed: one
``IN (…)`` query per few thousand keys finds what is stored, and one cached single-row
``INSERT … ON CONFLICT DO NOTHING`` statement runs over the rest with executemany (compiled once,
unlike a multi-VALUES statement of thousands of parameters). Conflicts are ignored rather than
raised, so a concurrent writer of the same rows cannot fail the import or make it count twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from oauthwatch.store.partitions import conflict_target

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection

_ID_CHUNK = 5_000


def existing_ids(
    conn: Connection, table: Table, id_col: str, where: Sequence[Any], ids: Sequence[str]
) -> set[str]:
    """Which of ``ids`` are already stored in ``table`` under ``where``."""
    col = table.c[id_col]
    found: set[str] = set()
    unique = list(dict.fromkeys(ids))
    for i in range(0, len(unique), _ID_CHUNK):
        chunk = unique[i : i + _ID_CHUNK]
        found.update(conn.execute(select(col).where(*where, col.in_(chunk))).scalars())
    return found


def insert_new(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], key: Sequence[str]) -> None:
    """Insert ``rows``, ignoring any whose ``key`` is already stored."""
    if not rows:
        return
    ins = postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
    conn.execute(
        ins.on_conflict_do_nothing(index_elements=conflict_target(table.name, key)), [dict(r) for r in rows]
    )


def split_new(
    conn: Connection, table: Table, id_col: str, where: Sequence[Any], rows: Sequence[Mapping[str, Any]]
) -> tuple[list[Mapping[str, Any]], int]:
    """``rows`` not stored yet (first of each id), and how many were already there or repeated."""
    have = existing_ids(conn, table, id_col, where, [r[id_col] for r in rows])
    fresh: dict[str, Mapping[str, Any]] = {}
    for r in rows:
        rid = r[id_col]
        if rid not in have and rid not in fresh:
            fresh[rid] = r
    return list(fresh.values()), len(rows) - len(fresh)
