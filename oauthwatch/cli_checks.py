"""Values given on the command line, checked before they reach the store or Salesforce.

``--org`` follows the same pattern as an org's name in the configuration (any text used to
become an org in the store, markup included) and must name a configured org unless the verb
offers an explicit flag to create one. ``--since`` must be a time Salesforce can still hold: not
in the future, and no earlier than :data:`SINCE_LIMIT` before now, the longest any source keeps
its events (LoginHistory: six months, docs/import.md), so a typo cannot start hundreds of
thousands of per-day coverage queries or overflow date arithmetic.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from oauthwatch.errors import ConfigError
from oauthwatch.time_bounds import OutOfRange, check_in_range

if TYPE_CHECKING:
    from oauthwatch.config import Settings

ORG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")
SINCE_LIMIT = timedelta(days=366)


def _shown(text: str) -> str:
    return repr(text[:60] + ("…" if len(text) > 60 else ""))


def check_org_name(name: str) -> str:
    """``name`` when it is shaped like an org name, else a :class:`ConfigError` saying the rule."""
    if not ORG_NAME.fullmatch(name):
        raise ConfigError(
            f"--org {_shown(name)} is not an org name: 1 to 80 letters, digits, '_', '.' or '-', starting "
            "with a letter or digit (the name of an [[orgs]] entry)"
        )
    return name


def check_org(settings: Settings, name: str, *, create: bool = False, flag: str = "--create-org") -> str:
    """A well-formed org name that is configured (or that the caller explicitly asked to create)."""
    from oauthwatch.detect.settings_check import closest

    check_org_name(name)
    configured = [o.name for o in settings.orgs]
    if name in configured or create:
        return name
    known = ", ".join(configured) or "none"
    raise ConfigError(
        f"org {name!r} is not in the configuration (configured: {known}){closest(name, configured)}; "
        f"pass {flag} to store it under this new name anyway"
    )


def parse_since(value: str, now: datetime) -> datetime:
    """``--since`` (a date or a UTC time) as aware UTC, within what Salesforce can hold and not after ``now``."""
    from oauthwatch.rules.times import parse_utc

    text = value.strip().removesuffix("Z").removesuffix("z")
    try:
        when = parse_utc(text, "--since")
    except (ValueError, OverflowError):
        raise ConfigError(
            f"--since {_shown(value)}: use a date (2026-11-01) or a UTC time (2026-11-01T08:00:00Z)"
        ) from None
    return check_since(when, now)


def check_since(when: datetime, now: datetime) -> datetime:
    """``when`` when it is a usable start of collection, else a :class:`ConfigError` with the range."""
    earliest = now - SINCE_LIMIT
    try:
        check_in_range(when, "--since")
    except OutOfRange as exc:
        raise ConfigError(f"{exc}; use a date after {earliest.date()}") from None
    if when > now:
        raise ConfigError(
            f"--since {when.isoformat()} is in the future (now is {now.isoformat(timespec='seconds')})"
        )
    if when < earliest:
        raise ConfigError(
            f"--since {when.date()} is more than {SINCE_LIMIT.days} days ago: Salesforce keeps no login "
            f"data that old (LoginHistory: six months); use a date after {earliest.date()}"
        )
    return when
