"""The range of times Salesforce can hold, and a zone name read safely.

Salesforce accepts dates from 1700-01-01T00:00:00Z to 4000-12-31T00:00:00Z (docs/import.md,
"Bad input never stops an import"). A time outside that range in a file or on the command line is a
typo or garbage, never an event; refusing it up front also keeps date arithmetic (a day after,
a zone conversion) away from Python's year 1 and 9999 limits.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SALESFORCE_EARLIEST = datetime(1700, 1, 1, tzinfo=UTC)
SALESFORCE_LATEST = datetime(4000, 12, 31, tzinfo=UTC)


class OutOfRange(ValueError):
    """A time Salesforce cannot hold."""


def check_in_range(when: datetime, what: str = "time") -> datetime:
    """``when`` itself, or :class:`OutOfRange` naming the range Salesforce holds."""
    if not SALESFORCE_EARLIEST <= when <= SALESFORCE_LATEST:
        raise OutOfRange(
            f"{what} {when.isoformat()} is outside what Salesforce can hold "
            f"({SALESFORCE_EARLIEST.date()} to {SALESFORCE_LATEST.date()})"
        )
    return when


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``, or ValueError with a message saying what to pass instead."""
    try:
        return ZoneInfo(name)
    except (ValueError, OSError, LookupError):
        shown = name if len(name) <= 60 else name[:60] + "…"
        raise ValueError(
            f"unknown time zone {shown!r}: use an IANA name such as Europe/Paris or America/New_York"
        ) from None
