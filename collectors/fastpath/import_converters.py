"""Fast paths for ``import-csv``: Setup-download, Data Loader and Event Log File records → stage tuples.

Like :mod:`collectors.fastpath.csv_converters` for the Bulk backfill: the declared mapping says
how a record becomes a row (``SetupRows.record`` + ``login_row`` for a Setup download,
``login_row`` for a Data Loader / Workbench export of LoginHistory, ``elf_csv.login_row`` for an
ELF Login file, ``elf_csv.api_event`` for an ApiTotalUsage file, each followed by the time-range
check); a converter
here produces the very same stored values from the CSV cells without the per-record dicts and
datetimes, and raises on any record it is not sure of (a short record, a missing time or id, an
unusual time format), which then takes the declared mapping and its quarantine instead.
``tests/test_import_fastpath.py`` holds them equal on the external fixtures and generated files.

Login tuples are in :data:`collectors.sources.login_history.LOGIN_COLUMNS` order, in the SQLite
bind form that :mod:`collectors.fastpath.stage` stages for either store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from operator import itemgetter
from typing import Any

from collectors.fastpath.csv_converters import BulkTimes, FastConverter, stored_utc
from collectors.sources import elf_csv
from oauthwatch.rules.salesforce_values import id18, tls_protocol
from oauthwatch.time_bounds import check_in_range

_TIMES_KEPT = 100_000  # distinct Login Time texts remembered (a download repeats each minute's)
# The Setup fields the converter reads, in this order; the first eight are the content id's basis
# (collectors.imports.setup_download._ID_BASIS, same order).
SETUP_FIELDS = (
    "Username", "LoginTime", "SourceIp", "Status", "Application", "LoginType", "Browser", "Platform",
    "UserId", "LoginSubType", "LoginUrl", "ClientVersion", "ApiType", "ApiVersion", "TlsProtocol", "CipherSuite",
    "CountryIso", "LoginGeo.Country", "LoginGeo.City", "Location",
)  # fmt: skip


def _cells(at: list[int | None]) -> Callable[[list[str]], Iterator[str]]:
    """The cells at ``at`` of a record, stripped, ``""`` where ``at`` has None: one C-level pass
    (``itemgetter`` and ``map``) instead of a Python loop over the fields of every record."""
    get = itemgetter(*(-1 if i is None else i for i in at))  # -1: the "" appended below
    pad = [""]

    def cells(c: list[str]) -> Iterator[str]:
        return map(str.strip, get(c + pad))

    return cells


def setup_download_converter(
    org: str,
    mapping: dict[int, str],
    width: int,
    parse_time: Callable[[str], datetime],
    natural_id: Callable[[str], str],
    now: datetime,
) -> FastConverter:
    """Setup Login History download cells → a ``logins`` stage tuple (source ``login_history``).

    ``mapping`` is the importer's column index → field; a field mapped twice takes its last column,
    as the importer's record does. ``parse_time`` reads a Login Time in the import's zone;
    ``natural_id`` numbers identical rows and names them (shared with the declared mapping, so the
    two paths number one sequence). Records shorter than the header go the declared way.
    """
    last: dict[str, int] = {}
    for i, name in sorted(mapping.items()):
        last[name] = i
    cells = _cells([last.get(name) for name in SETUP_FIELDS])
    ingested = stored_utc(now)
    times: dict[str, tuple[str, str]] = {}

    def when(raw: str) -> tuple[str, str]:
        hit = times.get(raw)
        if hit is None:
            t = check_in_range(parse_time(raw[:200]), "Login Time")
            if len(times) >= _TIMES_KEPT:
                times.clear()
            hit = times[raw] = (t.isoformat(), stored_utc(t))
        return hit

    def convert(c: list[str]) -> tuple[Any, ...]:
        if len(c) < width:
            raise ValueError("short record")
        # Stripped cells, "" for an empty or missing one: ``v[:n] or None`` is the declared
        # mapping's "empty is None, then cut to the column".
        (user, raw_time, ip, status, app, ltype, browser, platform, uid, sub, url, client, apitype, apiver, tls,
         cipher, iso, country, city, location) = cells(c)  # fmt: skip
        if not raw_time:
            raise ValueError("no Login Time")
        iso_time, stored = when(raw_time)
        if location and not country:
            country = location.split(",")[-1].strip()
        s = status[:255] or None
        return (
            org, "login_history", natural_id("|".join((user, iso_time, ip, status, app, ltype, browser, platform)))[:64],
            stored, uid[:18] or None, user[:255] or None, ltype[:64] or None, sub[:64] or None, s,
            1 if s is not None and s.strip().lower() == "success" else 0, app[:255] or None, ip[:64] or None,
            url[:255] or None, browser[:255] or None, platform[:255] or None, client[:64] or None,
            apitype[:64] or None, apiver[:32] or None, tls[:16] or None, cipher[:64] or None, iso[:3] or None,
            country[:80] or None, None, city[:80] or None, None, None, None, None, ingested,
        )  # fmt: skip

    return convert


def api_export_converter(org: str, mapping: dict[int, str], width: int, now: datetime) -> FastConverter:
    """Data Loader / Workbench export cells (API names) → a ``logins`` stage tuple (``login_history``).

    ``mapping`` is the importer's column index → LoginHistory field (a field mapped twice takes its
    last column, as the importer's record does); every value is stripped, as there. Geography comes
    from ``LoginGeo.*`` columns only when the file has a ``LoginGeo.City`` or ``LoginGeo.Country``
    column (``login_row``'s rule for flat records). A record shorter than the header, without an
    Id, or timed other than ``2024-06-05T05:41:17.000Z`` (year 1700 to 3999) goes the declared way.
    """
    last: dict[str, int] = {}
    for i, name in sorted(mapping.items()):
        last[name] = i
    flat_geo = "LoginGeo.City" in last or "LoginGeo.Country" in last
    fields = ("Id", "LoginTime", "UserId", "Username", "LoginType", "LoginSubType", "Status", "Application",
              "SourceIp", "LoginUrl", "Browser", "Platform", "ClientVersion", "ApiType", "ApiVersion", "TlsProtocol",
              "CipherSuite", "CountryIso", "LoginGeoId")  # fmt: skip
    geo = ("CountryIso", "Country", "Subdivision", "City", "PostalCode", "Latitude", "Longitude")
    cells = _cells(
        [last.get(name) for name in fields] + [last.get(f"LoginGeo.{g}") if flat_geo else None for g in geo]
    )
    ingested = stored_utc(now)
    times = BulkTimes()

    def convert(c: list[str]) -> tuple[Any, ...]:
        if len(c) < width:
            raise ValueError("short record")
        (rid, raw_time, uid, user, ltype, sub, status, app, ip, url, browser, platform, client, apitype, apiver,
         tls, cipher, iso, geo_id, g_iso, g_country, g_subdiv, g_city, g_postal, lat, lon) = cells(c)  # fmt: skip
        if not rid or not raw_time or not "1700" <= raw_time[:4] < "4000":
            raise ValueError("no Id, or a time the declared mapping judges")
        s = status[:255] or None
        return (
            org, "login_history", rid[:64], times(raw_time), uid[:18] or None, user[:255] or None,
            ltype[:64] or None, sub[:64] or None, s, 1 if s is not None and s.strip().lower() == "success" else 0,
            app[:255] or None, ip[:64] or None, url[:255] or None, browser[:255] or None, platform[:255] or None,
            client[:64] or None, apitype[:64] or None, apiver[:32] or None, tls[:16] or None, cipher[:64] or None,
            (iso or g_iso)[:3] or None, g_country[:80] or None, g_subdiv[:80] or None, g_city[:80] or None,
            g_postal[:20] or None, float(lat) if lat else None, float(lon) if lon else None, geo_id[:18] or None,
            ingested,
        )  # fmt: skip

    return convert


def elf_login_converter(org: str, header: list[str], now: datetime) -> FastConverter | None:
    """ELF Login cells (``header`` upper-cased) → a ``logins`` stage tuple (source ``elf_login``).

    None when the header repeats a column or is too short to be a Login file: the declared mapping
    then takes every record. A record without REQUEST_ID, with another event type, or timed other
    than by a ``TIMESTAMP_DERIVED`` of the form ``2024-06-05T05:41:17.937Z`` goes the declared way.
    """
    if len(set(header)) != len(header) or len(header) <= 3:
        return None
    at = {name: i for i, name in enumerate(header)}
    width = len(header)

    def cols(*names: str) -> tuple[int, ...]:
        return tuple(at[n] for n in names if n in at)

    i_type, i_req, i_derived = at.get("EVENT_TYPE"), at.get("REQUEST_ID"), at.get("TIMESTAMP_DERIVED")
    if i_req is None or i_derived is None:
        return None
    i_status, i_rstatus = at.get("LOGIN_STATUS"), at.get("REQUEST_STATUS")
    i_lt, i_lst, i_api = at.get("LOGIN_TYPE"), at.get("LOGIN_SUB_TYPE"), at.get("API_TYPE")
    user, name, app = (
        cols("USER_ID_DERIVED", "USER_ID"),
        cols("USER_NAME"),
        cols("CONNECTED_APP_NAME", "APPLICATION"),
    )
    ip, url, browser, platform = (
        cols("SOURCE_IP", "CLIENT_IP"),
        cols("LOGIN_URL"),
        cols("BROWSER_TYPE"),
        cols("PLATFORM_TYPE"),
    )
    client, apiver, tls, cipher = cols("CLIENT_VERSION"), cols("API_VERSION"), cols("TLS_PROTOCOL"), cols("CIPHER_SUITE")  # fmt: skip
    ingested = stored_utc(now)
    times = BulkTimes()
    status_of, types, subtypes, api_types = elf_csv.LOGIN_STATUS, elf_csv.LOGIN_TYPES, elf_csv.LOGIN_SUB_TYPES, elf_csv.API_TYPES  # fmt: skip

    def first(c: list[str], idx: tuple[int, ...], limit: int = 255) -> str | None:
        for i in idx:
            if c[i]:
                return c[i][:limit]
        return None

    def get(c: list[str], i: int | None) -> str:
        return c[i] if i is not None else ""

    def convert(c: list[str]) -> tuple[Any, ...]:
        if len(c) < width or get(c, i_type) not in ("", "Login"):
            raise ValueError("not a plain Login record")
        rid, derived = c[i_req], c[i_derived]
        if not rid or not "1700" <= derived[:4] < "4000":
            raise ValueError("no REQUEST_ID, or a time the declared mapping judges")
        code = get(c, i_status)
        status = status_of.get(code, code or get(c, i_rstatus) or None)
        success = code == "LOGIN_NO_ERROR" if code else get(c, i_rstatus).lower() in ("success", "s")
        lt, lst, api = get(c, i_lt), get(c, i_lst), get(c, i_api)
        return (
            org, "elf_login", rid[:64], times(derived), id18(first(c, user, 18)), first(c, name),
            types.get(lt, lt) or None, subtypes.get(lst.lower(), lst) or None, status[:255] if status else None,
            1 if success else 0, first(c, app), first(c, ip, 64), first(c, url), first(c, browser),
            first(c, platform), first(c, client, 64), api_types.get(api, api) or None, first(c, apiver, 32),
            tls_protocol(first(c, tls, 16)), first(c, cipher, 64), None, None, None, None, None, None, None, None,
            ingested,
        )  # fmt: skip

    return convert


def elf_api_converter(org: str, header: list[str]) -> FastConverter | None:
    """ELF ApiTotalUsage cells (``header`` upper-cased) → an ``api_usage_events`` stage tuple.

    Equal to ``elf_csv.api_event`` plus the columns' bind processors, in
    :data:`collectors.imports.writer.API_COLUMNS` order. None when the header repeats a column or
    has no REQUEST_ID or TIMESTAMP_DERIVED: the declared mapping then takes every record. A record
    shorter than the header, of another event type, without REQUEST_ID, or timed other than by a
    ``TIMESTAMP_DERIVED`` of the form ``2024-06-05T05:41:17.937Z`` goes the declared way.
    """
    if len(set(header)) != len(header):
        return None
    at = {name: i for i, name in enumerate(header)}
    i_req, i_derived = at.get("REQUEST_ID"), at.get("TIMESTAMP_DERIVED")
    if i_req is None or i_derived is None:
        return None
    width = len(header)
    i_type = at.get("EVENT_TYPE")
    plain = [(at.get(name), n) for name, n in (("CONNECTED_APP_ID", 18), ("CONNECTED_APP_NAME", 255),
             ("CLIENT_NAME", 255), ("API_FAMILY", 20), ("STATUS_CODE", 8))]  # fmt: skip
    after = [(at.get(name), n) for name, n in (("API_RESOURCE", 255), ("ENTITY_NAME", 255), ("HTTP_METHOD", 10),
             ("CLIENT_IP", 64))]  # fmt: skip
    i_user_derived, i_user = at.get("USER_ID_DERIVED"), at.get("USER_ID")
    times = BulkTimes()

    def convert(c: list[str]) -> tuple[Any, ...]:
        if len(c) < width or (i_type is not None and c[i_type] not in ("", "ApiTotalUsage")):
            raise ValueError("not a plain ApiTotalUsage record")
        rid, derived = c[i_req], c[i_derived]
        if not rid or not "1700" <= derived[:4] < "4000":
            raise ValueError("no REQUEST_ID, or a time the declared mapping judges")
        user = (c[i_user_derived] if i_user_derived is not None else "") or (
            c[i_user] if i_user is not None else ""
        )
        return (
            org, rid[:64], times(derived), *(c[i][:n] if i is not None else "" for i, n in plain),
            (id18(user) or "")[:18], *(c[i][:n] if i is not None else "" for i, n in after),
        )  # fmt: skip

    return convert


__all__ = [
    "SETUP_FIELDS",
    "api_export_converter",
    "elf_api_converter",
    "elf_login_converter",
    "setup_download_converter",
]
