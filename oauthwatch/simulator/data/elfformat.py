"""Event Log File CSV: columns, field types, Salesforce's codes and one-row renderers.

The Login header starts with the real column order of a captured Login file (the mock Salesforce
server of the public elastic/integrations repository, ``packages/salesforce/_dev/deploy``) and adds the
documented LOGIN_TYPE, LOGIN_SUB_TYPE, LOGIN_URL, AUTHENTICATION_SERVICE_ID and FORWARDED_FOR_IP.
Values are always double-quoted; quotes inside values are doubled. Everything a row shows that is
not in LoginHistory (request ids, session keys, timings) is derived from a hash of the row's Id, so
a file renders to the same bytes every time.
"""

from __future__ import annotations

import binascii
import hashlib
from datetime import UTC, datetime

from oauthwatch.simulator.data.ids import suffix

LOGIN_FIELDS = (
    ("EVENT_TYPE", "String"), ("TIMESTAMP", "String"), ("REQUEST_ID", "String"), ("ORGANIZATION_ID", "Id"),
    ("USER_ID", "Id"), ("RUN_TIME", "Number"), ("CPU_TIME", "Number"), ("URI", "String"),
    ("SESSION_KEY", "String"), ("LOGIN_KEY", "String"), ("USER_TYPE", "String"), ("REQUEST_STATUS", "String"),
    ("DB_TOTAL_TIME", "Number"), ("BROWSER_TYPE", "String"), ("API_TYPE", "String"), ("API_VERSION", "String"),
    ("USER_NAME", "String"), ("TLS_PROTOCOL", "String"), ("CIPHER_SUITE", "String"),
    ("AUTHENTICATION_METHOD_REFERENCE", "String"), ("TIMESTAMP_DERIVED", "DateTime"), ("USER_ID_DERIVED", "Id"),
    ("CLIENT_IP", "IP"), ("URI_ID_DERIVED", "Id"), ("LOGIN_STATUS", "String"), ("SOURCE_IP", "IP"),
    ("LOGIN_TYPE", "String"), ("LOGIN_SUB_TYPE", "String"), ("LOGIN_URL", "String"),
    ("AUTHENTICATION_SERVICE_ID", "Id"), ("FORWARDED_FOR_IP", "IP"),
)  # fmt: skip
API_FIELDS = (
    ("EVENT_TYPE", "String"), ("TIMESTAMP", "String"), ("REQUEST_ID", "String"), ("ORGANIZATION_ID", "Id"),
    ("USER_ID", "Id"), ("USER_NAME", "String"), ("API_FAMILY", "String"), ("API_VERSION", "String"),
    ("API_RESOURCE", "String"), ("HTTP_METHOD", "String"), ("STATUS_CODE", "Number"), ("ENTITY_NAME", "String"),
    ("CLIENT_NAME", "String"), ("CLIENT_IP", "IP"), ("CONNECTED_APP_ID", "Id"), ("CONNECTED_APP_NAME", "String"),
    ("COUNTS_AGAINST_API_LIMIT", "Boolean"), ("TIMESTAMP_DERIVED", "DateTime"),
)  # fmt: skip
# The licensed types that say how much moved (docs/salesforce-behaviour.md §8): the documented
# columns the product reads, and a few more; a real file has more columns (read by header).
BULK2_FIELDS = (
    ("EVENT_TYPE", "String"), ("TIMESTAMP", "String"), ("REQUEST_ID", "String"), ("ORGANIZATION_ID", "Id"),
    ("USER_ID", "Id"), ("RUN_TIME", "Number"), ("CPU_TIME", "Number"), ("URI", "String"),
    ("JOB_ID", "String"), ("JOB_STATUS", "String"), ("OPERATION_TYPE", "String"), ("ENTITY_TYPE", "String"),
    ("RECORDS_PROCESSED", "Number"), ("RECORDS_FAILED", "Number"), ("RESULT_SIZE_MB", "Number"),
    ("CLIENT_IP", "IP"), ("TIMESTAMP_DERIVED", "DateTime"), ("USER_ID_DERIVED", "Id"),
)  # fmt: skip
REST_FIELDS = (
    ("EVENT_TYPE", "String"), ("TIMESTAMP", "String"), ("REQUEST_ID", "String"), ("ORGANIZATION_ID", "Id"),
    ("USER_ID", "Id"), ("RUN_TIME", "Number"), ("CPU_TIME", "Number"), ("URI", "String"), ("METHOD", "String"),
    ("STATUS_CODE", "Number"), ("ENTITY_NAME", "Set"), ("ROWS_PROCESSED", "Number"), ("RESPONSE_SIZE", "Number"),
    ("CLIENT_NAME", "String"), ("CLIENT_IP", "IP"), ("CONNECTED_APP_ID", "Id"), ("TIMESTAMP_DERIVED", "DateTime"),
    ("USER_ID_DERIVED", "Id"),
)  # fmt: skip
FIELDS = {
    "Login": LOGIN_FIELDS,
    "ApiTotalUsage": API_FIELDS,
    "BulkApi2": BULK2_FIELDS,
    "RestApi": REST_FIELDS,
}
ROW_BYTES = 180  # what one exported record weighs in a result or response (local org's model)

LOGIN_TYPE_CODES = {
    "Remote Access 2.0": "i", "Remote Access Client": "6", "Application": "A", "Other Apex API": "I",
    "SAML Idp Initiated SSO": "5", "SAML Sfdc Initiated SSO": "8", "Third Party SSO": "j",
    "Lightning Login": "z", "Certificate-based login": "s", "Partner Product": "R", "AppExchange": "7",
}  # fmt: skip
# LoginSubType label → the Login file's LOGIN_SUB_TYPE code, Salesforce's documented table
# (docs/salesforce-behaviour.md §5): oauthtoken is the User-Agent flow. The refresh-token, JWT and
# token-exchange flows have no documented code and are written empty (UNCONFIRMED what a real org
# writes); uipwdrst is not in the table either (UNCONFIRMED).
LOGIN_SUB_TYPE_CODES = {
    "UI Username-Password": "uiup", "OAuth Username-Password": "oauthpassword",
    "OAuth User-Agent": "oauthtoken", "OAuth User-Agent for Hybrid Apps": "oauthhybridtoken",
    "OAuth User-Agent with ID Token": "oauthtokenidtoken", "OAuth Client Credentials": "oauthclientcredential",
    "OAuth Web Server": "oauthcode", "OAuth Web Server for Hybrid Apps": "oauthhybridauthcode",
    "UI Password Reset": "uipwdrst",
}  # fmt: skip
API_TYPE_CODES = {
    "SOAP Enterprise": "E", "SOAP Partner": "P", "SOAP Metadata": "M", "SOAP Tooling": "T", "SOAP Apex": "S",
    "Apex Class": "D", "Feed": "f",
}  # fmt: skip
LOGIN_STATUS_CODES = {
    "success": "LOGIN_NO_ERROR",
    "failed: oauth api access disabled": "LOGIN_OAUTH_API_DISABLED",
    "failed: consumer deleted": "LOGIN_OAUTH_CONSUMER_DELETED",
    "failed: get access token limit exceeded": "LOGIN_OAUTH_EXCEED_GET_AT_LMT",
    "failed: invalid code challenge": "LOGIN_OAUTH_INVALID_CODE_CHALLENGE",
    "failed: invalid code verifier": "LOGIN_OAUTH_INVALID_CODE_VERIFIER",
    "failed: device id missing or not registered": "LOGIN_OAUTH_INVALID_DEVICE",
    "failed: signature invalid": "LOGIN_OAUTH_INVALID_DSIG",
    "failed: ip address not allowed": "LOGIN_OAUTH_INVALID_IP",
    "failed: invalid nonce": "LOGIN_OAUTH_INVALID_NONCE",
    "failed: invalid timestamp": "LOGIN_OAUTH_INVALID_TIMESTAMP",
    "failed: invalid token": "LOGIN_OAUTH_INVALID_TOKEN",
    "failed: invalid verifier": "LOGIN_OAUTH_INVALID_VERIFIER",
    "failed: invalid callback url": "LOGIN_OAUTH_NO_CALLBACK_URL",
    "missing consumer key parameter": "LOGIN_OAUTH_NO_CONSUMER",
    "failed: nonce replay detected": "LOGIN_OAUTH_NONCE_REPLAY",
    "failed: unexpected parameter": "LOGIN_OAUTH_UNEXPECTED_PARAM",
    "invalid password": "LOGIN_ERROR_INVALID_PASSWORD",
    "password lockout": "LOGIN_ERROR_PASSWORD_LOCKOUT",
    "restricted ip": "LOGIN_ERROR_RESTRICTED_DOMAIN",
    "restricted time": "LOGIN_ERROR_RESTRICTED_TIME",
    "user is inactive": "LOGIN_ERROR_USER_INACTIVE",
    "user is frozen": "LOGIN_ERROR_USER_FROZEN",
    "failed: api security token required": "LOGIN_ERROR_MUST_USE_API_TOKEN",
    "failed: computer activation required": "LOGIN_CHALLENGE_ISSUED",
    "failed: api-only user": "LOGIN_ERROR_USER_API_ONLY",
    "login rate exceeded": "LOGIN_ERROR_RATE_EXCEEDED",
    "restricted country": "LOGIN_ERROR_EXPORT_RESTRICTED",
}
_UA = {
    "Chrome": "Mozilla/5.0 ({os}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    "Edge": "Mozilla/5.0 ({os}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.0.0",
    "Firefox": "Mozilla/5.0 ({os}; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    "Safari": "Mozilla/5.0 ({os}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{v}.0 Safari/605.1.15",
}
_OS = {
    "Windows 10": "Windows NT 10.0; Win64; x64",
    "Mac OSX": "Macintosh; Intel Mac OS X 10_15_7",
    "Linux": "X11; Linux x86_64",
}


def header(event_type: str) -> str:
    return ",".join(name for name, _ in FIELDS[event_type])


def field_types(event_type: str) -> str:
    return ",".join(kind for _, kind in FIELDS[event_type])


def header_line(event_type: str) -> bytes:
    return (",".join(f'"{name}"' for name, _ in FIELDS[event_type]) + "\n").encode()


def line(values: list[str]) -> bytes:
    """One CSV record, every value double-quoted (quotes doubled)."""
    joined = "\x00".join(values)
    if '"' in joined:
        joined = joined.replace('"', '""')
    return ('"' + joined.replace("\x00", '","') + '"\n').encode()


_DAYS: dict[int, tuple[str, str]] = {}


def _parts(ms: int) -> tuple[str, str, int, int, int, int]:
    """(YYYYMMDD, YYYY-MM-DD, h, m, s, ms) of epoch ms in UTC; days are cached (rows come in time order)."""
    day, rest = divmod(ms, 86_400_000)
    hit = _DAYS.get(day)
    if hit is None:
        if len(_DAYS) > 4096:
            _DAYS.clear()
        d = datetime.fromtimestamp(day * 86_400, tz=UTC)
        hit = _DAYS[day] = (d.strftime("%Y%m%d"), d.strftime("%Y-%m-%d"))
    sec, milli = divmod(rest, 1000)
    h, rem = divmod(sec, 3600)
    m, s = divmod(rem, 60)
    return hit[0], hit[1], h, m, s, milli


def timestamps(ms: int) -> tuple[str, str]:
    """(TIMESTAMP, TIMESTAMP_DERIVED) of one instant."""
    ymd, iso_day, h, m, s, milli = _parts(ms)
    return f"{ymd}{h:02d}{m:02d}{s:02d}.{milli:03d}", f"{iso_day}T{h:02d}:{m:02d}:{s:02d}.{milli:03d}Z"


def timestamp(ms: int) -> str:
    """``20130715233322.670``."""
    ymd, _, h, m, s, milli = _parts(ms)
    return f"{ymd}{h:02d}{m:02d}{s:02d}.{milli:03d}"


def timestamp_derived(ms: int) -> str:
    """``2015-07-27T11:32:59.555Z``."""
    _, iso_day, h, m, s, milli = _parts(ms)
    return f"{iso_day}T{h:02d}:{m:02d}:{s:02d}.{milli:03d}Z"


def user_agent(browser: str | None, platform: str | None) -> str:
    if not browser or browser == "Unknown":
        return "Unknown"
    name, _, version = browser.partition(" ")
    template = _UA.get(name)
    if template is None:
        return browser
    return template.format(os=_OS.get(platform or "", "Windows NT 10.0; Win64; x64"), v=version or "131")


def digest(key: str, size: int = 32) -> bytes:
    return hashlib.blake2b(key.encode(), digest_size=size).digest()


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def token(raw: bytes, n: int) -> str:
    """``n`` URL-safe base64 characters of ``raw`` (opaque request ids and keys)."""
    return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE)[:n].decode()


def login_values(row: tuple, org15: str) -> list[str]:
    """ELF Login values for one LoginHistory row joined with the user's name.

    ``row`` = (Id, UserId, LoginTime, LoginType, LoginSubType, SourceIp, LoginUrl, Status, Browser,
    Platform, ApiType, ApiVersion, TlsProtocol, CipherSuite, Username).
    """
    (
        lid,
        uid,
        t,
        ltype,
        sub,
        ip,
        url,
        status,
        browser,
        platform,
        api_type,
        _api_version,
        tls,
        cipher,
        uname,
    ) = row
    h = digest(lid)
    ok = status == "Success"
    ui = ltype == "Application"
    ts, ts_derived = timestamps(t)
    return [
        "Login", ts, token(h[:16], 22), org15, (uid or "")[:15], str(40 + h[16] % 160), str(10 + h[17] % 60),
        "/index.jsp" if ui else "/services/oauth2/token", token(h[18:30], 16) if ok else "", token(h[4:16], 16),
        "Standard", "Success" if ok else "Failed", str(20_000_000 + int.from_bytes(h[20:24], "big") % 60_000_000),
        user_agent(browser, platform), "f" if ui else API_TYPE_CODES.get(api_type or "", ""), "9998.0" if ui else "",
        uname or "", (tls or "").replace("TLS ", "TLSv"), cipher or "", "", ts_derived, uid or "",
        ip or "", token(h[8:22], 18), LOGIN_STATUS_CODES.get((status or "").lower(), "LOGIN_ERROR_UNKNOWN_ERROR"),
        ip or "", LOGIN_TYPE_CODES.get(ltype, ""), LOGIN_SUB_TYPE_CODES.get(sub or "", ""), url or "", "", "",
    ]  # fmt: skip


_RESOURCES = {
    "REST": (("GET", "/v62.0/query", ""), ("GET", "/v62.0/sobjects/{e}/describe", "{e}"), ("PATCH", "/v62.0/sobjects/{e}", "{e}"),
             ("POST", "/v62.0/composite/sobjects", "{e}"), ("GET", "/v62.0/limits", "")),
    "Bulk": (("POST", "/v62.0/jobs/ingest", "{e}"), ("GET", "/v62.0/jobs/ingest/{e}", "{e}"), ("PUT", "/v62.0/jobs/ingest/batches", "{e}")),
    "SOAP": (("POST", "query", "{e}"), ("POST", "update", "{e}"), ("POST", "create", "{e}")),
}  # fmt: skip
_ENTITIES = ("Account", "Contact", "Opportunity", "Case", "Lead", "Quote")
# (method, resource, entity) per family and byte value, formatted once.
_CALLS = {
    fam: [
        (
            m,
            r.format(e=_ENTITIES[(b >> 3) % len(_ENTITIES)]),
            e.format(e=_ENTITIES[(b >> 3) % len(_ENTITIES)]),
        )
        for b in range(256)
        for m, r, e in [res[b % len(res)]]
    ]
    for fam, res in _RESOURCES.items()
}
CALLS_PER_LOGIN = {
    "integration": (2, 6),
    "user": (1, 3),
    "mobile": (1, 4),
    "dataloader": (2, 8),
    "legacy": (1, 3),
    "oauthwatch": (1, 3),
}


def api_values(row: tuple, org15: str, hour_end_ms: int) -> list[list[str]]:
    """ApiTotalUsage rows made by one successful OAuth login (its calls stay within the login's hour).

    ``row`` = (Id, UserId, LoginTime, SourceIp, Application, Username, AppId, Kind, FullName).
    """
    lid, uid, t, ip, app, uname, app_id, kind, full_name = row
    h = digest("api:" + lid, 64)
    lo, hi = CALLS_PER_LOGIN.get(kind or "", (1, 3))
    count = lo + h[0] % (hi - lo + 1)
    family = "Bulk" if kind == "dataloader" and h[1] % 2 else "SOAP" if kind == "legacy" else "REST"
    out = []
    span = max(1, hour_end_ms - t)
    calls = _CALLS[family]
    org_user = (uid or "")[:15]
    app15 = (app_id or "")[:15]
    for i in range(count):
        b = h[(2 + i) % 64]
        method, resource, entity = calls[b]
        when = t + (i * 997 + b * 131) % span
        status = (
            "400"
            if b == 7
            else "201"
            if method == "POST" and family == "REST"
            else "204"
            if method == "PATCH"
            else "200"
        )
        ts, ts_derived = timestamps(when)
        k = (i * 3) % 48
        out.append(
            ["ApiTotalUsage", ts, token(h[k : k + 16], 22), org15, org_user, uname or "",
             family, "62.0", resource, method, status, entity, full_name or "", ip or "", app15, app or "", "true", ts_derived]
        )  # fmt: skip
    return out


def rest_values(api: list[str]) -> list[str] | None:
    """The RestApi row of one REST ApiTotalUsage row (``API_FIELDS`` order), None for other families.

    The same request as ApiTotalUsage logs it (REQUEST_ID, user, app, address, object), with how
    much it returned: a query its rows, a record read one, a describe or listing none; the
    response size follows (deterministic from the request id).
    """
    (_t, ts, rid, org15, uid, _u, family, _v, res, method, status, entity, client, ip, app15, _a, _c,
     ts_derived) = api  # fmt: skip
    if family != "REST":
        return None
    h = digest("rest:" + rid, 8)
    tail = res.rstrip("/").rsplit("/", 2)
    if tail[-1] in ("query", "queryAll"):
        rows = 1 + (h[0] * 256 + h[1]) % 2000
    elif len(tail) == 3 and tail[-2] == entity and entity:  # /sobjects/Account/001…
        rows = 1
    else:
        rows = 0
    size = rows * ROW_BYTES + 400 + h[2] * 40
    return ["RestApi", ts, rid, org15, uid, str(20 + h[3] % 200), str(10 + h[4] % 90), res, method, status,
            entity, str(rows), str(size), client, ip, app15, ts_derived, _derived_id(uid)]  # fmt: skip


def bulk2_values(
    rid: str,
    t: int,
    org15: str,
    uid: str,
    job_id: str,
    status: str,
    operation: str,
    entity: str,
    records: int | None,
    ip: str,
) -> list[str]:
    """One BulkApi2 event: a job step (its status), with the records processed once complete."""
    ts, ts_derived = timestamps(t)
    rows = "" if records is None else str(records)
    size = "" if records is None else f"{records * ROW_BYTES / 1_048_576:.3f}"
    return ["BulkApi2", ts, rid, org15, uid[:15], "35", "12", f"/services/data/v62.0/jobs/query/{job_id[:15]}",
            job_id[:15], status, operation, entity, rows, "0" if records is not None else "", size, ip, ts_derived,
            _derived_id(uid)]  # fmt: skip


def _derived_id(uid: str) -> str:
    """USER_ID_DERIVED: the user's 18-character Id."""
    return uid[:15] + suffix(uid[:15]) if len(uid) >= 15 else uid
