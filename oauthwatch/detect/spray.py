"""Password spray / credential stuffing: one source failing for many users within minutes.

Why it matters: spraying tries a few passwords against many accounts from one address to stay
under per-user lockout; credential stuffing replays leaked pairs. Both show as one IP failing for
many distinct users in a short span. A success for one of those users from the same IP afterwards
means the attacker got in: critical.

How (Sigma's vocabulary): value_count(user) by source_ip over ``span_minutes`` >= ``min_users``.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pandas as pd

from oauthwatch.detect.base import Context, Detector, Finding, fmt_time
from oauthwatch.detect.data import Frames

RUNBOOK = (
    "Block the source IP at the network edge or with a login IP restriction.",
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


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    win = frames.recent(ctx.window)
    fails = win[~win["success"] & (win["source_ip"] != "")]
    min_users = int(ctx.get("min_users"))
    span = pd.Timedelta(minutes=int(ctx.get("span_minutes")))
    findings = []
    per_ip = fails.groupby("source_ip")["user_id"].nunique()
    for ip in per_ip[per_ip >= min_users].index:
        rows = fails[fails["source_ip"] == ip].sort_values("login_time")
        who = rows["user_id"].where(rows["user_id"] != "", rows["username"].fillna("")).astype(str)
        n_users, first, last = _max_users_in_span(rows["login_time"], who, span)
        if n_users < min_users:
            continue
        targeted = set(who)
        wins = win[win["success"] & (win["source_ip"] == ip) & (win["login_time"] > rows["login_time"].min())]
        wins = wins[wins["user_id"].isin(targeted) | wins["username"].isin(targeted)]
        compromised = sorted(set(wins["username"].fillna(wins["user_id"]).astype(str)))
        statuses = rows["status"].value_counts()
        apps = sorted({a for a in rows["application"] if a})
        minutes = max(1, round((last - first).total_seconds() / 60))
        text = (
            f"IP {ip} failed to log in as {n_users} different users within {minutes} minute(s) "
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
                subject_type="ip",
                subject=str(ip),
                title=f"Password spray from {ip}: {n_users} users in {minutes} min",
                explanation=text,
                evidence={
                    "source_ip": str(ip),
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
                dedupe_key=f"password_spray:{ctx.org}:{ip}",
                event_start=rows["login_time"].min().to_pydatetime(),
                event_end=rows["login_time"].max().to_pydatetime(),
            )
        )
    return findings


DETECTOR = Detector(
    id="password_spray",
    title="Password spray / credential stuffing",
    severity="high",
    description="One source IP fails to log in as many distinct users within a few minutes.",
    runbook=RUNBOOK,
    fn=_detect,
    defaults={"min_users": 8, "span_minutes": 10},
    clears_after=timedelta(hours=6),
)
