"""Counts per time bucket for the volume and failure detectors: raw logins where they are loaded,
the hourly rollup before that.

A detection cycle loads raw logins only for the windows it judges (``Frames.raw_start`` on);
older buckets come from ``login_app_hourly``. A bucket that lies on whole hours is exact from the
rollup; one that cuts an hour (a window ending at 10:07) takes the cut hour's events pro rata.
Frames built from logins alone (``raw_start`` None) count everything from the raw rows.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from oauthwatch.detect.data import Frames
from oauthwatch.detect.store_read import ns_utc

HOUR = np.timedelta64(3600 * 10**9, "ns")


def trailing_counts(
    times: pd.Series, now: pd.Timestamp, step: pd.Timedelta, start: pd.Timestamp
) -> np.ndarray:
    """Counts in the whole ``step`` buckets between ``start`` and ``now``, the last ending at ``now``.

    Oldest first; a bucket that would begin before ``start`` (before the app existed, or before
    the loaded history) is left out rather than counted as zero. ``times`` must be sorted.
    """
    n = int((now - start) // step)
    if n <= 0:
        return np.zeros(0)
    t = times.to_numpy(dtype="datetime64[ns]")
    edges = (now.value - np.arange(n, -1, -1) * step.value).astype("datetime64[ns]")
    return np.diff(np.searchsorted(t, edges, side="left")).astype(float)


def _cumulative(hours: np.ndarray, counts: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Events before each instant of ``at``, from per-hour counts (``hours`` sorted, unique),
    spreading an hour's events evenly over it."""
    cum = np.concatenate([[0.0], np.cumsum(counts, dtype=float)])
    if not len(hours):
        return np.zeros(len(at))
    k = np.searchsorted(hours, at, side="right") - 1
    kk = np.clip(k, 0, len(hours) - 1)
    inside = (k >= 0) & (at < hours[kk] + HOUR)
    frac = np.where(inside, (at - hours[kk]) / HOUR, 0.0)
    base = np.where(k >= 0, np.where(inside, cum[kk], cum[kk + 1]), 0.0)
    return base + frac * np.where(inside, counts[kk], 0.0)


Series = tuple[np.ndarray, np.ndarray]  # hour starts (sorted, unique), events in each


def _series(frames: Frames, app: str | None, status: str | None) -> Series:
    """One app's (None: every app's) hourly events, or failures with ``status``; indexed once per load."""
    key = f"series:{status is not None}"
    index: dict[tuple[str | None, str | None], Series] | None = frames.extra.get(key)
    if index is None:
        hourly = frames.app_totals() if status is None else frames.failure_hours()
        keys = ["application"] if status is None else ["application", "status"]
        index = {}
        for k, g in hourly.groupby(keys, sort=False):
            a, s = (k[0], None) if status is None else k
            index[(str(a), None if s is None else str(s))] = _summed(g)
        index[(None, None)] = _summed(hourly)
        frames.extra[key] = index
    empty = (np.array([], dtype="datetime64[ns]"), np.array([], dtype=float))
    return index.get((app, status), empty)


def _summed(hourly: pd.DataFrame) -> Series:
    g = hourly.groupby("hour", sort=True)["events"].sum()
    return g.index.to_numpy(dtype="datetime64[ns]"), g.to_numpy(dtype=float)


def _raw_times(frames: Frames, app: str | None, status: str | None) -> pd.Series:
    """The loaded logins' times of ``app`` (None: all), or of its failures with ``status``; grouped
    once per view."""
    raw = frames.logins
    if app is None and status is None:
        return raw["login_time"]
    key = f"raw:{frames.now.isoformat()}:{len(raw)}:{status is not None}"  # one view per instant
    index: dict[tuple[str, str | None], pd.Series] | None = frames.extra.get(key)
    if index is None:
        if status is None:
            index = {(str(a), None): g for a, g in raw.groupby("application", sort=False)["login_time"]}
        else:
            failed = raw[~raw["success"].astype(bool)]
            groups = failed.groupby(["application", "status"], sort=False)["login_time"]
            index = {(str(a), str(st)): g for (a, st), g in groups}
        frames.extra[key] = index
    return index.get((str(app), status), raw["login_time"].iloc[0:0])


def bucket_counts(
    frames: Frames,
    *,
    now: pd.Timestamp,
    step: pd.Timedelta,
    start: pd.Timestamp,
    app: str | None = None,
    status: str | None = None,
) -> np.ndarray:
    """Events (or, with ``status``, failures with that Status) of ``app`` (None: every app) in
    the ``step`` buckets ending at ``now`` back to ``start``, oldest first (as
    :func:`trailing_counts`)."""
    raw = _raw_times(frames, app, status)
    exact = trailing_counts(raw, now, step, start)
    if frames.raw_start is None or not len(exact):
        return exact
    n = len(exact)
    edges = (now.value - np.arange(n, -1, -1) * step.value).astype("datetime64[ns]")
    hours, counts = _series(frames, app, status)
    rolled = np.round(np.diff(_cumulative(hours, counts, edges)))
    from_raw = edges[:-1] >= ns_utc(frames.raw_start)
    return np.where(from_raw, exact, rolled)


def app_counts(frames: Frames, lo: datetime, hi: datetime) -> pd.DataFrame:
    """Per app: logins (``size``) and successes (``sum``) in ``[lo, hi)``."""
    if frames.raw_start is None or frames.raw_start <= pd.Timestamp(lo):
        raw = frames.logins
        times = raw["login_time"]
        part = raw.iloc[times.searchsorted(pd.Timestamp(lo)) : times.searchsorted(pd.Timestamp(hi))]
        return part.groupby("application")["success"].agg(["size", "sum"])
    totals = frames.app_totals()
    edges = np.array([ns_utc(lo), ns_utc(hi)])
    rows = {}
    for app, g in totals.groupby("application", sort=False):
        hours = g["hour"].to_numpy(dtype="datetime64[ns]")
        ev = np.diff(_cumulative(hours, g["events"].to_numpy(dtype=float), edges))[0]
        fail = np.diff(_cumulative(hours, g["failures"].to_numpy(dtype=float), edges))[0]
        if ev > 0:
            rows[str(app)] = (round(ev), round(ev - fail))
    return pd.DataFrame.from_dict(rows, orient="index", columns=["size", "sum"])
