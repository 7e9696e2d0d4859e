"""Collection health: a source lagging, a day collected incompletely, the API budget near its cap.

Why it matters: every other detector is only as good as what was collected. A silent collector
makes a quiet dashboard look like good news; a day marked partial means its counts are lower
bounds; an API budget near the daily cap means collection (and the org's other integrations) are
about to be refused.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from oauthwatch.detect.base import Context, Detector, Finding, fmt_int, fmt_time
from oauthwatch.detect.data import Frames

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


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    now = pd.Timestamp(ctx.now)
    out = []
    lag = pd.Timedelta(minutes=int(ctx.get("lag_minutes")))
    for _, cp in frames.checkpoints.iterrows():
        at = pd.Timestamp(cp["updated_at"])
        if now - at > lag:
            mins = int((now - at).total_seconds() // 60)
            out.append(
                _finding(
                    ctx,
                    f"lag:{cp['source']}",
                    "medium",
                    str(cp["source"]),
                    f"Source {cp['source']} is lagging",
                    f"{cp['source']} has not advanced since {fmt_time(at.to_pydatetime())} ({fmt_int(mins)} minutes); "
                    "events since then are not in the store yet.",
                    {"source": str(cp["source"]), "minutes_behind": mins},
                )
            )
    runs = frames.runs
    if not runs.empty:
        for source, rows in runs.groupby("source"):
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
        "lag_minutes": 90,
        "failed_runs": 3,
        "coverage_days": 3,
        "budget_warn": 0.8,
        "budget_high": 0.95,
    },
    replayable=False,
)
