"""Password spray / credential stuffing: one source network failing for many users within minutes.

Why it matters: spraying tries a few passwords against many accounts from one address to stay
under per-user lockout; credential stuffing replays leaked pairs. Both show as one IP failing for
many distinct users in a short span. A success for one of those users from the same IP afterwards
means the attacker got in: critical.

How (Sigma's vocabulary): value_count(user) by source network (/24 or /48) over ``span_minutes``
>= ``min_users``. The network, not the single IP, is the source: sprays rotate through a few
addresses of one hosting range to stay under per-IP limits.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pandas as pd

from oauthwatch.detect.base import Context, Detector, Finding, fmt_time
from oauthwatch.detect.data import Frames
from oauthwatch.detect.needs import Data, needs
from oauthwatch.rules.network import network_label

RUNBOOK = (
    "Block the source network at the edge or with a login IP restriction.",
    "Check whether any targeted user then logged in successfully from that IP (evidence: compromised_users); reset those passwords and revoke their sessions and tokens.",
    "Look for the same pattern from neighbouring IPs in Investigate (group by network).",
    "Make sure MFA is enforced for the targeted users and that Login IP Ranges cover integration users.",
)


def _max_users_in_span(
    times: pd.Series, users: pd.Series, span: pd.Timedelta
) -> tuple[int, pd.Timestamp, pd.Timestamp]:
    t = times.to_numpy()
    u = users.to_numpy()
    counts: Counter[str] = Counter()
    best, best_lo, best_hi = 0, 0, 0
    lo = 0
    for hi in range(len(t)):
        counts[u[hi]] += 1
        while t[hi] - t[lo] > span.to_timedelta64():
            counts[u[lo]] -= 1
            if counts[u[lo]] == 0:
                del counts[u[lo]]
            lo += 1
        if len(counts) > best:
            best, best_lo, best_hi = len(counts), lo, hi
    return best, times.iloc[best_lo], times.iloc[best_hi]


def _source(net: str, ips: list[str]) -> str:
    return f"IP {ips[0]}" if len(ips) == 1 else f"Network {net} ({len(ips)} IPs: {', '.join(ips[:3])})"


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    win = frames.recent(ctx.window)
    fails = win[~win["success"] & (win["source_ip"] != "")]
    min_users = int(ctx.get("min_users"))
    span = pd.Timedelta(minutes=int(ctx.get("span_minutes")))
    findings = []
    fails = fails.assign(_net=fails["source_ip"].map(network_label))
    per_net = fails.groupby("_net")["user_id"].nunique()
    for net in per_net[per_net >= min_users].index:
        rows = fails[fails["_net"] == net].sort_values("login_time")
        who = rows["user_id"].where(rows["user_id"] != "", rows["username"].fillna("")).astype(str)
        n_users, first, last = _max_users_in_span(rows["login_time"], who, span)
        if n_users < min_users:
            continue
        targeted = set(who)
        ips = sorted(set(rows["source_ip"]))
        wins = win[
            win["success"] & win["source_ip"].isin(ips) & (win["login_time"] > rows["login_time"].min())
        ]
        wins = wins[wins["user_id"].isin(targeted) | wins["username"].isin(targeted)]
        compromised = sorted(set(wins["username"].fillna(wins["user_id"]).astype(str)))
        statuses = rows["status"].value_counts()
        apps = sorted({a for a in rows["application"] if a})
        minutes = max(1, round((last - first).total_seconds() / 60))
        text = (
            f"{_source(net, ips)} failed to log in as {n_users} different users within {minutes} minute(s) "
            f"(from {fmt_time(first.to_pydatetime())}; {len(rows)} failed attempts in the last "
            f"{int(ctx.window.total_seconds() // 60)} minutes, mostly \u201c{statuses.index[0]}\u201d). "
            "One source trying many accounts is a password spray or credential stuffing."
        )
        if compromised:
            text += f" It then logged in successfully as {', '.join(compromised[:3])}: treat those accounts as compromised."
        findings.append(
            Finding(
                detector=DETECTOR.id,
                severity="critical" if compromised else "high",
                org=ctx.org,
                subject_type="network",
                subject=str(net),
                title=f"Password spray from {net}: {n_users} users in {minutes} min",
                explanation=text,
                evidence={
                    "network": str(net),
                    "source_ips": ", ".join(ips[:10]),
                    "users_in_span": n_users,
                    "users_total": len(targeted),
                    "failed_attempts": len(rows),
                    "span_minutes": minutes,
                    "top_status": str(statuses.index[0]),
                    "apps": ", ".join(apps[:5]),
                    "countries": ", ".join(sorted({c for c in rows["country_iso"] if c})),
                    "compromised_users": ", ".join(compromised),
                },
                runbook=RUNBOOK,
                dedupe_key=f"password_spray:{ctx.org}:{net}",
                event_start=rows["login_time"].min().to_pydatetime(),
                event_end=rows["login_time"].max().to_pydatetime(),
            )
        )
    return findings


DETECTOR = Detector(
    id="password_spray",
    title="Password spray / credential stuffing",
    severity="high",
    description="One source network fails to log in as many distinct users within a few minutes.",
    runbook=RUNBOOK,
    fn=_detect,
    defaults={"min_users": 8, "span_minutes": 10},
    clears_after=timedelta(hours=6),
    needs=needs(Data.WINDOW_LOGINS),
)
