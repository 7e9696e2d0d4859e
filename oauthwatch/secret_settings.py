"""Settings that name or carry secrets are never shown in clear.

A configuration names its secrets indirectly (``client_secret_env`` names an environment
variable, ``*_file`` a file), yet people paste the secret itself into those keys, and webhook URLs
carry their token in the path. So: an ``*_env`` value must look like a variable name (else the
file is refused, without quoting it); errors name the setting, never its value; every such value
that may be a secret (``*_env``, webhook URLs) is registered with
:func:`oauthwatch.secrets.register_secret` at load, so logs, run records and pages mask it
wherever it turns up; and ``config show`` masks them all (docs/configuration.md).
"""

from __future__ import annotations

import logging
import re
import stat
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator

from oauthwatch.secrets import MASK, register_secret

log = logging.getLogger("oauthwatch.config")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def _env_name(value: str) -> str:
    if not ENV_NAME.fullmatch(value):
        raise ValueError(
            f"is not an environment variable name ({len(value)} characters, not shown: it may be the secret "
            "itself). Put the secret in an environment variable and name that variable here, e.g. "
            'client_secret_env = "SF_CLIENT_SECRET"'
        )
    return value


EnvName = Annotated[str, AfterValidator(_env_name)]


def is_secret_key(key: str) -> bool:
    """Whether a setting's value names or carries a secret."""
    return key.endswith(("_env", "_file")) or key in ("webhook_url", "webhook_urls")


def mask_url(url: str) -> str:
    """A URL with everything after the host masked (webhook tokens live in the path and query)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if not parts.scheme or not parts.hostname:
        return MASK
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    rest = parts.path.strip("/") or parts.query
    return f"{parts.scheme}://{host}/{MASK}" if rest else f"{parts.scheme}://{host}"


def _mask(key: str, value: Any) -> Any:
    if value in (None, "", []):
        return value
    if isinstance(value, list):
        return [_mask(key, v) for v in value]
    if "url" in key:
        return mask_url(str(value))
    return f"{MASK} (set)"


def masked_dump(data: Any) -> Any:
    """``data`` (a settings dump) with every secret-bearing value masked, at any depth."""
    if isinstance(data, dict):
        return {k: _mask(k, v) if is_secret_key(k) else masked_dump(v) for k, v in data.items()}
    if isinstance(data, list):
        return [masked_dump(v) for v in data]
    return data


def register_setting_secrets(data: Any) -> None:
    """Register the values that may be secrets (``*_env``: a secret pasted there by mistake;
    webhook URLs: their token), so redaction masks them anywhere. ``*_file`` paths are not
    secrets and stay readable in logs and ``check``'s fixes (``config show`` still masks them)."""
    if isinstance(data, dict):
        for k, v in data.items():
            if is_secret_key(k) and not k.endswith("_file"):
                for item in v if isinstance(v, list) else [v]:
                    if isinstance(item, str) and item:
                        register_secret(item)
                        if "url" in k:
                            parts = urlsplit(item)
                            register_secret(
                                parts.path.strip("/") + ("?" + parts.query if parts.query else "")
                            )
            else:
                register_setting_secrets(v)
    elif isinstance(data, list):
        for v in data:
            register_setting_secrets(v)


def warn_if_readable_by_others(key: str, path: Path) -> bool:
    """Log a warning when the secret file named by setting ``key`` is readable by group or others.

    The refresh-token file is refused in that case (it is ours to rewrite); a consumer secret or a
    private key is the admin's file, so it is used but flagged on every read. The message names the
    setting, not the path (paths of secret files are masked like the secrets themselves).
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return False
    if not mode & 0o077:
        return False
    log.warning(
        "%s: the file it names is readable by other users (mode %o): run chmod 600 on it; if others could "
        "read it, replace the secret",
        key,
        mode,
    )
    return True


def read_secret_file(key: str, path: Path) -> str:
    """The stripped text of the secret file named by setting ``key`` (warned about when exposed)."""
    warn_if_readable_by_others(key, path)
    return path.read_text().strip()
