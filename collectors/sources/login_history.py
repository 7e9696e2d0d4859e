"""LoginHistory (+ LoginGeo through the relationship): every login, incremental on (LoginTime, Id).

LoginHistory filters only on a short list of fields (docs/architecture.md, "Salesforce facts the code relies on"), so the query's WHERE uses
``LoginTime`` alone; ``Status`` (not filterable) is interpreted here. Rows go to ``logins`` under
``source='login_history'``; the hourly rollup is recomputed for the hours a page touched when
LoginHistory is the org's primary login source; users seen for the first time are read from
``User`` at the end of the run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from sqlalchemy import select

from collectors.sources.base import Context, Permission
from collectors.sources.incremental import IncrementalSource
from collectors.sources.paging import fetch_all
from collectors.sources.values import (
    Malformed,
    Record,
    Row,
    boolean,
    get,
    number,
    parse_dt,
    record_id,
    soql_str,
    text,
)
from oauthwatch.store import schema
from oauthwatch.store.writes import upsert, utcnow

GEO = ("City", "Country", "CountryIso", "Subdivision", "PostalCode", "Latitude", "Longitude")


def login_row(
    org: str,
    source: str,
    natural_id: str | None,
    rec: Record,
    *,
    geo_prefix: str = "LoginGeo.",
    now: Any = None,
) -> Row:
    """The ``logins`` row of a LoginHistory-shaped record (LoginHistory, LoginEvent, CSV imports).

    Hot path of every backfill (a million calls): plain ``dict.get`` on the record and its nested
    ``LoginGeo`` object, flat ``LoginGeo.City`` keys for CSV rows.
    """
    if not natural_id:
        raise Malformed("no Id")
    f = rec.get
    nested = f("LoginGeo") if geo_prefix else None
    g: Callable[[str], Any]
    if isinstance(nested, Mapping):
        g = nested.get
    elif (geo_prefix and f(geo_prefix + "City", _MISSING) is not _MISSING) or f(
        geo_prefix + "Country", _MISSING
    ) is not _MISSING:

        def flat(k: str, _p: str = geo_prefix) -> Any:
            return f(_p + k)

        g = flat
    else:

        def top_level(k: str) -> Any:  # LoginEvent: geo fields are top-level (City, Country, LoginLatitude…)
            return None

        g = top_level

    when = parse_dt(f("LoginTime") or f("EventDate"))
    if when is None:
        raise Malformed("no LoginTime")
    status = text(f("Status"), 255)
    lat, lon = g("Latitude"), g("Longitude")
    return {
        "org": org,
        "source": source,
        "natural_id": str(natural_id)[:64],
        "login_time": when,
        "user_id": text(f("UserId"), 18),
        "username": text(f("Username"), 255),
        "login_type": text(f("LoginType"), 64),
        "login_subtype": text(f("LoginSubType"), 64),
        "status": status,
        "success": status is not None and status.strip().lower() == "success",
        "application": text(f("Application"), 255),
        "source_ip": text(f("SourceIp"), 64),
        "login_url": text(f("LoginUrl"), 255),
        "browser": text(f("Browser"), 255),
        "platform": text(f("Platform"), 255),
        "client_version": text(f("ClientVersion"), 64),
        "api_type": text(f("ApiType"), 64),
        "api_version": text(f("ApiVersion"), 32),
        "tls_protocol": text(f("TlsProtocol"), 16),
        "cipher_suite": text(f("CipherSuite"), 64),
        "country_iso": text(f("CountryIso") or g("CountryIso"), 3),
        "country": text(g("Country") or f("Country"), 80),
        "subdivision": text(g("Subdivision") or f("Subdivision"), 80),
        "city": text(g("City") or f("City"), 80),
        "postal_code": text(g("PostalCode") or f("PostalCode"), 20),
        "latitude": number(lat if lat is not None else f("LoginLatitude")),
        "longitude": number(lon if lon is not None else f("LoginLongitude")),
        "login_geo_id": text(f("LoginGeoId"), 18),
        "ingested_at": now or utcnow(),
    }


_MISSING = object()

LOGIN_COLUMNS = [
    "org", "source", "natural_id", "login_time", "user_id", "username", "login_type", "login_subtype",
    "status", "success", "application", "source_ip", "login_url", "browser", "platform", "client_version",
    "api_type", "api_version", "tls_protocol", "cipher_suite", "country_iso", "country", "subdivision",
    "city", "postal_code", "latitude", "longitude", "login_geo_id", "ingested_at",
]  # fmt: skip  # the keys of login_row, in its order


def fill_users(ctx: Context) -> None:
    """Read ``User`` for every user id in ``logins`` that ``users`` does not know yet."""
    lg, us = schema.logins.c, schema.users.c
    with ctx.engine.connect() as conn:
        known = select(us.user_id).where(us.org == ctx.org)
        missing = [
            r[0]
            for r in conn.execute(
                select(lg.user_id)
                .where(lg.org == ctx.org, lg.user_id.is_not(None), lg.user_id.not_in(known))
                .distinct()
            )
        ]
    for i in range(0, len(missing), 200):
        ids = ", ".join(soql_str(u) for u in missing[i : i + 200])
        rows = [
            {
                "org": ctx.org,
                "user_id": rec["Id"],
                "username": text(rec.get("Username"), 255),
                "name": text(rec.get("Name"), 255),
                "email": text(rec.get("Email"), 255),
                "is_active": boolean(rec.get("IsActive")),
                "user_type": text(rec.get("UserType"), 40),
                "profile": text(get(rec, "Profile.Name"), 255),
                "updated_at": utcnow(),
            }
            for rec in fetch_all(
                ctx,
                f"SELECT Id, Username, Name, Email, IsActive, UserType, Profile.Name FROM User WHERE Id IN ({ids})",
            )
        ]
        with ctx.engine.begin() as conn:
            upsert(conn, schema.users, rows, key=["org", "user_id"], update=None)


class LoginHistorySource(IncrementalSource):
    """LoginHistory with LoginGeo, into ``logins`` (source ``login_history``)."""

    name: ClassVar[str] = "login_history"
    label: ClassVar[str] = "LoginHistory"
    object: ClassVar[str] = "LoginHistory"
    min_api_version: ClassVar[tuple[float, str]] = (37.0, "LoginHistory.CountryIso")
    permission: ClassVar[Permission | None] = Permission(
        "ManageUsers",
        "Manage Users",
        "every user's LoginHistory rows (without it, since API 37.0, only its own rows)",
        "https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_objects_loginhistory.htm",
        alternatives=("MonitorLoginHistory",),
        without_it="own_rows",
    )
    fields: ClassVar[tuple[str, ...]] = (
        "Id", "UserId", "LoginTime", "LoginType", "LoginSubType", "SourceIp", "LoginUrl", "Status",
        "Application", "Browser", "Platform", "ClientVersion", "ApiType", "ApiVersion", "CountryIso",
        "LoginGeoId", "TlsProtocol", "CipherSuite", *(f"LoginGeo.{g}" for g in GEO),
    )  # fmt: skip
    cursor_field: ClassVar[str] = "LoginTime"
    table = schema.logins
    key: ClassVar[tuple[str, ...]] = ("org", "source", "natural_id")
    time_column: ClassVar[str] = "login_time"
    bulk_ok: ClassVar[bool] = True
    rollup_source: ClassVar[str | None] = "login_history"
    login_source: ClassVar[str | None] = "login_history"

    def to_row(self, ctx: Context, record: Record) -> Row | None:
        return login_row(ctx.org, self.name, record.get("Id") or record_id(record), record, now=ctx.run_start)

    keep_on_update: ClassVar[tuple[str, ...]] = ("ingested_at",)
    row_columns: ClassVar[list[str]] = LOGIN_COLUMNS

    def coverage_filter(self, ctx: Context) -> list[Any]:
        return [self.table.c.org == ctx.org, self.table.c.source == self.name]

    def finish(self, ctx: Context) -> None:
        fill_users(ctx)
