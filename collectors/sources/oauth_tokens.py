"""OauthToken: a snapshot per day of every OAuth grant, read past the 2,500-row cap.

OauthToken returns at most 2,500 rows per query (500 per page; docs/architecture.md, "Salesforce facts the code relies on"), so the snapshot is
read in slices keyed on ``UserId`` (``WHERE UserId >= :last ORDER BY UserId … LIMIT 2500``): a full
slice keeps only the users it holds completely and the next slice starts at the last, partly
read user. ``COUNT()`` first tells whether the slices added up; if not, the day is ``partial``.

The day's snapshot is replaced as a whole in one transaction with its checkpoint, so it is always
one consistent reading, which the detectors compare day to day (new, dormant and stale grants).
``DeleteToken`` is stored only as its sha256 fingerprint.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import delete

from collectors.api.client import QueryLocatorExpired
from collectors.sources.base import Context, Permission, Writes
from collectors.sources.grant_power import collect_power
from collectors.sources.snapshot import DailySnapshotSource, Reading
from collectors.sources.values import Malformed, Record, Row, get, integer, parse_dt, soql_str, text
from oauthwatch.secrets import fingerprint
from oauthwatch.store import schema
from oauthwatch.store.writes import upsert, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

CAP = 2500
FIELDS = "UserId, AppName, CreatedDate, LastUsedDate, UseCount, AppMenuItemId, DeleteToken"


def token_row(org: str, day: date, rec: Record, seen_at: datetime) -> Row:
    """One snapshot row; the DeleteToken leaves this function only as a hash."""
    user, app, created = get(rec, "UserId"), get(rec, "AppName"), parse_dt(get(rec, "CreatedDate"))
    if not user or not app or created is None:
        raise Malformed("grant without UserId, AppName or CreatedDate")
    delete_token = get(rec, "DeleteToken")
    return {
        "org": org,
        "snapshot_day": day,
        "user_id": str(user)[:18],
        "app_name": str(app)[:255],
        "created_date": created,
        "app_menu_item_id": text(get(rec, "AppMenuItemId"), 18),
        "last_used_date": parse_dt(get(rec, "LastUsedDate")),
        "use_count": integer(get(rec, "UseCount")),
        "delete_token_hash": fingerprint(str(delete_token)) if delete_token else None,
        "seen_at": seen_at,
    }


def read_all_grants(ctx: Context) -> tuple[list[Record], int]:
    """Every OauthToken record (slices of < 2,500) and the org's COUNT()."""
    total = ctx.client.count("SELECT COUNT() FROM OauthToken")
    out: list[Record] = []
    last_user: str | None = None
    while True:
        ctx.check_stop()
        where = f" WHERE UserId >= {soql_str(last_user)}" if last_user else ""
        soql = f"SELECT {FIELDS} FROM OauthToken{where} ORDER BY UserId ASC, AppName ASC, CreatedDate ASC LIMIT {CAP}"
        batch = _read(ctx, soql)
        if len(batch) < CAP:
            out.extend(batch)
            return out, total
        boundary = get(batch[-1], "UserId")
        complete = [r for r in batch if get(r, "UserId") != boundary]
        if not complete:  # one user holds 2,500+ grants: read that user app by app
            out.extend(_one_user(ctx, str(boundary)))
            last_user = _next_after(ctx, str(boundary))
            if last_user is None:
                return out, total
            continue
        out.extend(complete)
        last_user = str(boundary)


def _read(ctx: Context, soql: str, tries: int = 5) -> list[Record]:
    """All rows of one slice; an expired locator just reads the slice again (it is < 2,500 rows)."""
    for attempt in range(tries):
        try:
            return list(ctx.client.query(soql, batch_size=500))
        except QueryLocatorExpired:
            if attempt == tries - 1:
                raise
            ctx.stats.notes.append("query locator expired; slice read again")
    return []


def _one_user(ctx: Context, user: str) -> list[Record]:
    rows: list[Record] = []
    last_app: str | None = None
    while True:
        extra = f" AND AppName > {soql_str(last_app)}" if last_app else ""
        apps = list(
            ctx.client.query(
                f"SELECT AppName FROM OauthToken WHERE UserId = {soql_str(user)}{extra} ORDER BY AppName ASC LIMIT 1"
            )
        )
        if not apps:
            return rows
        last_app = str(get(apps[0], "AppName"))
        rows.extend(
            _read(
                ctx,
                f"SELECT {FIELDS} FROM OauthToken WHERE UserId = {soql_str(user)} AND AppName = {soql_str(last_app)}",
            )
        )


def _next_after(ctx: Context, user: str) -> str | None:
    nxt = list(
        ctx.client.query(
            f"SELECT UserId FROM OauthToken WHERE UserId > {soql_str(user)} ORDER BY UserId ASC LIMIT 1"
        )
    )
    return str(get(nxt[0], "UserId")) if nxt else None


class OauthTokensSource(DailySnapshotSource[tuple[list[Record], int]]):
    """OauthToken → ``oauth_token_snapshots`` (one consistent snapshot per day)."""

    name: ClassVar[str] = "oauth_tokens"
    counted: ClassVar[tuple[str, ...]] = ("oauth_token_snapshots",)
    label: ClassVar[str] = "OauthToken"
    object: ClassVar[str | None] = "OauthToken"
    probe_field: ClassVar[str] = "UserId"  # OauthToken.Id is always null
    min_api_version: ClassVar[tuple[float, str]] = (32.0, "the OauthToken object")
    permission: ClassVar[Permission | None] = Permission(
        "CustomizeApplication",
        "Customize Application",
        "every user's OAuth grants (without it, only its own)",
        "https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_objects_oauthtoken.htm",
        without_it="own_rows",
    )
    writes: ClassVar[tuple[Writes, ...]] = (
        ("oauth_token_snapshots", ("org", "snapshot_day", "user_id", "app_name", "created_date")),
        ("user_power", ("org", "user_id")),  # the grant holders' power (grant_power)
    )

    skip_note: ClassVar[str] = "today's snapshot is recent (collect.token_snapshot_minutes)"

    def __init__(self) -> None:
        super().__init__()
        self.holders: list[str] = []

    def due(self, ctx: Context, cursor: dict[str, Any] | None) -> bool:
        """A new day, a forced run, an incomplete or old enough reading: read again."""
        if ctx.forced or not cursor or cursor.get("day") != ctx.run_start.date().isoformat():
            return True
        taken = parse_dt(cursor.get("taken_at"))
        every = timedelta(minutes=ctx.collect.token_snapshot_minutes)
        return taken is None or ctx.run_start - taken >= every or not cursor.get("complete", False)

    def read(self, ctx: Context) -> tuple[list[Record], int]:
        """Every grant past the 2,500-row cap, and the org's ``COUNT()``."""
        return read_all_grants(ctx)

    def store(self, ctx: Context, conn: Connection, data: tuple[list[Record], int]) -> Reading:
        """Replace today's snapshot as a whole; a short reading is kept, and said to be short."""
        records, total = data
        day = ctx.run_start.date()
        seen = utcnow()
        rows: dict[tuple[Any, ...], Row] = {}
        for rec in records:
            try:
                row = token_row(ctx.org, day, rec, seen)
            except Malformed as exc:
                raw = {k: v for k, v in rec.items() if k not in ("attributes", "DeleteToken")}
                ctx.quarantine(conn, self.name, str(exc), raw, None)
                continue
            rows[(row["user_id"], row["app_name"], row["created_date"])] = row
        self.holders = sorted({r["user_id"] for r in rows.values()})
        t = schema.oauth_token_snapshots.c
        conn.execute(delete(schema.oauth_token_snapshots).where(t.org == ctx.org, t.snapshot_day == day))
        upsert(
            conn, schema.oauth_token_snapshots, list(rows.values()), key=list(self.writes[0][1]), update=None
        )
        complete = len(records) == total
        cursor = {
            "day": day.isoformat(),
            "taken_at": seen.isoformat(),
            "rows": len(rows),
            "count": total,
            "complete": complete,
        }
        return Reading(
            cursor,
            read=len(records),
            written=len(rows),
            covered=len(rows),
            complete=complete,
            gap=f"{len(rows)} of {total} grants read",
            notes=[] if complete else [f"read {len(records)} grants but COUNT() said {total}"],
        )

    def after_store(self, ctx: Context) -> None:
        """The grants' blast radius: their holders' power (:mod:`collectors.sources.grant_power`)."""
        ctx.stats.notes.extend(collect_power(ctx, self.holders))
