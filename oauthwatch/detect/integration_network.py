"""Integration user outside its known ranges: an approved app or its integration users
authenticating from an IP or country outside what the allowlist says.

Why it matters: an integration user's credentials work from anywhere unless Login IP Ranges are
set; the allowlist records where the integration really runs, so a success from elsewhere is
someone else holding its key, certificate or token.
"""

from __future__ import annotations

from datetime import timedelta

from oauthwatch.detect.base import Context, Detector, Finding, fmt_int
from oauthwatch.detect.data import Frames
from oauthwatch.detect.findings import finding
from oauthwatch.detect.needs import Data, needs
from oauthwatch.rules.network import in_ranges, network_label

RUNBOOK = (
    "Compare the source IP with the integration's documented egress (evidence: expected ranges).",
    "Ask the integration's owner (allowlist owner) whether its hosting changed.",
    "If not, revoke the integration user's tokens, rotate the certificate or secret, and set Login IP Ranges on its profile.",
    "If it did, update the allowlist entry: `oauthwatch allow add APP --ip-range …`.",
)


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    win = frames.recent(ctx.window)
    win = win[win["success"]]
    out = []
    for e in frames.allowlist:
        if not e.active_at(ctx.now) or not (e.ip_ranges or e.countries):
            continue
        mask = win["application"].str.casefold() == e.app_name.casefold()
        if e.integration_users:
            mask |= win["user_id"].isin(e.integration_users) | win["username"].isin(e.integration_users)
        rows = win[mask]
        if rows.empty:
            continue
        bad_ip = ~rows["source_ip"].map(lambda ip, r=e.ip_ranges: in_ranges(ip, r)) if e.ip_ranges else False
        bad_cc = (
            ~rows["country_iso"].isin(e.countries) & (rows["country_iso"] != "") if e.countries else False
        )
        off = rows[bad_ip | bad_cc]
        for net, nrows in off.groupby(off["source_ip"].map(network_label)):
            users = sorted(set(nrows["username"].fillna(nrows["user_id"]).astype(str)))
            out.append(
                finding(
                    DETECTOR,
                    ctx,
                    subject=e.app_name,
                    title=f"{e.app_name} authenticated from outside its known ranges: {net}",
                    explanation=(
                        f"{e.app_name} (owner {e.owner or 'unknown'}) logged in {fmt_int(len(nrows))} time(s) from "
                        f"{', '.join(sorted(set(nrows['source_ip']))[:3])} ({', '.join(sorted({c for c in nrows['country_iso'] if c})) or 'unknown country'}) "
                        f"as {', '.join(users[:3])}; the allowlist expects "
                        + " and ".join(
                            x
                            for x in (
                                f"IP ranges {', '.join(e.ip_ranges)}" if e.ip_ranges else "",
                                f"countries {', '.join(e.countries)}" if e.countries else "",
                            )
                            if x
                        )
                        + "."
                    ),
                    evidence={
                        "app": e.app_name,
                        "network": net,
                        "ips": ", ".join(sorted(set(nrows["source_ip"]))[:5]),
                        "countries": ", ".join(sorted({c for c in nrows["country_iso"] if c})),
                        "users": ", ".join(users[:5]),
                        "logins": len(nrows),
                        "expected_ranges": ", ".join(e.ip_ranges),
                        "expected_countries": ", ".join(e.countries),
                        "owner": e.owner or "",
                    },
                    key=f"{e.app_name}:{net}",
                    span=(nrows["login_time"].min(), nrows["login_time"].max()),
                )
            )
    return out


DETECTOR = Detector(
    id="integration_network",
    title="Integration outside its known ranges",
    severity="high",
    description="An allowlisted app or its integration users authenticate from an IP or country outside the allowlist entry.",
    runbook=RUNBOOK,
    fn=_detect,
    clears_after=timedelta(days=1),
    needs=needs(Data.WINDOW_LOGINS, Data.ALLOWLIST),
)
