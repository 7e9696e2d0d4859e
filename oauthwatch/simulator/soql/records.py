"""Turn org-database rows into JSON-ready records exactly as the REST API sends them.

Salesforce sends ``attributes`` first, then the selected fields in SELECT order with the field's
own casing, datetimes as ``2024-06-05T05:41:17.937+0000``, doubles as floats, and relationship
values as nested records (``null`` for an empty lookup). The builders here are made once per query
from precomputed per-column converters, so a 2,000-record page costs a few milliseconds: the local
org has to serve tens of thousands of LoginHistory rows per second.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from operator import itemgetter
from typing import Any

from oauthwatch.simulator.data import schema

Row = tuple[Any, ...]
Getter = Callable[[Row], Any]

_EPOCH = date(1970, 1, 1)
# "SS.mmm+0000" for every millisecond of a minute, and "YYYY-MM-DDTHH:MM:" per minute seen: a
# datetime then costs one divmod, one dict lookup and one concatenation (≈6x faster than
# formatting each part, which dominated the cost of a LoginHistory page).
_SECOND_TEXT = [f"{s:02d}.{m:03d}+0000" for s in range(60) for m in range(1000)]
_minute_text: dict[int, str] = {}
_MINUTE_CACHE_MAX = 50_000


def format_datetime(ms: int) -> str:
    """Epoch milliseconds → ``2024-06-05T05:41:17.937+0000`` (Salesforce's JSON datetime form)."""
    minute, rest = divmod(int(ms), 60_000)
    prefix = _minute_text.get(minute)
    if prefix is None:
        days, minutes = divmod(minute, 1440)
        prefix = f"{(_EPOCH + timedelta(days=days)).isoformat()}T{minutes // 60:02d}:{minutes % 60:02d}:"
        if len(_minute_text) >= _MINUTE_CACHE_MAX:
            _minute_text.clear()
        _minute_text[minute] = prefix
    return prefix + _SECOND_TEXT[rest]


def _converter(type_: str) -> Callable[[Any], Any] | None:
    if type_ == schema.DATETIME:
        return format_datetime
    if type_ == schema.BOOLEAN:
        return bool
    if type_ == schema.DOUBLE:
        return float
    if type_ == schema.INT:
        return int
    return None


def column_getter(index: int, type_: str) -> Getter:
    """A function reading column ``index`` of a row and converting it for JSON."""
    conv = _converter(type_)
    if conv is None:
        return itemgetter(index)

    def get(row: Row) -> Any:
        value = row[index]
        return None if value is None else conv(value)

    return get


@dataclass
class RecordShape:
    """One record level: its sObject type, the row index of its Id, and its keys in order.

    ``items`` holds ``(key, column index, field type)`` for plain fields and ``(key, RecordShape)``
    for relationships, in the order the SELECT first mentions them.
    """

    type_name: str
    id_index: int
    items: list[tuple[str, int, str] | tuple[str, RecordShape]] = field(default_factory=list)
    children: dict[str, RecordShape] = field(default_factory=dict)

    def child(self, key: str, type_name: str, id_index: int) -> RecordShape:
        """The nested shape for relationship ``key``, created on first mention."""
        shape = self.children.get(key.lower())
        if shape is None:
            shape = RecordShape(type_name, id_index)
            self.children[key.lower()] = shape
            self.items.append((key, shape))
        return shape

    def builder(self, api_version: str, *, nested: bool = False) -> Callable[[Row], dict[str, Any] | None]:
        """A function row → record dict (None for an empty lookup when ``nested``)."""
        type_name, id_index = self.type_name, self.id_index
        url_prefix = f"/services/data/v{api_version}/sobjects/{type_name}/"
        getters: list[tuple[str, Getter]] = []
        for item in self.items:
            if len(item) == 3:
                getters.append((item[0], column_getter(item[1], item[2])))
            else:
                getters.append((item[0], item[1].builder(api_version, nested=True)))

        def build(row: Row) -> dict[str, Any] | None:
            rid = row[id_index]
            if rid is None:
                if nested:
                    return None
                # OauthToken's Id is "always null": no record URL can be formed, so none is sent.
                rec: dict[str, Any] = {"attributes": {"type": type_name}}
            else:
                rec = {"attributes": {"type": type_name, "url": url_prefix + rid}}
            for key, get in getters:
                rec[key] = get(row)
            return rec

        return build


def aggregate_record(key: str, value: int) -> dict[str, Any]:
    """The one AggregateResult row of ``SELECT COUNT(Id) FROM …``."""
    return {"attributes": {"type": "AggregateResult"}, key: value}
