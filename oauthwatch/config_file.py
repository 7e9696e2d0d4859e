"""Reading the configuration file and checking its shape before the typed settings see it.

Whatever the file holds, the answer is one message naming the setting and the fix (the CLI prints
it with exit code 2): a directory or an unreadable file, bytes that are not UTF-8, TOML errors,
``[orgs]`` written as a table instead of ``[[orgs]]``, a store URL of no supported kind.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from oauthwatch.errors import ConfigError

STORE_KINDS = ("sqlite", "postgresql")


def read_toml(path: Path, example: str) -> dict[str, Any]:
    """The parsed file, or :class:`ConfigError` saying what is wrong with it."""
    if path.is_dir():
        raise ConfigError(f"{path} is a directory: pass the configuration file itself (oauthwatch.toml)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror}); check its permissions") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8 (TOML files must be)"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}). A correct file looks like:\n\n{example}") from None


def check_shape(path: Path, raw: dict[str, Any]) -> None:
    """Refuse shapes the typed settings would trip over before they can explain them."""
    orgs = raw.get("orgs")
    if orgs is not None and not isinstance(orgs, list):
        raise ConfigError(
            f"{path}: [orgs] is written as a table; each org is an array entry: write [[orgs]] (two "
            "brackets) above each org's keys"
        )
    if isinstance(orgs, list) and not all(isinstance(o, dict) for o in orgs):
        raise ConfigError(f"{path}: orgs must be [[orgs]] tables with name, login_url, client_id …")
    for section in ("store", "collect", "detect", "notify"):
        if section in raw and not isinstance(raw[section], dict):
            raise ConfigError(f"{path}: {section} must be a table: write [{section}] above its keys")


def check_store_url(path: Path, raw: dict[str, Any]) -> None:
    """Refuse a store URL of no supported kind here, with the fix (after environment overrides)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    url = (raw.get("store") or {}).get("url")
    if url is None:
        return
    try:
        kind = make_url(str(url)).get_backend_name()
    except (ArgumentError, ValueError):
        kind = None
    if kind is None:
        raise ConfigError(
            f"{path}: store.url is not a database URL: use sqlite:///path/to/oauthwatch.db or "
            "postgresql+psycopg://user@host/db"
        )
    if kind not in STORE_KINDS:
        raise ConfigError(f"{path}: store.url is a {kind} URL: oauthwatch stores into SQLite or PostgreSQL only")
