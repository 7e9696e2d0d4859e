"""Event Log File CSVs → store rows, read by their header (columns change between releases).

Shared by the EventLogFile source and ``oauthwatch import-csv``. Every ELF value is a string;
codes are translated to the words LoginHistory uses (docs/architecture.md, "Salesforce facts the code relies on"), unknown codes are kept as
they are. Rows are stored at event time (``TIMESTAMP_DERIVED``, else ``TIMESTAMP``), never at
the file's ``LogDate``.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from collectors.sources.values import Malformed, Row, integer, number, parse_dt
from oauthwatch.rules.salesforce_values import id18, tls_protocol
from oauthwatch.store.writes import utcnow

LOGIN_TYPES = {
    "i": "Remote Access 2.0", "6": "Remote Access Client", "A": "Application", "I": "Other Apex API",
    "5": "SAML Idp Initiated SSO", "8": "SAML Sfdc Initiated SSO", "j": "Third Party SSO",
    "z": "Lightning Login", "s": "Certificate-based login", "R": "Partner Product", "7": "AppExchange",
}  # fmt: skip
# LOGIN_SUB_TYPE codes → LoginHistory's LoginSubType labels, from Salesforce's table (LoginEventLog
# LoginSubType; docs/salesforce-behaviour.md §5). oauthtoken is the User-Agent flow, not refresh;
# the refresh-token flow has no documented code. uipwdrst is not in the table (UNCONFIRMED).
LOGIN_SUB_TYPES = {
    "uiup": "UI Username-Password", "oauthpassword": "OAuth Username-Password",
    "oauthtoken": "OAuth User-Agent", "oauthhybridtoken": "OAuth User-Agent for Hybrid Apps",
    "oauthtokenidtoken": "OAuth User-Agent with ID Token", "oauthclientcredential": "OAuth Client Credentials",
    "oauthcode": "OAuth Web Server", "oauthhybridauthcode": "OAuth Web Server for Hybrid Apps",
    "uipwdrst": "UI Password Reset",
}  # fmt: skip
API_TYPES = {"E": "SOAP Enterprise", "P": "SOAP Partner", "M": "SOAP Metadata", "T": "SOAP Tooling",
             "S": "SOAP Apex", "D": "Apex Class", "f": "Feed"}  # fmt: skip
LOGIN_STATUS = {
    "LOGIN_NO_ERROR": "Success", "LOGIN_ERROR_INVALID_PASSWORD": "Invalid Password",
    "LOGIN_ERROR_PASSWORD_LOCKOUT": "Password Lockout", "LOGIN_ERROR_RESTRICTED_DOMAIN": "Restricted IP",
    "LOGIN_ERROR_RESTRICTED_TIME": "Restricted time", "LOGIN_ERROR_USER_INACTIVE": "User is Inactive",
    "LOGIN_ERROR_USER_FROZEN": "User is Frozen", "LOGIN_ERROR_MUST_USE_API_TOKEN": "Failed: API security token required",
    "LOGIN_CHALLENGE_ISSUED": "Failed: Computer activation required", "LOGIN_ERROR_USER_API_ONLY": "Failed: API-only user",
    "LOGIN_ERROR_RATE_EXCEEDED": "Login rate exceeded", "LOGIN_ERROR_EXPORT_RESTRICTED": "Restricted country",
    "LOGIN_ERROR_UNKNOWN_ERROR": "Login invalid", "LOGIN_OAUTH_API_DISABLED": "Failed: OAuth API access disabled",
    "LOGIN_OAUTH_CONSUMER_DELETED": "Failed: Consumer Deleted", "LOGIN_OAUTH_INVALID_CODE_VERIFIER": "Failed: Invalid Code Verifier",
    "LOGIN_OAUTH_INVALID_DSIG": "Failed: Signature Invalid", "LOGIN_OAUTH_INVALID_IP": "Failed: IP Address Not Allowed",
    "LOGIN_OAUTH_INVALID_NONCE": "Failed: Invalid Nonce", "LOGIN_OAUTH_INVALID_TIMESTAMP": "Failed: Invalid Timestamp",
    "LOGIN_OAUTH_INVALID_TOKEN": "Failed: Invalid Token", "LOGIN_OAUTH_NO_CALLBACK_URL": "Failed: Invalid Callback URL",
}  # fmt: skip


def read_csv(path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header and a lazy iterator of (line number, row) of an ELF CSV on disk."""
    fh = path.open(newline="", encoding="utf-8-sig", errors="replace")  # a stray byte is not fatal
    reader = csv.reader(fh)
    try:
        header = [h.strip().upper() for h in next(reader)]
    except StopIteration:
        fh.close()
        return [], iter(())

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        with fh:
            for values in reader:
                if not values or values == [""]:
                    continue
                yield (
                    reader.line_num,
                    dict(zip(header, values, strict=False))
                    | ({"__extra__": "|".join(values[len(header) :])} if len(values) > len(header) else {}),
                )

    return header, rows()


def event_time(row: dict[str, str]) -> datetime:
    """``TIMESTAMP_DERIVED`` (ISO) or ``TIMESTAMP`` (``20130715233322.670``), as aware UTC."""
    derived = row.get("TIMESTAMP_DERIVED")
    if derived:
        ts = parse_dt(derived)
        if ts:
            return ts
    raw = row.get("TIMESTAMP") or ""
    try:
        return datetime.strptime(raw, "%Y%m%d%H%M%S.%f").replace(tzinfo=UTC)
    except ValueError:
        raise Malformed(f"no usable TIMESTAMP_DERIVED/TIMESTAMP ({derived!r}, {raw!r})") from None


def _s(row: dict[str, str], *keys: str, limit: int = 255) -> str | None:
    for k in keys:
        v = row.get(k)
        if v not in (None, ""):
            return str(v)[:limit]
    return None


def login_row(org: str, row: dict[str, str], *, file_id: str = "", line: int = 0) -> Row:
    """A ``logins`` row (source ``elf_login``) from one ELF Login CSV row."""
    if row.get("EVENT_TYPE") not in (None, "", "Login"):
        raise Malformed(f"not a Login event: {row.get('EVENT_TYPE')!r}")
    if len(row) <= 3:
        raise Malformed("row has too few columns")
    natural = _s(row, "REQUEST_ID", limit=64) or (f"{file_id}:{line}" if file_id else None)
    if not natural:
        raise Malformed("no REQUEST_ID")
    code = row.get("LOGIN_STATUS") or ""
    status = LOGIN_STATUS.get(code, code or row.get("REQUEST_STATUS") or None)
    success = (
        code == "LOGIN_NO_ERROR" if code else (row.get("REQUEST_STATUS") or "").lower() in ("success", "s")
    )
    lt, lst, api = row.get("LOGIN_TYPE") or "", row.get("LOGIN_SUB_TYPE") or "", row.get("API_TYPE") or ""
    return {
        "org": org,
        "source": "elf_login",
        "natural_id": natural,
        "login_time": event_time(row),
        "user_id": id18(_s(row, "USER_ID_DERIVED", "USER_ID", limit=18)),
        "username": _s(row, "USER_NAME"),
        "login_type": (LOGIN_TYPES.get(lt, lt) or None),
        "login_subtype": (LOGIN_SUB_TYPES.get(lst.lower(), lst) or None),
        "status": status[:255] if status else None,
        "success": success,
        "application": _s(row, "CONNECTED_APP_NAME", "APPLICATION"),
        "source_ip": _s(row, "SOURCE_IP", "CLIENT_IP", limit=64),
        "login_url": _s(row, "LOGIN_URL"),
        "browser": _s(row, "BROWSER_TYPE"),
        "platform": _s(row, "PLATFORM_TYPE"),
        "client_version": _s(row, "CLIENT_VERSION", limit=64),
        "api_type": (API_TYPES.get(api, api) or None),
        "api_version": _s(row, "API_VERSION", limit=32),
        "tls_protocol": tls_protocol(_s(row, "TLS_PROTOCOL", limit=16)),
        "cipher_suite": _s(row, "CIPHER_SUITE", limit=64),
        "country_iso": None, "country": None, "subdivision": None, "city": None, "postal_code": None,
        "latitude": None, "longitude": None, "login_geo_id": None,
        "ingested_at": utcnow(),
    }  # fmt: skip


def api_event(org: str, row: dict[str, str], *, file_id: str = "", line: int = 0) -> Row:
    """An ``api_usage_events`` row from one ApiTotalUsage CSV row, keyed by its REQUEST_ID.

    A row without REQUEST_ID is keyed by its file and line, so re-reading that file adds nothing.
    """
    if row.get("EVENT_TYPE") not in (None, "", "ApiTotalUsage"):
        raise Malformed(f"not an ApiTotalUsage event: {row.get('EVENT_TYPE')!r}")
    natural = _s(row, "REQUEST_ID", limit=64) or (f"{file_id}:{line}" if file_id else None)
    if not natural:
        raise Malformed("no REQUEST_ID")
    return {
        "org": org,
        "request_id": natural,
        "event_time": event_time(row),
        "connected_app_id": (row.get("CONNECTED_APP_ID") or "")[:18],
        "connected_app_name": (row.get("CONNECTED_APP_NAME") or "")[:255],
        "client_name": (row.get("CLIENT_NAME") or "")[:255],
        "api_family": (row.get("API_FAMILY") or "")[:20],
        "status_code": (row.get("STATUS_CODE") or "")[:8],
        "user_id": (id18(row.get("USER_ID_DERIVED") or row.get("USER_ID") or "") or "")[:18],
        "api_resource": (row.get("API_RESOURCE") or "")[:255],
        "entity_name": (row.get("ENTITY_NAME") or "")[:255],
        "http_method": (row.get("HTTP_METHOD") or "")[:10],
        "client_ip": (row.get("CLIENT_IP") or "")[:64],
    }


# The licensed event types that say how much data a request moved (docs/salesforce-behaviour.md §8):
# Bulk jobs per step (records processed, result size), REST and SOAP requests (rows, response size).
DATA_EVENT_TYPES = ("BulkApi2", "BulkApi", "RestApi", "API")
MIB = 1_048_576  # RESULT_SIZE_MB counted in binary megabytes (UNCONFIRMED: the docs say only "MB")


def data_event(org: str, event_type: str, row: dict[str, str], *, file_id: str = "", line: int = 0) -> Row:
    """An ``api_data_events`` row from one BulkApi2 / BulkApi / RestApi / API CSV row.

    Each column is read under the names the event types use (``RECORDS_PROCESSED`` in BulkApi2,
    ``ROWS_PROCESSED`` in the others; ``ENTITY_TYPE`` or ``ENTITY_NAME``; ``JOB_STATUS`` or
    ``STATUS_CODE``). A Bulk job emits one event per step under one REQUEST_ID, so the id adds a
    digest of the job, batch, step and time.
    """
    if row.get("EVENT_TYPE") not in (None, "", event_type):
        raise Malformed(f"not a {event_type} event: {row.get('EVENT_TYPE')!r}")
    request = _s(row, "REQUEST_ID", limit=40) or (f"{file_id}:{line}" if file_id else None)
    if not request:
        raise Malformed("no REQUEST_ID")
    step = "|".join(row.get(k) or "" for k in ("TIMESTAMP", "JOB_ID", "BATCH_ID", "JOB_STATUS", "URI"))
    mb = number(row.get("RESULT_SIZE_MB"))
    size = integer(row.get("RESPONSE_SIZE"))
    return {
        "org": org,
        "event_type": event_type,
        "event_id": f"{request}:{hashlib.sha256(step.encode()).hexdigest()[:20]}",
        "event_time": event_time(row),
        "user_id": (id18(row.get("USER_ID_DERIVED") or row.get("USER_ID") or "") or "")[:18],
        "connected_app_id": (id18(row.get("CONNECTED_APP_ID") or "") or "")[:18],
        "client_name": _s(row, "CLIENT_NAME") or "",
        "client_ip": _s(row, "CLIENT_IP", limit=64) or "",
        "entity": _s(row, "ENTITY_TYPE", "ENTITY_NAME") or "",
        "operation": _s(row, "OPERATION_TYPE", "METHOD", "HTTP_METHOD", limit=40) or "",
        "job_id": (id18(row.get("JOB_ID") or "") or "")[:18],
        "status": _s(row, "JOB_STATUS", "STATUS_CODE", "REQUEST_STATUS", limit=40) or "",
        "rows": integer(row.get("RECORDS_PROCESSED") or row.get("ROWS_PROCESSED")),
        "bytes": round(mb * MIB) if mb is not None else size,
    }
