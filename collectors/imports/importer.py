"""``oauthwatch import-csv``: login history and API usage that did not come through the API.

Three kinds of file, told apart by their header (column order and extra columns do not matter):

- **Event Log File CSV** (``EVENT_TYPE``, ``TIMESTAMP_DERIVED``…): Login rows go to ``logins``
  (``elf_login``, keyed by REQUEST_ID), ApiTotalUsage rows to ``api_usage_events`` (keyed by
  REQUEST_ID) and the licensed BulkApi2, BulkApi, RestApi and API rows to ``api_data_events``
  (:mod:`collectors.imports.data_events`), exactly as the collector stores them, so a file
  imported after it was collected (or a copy of it) adds nothing;
- **Data Loader / Workbench export of LoginHistory** (API names as headers, any case, with
  ``LoginGeo.City``-style relationship columns): stored as ``login_history`` under their real Id;
- **Setup → Login History download** (UI labels): see :mod:`collectors.imports.setup_download`.

Every row read ends up imported (new, or already there) or quarantined with its reason, so
``quarantined + imported = rows read``; nothing a row holds can stop the import (see
docs/import.md for the limits and the exit codes). Memory stays flat whatever the file size.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from collectors.fastpath.csv_converters import FastConverter
from collectors.fastpath.import_converters import (
    api_export_converter,
    elf_api_converter,
    elf_login_converter,
    setup_download_converter,
)
from collectors.imports.csv_rows import CsvFile, CsvRecord, file_digest
from collectors.imports.data_events import DATA_EVENTS, DATA_TYPES, declared_row, type_from_header
from collectors.imports.setup_download import UI_LABELS, SetupRows, parse_ui_time
from collectors.imports.writer import API_USAGE, BATCH, Batch, ImportReport, ImportWriter
from collectors.sources import elf_csv
from collectors.sources.login_history import GEO, login_row
from collectors.sources.paging import prefetch
from collectors.sources.values import Malformed
from oauthwatch.store.writes import ensure_org, utcnow
from oauthwatch.time_bounds import OutOfRange, check_in_range, zone

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["ImportReport", "detect_kind", "import_csv", "parse_ui_time"]

# LoginHistory API names (Data Loader upper-cases them; Workbench keeps them) and LoginGeo columns.
API_FIELDS = (
    "Id", "UserId", "LoginTime", "LoginType", "LoginSubType", "SourceIp", "LoginUrl", "Status", "Application",
    "Browser", "Platform", "ClientVersion", "ApiType", "ApiVersion", "CountryIso", "LoginGeoId", "TlsProtocol",
    "CipherSuite", "ForwardedForIp", "AuthMethodReference", *(f"LoginGeo.{g}" for g in GEO),
)  # fmt: skip
KIND_LABELS = {"api": "Login History export (API names)", "ui": "Setup Login History download"}
ELF_TYPES = ("Login", "ApiTotalUsage", *DATA_TYPES)
_RAW_VALUE = 2_000  # quarantine keeps this much of each value (a huge field is not copied whole)


def _norm(h: str) -> str:
    return re.sub(r"[^a-z0-9.]", "", h.strip().lower())


def detect_kind(header: list[str]) -> str:
    """``elf``, ``api`` or ``ui`` from a CSV header."""
    up = {h.strip().upper() for h in header}
    if "EVENT_TYPE" in up or "TIMESTAMP_DERIVED" in up:
        return "elf"
    norm = {_norm(h) for h in header}
    if "logintime" in norm and ("id" in norm or "userid" in norm):
        return "api"
    if "logintime" in norm or "username" in norm:
        return "ui"
    shown = (
        ", ".join(repr(h[:40]) for h in header[:12]) or "none"
    )  # repr: no control character reaches a terminal
    raise Malformed(
        "not a Login History or Event Log File CSV: no LoginTime / Login Time / EVENT_TYPE column "
        f"(columns: {shown})"
    )


def _mapping(header: list[str], kind: str) -> dict[int, str]:
    out: dict[int, str] = {}
    if kind == "api":
        known = {_norm(f): f for f in API_FIELDS} | {"username": "Username"}
        geo = {x.lower(): x for x in GEO}
        for i, h in enumerate(header):
            n = _norm(h)
            if n in known:
                out[i] = known[n]
            elif n.startswith(("logingeo.", "logingeo_")):
                g = geo.get(n.split(".", 1)[-1].split("_", 1)[-1])
                if g:
                    out[i] = f"LoginGeo.{g}"
        return out
    for i, h in enumerate(header):
        target = UI_LABELS.get(_norm(h).replace(".", ""))
        if target:
            out[i] = target
    return out


def _raw(values: list[str] | dict[str, Any]) -> Any:
    if isinstance(values, dict):
        return {k: v[:_RAW_VALUE] if isinstance(v, str) else v for k, v in values.items()}
    return [v[:_RAW_VALUE] for v in values]


Progress = Callable[[int, int], None]
# A declared mapping: one record to a store row (or Malformed / OutOfRange, and the record's raw
# values and natural id for the quarantine).
Declared = Callable[[CsvRecord], dict[str, Any]]


def import_csv(
    engine: Engine,
    org: str,
    path: Path,
    *,
    timezone: str = "UTC",
    primary_source: str = "login_history",
    progress: Progress | None = None,
    fast: bool = True,
) -> ImportReport:
    """Import one CSV file into ``org``'s store; see the module docstring for the kinds.

    Raises :class:`Malformed` (nothing stored) when the file as a whole cannot be imported: an
    unknown zone, a header of no known kind, an event type oauthwatch does not store.
    ``progress(bytes_read, bytes_total)`` is called every few thousand rows. ``fast=False`` takes
    the declared mapping for every record (the fast converters are held equal to it by a test).
    """
    try:
        tz = zone(timezone)
    except ValueError as exc:
        raise Malformed(str(exc)) from None
    with CsvFile(path) as f:
        if f.header_error:
            raise Malformed(f.header_error)
        if not f.header:
            raise Malformed("the file is empty: no header line")
        kind = detect_kind(f.header)
        records = f.records()
        if kind == "elf":
            return _import_elf(engine, org, f, records, primary_source, progress, fast)
        with engine.begin() as conn:
            ensure_org(conn, org)
        report = ImportReport(KIND_LABELS[kind])
        mapping = _mapping(f.header, kind)
        setup = SetupRows(tz) if kind == "ui" else None

        def declared(rec: CsvRecord) -> dict[str, Any]:
            fields = {mapping[i]: (v.strip() or None) for i, v in enumerate(rec.values) if i in mapping}
            try:
                if setup is not None:
                    fields = setup.record(fields)
                row = login_row(org, "login_history", fields.get("Id"), fields)
                check_in_range(row["login_time"], "Login Time")
            except (Malformed, OutOfRange) as exc:
                raise _Bad(f"{exc} (line {rec.line})", _raw(fields), fields.get("Id")) from None
            return row

        converter = None
        if fast and setup is not None:
            converter = setup_download_converter(
                org, mapping, len(f.header), lambda raw: parse_ui_time(raw, tz), setup.natural_id, utcnow()
            )
        elif fast:
            converter = api_export_converter(org, mapping, len(f.header), utcnow())
        with ImportWriter(
            engine,
            org,
            report,
            target="login_history",
            rollup=primary_source == "login_history",
            skip_via_api=kind == "ui",
        ) as writer:
            _pump(writer, f, records, converter, declared, lambda rec: (f"line {rec.line}", None), progress)
        return report


class _Bad(Exception):
    """A record the declared mapping refused: the reason, its raw values, its natural id."""

    def __init__(self, reason: str, raw: Any, natural_id: str | None) -> None:
        super().__init__(reason)
        self.reason, self.raw, self.natural_id = reason, raw, natural_id


def _pump(
    writer: ImportWriter,
    f: CsvFile,
    records: Iterable[CsvRecord],
    fast: FastConverter | None,
    declared: Declared,
    where: Callable[[CsvRecord], tuple[str, str | None]],
    progress: Progress | None,
) -> None:
    """Every record into ``writer``: read and converted in a thread (the fast converter first, the
    declared mapping for the rest and for every record a fast converter refuses, each bad one kept
    with its reason), stored a batch at a time in this one."""
    report = writer.report
    row_tuple = writer.row_tuple

    def batches() -> Iterator[Batch]:
        params: list[tuple[Any, ...]] = []
        bad: list[tuple[str, Any, str | None]] = []
        try:
            for n, rec in enumerate(records, 1):
                report.read += 1
                if n % 5_000 == 0:
                    if progress:
                        progress(f.position(), f.size)
                    if len(params) + len(bad) >= BATCH:
                        yield writer.pack(params, bad)
                        params, bad = [], []
                if rec.error:
                    at, nid = where(rec)
                    bad.append((f"{rec.error} ({at})", _raw(rec.values), nid))
                    continue
                if fast is not None:
                    try:
                        params.append(fast(rec.values))
                        continue
                    except Exception:  # noqa: BLE001, S110 - the declared mapping decides, and quarantines with a reason
                        pass
                try:
                    params.append(row_tuple(declared(rec)))
                except _Bad as exc:
                    bad.append((exc.reason, exc.raw, exc.natural_id))
            if params or bad:
                yield writer.pack(params, bad)
        finally:
            writer.done_packing()

    for batch in prefetch(batches(), depth=2):
        writer.store(batch)
    writer.finish()
    if progress:
        progress(f.size, f.size)


def _import_elf(
    engine: Engine,
    org: str,
    f: CsvFile,
    records: Any,
    primary: str,
    progress: Progress | None,
    fast: bool,
) -> ImportReport:
    header = [h.strip().upper() for h in f.header]
    first: CsvRecord | None = next(records, None)
    first_row = dict(zip(header, first.values, strict=False)) if first else {}
    event_type = first_row.get("EVENT_TYPE") or (
        "Login"
        if "LOGIN_STATUS" in header
        else "ApiTotalUsage"
        if "API_FAMILY" in header
        else type_from_header(header)
    )
    if first is not None and event_type not in ELF_TYPES:
        raise Malformed(
            f"an Event Log File of type {event_type[:40]!r}: oauthwatch stores {', '.join(ELF_TYPES)} only"
        )
    report = ImportReport(f"Event Log File ({event_type or 'empty'})")
    if first is None:
        return report
    with engine.begin() as conn:
        ensure_org(conn, org)
    # Rows without REQUEST_ID are keyed by file and line; the file is named by its content.
    file_id = "imp" + file_digest(f.path)[:15]
    api = event_type == "ApiTotalUsage"
    data = event_type in DATA_TYPES
    make = declared_row(event_type) if data else elf_csv.api_event if api else elf_csv.login_row
    at = "login_time" if event_type == "Login" else "event_time"

    def declared(rec: CsvRecord) -> dict[str, Any]:
        row = dict(zip(header, rec.values, strict=False))
        if len(rec.values) > len(header):
            row["__extra__"] = "|".join(rec.values[len(header) :])
        try:
            out = make(org, row, file_id=file_id, line=rec.line)
            check_in_range(out[at], "event time")
        except (Malformed, OutOfRange) as exc:
            nid = (row.get("REQUEST_ID") or "")[:64] or f"{file_id}:{rec.line}"
            raise _Bad(f"{exc} (file {file_id} line {rec.line})", _raw(row), nid) from None
        return out

    converter = None
    if fast and event_type == "Login":
        converter = elf_login_converter(org, header, utcnow())
    elif fast and api:
        converter = elf_api_converter(org, header)
    with ImportWriter(
        engine,
        org,
        report,
        target=event_type if data else API_USAGE if api else "elf_login",
        rollup=api or (primary == "elf_login" and not data),
        table=DATA_EVENTS if data else None,
    ) as writer:
        _pump(
            writer,
            f,
            _chain(first, records),
            converter,
            declared,
            lambda rec: (f"file {file_id} line {rec.line}", f"{file_id}:{rec.line}"),
            progress,
        )
    return report


def _chain(first: CsvRecord, rest: Any) -> Any:
    yield first
    yield from rest
