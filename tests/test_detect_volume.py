"""``volume_anomalies`` on its own: rhythm, poisoning, maturity, frequencies, input checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from oauthwatch.detect import volume_anomalies


def rhythm(weeks: int = 6, freq: str = "h", seed: int = 3, base: float = 50.0) -> pd.Series:
    idx = pd.date_range(
        "2026-01-05",
        periods=int(pd.Timedelta(weeks=weeks) / pd.Timedelta(pd.tseries.frequencies.to_offset(freq))),
        freq=freq,
        tz="UTC",
    )
    hour = idx.hour.to_numpy() + idx.minute.to_numpy() / 60
    weekday = idx.day_of_week.to_numpy() < 5
    scale = pd.Timedelta(pd.tseries.frequencies.to_offset(freq)) / pd.Timedelta("1h")
    lam = scale * (base + 300 * np.exp(-(((hour - 14) / 4) ** 2)) * np.where(weekday, 1.0, 0.3))
    return pd.Series(np.random.default_rng(seed).poisson(lam).astype(float), index=idx)


def test_quiet_weeks_flag_nothing_and_columns_are_documented() -> None:
    out = volume_anomalies(rhythm())
    assert out.empty
    assert list(out.columns[:6]) == ["timestamp", "observed", "expected", "score", "direction", "explanation"]


def test_spike_and_drop_with_rhythm() -> None:
    s = rhythm()
    spike_at = s.index[24 * 7 * 4 + 14]  # a Monday 14:00 in week 5
    drop_at = s.index[24 * 7 * 5 + 38]  # a Tuesday 14:00 in week 6
    s[spike_at] *= 6
    s[drop_at] = 0
    out = volume_anomalies(s)
    assert list(out["timestamp"]) == [spike_at, drop_at]
    assert list(out["direction"]) == ["spike", "drop"]
    spike = out.iloc[0]
    assert spike["observed"] > 5 * spike["expected"]
    assert spike["score"] > 6
    assert not spike["immature"]
    assert "the usual" in spike["explanation"]


def test_weekend_is_not_a_drop_and_a_weekday_night_spike_is_caught() -> None:
    s = rhythm()
    night = s.index[24 * 7 * 5 + 3]  # Monday 03:00: small but real for that hour
    s[night] = 400
    out = volume_anomalies(s)
    assert list(out["timestamp"]) == [night]


def test_not_fooled_by_earlier_anomalies_in_its_baseline() -> None:
    s = rhythm(weeks=7)
    # The same slot spikes three weeks in a row: the later weeks must still be judged against normal.
    slots = [s.index[24 * 7 * w + 24 * 2 + 10] for w in (3, 4, 5)]
    for ts in slots:
        s[ts] = 3000
    out = volume_anomalies(s)
    assert set(slots) <= set(out["timestamp"])
    assert (out.set_index("timestamp").loc[slots, "expected"] < 1000).all()


def test_maturity_first_day_silent_then_immature_then_mature() -> None:
    """The first day has nothing to compare with; until ``mature_weeks`` weeks it is judged, but says so."""
    s = rhythm(weeks=5)
    first_day = s.index[10]
    third_day = s.index[24 * 2 + 30]
    second_week = s.index[24 * 7 + 50]
    fourth_week = s.index[24 * 7 * 3 + 30]
    for ts in (first_day, third_day, second_week, fourth_week):
        s[ts] = 5000
    out = volume_anomalies(s).set_index("timestamp")
    assert first_day not in out.index
    assert out.loc[third_day, "immature"]
    assert out.loc[second_week, "immature"]
    assert "immature" in out.loc[second_week, "explanation"]
    assert not out.loc[fourth_week, "immature"]
    assert "immature" not in out.loc[fourth_week, "explanation"]
    assert out.attrs["evaluated_from"] == s.index[0] + pd.Timedelta(days=1)
    assert out.attrs["immature_until"] == s.index[0] + pd.Timedelta(weeks=3)


@pytest.mark.parametrize("freq", ["5min", "15min", "D"])
def test_other_frequencies(freq: str) -> None:
    s = rhythm(weeks=5, freq=freq, base=400 if freq == "5min" else 50)
    ts = s.index[-3]
    s[ts] = s[ts] * 8 + 200
    out = volume_anomalies(s)
    assert ts in set(out["timestamp"])
    assert (out["direction"] == "spike").all()


def test_missing_timestamps_are_unknown_not_zero() -> None:
    s = rhythm(weeks=5)
    gap = s.index[24 * 7 * 4 + 10 : 24 * 7 * 4 + 20]
    assert volume_anomalies(s.drop(gap)).empty


def test_input_checks() -> None:
    s = rhythm(weeks=2)
    with pytest.raises(ValueError, match="tz-aware"):
        volume_anomalies(s.tz_localize(None))
    with pytest.raises(TypeError):
        volume_anomalies(pd.Series([1.0, 2.0]))
    with pytest.raises(ValueError, match="between 5 minutes and 1 day"):
        volume_anomalies(
            pd.Series([1.0, 2.0], index=pd.date_range("2026-01-01", periods=2, freq="min", tz="UTC"))
        )
    with pytest.raises(ValueError, match="divide a week"):
        volume_anomalies(
            pd.Series([1.0, 2.0], index=pd.date_range("2026-01-01", periods=2, freq="5h", tz="UTC"))
        )
    assert volume_anomalies(s.iloc[:1]).empty
