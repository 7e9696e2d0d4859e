"""SOQL date literals in UTC: the range each relative literal names, and day conversions.

The local org keeps datetimes as epoch milliseconds, so a literal such as ``LAST_N_DAYS:7`` becomes
a half-open ``[start, end)`` range of epoch ms, computed from the org's clock (which scenarios can
shift). Ranges follow the SOQL docs: each starts at 00:00:00, ``LAST_N_DAYS:n`` includes today,
``NEXT_N_DAYS:n`` starts tomorrow, weeks start on Sunday (the en_US locale).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
_EPOCH = date(1970, 1, 1)


def day_range(word: str, n: int, now_ms: int) -> tuple[int, int]:
    """[start, end) epoch ms of a relative date literal, in UTC, as of ``now_ms``."""
    today = now_ms - now_ms % DAY_MS
    if word == "TODAY":
        return today, today + DAY_MS
    if word == "YESTERDAY":
        return today - DAY_MS, today
    if word == "TOMORROW":
        return today + DAY_MS, today + 2 * DAY_MS
    if word == "LAST_N_DAYS":
        return today - n * DAY_MS, today + DAY_MS
    if word == "NEXT_N_DAYS":
        return today + DAY_MS, today + (n + 1) * DAY_MS
    if word == "LAST_N_HOURS":
        hour = now_ms - now_ms % HOUR_MS
        return hour - n * HOUR_MS, hour + HOUR_MS
    day = datetime.fromtimestamp(today / 1000, UTC).date()
    if word in ("THIS_WEEK", "LAST_WEEK"):  # weeks start on Sunday (en_US locale)
        start = today - ((day.weekday() + 1) % 7) * DAY_MS - (7 * DAY_MS if word == "LAST_WEEK" else 0)
        return start, start + 7 * DAY_MS
    first = day.replace(day=1)
    if word == "LAST_MONTH":
        first = (first - timedelta(days=1)).replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return date_ms(first), date_ms(nxt)


def date_ms(d: date) -> int:
    """Epoch ms of 00:00:00 UTC on ``d``."""
    return (d - _EPOCH).days * DAY_MS


def date_text(ms: int) -> str:
    """``YYYY-MM-DD`` (how the org stores date fields) of the UTC day holding ``ms``."""
    return (_EPOCH + timedelta(days=ms // DAY_MS)).isoformat()
