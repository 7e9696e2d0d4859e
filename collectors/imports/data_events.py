"""``import-csv`` of the licensed event types that say how much data moved (BulkApi2, BulkApi,
RestApi, API; docs/salesforce-behaviour.md §8).

A downloaded file of one of these types is stored as the collector stores it: the rows come from
the same declaration (:func:`collectors.sources.elf_csv.data_event`, the one
:class:`collectors.sources.event_log_files.ElfDataEvents` uses) into ``api_data_events`` under the
same natural key, so a file imported twice, or imported after the collector read it, adds
nothing. This module says only which type a file is and where its rows go; the import itself is
:func:`collectors.imports.importer.import_csv`'s, with its quarantine and its report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from collectors.imports.writer import Target
from collectors.sources import elf_csv
from collectors.sources.event_log_files import DATA_FILE_TYPES
from oauthwatch.store import schema

DATA_TYPES: tuple[str, ...] = tuple(t.event_type for t in DATA_FILE_TYPES)
DATA_EVENTS = Target(
    schema.api_data_events,
    tuple(c.name for c in schema.api_data_events.c),
    ("org", "event_type", "event_id", "event_time"),
    "event_time",
)
# A file without an EVENT_TYPE column is told by a column only its type has (docs/salesforce-behaviour.md §8).
_MARKS = (("RECORDS_PROCESSED", "BulkApi2"), ("RESULT_SIZE_MB", "BulkApi2"), ("BATCH_ID", "BulkApi"))


def type_from_header(header: list[str]) -> str:
    """The data event type a header without ``EVENT_TYPE`` values belongs to, or ``""``."""
    return next((kind for column, kind in _MARKS if column in header), "")


def declared_row(event_type: str) -> Callable[..., dict[str, Any]]:
    """The declared mapping of one CSV row of ``event_type`` (``org, row, *, file_id, line``)."""

    def make(org: str, row: dict[str, str], *, file_id: str = "", line: int = 0) -> dict[str, Any]:
        return elf_csv.data_event(org, event_type, row, file_id=file_id, line=line)

    return make
