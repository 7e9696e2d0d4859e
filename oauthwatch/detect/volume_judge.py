"""The numeric core of the volume model: expected value, spread and verdict for every point.

Why a model and not a rule: real count series are bursty, shift level, go flat, carry holes and
follow a daily and weekly rhythm. docs/detectors.md ("How the volume model judges") gives the
reasoning and the measurements behind each step; in short, for every known point ``t``:

1. **Rhythm** (*basis*): the median of the same slot in up to ``weeks`` previous weeks (*week*), of
   the same time of day in the previous 7 days (*day*), or nothing (*none*: level only). Series
   finer than an hour pool the slots within ±15 minutes. Each UTC day uses the basis that
   predicted the previous week best (smallest median absolute error): a login series with a
   weekly rhythm is judged against the same hour of the week, a series without rhythm against
   its recent level.
2. **Level**: the median deviation from that rhythm over the last 6 hours (at least 12 known
   points), so a level shift becomes the new normal within hours instead of alarming for weeks.
   Counts are rhythm × level (a log-ratio); other series rhythm + level.
3. **Spread**: counts (non-negative integers) use a negative binomial variance
   ``mu + alpha·mu²``, with ``alpha`` estimated robustly from the last week (at least
   ``rel_floor²``); other series use a unit variance. The standardised residual ``u`` is then
   divided by its robust scale over the last week (1.4826 × median |u|, or 1.2533 × mean |u| when
   more than half of the residuals are exactly zero, as in flat stretches).
4. **Verdict**: a spike needs ``u`` at least ``threshold`` robust scales *and* ``margin`` × the
   largest upward swing the series makes ``tail_per_day`` times a day (its upper quantile over the
   last week); a drop likewise below the lower one. Counts also need ``min_volume`` above the
   expected for a spike, and for a drop an expected of at least ``min_volume`` and an observed
   at most ``drop_ratio`` × expected.

Immunity to earlier anomalies: rhythm samples come from the series with every flagged point
replaced by its expected value (iterated to a fixed point, at most four passes); medians and
quantiles ignore a minority of odd points. NaN is unknown: never judged, never a baseline sample.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

WEEK = pd.Timedelta(days=7)
DAY = pd.Timedelta(days=1)
BASES = ("none", "day", "week")
LEVEL_SPAN = pd.Timedelta(hours=6)
LEVEL_MIN_POINTS = 12
SCALE_SPAN = WEEK
SCALE_MIN_POINTS = 12
WARM_UP = DAY
DAYS = 7
MAX_PASSES = 4
MEDIAN_CHI2_1 = 0.4549  # median of a chi-square with one degree of freedom


@dataclass(frozen=True)
class Params:
    """The knobs of the model (see :func:`oauthwatch.detect.volume_model.volume_anomalies`)."""

    weeks: int = 4
    threshold: float = 6.0
    min_volume: float = 20.0
    rel_floor: float = 0.15
    mature_weeks: int = 3
    drop_ratio: float = 0.25
    tail_per_day: float = 1.0
    margin: float = 1.25


@dataclass(frozen=True)
class Judgement:
    """Arrays over the regular grid (NaN / False where a point is unknown or not judged)."""

    expected: np.ndarray
    score: np.ndarray  # u / robust scale
    spike: np.ndarray
    drop: np.ndarray
    basis: np.ndarray  # index into BASES, -1 where not judged
    have: np.ndarray  # weeks of history in this slot
    low: np.ndarray  # range of the basis samples
    high: np.ndarray
    swing: np.ndarray  # the ordinary swing the point had to beat (in data units, signed side)
    is_count: bool


# Every helper works along the last axis, so that one call judges several series of the same
# grid at once (:func:`judge_many`): the arithmetic of each series is the same as alone.


def _take(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``a[..., idx]`` per row of the last axis (``idx`` one index per row)."""
    return np.take_along_axis(a, idx[..., None], axis=-1)[..., 0]


def _nan_median_rows(a: np.ndarray) -> np.ndarray:
    """Median of each row ignoring NaN (NaN for an empty row); sorting beats np.nanmedian here."""
    if not a.shape[-1]:
        return np.full(a.shape[:-1], np.nan)
    s = np.sort(a, axis=-1)  # NaNs sort last
    n = np.sum(~np.isnan(a), axis=-1)
    lo, hi = np.maximum((n - 1) // 2, 0), np.maximum(n // 2, 0)
    med = (_take(s, lo) + _take(s, np.minimum(hi, a.shape[-1] - 1))) / 2
    return np.where(n > 0, med, np.nan)


def _nan_range_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        return np.nanmin(a, axis=-1), np.nanmax(a, axis=-1)


def _before(values: np.ndarray, at: np.ndarray, window: int) -> np.ndarray:
    """Rows of the ``window`` values strictly before each index of ``at`` (NaN before the start)."""
    idx = at[:, None] - np.arange(window, 0, -1)[None, :]
    return np.where(idx >= 0, values[..., np.clip(idx, 0, None)], np.nan)


def _trailing_median(values: np.ndarray, window: int, min_points: int) -> np.ndarray:
    """Median of the ``window`` values before each position (NaN with fewer than ``min_points``)."""
    rows = _before(values, np.arange(values.shape[-1]), window)
    enough = np.sum(~np.isnan(rows), axis=-1) >= min_points
    return np.where(enough, _nan_median_rows(rows), np.nan)


def _week_stats(
    u: np.ndarray, err: np.ndarray, starts: np.ndarray, window: int, q: float
) -> dict[str, np.ndarray]:
    """Per day block, from the ``window`` points before the block: the scale and tails of ``u``.

    Frozen for the day, so a burst early in a day does not excuse the next one, and the verdict
    for a point does not depend on where a caller's series begins.
    """
    rows = np.sort(_before(u, starts, window), axis=-1)
    n = np.sum(~np.isnan(rows), axis=-1)
    enough = n >= SCALE_MIN_POINTS

    def quantile(qq: float) -> np.ndarray:
        pos = qq * np.maximum(n - 1, 0)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
        at_lo = _take(rows, lo)
        return np.where(enough, at_lo + (pos - lo) * (_take(rows, hi) - at_lo), np.nan)

    absu = np.abs(_before(u, starts, window))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean_ad = np.nanmean(absu, axis=-1)
    mad = _nan_median_rows(absu)
    scale = np.where(mad > 0, 1.4826 * mad, 1.2533 * mean_ad)
    return {
        "scale": np.where(enough, scale, np.nan),
        "tail_up": np.maximum(quantile(q), 0.0),
        "tail_down": np.maximum(-quantile(1.0 - q), 0.0),
        "err": np.where(enough, _nan_median_rows(_before(err, starts, window)), np.nan),
    }


def _samples(clean: np.ndarray, pos: np.ndarray, period: int, count: int, pool: int) -> np.ndarray:
    """Rows of baseline samples for each position: the same slot ``1..count`` periods back."""
    offsets = (np.arange(1, count + 1)[:, None] * period + np.arange(-pool, pool + 1)[None, :]).ravel()
    idx = pos[:, None] - offsets[None, :]
    return np.where(idx >= 0, clean[..., np.clip(idx, 0, clean.shape[-1] - 1)], np.nan)


def _alpha(e: np.ndarray, mu: np.ndarray, block: np.ndarray, window: int, floor: float) -> np.ndarray:
    """Negative binomial dispersion per day block from the residuals of the ``window`` points before it.

    Solves median(e² / (mu + alpha·mu²)) = median of chi²(1) by bisection (all blocks at once), so
    that a few bursts do not inflate it; never below ``floor``.
    """
    if not e.shape[-1]:
        return np.full(e.shape, floor)
    starts = np.r_[0, np.nonzero(np.diff(block))[0] + 1]
    e2 = _before(e, starts, window) ** 2
    mm = np.maximum(_before(mu, starts, window), 1.0)
    enough = np.sum(~np.isnan(e2) & ~np.isnan(mm), axis=-1) >= SCALE_MIN_POINTS

    def excess(alpha: np.ndarray) -> np.ndarray:
        return _nan_median_rows(e2 / (mm + alpha[..., None] * mm**2)) > MEDIAN_CHI2_1

    shape = (*e.shape[:-1], len(starts))
    lo, hi = np.full(shape, floor), np.full(shape, 100.0)
    over = enough & excess(lo)
    if not over.any():  # no day more dispersed than the floor: nothing to solve
        return np.full(e.shape, floor)
    e2, mm, lo, hi = e2[over], mm[over], lo[over], hi[over]
    for _ in range(10):
        mid = np.sqrt(np.maximum(lo, 1e-6) * hi)  # bisection on a log scale: alpha spans decades
        up = excess(mid)
        lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
    per_block = np.full(shape, floor)
    per_block[over] = hi
    return np.repeat(per_block, np.diff(np.r_[starts, e.shape[-1]]), axis=-1)


def _deviance_residual(x: np.ndarray, mu: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Signed negative binomial deviance residual: close to normal in both tails.

    A Pearson residual (x − mu) / sd understates a fall to zero and overstates a burst; the
    deviance residual is the GLM standard for counts. ``alpha`` 0 is the Poisson deviance; an
    expected value below 0.5 counts as 0.5 (nothing is infinitely surprising).
    """
    m = np.maximum(mu, 0.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        xlog = np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0) / m), 0.0)
        a = np.maximum(alpha, 1e-12)
        nb = xlog - (x + 1.0 / a) * np.log1p(a * x) + (x + 1.0 / a) * np.log1p(a * m)
        poisson = xlog - (x - m)
        dev = np.where(alpha > 1e-6, nb, poisson)
    return np.sign(x - m) * np.sqrt(np.maximum(2.0 * dev, 0.0))


def judge(values: np.ndarray, step: pd.Timedelta, origin: pd.Timestamp, p: Params) -> Judgement:
    """Judge every point of ``values`` (a regular grid from ``origin`` with ``step``; NaN unknown)."""
    n = len(values)
    known = ~np.isnan(values)
    kpos = np.nonzero(known)[0]
    if not len(kpos):
        nothing = np.full(n, np.nan)
        none = np.zeros(n, dtype=bool)
        return Judgement(
            nothing, nothing, none, none, np.full(n, -1), np.zeros(n, int), nothing, nothing, nothing, False
        )
    return _judge_rows(values[None, :], kpos, step, origin, p, _is_count(values[kpos]))[0]


def judge_many(
    rows: list[np.ndarray], step: pd.Timedelta, origins: list[pd.Timestamp], p: Params
) -> list[Judgement]:
    """:func:`judge` of each series of ``rows`` (from its origin in ``origins``): the same
    verdicts, computed together. Series on the same grid (length and origin), without unknown
    points and of the same kind (counts or not) go through the model in one set of array
    operations instead of one each: the per-call overhead was most of a detection cycle."""
    out: list[Judgement | None] = [None] * len(rows)
    batches: dict[tuple[int, pd.Timestamp, bool], list[int]] = {}
    for i, (v, origin) in enumerate(zip(rows, origins, strict=True)):
        if len(v) and not np.isnan(v).any():
            batches.setdefault((len(v), origin, _is_count(v)), []).append(i)
        else:
            out[i] = judge(v, step, origin, p)
    for (n, origin, is_count), idx in batches.items():
        block = np.stack([rows[i] for i in idx]).astype(float)
        for i, j in zip(idx, _judge_rows(block, np.arange(n), step, origin, p, is_count), strict=True):
            out[i] = j
    return [j for j in out if j is not None]


def _is_count(known: np.ndarray) -> bool:
    return bool(len(known)) and bool(np.all(known >= 0)) and bool(np.all(known == np.round(known)))


def _judge_rows(
    values: np.ndarray, kpos: np.ndarray, step: pd.Timedelta, origin: pd.Timestamp, p: Params, is_count: bool
) -> list[Judgement]:
    """:func:`judge` of each row of ``values`` (series on one grid, known at the same ``kpos``)."""
    m, n = values.shape
    xk = values[:, kpos]
    per_week, per_day = int(WEEK / step), max(int(DAY / step), 1)
    pool = int(pd.Timedelta(minutes=15) // step) if step < pd.Timedelta(hours=1) else 0
    level_n = max(int(LEVEL_SPAN / step), LEVEL_MIN_POINTS)
    scale_n = max(int(SCALE_SPAN / step), SCALE_MIN_POINTS)
    q_hi = min(max(1.0 - p.tail_per_day / per_day, 0.5), 1.0)
    # Day blocks are UTC days, so the basis chosen for a day does not depend on where the series starts.
    offset = (origin - origin.normalize()) // step
    block = ((kpos + offset) // per_day).astype(int)
    judged = kpos >= int(WARM_UP / step)
    periods = {"day": (per_day, DAYS), "week": (per_week, p.weeks)}
    first = np.r_[0, np.nonzero(np.diff(block))[0] + 1]
    clean = values.copy()
    flagged = np.zeros(xk.shape, dtype=bool)
    final: dict[str, np.ndarray] = {}
    active = np.arange(m)  # the series still iterating towards their fixed point
    for k in range(MAX_PASSES):
        vals, x = values[active], xk[active]
        cand = {
            b: _basis(b, vals, clean[active], kpos, periods, pool, level_n, scale_n, q_hi, block, is_count, p)
            for b in BASES
        }
        err = np.array([np.where(np.isnan(cand[b]["err"]), np.inf, cand[b]["err"]) for b in BASES])
        # One basis per UTC day: the one with the smallest error over the week before the day.
        day_pick = np.argmin(err[..., first], axis=0)
        pick = np.repeat(day_pick, np.diff(np.r_[first, len(kpos)]), axis=-1)
        got = {key: np.choose(pick, [cand[b][key] for b in BASES]) for key in cand["none"] if key != "err"}
        ex = got["expected"]
        ok = judged & ~np.isnan(got["z"]) & ~np.isnan(ex)
        with np.errstate(invalid="ignore"):
            spike = ok & (got["u"] >= got["bar_up"])
            drop = ok & (got["u"] <= -got["bar_down"])
        if is_count:
            spike &= x - ex >= p.min_volume
            drop &= (ex >= p.min_volume) & (x <= p.drop_ratio * ex)
        now = spike | drop
        done = np.all(now == flagged[active], axis=-1) | (k == MAX_PASSES - 1)
        result = {**got, "spike": spike, "drop": drop, "ok": ok, "pick": pick}
        for key, arr in result.items():
            final.setdefault(key, np.empty((m, *arr.shape[1:]), dtype=arr.dtype))[active[done]] = arr[done]
        go = ~done
        rows = active[go]
        flagged[rows] = now[go]
        fresh = values[rows].copy()
        sub = fresh[:, kpos]
        sub[now[go]] = ex[go][now[go]]
        fresh[:, kpos] = sub
        clean[rows] = fresh
        active = rows
        if not len(active):
            break
    return [_one(final, r, kpos, n, is_count) for r in range(m)]


def _one(final: dict[str, np.ndarray], r: int, kpos: np.ndarray, n: int, is_count: bool) -> Judgement:
    """Row ``r`` of the model's arrays at known points, spread over the full grid."""
    spike, drop, ok = final["spike"][r], final["drop"][r], final["ok"][r]
    full = {k: np.full(n, np.nan) for k in ("expected", "score", "low", "high", "swing")}
    for k, src in (("expected", "expected"), ("score", "z"), ("low", "low"), ("high", "high")):
        full[k][kpos] = final[src][r]
    full["swing"][kpos] = np.where(drop, -final["swing_down"][r], final["swing_up"][r])
    spk, drp, basis, have = np.zeros(n, bool), np.zeros(n, bool), np.full(n, -1), np.zeros(n, int)
    spk[kpos], drp[kpos] = spike, drop
    basis[kpos] = np.where(ok, final["pick"][r], -1)
    have[kpos] = final["have"][r].astype(int)
    return Judgement(
        expected=full["expected"],
        score=full["score"],
        spike=spk,
        drop=drp,
        basis=basis,
        have=have,
        low=full["low"],
        high=full["high"],
        swing=full["swing"],
        is_count=is_count,
    )


def _basis(
    name: str,
    values: np.ndarray,
    clean: np.ndarray,
    kpos: np.ndarray,
    periods: dict[str, tuple[int, int]],
    pool: int,
    level_n: int,
    scale_n: int,
    q_hi: float,
    block: np.ndarray,
    is_count: bool,
    p: Params,
) -> dict[str, np.ndarray]:
    """Expected value, standardised residual, bars and errors of one rhythm basis at known points."""
    x = values[..., kpos]
    week = _samples(clean, kpos, periods["week"][0], p.weeks, 0)
    have = np.sum(~np.isnan(week), axis=-1)
    if name == "none":
        rhythm = np.zeros(x.shape)
        low, high = _nan_range_rows(week) if week.shape[-1] else (rhythm * np.nan, rhythm * np.nan)
    else:
        period, count = periods[name]
        samples = _samples(clean, kpos, period, count, pool)
        rhythm = _nan_median_rows(samples)
        low, high = _nan_range_rows(samples)
    multiplicative = is_count and name != "none"
    dev = np.log1p(x) - np.log1p(rhythm) if multiplicative else x - rhythm
    level = _trailing_median(dev, level_n, max(1, LEVEL_MIN_POINTS // 2))
    if name != "none":
        level = np.where(np.isnan(level), 0.0, level)
    expected = np.expm1(np.log1p(rhythm) + level) if multiplicative else rhythm + level
    if is_count:
        expected = np.maximum(expected, 0.0)
        alpha = _alpha(x - expected, expected, block, scale_n, p.rel_floor**2)
        sd = np.sqrt(np.maximum(expected, 1.0) + alpha * expected**2)
        u = _deviance_residual(x, expected, alpha)
    else:
        sd = np.ones(x.shape)
        u = x - expected
    err = np.abs(x - expected)
    if name != "none":
        err = np.where(np.isnan(rhythm), np.nan, err)
    starts = np.r_[0, np.nonzero(np.diff(block))[0] + 1]
    stats = _week_stats(u, err, starts, scale_n, q_hi)
    if name != "none":
        # A rhythm that cannot be computed at the start of the day is not a candidate for the day.
        stats["err"] = np.where(np.isnan(rhythm[..., starts]), np.nan, stats["err"])
    per_point = {k: np.repeat(v, np.diff(np.r_[starts, len(kpos)]), axis=-1) for k, v in stats.items()}
    scale = np.maximum(per_point["scale"], 1.0) if is_count else per_point["scale"]
    tail_up, tail_down = per_point["tail_up"], per_point["tail_down"]
    bar_up = np.maximum(p.threshold * scale, p.margin * np.nan_to_num(tail_up))
    bar_down = np.maximum(p.threshold * scale, p.margin * np.nan_to_num(tail_down))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(scale > 0, u / scale, np.nan)
    return {
        "expected": expected,
        "u": u,
        "z": z,
        "bar_up": bar_up,
        "bar_down": bar_down,
        "swing_up": np.nan_to_num(tail_up) * sd,
        "swing_down": np.nan_to_num(tail_down) * sd,
        "low": low,
        "high": high,
        "have": have,
        "err": per_point["err"],
    }
