"""Legacy OAuth flow in use: the OAuth Username-Password flow (or OAuth 1.0 "Remote Access Client").

Why it matters: the username-password flow sends a user's password (and security token) to the
app on every login, cannot do MFA, and Salesforce blocks it by default in new orgs. Any
successful use is a credential waiting to leak. The first use in ``days`` is medium; an app that
keeps using it (or is allowlisted) is reported at low severity, for the digest, not as a page.
"""

from __future__ import annotations

from datetime import timedelta

from oauthwatch.detect.allowlist import approved
from oauthwatch.detect.base import Context, Detector, Finding, fmt_int
from oauthwatch.detect.data import Frames
from oauthwatch.detect.needs import Data, days_of, needs

LEGACY_SUBTYPES = {"oauth username-password", "oauthusernamepassword", "oauthpassword"}
LEGACY_TYPES = {"remote access client"}

RUNBOOK = (
    "Find the integration behind the app and its owner (evidence: users, IPs).",
    "Move it to the JWT bearer or client credentials flow; neither sends a password.",
    "Until then, make the user API-only, restrict it to the integration's IP ranges and rotate its password.",
    "Then block the flow: Setup → OAuth and OpenID Connect Settings → Block authorization flows using username and password.",
)


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    win = frames.recent(ctx.window)
    win = win[win["success"]]
    legacy = win[
        win["login_subtype"].str.casefold().isin(LEGACY_SUBTYPES)
        | win["login_type"].fillna("").str.casefold().isin(LEGACY_TYPES)
    ]
    findings = []
    for app_key, rows in legacy.groupby("application"):
        app = str(app_key)
        users = sorted(set(rows["username"].fillna(rows["user_id"]).astype(str)))
        flow = str(rows["login_subtype"].mode().iloc[0] or rows["login_type"].mode().iloc[0])
        entry = approved(frames.allowlist, str(app), ctx.now)
        lo = ctx.window_start - timedelta(days=int(ctx.get("days")))
        known = any(
            frames.sightings(kind, successes_only=True).seen(app, value, lo, ctx.window_start)
            for kind, legacy_names in (("app_flow", LEGACY_SUBTYPES), ("app_type", LEGACY_TYPES))
            for value in frames.sightings(kind, successes_only=True).values(app)
            if value.casefold() in legacy_names
        )
        findings.append(
            Finding(
                detector=DETECTOR.id,
                severity="low" if entry or known else "medium",
                org=ctx.org,
                subject_type="app",
                subject=str(app) or "(none)",
                title=f"{app or 'An app'} uses the legacy flow {flow}",
                explanation=(
                    f"{app or 'An app'} logged in {fmt_int(len(rows))} time(s) with \u201c{flow}\u201d in the last "
                    f"{int(ctx.window.total_seconds() // 60)} minutes, as {', '.join(users[:3])}. This flow sends the "
                    "user's password to the app on every login and cannot use MFA."
                    + (" The app is on the allowlist, so this is reported at low severity." if entry else "")
                    + (
                        f" It already used this flow in the previous {ctx.get('days')} days (ongoing, low severity)."
                        if known and not entry
                        else ""
                    )
                ),
                evidence={
                    "app": str(app),
                    "flow": str(flow),
                    "logins": len(rows),
                    "users": ", ".join(users[:5]),
                    "ips": ", ".join(sorted(set(rows["source_ip"]))[:5]),
                    "allowlisted": bool(entry),
                    "used_before": known,
                },
                runbook=RUNBOOK,
                dedupe_key=f"legacy_flow:{ctx.org}:{app}",
                event_start=rows["login_time"].min().to_pydatetime(),
                event_end=rows["login_time"].max().to_pydatetime(),
            )
        )
    return findings


DETECTOR = Detector(
    id="legacy_flow",
    title="Legacy OAuth flow in use",
    severity="medium",
    description="Successful logins with the OAuth Username-Password flow or OAuth 1.0.",
    runbook=RUNBOOK,
    fn=_detect,
    defaults={"days": 30},
    clears_after=timedelta(days=1),
    needs=needs(Data.WINDOW_LOGINS, Data.ALLOWLIST, seen=("app_flow", "app_type"), lookback=days_of("days")),
)
