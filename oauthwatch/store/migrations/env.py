"""Alembic environment: the engine comes from oauthwatch.store.migrate, the schema from store.schema.

Migrations run as ONE transaction that also holds a lock, on both backends, so that a process
killed half-way leaves the store as it was, and two processes starting at once (collector and
dashboard) never migrate twice:

- SQLite: Python's sqlite3 driver commits DDL one statement at a time unless the transaction is
  opened explicitly, so the connection is put in driver autocommit and ``BEGIN IMMEDIATE`` (which
  also takes the write lock) is issued by hand;
- PostgreSQL: DDL is transactional; ``pg_advisory_xact_lock`` serialises concurrent upgrades.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, Engine, create_engine, text

from oauthwatch.store.partitions import is_partition_name
from oauthwatch.store.schema import metadata

# Any constant: the advisory lock that serialises schema upgrades on PostgreSQL.
PG_MIGRATION_LOCK = 0x0A07_5CEE

config = context.config


def _cli_engine() -> Engine:
    """Plain `alembic` CLI use: the url from -x url=… or the ini file."""
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database to migrate: pass -x url=… or set sqlalchemy.url")
    return create_engine(url)


_given: Engine | None = config.attributes.get("engine")
engine: Engine = _given if _given is not None else _cli_engine()


def include_name(name: str | None, type_: str, _parents: object) -> bool:
    """Compare the partitioned tables, never their monthly partitions (store/partitions.py)."""
    return not (type_ == "table" and is_partition_name(name))


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_name=include_name,
        render_as_batch=engine.dialect.name == "sqlite",
        compare_type=True,
        transaction_per_migration=False,
    )


if engine.dialect.name == "sqlite":
    with engine.connect() as base:
        connection = base.execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            _configure(connection)
            context.run_migrations()
        except BaseException:
            connection.exec_driver_sql("ROLLBACK")
            raise
        connection.exec_driver_sql("COMMIT")
else:
    with engine.connect() as connection:
        _configure(connection)
        with context.begin_transaction():
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
            context.run_migrations()
        connection.commit()
