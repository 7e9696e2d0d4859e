"""Unusual export volume for an app: far more data-reading API calls in an hour than its rhythm allows.

Why it matters: a stolen token used to pull an org out reads far more than the integration ever
did, in queries and in Bulk result pages. Each app's hourly count of data-reading calls
(ApiTotalUsage calls on ``/query``, ``/queryAll`` and ``/jobs/query…``) is judged by the same volume
model as logins (:mod:`oauthwatch.detect.volume_judge`: weekly or daily rhythm, recent level,
negative binomial spread, earlier anomalies kept out of the baseline); a spike in the last
``lookback_hours`` is reported with the Bulk jobs and rows of that hour where the job listings
have them. Hours before the first and after the last stored ApiTotalUsage call are unknown, never
zero (Event Log Files arrive hours late). The hour in progress is judged on what it holds so far.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from oauthwatch.detect.base import Context, Detector, Finding, fmt_int, fmt_time
from oauthwatch.detect.data import Frames
from oauthwatch.detect.findings import finding
from oauthwatch.detect.needs import Data, needs
from oauthwatch.detect.volume_judge import Judgement, Params, judge

RUNBOOK = (
    "Open the app's page: data movement shows what the calls read (objects, Bulk jobs and rows) and from where.",
    "Ask the app's owner whether a backfill or migration ran in that hour.",
    "If not: `oauthwatch incident --app APP` for the evidence, `oauthwatch revoke --app APP` (dry run first), "
    "and follow docs/incident-response.md.",
)
STEP = pd.Timedelta(hours=1)


def _judged(frames: Frames, ctx: Context) -> dict[str, tuple[pd.DatetimeIndex, np.ndarray, Judgement, str]]:
    """Every app's series over the whole load, judged once and kept for every view of it.

    The model is causal (a point is judged only from the points before it), so judging the whole
    load once gives each hour the verdict a run at that hour would give.
    """
    key = f"export_volume:{ctx.get('threshold')}:{ctx.get('min_volume')}"
    if key in frames.extra:
        return frames.extra[key]
    hourly = frames.extra.get("api_query_hourly")
    known = frames.extra.get("api_known_span")
    out: dict[str, tuple[pd.DatetimeIndex, np.ndarray, Judgement, str]] = {}
    if hourly is not None and not hourly.empty and known:
        grid = pd.date_range(pd.Timestamp(known[0]).floor("h"), pd.Timestamp(known[1]).floor("h"), freq=STEP)
        params = Params(threshold=float(ctx.get("threshold")), min_volume=float(ctx.get("min_volume")))
        for app, rows in hourly.groupby("app"):
            counts = rows.groupby("hour")["calls"].sum().astype(float)
            values = counts.reindex(grid, fill_value=0.0).to_numpy(dtype=float)
            name = str(rows["app_name"].dropna().iloc[0]) if rows["app_name"].notna().any() else str(app)
            out[str(app)] = (grid, values, judge(values, STEP, grid[0], params), name or str(app))
    frames.extra[key] = out
    return out


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    now = pd.Timestamp(ctx.now)
    since = now - timedelta(hours=float(ctx.get("lookback_hours")))
    jobs = frames.extra.get("bulk_jobs")
    out = []
    for app, (grid, values, j, name) in _judged(frames, ctx).items():
        # hours in the lookback that ended, and the one in progress when this view is the load's end
        # (a replay at an earlier instant would otherwise see the rest of that hour)
        upto = now if now >= frames.extra.get("api_loaded_until", now) else now.floor("h")
        hours = np.nonzero((grid >= since.floor("h")) & (grid < upto) & j.spike)[0]
        if not len(hours):
            continue
        i = int(hours[np.argmax(values[hours])])
        hour = grid[i]
        rows = None
        if jobs is not None and not jobs.empty:
            mine = jobs[(jobs["created_date"] >= hour) & (jobs["created_date"] < hour + STEP)]
            rows = (
                int(pd.to_numeric(mine["records"], errors="coerce").fillna(0).sum())
                if not mine.empty
                else None
            )
        out.append(
            finding(
                DETECTOR,
                ctx,
                subject=name,
                title=f"{name}: {fmt_int(values[i])} data-reading calls in an hour (usually {fmt_int(j.expected[i])})",
                explanation=(
                    f"{name} made {fmt_int(values[i])} data-reading API calls (queries, Bulk query jobs and "
                    f"their result pages) in the hour from {fmt_time(hour.to_pydatetime())}, against "
                    f"{fmt_int(j.expected[i])} expected from its rhythm (usual range {fmt_int(np.nan_to_num(j.low[i]))}"
                    f"–{fmt_int(np.nan_to_num(j.high[i]))})"
                    + (f"; Bulk jobs created that hour processed {fmt_int(rows)} rows" if rows else "")
                    + ". Far more reading than the app ever does is what an export with stolen tokens looks like."
                ),
                evidence={
                    "app": name,
                    "hour": hour.isoformat(),
                    "calls": int(values[i]),
                    "expected": round(float(j.expected[i]), 1),
                    "score": round(float(j.score[i]), 1),
                    "bulk_rows": rows if rows is not None else "not listed",
                    "weeks_of_history": int(j.have[i]),
                },
                key=app,
                span=(hour, hour + STEP),
            )
        )
    return out


DETECTOR = Detector(
    id="export_volume",
    title="Unusual export volume",
    severity="high",
    description="An app's data-reading API calls (queries, Bulk query jobs, result pages) in an hour far above its rhythm.",
    runbook=RUNBOOK,
    fn=_detect,
    defaults={"lookback_hours": 6, "threshold": 6.0, "min_volume": 20},
    clears_after=timedelta(days=1),
    needs=needs(Data.EXFIL),
)
