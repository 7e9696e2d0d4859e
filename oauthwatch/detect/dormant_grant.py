"""Dormant grant waking: an OAuth grant unused for N days is suddenly used again.

Why it matters: a refresh token that sat unused for months and wakes up is the classic sign of a
stolen token (a laptop backup, a leaked config, a breached vendor) being replayed. Compared
between the two newest grant snapshots: yesterday's LastUsedDate was at least ``dormant_days``
old, today's is recent.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from oauthwatch.detect.base import Context, Detector, Finding, fmt_time
from oauthwatch.detect.data import Frames
from oauthwatch.detect.grants import GRANT_KEY, latest_grants, previous_grants, user_names

RUNBOOK = (
    "Ask the user whether they started using the app again today.",
    "Compare the app's recent logins for this user (IPs, countries) with those before the dormancy.",
    "If nobody expects it, revoke the grant (Setup → Connected Apps OAuth Usage → Revoke) and reset the user's password.",
    "Consider a refresh-token policy that expires unused tokens (e.g. specific_inactivity:30:DAYS).",
)


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    latest, prev = latest_grants(frames), previous_grants(frames)
    if latest.empty or prev.empty:
        return []
    days = pd.Timedelta(days=int(ctx.get("dormant_days")))
    m = latest.merge(prev, on=GRANT_KEY, suffixes=("", "_prev"))
    m = m[m["last_used_date"].notna()]
    before = m["last_used_date_prev"].fillna(m["created_date"])
    woke = m[(m["last_used_date"] > before) & (m["last_used_date"] - before >= days)]
    woke = woke[
        woke["last_used_date"] >= pd.Timestamp(ctx.now) - pd.Timedelta(days=int(ctx.get("recent_days")))
    ]
    names = user_names(frames)
    out = []
    for _, r in woke.iterrows():
        user = names.get(str(r["user_id"]), str(r["user_id"]))
        idle = (r["last_used_date"] - before[_]).days
        out.append(
            Finding(
                detector=DETECTOR.id,
                severity="high",
                org=ctx.org,
                subject_type="grant",
                subject=f"{user} / {r['app_name']}",
                title=f"Dormant grant woke up: {user} on {r['app_name']} after {idle} days",
                explanation=(
                    f"The OAuth grant of {user} for {r['app_name']} (created {fmt_time(r['created_date'].to_pydatetime())}) "
                    f"was last used {fmt_time(before[_].to_pydatetime())}, {idle} days before it was used again at "
                    f"{fmt_time(r['last_used_date'].to_pydatetime())}. Long-unused refresh tokens that wake up are "
                    "often stolen ones."
                ),
                evidence={
                    "user": user,
                    "user_id": str(r["user_id"]),
                    "app": str(r["app_name"]),
                    "idle_days": int(idle),
                    "previous_use": before[_].isoformat(),
                    "last_used": r["last_used_date"].isoformat(),
                    "use_count": int(r["use_count"]) if pd.notna(r["use_count"]) else None,
                },
                runbook=RUNBOOK,
                dedupe_key=f"dormant_grant:{ctx.org}:{r['user_id']}:{r['app_name']}:{r['created_date'].isoformat()}",
                event_start=r["last_used_date"].to_pydatetime(),
                event_end=r["last_used_date"].to_pydatetime(),
            )
        )
    return out


DETECTOR = Detector(
    id="dormant_grant",
    title="Dormant grant woke up",
    severity="high",
    description="An OAuth grant unused for N days is used again.",
    runbook=RUNBOOK,
    fn=_detect,
    defaults={"dormant_days": 30, "recent_days": 2},
    clears_after=timedelta(days=1),
)
