"""Alembic, driven from code: `oauthwatch db upgrade`, and automatically on first use."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).with_name("migrations")
# Alembic's environment is process-global, so upgrades inside one process take turns
# (across processes the migration transaction itself holds the lock: see migrations/env.py).
_UPGRADE_LOCK = threading.Lock()


def alembic_config(engine: Engine) -> Config:
    """An Alembic Config bound to ``engine`` (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision(engine: Engine) -> str | None:
    """The newest revision the code knows."""
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision``; a no-op when already there."""
    with _UPGRADE_LOCK:
        command.upgrade(alembic_config(engine), revision)


def ensure_current(engine: Engine) -> None:
    """Upgrade only when the database is behind (cheap check first, so readers stay fast)."""
    if current_revision(engine) != head_revision(engine):
        upgrade(engine)
