"""Collection health: a source lagging, a day collected incompletely, the API budget near its cap.

"Lagging" is :func:`oauthwatch.rules.thresholds.is_lagging` (no successful run for ``lag_minutes``),
the same rule the digest and the dashboard's Collection page apply.

Why it matters: every other detector is only as good as what was collected. A silent collector
makes a quiet dashboard look like good news; a day marked partial means its counts are lower
bounds; an API budget near the daily cap means collection (and the org's other integrations) are
about to be refused.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from oauthwatch.detect.base import Context, Detector, Finding, fmt_int, fmt_time
from oauthwatch.detect.data import Frames
from oauthwatch.detect.needs import Data, needs
from oauthwatch.rules.thresholds import LAG_MINUTES, SUCCESS_OUTCOMES, is_lagging
from oauthwatch.rules.times import as_utc

RUNBOOK = (
    "Open the dashboard's Collection page: last runs, errors, coverage per day, API budget.",
    "For a lagging or failing source, read the last run's error: it says what to fix (credentials, permissions, limits).",
    "For an incomplete day, run `oauthwatch collect --org ORG` again: collection resumes from its checkpoint.",
    "For the API budget, find the app using most calls (Collection page) and lower oauthwatch's run_budget_share if needed.",
)


def _finding(
    ctx: Context, key: str, severity: str, subject: str, title: str, text: str, evidence: dict[str, object]
) -> Finding:
    return Finding(
        detector=DETECTOR.id,
        severity=severity,  # type: ignore[arg-type]
        org=ctx.org,
        subject_type="source",
        subject=subject,
        title=title,
        explanation=text,
        evidence=evidence,
        runbook=RUNBOOK,
        dedupe_key=f"collection_health:{ctx.org}:{key}",
    )


def _progress(frames: Frames) -> dict[str, tuple[datetime | None, str | None]]:
    """Per source: its last progress (newest successful run or checkpoint write) and latest outcome.

    The runs cover the last two days; a checkpoint written earlier still dates the last progress
    of a source that has stopped running.
    """
    out: dict[str, tuple[datetime | None, str | None]] = {}
    for _, cp in frames.checkpoints.iterrows():
        out[str(cp["source"])] = (as_utc(pd.Timestamp(cp["updated_at"]).to_pydatetime()), None)
    runs = frames.runs
    if not runs.empty:
        for source, rows in runs.sort_values("started_at").groupby("source"):
            last, _ = out.get(str(source), (None, None))
            ok = rows[rows["outcome"].isin(SUCCESS_OUTCOMES)]
            if not ok.empty:
                done = ok["finished_at"].fillna(ok["started_at"]).max()
                at = as_utc(pd.Timestamp(done).to_pydatetime())
                last = at if last is None else max(last, at)
            out[str(source)] = (last, str(rows["outcome"].iloc[-1]))
    return out


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    out = []
    lag = timedelta(minutes=int(ctx.get("lag_minutes")))
    for source, (last, outcome) in sorted(_progress(frames).items()):
        if is_lagging(last, outcome, ctx.now, lag):
            since = f"since {fmt_time(last)}" if last is not None else "in the last two days"
            mins = int((ctx.now - last).total_seconds() // 60) if last is not None else None
            out.append(
                _finding(
                    ctx,
                    f"lag:{source}",
                    "medium",
                    source,
                    f"Source {source} is lagging",
                    f"{source} has had no successful run {since}"
                    + (f" ({fmt_int(mins)} minutes)" if mins is not None else "")
                    + "; events since then are not in the store yet.",
                    {"source": source} | ({"minutes_behind": mins} if mins is not None else {}),
                )
            )
    runs = frames.runs
    if not runs.empty:
        for source_key, rows in runs.groupby("source"):
            source = str(source_key)
            tail = rows.sort_values("started_at")["outcome"].tail(int(ctx.get("failed_runs")))
            if len(tail) == int(ctx.get("failed_runs")) and (tail == "failed").all():
                err = str(rows.sort_values("started_at")["error"].iloc[-1] or "")
                out.append(
                    _finding(
                        ctx,
                        f"failing:{source}",
                        "medium",
                        str(source),
                        f"Source {source} keeps failing",
                        f"The last {len(tail)} runs of {source} failed; the latest error: {err[:300]}",
                        {"source": str(source), "failed_runs": len(tail), "error": err[:300]},
                    )
                )
    cov = frames.coverage
    if not cov.empty:  # a source that sees only the integration user's own rows, today included
        own = cov[cov["note"].fillna("").astype(str).str.startswith("own rows only")]
        for source_key, grp in own.groupby("source"):
            source = str(source_key)
            newest = grp.sort_values("day").iloc[-1]
            out.append(
                _finding(
                    ctx,
                    f"visibility:{source}",
                    "medium",
                    str(source),
                    f"{source} is partial: it sees only the integration user's own rows",
                    f"{source} was collected as partial (own rows only) on {len(grp)} day(s) up to {newest['day']}: "
                    f"{newest['note']}. Its counts miss every other user; `oauthwatch check` names the permission "
                    "and where to grant it.",
                    {
                        "source": str(source),
                        "days": len(grp),
                        "last_day": str(newest["day"]),
                        "note": str(newest["note"]),
                    },
                )
            )
    if not cov.empty:
        today = ctx.now.date()
        recent = cov[
            (cov["day"] < today) & (cov["day"] >= today - timedelta(days=int(ctx.get("coverage_days"))))
        ]
        for _, c in recent[recent["status"].isin(["partial", "missing"])].iterrows():
            out.append(
                _finding(
                    ctx,
                    f"coverage:{c['source']}:{c['day']}",
                    "low",
                    str(c["source"]),
                    f"{c['source']} for {c['day']} is {c['status']}",
                    f"Collection of {c['source']} for {c['day']} is {c['status']} ({fmt_int(c['rows'] or 0)} rows). "
                    f"Counts for that day are lower bounds. {c['note'] or ''}".strip(),
                    {
                        "source": str(c["source"]),
                        "day": str(c["day"]),
                        "status": str(c["status"]),
                        "rows": int(c["rows"] or 0),
                    },
                )
            )
    lim = frames.limits
    if not lim.empty:
        for _, r in lim[lim["name"] == "DailyApiRequests"].iterrows():
            if not r["max"]:
                continue
            used = (r["max"] - r["remaining"]) / r["max"]
            if used >= float(ctx.get("budget_warn")):
                sev = "high" if used >= float(ctx.get("budget_high")) else "medium"
                out.append(
                    _finding(
                        ctx,
                        "api_budget",
                        sev,
                        "DailyApiRequests",
                        f"API budget {used:.0%} used",
                        f"The org has used {fmt_int(r['max'] - r['remaining'])} of its {fmt_int(r['max'])} daily API "
                        f"requests ({used:.0%}); at the cap Salesforce refuses every API call, oauthwatch's and other integrations'.",
                        {
                            "used": int(r["max"] - r["remaining"]),
                            "max": int(r["max"]),
                            "used_share": round(float(used), 3),
                        },
                    )
                )
    return out


DETECTOR = Detector(
    id="collection_health",
    title="Collection health",
    severity="medium",
    description="A source lagging or failing, a day collected incompletely, the API budget near its cap.",
    runbook=RUNBOOK,
    fn=_detect,
    defaults={
        "lag_minutes": LAG_MINUTES,
        "failed_runs": 3,
        "coverage_days": 3,
        "budget_warn": 0.8,
        "budget_high": 0.95,
    },
    replayable=False,
    needs=needs(Data.LEDGER),
)
