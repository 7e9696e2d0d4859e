"""The store's one upsert: insert rows, and on a natural-key conflict update (or keep) what is there.

Every writer goes through :func:`upsert`, so writing the same rows twice leaves the store as
writing them once. It is shaped by the collectors' hot path (pages of 2,000 rows, backfills of
millions):

- one single-row statement run with ``executemany``: compiled once and cached, where a
  multi-VALUES statement per chunk is compiled afresh every time (thousands of bind parameters,
  costing more than the insert itself at collector page sizes);
- on SQLite the statement is prepared at the driver and fed DBAPI tuples, each value through its
  column type's own bind processor (:func:`bind_params`), so what lands is byte for byte what
  SQLAlchemy would write; a caller may build those tuples itself, off the writing thread, and pass
  them as ``params``.

Rows later in the same call win over earlier ones with the same key. On the event tables that are
partitioned on PostgreSQL the conflict target also names the event time
(:func:`oauthwatch.store.partitions.conflict_target`), on both backends, since that is the unique
constraint that exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy.dialects import postgresql

from oauthwatch.store.partitions import conflict_target

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection, Dialect

Params = list[tuple[Any, ...]]


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    key: Sequence[str],
    update: Sequence[str] | None = (),
    *,
    params: Params | None = None,
) -> int:
    """Insert ``rows``; on a key conflict update the ``update`` columns (or do nothing).

    ``update=None`` updates every non-key column present in the rows. ``params`` are the rows as
    :func:`bind_params` tuples, when the caller already has them (SQLite only). Returns the number
    of rows sent (not the number changed: SQLite and PostgreSQL count conflicts differently).

    Usage::

        upsert(conn, schema.users, rows, key=["org", "user_id"], update=None)
    """
    if not rows:
        return 0
    cols = list(rows[0].keys())
    key = conflict_target(table.name, key)
    upd = [c for c in cols if c not in key] if update is None else [c for c in update if c not in key]
    dialect = conn.dialect.name
    if dialect == "sqlite":
        q = conn.dialect.identifier_preparer.quote
        conflict = (
            "DO UPDATE SET " + ", ".join(f"{q(c)} = excluded.{q(c)}" for c in upd) if upd else "DO NOTHING"
        )
        sql = (
            f"INSERT INTO {q(table.name)} ({', '.join(q(c) for c in cols)}) "
            f"VALUES ({', '.join('?' * len(cols))}) ON CONFLICT ({', '.join(q(k) for k in key)}) {conflict}"
        )
        conn.exec_driver_sql(
            sql, params if params is not None else bind_params(conn.dialect, table, cols, rows)
        )
        return len(rows)
    if dialect != "postgresql":  # pragma: no cover - only the two supported backends
        raise NotImplementedError(f"upsert on {dialect}")
    ins = postgresql.insert(table)
    if upd:
        stmt = ins.on_conflict_do_update(index_elements=list(key), set_={c: ins.excluded[c] for c in upd})
    else:
        stmt = ins.on_conflict_do_nothing(index_elements=list(key))
    conn.execute(stmt, [dict(r) for r in rows])
    return len(rows)


def bind_params(dialect: Dialect, table: Table, cols: list[str], rows: Sequence[Mapping[str, Any]]) -> Params:
    """Rows as DBAPI tuples (in ``cols`` order), each value through its column type's bind processor
    (UTCDateTime's UTC check and storage format, JSON, booleans). Pure: runs in any thread."""
    procs = [table.c[c].type._cached_bind_processor(dialect) for c in cols]
    pick = itemgetter(*cols)
    conv = [(i, p) for i, p in enumerate(procs) if p is not None]
    out = []
    for r in rows:
        vals = list(pick(r)) if len(cols) > 1 else [pick(r)]
        for i, p in conv:
            vals[i] = p(vals[i])
        out.append(tuple(vals))
    return out


def tune_for_backfill(conn: Connection) -> None:
    """A bigger page cache on SQLite while backfilling (index updates of a growing ``logins``)."""
    if conn.dialect.name != "sqlite":
        return
    dbapi = conn.connection.dbapi_connection
    if getattr(conn.connection, "info", {}).get("oauthwatch_tuned") is dbapi:
        return
    conn.exec_driver_sql("PRAGMA cache_size=-65536")  # 64 MB
    conn.connection.info["oauthwatch_tuned"] = dbapi


__all__ = ["Params", "bind_params", "tune_for_backfill", "upsert"]
