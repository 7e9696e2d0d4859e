"""Schema upgrades are all-or-nothing and safe when two processes start at once."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from sqlalchemy import inspect

from oauthwatch.store.engine import make_engine
from oauthwatch.store.migrate import current_revision, head_revision, upgrade


def test_failed_first_migration_leaves_an_empty_store(store_url, monkeypatch):
    """Regression: a collector killed during the first migration left half the tables on SQLite,
    and every later start failed with 'table … already exists'."""
    from alembic.operations import Operations

    engine = make_engine(store_url)
    real_create = Operations.create_table
    made = []

    def failing_create(self, name, *cols, **kw):
        if len(made) == 5:
            raise RuntimeError("killed mid-migration")
        made.append(name)
        return real_create(self, name, *cols, **kw)

    monkeypatch.setattr(Operations, "create_table", failing_create)
    with pytest.raises(RuntimeError, match="killed mid-migration"):
        upgrade(engine)
    assert len(made) == 5
    assert [t for t in inspect(engine).get_table_names() if t != "alembic_version"] == []
    monkeypatch.setattr(Operations, "create_table", real_create)
    upgrade(engine)
    assert current_revision(engine) == head_revision(engine)
    engine.dispose()


def test_concurrent_first_use_migrates_once(store_url, tmp_path):
    """Collector, detector and dashboard processes may all open an empty store at once."""
    cfg = tmp_path / "ow.toml"
    cfg.write_text(f'[store]\nurl = "{store_url}"\n')
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "oauthwatch", "db", "upgrade", "--config", str(cfg)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outcomes = [(p.wait(120), p.stderr.read()) for p in procs]
    assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
    engine = make_engine(store_url)
    assert current_revision(engine) == head_revision(engine)
    engine.dispose()


def test_upgrades_in_threads_take_turns(store_url):
    errors: list[BaseException] = []

    def go() -> None:
        eng = make_engine(store_url)
        try:
            upgrade(eng)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            eng.dispose()

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
