"""Volume spike or drop, per connected app and for the whole org.

Why it matters: a runaway integration burns the API budget and the concurrent-token cap; a
stolen refresh token replayed in bulk shows as a spike; a silent drop means an integration
stopped (expired certificate, revoked grant, broken deploy) before anyone complains.

How: the app's (or org's) counts in whole hours ending at the evaluation time, over the loaded
history, are judged by the same model as
:func:`oauthwatch.detect.volume_model.volume_anomalies` (:mod:`oauthwatch.detect.volume_judge`):
weekly or daily rhythm, recent level, a negative binomial spread, a verdict only beyond the
swings the app makes every day, and earlier anomalies kept out of the baseline. Only the last
hour's verdict is reported. A spike names the IP that carried most of it and says whether that
IP was seen for the app before.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from oauthwatch.detect.base import Context, Detector, Finding, fmt_int, fmt_time
from oauthwatch.detect.data import Frames
from oauthwatch.detect.needs import Data, needs, weeks_of
from oauthwatch.detect.series import bucket_counts
from oauthwatch.detect.volume_judge import Params, judge_many

RUNBOOK = (
    "Open the app's page on the dashboard and compare this hour with the same hour last week.",
    "Check which users and IPs carry the change (Investigate → this window, group by IP and user).",
    "For a spike: ask the app's owner whether a backfill or deploy is running; if not, treat the top IP as suspect and consider revoking the app's tokens.",
    "For a drop: check recent failures for the app (certificate, revoked grant, IP restrictions) and its collector coverage.",
)


def _busy_apps(frames: Frames, now: pd.Timestamp) -> set[str]:
    """Apps with logins in the last day (raw where loaded, else the hourly rollup)."""
    day = pd.Timedelta(days=1)
    if frames.raw_start is None or frames.raw_start <= now - day:
        return set(frames.recent(day.to_pytimedelta())["application"].unique())
    totals = frames.app_totals()
    hours = totals["hour"]
    recent = totals[(hours + pd.Timedelta(hours=1) > now - day) & (hours < now) & (totals["events"] > 0)]
    return set(recent["application"]) | set(frames.recent(day.to_pytimedelta())["application"].unique())


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    step = pd.Timedelta(hours=1)
    now = pd.Timestamp(ctx.now)
    weeks = int(ctx.get("weeks"))
    hist_start = pd.Timestamp(ctx.now - frames.history)
    params = Params(
        weeks=weeks,
        threshold=float(ctx.get("threshold")),
        min_volume=float(ctx.get("min_volume")),
        rel_floor=float(ctx.get("rel_floor")),
        mature_weeks=int(ctx.get("mature_weeks")),
        drop_ratio=float(ctx.get("drop_ratio")),
    )
    window = frames.recent(step.to_pytimedelta())
    groups: list[tuple[str, str, str | None, pd.DataFrame, pd.Timestamp]] = []
    if ctx.get("per_app"):
        # Apps busy in the last day: a stopped app has no events in the window, yet must be judged.
        win_by_app = dict(tuple(window.groupby("application")))
        for app in sorted(_busy_apps(frames, now)):
            first = frames.app_first_seen.get(app)
            if not app or first is None or pd.isna(first) or now - first < pd.Timedelta(days=7) + step:
                continue
            win = win_by_app.get(app, window.iloc[0:0])
            groups.append(("app", app, app, win, max(first, hist_start)))
    first_org = frames.org_first_seen
    if ctx.get("per_org") and first_org is not None and now - first_org >= pd.Timedelta(days=7) + step:
        groups.append(("org", ctx.org, None, window, max(first_org, hist_start)))
    findings: list[Finding] = []
    series = [
        (g, counts)
        for g in groups
        if len(counts := bucket_counts(frames, now=now, step=step, start=g[4], app=g[2])) >= 2
    ]
    # Every series at once: one model run over all apps costs little more than one app's.
    verdicts = judge_many([c for _, c in series], step, [now - len(c) * step for _, c in series], params)
    for ((subject_type, subject, _app, win, _start), counts), j in zip(series, verdicts, strict=True):
        drop = bool(j.drop[-1]) and ctx.covered  # an hour nobody collected is not a drop
        if not (j.spike[-1] or drop):
            continue
        row = pd.Series(
            {
                "timestamp": now - step,
                "observed": counts[-1],
                "expected": j.expected[-1],
                "score": j.score[-1],
                "direction": "spike" if j.spike[-1] else "drop",
                "immature": j.have[-1] < params.mature_weeks,
                "low": j.low[-1],
                "high": j.high[-1],
            }
        )
        findings.append(_finding(frames, ctx, subject_type, subject, row, win, step))
    return findings


def _finding(
    frames: Frames,
    ctx: Context,
    subject_type: str,
    subject: str,
    row: pd.Series,
    win: pd.DataFrame,
    step: pd.Timedelta,
) -> Finding:
    observed, expected = float(row["observed"]), float(row["expected"])
    direction = str(row["direction"])
    start = pd.Timestamp(row["timestamp"]).to_pydatetime()
    who = f"Connected app {subject}" if subject_type == "app" else f"The org {subject}"
    lo, hi = row["low"], row["high"]
    usual = fmt_int(lo) if round(lo) == round(hi) else f"{fmt_int(lo)}–{fmt_int(hi)}"
    text = (
        f"{who} authenticated {fmt_int(observed)} times between {fmt_time(start)} and "
        f"{(start + step.to_pytimedelta()).strftime('%H:%M')} UTC; for this hour of the week it usually does "
        f"{usual} (median {fmt_int(expected)})."
    )
    evidence: dict[str, object] = {
        "observed": int(observed),
        "expected": round(expected, 1),
        "usual_low": int(lo) if not np.isnan(lo) else None,
        "usual_high": int(hi) if not np.isnan(hi) else None,
        "score": round(float(row["score"]), 1),
        "direction": direction,
        "baseline_immature": bool(row["immature"]),
    }
    severity = "medium"
    if direction == "spike":
        ratio = observed / max(expected, 1.0)
        evidence["ratio"] = round(ratio, 1)
        severity = "high" if ratio >= float(ctx.get("high_ratio")) else "medium"
        if not win.empty:
            ips = win["source_ip"].value_counts()
            top_ip, top_n = str(ips.index[0]), int(ips.iloc[0])
            share = top_n / len(win)
            group = subject if subject_type == "app" else None
            seen = bool(frames.seen_pairs("app_ip", [(group, top_ip)], start - timedelta(days=30), start))
            evidence.update(top_ip=top_ip, top_ip_share=round(share, 3), top_ip_seen_before=seen)
            if share >= 0.5:
                text += f" {share:.0%} came from one IP, {top_ip}, " + (
                    "seen for this app before." if seen else "never seen for this app before."
                )
    else:
        text += f" That is {observed / max(expected, 1):.0%} of normal: has the integration stopped?"
    if bool(row["immature"]):
        text += " (The baseline is still immature: fewer than three weeks of history.)"
    return Finding(
        detector=DETECTOR.id,
        severity=severity,  # type: ignore[arg-type]
        org=ctx.org,
        subject_type=subject_type,  # type: ignore[arg-type]
        subject=subject,
        title=f"Login volume {direction} for {subject}",
        explanation=text,
        evidence=evidence,
        runbook=DETECTOR.runbook,
        dedupe_key=f"volume:{ctx.org}:{subject_type}:{subject}:{direction}",
        event_start=start,
        event_end=ctx.now,
    )


DETECTOR = Detector(
    id="volume",
    title="Login volume spike or drop",
    severity="medium",
    description="An app's (or the org's) logins in the last hour are far from normal for that hour of the week.",
    runbook=RUNBOOK,
    fn=_detect,
    defaults={
        "weeks": 4,
        "threshold": 6.0,
        "min_volume": 20.0,
        "rel_floor": 0.25,
        "mature_weeks": 3,
        "drop_ratio": 0.25,
        "high_ratio": 5.0,
        "per_app": True,
        "per_org": True,
    },
    clears_after=timedelta(hours=1),
    # The last hour raw (the observed bucket and its top IP), the weeks before from the rollup.
    needs=needs(
        Data.WINDOW_LOGINS,
        Data.APP_HOURLY,
        Data.FIRST_SEEN,
        lookback=weeks_of("weeks", timedelta(weeks=1)),
        raw_lookback=timedelta(hours=1),
    ),
)
