"""Time helpers: every timestamp oauthwatch handles is tz-aware UTC.

The store hands timestamps back naive (SQLite), aware (PostgreSQL) or as ISO text (aggregates on
SQLite); people type dates without a zone. These helpers turn all of them into aware UTC, so no
comparison ever mixes naive and aware values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def utcnow() -> datetime:
    """Now, tz-aware UTC (the only clock the store accepts)."""
    return datetime.now(UTC)


def as_utc(value: datetime | str) -> datetime:
    """``value`` as tz-aware UTC; naive values (and ISO text without an offset) are taken as UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def as_utc_or_none(value: Any) -> datetime | None:
    """:func:`as_utc`, passing None (a column that was never set) through."""
    return None if value is None else as_utc(value)


def parse_utc(text: str, what: str) -> datetime:
    """A date or time a person typed (``2026-03-01`` or ``2026-03-01T14:00``), as aware UTC.

    Raises ``ValueError`` with a message that names ``what`` and shows the expected form.
    """
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{what} {text!r}: write a date like 2026-03-01 or a time like 2026-03-01T14:00"
        ) from None
    return as_utc(value)
