"""Impossible travel: one user's successful logins to one app too far apart for the time between.

Why it matters: a session or refresh token used from two continents within an hour means two
parties hold it. Consecutive logins are paired per user *and app*: a server-side app (Slack's
servers refreshing a token) and the user's laptop are rightly in different places, while one
client in two places at once is not. Pairs from the same /24 are ignored (one network, whatever
the geo database says), and so are distances below ``min_km`` (mobile-carrier and ISP IPs are
often geolocated a region or a coast away). The later login must come from a country neither the
user nor any user of the app logged in from in the last ``days``: alternating between known places
(home and a vendor's cloud region, a team abroad) is routine, a token replayed elsewhere is not.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from oauthwatch.detect.base import Context, Detector, Finding, fmt_int, fmt_time
from oauthwatch.detect.data import Frames
from oauthwatch.detect.needs import Data, days_of, hours_of, needs
from oauthwatch.rules.network import network_label

RUNBOOK = (
    "Compare both logins (evidence): app, IP, country. Is one of them a VPN or a cloud egress the user uses?",
    "Ask the user whether both were them.",
    "If not, revoke the user's sessions and OAuth tokens and reset the password.",
    "Look for other users logging in from the far-away IP in Investigate.",
)


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in kilometres."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    lookback = timedelta(hours=int(ctx.get("lookback_hours")))
    rows = frames.recent(ctx.window + lookback)
    floor = pd.Timestamp(ctx.window_start - lookback)
    if frames.previous is not None and frames.raw_start is not None and frames.raw_start > floor:
        # Raw logins start at the windows: each pair's last login before them comes from the load.
        prev_rows = frames.previous[frames.previous["login_time"] >= floor]
        rows = pd.concat([prev_rows, rows], ignore_index=True) if len(prev_rows) else rows
    rows = rows[
        rows["success"] & rows["latitude"].notna() & rows["longitude"].notna() & (rows["user_id"] != "")
    ]
    if rows.empty:
        return []
    rows = rows.sort_values(["user_id", "application", "login_time"])
    prev = rows.groupby(["user_id", "application"]).shift(1)
    pairs = rows.assign(
        p_time=prev["login_time"],
        p_lat=prev["latitude"],
        p_lon=prev["longitude"],
        p_ip=prev["source_ip"],
        p_country=prev["country_iso"],
        p_app=rows["application"],
    )
    pairs = pairs[pairs["p_time"].notna() & (pairs["login_time"] >= pd.Timestamp(ctx.window_start))]
    if pairs.empty:
        return []
    km = haversine_km(
        pairs["p_lat"].to_numpy(float),
        pairs["p_lon"].to_numpy(float),
        pairs["latitude"].to_numpy(float),
        pairs["longitude"].to_numpy(float),
    )
    hours = np.maximum((pairs["login_time"] - pairs["p_time"]).dt.total_seconds().to_numpy() / 3600, 1 / 60)
    speed = km / hours
    pairs = pairs.assign(km=km, kmh=speed)
    bad = pairs[(pairs["km"] >= float(ctx.get("min_km"))) & (pairs["kmh"] >= float(ctx.get("max_kmh")))]
    bad = bad[bad["source_ip"].map(network_label) != bad["p_ip"].map(network_label)]
    # Alternating between two places the user has both used before (home and a vendor's cloud
    # region, say) is routine; a stolen token shows up from a country new for the user.
    known = frames.sightings("user_country")
    lo = ctx.window_start - timedelta(days=int(ctx.get("days")))
    by_app = frames.sightings("app_country")
    fresh = [
        bool(c)
        and c != pc
        and not known.seen(u, c, lo, ctx.window_start)
        and not by_app.seen(a, c, lo, ctx.window_start)
        for u, a, c, pc in zip(
            bad["user_id"], bad["application"], bad["country_iso"], bad["p_country"], strict=True
        )
    ]
    bad = bad[fresh] if len(bad) else bad
    findings = []
    for user_id, urows in bad.groupby("user_id"):
        r = urows.sort_values("kmh").iloc[-1]
        user = str(r["username"]) if isinstance(r["username"], str) and r["username"] else str(user_id)
        minutes = max(1, round((r["login_time"] - r["p_time"]).total_seconds() / 60))
        text = (
            f"{user} logged in from {r['p_ip']} ({r['p_country'] or '?'}) at {fmt_time(r['p_time'].to_pydatetime())} "
            f"and from {r['source_ip']} ({r['country_iso'] or '?'}) {minutes} minute(s) later: {fmt_int(r['km'])} km apart, "
            f"which would need {fmt_int(r['kmh'])} km/h. Two parties are probably using this account or its tokens."
        )
        findings.append(
            Finding(
                detector=DETECTOR.id,
                severity="high",
                org=ctx.org,
                subject_type="user",
                subject=user,
                title=f"Impossible travel for {user}: {r['p_country'] or '?'} → {r['country_iso'] or '?'} in {minutes} min",
                explanation=text,
                evidence={
                    "user": user,
                    "from_ip": str(r["p_ip"]),
                    "from_country": str(r["p_country"]),
                    "from_app": str(r["p_app"]),
                    "to_ip": str(r["source_ip"]),
                    "to_country": str(r["country_iso"]),
                    "to_app": str(r["application"]),
                    "km": round(float(r["km"])),
                    "minutes": minutes,
                    "kmh": round(float(r["kmh"])),
                },
                runbook=RUNBOOK,
                dedupe_key=f"impossible_travel:{ctx.org}:{user_id}",
                event_start=r["p_time"].to_pydatetime(),
                event_end=r["login_time"].to_pydatetime(),
            )
        )
    return findings


DETECTOR = Detector(
    id="impossible_travel",
    title="Impossible travel",
    severity="high",
    description="A user's consecutive successful logins are further apart than any flight could cover in the time between.",
    runbook=RUNBOOK,
    fn=_detect,
    defaults={"min_km": 2500.0, "max_kmh": 1000.0, "lookback_hours": 24, "days": 30},
    clears_after=timedelta(days=1),
    # The windows' logins, each (user, app)'s last one before them, and the countries' sightings.
    needs=needs(
        Data.WINDOW_LOGINS,
        Data.PREVIOUS_LOGINS,
        seen=("user_country", "app_country"),
        lookback=days_of("days"),
        previous_lookback=hours_of("lookback_hours"),
    ),
)
