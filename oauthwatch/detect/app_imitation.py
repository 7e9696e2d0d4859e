"""An app whose name imitates a known tool, and a device-flow grant.

Why it matters: UNC6040's callers talked users into authorising a modified "Data Loader" (or one
renamed "My Ticket Portal") through the device flow. Apps are identified by their id, not their
name: an app holding grants or logging in under a known tool's name that no admin installed (no
connected app of that name in the org), or a name shared by two different apps (two AppMenuItem
ids in the grants), is an imitation until shown otherwise. Any successful device-flow login
(LoginHistory has no documented sub-type for it; any sub-type naming "device" counts) is reported
too: admins rarely use it, attackers on the phone do.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pandas as pd

from oauthwatch.detect.base import Context, Detector, Finding
from oauthwatch.detect.data import Frames
from oauthwatch.detect.grants import latest_grants
from oauthwatch.detect.needs import Data, needs

RUNBOOK = (
    "Open Setup → Connected Apps OAuth Usage: compare the app's id with the real tool's, and see who authorised it.",
    "Call the users (evidence): did someone on the phone walk them through a 'connection code'?",
    "If it is not yours: block it, `oauthwatch revoke --app <its 0H4 id>` (dry run first), reset the users' passwords, "
    "and follow docs/incident-response.md.",
)
KNOWN_TOOLS = (
    "Data Loader", "Salesforce Data Loader", "Dataloader", "Salesforce CLI", "Salesforce DX", "Workbench",
    "Salesforce Inspector", "Salesforce for Outlook", "Salesforce for iOS", "Salesforce for Android", "My Ticket Portal",
)  # fmt: skip


def norm(name: str) -> str:
    """Compare names as a person would read them: case, spaces and punctuation ignored."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


KNOWN = {norm(n): n for n in reversed(KNOWN_TOOLS)}  # the first spelling wins


def _finding(
    ctx: Context,
    app: str,
    why: str,
    severity: str,
    users: list[str],
    evidence: dict,
    start: datetime | None,
    end: datetime | None,
) -> Finding:
    return Finding(
        detector=DETECTOR.id, severity=severity, org=ctx.org, subject_type="app", subject=app,  # type: ignore[arg-type]
        title=f"{app}: {why}"[:255],
        explanation=f"'{app}' {why}. Users: {', '.join(users[:5]) or 'none known'}. Apps are identified by their id, not their name.",
        evidence={"app": app, "reason": why, "users": ", ".join(users[:10]), **evidence}, runbook=RUNBOOK,
        dedupe_key=f"{DETECTOR.id}:{ctx.org}:{app}:{why[:40]}"[:255], event_start=start, event_end=end,
    )  # fmt: skip


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    installed = {norm(str(n)) for n in frames.apps.get("name", pd.Series(dtype=str))}
    names = {}
    for n, u in (
        frames.users[["user_id", "username"]].itertuples(index=False) if not frames.users.empty else ()
    ):
        names[n] = u
    grants = latest_grants(frames)
    out = []
    if not grants.empty:
        for app, rows in grants.groupby("app_name"):
            key = norm(str(app))
            users = sorted({names.get(u, u) for u in rows["user_id"]})
            menus = sorted({str(m) for m in rows.get("app_menu_item_id", pd.Series(dtype=str)).dropna()})
            start = rows["created_date"].min()
            start = start.to_pydatetime() if pd.notna(start) else None
            if key in KNOWN and key not in installed:
                out.append(_finding(ctx, str(app), f"named like {KNOWN[key]} but no admin installed an app of that name",
                                    "high", users, {"grants": len(rows), "app_menu_items": ", ".join(menus)}, start, None))  # fmt: skip
            if len(menus) > 1:
                out.append(_finding(ctx, str(app), f"{len(menus)} different apps carry this name", "high", users,
                                    {"grants": len(rows), "app_menu_items": ", ".join(menus)}, start, None))  # fmt: skip
    win = frames.recent(ctx.window)
    device = win[win["success"].astype(bool) & win["login_subtype"].str.contains("device", case=False)]
    for app, rows in device.groupby("application"):
        users = sorted({names.get(u, u) for u in rows["user_id"].astype(str)})
        sev = "critical" if norm(str(app)) not in installed else "high"
        out.append(_finding(ctx, str(app), "authorised through the device flow", sev, users,
                            {"logins": len(rows), "ips": ", ".join(sorted(set(rows["source_ip"]))[:10]),
                             "installed": norm(str(app)) in installed},
                            rows["login_time"].min().to_pydatetime(), rows["login_time"].max().to_pydatetime()))  # fmt: skip
    return out


DETECTOR = Detector(
    id="app_imitation",
    title="App imitating a known tool, or a device-flow grant",
    severity="high",
    description="Grants of an app named like a known tool that no admin installed, one name shared by two apps, or a device-flow login.",
    runbook=RUNBOOK,
    fn=_detect,
    clears_after=timedelta(days=1),
    needs=needs(Data.WINDOW_LOGINS, Data.POLICIES, Data.USERS, Data.GRANTS),
)
