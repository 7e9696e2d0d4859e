"""Failure-rate surge, per connected app and per Status reason.

Why it matters: a burst of ``Failed: Signature Invalid`` means a JWT certificate was rotated on
one side only; ``Failed: IP Address Not Allowed`` a new egress IP or an attacker; ``Invalid
Password`` in bulk a guessing attack. Each reason has its own normal rate, so each is judged
against its own baseline, not against the app's total.

How: each reason's failures per window over the baseline days are judged by the same volume
model as the ``volume`` detector (:mod:`oauthwatch.detect.volume_judge`: rhythm, level, a
negative binomial spread, nothing within the reason's daily swing); a surge also needs
``min_failures`` and ``ratio`` × the expected count. The app's overall failure *rate* is a
proportion, judged with a binomial score against its baseline rate.
An app that usually succeeds and has failed every one of at least ``min_all_failing`` attempts in
the window is reported at once (high): that is how an expired JWT certificate looks.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import cast

import numpy as np
import pandas as pd

from oauthwatch.detect.base import Context, Detector, Finding, fmt_int
from oauthwatch.detect.data import Frames
from oauthwatch.detect.needs import Data, days_of, needs
from oauthwatch.detect.series import app_counts, bucket_counts
from oauthwatch.detect.volume_judge import Params, judge_many

RUNBOOK = (
    "Read the Status reason: it says what failed (signature, IP restriction, password, PKCE…).",
    "Look at the failing users and IPs in Investigate for this window: one source, or everywhere?",
    "Ask the app's owner whether credentials, a certificate or an IP range changed today.",
    "If the failures come from unknown IPs, treat it as an attack: block the IPs, check for successes from them.",
)


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    win = frames.recent(ctx.window)
    if win.empty:
        return []
    base = app_counts(
        frames, ctx.window_start - timedelta(days=int(ctx.get("baseline_days"))), ctx.window_start
    )
    win_hours = ctx.window.total_seconds() / 3600
    min_failures = int(ctx.get("min_failures"))
    ratio = float(ctx.get("ratio"))
    zmin = float(ctx.get("score"))
    findings: list[Finding] = []
    wf = win[~win["success"]]
    # Each reason's failure counts per window-sized bucket over the baseline are judged by the
    # volume model (docs/detectors.md): its rhythm, level and burstiness, not a flat average.
    span = timedelta(days=int(ctx.get("baseline_days"))) + ctx.window
    now = pd.Timestamp(ctx.now)
    step = pd.Timedelta(ctx.window)
    params = Params(threshold=zmin, min_volume=float(min_failures), rel_floor=0.0)
    series = []
    for key, n in wf.groupby(["application", "status"]).size().items():
        app, status = cast(tuple[str, str], key)
        if n < min_failures:
            continue
        first = frames.app_first_seen.get(app)
        start = now - pd.Timedelta(span)
        if first is not None and not pd.isna(first):
            start = max(start, now - np.ceil((now - pd.Timestamp(first)) / step) * step)
        counts = bucket_counts(frames, now=now, step=step, start=start, app=app, status=status)
        if len(counts) >= 2:
            series.append((app, status, int(n), counts))
    verdicts = judge_many([c for *_, c in series], step, [now - len(c) * step for *_, c in series], params)
    for (app, status, n, _counts), j in zip(series, verdicts, strict=True):
        expected, z = float(j.expected[-1]), float(j.score[-1])
        if not j.spike[-1] or n < ratio * (expected + 1):
            continue
        rows = wf[(wf["application"] == app) & (wf["status"] == status)]
        users = rows["user_id"].nunique()
        ips = rows["source_ip"].value_counts()
        text = (
            f"{fmt_int(n)} logins to {app or 'Salesforce'} failed with \u201c{status}\u201d in the last "
            f"{_hours(win_hours)}; judged against this reason's own rhythm and level over the previous "
            f"{ctx.get('baseline_days')} days, about {fmt_int(expected)} were expected. {users} user(s) and {len(ips)} IP(s) are involved"
            + (f", most from {ips.index[0]} ({ips.iloc[0] / n:.0%})." if len(ips) else ".")
        )
        findings.append(
            Finding(
                detector=DETECTOR.id,
                severity="high" if n >= 5 * min_failures and users > 1 else "medium",
                org=ctx.org,
                subject_type="app",
                subject=app or "(none)",
                title=f"Failure surge for {app or 'Salesforce'}: {status}",
                explanation=text,
                evidence={
                    "status": status,
                    "failures": int(n),
                    "expected": round(expected, 1),
                    "score": round(z, 1),
                    "users": int(users),
                    "ips": len(ips),
                    "top_ip": str(ips.index[0]) if len(ips) else "",
                },
                runbook=RUNBOOK,
                dedupe_key=f"failure_surge:{ctx.org}:{app}:{status}",
                event_start=rows["login_time"].min().to_pydatetime(),
                event_end=rows["login_time"].max().to_pydatetime(),
            )
        )
    flagged_apps = {f.subject for f in findings}
    wa = win.groupby("application")["success"].agg(["size", "sum"])
    ba = base
    for app_key, row in wa.iterrows():
        app = str(app_key)
        n, f = int(row["size"]), int(row["size"] - row["sum"])
        if (app or "(none)") in flagged_apps:
            continue
        bn = int(ba["size"].get(app, 0))
        bfail = bn - int(ba["sum"].get(app, 0))
        p0 = (bfail + 1) / (bn + 2)
        rate = f / n
        z = (f - n * p0) / math.sqrt(max(n * p0 * (1 - p0), 1.0))
        # An app that usually works and now fails every time (a certificate expired, a secret
        # rotated, the app blocked) is news after a few attempts, long before min_failures.
        all_failing = f == n and f >= int(ctx.get("min_all_failing")) and bn >= 20 and p0 <= 0.1
        if not all_failing and (
            f < min_failures or rate < float(ctx.get("min_rate")) or rate < ratio * p0 or z < zmin
        ):
            continue
        statuses = wf.loc[wf["application"] == app, "status"].value_counts()
        findings.append(
            Finding(
                detector=DETECTOR.id,
                severity="high" if all_failing else "medium",
                org=ctx.org,
                subject_type="app",
                subject=app or "(none)",
                title=(
                    f"Every login of {app or 'Salesforce'} fails"
                    if all_failing
                    else f"Failure rate surge for {app or 'Salesforce'}"
                ),
                explanation=(
                    f"{rate:.0%} of {app or 'Salesforce'}'s {fmt_int(n)} logins failed in the last {_hours(win_hours)} "
                    f"({fmt_int(f)} failures, mostly \u201c{statuses.index[0]}\u201d); over the previous "
                    f"{ctx.get('baseline_days')} days its failure rate was {p0:.1%}."
                ),
                evidence={
                    "top_status": str(statuses.index[0]),
                    "failures": f,
                    "logins": n,
                    "rate": round(rate, 3),
                    "usual_rate": round(p0, 4),
                    "score": round(z, 1),
                },
                runbook=RUNBOOK,
                dedupe_key=f"failure_surge:{ctx.org}:{app}:*",
                event_start=ctx.window_start,
                event_end=ctx.now,
            )
        )
    return findings


def _hours(h: float) -> str:
    return "hour" if h == 1 else f"{h:g} hours"


DETECTOR = Detector(
    id="failure_surge",
    title="Failure-rate surge",
    severity="medium",
    description="Failed logins for an app (overall or for one Status reason) far above that app's usual rate.",
    runbook=RUNBOOK,
    fn=_detect,
    defaults={
        "baseline_days": 14,
        "min_failures": 20,
        "ratio": 4.0,
        "score": 5.0,
        "min_rate": 0.2,
        "min_all_failing": 3,
    },
    clears_after=timedelta(hours=2),
    needs=needs(Data.WINDOW_LOGINS, Data.APP_HOURLY, Data.FIRST_SEEN, lookback=days_of("baseline_days")),
)
