"""Stale grants: OAuth grants unused for more than N days (90 by default), per app.

The rule (last use, else creation, older than N days) is :func:`oauthwatch.rules.thresholds.stale_grants`,
which the dashboard's Tokens page applies with the same configured N.

Why it matters: every unused refresh token is a credential that can be stolen and replayed
without anyone missing it; revoking them costs nothing. Low severity: a hygiene task for the
digest, not a page.
"""

from __future__ import annotations

from oauthwatch.detect.base import Context, Detector, Finding
from oauthwatch.detect.data import Frames
from oauthwatch.detect.grants import latest_grants
from oauthwatch.detect.needs import Data, needs
from oauthwatch.rules.thresholds import STALE_GRANT_DAYS, stale_grants

RUNBOOK = (
    "List the stale grants on the dashboard's Tokens page.",
    "Revoke them (Setup → Connected Apps OAuth Usage → the app → Revoke) or ask their users first.",
    "Set a refresh-token policy that expires unused tokens (specific_inactivity).",
)


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    latest = latest_grants(frames)
    if latest.empty:
        return []
    days = int(ctx.get("days"))
    stale = latest[stale_grants(latest["last_used_date"], latest["created_date"], ctx.now, days)]
    out = []
    for app, rows in stale.groupby("app_name"):
        if len(rows) < int(ctx.get("min_grants")):
            continue
        out.append(
            Finding(
                detector=DETECTOR.id,
                severity="low",
                org=ctx.org,
                subject_type="app",
                subject=str(app),
                title=f"{len(rows)} grant(s) for {app} unused for over {days} days",
                explanation=(
                    f"{len(rows)} of the {int((latest['app_name'] == app).sum())} OAuth grants for {app} have not been "
                    f"used for more than {days} days. Unused refresh tokens are credentials nobody would miss if stolen."
                ),
                evidence={
                    "app": str(app),
                    "stale_grants": len(rows),
                    "users": int(rows["user_id"].nunique()),
                },
                runbook=RUNBOOK,
                dedupe_key=f"stale_grants:{ctx.org}:{app}",
            )
        )
    return out


DETECTOR = Detector(
    id="stale_grants",
    title="Grants unused for a long time",
    severity="low",
    description="OAuth grants not used for more than N days.",
    runbook=RUNBOOK,
    fn=_detect,
    defaults={"days": STALE_GRANT_DAYS, "min_grants": 1},
    replayable=False,
    needs=needs(Data.GRANTS),
)
