"""Shared logic of the "first seen" detectors (new country, new network, new user for an app).

A value is new for an app when the app's successful logins in the recent window carry it and the
app's logins over the previous ``days`` never did. Apps younger than ``min_history_days`` are
skipped (everything is new for them: the new-app detector speaks for them), and so are apps whose
baseline already holds more than ``max_known`` distinct values (an app used from everywhere makes
"new" meaningless) or that met a new value more than ``max_new_per_week`` times a week in the
baseline (after its first week): novelty that is routine for an app is not news about it.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from oauthwatch.detect.allowlist import AllowEntry, approved
from oauthwatch.detect.base import Context, Finding, fmt_int, fmt_time
from oauthwatch.detect.data import Frames
from oauthwatch.detect.needs import Data, Needs, days_of, needs


def novel_values(
    frames: Frames,
    ctx: Context,
    column: str,
    group: str = "application",
) -> list[tuple[str, str, pd.DataFrame, int, AllowEntry | None]]:
    """``(group value, new value, window rows with it, known values count, allowlist entry)``.

    ``group`` is ``application`` (new for the app) or ``user_id`` (new for the user, who then
    needs ``min_logins`` logins in the baseline). The allowlist entry is the app's (per-app
    grouping) or None.
    """
    win = frames.recent(ctx.window)
    if ctx.get("successes_only"):
        win = win[win["success"]]
    if win.empty:
        return []
    days = timedelta(days=int(ctx.get("days")))
    lo, hi = ctx.window_start - days, ctx.window_start
    settle = lo + timedelta(days=7)
    weeks = max((days - timedelta(days=7)) / timedelta(days=7), 1.0)
    index = frames.sightings(KIND_OF[(group, column)])
    out = []
    min_age = pd.Timestamp(ctx.window_start) - pd.Timedelta(days=int(ctx.get("min_history_days")))
    # The pairs of the window not seen in the baseline, at once; only their groups are looked at.
    seen = index.pairs_seen(lo, hi)
    pairs = zip(win[group].astype(str).tolist(), win[column].astype(str).tolist(), strict=True)
    fresh = {(g, v) for g, v in set(pairs) if g and v and (g, v) not in seen}
    for key in sorted({g for g, _ in fresh}):
        if group == "application":
            first = frames.app_first_seen.get(key)
            if first is None or first > min_age:
                continue
        rows = win[win[group] == key]
        new = [v for v in rows[column].unique() if (key, v) in fresh]
        mine = [v for v in index.values(key) if v]
        known = {v for v in mine if index.seen(key, v, lo, hi)}
        if not known or len(known) > int(ctx.get("max_known")):
            continue
        if group != "application" and sum(index.count(key, v, lo, hi) for v in mine) < int(
            ctx.get("min_logins")
        ):
            continue
        # Where new values are routine (a new one most weeks), one more is not news.
        firsts = (index.first_seen(key, v) for v in mine)
        newcomers = sum(1 for t in firsts if t is not None and settle <= t < hi)
        if newcomers / weeks > float(ctx.get("max_new_per_week")):
            continue
        entry = approved(frames.allowlist, str(key), ctx.now) if group == "application" else None
        for value in new:
            out.append((str(key), str(value), rows[rows[column] == value], len(known), entry))
    return out


def novelty_finding(
    detector_id: str,
    runbook: tuple[str, ...],
    ctx: Context,
    *,
    app: str,
    value: str,
    rows: pd.DataFrame,
    known: int,
    what: str,
    severity: str,
    subject_type: str,
    subject: str,
) -> Finding:
    """A uniform finding for "``what`` ``value`` is new for ``app``"."""
    users = rows["username"].fillna(rows["user_id"]).astype(str).unique()
    ips = rows["source_ip"].unique()
    first = rows["login_time"].min()
    text = (
        f"{app} authenticated {fmt_int(len(rows))} time(s) from {what} {value} since {fmt_time(first.to_pydatetime())}; "
        f"in the previous {ctx.get('days')} days it used {known} other {what}(s) and never this one. "
        f"User(s): {', '.join(users[:3])}{'…' if len(users) > 3 else ''}; IP(s): {', '.join(ips[:3])}{'…' if len(ips) > 3 else ''}."
    )
    return Finding(
        detector=detector_id,
        severity=severity,  # type: ignore[arg-type]
        org=ctx.org,
        subject_type=subject_type,  # type: ignore[arg-type]
        subject=subject,
        title=f"New {what} for {app}: {value}",
        explanation=text,
        evidence={
            "app": app,
            what.replace(" ", "_"): value,
            "events": len(rows),
            "known_values": known,
            "users": ", ".join(users[:5]),
            "ips": ", ".join(ips[:5]),
            "countries": ", ".join(sorted({c for c in rows["country_iso"] if c})),
        },
        runbook=runbook,
        dedupe_key=f"{detector_id}:{ctx.org}:{app}:{value}",
        event_start=first.to_pydatetime(),
        event_end=rows["login_time"].max().to_pydatetime(),
    )


# (group column, value column) -> its login_seen_daily kind (oauthwatch.store.rollups_detect)
KIND_OF = {
    ("application", "network"): "app_network",
    ("application", "country_iso"): "app_country",
    ("application", "user_id"): "app_user",
    ("application", "login_subtype"): "app_flow",
    ("user_id", "country_iso"): "user_country",
}


def novelty_needs(*kinds: str) -> Needs:
    """What a novelty detector reads: its window's logins and its values' sightings over ``days``
    (and the week before, whose newcomers say whether novelty is routine for the app)."""
    return needs(
        Data.WINDOW_LOGINS,
        Data.FIRST_SEEN,
        Data.ALLOWLIST,
        seen=kinds,
        lookback=days_of("days", timedelta(days=7)),
    )


NOVELTY_DEFAULTS = {"days": 30, "min_history_days": 7, "successes_only": True, "max_new_per_week": 0.5}
