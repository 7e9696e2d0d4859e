"""Setup's Login History download: its UI labels, its dates, stable ids, and rows the API delivered.

The download's exact headers are unconfirmed (docs/salesforce-behaviour.md §6), so labels are
matched loosely (case, spaces and punctuation ignored). Login Time is read in the UI's date formats, in ``--timezone``
unless the value names its zone. The rows carry no Id, so each gets one from its content
(identical rows in one file are numbered), which makes re-importing the file add nothing; a row
the API already delivered (same minute, IP, status and application) is not stored twice
(:mod:`collectors.imports.writer` leaves it out).
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from collectors.sources.values import Malformed, parse_dt

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
_ID_BASIS = ("Username", "LoginTime", "SourceIp", "Status", "Application", "LoginType", "Browser", "Platform")
# Identical rows are numbered within this many distinct rows of each other (a download is sorted by
# time, so identical rows are neighbours); the bound keeps memory flat on any file size.
_NUMBERING_WINDOW = 65_536


_US_TIME = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2})(?::(\d{2}))? ?([AP]M)?")


@lru_cache(maxsize=65_536)
def parse_ui_time(value: str, tz: ZoneInfo) -> datetime:
    """A Setup UI date (``11/29/2026 9:05 AM``, optionally followed by a zone) as aware UTC.

    Cached: a download repeats each minute's text for every login of that minute. The US shape
    (Setup's own) is read by one regular expression; the other formats go through ``strptime``.
    """
    s = value.strip()
    m = _US_TIME.fullmatch(s)
    if m is not None and int(m.group(1)) <= 12:
        mo, d, y, hh, mi, ss, ampm = m.groups()
        hour = int(hh)
        if ampm is not None:
            if not 1 <= hour <= 12:
                raise Malformed(f"unreadable Login Time {value[:80]!r}")
            hour = hour % 12 + (12 if ampm == "PM" else 0)
        try:
            naive = datetime(int(y), int(mo), int(d), hour, int(mi), int(ss or 0))  # noqa: DTZ001 - zone below
            return naive.replace(tzinfo=tz).astimezone(UTC)
        except ValueError:
            raise Malformed(f"unreadable Login Time {value[:80]!r}") from None
        except OverflowError:
            raise Malformed(f"Login Time {value[:80]!r} is out of range") from None
    zone = tz
    m = re.match(r"^(.*?)\s+([A-Za-z]{1,5}|[+-]\d{2}:?\d{2})$", s)
    if m and m.group(2).upper() not in ("AM", "PM"):
        s, z = m.group(1), m.group(2)
        if z.upper() in _ZONES:
            zone = ZoneInfo(_ZONES[z.upper()])
        elif z[0] in "+-":
            sign = 1 if z[0] == "+" else -1
            hh, mm = int(z[1:3]), int(z[-2:])
            naive = _strptime(s, value)
            try:
                return (naive - sign * timedelta(hours=hh, minutes=mm)).replace(tzinfo=UTC)
            except OverflowError:
                raise Malformed(f"Login Time {value!r} is out of range") from None
        else:
            raise Malformed(f"unknown time zone {z!r} in {value!r}: pass --timezone and strip it")
    if "T" in s:
        try:
            iso = parse_dt(s)
        except Malformed:
            iso = None
        if iso is not None:
            return iso
    try:
        return _strptime(s, value).replace(tzinfo=zone).astimezone(UTC)
    except OverflowError:
        raise Malformed(f"Login Time {value!r} is out of range") from None


def _strptime(s: str, original: str) -> datetime:
    for fmt in UI_FORMATS:
        try:
            return datetime.strptime(s, fmt)  # noqa: DTZ007 - the zone is applied by the caller
        except ValueError:
            continue
    raise Malformed(f"unreadable Login Time {original[:80]!r}")


class SetupRows:
    """Turns download records into LoginHistory-shaped records with a stable content id."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.seen: OrderedDict[str, int] = OrderedDict()

    def record(self, rec: dict[str, Any]) -> dict[str, Any]:
        raw_time = rec.get("LoginTime")
        if not raw_time:
            raise Malformed("no Login Time")
        when = parse_ui_time(str(raw_time)[:200], self.tz)
        rec = dict(rec)
        rec["LoginTime"] = when.isoformat()
        if rec.get("Location") and not rec.get("LoginGeo.Country"):
            rec["LoginGeo.Country"] = str(rec["Location"]).split(",")[-1].strip()
        rec["Id"] = self.natural_id("|".join(str(rec.get(k) or "") for k in _ID_BASIS))
        return rec

    def natural_id(self, basis: str) -> str:
        """The stable id of the next row with this content (identical rows in one file are distinct
        logins: they are numbered); the fast converter names its rows through it too."""
        n = self.seen.pop(basis, 0) + 1
        self.seen[basis] = n
        if len(self.seen) > _NUMBERING_WINDOW:
            self.seen.popitem(last=False)
        return "csv:" + hashlib.sha256(f"{basis}#{n}".encode()).hexdigest()[:40]
