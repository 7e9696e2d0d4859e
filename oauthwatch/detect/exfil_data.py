"""The data the exfiltration detectors read: Bulk job calls, reconnaissance around them, export
volume per app and hour, and the org's Bulk job listings; loaded once per detector run.

All of it is loaded here, in one function, so the three detectors (``recon_then_export``,
``export_volume``, ``bulk_job_deleted``) stay pure and their data needs are stated in one place.
Reconnaissance calls are common (any REST integration describes objects), so only those of the
apps that created a Bulk query job in the span are read, around their exports; the volume series
is aggregated per hour in the store. Frames carry the result in ``extra`` under the names below.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import func, or_, select

from oauthwatch.detect.store_read import read_frame, time_col
from oauthwatch.rules.api_calls import call_kind, job_id_of
from oauthwatch.store import schema
from oauthwatch.store.writes import _hour_trunc

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

RECON_SPAN = timedelta(hours=6)  # how long before an export its reconnaissance is looked for
CALL_COLUMNS = ("event_time", "app", "app_name", "user_id", "api_family", "api_resource", "http_method",
                "entity_name", "client_ip")  # fmt: skip
JOB_COLUMNS = ("job_id", "job_type", "operation", "object", "created_by", "created_date", "system_modstamp",
               "state", "records", "gone_at")  # fmt: skip


def _app_key() -> Any:
    """An app is its 15-character id where ApiTotalUsage gives one, else its name."""
    t = schema.api_usage_events
    return func.coalesce(func.nullif(func.substr(t.c.connected_app_id, 1, 15), ""), t.c.connected_app_name)


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _classified(calls: pd.DataFrame) -> pd.DataFrame:
    """The calls with their kind and job id (:mod:`oauthwatch.rules.api_calls`), computed once per load."""
    kinds = [call_kind(str(r), str(m), str(e or "")) for r, m, e in
             zip(calls["api_resource"], calls["http_method"], calls["entity_name"], strict=True)]  # fmt: skip
    return calls.assign(kind=pd.Series(kinds, index=calls.index, dtype=object),
                        job=pd.Series([job_id_of(str(r)) for r in calls["api_resource"]], index=calls.index, dtype=object))  # fmt: skip


def _calls(conn: Connection, org: str, *conds: Any) -> pd.DataFrame:
    t = schema.api_usage_events
    app = _app_key()
    stmt = (
        select(time_col(conn, t.c.event_time), app.label("app"), t.c.connected_app_name.label("app_name"),
               t.c.user_id, t.c.api_family, t.c.api_resource, t.c.http_method, t.c.entity_name, t.c.client_ip)
        .where(t.c.org == org, *conds)
        .order_by(t.c.event_time)
    )  # fmt: skip
    df = read_frame(conn, stmt, ("event_time",))
    return df if not df.empty else _empty(CALL_COLUMNS)


def load_exfil_frames(engine: Engine, org: str, start: datetime, end: datetime) -> dict[str, object]:
    """What the exfiltration detectors need to judge ``org`` at any instant of ``[start, end)``
    (``start`` already includes the history the baselines need)."""
    t, b = schema.api_usage_events, schema.bulk_jobs
    with engine.connect() as conn:
        span = (t.c.event_time >= start, t.c.event_time < end)
        jobs = _classified(_calls(conn, org, *span, t.c.api_resource.contains("/jobs/")))
        creators = jobs[jobs["kind"] == "bulk_query_create"]
        recon = _empty(CALL_COLUMNS)
        if not creators.empty:
            apps = sorted(set(creators["app"]))
            lo = creators["event_time"].min().to_pydatetime() - RECON_SPAN
            hi = creators["event_time"].max().to_pydatetime()
            recon = _calls(
                conn, org, t.c.event_time >= lo, t.c.event_time < hi, _app_key().in_(apps),
                or_(t.c.api_resource.contains("/sobjects"), t.c.api_resource.contains("/limits"),
                    t.c.api_resource.contains("/query")),
                ~t.c.api_resource.contains("/jobs/"),
            )  # fmt: skip
        hour, app = _hour_trunc(conn, t.c.event_time), _app_key()
        hourly = read_frame(
            conn,
            select(time_col(conn, hour.label("hour")), app.label("app"), func.max(t.c.connected_app_name).label("app_name"),
                   func.count().label("calls"))
            .where(t.c.org == org, *span, t.c.api_resource.contains("/query"))
            .group_by(hour, app),
            ("hour",),
        )  # fmt: skip
        known = conn.execute(
            select(func.min(t.c.event_time), func.max(t.c.event_time)).where(t.c.org == org, *span)
        ).first()
        bulk = read_frame(
            conn,
            select(*(time_col(conn, b.c[c]) if c in ("created_date", "system_modstamp", "gone_at") else b.c[c]
                     for c in JOB_COLUMNS))
            .where(b.c.org == org, b.c.created_date >= start, b.c.created_date < end),
            ("created_date", "system_modstamp", "gone_at"),
        )  # fmt: skip
    return {
        "api_job_calls": jobs,
        "api_recon_calls": _classified(recon),
        "api_query_hourly": hourly,
        "api_loaded_until": pd.Timestamp(end),
        "api_known_span": tuple(pd.to_datetime(list(known), utc=True))
        if known and known[0] is not None
        else None,
        "bulk_jobs": bulk if not bulk.empty else _empty(JOB_COLUMNS),
    }
