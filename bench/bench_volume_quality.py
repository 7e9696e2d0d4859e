"""Benchmark: the volume model's detection quality on labelled synthetic count series.

What the product judges are counts (logins, failures per reason), so this set is counts: hourly
login-like series over six weeks (day/night and weekday/weekend rhythm, sometimes a nightly
batch) and five-minute bursty series over two weeks, with negative binomial noise from Poisson
to alpha 0.5, a few holes, and labelled incidents: spikes (3-10x for 1-4 hours), stopped
integrations (a busy stretch falling to under 10 %) and level shifts (x2-4 or x0.1-0.35 for
good). Every series comes from a fixed seed.

Scored like the development set described in docs/detectors.md ("What was measured"): a labelled
window is found when a flag falls inside it; flags outside every window are false events,
merged when within 6 steps; the first 15 % is not scored. The baseline, measured in the same run,
is a rolling 7-day 3-sigma rule. Prints one line per method and the F1 ratio to the baseline.

``--series 40`` (default) takes about a minute; ``--series 200`` for a tighter figure.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oauthwatch.detect import volume_anomalies

Window = tuple[pd.Timestamp, pd.Timestamp]


def _nb(rng: np.random.Generator, mu: np.ndarray, alpha: float) -> np.ndarray:
    if alpha <= 0:
        return rng.poisson(mu)
    return rng.poisson(rng.gamma(1 / alpha, mu * alpha))


def make_series(seed: int) -> tuple[pd.Series, list[Window]]:
    """One labelled series: even seeds hourly login-like, odd seeds five-minute bursty."""
    rng = np.random.default_rng(seed)
    if seed % 2 == 0:
        idx = pd.date_range("2026-01-05", periods=24 * 7 * 6, freq="h", tz="UTC")
        h, weekday = idx.hour.to_numpy(), idx.day_of_week.to_numpy() < 5
        base = float(rng.choice([2, 10, 40, 150, 600]))
        bump = np.exp(-(((h - rng.uniform(10, 16)) / 3.5) ** 2))
        mu = base * (0.3 + rng.uniform(1, 8) * bump) * np.where(weekday, 1.0, rng.uniform(0.1, 0.6))
        if rng.random() < 0.4:  # a nightly batch job: normal, learnt from the rhythm
            mu = mu + np.where(h == 2, base * rng.uniform(3, 10), 0)
        alpha, step_h = float(rng.choice([0.0, 0.02, 0.1, 0.3])), 1.0
    else:
        idx = pd.date_range("2026-01-05", periods=288 * 14, freq="5min", tz="UTC")
        hr = idx.hour.to_numpy() + idx.minute.to_numpy() / 60
        base = float(rng.choice([3, 15, 60]))
        mu = base * (0.5 + rng.uniform(0.5, 3) * np.exp(-(((hr - rng.uniform(12, 20)) / 4) ** 2)))
        alpha, step_h = float(rng.choice([0.05, 0.2, 0.5])), 1 / 12
    mu = mu.astype(float)
    n, hours = len(idx), (lambda k: max(1, int(k / step_h)))
    mult = np.ones(n)
    wins: list[Window] = []
    last = -(10**9)
    for a in np.sort(
        rng.choice(np.arange(int(n * 0.2), n - hours(12)), size=rng.integers(2, 5), replace=False)
    ):
        if a - last < hours(48):
            continue
        kind = rng.choice(["spike", "drop", "shift_up", "shift_down"], p=[0.45, 0.25, 0.15, 0.15])
        if kind == "spike":
            d = hours(rng.uniform(1, 4))
            mult[a : a + d] *= rng.uniform(3, 10)
            mu[a : a + d] += 30
            end = a + d
        elif kind == "drop":
            d = hours(rng.uniform(3, 10))
            if np.mean(mu[a : a + d]) < 10:
                continue  # a quiet stretch cannot visibly stop
            mult[a : a + d] *= rng.uniform(0, 0.1)
            end = a + d
        else:
            mult[a:] *= rng.uniform(2, 4) if kind == "shift_up" else rng.uniform(0.1, 0.35)
            end = a + hours(6)
        wins.append((idx[max(a - hours(1), 0)], idx[min(end + hours(3), n - 1)]))
        last = a
    s = pd.Series(_nb(rng, mu * mult, alpha).astype(float), index=idx)
    if rng.random() < 0.3:
        g = int(rng.integers(int(n * 0.2), n - 50))
        s.iloc[g : g + int(rng.integers(3, 30))] = np.nan
    return s, wins


def three_sigma(s: pd.Series) -> list[pd.Timestamp]:
    step = s.index.to_series().diff().median()
    w = max(int(pd.Timedelta("7D") / step), 10)
    m = s.shift(1).rolling(w, min_periods=w // 2).mean()
    sd = s.shift(1).rolling(w, min_periods=w // 2).std()
    z = (s - m) / sd.replace(0, np.nan)
    return list(s.index[(z.abs() > 3).fillna(False).to_numpy()])


def ours(s: pd.Series) -> list[pd.Timestamp]:
    out = volume_anomalies(s)
    return list(pd.to_datetime(out["timestamp"], utc=True)) if len(out) else []


def score(s: pd.Series, flags: list[pd.Timestamp], wins: list[Window]) -> tuple[int, int, int]:
    start = s.index[int(len(s) * 0.15)]
    step = s.index.to_series().diff().median()
    flags = sorted(f for f in flags if f >= start)
    wins = [w for w in wins if w[1] >= start]
    found = sum(any(a <= f <= b for f in flags) for a, b in wins)
    false, last = 0, None
    for f in (f for f in flags if not any(a <= f <= b for a, b in wins)):
        if last is None or f - last > 6 * step:
            false += 1
        last = f
    return found, len(wins), false


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=40)
    args = ap.parse_args()
    data = [make_series(seed) for seed in range(args.series)]
    results: dict[str, tuple[int, int, int, float]] = {}
    for name, fn in (("rolling 3-sigma", three_sigma), ("volume_anomalies", ours)):
        t0 = time.perf_counter()
        tot = np.zeros(3, dtype=int)
        for s, wins in data:
            tot += score(s, fn(s), wins)
        results[name] = (int(tot[0]), int(tot[1]), int(tot[2]), time.perf_counter() - t0)
    base_f1 = None
    print(
        f"{'method':18} {'windows':>9} {'false':>6} {'recall':>7} {'precision':>9} {'F1':>6} {'x 3-sigma':>9} {'seconds':>8}"
    )
    for name, (found, total, false, secs) in results.items():
        rec = found / total if total else 0.0
        prec = found / (found + false) if found + false else 0.0
        f1 = 2 * rec * prec / (rec + prec) if rec + prec else 0.0
        base_f1 = f1 if base_f1 is None else base_f1
        ratio = f1 / base_f1 if base_f1 else float("nan")
        print(
            f"{name:18} {found:>4}/{total:<4} {false:>6} {rec:>7.2f} {prec:>9.2f} {f1:>6.3f} {ratio:>9.1f} {secs:>8.1f}"
        )


if __name__ == "__main__":
    main()
