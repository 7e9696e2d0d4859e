"""New country for an app: successful logins from a country the app has not used in N days.

Why it matters: integrations run from fixed data centres; a refresh token replayed by an attacker
or a vendor moving its workers shows first as a new country. Allowlisted countries of an approved
app are expected and do not fire.
"""

from __future__ import annotations

from datetime import timedelta

from oauthwatch.detect.base import Context, Detector, Finding
from oauthwatch.detect.data import Frames
from oauthwatch.detect.novelty import NOVELTY_DEFAULTS, novel_values, novelty_finding

RUNBOOK = (
    "Check who logged in from the new country and from which IPs (evidence: users, ips).",
    "Ask the app's owner whether the integration moved (new cloud region, vendor change, travelling user).",
    "If nobody expects it, revoke the user's tokens for this app and reset its credentials.",
    "If it is expected, add the country to the app's allowlist entry: `oauthwatch allow add APP --country XX`.",
)


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    out = []
    for app, value, rows, known, entry in novel_values(frames, ctx, "country_iso"):
        if entry is not None and value in entry.countries:
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
                what="country",
                severity="high" if known <= 2 else "medium",
                subject_type="app",
                subject=app,
            )
        )
    return out


DETECTOR = Detector(
    id="new_country",
    title="New country for an app",
    severity="medium",
    description="Successful logins of an app from a country it has not used in the last N days.",
    runbook=RUNBOOK,
    fn=_detect,
    defaults={**NOVELTY_DEFAULTS, "max_known": 10},
    clears_after=timedelta(days=1),
)
