"""A user agent never seen for the app, above all a scripting library.

Why it matters: stolen tokens are replayed by scripts, and the 2025 campaigns announced themselves
with ``python-requests/2.32.4``, ``Python/3.11 aiohttp`` and ``Salesforce-Multi-Org-Fetcher/1.0``
where the vendor's own servers sent something else. The user agent is the login's ``browser``
(LoginHistory Browser, ELF Login BROWSER_TYPE). Apps with too little history are skipped.
"""

from __future__ import annotations

import re
from datetime import timedelta

from oauthwatch.detect.base import Context, Detector, Finding, fmt_int
from oauthwatch.detect.data import Frames
from oauthwatch.detect.needs import Data, needs

RUNBOOK = (
    "Compare the new user agent with what the app's vendor uses (evidence: usual agents).",
    "A scripting library (python-requests, aiohttp, curl, a custom fetcher) from a trusted app is a stolen token until the vendor says otherwise.",
    "Check where it came from: `oauthwatch intel lookup IP`; then `oauthwatch grants --app APP` and docs/incident-response.md.",
)
SCRIPTED = re.compile(
    r"python|aiohttp|curl|wget|go-http|okhttp|java/|node-fetch|axios|fetcher|powershell", re.I
)
IGNORED = {"", "unknown", "n/a"}


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    win = frames.recent(ctx.window)
    if win.empty:
        return []
    seen = frames.sightings("app_agent", successes_only=True)
    agents = win["browser"].fillna("").astype(str)
    win = win[
        win["success"].astype(bool)
        & (win["application"].str.casefold() != "browser")
        & ~agents.str.casefold().isin(IGNORED)
    ]
    lo, ws = ctx.now - frames.history, ctx.window_start
    out = []
    for app_key, rows in win.groupby("application"):
        app = str(app_key)
        counts = {ua: seen.count(app, ua, lo, ws) for ua in seen.values(app) if ua.casefold() not in IGNORED}
        usual = {ua for ua, n in counts.items() if n}
        if sum(counts[ua] for ua in usual) < int(ctx.get("min_history_logins")):
            continue
        new = rows[~rows["browser"].isin(usual)]
        if new.empty:
            continue
        agents_new = sorted(set(new["browser"]))
        scripted = [a for a in agents_new if SCRIPTED.search(a)]
        users = sorted(set(new["username"].fillna(new["user_id"]).astype(str)))
        usual_txt = ", ".join(sorted(usual)[:5])
        out.append(
            Finding(
                detector=DETECTOR.id,
                severity="high" if scripted else "low",
                org=ctx.org,
                subject_type="app",
                subject=str(app),
                title=f"{app}: new user agent {agents_new[0]}"
                + (f" and {len(agents_new) - 1} more" if len(agents_new) > 1 else ""),
                explanation=(
                    f"{app} logged in {fmt_int(len(new))} time(s) as {', '.join(users[:3])} with "
                    f"{', '.join(agents_new[:3])}, never seen for it before (usual: {usual_txt or 'none recorded'})"
                    + ("; that is a scripting client, as token thieves use." if scripted else ".")
                ),
                evidence={
                    "app": str(app),
                    "new_user_agents": ", ".join(agents_new[:5]),
                    "scripted": bool(scripted),
                    "usual_user_agents": usual_txt,
                    "users": ", ".join(users[:10]),
                    "ips": ", ".join(sorted(set(new["source_ip"]))[:10]),
                    "logins": len(new),
                },
                runbook=RUNBOOK,
                dedupe_key=f"{DETECTOR.id}:{ctx.org}:{app}",
                event_start=new["login_time"].min().to_pydatetime(),
                event_end=new["login_time"].max().to_pydatetime(),
            )
        )
    return out


DETECTOR = Detector(
    id="new_user_agent",
    title="New user agent for an app",
    severity="medium",
    description="An app logs in with a user agent never seen for it: high for a scripting library, low otherwise.",
    runbook=RUNBOOK,
    fn=_detect,
    defaults={"min_history_logins": 5},
    clears_after=timedelta(days=1),
    needs=needs(Data.WINDOW_LOGINS, seen=("app_agent",)),  # over the configured history
)
