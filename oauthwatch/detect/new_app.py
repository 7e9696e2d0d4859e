"""New or unapproved app: first logins or grants of an app never seen, or not on the allowlist.

Why it matters: the 2025 wave of Salesforce data theft started with victims authorising a rogue
"Data Loader" look-alike. A connected app that nobody has seen before, or that nobody approved,
is the first thing to look at. Once the allowlist holds any entry for the org, every active app
not on it (or whose entry expired) is reported as unapproved.

A store younger than ``warmup_days`` does not report "never seen" (everything is new on day one).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd

from oauthwatch.detect.allowlist import approved
from oauthwatch.detect.base import Context, Detector, Finding, fmt_int, fmt_time
from oauthwatch.detect.data import Frames
from oauthwatch.detect.grants import latest_grants
from oauthwatch.detect.needs import Data, needs

RUNBOOK = (
    "Find the app in Setup → Connected Apps OAuth Usage: who installed or authorised it, and when.",
    "Ask its users (evidence) whether they meant to authorise it; look for a look-alike name of a known tool.",
    "If unapproved, block it (Setup → Connected Apps OAuth Usage → Block) and revoke its tokens.",
    "If approved, record it with its owner and ranges: `oauthwatch allow add APP --owner you@example.com`.",
)
BROWSER = {"", "browser", "salesforce for ios", "salesforce for android"}


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    now = pd.Timestamp(ctx.now)
    ws = pd.Timestamp(ctx.window_start)
    warm = pd.Timedelta(days=int(ctx.get("warmup_days")))
    win = frames.recent(ctx.window)
    oauth = win[
        win["login_type"].fillna("").str.contains("Remote Access", case=False)
        | win["login_subtype"].str.startswith("OAuth")
    ]
    grants = latest_grants(frames)
    apps: dict[str, dict[str, Any]] = {}
    own = frames.extra.get("self_user_ids", set())
    for app, rows in oauth.groupby("application"):
        if str(app).casefold() in BROWSER:
            continue
        if own and set(rows["user_id"]) <= own:
            continue  # oauthwatch's own connected app, logging in to collect
        users = sorted(set(rows["username"].fillna(rows["user_id"]).astype(str)))
        apps[str(app)] = {
            "logins": len(rows),
            "users": users,
            "ips": sorted(set(rows["source_ip"])),
            "first": rows["login_time"].min(),
        }
    if not grants.empty:
        for app, rows in grants.groupby("app_name"):
            info = apps.setdefault(str(app), {"logins": 0, "users": [], "ips": [], "first": None})
            info["grants"] = len(rows)
    active_allow = [e for e in frames.allowlist if e.active_at(ctx.now)]
    org_old = frames.org_first_seen is not None and now - frames.org_first_seen >= warm
    tok_first = frames.token_app_first_seen
    tok_old = not tok_first.empty and now - tok_first.min() >= warm
    out = []
    for app, info in sorted(apps.items()):
        first_login = frames.app_first_seen.get(app)
        first_grant = tok_first.get(app)
        never_seen = (org_old and first_login is not None and first_login >= ws and info["logins"]) or (
            tok_old and first_grant is not None and first_grant >= ws and info.get("grants")
        )
        unapproved = bool(active_allow) and approved(active_allow, app, ctx.now) is None
        if not never_seen and not unapproved:
            continue
        expired = [
            e
            for e in frames.allowlist
            if e.app_name.casefold() == app.casefold() and not e.active_at(ctx.now)
        ]
        reason = "first seen in the last window" if never_seen else "not on the allowlist"
        if unapproved and never_seen:
            reason = "never seen before and not on the allowlist"
        if expired and unapproved:
            reason += f" (its allowlist entry expired {fmt_time(expired[0].expires_at)})"  # type: ignore[arg-type]
        users = info["users"]
        text = (
            f"Connected app {app} is {reason}: {fmt_int(info['logins'])} OAuth login(s) in the last "
            f"{int(ctx.window.total_seconds() // 60)} minutes"
            + (f" and {info['grants']} grant(s)" if info.get("grants") else "")
            + (f", by {', '.join(users[:3])}{'…' if len(users) > 3 else ''}" if users else "")
            + "."
        )
        first = info["first"]
        out.append(
            Finding(
                detector=DETECTOR.id,
                severity="high" if unapproved or not active_allow else "medium",
                org=ctx.org,
                subject_type="app",
                subject=app,
                title=f"{'Unapproved' if unapproved else 'New'} connected app: {app}",
                explanation=text,
                evidence={
                    "app": app,
                    "reason": reason,
                    "logins": int(info["logins"]),
                    "grants": int(info.get("grants", 0)),
                    "users": ", ".join(users[:5]),
                    "ips": ", ".join(info["ips"][:5]),
                    "allowlist_in_use": bool(active_allow),
                },
                runbook=RUNBOOK,
                dedupe_key=f"new_app:{ctx.org}:{app}",
                event_start=first.to_pydatetime() if isinstance(first, pd.Timestamp) else None,
                event_end=ctx.now,
            )
        )
    return out


DETECTOR = Detector(
    id="new_app",
    title="New or unapproved connected app",
    severity="high",
    description="First logins or grants of an app never seen before, or an active app that is not on the allowlist.",
    runbook=RUNBOOK,
    fn=_detect,
    defaults={"warmup_days": 7},
    clears_after=timedelta(days=1),
    needs=needs(Data.WINDOW_LOGINS, Data.FIRST_SEEN, Data.GRANTS, Data.ALLOWLIST, Data.USERS),
)
