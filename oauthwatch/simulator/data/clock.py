"""The org's clock: wall time plus an offset kept in ``_State`` so tests and demos can move it.

Every time in the org database is INTEGER epoch milliseconds UTC; these helpers convert at the
edges and keep the offset in one place (``_State`` key ``clock_offset``, in ms).
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
OFFSET_KEY = "clock_offset"


def to_ms(dt: datetime) -> int:
    """Epoch ms of a tz-aware datetime (naive datetimes are refused: they hide bugs)."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: pass a tz-aware UTC datetime")
    return round(dt.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """The tz-aware UTC datetime of epoch ms."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def iso(ms: int) -> str:
    """``2024-06-05T05:41:17.937Z`` (ELF TIMESTAMP_DERIVED and ground-truth style)."""
    return from_ms(ms).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def hour_floor(ms: int) -> int:
    return ms - ms % HOUR_MS


def day_floor(ms: int) -> int:
    return ms - ms % DAY_MS


def get_state(conn: sqlite3.Connection, key: str, default: str | None = None) -> str | None:
    row = conn.execute("SELECT Value FROM _State WHERE Key = ?", (key,)).fetchone()
    return row[0] if row else default


def set_state(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO _State (Key, Value) VALUES (?, ?) ON CONFLICT(Key) DO UPDATE SET Value = excluded.Value",
        (key, value),
    )


def offset_ms(conn: sqlite3.Connection) -> int:
    return int(get_state(conn, OFFSET_KEY, "0") or 0)


def set_offset_ms(conn: sqlite3.Connection, offset: int) -> None:
    """Move the org's clock: org time = wall time + ``offset`` ms."""
    set_state(conn, OFFSET_KEY, str(int(offset)))
    conn.commit()


def org_now_ms(conn: sqlite3.Connection) -> int:
    """The org's current time in epoch ms (wall clock + ``clock_offset``)."""
    return int(time.time() * 1000) + offset_ms(conn)
