"""Reading the configuration file and checking its shape before the typed settings see it.

Whatever the file holds, the answer is one message naming the setting and the fix (the CLI prints
it with exit code 2): a directory or an unreadable file, bytes that are not UTF-8, TOML errors,
``[orgs]`` written as a table instead of ``[[orgs]]``, a store URL of no supported kind.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oauthwatch.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import ValidationError

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
        raise ConfigError(
            f"{path}: not valid TOML ({exc}). A correct file looks like:\n\n{example}"
        ) from None


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
        raise ConfigError(
            f"{path}: store.url is a {kind} URL: oauthwatch stores into SQLite or PostgreSQL only"
        )


def apply_env_overrides(raw: dict[str, Any]) -> dict[str, Any]:
    raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    url = os.environ.get("OAUTHWATCH_STORE_URL")
    if url:
        raw.setdefault("store", {})["url"] = url
    orgs = [dict(o) for o in raw.get("orgs", []) if isinstance(o, dict)]
    for org in orgs:
        prefix = (
            "OAUTHWATCH_ORG_" + str(org.get("name", "")).upper().replace("-", "_").replace(".", "_") + "_"
        )
        for env_key, value in os.environ.items():
            if env_key.startswith(prefix):
                org[env_key[len(prefix) :].lower()] = value
    if orgs:
        raw["orgs"] = orgs
    return raw


_PATH_KEYS = (
    "private_key_file",
    "certificate_file",
    "client_secret_file",
    "password_file",
    "refresh_token_file",
    "ca_bundle",
)


def resolve_paths(raw: dict[str, Any], base: Path) -> None:
    for org in raw.get("orgs", []):
        for key in _PATH_KEYS:
            if isinstance(org.get(key), str) and org[key] and not Path(org[key]).is_absolute():
                org[key] = str(base / org[key])
    store = raw.get("store")
    if isinstance(store, dict) and isinstance(store.get("url"), str):
        url: str = store["url"]
        prefix = "sqlite:///"
        if (
            url.startswith(prefix)
            and not url.startswith(prefix + "/")
            and url != "sqlite://"
            and ":memory:" not in url
        ):
            store["url"] = prefix + str((base / url[len(prefix) :]).resolve())


def explain(path: Path, raw: dict[str, Any], exc: ValidationError, example: str) -> str:
    lines = [f"{path}: the configuration has {exc.error_count()} problem(s):"]
    for err in exc.errors():
        loc = list(err["loc"])
        if len(loc) >= 2 and loc[0] == "orgs" and isinstance(loc[1], int):
            orgs = raw.get("orgs", [])
            name = orgs[loc[1]].get("name") if loc[1] < len(orgs) and isinstance(orgs[loc[1]], dict) else None
            loc[1] = f"[{name or loc[1]}]"
        key = ".".join(str(x) for x in loc).replace(".[", "[")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "is not a known key (check the spelling)"
        elif err["type"] == "missing":
            msg = "is required"
        lines.append(f"  - {key}: {msg}")
    lines.append("\nA correct file looks like:\n\n" + example)
    return "\n".join(lines)


def read_org_dir(path: Path, raw: dict[str, Any]) -> dict[str, Any]:
    """Add the orgs of ``orgs_dir`` (one ``*.toml`` file per org, in name order) to ``[[orgs]]``.

    Each file holds one org's keys at its top level (``name`` defaults to the file's stem), so a
    fleet of orgs is a folder that provisioning tools add files to. Relative paths inside a file
    are resolved against the file's folder, as they are for the main file.
    """
    where = raw.get("orgs_dir")
    if where is None:
        return raw
    if not isinstance(where, str) or not where:
        raise ConfigError(f'{path}: orgs_dir must be a folder name, e.g. orgs_dir = "orgs.d"')
    folder = Path(where) if Path(where).is_absolute() else path.parent / where
    if not folder.is_dir():
        raise ConfigError(f"{path}: orgs_dir {folder} is not a folder; create it or fix the path")
    orgs = list(raw.get("orgs", []))
    for file in sorted(folder.glob("*.toml")):
        org = read_toml(
            file, 'name = "prod"\nlogin_url = "https://acme.my.salesforce.com"\nclient_id = "…"\n'
        )
        org.setdefault("name", file.stem)
        resolve_paths({"orgs": [org]}, file.parent)
        orgs.append(org)
    return {**raw, "orgs": orgs, "orgs_dir": str(folder)}
