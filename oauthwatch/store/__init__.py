"""The store: schema, engine, migrations, idempotent writes and the queries everyone reads with.

Usage::

    from oauthwatch.store import open_store
    engine = open_store("sqlite:///oauthwatch.db")   # migrates on first use
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oauthwatch.store import schema_detect as _detection_tables  # noqa: F401  (registers its tables)
from oauthwatch.store.engine import make_engine
from oauthwatch.store.migrate import ensure_current

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def open_store(url: str, *, migrate: bool = True) -> Engine:
    """An engine on the store at ``url``, brought to the newest schema unless ``migrate=False``."""
    engine = make_engine(url)
    if migrate:
        ensure_current(engine)
    return engine


__all__ = ["make_engine", "open_store"]
