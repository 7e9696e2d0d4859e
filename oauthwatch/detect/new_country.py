"""New country: a user's successful logins from a country they have not logged in from in N days.

Why it matters: a refresh token replayed by an attacker, or a password used from abroad, shows
first as a country new for that user (their own history across every app) *and* new for the app
(no user of it came from there in N days: a vendor's cloud region or a team abroad is not news).
The finding names the app the login went through, which is where to revoke. Allowlisted countries of an approved app do not fire; users
with little history (``min_logins``) or many countries (``max_known``: travellers) are skipped.
"""

from __future__ import annotations

from datetime import timedelta

from oauthwatch.detect.allowlist import approved
from oauthwatch.detect.base import Context, Detector, Finding, fmt_int, fmt_time
from oauthwatch.detect.data import Frames
from oauthwatch.detect.novelty import NOVELTY_DEFAULTS, novel_values, novelty_needs

RUNBOOK = (
    "Check which app, IPs and flow the login from the new country used (evidence).",
    "Ask the user whether they are travelling or use a VPN exit in that country.",
    "If not, revoke the user's tokens for this app and their sessions, and reset their password.",
    "If an integration moved, add the country to the app's allowlist entry: `oauthwatch allow add APP --country XX`.",
)


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    out = []
    lo = ctx.window_start - timedelta(days=int(ctx.get("days")))
    by_app = frames.sightings("app_country")
    for user_id, country, rows, known, _ in novel_values(frames, ctx, "country_iso", group="user_id"):
        user = next((str(u) for u in rows["username"] if isinstance(u, str) and u), user_id)
        for app_key, arows in rows.groupby("application"):
            app = str(app_key)
            entry = approved(frames.allowlist, app, ctx.now)
            if entry is not None and country in entry.countries:
                continue
            if by_app.seen(app, country, lo, ctx.window_start):
                continue  # other users of this app are there too: a vendor region or a team abroad
            ips = sorted(set(arows["source_ip"]))
            flows = sorted({f for f in arows["login_subtype"] if f})
            first = arows["login_time"].min()
            out.append(
                Finding(
                    detector=DETECTOR.id,
                    severity="high" if known <= 2 else "medium",
                    org=ctx.org,
                    subject_type="app",
                    subject=str(app) or "(none)",
                    title=f"New country for {user} on {app}: {country}",
                    explanation=(
                        f"{user} logged in to {app} {fmt_int(len(arows))} time(s) from {country} since "
                        f"{fmt_time(first.to_pydatetime())} (IP {', '.join(ips[:3])}"
                        + (f", flow {', '.join(flows)}" if flows else "")
                        + f"); in the previous {ctx.get('days')} days this user logged in only from "
                        f"{known} other country(s), and no user of {app} from this one."
                    ),
                    evidence={
                        "app": str(app),
                        "user": user,
                        "user_id": user_id,
                        "country": country,
                        "events": len(arows),
                        "ips": ", ".join(ips[:5]),
                        "flows": ", ".join(flows),
                        "known_countries": known,
                    },
                    runbook=RUNBOOK,
                    dedupe_key=f"new_country:{ctx.org}:{app}:{user_id}:{country}",
                    event_start=first.to_pydatetime(),
                    event_end=arows["login_time"].max().to_pydatetime(),
                )
            )
    return out


DETECTOR = Detector(
    id="new_country",
    title="New country for a user",
    severity="medium",
    description="A user's successful logins from a country they have not logged in from in the last N days.",
    runbook=RUNBOOK,
    fn=_detect,
    defaults={**NOVELTY_DEFAULTS, "max_known": 5, "min_logins": 10},
    clears_after=timedelta(days=1),
    needs=novelty_needs("user_country", "app_country"),
)
