"""EventLogFile Login, ApiTotalUsage and the licensed data-movement types: file-type declarations.

:class:`collectors.sources.files.FileSource` owns listing (by CreatedDate: files arrive up to 3
days after their LogDate), download, the ``LogFileLength`` check, the per-file checkpoint and the
day coverage. Each event type here only says what its rows become:

- :class:`ElfLogin`: Login rows → ``logins`` (source ``elf_login``, keyed by REQUEST_ID, at
  TIMESTAMP_DERIVED); the hourly rollups follow when ``elf_login`` is the org's primary login
  source. The Login file has no connected-app column (docs/architecture.md, "Which views each
  source feeds"): per-app login counts come from LoginHistory or LoginEvent, per-app API usage
  from ApiTotalUsage.
- :class:`ElfApiUsage`: ApiTotalUsage calls → ``api_usage_events`` (keyed by REQUEST_ID, so a
  re-read, superseding or retransmitted file counts each call once), with the connected app of
  each call (``CONNECTED_APP_ID`` / ``CLIENT_NAME``); the ``api_usage_hourly`` cells of the hours
  a file touched are recomputed from them.
- :class:`ElfDataEvents` for BulkApi2, BulkApi, RestApi and API (``DATA_FILE_TYPES``; Event
  Monitoring only): how much each Bulk job step or API request moved → ``api_data_events``
  (records or rows processed, result or response size; docs/salesforce-behaviour.md §8). An org
  without the licence does not list these types, so they are never asked for there.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from collectors.sources import elf_csv
from collectors.sources.base import Permission, Writes
from collectors.sources.files import FileRows, FileSource, FileType
from collectors.sources.values import Malformed
from oauthwatch.store import schema
from oauthwatch.store.api_usage import API_DIMS, refresh_api_usage, store_api_events
from oauthwatch.store.writes import hour_floor, refresh_login_rollup, upsert

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Connection


def _bad(
    quarantine: Any, conn: Connection, exc: Malformed, file_id: str, line: int, row: dict[str, str]
) -> None:
    quarantine(conn, f"{exc} (file {file_id} line {line})", row, row.get("REQUEST_ID") or f"{file_id}:{line}")


class ElfLogin(FileType):
    """Login files → ``logins`` (source ``elf_login``)."""

    event_type: ClassVar[str] = "Login"
    name: ClassVar[str] = "elf_login"
    label: ClassVar[str] = "Event Log File: Login"
    writes: ClassVar[tuple[Writes, ...]] = (("logins", ("org", "source", "natural_id")),)
    batch: ClassVar[int] = 2000

    def store(self, conn: Connection, f: FileRows) -> tuple[int, int]:
        org, file_id = f.org, f.file_id
        read = stored = 0
        batch: list[dict[str, Any]] = []
        hours: set[datetime] = set()

        def flush() -> None:
            if batch:
                upd = [c for c in batch[0] if c not in ("org", "source", "natural_id", "ingested_at")]
                upsert(conn, schema.logins, batch, key=["org", "source", "natural_id"], update=upd)
                hours.update(r["login_time"] for r in batch)
                batch.clear()

        for line, row in f.rows:
            read += 1
            try:
                batch.append(elf_csv.login_row(org, row, file_id=file_id, line=line))
                stored += 1
            except Malformed as exc:
                _bad(f.quarantine, conn, exc, file_id, line, row)
            if len(batch) >= self.batch:
                flush()
        flush()
        if f.primary == self.name and hours:
            refresh_login_rollup(conn, org, self.name, hours)
        return read, stored


class ElfApiUsage(FileType):
    """ApiTotalUsage files → ``api_usage_events`` and the ``api_usage_hourly`` cells they touch."""

    event_type: ClassVar[str] = "ApiTotalUsage"
    name: ClassVar[str] = "elf_api_usage"
    label: ClassVar[str] = "Event Log File: ApiTotalUsage"
    writes: ClassVar[tuple[Writes, ...]] = (
        ("api_usage_events", ("org", "request_id")),
        ("api_usage_hourly", ("org", "hour", *API_DIMS)),
    )
    batch: ClassVar[int] = 5000

    def store(self, conn: Connection, f: FileRows) -> tuple[int, int]:
        org, file_id = f.org, f.file_id
        read = stored = 0
        events: list[dict[str, Any]] = []
        touched: set[datetime] = set()

        def flush() -> None:
            nonlocal stored
            if events:
                new, already = store_api_events(conn, org, events)
                stored += new + already
                touched.update(hour_floor(e["event_time"]) for e in events)
                events.clear()

        for line, row in f.rows:
            read += 1
            try:
                events.append(elf_csv.api_event(org, row, file_id=file_id, line=line))
            except Malformed as exc:
                _bad(f.quarantine, conn, exc, file_id, line, row)
            if len(events) >= self.batch:
                flush()
        flush()
        refresh_api_usage(conn, org, touched)
        return read, stored


class ElfDataEvents(FileType):
    """A licensed event type that says how much a request moved → ``api_data_events``.

    The four types (docs/salesforce-behaviour.md §8) differ only in their names and columns, which
    :func:`collectors.sources.elf_csv.data_event` reads; each is one line of ``DATA_FILE_TYPES``.
    """

    writes: ClassVar[tuple[Writes, ...]] = (
        ("api_data_events", ("org", "event_type", "event_id", "event_time")),
    )
    batch: ClassVar[int] = 5000

    def store(self, conn: Connection, f: FileRows) -> tuple[int, int]:
        read = stored = 0
        batch: list[dict[str, Any]] = []
        key = list(self.writes[0][1])

        def flush() -> None:
            nonlocal stored
            if batch:
                upsert(conn, schema.api_data_events, batch, key=key, update=None)
                stored += len(batch)
                batch.clear()

        for line, row in f.rows:
            read += 1
            try:
                batch.append(elf_csv.data_event(f.org, self.event_type, row, file_id=f.file_id, line=line))
            except Malformed as exc:
                _bad(f.quarantine, conn, exc, f.file_id, line, row)
            if len(batch) >= self.batch:
                flush()
        flush()
        return read, stored


def _data_type(event_type: str, name: str, what: str) -> type[FileType]:
    """One licensed event type's declaration on :class:`ElfDataEvents`."""
    attrs = {
        "event_type": event_type,
        "name": name,
        "label": f"Event Log File: {event_type}",
        "__doc__": what,
    }
    return type(f"Elf{event_type}", (ElfDataEvents,), attrs)


DATA_FILE_TYPES: tuple[type[FileType], ...] = (
    _data_type(
        "BulkApi2", "elf_bulk_api2", "One event per Bulk API 2.0 job step: RECORDS_PROCESSED, RESULT_SIZE_MB."
    ),
    _data_type("BulkApi", "elf_bulk_api", "One event per classic Bulk API batch: ROWS_PROCESSED."),
    _data_type(
        "RestApi", "elf_rest_api", "One event per REST request: its app, ROWS_PROCESSED, RESPONSE_SIZE."
    ),
    _data_type("API", "elf_api", "One event per SOAP API request: ROWS_PROCESSED, RESPONSE_SIZE."),
)
ALL_FILE_TYPES: tuple[type[FileType], ...] = (ElfLogin, ElfApiUsage, *DATA_FILE_TYPES)
FILE_TYPES: dict[str, type[FileType]] = {t.event_type: t for t in ALL_FILE_TYPES}


def store_file_rows(
    org: str,
    conn: Connection,
    *,
    file_id: str,
    event_type: str,
    path: Path,
    quarantine: Any,
    primary: str | None = None,
) -> tuple[int, int]:
    """Parse the CSV at ``path`` and store it as its event type declares; returns (read, stored)."""
    _header, rows = elf_csv.read_csv(path)
    return FILE_TYPES[event_type]().store(conn, FileRows(org, file_id, rows, quarantine, primary))


class EventLogFilesSource(FileSource):
    """EventLogFile (Login, ApiTotalUsage; with the licence BulkApi2, BulkApi, RestApi, API) →
    ``event_log_files`` + what each file type writes."""

    name: ClassVar[str] = "event_log_files"
    label: ClassVar[str] = "EventLogFile"
    min_api_version: ClassVar[tuple[float, str]] = (37.0, "EventLogFile.Interval and Sequence")
    permission: ClassVar[Permission | None] = Permission(
        "ViewEventLogFiles",
        "View Event Log Files",
        "Event Log Files (with API Enabled; View All Data also grants it)",
        "https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_objects_eventlogfile.htm",
    )
    licence: ClassVar[str | None] = "the Event Monitoring add-on"
    file_types: ClassVar[tuple[type[FileType], ...]] = ALL_FILE_TYPES
    login_source: ClassVar[str | None] = ElfLogin.name
    counted: ClassVar[tuple[str, ...]] = ("api_usage_hourly",)
