"""API calls and Bulk jobs a scenario stages, where Salesforce would show them.

A campaign's reconnaissance and export are not logins: Salesforce shows them as ApiTotalUsage
rows in the Event Log Files (one per call, with ``CONNECTED_APP_ID``, ``CLIENT_NAME``,
``API_RESOURCE``, ``HTTP_METHOD``…) and as Bulk API jobs in the job listings
(``GET /services/data/vXX.X/jobs/query`` and ``…/jobs/ingest``) until the job is deleted or ages
out (docs/salesforce-behaviour.md §8). Scenarios write both here, in two internal tables:

- ``_ApiCall``: one row per call; :mod:`oauthwatch.simulator.data.eventlog` renders them into the
  ApiTotalUsage file of their hour, after the calls derived from logins;
- ``_BulkJob``: one row per job with its lifetime; the job listings show a job from its creation
  until it is deleted (``DeletedMs``) or is seven days old, the per-job resource answers for it;
  With Event Monitoring the BulkApi2 event log files show each job's steps (:func:`bulk2_rows`);
- ``_StagedSession``: the scenario logins whose calls are all staged (the token thief's refreshes).
  Every other successful OAuth login gets a few calls of its app's usual kind in ApiTotalUsage;
  these do not, so the org holds exactly the calls the scenario made, as its ground truth says.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from oauthwatch.simulator.data import elfformat
from oauthwatch.simulator.data.clock import DAY_MS, from_ms

LIFESPAN_MS = 7 * DAY_MS  # jobs older than seven days are deleted (docs/salesforce-behaviour.md §8)
_DDL = (
    'CREATE TABLE IF NOT EXISTS "_ApiCall" (RequestId TEXT PRIMARY KEY, T INTEGER NOT NULL, UserId TEXT,'
    " Username TEXT, Family TEXT, Resource TEXT, Method TEXT, Status TEXT, Entity TEXT, ClientName TEXT,"
    " ClientIp TEXT, AppId TEXT, AppName TEXT)",
    'CREATE INDEX IF NOT EXISTS "ix__ApiCall_T" ON "_ApiCall" (T)',
    'CREATE TABLE IF NOT EXISTS "_BulkJob" (Id TEXT PRIMARY KEY, Operation TEXT, Object TEXT, CreatedById TEXT,'
    " CreatedMs INTEGER NOT NULL, DoneMs INTEGER NOT NULL, State TEXT, JobType TEXT, ApiVersion REAL,"
    " Records INTEGER, ProcessingMs INTEGER, DeletedMs INTEGER)",
    'CREATE TABLE IF NOT EXISTS "_StagedSession" (LoginId TEXT PRIMARY KEY)',
)


@dataclass(frozen=True)
class ApiCall:
    """One staged API call, as ApiTotalUsage logs it."""

    request_id: str
    t: int
    user_id: str
    username: str
    family: str  # REST, SOAP, Bulk
    resource: str  # /v62.0/sobjects, /v62.0/jobs/query/750…
    method: str
    status: str
    entity: str
    client_name: str
    client_ip: str
    app_id: str
    app_name: str


@dataclass(frozen=True)
class BulkJob:
    """One staged Bulk API 2.0 job and its lifetime (epoch ms)."""

    id: str
    operation: str  # query, queryAll, insert…
    object: str
    created_by: str
    created_ms: int
    done_ms: int
    records: int
    job_type: str = "V2Query"
    state: str = "JobComplete"
    api_version: float = 62.0
    deleted_ms: int | None = None


def ensure(conn: sqlite3.Connection) -> None:
    """Create the two tables if the org does not have them yet."""
    for stmt in _DDL:
        conn.execute(stmt)


def stage(conn: sqlite3.Connection, calls: list[ApiCall], jobs: list[BulkJob]) -> None:
    """Write ``calls`` and ``jobs`` (again is a no-op: ids are the keys)."""
    ensure(conn)
    conn.executemany(
        'INSERT OR IGNORE INTO "_ApiCall" VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)',
        [(c.request_id, c.t, c.user_id, c.username, c.family, c.resource, c.method, c.status, c.entity,
          c.client_name, c.client_ip, c.app_id, c.app_name) for c in calls],
    )  # fmt: skip
    conn.executemany(
        'INSERT OR IGNORE INTO "_BulkJob" VALUES (?,?,?,?,?,?,?,?,?,?,?,?)',
        [(j.id, j.operation, j.object, j.created_by, j.created_ms, j.done_ms, j.state, j.job_type, j.api_version,
          j.records, j.done_ms - j.created_ms, j.deleted_ms) for j in jobs],
    )  # fmt: skip


def mark_sessions(conn: sqlite3.Connection, login_ids: list[str]) -> None:
    """Record LoginHistory ``login_ids`` as sessions whose API calls are all staged."""
    ensure(conn)
    conn.executemany('INSERT OR IGNORE INTO "_StagedSession" VALUES (?)', [(i,) for i in login_ids])


def staged_sessions(conn: sqlite3.Connection) -> frozenset[str]:
    """The LoginHistory Ids whose calls are staged: no calls are derived from these logins."""
    if not _has(conn, "_StagedSession"):
        return frozenset()
    return frozenset(r[0] for r in conn.execute('SELECT LoginId FROM "_StagedSession"'))


def _has(conn: sqlite3.Connection, table: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone() is not None


def api_rows(conn: sqlite3.Connection, start_ms: int, end_ms: int, org15: str) -> list[list[str]]:
    """ApiTotalUsage values (``elfformat.API_FIELDS`` order) of the staged calls in [start, end)."""
    if not _has(conn, "_ApiCall"):
        return []
    out = []
    for rid, t, uid, uname, fam, res, method, status, entity, client, ip, app_id, app in conn.execute(
        "SELECT RequestId, T, UserId, Username, Family, Resource, Method, Status, Entity, ClientName, ClientIp,"
        ' AppId, AppName FROM "_ApiCall" WHERE T >= ? AND T < ? ORDER BY T, RequestId',
        (start_ms, end_ms),
    ):
        ts, ts_derived = elfformat.timestamps(t)
        out.append(
            ["ApiTotalUsage", ts, rid, org15, (uid or "")[:15], uname or "", fam, "62.0", res, method, status,
             entity or "", client or "", ip or "", (app_id or "")[:15], app or "", "true", ts_derived]
        )  # fmt: skip
    return out


def bulk2_rows(conn: sqlite3.Connection, start_ms: int, end_ms: int, org15: str) -> list[list[str]]:
    """BulkApi2 values (``elfformat.BULK2_FIELDS`` order) of the staged jobs' steps in [start, end):
    created (``UploadComplete``), ``InProgress``, ``JobComplete`` with the records processed, and
    ``Deleted`` for a job deleted (JOB_STATUS words UNCONFIRMED; docs/salesforce-behaviour.md §8).
    The address is the one the job's own calls came from."""
    if not _has(conn, "_BulkJob"):
        return []
    steps = []
    for jid, op, obj, by, created, done, state, _jt, _v, records, _p, deleted in conn.execute(
        'SELECT * FROM "_BulkJob" WHERE (CreatedMs >= ? AND CreatedMs < ?) OR (DoneMs >= ? AND DoneMs < ?)'
        " OR (DeletedMs >= ? AND DeletedMs < ?)",
        (start_ms, end_ms) * 3,
    ):
        ip = conn.execute(
            'SELECT ClientIp FROM "_ApiCall" WHERE Resource LIKE ? ORDER BY T LIMIT 1', (f"%/jobs/%/{jid}%",)
        ).fetchone() if _has(conn, "_ApiCall") else None  # fmt: skip
        for t, status, rows in ((created, "UploadComplete", None), (created + 1000, "InProgress", None),
                                (done, state, records), (deleted, "Deleted", None)):  # fmt: skip
            if t is not None and start_ms <= t < end_ms:
                rid = elfformat.token(elfformat.digest(f"bulk2:{jid}:{status}")[:16], 22)
                steps.append((t, elfformat.bulk2_values(rid, t, org15, by or "", jid, status, op, obj, rows,
                                                         ip[0] if ip else "")))  # fmt: skip
    return [values for _t, values in sorted(steps, key=lambda s: (s[0], s[1][2]))]


def format_datetime(ms: int) -> str:
    """``2018-12-07T19:58:09.000+0000``, as the job resources write times."""
    return from_ms(ms).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+0000"


def _state_at(row: tuple, now_ms: int) -> str:
    """A job's state at ``now``: in progress until it is done, then its final state."""
    return "InProgress" if now_ms < row[5] else row[6]


def job_info(row: tuple, now_ms: int, *, detail: bool) -> dict:
    """The job as the listing (``detail=False``) or the per-job resource shows it."""
    jid, op, obj, by, created, done, _state, job_type, version, records, processing, _deleted = row
    state = _state_at(row, now_ms)
    body: dict = {
        "id": jid, "operation": op, "object": obj, "createdById": by, "createdDate": format_datetime(created),
        "systemModstamp": format_datetime(min(max(created, now_ms), done)), "state": state,
        "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": version, "jobType": job_type,
        "lineEnding": "LF", "columnDelimiter": "COMMA",
    }  # fmt: skip
    if detail and state == "JobComplete":
        body.update(numberRecordsProcessed=records, retries=0, totalProcessingTime=processing)
    return body


def visible_jobs(conn: sqlite3.Connection, now_ms: int, *, ingest: bool) -> list[tuple]:
    """Jobs a listing shows at ``now``: created, not deleted, younger than the lifespan."""
    if not _has(conn, "_BulkJob"):
        return []
    kind = "JobType = 'V2Ingest'" if ingest else "JobType != 'V2Ingest'"
    return conn.execute(
        f'SELECT * FROM "_BulkJob" WHERE {kind} AND CreatedMs <= ? AND CreatedMs > ?'
        " AND (DeletedMs IS NULL OR DeletedMs > ?) ORDER BY CreatedMs, Id",
        (now_ms, now_ms - LIFESPAN_MS, now_ms),
    ).fetchall()


def find_job(conn: sqlite3.Connection, job_id: str, now_ms: int) -> tuple | None:
    """The staged job ``job_id`` if a client could still see it at ``now``."""
    if not _has(conn, "_BulkJob"):
        return None
    row = conn.execute(
        'SELECT * FROM "_BulkJob" WHERE Id = ? OR substr(Id, 1, 15) = ?', (job_id, job_id[:15])
    ).fetchone()
    gone = row is None or row[4] > now_ms or row[4] <= now_ms - LIFESPAN_MS
    return None if gone or (row[11] is not None and row[11] <= now_ms) else row
