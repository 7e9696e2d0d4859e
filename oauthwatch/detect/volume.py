"""Volume spike or drop, per connected app and for the whole org.

Why it matters: a runaway integration burns the API budget and the concurrent-token cap; a
stolen refresh token replayed in bulk shows as a spike; a silent drop means an integration
stopped (expired certificate, revoked grant, broken deploy) before anyone complains.

How: counts in trailing hourly buckets ending at the evaluation time are judged by
:func:`oauthwatch.detect.volume_model.volume_anomalies` against the same hour of the week over
the last weeks; only the newest bucket can fire. A spike names the IP that carried most of it and
says whether that IP was seen for the app before.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from oauthwatch.detect.base import Context, Detector, Finding, fmt_int, fmt_time
from oauthwatch.detect.data import Frames
from oauthwatch.detect.volume_model import volume_anomalies

RUNBOOK = (
    "Open the app's page on the dashboard and compare this hour with the same hour last week.",
    "Check which users and IPs carry the change (Investigate → this window, group by IP and user).",
    "For a spike: ask the app's owner whether a backfill or deploy is running; if not, treat the top IP as suspect and consider revoking the app's tokens.",
    "For a drop: check recent failures for the app (certificate, revoked grant, IP restrictions) and its collector coverage.",
)


def trailing_counts(
    times: pd.Series, now: pd.Timestamp, step: pd.Timedelta, start: pd.Timestamp
) -> pd.Series:
    """Event counts in buckets of ``step`` that end exactly at ``now``, from ``start`` (zeros kept)."""
    first_k = int(np.floor((start - now) / step))
    ks = np.arange(first_k, 0)
    index = pd.DatetimeIndex(now + ks * step)
    if times.empty:
        return pd.Series(0.0, index=index)
    k = np.floor(((times - now) / step).to_numpy(dtype=float)).astype(np.int64)
    k = k[(k >= first_k) & (k < 0)]
    counts = np.bincount(k - first_k, minlength=len(ks)).astype(float)
    return pd.Series(counts, index=index)


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    step = pd.Timedelta(hours=1)
    now = pd.Timestamp(ctx.now)
    hist_start = now - pd.Timedelta(weeks=int(ctx.get("weeks"))) - pd.Timedelta(days=1)
    logins = frames.logins
    findings: list[Finding] = []
    params = {
        "weeks": int(ctx.get("weeks")),
        "threshold": float(ctx.get("threshold")),
        "min_volume": float(ctx.get("min_volume")),
        "rel_floor": float(ctx.get("rel_floor")),
        "mature_weeks": int(ctx.get("mature_weeks")),
        "drop_ratio": float(ctx.get("drop_ratio")),
    }
    window = logins[logins["login_time"] >= now - step]
    groups: list[tuple[str, str, pd.Series, pd.DataFrame]] = []
    apps = window["application"].unique() if ctx.get("per_app") else []
    for app in apps:
        if not app:
            continue
        first = frames.app_first_seen.get(app)
        if first is None or pd.isna(first) or now - first < pd.Timedelta(days=7) + step:
            continue
        times = logins.loc[logins["application"] == app, "login_time"]
        groups.append(("app", app, times, window[window["application"] == app]))
    # A stopped app has no events in the window, so drops are looked for among recently busy apps.
    if ctx.get("per_app"):
        recent = logins[logins["login_time"] >= now - pd.Timedelta(days=1)]
        for app in set(recent["application"].unique()) - set(apps):
            first = frames.app_first_seen.get(app)
            if not app or first is None or now - first < pd.Timedelta(days=7) + step:
                continue
            times = logins.loc[logins["application"] == app, "login_time"]
            groups.append(("app", app, times, window.iloc[0:0]))
    if (
        ctx.get("per_org")
        and frames.org_first_seen is not None
        and now - frames.org_first_seen >= pd.Timedelta(days=8)
    ):
        groups.append(("org", ctx.org, logins["login_time"], window))
    for subject_type, subject, times, win in groups:
        start = max(hist_start, times.iloc[0].floor("h") if len(times) else hist_start)
        series = trailing_counts(times, now, step, start)
        flagged = volume_anomalies(series, **params)
        if flagged.empty or flagged["timestamp"].iloc[-1] != series.index[-1]:
            continue
        row = flagged.iloc[-1]
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
            before = frames.before(start, timedelta(days=30))
            if subject_type == "app":
                before = before[before["application"] == subject]
            seen = bool((before["source_ip"] == top_ip).any())
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
)
