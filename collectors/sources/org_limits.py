"""Org limits: a ``/limits`` reading each run, plus every ``Sforce-Limit-Info`` header seen.

The header readings come from the budget governor (one per response); they are stored at the end
of each org's cycle by :func:`store_header_readings`, one row per second and limit (the last one
wins), so the Collection page can draw API usage through the day.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from collectors.sources.base import Context, Permission, Writes
from collectors.sources.snapshot import DailySnapshotSource, Reading
from oauthwatch.store import schema
from oauthwatch.store.writes import upsert, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from collectors.api.budget import LimitReading

KEY = ["org", "read_at", "name"]


def limit_rows(org: str, body: dict[str, Any], read_at: datetime) -> list[dict[str, Any]]:
    """Rows of a /limits body: each limit, and the per-app entries nested under it."""
    rows = []
    for name, val in body.items():
        if not isinstance(val, dict) or "Max" not in val:
            continue
        rows.append(
            {
                "org": org,
                "read_at": read_at,
                "name": name[:120],
                "max": int(val["Max"]),
                "remaining": int(val.get("Remaining", 0)),
                "origin": "limits",
            }
        )
        for sub, sval in val.items():
            if isinstance(sval, dict) and "Max" in sval:
                rows.append(
                    {
                        "org": org,
                        "read_at": read_at,
                        "name": f"{name}.{sub}"[:120],
                        "max": int(sval["Max"]),
                        "remaining": int(sval.get("Remaining", 0)),
                        "origin": "limits",
                    }
                )
    return rows


def store_header_readings(engine: Engine, org: str, readings: list[LimitReading]) -> int:
    """Store ``Sforce-Limit-Info`` readings (one per second and limit)."""
    dedup: dict[tuple[datetime, str], dict[str, Any]] = {}
    for r in readings:
        at = r.read_at.replace(microsecond=0)
        dedup[(at, r.name)] = {
            "org": org,
            "read_at": at,
            "name": r.name[:120],
            "max": r.max,
            "remaining": r.remaining,
            "origin": "header",
        }
    if dedup:
        with engine.begin() as conn:
            upsert(
                conn, schema.org_limits, list(dedup.values()), key=KEY, update=["max", "remaining", "origin"]
            )
    return len(dedup)


class OrgLimitsSource(DailySnapshotSource[dict[str, Any]]):
    """GET /limits → ``org_limits`` (origin ``limits``)."""

    name: ClassVar[str] = "org_limits"
    counted: ClassVar[tuple[str, ...]] = ("org_limits",)
    label: ClassVar[str] = "Limits"
    min_api_version: ClassVar[tuple[float, str]] = (29.0, "the limits resource")
    permission: ClassVar[Permission | None] = Permission(
        "ViewSetup",
        "View Setup and Configuration",
        "the org's limits (GET /limits)",
        "https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_limits.htm",
    )
    writes: ClassVar[tuple[Writes, ...]] = (("org_limits", tuple(KEY)),)

    def read(self, ctx: Context) -> dict[str, Any]:
        """The ``/limits`` body."""
        return ctx.client.limits()

    def store(self, ctx: Context, conn: Connection, data: dict[str, Any]) -> Reading:
        """One row per limit (and per app entry nested under one), at this second."""
        at = utcnow().replace(microsecond=0)
        rows = limit_rows(ctx.org, data, at)
        upsert(conn, schema.org_limits, rows, key=KEY, update=["max", "remaining", "origin"])
        cursor = {"read_at": at.isoformat(), "limits": len(rows)}
        return Reading(cursor, read=len(rows), written=len(rows), covered=len(rows), covers_day=bool(rows))
