"""EventLogFile rows (Login, ApiTotalUsage, and with the licence BulkApi2 and RestApi; Hourly and
Daily) and their CSV content.

Files are not stored: ``render_csv`` streams a file from the org's events in its window, the same
bytes every time, so ELF Login rows match LoginHistory 1:1 and counts reconcile. A file row appears
only when the org's clock passes its CreatedDate, with Salesforce's lag: hourly files 3–6 hours after
the hour, daily files the next day between 02:00 and 05:00 UTC, and a few files late by up to three
days. The lag is configurable (``_State`` key ``elf_lag``, see :func:`set_lag`): the live demo makes
it minutes so files show up while one watches. A file exists only if its window has events.

Without the Event Monitoring licence (``simulate --no-event-monitoring``, ``_State`` key
``event_monitoring`` = ``0``; docs/salesforce-behaviour.md §7) the org has the shape Salesforce
gives such orgs: no ``Interval`` field on EventLogFile (hidden from describe and SOQL), daily files
only, only the free event types (no BulkApi2 or RestApi files), each kept one day after its
CreatedDate instead of 30.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from oauthwatch.simulator.data import elfformat, staged
from oauthwatch.simulator.data.clock import DAY_MS, HOUR_MS, day_floor, get_state, hour_floor, set_state
from oauthwatch.simulator.data.ids import make_id

EVENT_TYPES = ("Login", "ApiTotalUsage", "BulkApi2", "RestApi")
# the types only an org with the licence has files of: how much each Bulk job and REST call moved
DATA_TYPES = ("BulkApi2", "RestApi")
# The event types every org has, licence or not (docs/salesforce-behaviour.md §7), and a few of
# those that need the licence: what describe lists as EventType's picklist values in each mode.
FREE_TYPES = ("ApexUnexpectedException", "ApiTotalUsage", "CorsViolation", "HostnameRedirects",
              "InsecureExternalAssets", "Login", "Logout")  # fmt: skip
LICENSED_TYPES = ("API", "BulkApi", "BulkApi2", "LoginAs", "Report", "ReportExport", "RestApi", "URI")
EM_KEY = "event_monitoring"
KEEP_DAYS = {True: 30, False: 1}
API_VERSION = 62.0
LAG_KEY = "elf_lag"
MINUTE_MS = 60_000


@dataclass(frozen=True)
class Lag:
    """When files appear after their window closes (ms)."""

    hourly_min: int = 3 * HOUR_MS
    hourly_max: int = 6 * HOUR_MS
    daily_min: int = 2 * HOUR_MS
    daily_max: int = 5 * HOUR_MS
    late_share: float = 0.03
    late_max: int = 3 * DAY_MS


REAL_LAG = Lag()
DEMO_LAG = Lag(MINUTE_MS, 3 * MINUTE_MS, 2 * MINUTE_MS, 5 * MINUTE_MS, 0.0, 0)


def set_lag(conn: sqlite3.Connection, lag: Lag) -> None:
    """Store the lag model in ``_State`` (the live ticker and builds read it)."""
    set_state(conn, LAG_KEY, json.dumps(lag.__dict__))


def get_lag(conn: sqlite3.Connection) -> Lag:
    raw = get_state(conn, LAG_KEY)
    return Lag(**json.loads(raw)) if raw else REAL_LAG


def has_event_monitoring(conn: sqlite3.Connection) -> bool:
    """Whether the org has the Event Monitoring licence (the default)."""
    return get_state(conn, EM_KEY) != "0"


def set_event_monitoring(conn: sqlite3.Connection, on: bool, now_ms: int) -> None:
    """Give the org the licence or take it away; without it, hourly files, the licensed types' files
    and files older than a day are gone, as in an org that never had the licence."""
    set_state(conn, EM_KEY, "1" if on else "0")
    if not on:
        marks = ",".join("?" * len(DATA_TYPES))
        conn.execute(
            f"""DELETE FROM "EventLogFile" WHERE Interval = 'Hourly' OR EventType IN ({marks})""", DATA_TYPES
        )
        expire_files(conn, now_ms)


def picklist(sobject: str, field: str, event_monitoring: bool) -> tuple[str, ...]:
    """The values describe lists for a picklist the product reads: EventLogFile.EventType."""
    if (sobject, field) != ("EventLogFile", "EventType"):
        return ()
    return FREE_TYPES + (LICENSED_TYPES if event_monitoring else ())


def created_ms(seed: int, event_type: str, interval: str, log_date: int, lag: Lag) -> int:
    """CreatedDate of a file (deterministic for the seed and window)."""
    rng = random.Random(f"{seed}:elf:{event_type}:{interval}:{log_date}")
    if interval == "Hourly":
        t = log_date + HOUR_MS + rng.randint(lag.hourly_min, max(lag.hourly_min, lag.hourly_max))
    else:
        t = log_date + DAY_MS + rng.randint(lag.daily_min, max(lag.daily_min, lag.daily_max))
    if lag.late_share and rng.random() < lag.late_share:
        t += rng.randint(HOUR_MS, max(HOUR_MS, lag.late_max))
    return t - t % 1000


def file_id(event_type: str, interval: str, log_date: int, sequence: int) -> str:
    kind = EVENT_TYPES.index(event_type) * 2 + (1 if interval == "Hourly" else 0)
    return make_id("0AT", ((log_date // HOUR_MS) * 8 + kind) * 16 + sequence)


_LOGIN_SQL = """SELECT lh.Id, lh.UserId, lh.LoginTime, lh.LoginType, lh.LoginSubType, lh.SourceIp, lh.LoginUrl,
    lh.Status, lh.Browser, lh.Platform, lh.ApiType, lh.ApiVersion, lh.TlsProtocol, lh.CipherSuite, u.Username
    FROM "LoginHistory" lh LEFT JOIN "User" u ON u.Id = lh.UserId
    WHERE lh.LoginTime >= ? AND lh.LoginTime < ? ORDER BY lh.LoginTime, lh.Id"""
_API_SQL = """SELECT lh.Id, lh.UserId, lh.LoginTime, lh.SourceIp, lh.Application, u.Username, c.AppId, c.Kind, c.FullName
    FROM "LoginHistory" lh LEFT JOIN "User" u ON u.Id = lh.UserId JOIN _AppConfig c ON c.Label = lh.Application
    WHERE lh.LoginTime >= ? AND lh.LoginTime < ? AND lh.LoginType = 'Remote Access 2.0' AND lh.Status = 'Success'
    ORDER BY lh.LoginTime, lh.Id"""


def _org15(conn: sqlite3.Connection) -> str:
    row = conn.execute('SELECT Id FROM "Organization"').fetchone()
    return row[0][:15] if row else ""


def body(
    conn: sqlite3.Connection, event_type: str, start_ms: int, end_ms: int, org15: str
) -> Iterator[bytes]:
    """The CSV records (no header) of ``event_type`` for events in [start, end)."""
    if event_type == "Login":
        for row in conn.execute(_LOGIN_SQL, (start_ms, end_ms)):
            yield elfformat.line(elfformat.login_values(row, org15))
    elif event_type == "BulkApi2":
        for values in staged.bulk2_rows(conn, start_ms, end_ms, org15):
            yield elfformat.line(values)
    elif event_type == "RestApi":  # the REST calls of ApiTotalUsage, with what each returned
        for api in _api_values(conn, start_ms, end_ms, org15):
            rest = elfformat.rest_values(api)
            if rest is not None:
                yield elfformat.line(rest)
    else:
        for values in _api_values(conn, start_ms, end_ms, org15):
            yield elfformat.line(values)


def _api_values(conn: sqlite3.Connection, start_ms: int, end_ms: int, org15: str) -> Iterator[list[str]]:
    """ApiTotalUsage values in [start, end): the calls derived from logins, then the staged ones."""
    own = staged.staged_sessions(conn)  # a thief's refreshes: their calls are the staged ones
    for row in conn.execute(_API_SQL, (start_ms, end_ms)):
        if row[0] not in own:
            yield from elfformat.api_values(row, org15, hour_floor(row[2]) + HOUR_MS)
    yield from staged.api_rows(conn, start_ms, end_ms, org15)  # scenarios' calls (data.staged)


def render_csv(conn: sqlite3.Connection, file_id: str) -> Iterator[bytes]:
    """Stream the content of EventLogFile ``file_id`` in chunks of about 64 KiB (same bytes every time)."""
    row = conn.execute(
        'SELECT EventType, Interval, LogDate FROM "EventLogFile" WHERE Id = ?', (file_id,)
    ).fetchone()
    if row is None:
        raise LookupError(f"no EventLogFile {file_id}")
    event_type, interval, log_date = row
    end = log_date + (HOUR_MS if interval == "Hourly" else DAY_MS)
    buf = [elfformat.header_line(event_type)]
    size = len(buf[0])
    for chunk in body(conn, event_type, log_date, end, _org15(conn)):
        buf.append(chunk)
        size += len(chunk)
        if size >= 65_536:
            yield b"".join(buf)
            buf, size = [], 0
    if buf:
        yield b"".join(buf)


def _measure(conn: sqlite3.Connection, event_type: str, start: int, end: int, org15: str) -> tuple[int, int]:
    n = length = 0
    for chunk in body(conn, event_type, start, end, org15):
        n += 1
        length += len(chunk)
    return n, length


def create_due_files(
    conn: sqlite3.Connection, *, since_ms: int, now_ms: int, seed: int, not_before_ms: int | None = None
) -> int:
    """Create every missing file whose window starts at or after ``since_ms`` and is due by ``now_ms``.

    Returns how many rows were added. Daily sizes reuse the hourly measurements of the same pass.
    ``not_before_ms`` (the previous live tick) keeps CreatedDate from pointing before the moment a
    file could have appeared, so collectors that page by CreatedDate never miss one.
    """
    lag = get_lag(conn)
    licensed = has_event_monitoring(conn)
    intervals = ("Hourly", "Daily") if licensed else ("Daily",)
    org15 = _org15(conn)
    existing = {
        (r[0], r[1], r[2])
        for r in conn.execute(
            'SELECT EventType, Interval, LogDate FROM "EventLogFile" WHERE LogDate >= ?',
            (day_floor(since_ms),),
        )
    }
    measured: dict[tuple[str, int], tuple[int, int]] = {}
    floor = 0 if not_before_ms is None else min(now_ms, not_before_ms + 1000)
    floor -= floor % 1000

    def hour_body(event_type: str, hour: int) -> tuple[int, int]:
        key = (event_type, hour)
        if key not in measured:
            measured[key] = _measure(conn, event_type, hour, hour + HOUR_MS, org15)
        return measured[key]

    rows = []
    for event_type in EVENT_TYPES:
        if event_type in DATA_TYPES and not licensed:
            continue
        head = len(elfformat.header_line(event_type))
        hour = hour_floor(since_ms)
        while "Hourly" in intervals and hour + HOUR_MS <= now_ms:
            made = max(created_ms(seed, event_type, "Hourly", hour, lag), floor)
            if made <= now_ms and (event_type, "Hourly", hour) not in existing:
                n, length = hour_body(event_type, hour)
                if n:
                    rows.append(_row(event_type, "Hourly", hour, 1, made, head + length))
            hour += HOUR_MS
        day = day_floor(since_ms)
        while day + DAY_MS <= now_ms:
            made = max(created_ms(seed, event_type, "Daily", day, lag), floor)
            if made <= now_ms and (event_type, "Daily", day) not in existing:
                total = [hour_body(event_type, day + h * HOUR_MS) for h in range(24)]
                if any(n for n, _ in total):
                    rows.append(
                        _row(event_type, "Daily", day, 0, made, head + sum(length for _, length in total))
                    )
            day += DAY_MS
    conn.executemany(
        'INSERT OR IGNORE INTO "EventLogFile" ("Id","EventType","LogDate","CreatedDate","Interval","Sequence","LogFileLength",'
        '"LogFile","LogFileContentType","LogFileFieldNames","LogFileFieldTypes","ApiVersion") VALUES (?,?,?,?,?,?,?,?,?,?,?,?)',
        rows,
    )
    return len(rows)


def _row(event_type: str, interval: str, log_date: int, sequence: int, made: int, length: int) -> tuple:
    fid = file_id(event_type, interval, log_date, sequence)
    return (
        fid,
        event_type,
        log_date,
        made,
        interval,
        sequence,
        float(length),
        f"/services/data/v{API_VERSION}/sobjects/EventLogFile/{fid}/LogFile",
        "CSV",
        elfformat.header(event_type),
        elfformat.field_types(event_type),
        API_VERSION,
    )


def expire_files(conn: sqlite3.Connection, now_ms: int, keep_days: int | None = None) -> int:
    """Drop files older than the retention: 30 days after CreatedDate with Event Monitoring, one
    day without (by default)."""
    if keep_days is None:
        keep_days = KEEP_DAYS[has_event_monitoring(conn)]
    return conn.execute(
        'DELETE FROM "EventLogFile" WHERE CreatedDate < ?', (now_ms - keep_days * DAY_MS,)
    ).rowcount


def refresh_lengths(conn: sqlite3.Connection, start_ms: int, end_ms: int) -> int:
    """Recompute LogFileLength of files whose window overlaps [start, end) after events were added there."""
    org15 = _org15(conn)
    changed = 0
    files = conn.execute(
        'SELECT Id, EventType, Interval, LogDate FROM "EventLogFile" WHERE LogDate < ? AND LogDate >= ?',
        (end_ms, day_floor(start_ms)),
    ).fetchall()
    for fid, event_type, interval, log_date in files:
        end = log_date + (HOUR_MS if interval == "Hourly" else DAY_MS)
        if end <= start_ms:
            continue
        _, length = _measure(conn, event_type, log_date, end, org15)
        length += len(elfformat.header_line(event_type))
        changed += conn.execute(
            'UPDATE "EventLogFile" SET LogFileLength = ? WHERE Id = ? AND LogFileLength != ?',
            (float(length), fid, float(length)),
        ).rowcount
    return changed
