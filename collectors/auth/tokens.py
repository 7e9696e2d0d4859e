"""Where a refresh token lives between runs: one file per org, readable only by its owner.

A refresh token is a long-lived credential (with the default policy it never expires), so it is
stored like an SSH key: mode 0600, written atomically (a crash never leaves half a token), and
refused when the file has become readable by others. The OS keyring is deliberately not used: the
places oauthwatch runs (containers, cron, CI) rarely have a keyring backend, and one storage that
always works is easier to reason about than two.

The default location is ``$OAUTHWATCH_STATE_DIR`` (else ``$XDG_STATE_HOME/oauthwatch``, else
``~/.local/state/oauthwatch``) ``/refresh-tokens/<org>.token``; ``refresh_token_file`` in the org's
settings overrides it.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from oauthwatch.config import OrgSettings
from oauthwatch.secrets import register_secret

log = logging.getLogger(__name__)


class TokenFileError(Exception):
    """The refresh token file exists but cannot be trusted or read."""


def state_dir() -> Path:
    """oauthwatch's per-user state folder (created on demand, mode 0700)."""
    explicit = os.environ.get("OAUTHWATCH_STATE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "oauthwatch"


def refresh_token_path(org: OrgSettings) -> Path:
    """The file holding ``org``'s refresh token: its setting, or the per-user default."""
    if org.refresh_token_file:
        return Path(org.refresh_token_file)
    return state_dir() / "refresh-tokens" / f"{org.name}.token"


def read_refresh_token(org: OrgSettings) -> str | None:
    """The stored refresh token, or None when there is none yet.

    Raises :class:`TokenFileError` when the file is readable by group or others (it may have
    leaked; re-run ``oauthwatch login`` after fixing the mode) or unreadable.
    """
    path = refresh_token_path(org)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TokenFileError(
            f"refresh token file {path} is accessible by other users (mode {stat.S_IMODE(mode):o}); "
            f"run `chmod 600 {path}`, and consider revoking the grant and running "
            f"`oauthwatch login --org {org.name}` again"
        )
    try:
        value = path.read_text().strip()
    except OSError as exc:
        raise TokenFileError(f"cannot read refresh token file {path}: {exc.strerror}") from None
    register_secret(value)
    return value or None


def write_refresh_token(org: OrgSettings, token: str) -> Path:
    """Store ``token`` for ``org`` atomically with mode 0600 and return the file's path."""
    register_secret(token)
    path = refresh_token_path(org)
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, token.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    log.info("stored the refresh token for org %s in %s (mode 0600)", org.name, path)
    return path


def delete_refresh_token(org: OrgSettings) -> bool:
    """Forget ``org``'s refresh token; True when a file was removed."""
    try:
        refresh_token_path(org).unlink()
    except FileNotFoundError:
        return False
    return True
