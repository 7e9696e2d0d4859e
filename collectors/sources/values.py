"""Salesforce values → Python values: the parsers every source's row mapping uses.

Pure functions, no I/O. Each refuses what it cannot read with :class:`Malformed`, whose message
goes to the quarantine with the record, so one bad value costs one record, never the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

Record = Mapping[str, Any]
Row = dict[str, Any]


class Malformed(Exception):
    """A record that cannot become a row; ``reason`` goes to the quarantine."""


def parse_dt(value: Any) -> datetime | None:
    """A Salesforce datetime (``2024-06-05T05:41:17.937+0000``, ``…Z``, ``…+00:00``) as aware UTC."""
    if value in (None, ""):
        return None
    if type(value) is str and len(value) == 28 and value.endswith("+0000"):  # the REST API's own shape
        try:
            return datetime.fromisoformat(value[:23]).replace(tzinfo=UTC)
        except ValueError:
            pass
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    s = str(value).strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    elif len(s) > 5 and s[-5] in "+-" and s[-4:].isdigit() and ":" not in s[-5:]:
        s = s[:-2] + ":" + s[-2:]
    try:
        dt = datetime.fromisoformat(s)
    except ValueError as exc:
        raise Malformed(f"not a datetime: {value!r}") from exc
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


def soql_dt(dt: datetime) -> str:
    """A SOQL datetime literal with milliseconds: ``2024-05-01T12:34:56.789Z``."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def soql_str(value: str) -> str:
    """A quoted SOQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def get(record: Record, path: str) -> Any:
    """``record[path]`` for REST records (nested relationship objects) and flat CSV rows alike."""
    if path in record:
        return record[path]
    cur: Any = record
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(part)
    return cur


def text(value: Any, limit: int | None = None) -> str | None:
    if value is None or value == "":
        return None
    s = value if type(value) is str else str(value)
    return s[:limit] if limit and len(s) > limit else s


def number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if type(value) is float:
        return value
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise Malformed(f"not a number: {value!r}") from exc


def integer(value: Any) -> int | None:
    f = number(value)
    return None if f is None else int(f)


def boolean(value: Any) -> bool | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes")


def record_id(record: Record) -> str | None:
    """``Id``, or the last segment of ``attributes.url`` when a query left Id out."""
    rid = record.get("Id")
    if rid:
        return str(rid)
    url = (
        (record.get("attributes") or {}).get("url") if isinstance(record.get("attributes"), Mapping) else None
    )
    return str(url).rstrip("/").rsplit("/", 1)[-1] if url else None


def plain(rec: Record) -> dict[str, Any]:
    """A record without its ``attributes`` envelope (what the quarantine keeps)."""
    return {k: v for k, v in rec.items() if k != "attributes"}
