"""LoginHistory (+ LoginGeo through the relationship): every login, incremental on (LoginTime, Id).

LoginHistory filters only on a short list of fields (reference §1.1), so the query's WHERE uses
``LoginTime`` alone; ``Status`` (not filterable) is interpreted here. Rows go to ``logins`` under
``source='login_history'``; the hourly rollup is recomputed for the hours a page touched when
LoginHistory is the org's primary login source; users seen for the first time are read from
``User`` at the end of the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import select

from collectors.sources.base import (
    Context,
    IncrementalSource,
    Malformed,
    Record,
    Row,
    boolean,
    bulk_upsert,
    fetch_all,
    get,
    number,
    parse_dt,
    record_id,
    soql_str,
    text,
)
from oauthwatch.store import schema
from oauthwatch.store.writes import refresh_login_rollup, upsert, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

GEO = ("City", "Country", "CountryIso", "Subdivision", "PostalCode", "Latitude", "Longitude")


def login_row(
    org: str, source: str, natural_id: str | None, rec: Record, *, geo_prefix: str = "LoginGeo."
) -> Row:
    """The ``logins`` row of a LoginHistory-shaped record (LoginHistory, LoginEvent, CSV imports)."""
    if not natural_id:
        raise Malformed("no Id")
    when = parse_dt(get(rec, "LoginTime") or get(rec, "EventDate"))
    if when is None:
        raise Malformed("no LoginTime")
    status = text(get(rec, "Status"), 255)

    def geo(field: str) -> Any:
        v = get(rec, geo_prefix + field) if geo_prefix else None
        return v if v is not None else None

    country_iso = text(get(rec, "CountryIso") or geo("CountryIso"), 3)
    return {
        "org": org,
        "source": source,
        "natural_id": str(natural_id)[:64],
        "login_time": when,
        "user_id": text(get(rec, "UserId"), 18),
        "username": text(get(rec, "Username"), 255),
        "login_type": text(get(rec, "LoginType"), 64),
        "login_subtype": text(get(rec, "LoginSubType"), 64),
        "status": status,
        "success": (status or "").strip().lower() == "success",
        "application": text(get(rec, "Application"), 255),
        "source_ip": text(get(rec, "SourceIp"), 64),
        "login_url": text(get(rec, "LoginUrl"), 255),
        "browser": text(get(rec, "Browser"), 255),
        "platform": text(get(rec, "Platform"), 255),
        "client_version": text(get(rec, "ClientVersion"), 64),
        "api_type": text(get(rec, "ApiType"), 64),
        "api_version": text(get(rec, "ApiVersion"), 32),
        "tls_protocol": text(get(rec, "TlsProtocol"), 16),
        "cipher_suite": text(get(rec, "CipherSuite"), 64),
        "country_iso": country_iso,
        "country": text(geo("Country") or get(rec, "Country"), 80),
        "subdivision": text(geo("Subdivision") or get(rec, "Subdivision"), 80),
        "city": text(geo("City") or get(rec, "City"), 80),
        "postal_code": text(geo("PostalCode") or get(rec, "PostalCode"), 20),
        "latitude": number(geo("Latitude") if geo("Latitude") is not None else get(rec, "LoginLatitude")),
        "longitude": number(geo("Longitude") if geo("Longitude") is not None else get(rec, "LoginLongitude")),
        "login_geo_id": text(get(rec, "LoginGeoId"), 18),
        "ingested_at": utcnow(),
    }


def refresh_rollup_if_primary(ctx: Context, conn: Connection, source: str, rows: list[Row]) -> None:
    """Keep ``login_rollup_hourly`` exact for the hours ``rows`` touched (primary source only)."""
    if ctx.org_settings.primary_login_source == source:
        refresh_login_rollup(conn, ctx.org, source, {r["login_time"] for r in rows})


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

    def to_row(self, ctx: Context, record: Record) -> Row | None:
        return login_row(ctx.org, self.name, record_id(record), record)

    def write(self, ctx: Context, conn: Connection, rows: list[Row]) -> None:
        update = [c for c in rows[0] if c not in (*self.key, "ingested_at")]
        bulk_upsert(conn, self.table, rows, key=list(self.key), update=update)

    def coverage_filter(self, ctx: Context) -> list[Any]:
        return [self.table.c.org == ctx.org, self.table.c.source == self.name]

    def after_write(self, ctx: Context, conn: Connection, rows: list[Row]) -> None:
        refresh_rollup_if_primary(ctx, conn, self.name, rows)

    def finish(self, ctx: Context) -> None:
        fill_users(ctx)
