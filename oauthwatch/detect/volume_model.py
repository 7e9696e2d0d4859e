"""``volume_anomalies``: spikes and drops in a count series, judged against its own weekly rhythm.

Usable on its own (it knows nothing of Salesforce)::

    import pandas as pd
    from oauthwatch.detect import volume_anomalies

    counts = pd.Series(values, index=pd.date_range("2026-01-05", periods=24 * 35, freq="h", tz="UTC"))
    flagged = volume_anomalies(counts)
    print(flagged[["timestamp", "observed", "expected", "direction", "explanation"]])

How it judges a point: the same slot of the week (e.g. Tuesday 14:00) over up to ``weeks``
previous weeks gives the baseline samples (series finer than an hour also pool the slots within
±15 minutes, so that a 5-minute series has enough samples). The expected value is their median; the spread
is 1.4826 × their median absolute deviation, but never less than the Poisson noise of the median
(its square root), ``rel_floor`` × the median, or 1. ``score`` is (observed − expected) / spread.
A spike needs ``score >= threshold`` and at least ``min_volume`` events above expected. A drop
needs an expected value of at least ``min_volume``, an observed value of at most ``drop_ratio`` ×
expected, and a score of at most ``-threshold`` where the spread leaves out ``rel_floor`` (a
relative floor would make a fall to zero unreachable; the floor is there to keep ordinary busy
hours from counting as spikes).

Earlier anomalies do not poison the baseline: the median ignores a minority of odd weeks, and
every point flagged against a mature baseline is replaced by its expected value before later
weeks use it.

Maturity: the first week is never judged (there is nothing to compare with). While a slot has
fewer than ``mature_weeks`` weeks of history its flags carry ``immature=True`` and their
explanation says so; ``result.attrs["immature_until"]`` is the first timestamp judged against a
mature baseline and ``result.attrs["evaluated_from"]`` the first timestamp judged at all.
Timestamps absent from the index are unknown, not zero: they are neither judged nor used as
baseline (pass explicit zeros for hours with no events).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WEEK = pd.Timedelta(days=7)
RESULT_COLUMNS = [
    "timestamp",
    "observed",
    "expected",
    "score",
    "direction",
    "explanation",
    "immature",
    "low",
    "high",
]


def _step_words(step: pd.Timedelta) -> str:
    minutes = int(step.total_seconds() // 60)
    if minutes % 1440 == 0:
        return "day" if minutes == 1440 else f"{minutes // 1440} days"
    if minutes % 60 == 0:
        return "hour" if minutes == 60 else f"{minutes // 60} hours"
    return f"{minutes} minutes"


def _infer_step(index: pd.DatetimeIndex) -> pd.Timedelta:
    diffs = index[1:] - index[:-1]
    step = pd.Timedelta(diffs.min())
    if step < pd.Timedelta(minutes=5) or step > pd.Timedelta(days=1):
        raise ValueError(f"counts must have a regular frequency between 5 minutes and 1 day, not {step}")
    if WEEK % step != pd.Timedelta(0):
        raise ValueError(f"the frequency {step} does not divide a week evenly")
    off = (diffs % step) != pd.Timedelta(0)
    if off.any():
        raise ValueError("counts is not on a regular grid: some timestamps fall between steps")
    return step


def volume_anomalies(
    counts: pd.Series,
    *,
    weeks: int = 4,
    threshold: float = 6.0,
    min_volume: float = 20.0,
    rel_floor: float = 0.15,
    mature_weeks: int = 3,
    drop_ratio: float = 0.25,
) -> pd.DataFrame:
    """Flag the timestamps of ``counts`` that are far from normal for their time of the week.

    ``counts``: numbers indexed by a tz-aware UTC DatetimeIndex with a regular frequency between
    5 minutes and 1 day. Returns one row per flagged timestamp, oldest first, with columns
    ``timestamp``, ``observed``, ``expected``, ``score``, ``direction`` ("spike" or "drop"),
    ``explanation`` (one sentence), plus ``immature`` (baseline had fewer than ``mature_weeks``
    weeks) and ``low``/``high`` (the range seen in this slot in the baseline weeks).
    """
    if not isinstance(counts.index, pd.DatetimeIndex):
        raise TypeError("counts must be indexed by a DatetimeIndex")
    if counts.index.tz is None:
        raise ValueError("counts must have a tz-aware UTC index (use .tz_localize('UTC'))")
    out = pd.DataFrame({c: pd.Series(dtype=object) for c in RESULT_COLUMNS})
    if len(counts) < 2:
        out.attrs.update(evaluated_from=None, immature_until=None)
        return out
    s = counts.sort_index()
    s = s[~s.index.duplicated(keep="last")].astype(float)
    s.index = s.index.tz_convert("UTC")
    step = _infer_step(s.index)
    full = pd.date_range(s.index[0], s.index[-1], freq=step)
    values = s.reindex(full).to_numpy(dtype=float)
    period = int(WEEK / step)
    n = len(values)
    n_weeks = -(-n // period)
    m = np.full(n_weeks * period, np.nan)
    m[:n] = values
    m = m.reshape(n_weeks, period)
    nb = int(pd.Timedelta(minutes=15) // step) if step < pd.Timedelta(hours=1) else 0
    start = full[0]
    out.attrs.update(
        evaluated_from=start + WEEK if n > period else None,
        immature_until=start + mature_weeks * WEEK,
        step=step,
    )
    j = judge_weeks(
        m,
        nb=nb,
        weeks=weeks,
        threshold=threshold,
        min_volume=min_volume,
        rel_floor=rel_floor,
        mature_weeks=mature_weeks,
        drop_ratio=drop_ratio,
    )
    rows: list[dict[str, object]] = []
    words = _step_words(step)
    for w, slot in zip(*np.nonzero(j["spike"] | j["drop"]), strict=True):
        ts = full[w * period + slot]
        x, med, z = float(m[w, slot]), float(j["expected"][w, slot]), float(j["score"][w, slot])
        low, high, have = j["low"][w, slot], j["high"][w, slot], int(j["have"][w, slot])
        immature = have < mature_weeks
        direction = "spike" if j["spike"][w, slot] else "drop"
        rows.append(
            {
                "timestamp": ts,
                "observed": x,
                "expected": med,
                "score": z,
                "direction": direction,
                "explanation": _explain(ts, words, x, med, low, high, z, have, immature, direction),
                "immature": immature,
                "low": float(low),
                "high": float(high),
            }
        )
    if rows:
        out = pd.DataFrame(rows, columns=RESULT_COLUMNS)
        out.attrs.update(evaluated_from=start + WEEK, immature_until=start + mature_weeks * WEEK, step=step)
    return out


def judge_weeks(
    m: np.ndarray,
    *,
    nb: int = 0,
    weeks: int = 4,
    threshold: float = 6.0,
    min_volume: float = 20.0,
    rel_floor: float = 0.15,
    mature_weeks: int = 3,
    drop_ratio: float = 0.25,
) -> dict[str, np.ndarray]:
    """The judgement of every cell of ``m`` (rows = weeks, columns = slots of the week).

    Returns arrays shaped like ``m``: ``expected``, ``score``, ``spike``, ``drop``, ``low``,
    ``high``, ``have`` (baseline weeks available). Row 0 is never judged. Columns are
    independent when ``nb`` is 0, so a caller that needs one slot can pass just that column.
    """
    n_weeks, period = m.shape
    clean = m.copy()
    out = {k: np.full(m.shape, np.nan) for k in ("expected", "score", "low", "high")}
    out["spike"] = np.zeros(m.shape, dtype=bool)
    out["drop"] = np.zeros(m.shape, dtype=bool)
    out["have"] = np.zeros(m.shape, dtype=int)
    for w in range(1, n_weeks):
        base = clean[max(0, w - weeks) : w]
        samples = (
            np.concatenate([np.roll(base, shift, axis=1) for shift in range(-nb, nb + 1)], axis=0)
            if nb
            else base
        )
        x = m[w]
        med = _nanmedian0(samples)
        with np.errstate(all="ignore"):
            mad = _nanmedian0(np.abs(samples - med))
        low, high = _nanrange0(base)
        have = np.sum(~np.isnan(base), axis=0)
        noise = np.maximum.reduce([1.4826 * mad, np.sqrt(np.maximum(med, 0)), np.ones(period)])
        sigma = np.maximum(noise, rel_floor * med)
        with np.errstate(all="ignore"):
            z = (x - med) / sigma
            z_drop = (x - med) / noise
        valid = ~np.isnan(x) & ~np.isnan(med)
        spike = valid & (z >= threshold) & (x - med >= min_volume)
        drop = valid & ~spike & (z_drop <= -threshold) & (med >= min_volume) & (x <= drop_ratio * med)
        flagged = spike | drop
        # Flagged points are replaced by their expected value before later weeks use them, but only
        # where the baseline was mature: an immature "expected" may itself be an anomaly.
        replace_mask = flagged & (have >= mature_weeks)
        clean[w, replace_mask] = med[replace_mask]
        out["expected"][w], out["score"][w] = med, np.where(drop, z_drop, z)
        out["low"][w], out["high"][w], out["have"][w] = low, high, have
        out["spike"][w], out["drop"][w] = spike, drop
    return out


def _nanmedian0(a: np.ndarray) -> np.ndarray:
    """Median along axis 0 ignoring NaN (NaN where a column has no value); fast for few rows."""
    s = np.sort(a, axis=0)  # NaNs sort last
    n = np.sum(~np.isnan(a), axis=0)
    cols = np.arange(a.shape[1])
    lo, hi = np.maximum((n - 1) // 2, 0), np.maximum(n // 2, 0)
    hi = np.minimum(hi, a.shape[0] - 1)
    med = (s[lo, cols] + s[hi, cols]) / 2
    return np.where(n > 0, med, np.nan)


def _nanrange0(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column minimum and maximum ignoring NaN (NaN for empty columns)."""
    s = np.sort(a, axis=0)
    n = np.sum(~np.isnan(a), axis=0)
    cols = np.arange(a.shape[1])
    low = np.where(n > 0, s[0, cols], np.nan)
    high = np.where(n > 0, s[np.maximum(n - 1, 0), cols], np.nan)
    return low, high


def _explain(
    ts: pd.Timestamp,
    words: str,
    observed: float,
    expected: float,
    low: float,
    high: float,
    score: float,
    have: int,
    immature: bool,
    direction: str,
) -> str:
    when = ts.strftime("%a %Y-%m-%d %H:%M UTC")
    usual = f"{round(low):,}" if round(low) == round(high) else f"{round(low):,}–{round(high):,}"
    if direction == "spike":
        ratio = observed / expected if expected > 0 else None
        how = f"{ratio:.1f}× the usual {round(expected):,}" if ratio else f"usually {round(expected):,}"
    else:
        share = 100 * observed / expected if expected > 0 else 0
        how = f"{share:.0f}% of the usual {round(expected):,}"
    text = (
        f"{round(observed):,} in the {words} from {when}, {how}; at this time of the week the last "
        f"{have} week(s) saw {usual} (robust score {score:+.1f})."
    )
    if immature:
        text += f" The baseline is still immature ({have} week(s) of history), so treat this with care."
    return text
