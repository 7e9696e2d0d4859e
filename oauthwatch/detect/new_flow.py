"""Unexpected flow for an app: a successful OAuth flow the app has not used in N days.

Why it matters: an integration that always used the JWT bearer flow and suddenly refreshes tokens
(``OAuth Refresh Token``) or logs in with a password is being driven by someone else, or was
reconfigured without review.
"""

from __future__ import annotations

from datetime import timedelta

from oauthwatch.detect.base import Context, Detector, Finding
from oauthwatch.detect.data import Frames
from oauthwatch.detect.novelty import NOVELTY_DEFAULTS, novel_values, novelty_finding, novelty_needs

RUNBOOK = (
    "Check who used the new flow and from where (evidence: users, IPs, countries).",
    "Ask the app's owner whether the integration changed how it authenticates.",
    "If unexpected, revoke the user's tokens for this app and rotate its secret or certificate.",
)


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    return [
        novelty_finding(
            DETECTOR.id,
            RUNBOOK,
            ctx,
            app=app,
            value=value,
            rows=rows,
            known=known,
            what="flow",
            severity="medium",
            subject_type="app",
            subject=app,
        )
        for app, value, rows, known, _entry in novel_values(frames, ctx, "login_subtype")
    ]


DETECTOR = Detector(
    id="new_flow",
    title="Unexpected OAuth flow for an app",
    severity="medium",
    description="An app logs in successfully with an OAuth flow it has not used in the last N days.",
    runbook=RUNBOOK,
    fn=_detect,
    defaults={**NOVELTY_DEFAULTS, "max_known": 4},
    clears_after=timedelta(days=1),
    needs=novelty_needs("app_flow"),
)
