"""``volume_anomalies``: spikes and drops in a count series, judged against its own rhythm and level.

Usable on its own (it knows nothing of Salesforce)::

    import pandas as pd
    from oauthwatch.detect import volume_anomalies

    counts = pd.Series(values, index=pd.date_range("2026-01-05", periods=24 * 35, freq="h", tz="UTC"))
    flagged = volume_anomalies(counts)
    print(flagged[["timestamp", "observed", "expected", "direction", "explanation"]])

How it judges a point (the model is in :mod:`oauthwatch.detect.volume_judge`; the reasons and
measurements are in docs/detectors.md): the expected value follows the series' weekly or daily
rhythm (the same slot in previous weeks or days, whichever predicted the last week best, or its
recent level when neither helps), corrected by the level of the last six hours, so a level shift
is absorbed within hours. Counts use a negative binomial spread (bursty series are allowed their
bursts); other series a robust scale. A point is flagged when it is ``threshold`` robust scales
away *and* beyond ``margin`` × the swing the series makes ``tail_per_day`` times a day.

Earlier anomalies do not poison the baseline: every flagged point is replaced by its expected
value before later points use it as a rhythm sample, and medians and quantiles ignore a minority
of odd points.

Maturity: the first day is never judged (there is nothing to compare with). While a slot has
fewer than ``mature_weeks`` weeks of history its flags carry ``immature=True`` and their
explanation says so; ``result.attrs["immature_until"]`` is the first timestamp judged against a
mature baseline and ``result.attrs["evaluated_from"]`` the first timestamp judged at all.
NaN values and timestamps absent from the index are unknown, not zero: they are neither judged
nor used as baseline (pass explicit zeros for hours with no events).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from oauthwatch.detect.volume_judge import BASES, WARM_UP, WEEK, Judgement, Params, judge

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
    tail_per_day: float = 1.0,
    margin: float = 1.25,
) -> pd.DataFrame:
    """Flag the timestamps of ``counts`` that are far from normal for their time and level.

    ``counts``: numbers indexed by a tz-aware UTC DatetimeIndex with a regular frequency between
    5 minutes and 1 day (NaN and missing timestamps are unknown). Returns one row per flagged
    timestamp, oldest first, with columns ``timestamp``, ``observed``, ``expected``, ``score``,
    ``direction`` ("spike" or "drop"), ``explanation`` (one sentence), plus ``immature`` (fewer
    than ``mature_weeks`` weeks of history) and ``low``/``high`` (the range of the baseline
    samples). Never raises on a regular series, whatever its values.
    """
    if not isinstance(counts.index, pd.DatetimeIndex):
        raise TypeError("counts must be indexed by a DatetimeIndex")
    if counts.index.tz is None:
        raise ValueError("counts must have a tz-aware UTC index (use .tz_localize('UTC'))")
    out = pd.DataFrame({c: pd.Series(dtype=object) for c in RESULT_COLUMNS})
    s = pd.to_numeric(counts, errors="coerce").astype(float).sort_index()
    s = s[~s.index.duplicated(keep="last")]
    s = s.where(np.isfinite(s.to_numpy()))
    index = pd.DatetimeIndex(s.index).tz_convert("UTC")
    s.index = index
    if len(s) < 2:
        out.attrs.update(evaluated_from=None, immature_until=None)
        return out
    step = _infer_step(index)
    full = pd.date_range(s.index[0], s.index[-1], freq=step)
    values = s.reindex(full).to_numpy(dtype=float)
    start = full[0]
    attrs = {
        "evaluated_from": start + WARM_UP if full[-1] >= start + WARM_UP else None,
        "immature_until": start + mature_weeks * WEEK,
        "step": step,
    }
    out.attrs.update(attrs)
    params = Params(
        weeks=weeks,
        threshold=threshold,
        min_volume=min_volume,
        rel_floor=rel_floor,
        mature_weeks=mature_weeks,
        drop_ratio=drop_ratio,
        tail_per_day=tail_per_day,
        margin=margin,
    )
    j = judge(values, step, start, params)
    rows: list[dict[str, object]] = []
    words = _step_words(step)
    for i in (int(k) for k in np.nonzero(j.spike | j.drop)[0]):
        ts = full[i]
        have = int(j.have[i])
        immature = have < mature_weeks
        direction = "spike" if j.spike[i] else "drop"
        rows.append(
            {
                "timestamp": ts,
                "observed": float(values[i]),
                "expected": float(j.expected[i]),
                "score": float(j.score[i]),
                "direction": direction,
                "explanation": explain(ts, words, float(values[i]), j, i, immature, mature_weeks),
                "immature": immature,
                "low": float(j.low[i]),
                "high": float(j.high[i]),
            }
        )
    if rows:
        out = pd.DataFrame(rows, columns=RESULT_COLUMNS)
        out.attrs.update(attrs)
    return out


def _num(v: float, is_count: bool) -> str:
    """A number as a person reads it: counts whole, other values to three significant digits."""
    if np.isnan(v):
        return "unknown"
    if is_count or abs(v) >= 1000:
        return f"{round(v):,}"
    return f"{v:.3g}"


def explain(
    ts: pd.Timestamp, words: str, observed: float, j: Judgement, i: int, immature: bool, mature_weeks: int
) -> str:
    """One sentence: what was seen, against what, how far, and how much to trust the baseline."""
    c = j.is_count
    expected, low, high = float(j.expected[i]), float(j.low[i]), float(j.high[i])
    when = ts.strftime("%a %Y-%m-%d %H:%M UTC")
    if j.spike[i]:
        how = (
            f"{observed / expected:.1f}× the usual {_num(expected, c)}"
            if expected > 0
            else f"usually {_num(expected, c)}"
        )
    else:
        share = f"{100 * observed / expected:.0f}% of " if expected > 0 and observed >= 0 else ""
        how = f"{share}the usual {_num(expected, c)}"
    usual = _num(low, c) if _num(low, c) == _num(high, c) else f"{_num(low, c)}–{_num(high, c)}"
    basis = BASES[j.basis[i]]
    if basis == "week":
        context = f"at this time of the week the last {int(j.have[i])} week(s) saw {usual}"
    elif basis == "day":
        context = f"at this time of day the previous days saw {usual}"
    else:
        context = "judged against its recent level (no daily or weekly rhythm fits this series)"
    swing = abs(float(j.swing[i]))
    text = (
        f"{_num(observed, c)} in the {words} from {when}, {how}; {context} "
        f"(robust score {float(j.score[i]):+.1f}"
        + (f"; its usual daily swing is about {_num(swing, c)}" if swing > 0 else "")
        + ")."
    )
    if immature:
        text += (
            f" The baseline is still immature ({int(j.have[i])} of {mature_weeks} week(s) of history), "
            "so treat this with care."
        )
    return text
