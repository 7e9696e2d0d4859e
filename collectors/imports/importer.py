"""``oauthwatch import-csv``: login history that did not come through the API.

Three kinds of file, told apart by their header (column order and extra columns do not matter):

- **Event Log File CSV** (``EVENT_TYPE``, ``TIMESTAMP_DERIVED``…): Login rows go to ``logins``
  (``elf_login``), ApiTotalUsage rows to ``api_usage_hourly``, exactly as the collector stores them;
- **Data Loader / Workbench export of LoginHistory** (API names as headers, any case, with
  ``LoginGeo.City``-style relationship columns): stored as ``login_history`` under their real Id,
  so rows later read through the API are the same rows;
- **Setup → Login History download** (UI labels: Username, Login Time, Source IP, …; the
  reference marks the exact headers UNCONFIRMED, so labels are matched loosely): these rows have
  no Id, so each gets a stable one from its content (re-importing the file adds nothing), and a
  row the API already delivered (same minute, IP, status and application) is skipped, not doubled.
  Login Time is read in the UI's date formats (``MM/dd/yyyy hh:mm a`` and relatives), in
  ``--timezone`` unless the value names its zone.

Every row that cannot be read is quarantined with its reason; the report says what was imported,
skipped and why.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select

from collectors.run import ledger
from collectors.sources import elf_csv
from collectors.sources.base import Malformed, parse_dt
from collectors.sources.login_history import GEO, login_row
from oauthwatch.store import schema
from oauthwatch.store.writes import ensure_org, refresh_login_rollup, upsert

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

SOURCE = "import_csv"

# LoginHistory API names (Data Loader upper-cases them; Workbench keeps them) and LoginGeo columns.
API_FIELDS = (
    "Id", "UserId", "LoginTime", "LoginType", "LoginSubType", "SourceIp", "LoginUrl", "Status", "Application",
    "Browser", "Platform", "ClientVersion", "ApiType", "ApiVersion", "CountryIso", "LoginGeoId", "TlsProtocol",
    "CipherSuite", "ForwardedForIp", "AuthMethodReference", *(f"LoginGeo.{g}" for g in GEO),
)  # fmt: skip
# Setup's Login History download: UI labels → API names (loose: case, spaces and punctuation ignored).
UI_LABELS = {
    "username": "Username", "logintime": "LoginTime", "sourceip": "SourceIp", "logintype": "LoginType",
    "loginsubtype": "LoginSubType", "status": "Status", "browser": "Browser", "platform": "Platform",
    "application": "Application", "clientversion": "ClientVersion", "apitype": "ApiType",
    "apiversion": "ApiVersion", "loginurl": "LoginUrl", "countrycode": "CountryIso", "country": "LoginGeo.Country",
    "location": "Location", "city": "LoginGeo.City", "tlsprotocol": "TlsProtocol", "tlsciphersuite": "CipherSuite",
    "ciphersuite": "CipherSuite", "httploginmethod": "HttpMethod", "userid": "UserId",
}  # fmt: skip
UI_FORMATS = (
    "%m/%d/%Y %I:%M %p", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S",
    "%m/%d/%y %I:%M %p", "%m/%d/%y %H:%M",
)  # fmt: skip
_ZONES = {"GMT": "UTC", "UTC": "UTC", "Z": "UTC"}


@dataclass
class ImportReport:
    """What an import did."""

    kind: str
    imported: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    quarantined: int = 0

    def lines(self) -> list[str]:
        out = [f"{self.kind}: imported {self.imported}, quarantined {self.quarantined}"]
        out += [f"  skipped {n}: {why}" for why, n in self.skipped.most_common()]
        return out


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
    raise Malformed(
        "not a Login History or Event Log File CSV: no LoginTime / Login Time / EVENT_TYPE column "
        f"(columns: {', '.join(header[:12])})"
    )


def parse_ui_time(value: str, tz: ZoneInfo) -> datetime:
    """A Setup UI date (``11/29/2026 9:05 AM``, optionally followed by a zone) as aware UTC."""
    s = value.strip()
    zone = tz
    m = re.match(r"^(.*?)\s+([A-Za-z]{1,5}|[+-]\d{2}:?\d{2})$", s)
    if m and m.group(2).upper() not in ("AM", "PM"):
        s, z = m.group(1), m.group(2)
        if z.upper() in _ZONES:
            zone = ZoneInfo(_ZONES[z.upper()])
        elif z[0] in "+-":
            sign = 1 if z[0] == "+" else -1
            hh, mm = int(z[1:3]), int(z[-2:])
            for fmt in UI_FORMATS:
                try:
                    naive = datetime.strptime(s, fmt)  # noqa: DTZ007 - the offset is applied below
                except ValueError:
                    continue
                return (naive - sign * timedelta(hours=hh, minutes=mm)).replace(tzinfo=UTC)
        else:
            raise Malformed(f"unknown time zone {z!r} in {value!r}: pass --timezone and strip it")
    try:
        iso = parse_dt(s)
        if iso is not None and "T" in s:
            return iso
    except Malformed:
        pass
    for fmt in UI_FORMATS:
        try:
            return datetime.strptime(s, fmt).replace(tzinfo=zone).astimezone(UTC)
        except ValueError:
            continue
    raise Malformed(f"unreadable Login Time {value!r}")


def _rows(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    fh = path.open(newline="", encoding="utf-8-sig", errors="replace")
    reader = csv.reader(fh)
    header = next(reader, [])

    def gen() -> Iterator[tuple[int, list[str]]]:
        with fh:
            for values in reader:
                if values and any(v.strip() for v in values):
                    yield reader.line_num, values

    return header, gen()


def import_csv(
    engine: Engine,
    org: str,
    path: Path,
    *,
    timezone: str = "UTC",
    primary_source: str = "login_history",
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import one CSV file into ``org``'s store; see the module docstring for the kinds."""
    header, rows = _rows(path)
    kind = detect_kind(header)
    with engine.begin() as conn:
        ensure_org(conn, org)
    if kind == "elf":
        return _import_elf(engine, org, path, primary_source)
    tz = ZoneInfo(timezone)
    report = ImportReport(
        "Login History export (API names)" if kind == "api" else "Setup Login History download"
    )
    mapping = _mapping(header, kind)
    seen: Counter[str] = Counter()
    batch: list[dict[str, Any]] = []
    done = 0
    for line, values in rows:
        rec = {mapping[i]: (v.strip() or None) for i, v in enumerate(values) if i in mapping}
        batch.append({"__line__": line, **rec})
        if len(batch) >= 2000:
            done += _store_batch(engine, org, kind, batch, tz, seen, report, primary_source)
            batch = []
            if progress:
                progress(done)
    done += _store_batch(engine, org, kind, batch, tz, seen, report, primary_source)
    if progress:
        progress(done)
    return report


def _mapping(header: list[str], kind: str) -> dict[int, str]:
    out: dict[int, str] = {}
    if kind == "api":
        known = {_norm(f): f for f in API_FIELDS} | {"username": "Username"}
        for i, h in enumerate(header):
            n = _norm(h)
            if n in known:
                out[i] = known[n]
            elif n.startswith("logingeo.") or n.startswith("logingeo_"):
                g = {x.lower(): x for x in GEO}.get(n.split(".", 1)[-1].split("_", 1)[-1])
                if g:
                    out[i] = f"LoginGeo.{g}"
        return out
    for i, h in enumerate(header):
        target = UI_LABELS.get(_norm(h).replace(".", ""))
        if target:
            out[i] = target
    return out


def _store_batch(
    engine: Engine,
    org: str,
    kind: str,
    batch: list[dict[str, Any]],
    tz: ZoneInfo,
    seen: Counter[str],
    report: ImportReport,
    primary_source: str,
) -> int:
    if not batch:
        return 0
    with engine.begin() as conn:
        rows = []
        for rec in batch:
            line = rec.pop("__line__")
            try:
                if kind == "ui":
                    rec = _ui_record(rec, tz, seen)
                    if _already_collected(conn, org, rec):
                        report.skipped["already collected through the API"] += 1
                        continue
                rid = rec.get("Id")
                if not rid:
                    raise Malformed("no Id column value")
                rows.append(login_row(org, "login_history", rid, rec))
            except Malformed as exc:
                if ledger.quarantine(conn, org, SOURCE, f"{exc} (line {line})", rec, rec.get("Id")):
                    report.quarantined += 1
                else:
                    report.skipped["already quarantined by an earlier import"] += 1
        if rows:
            by_key = {r["natural_id"]: r for r in rows}
            rows = list(by_key.values())
            upd = [c for c in rows[0] if c not in ("org", "source", "natural_id", "ingested_at")]
            upsert(conn, schema.logins, rows, key=["org", "source", "natural_id"], update=upd)
            if primary_source == "login_history":
                refresh_login_rollup(conn, org, "login_history", {r["login_time"] for r in rows})
        report.imported += len(rows)
    return len(batch)


def _ui_record(rec: dict[str, Any], tz: ZoneInfo, seen: Counter[str]) -> dict[str, Any]:
    raw_time = rec.get("LoginTime")
    if not raw_time:
        raise Malformed("no Login Time")
    when = parse_ui_time(str(raw_time), tz)
    rec = dict(rec)
    rec["LoginTime"] = when.isoformat()
    if rec.get("Location") and not rec.get("LoginGeo.Country"):
        rec["LoginGeo.Country"] = str(rec["Location"]).split(",")[-1].strip()
    basis = "|".join(str(rec.get(k) or "") for k in ("Username", "LoginTime", "SourceIp", "Status", "Application",
                                                     "LoginType", "Browser", "Platform"))  # fmt: skip
    seen[basis] += 1  # identical rows in one file are distinct logins: number them, stably
    digest = hashlib.sha256(f"{basis}#{seen[basis]}".encode()).hexdigest()[:40]
    rec["Id"] = f"csv:{digest}"
    return rec


def _already_collected(conn: Connection, org: str, rec: dict[str, Any]) -> bool:
    when = parse_dt(rec["LoginTime"])
    assert when is not None
    lg = schema.logins.c
    cond = [lg.org == org, lg.source == "login_history", lg.login_time >= when,
            lg.login_time < when + timedelta(minutes=1), ~lg.natural_id.startswith("csv:")]  # fmt: skip
    for col, key in ((lg.source_ip, "SourceIp"), (lg.status, "Status"), (lg.application, "Application")):
        if rec.get(key):
            cond.append(col == rec[key])
    return conn.execute(select(lg.id).where(*cond).limit(1)).first() is not None


def _import_elf(engine: Engine, org: str, path: Path, primary: str) -> ImportReport:
    header, rows = elf_csv.read_csv(path)
    first = next(rows, None)
    event_type = (first[1].get("EVENT_TYPE") if first else None) or ""
    report = ImportReport(f"Event Log File ({event_type or 'empty'})")
    if first is None:
        return report
    if event_type not in ("Login", "ApiTotalUsage"):
        report.skipped[f"event type {event_type!r} is not one oauthwatch stores (Login, ApiTotalUsage)"] += (
            1 + sum(1 for _ in rows)
        )
        return report
    file_id = "imp" + hashlib.sha256(path.read_bytes()).hexdigest()[:15]
    from itertools import chain

    from collectors.sources.event_log_files import store_file_rows

    def quarantine(conn: Connection, why: str, raw: Any, nid: str | None) -> None:
        if ledger.quarantine(conn, org, SOURCE, why, raw, nid):
            report.quarantined += 1

    with engine.begin() as conn:
        if event_type == "ApiTotalUsage":
            a = schema.api_usage_hourly.c
            conn.execute(delete(schema.api_usage_hourly).where(a.org == org, a.file_id == file_id))
        read, stored = store_file_rows(
            org,
            conn,
            file_id=file_id,
            event_type=event_type,
            path=path,
            quarantine=quarantine,
            primary=primary,
            rows=chain([first], rows),
        )
    report.imported = stored
    del header, read
    return report
