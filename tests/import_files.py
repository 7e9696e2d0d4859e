"""CSV files as each export path writes them, for the import tests (deterministic content)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

BASE = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
API_HEADER = ["EVENT_TYPE", "TIMESTAMP", "REQUEST_ID", "ORGANIZATION_ID", "USER_ID", "USER_NAME", "API_FAMILY",
              "API_VERSION", "API_RESOURCE", "HTTP_METHOD", "STATUS_CODE", "ENTITY_NAME", "CLIENT_NAME", "CLIENT_IP",
              "CONNECTED_APP_ID", "CONNECTED_APP_NAME", "COUNTS_AGAINST_API_LIMIT", "TIMESTAMP_DERIVED"]  # fmt: skip
LOGIN_HEADER = ["EVENT_TYPE", "TIMESTAMP", "REQUEST_ID", "USER_ID", "USER_NAME", "TIMESTAMP_DERIVED",
                "USER_ID_DERIVED", "CLIENT_IP", "LOGIN_STATUS", "SOURCE_IP", "LOGIN_TYPE", "API_TYPE"]  # fmt: skip
UI_HEADER = ["Username", "Login Time", "Source IP", "Login Type", "Status", "Browser", "Platform", "Application",
             "Client Version", "API Type", "API Version", "Login URL"]  # fmt: skip
DL_HEADER = [
    "ID",
    "USERID",
    "LOGINTIME",
    "LOGINTYPE",
    "SOURCEIP",
    "STATUS",
    "APPLICATION",
    "LOGINGEO.COUNTRY",
]


def _csv(header: list[str], rows: list[list[str]], quote_all: bool = True) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def api_rows(n: int, start: datetime = BASE) -> list[list[str]]:
    out = []
    for i in range(n):
        t = start + timedelta(seconds=37 * i)
        out.append(["ApiTotalUsage", t.strftime("%Y%m%d%H%M%S.000"), f"REQ{i:08d}", "00D000000000001", "005000000000001",
                    "ann@example.com", "REST", "62.0", "/services/data/v62.0/query", "GET", "200" if i % 7 else "401",
                    "Account", "", "192.0.2.10", "0H4000000000001", f"App {i % 3}", "true",
                    t.strftime("%Y-%m-%dT%H:%M:%S.000Z")])  # fmt: skip
    return out


def api_file(n: int, start: datetime = BASE) -> str:
    return _csv(API_HEADER, api_rows(n, start))


def elf_login_rows(n: int, start: datetime = BASE) -> list[list[str]]:
    out = []
    for i in range(n):
        t = start + timedelta(seconds=53 * i)
        out.append(["Login", t.strftime("%Y%m%d%H%M%S.000"), f"LREQ{i:08d}", "005000000000001", f"u{i % 9}@example.com",
                    t.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "005000000000001AAA", "192.0.2.10",
                    "LOGIN_NO_ERROR" if i % 5 else "LOGIN_ERROR_INVALID_PASSWORD", "192.0.2.10", "i", ""])  # fmt: skip
    return out


def elf_login_file(n: int, start: datetime = BASE) -> str:
    return _csv(LOGIN_HEADER, elf_login_rows(n, start))


def ui_rows(n: int, start: datetime = BASE) -> list[list[str]]:
    out = []
    for i in range(n):
        t = start + timedelta(minutes=i // 3)
        out.append([f"u{i % 11}@example.com", t.strftime("%m/%d/%Y %I:%M %p"), f"198.51.100.{i % 200}",
                    "Remote Access 2.0", "Success" if i % 6 else "Invalid Password", "Unknown", "Unknown",
                    f"App {i % 4}", "N/A", "N/A", "N/A", "login.salesforce.com"])  # fmt: skip
    return out


def ui_file(n: int, start: datetime = BASE) -> str:
    return _csv(UI_HEADER, ui_rows(n, start), quote_all=False)


def dl_rows(n: int, start: datetime = BASE) -> list[list[str]]:
    return [
        [f"0Ya{i:015d}", "005000000000001AAA", (start + timedelta(seconds=41 * i)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
         "Remote Access 2.0", "192.0.2.11", "Success", "Integration A", "France"]
        for i in range(n)
    ]  # fmt: skip


def dl_file(n: int, start: datetime = BASE) -> str:
    return _csv(DL_HEADER, dl_rows(n, start))


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
