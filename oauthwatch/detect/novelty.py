"""Shared logic of the "first seen" detectors (new country, new network, new user for an app).

A value is new for an app when the app's successful logins in the recent window carry it and the
app's logins over the previous ``days`` never did. Apps younger than ``min_history_days`` are
skipped (everything is new for them: the new-app detector speaks for them), and so are apps whose
baseline already holds more than ``max_known`` distinct values (an app used from everywhere makes
"new" meaningless).
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from oauthwatch.detect.allowlist import AllowEntry, approved
from oauthwatch.detect.base import Context, Finding, fmt_int, fmt_time
from oauthwatch.detect.data import Frames, seen_between


def novel_values(
    frames: Frames,
    ctx: Context,
    column: str,
) -> list[tuple[str, str, pd.DataFrame, int, AllowEntry | None]]:
    """``(app, value, window rows with it, known values count, allowlist entry)`` for every new value."""
    win = frames.recent(ctx.window)
    if ctx.get("successes_only"):
        win = win[win["success"]]
    if win.empty:
        return []
    days = timedelta(days=int(ctx.get("days")))
    lo, hi = ctx.window_start - days, ctx.window_start
    index = frames.pair_index(column)
    out = []
    min_age = pd.Timedelta(days=int(ctx.get("min_history_days")))
    for app, rows in win.groupby("application"):
        first = frames.app_first_seen.get(app)
        if not app or first is None or pd.Timestamp(ctx.window_start) - first < min_age:
            continue
        new = [v for v in rows[column].unique() if v and not seen_between(index.get((app, v)), lo, hi)]
        if not new:
            continue
        known = {v for (a, v), times in index.items() if a == app and v and seen_between(times, lo, hi)}
        if not known or len(known) > int(ctx.get("max_known")):
            continue
        entry = approved(frames.allowlist, str(app), ctx.now)
        for value in new:
            out.append((str(app), str(value), rows[rows[column] == value], len(known), entry))
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


NOVELTY_DEFAULTS = {"days": 30, "min_history_days": 7, "successes_only": True}
