"""What every verb shares, set up once per command: the settings, the store and the log.

The root callback (``oauthwatch.cli.main``) puts a ``Runtime`` on Typer's context. The shared
options fill it while the command line is parsed (``--config`` names the file, ``--verbose``
installs the log), so a verb only asks ``runtime(ctx).settings`` or ``runtime(ctx).store``:
loaded on first use, once, and the store's connections are closed when the command ends.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from oauthwatch.config import OrgSettings, Settings


@dataclass
class Runtime:
    """The configuration file named on the command line and what is loaded from it, lazily."""

    config_path: Path | None = None
    _settings: Settings | None = None
    _engines: dict[str, Engine] = field(default_factory=dict)

    def load(self, *, must_exist: bool = False) -> Settings:
        """The settings; with ``must_exist`` a missing file is an error rather than the defaults."""
        if self._settings is None:
            from oauthwatch.config import load_settings

            self._settings = load_settings(self.config_path, must_exist=must_exist)
        return self._settings

    @property
    def settings(self) -> Settings:
        """The effective configuration (file, then environment overrides)."""
        return self.load()

    @property
    def store(self) -> Engine:
        """An engine on the configured store, migrated to the newest schema on first use."""
        if "store" not in self._engines:
            from oauthwatch.store import open_store

            self._engines["store"] = open_store(self.settings.store.url)
        return self._engines["store"]

    @property
    def engine(self) -> Engine:
        """An engine on the configured store as it is (no migration), for the schema verbs."""
        if "engine" not in self._engines:
            from oauthwatch.store.engine import make_engine

            self._engines["engine"] = make_engine(self.settings.store.url)
        return self._engines["engine"]

    def orgs(self, org: str | None = None) -> list[OrgSettings]:
        """The enabled orgs (only ``org`` when given); none at all is a configuration error."""
        from oauthwatch.errors import ConfigError

        orgs = self.settings.selected_orgs(org)
        if not orgs:
            raise ConfigError("no enabled org in the configuration: add an [[orgs]] entry")
        return orgs

    def close(self) -> None:
        """Close the store's connections (called when the command ends, however it ends)."""
        while self._engines:
            self._engines.popitem()[1].dispose()


def runtime(ctx: typer.Context) -> Runtime:
    """The command's Runtime, created on the root context on first use.

    The root callback creates it; creating it here too lets a verb module's ``app`` run on its own.
    """
    root = ctx.find_root()
    if not isinstance(root.obj, Runtime):
        root.obj = Runtime()
        root.call_on_close(root.obj.close)
    return root.obj


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers (``run --log-format json``).

    It formats records the redacting filter has already passed, so secrets stay masked; the
    traceback, if any, is the filter's redacted ``exc_text``.
    """

    def format(self, record: logging.LogRecord) -> str:
        import json
        from datetime import UTC, datetime

        out = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
            "thread": record.threadName,
        }
        if record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, ensure_ascii=False, default=str)


def setup_logging(verbose: bool, log_format: str = "text") -> None:
    """One log format for every verb (``text``, or ``json`` lines); secrets are redacted by the logging filter."""
    from oauthwatch.secrets import RedactingFilter

    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        JsonFormatter()
        if log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # alembic.runtime.plugins speaks at import time, which the log set up by --verbose now precedes.
    for noisy in (
        "urllib3",
        "alembic.runtime.migration",
        "alembic.runtime.plugins",
        "zeep",
        "uvicorn.access",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
