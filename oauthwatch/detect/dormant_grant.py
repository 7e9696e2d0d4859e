"""Dormant grant waking: an OAuth grant unused for N days is suddenly used again.

Why it matters: a refresh token that sat unused for months and wakes up is the classic sign of a
stolen token (a laptop backup, a leaked config, a breached vendor) being replayed. Two ways to
see it, whichever the store allows first:

- grant snapshots: the previous snapshot's LastUsedDate was at least ``dormant_days`` old, the
  newest one is recent;
- logins: a user logs in to an app for which they hold a grant older than ``dormant_days``, and
  the store has no login of that user to that app in the ``dormant_days`` before (this needs
  ``min_history_days`` of stored history, and sees the waking within one collection cycle,
  before the next grant snapshot).
"""

from __future__ import annotations

from datetime import timedelta
from typing import cast

import pandas as pd

from oauthwatch.detect.base import Context, Detector, Finding, fmt_time
from oauthwatch.detect.data import Frames
from oauthwatch.detect.grants import GRANT_KEY, latest_grants, previous_grants, user_names
from oauthwatch.detect.needs import Data, days_of, needs
from oauthwatch.rules.thresholds import DORMANT_GRANT_DAYS

RUNBOOK = (
    "Ask the user whether they started using the app again today.",
    "Compare the app's recent logins for this user (IPs, countries) with those before the dormancy.",
    "If nobody expects it, revoke the grant (Setup → Connected Apps OAuth Usage → Revoke) and reset the user's password.",
    "Consider a refresh-token policy that expires unused tokens (e.g. specific_inactivity:30:DAYS).",
)


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    out = _from_snapshots(frames, ctx)
    seen = {(f.evidence["user_id"], f.evidence["app"]) for f in out}
    return out + [
        f for f in _from_logins(frames, ctx) if (f.evidence["user_id"], f.evidence["app"]) not in seen
    ]


def _from_logins(frames: Frames, ctx: Context) -> list[Finding]:
    ws = pd.Timestamp(ctx.window_start)
    days = pd.Timedelta(days=int(ctx.get("dormant_days")))
    grants = frames.grants_created
    if grants.empty or frames.org_first_seen is None:
        return []
    if ws - frames.org_first_seen < pd.Timedelta(days=int(ctx.get("min_history_days"))):
        return []
    win = frames.recent(ctx.window)
    win = win[win["success"] & (win["user_id"] != "") & (win["application"] != "")]
    if win.empty:
        return []
    old = grants[grants["created_date"] <= ws - days]
    old_pairs = set(zip(old["user_id"], old["app_name"], strict=True))
    index = frames.sightings("app_user")
    span_start = ctx.window_start - days.to_pytimedelta()
    names = user_names(frames)
    out = []
    for pair, rows in win.groupby(["user_id", "application"]):
        user_id, app = cast(tuple[str, str], pair)
        if (user_id, app) not in old_pairs or index.seen(app, user_id, span_start, ctx.window_start):
            continue
        user = names.get(str(user_id)) or next(
            (str(u) for u in rows["username"] if isinstance(u, str) and u), str(user_id)
        )
        before = index.last_before(app, user_id, ctx.window_start)
        held = (ws - frames.org_first_seen).days
        last = (
            f"last used {fmt_time(before.to_pydatetime())}"
            if before is not None
            else f"not used in the {held} days of history oauthwatch holds"
        )
        ips = sorted(set(rows["source_ip"]))
        out.append(
            Finding(
                detector=DETECTOR.id,
                severity="high",
                org=ctx.org,
                subject_type="grant",
                subject=f"{user} / {app}",
                title=f"Dormant grant woke up: {user} on {app}",
                explanation=(
                    f"{user} holds an OAuth grant for {app} {last}, and it was used {len(rows)} time(s) since "
                    f"{fmt_time(rows['login_time'].min().to_pydatetime())} from {', '.join(ips[:3])} "
                    f"({', '.join(sorted({c for c in rows['country_iso'] if c})) or 'unknown country'}). "
                    "Long-unused refresh tokens that wake up are often stolen ones."
                ),
                evidence={
                    "user": user,
                    "user_id": str(user_id),
                    "app": str(app),
                    "logins": len(rows),
                    "ips": ", ".join(ips[:5]),
                    "flows": ", ".join(sorted({f for f in rows["login_subtype"] if f})),
                    "previous_use": before.isoformat() if before is not None else "",
                },
                runbook=RUNBOOK,
                dedupe_key=f"dormant_grant:{ctx.org}:{user_id}:{app}",
                event_start=rows["login_time"].min().to_pydatetime(),
                event_end=rows["login_time"].max().to_pydatetime(),
            )
        )
    return out


def _from_snapshots(frames: Frames, ctx: Context) -> list[Finding]:
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
    for (_, r), last_use in zip(woke.iterrows(), before.loc[woke.index], strict=True):
        user = names.get(str(r["user_id"]), str(r["user_id"]))
        idle = (r["last_used_date"] - last_use).days
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
                    f"was last used {fmt_time(last_use.to_pydatetime())}, {idle} days before it was used again at "
                    f"{fmt_time(r['last_used_date'].to_pydatetime())}. Long-unused refresh tokens that wake up are "
                    "often stolen ones."
                ),
                evidence={
                    "user": user,
                    "user_id": str(r["user_id"]),
                    "app": str(r["app_name"]),
                    "idle_days": int(idle),
                    "previous_use": last_use.isoformat(),
                    "last_used": r["last_used_date"].isoformat(),
                    "use_count": int(r["use_count"]) if pd.notna(r["use_count"]) else None,
                },
                runbook=RUNBOOK,
                dedupe_key=f"dormant_grant:{ctx.org}:{r['user_id']}:{r['app_name']}",
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
    defaults={"dormant_days": DORMANT_GRANT_DAYS, "recent_days": 2, "min_history_days": 14},
    clears_after=timedelta(days=1),
    needs=needs(
        Data.WINDOW_LOGINS,
        Data.GRANTS,
        Data.USERS,
        Data.FIRST_SEEN,
        seen=("app_user",),
        lookback=days_of("dormant_days"),
    ),
)
