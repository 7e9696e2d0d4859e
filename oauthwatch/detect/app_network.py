"""An app's traffic leaving its usual networks for hosting providers, VPNs or Tor.

Why it matters: in the 2025 token-theft campaigns the stolen refresh tokens of a trusted vendor
app were replayed from AWS, DigitalOcean and Tor exits, while the vendor's own servers called from
one provider. Each address is classed offline (oauthwatch.intel: shipped provider and Tor ranges
plus what `oauthwatch intel update` loaded); a recent success from a class and provider the app
never used in its history (Tor is never "usual") is someone else holding its tokens. One alert per
app: later logins update it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from oauthwatch.detect.base import Context, Detector, Finding, fmt_int
from oauthwatch.detect.data import Frames
from oauthwatch.detect.needs import Data, needs
from oauthwatch.detect.sightings import Sightings
from oauthwatch.intel.networks import NetworkIndex

RUNBOOK = (
    "Look at the evidence: which users' tokens were used, from which provider or Tor exit, with which user agent.",
    "Ask the app's vendor whether it moved its infrastructure; a Tor exit never is the vendor.",
    "If not: `oauthwatch grants --app APP` for who is exposed, `oauthwatch revoke --app APP` (dry run first), "
    "then follow docs/incident-response.md.",
    "Hunt the addresses across all history: put them in a file and run `oauthwatch hunt --ioc FILE`.",
)
SKIP_APPS = {"", "browser"}


def _usual(index: NetworkIndex, seen: Sightings, app: str, lo: datetime, hi: datetime) -> dict[str, int]:
    """The app's successful logins in ``[lo, hi)`` per class:provider, from its networks' sightings
    (a /24 or /48 is classed by its first address: provider ranges are not cut finer)."""
    out: dict[str, int] = {}
    for net in seen.values(app):
        n = seen.count(app, net, lo, hi)
        if n:
            k = _key(index, net.split("/")[0])
            out[k] = out.get(k, 0) + n
    return out


def _key(index: NetworkIndex, ip: str) -> str:
    c = index.classify(ip)
    return f"{c.kind}:{c.provider}"


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    win = frames.recent(ctx.window)
    win = win[win["success"].astype(bool) & ~win["application"].str.casefold().isin(SKIP_APPS)]
    if win.empty:
        return []
    index = frames.extra.get("networks") or NetworkIndex()
    seen = frames.sightings("app_network", successes_only=True)
    ws, lo = ctx.window_start, ctx.now - frames.history
    classes = {ip: index.classify(ip) for ip in win["source_ip"].unique()}
    out = []
    min_history = int(ctx.get("min_history_logins"))
    for app, rows in win.assign(
        k=win["source_ip"].map(lambda ip: f"{classes[ip].kind}:{classes[ip].provider}")
    ).groupby("application"):
        app = str(app)
        usual = _usual(index, seen, app, lo, ws)
        usual_keys = set(usual)
        if sum(usual.values()) < min_history:
            continue  # a new app: new_app's business, not a change of networks

        odd = rows[
            rows["k"].map(
                lambda k, s=usual_keys: not k.startswith("other:") and (k.startswith("tor:") or k not in s)
            )
        ]
        if odd.empty:
            continue
        ips = sorted(set(odd["source_ip"]))
        labels = sorted({classes[ip].label for ip in ips})
        tor = any(classes[ip].kind == "tor" for ip in ips)
        users = sorted(set(odd["username"].fillna(odd["user_id"]).astype(str)))
        agents = sorted({a for a in odd["browser"].fillna("") if a and a != "Unknown"})
        usual_txt = ", ".join(sorted(k.replace(":", " ").strip() for k in usual_keys)) or "none"
        out.append(
            Finding(
                detector=DETECTOR.id,
                severity="critical" if tor else "high",
                org=ctx.org,
                subject_type="app",
                subject=str(app),
                title=f"{app} used from {', '.join(labels)}",
                explanation=(
                    f"{app} authenticated {fmt_int(len(odd))} time(s) as {', '.join(users[:3])} from "
                    f"{', '.join(ips[:4])} ({', '.join(labels)}), networks it never used before "
                    f"(its history: {usual_txt})"
                    + (f", with user agent {', '.join(agents[:3])}" if agents else "")
                    + ". A trusted app's tokens used from elsewhere are someone else holding them."
                ),
                evidence={
                    "app": str(app),
                    "ips": ", ".join(ips[:10]),
                    "network_classes": ", ".join(labels),
                    "users": ", ".join(users[:10]),
                    "user_agents": ", ".join(agents[:5]),
                    "logins": len(odd),
                    "usual_networks": usual_txt,
                },
                runbook=RUNBOOK,
                dedupe_key=f"{DETECTOR.id}:{ctx.org}:{app}",
                event_start=odd["login_time"].min().to_pydatetime(),
                event_end=odd["login_time"].max().to_pydatetime(),
            )
        )
    return out


DETECTOR = Detector(
    id="app_risky_network",
    title="App used from hosting, VPN or Tor",
    severity="high",
    description="An app's logins come from a hosting provider, VPN or Tor exit it never used before (Tor: always).",
    runbook=RUNBOOK,
    fn=_detect,
    defaults={"min_history_logins": 5},
    clears_after=timedelta(days=1),
    needs=needs(Data.WINDOW_LOGINS, Data.NETWORKS, seen=("app_network",)),  # over the configured history
)
