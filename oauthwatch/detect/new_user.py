"""New user for an app: an integration app authenticating as a user it has not used in N days.

Why it matters: integrations run as one or a few integration users; a new user on such an app is
a person borrowing its consumer key, or a grant nobody approved. Apps used by many people (more
than ``max_known`` users in the baseline) are skipped: new users are normal there.
"""

from __future__ import annotations

from datetime import timedelta

from oauthwatch.detect.base import Context, Detector, Finding
from oauthwatch.detect.data import Frames
from oauthwatch.detect.novelty import NOVELTY_DEFAULTS, novel_values, novelty_finding, novelty_needs

RUNBOOK = (
    "Find who the user is and whether they should use this app (their profile, their manager).",
    "Check the app's policies: can all users self-authorize? If so, consider admin-approved users only.",
    "If unexpected, revoke the user's tokens for this app (Setup → Connected Apps OAuth Usage).",
    "If expected, list the user on the app's allowlist entry: `oauthwatch allow add APP --user USERNAME`.",
)


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    out = []
    for app, value, rows, known, entry in novel_values(frames, ctx, "user_id"):
        name = str(rows["username"].dropna().iloc[0]) if rows["username"].notna().any() else value
        if entry is not None and ({value, name} & set(entry.integration_users)):
            continue
        out.append(
            novelty_finding(
                DETECTOR.id,
                RUNBOOK,
                ctx,
                app=app,
                value=value,
                rows=rows,
                known=known,
                what="user",
                severity="medium",
                subject_type="user",
                subject=name,
            )
        )
    return out


DETECTOR = Detector(
    id="new_user",
    title="New user for an app",
    severity="medium",
    description="An app with few users authenticates as a user it has not used in the last N days.",
    runbook=RUNBOOK,
    fn=_detect,
    defaults={**NOVELTY_DEFAULTS, "max_known": 5},
    clears_after=timedelta(days=1),
    needs=novelty_needs("app_user"),
)
