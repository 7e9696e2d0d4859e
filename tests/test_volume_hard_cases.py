"""``volume_anomalies`` on the series real systems produce: holes, flat stretches, zeros, floats,
level shifts, heavy bursts and young baselines. Each test names the failure it guards against."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from oauthwatch.detect import volume_anomalies

START = "2026-01-05"  # a Monday


def hourly(values: np.ndarray | list[float], start: str = START, freq: str = "h") -> pd.Series:
    idx = pd.date_range(start, periods=len(values), freq=freq, tz="UTC")
    return pd.Series(np.asarray(values, dtype=float), index=idx)


def logins(weeks: int = 5, base: float = 40.0, seed: int = 11, alpha: float = 0.0) -> pd.Series:
    """Hourly counts with a day/night and weekday/weekend rhythm; ``alpha`` > 0 makes them bursty."""
    idx = pd.date_range(START, periods=24 * 7 * weeks, freq="h", tz="UTC")
    hour = idx.hour.to_numpy()
    weekday = idx.day_of_week.to_numpy() < 5
    lam = base * (0.3 + 4 * np.exp(-(((hour - 14) / 4) ** 2))) * np.where(weekday, 1.0, 0.4)
    rng = np.random.default_rng(seed)
    if alpha > 0:
        lam = rng.gamma(1 / alpha, lam * alpha)
    return pd.Series(rng.poisson(lam).astype(float), index=idx)


# NaN: unknown, never judged, never a baseline, never a crash (it used to raise
# "cannot convert float NaN to integer" when a flagged slot had no baseline range).


def test_nan_is_unknown_not_zero_and_never_flagged() -> None:
    s = logins()
    s.iloc[24 * 7 * 4 + 10 : 24 * 7 * 4 + 16] = np.nan  # a busy Monday afternoon, unknown
    s.iloc[::37] = np.nan  # scattered holes everywhere
    out = volume_anomalies(s)
    assert out.empty, out[["timestamp", "observed", "expected"]]


def test_spike_after_a_hole_is_caught_and_explained_without_a_baseline_range() -> None:
    s = logins(weeks=5)
    s.iloc[24 * 7 : 24 * 7 * 4] = np.nan  # weeks 2-4 unknown: the slot has no weekly samples
    at = s.index[24 * 7 * 4 + 24 * 2 + 14]
    s[at] = 5000
    out = volume_anomalies(s).set_index("timestamp")
    assert at in out.index
    assert out.loc[at, "direction"] == "spike"
    assert "5,000" in out.loc[at, "explanation"]


def test_sparse_five_minute_series_with_most_values_unknown_does_not_raise() -> None:
    rng = np.random.default_rng(5)
    v = rng.poisson(60, 288 * 16).astype(float)
    v[rng.random(len(v)) < 0.9] = np.nan
    v[-100] = 900.0 if not np.isnan(v[-100]) else np.nan
    out = volume_anomalies(hourly(v, freq="5min"))
    assert set(out["direction"]) <= {"spike", "drop"}
    assert out["explanation"].map(len).gt(0).all()


def test_missing_timestamps_and_odd_values_never_raise() -> None:
    s = logins(weeks=3)
    s = s.drop(s.index[100:130])  # a collection outage: timestamps absent, not NaN
    s.iloc[5] = np.inf
    s.iloc[6] = -np.inf
    for series in (s, s.iloc[:2], s * 0, s * np.nan, s.iloc[:40]):
        volume_anomalies(series)


# Flat stretches and zeros: a scale of zero must not turn every wiggle into an alert.


def test_flat_series_then_a_small_wiggle_is_quiet_but_a_real_jump_is_flagged_once() -> None:
    v = np.full(24 * 14, 45.0)
    v[24 * 9 + 3] = 46.0  # one unit: a count this small is not an incident (min_volume)
    v[24 * 10 + 5 :] = 300.0  # the level jumps and stays
    out = volume_anomalies(hourly(v))
    assert not (out["timestamp"] == hourly(v).index[24 * 9 + 3]).any()
    assert len(out) >= 1
    assert out["timestamp"].min() == hourly(v).index[24 * 10 + 5]
    assert out["timestamp"].max() < hourly(v).index[24 * 11 + 5]  # absorbed as the new level


def test_all_zeros_and_zero_inflated_counts_are_quiet_and_a_burst_in_them_is_caught() -> None:
    assert volume_anomalies(hourly(np.zeros(24 * 21))).empty
    rng = np.random.default_rng(2)
    v = np.where(rng.random(24 * 21) < 0.1, rng.poisson(3, 24 * 21), 0).astype(float)
    assert volume_anomalies(hourly(v)).empty
    v[24 * 18 + 9] = 250.0
    out = volume_anomalies(hourly(v))
    assert list(out["timestamp"]) == [hourly(v).index[24 * 18 + 9]]


# Non-integer values: a metric, not a count. No Poisson floor, no min_volume in unknown units.


def test_float_metric_spike_and_drop_with_readable_numbers() -> None:
    rng = np.random.default_rng(4)
    v = 0.13 + rng.normal(0, 0.004, 24 * 14)
    v[24 * 10 + 7] = 0.9
    v[24 * 12 + 7] = -0.2  # metrics may go negative
    out = volume_anomalies(hourly(v))
    assert list(out["direction"]) == ["spike", "drop"]
    assert "0.9 in the hour" in out.iloc[0]["explanation"]
    assert "0.13" in out.iloc[0]["explanation"]


# Level shifts: the new level becomes normal within hours, not an alert every day for weeks.


@pytest.mark.parametrize("factor", [3.0, 0.2])
def test_level_shift_is_reported_at_its_start_and_then_absorbed(factor: float) -> None:
    s = logins(weeks=6)
    shift = 24 * 7 * 3 + 24 * 2 + 10  # a Wednesday 10:00
    rng = np.random.default_rng(8)
    s.iloc[shift:] = rng.poisson(s.iloc[shift:].to_numpy() * factor).astype(float)
    out = volume_anomalies(s)
    after = out[out["timestamp"] >= s.index[shift]]
    assert not after.empty
    assert after["timestamp"].min() < s.index[shift] + pd.Timedelta(hours=6)
    assert (after["timestamp"] < s.index[shift] + pd.Timedelta(days=1)).all(), after[
        ["timestamp", "observed"]
    ]


# Heavy bursts: a bursty series (negative binomial) is allowed its bursts; a real one still shows.


def test_bursty_counts_stay_quiet_and_a_tenfold_burst_is_caught() -> None:
    s = logins(weeks=5, alpha=0.3, seed=21)
    assert len(volume_anomalies(s)) <= 1
    at = s.index[24 * 7 * 4 + 24 * 3 + 13]
    s[at] = s[at] * 10 + 500
    out = volume_anomalies(s)
    assert at in set(out["timestamp"])


def test_a_burst_does_not_raise_the_bar_for_the_next_week() -> None:
    s = logins(weeks=6)
    first = s.index[24 * 7 * 3 + 24 * 1 + 14]
    second = s.index[24 * 7 * 4 + 24 * 1 + 14]  # same slot a week later: must not look usual
    s[first] = s[second] = 4000
    out = volume_anomalies(s).set_index("timestamp")
    assert {first, second} <= set(out.index)
    assert out.loc[second, "expected"] < 1000


# Immature baseline: judged early, but the flag and the sentence say so.


def test_young_series_flags_are_marked_immature_and_say_what_they_were_judged_against() -> None:
    s = logins(weeks=1)
    at = s.index[24 * 4 + 14]
    s[at] = 6000
    out = volume_anomalies(s).set_index("timestamp")
    assert out.loc[at, "immature"]
    text = out.loc[at, "explanation"]
    assert "immature (0 of 3 week(s) of history)" in text
    assert "at this time of day" in text or "recent level" in text
    assert out.attrs["evaluated_from"] == s.index[0] + pd.Timedelta(days=1)


# Several series judged together (the volume and failure detectors judge every app at once) get
# exactly the verdicts, expectations and bars each gets alone, whatever the batch holds.


def _same(a: object, b: object) -> None:
    for name in a.__dataclass_fields__:  # type: ignore[attr-defined]
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray):
            assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
        else:
            assert x == y, name


def test_judging_many_series_at_once_gives_each_its_own_judgement() -> None:
    from oauthwatch.detect.volume_judge import Params, judge, judge_many

    step = pd.Timedelta(hours=1)
    quiet = logins(seed=1).to_numpy(copy=True)
    burst = logins(seed=2, alpha=0.3).to_numpy(copy=True)
    burst[[300, 500, 801]] += 2000.0  # flagged points, cleaned out of the baseline over several passes
    stopped = logins(seed=3, base=80).to_numpy(copy=True)
    stopped[-30:] = 0.0
    holes = logins(seed=4).to_numpy(copy=True)
    holes[::41] = np.nan  # judged alone: unknown points do not share the batch's grid
    floats = logins(seed=5).to_numpy(copy=True) + 0.5  # not counts: a batch of its own kind
    young = logins(weeks=2, seed=6).to_numpy(copy=True)
    rows = [quiet, burst, stopped, holes, floats, young, quiet * 3]
    origin = pd.Timestamp("2026-01-05 00:07", tz="UTC")
    origins = [origin + (len(quiet) - len(r)) * step for r in rows]
    p = Params(weeks=4, threshold=6.0, min_volume=20.0, rel_floor=0.25)
    together = judge_many(rows, step, origins, p)
    assert len(together) == len(rows)
    assert together[1].spike[[300, 500, 801]].all()
    assert together[2].drop[-30:].any()
    for r, o, j in zip(rows, origins, together, strict=True):
        _same(j, judge(r, step, o, p))
