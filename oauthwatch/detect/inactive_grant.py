"""Grants of inactive users: OAuth grants still present for users who are deactivated.

Why it matters: deactivating a user blocks their logins, but integrations often run under a
shared user whose grants outlive the person; a grant left behind for an inactive user is access
nobody owns, and its use shows the deactivation did not stop the integration.
"""

from __future__ import annotations

import pandas as pd

from oauthwatch.detect.base import Context, Detector, Finding
from oauthwatch.detect.data import Frames
from oauthwatch.detect.grants import latest_grants
from oauthwatch.detect.needs import Data, needs

RUNBOOK = (
    "Revoke the grants listed (Setup → Connected Apps OAuth Usage, or the user's OAuth Connected Apps list).",
    "If an integration still depends on the user, move it to a dedicated active integration user.",
)


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    latest = latest_grants(frames)
    users = frames.users
    if latest.empty or users.empty:
        return []
    inactive = users[users["is_active"].astype("boolean").fillna(True) == False]  # noqa: E712 - pandas mask
    m = latest.merge(inactive[["user_id", "username"]], on="user_id")
    out = []
    for user_id, rows in m.groupby("user_id"):
        user = str(rows["username"].iloc[0] or user_id)
        apps = sorted(set(rows["app_name"]))
        used = rows["last_used_date"].dropna()
        last = used.max() if not used.empty else None
        recent = last is not None and last >= pd.Timestamp(ctx.now) - pd.Timedelta(days=1)
        out.append(
            Finding(
                detector=DETECTOR.id,
                severity="high" if recent else "medium",
                org=ctx.org,
                subject_type="user",
                subject=user,
                title=f"Inactive user {user} still holds {len(rows)} OAuth grant(s)",
                explanation=(
                    f"{user} is inactive but still holds {len(rows)} OAuth grant(s) for {', '.join(apps[:5])}."
                    + (f" One was used as recently as {last:%Y-%m-%d %H:%M} UTC." if last is not None else "")
                ),
                evidence={
                    "user": user,
                    "grants": len(rows),
                    "apps": ", ".join(apps),
                    "last_used": last.isoformat() if last is not None else "",
                },
                runbook=RUNBOOK,
                dedupe_key=f"inactive_grant:{ctx.org}:{user_id}",
            )
        )
    return out


DETECTOR = Detector(
    id="inactive_grant",
    title="Grants of inactive users",
    severity="medium",
    description="OAuth grants that still exist for deactivated users.",
    runbook=RUNBOOK,
    fn=_detect,
    replayable=False,
    needs=needs(Data.GRANTS, Data.USERS),
)
