"""Helpers over OAuth grant snapshots (``oauth_token_snapshots``): latest and previous views."""

from __future__ import annotations

import pandas as pd

from oauthwatch.detect.data import Frames

GRANT_KEY = ["user_id", "app_name", "created_date"]


def latest_grants(frames: Frames) -> pd.DataFrame:
    """The grants in the newest snapshot day (one row per grant)."""
    t = frames.tokens
    if t.empty:
        return t
    return t[t["snapshot_day"] == t["snapshot_day"].max()]


def previous_grants(frames: Frames) -> pd.DataFrame:
    """For each grant, its row from the newest snapshot day before the latest one."""
    t = frames.tokens
    if t.empty:
        return t
    older = t[t["snapshot_day"] < t["snapshot_day"].max()]
    if older.empty:
        return older
    return older.sort_values("snapshot_day").groupby(GRANT_KEY, as_index=False).tail(1)


def user_names(frames: Frames) -> dict[str, str]:
    """user id -> username (falls back to the id where the users table has no row)."""
    u = frames.users
    if u.empty:
        return {}
    return {str(k): str(v) for k, v in zip(u["user_id"], u["username"], strict=False) if v}
