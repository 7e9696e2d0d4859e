""" "Was this value seen for this app (or user) between two instants?", answered from daily sightings.

The rows are ``login_seen_daily``'s (:mod:`oauthwatch.store.rollups_detect`): per group, value
and UTC day, the first and last sighting and the count. A span that starts and ends on different
days is judged exactly: every day strictly inside it is inside, and an edge day's last (first)
sighting says whether it holds one after the start (before the end). Within a single day only
"first and last both outside the span" is ambiguous; it is answered "seen" (a value is not called
new on a guess). Counts over a span take an edge day's count whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

import numpy as np
import pandas as pd

from oauthwatch.detect.store_read import ns_utc

Pair = tuple[str, str]


@dataclass
class Sightings:
    """Per ``(group, value)``: its days' first and last sightings and counts, oldest day first."""

    first: dict[Pair, np.ndarray] = field(default_factory=dict)
    last: dict[Pair, np.ndarray] = field(default_factory=dict)
    events: dict[Pair, np.ndarray] = field(default_factory=dict)
    by_group: dict[str, list[str]] = field(default_factory=dict)
    rows: pd.DataFrame | None = None
    _spans: dict[tuple[np.datetime64, np.datetime64], set[Pair]] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, rows: pd.DataFrame) -> Sightings:
        """From ``login_seen_daily`` rows (``grp``, ``value``, ``first_at``, ``last_at``, ``events``)
        of one kind."""
        out = cls()
        if rows.empty:
            return out
        rows = rows.sort_values("first_at", kind="stable")
        out.rows = rows
        firsts = rows["first_at"].to_numpy(dtype="datetime64[ns]")
        lasts = rows["last_at"].to_numpy(dtype="datetime64[ns]")
        counts = rows["events"].to_numpy(dtype=np.int64)
        codes = rows.groupby(["grp", "value"], sort=False).indices
        for pair, idx in codes.items():
            g, v = cast(tuple[object, object], pair)
            key = (str(g), str(v))
            out.first[key], out.last[key], out.events[key] = firsts[idx], lasts[idx], counts[idx]
            out.by_group.setdefault(key[0], []).append(key[1])
        return out

    def pairs_seen(self, lo: datetime, hi: datetime) -> set[Pair]:
        """Every ``(group, value)`` seen in ``[lo, hi)`` (one pass over the rows, kept per span)."""
        key = (ns_utc(lo), ns_utc(hi))
        if key not in self._spans:
            r = self.rows
            if r is None or r.empty:
                self._spans[key] = set()
            else:
                first = r["first_at"].to_numpy(dtype="datetime64[ns]")
                last = r["last_at"].to_numpy(dtype="datetime64[ns]")
                m = (last >= key[0]) & (first < key[1])
                grp, value = r["grp"][m].astype(str).tolist(), r["value"][m].astype(str).tolist()
                self._spans[key] = set(zip(grp, value, strict=True))
        return self._spans[key]

    def values(self, group: str) -> list[str]:
        """The values seen for ``group`` in what was loaded."""
        return self.by_group.get(group, [])

    def _overlap(self, pair: Pair, lo: datetime, hi: datetime) -> np.ndarray | None:
        f = self.first.get(pair)
        if f is None:
            return None
        return (self.last[pair] >= ns_utc(lo)) & (f < ns_utc(hi))

    def seen(self, group: str, value: str, lo: datetime, hi: datetime) -> bool:
        """Whether ``value`` was seen for ``group`` in ``[lo, hi)``."""
        m = self._overlap((group, value), lo, hi)
        return bool(m is not None and m.any())

    def count(self, group: str, value: str, lo: datetime, hi: datetime) -> int:
        """How many times (edge days counted whole)."""
        m = self._overlap((group, value), lo, hi)
        return 0 if m is None else int(self.events[(group, value)][m].sum())

    def first_seen(self, group: str, value: str) -> pd.Timestamp | None:
        """The first sighting in what was loaded."""
        f = self.first.get((group, value))
        return None if f is None or not len(f) else pd.Timestamp(f.min(), tz="UTC")

    def last_before(self, group: str, value: str, hi: datetime) -> pd.Timestamp | None:
        """The last sighting before ``hi`` (a day that straddles ``hi`` gives its first sighting)."""
        f = self.first.get((group, value))
        if f is None:
            return None
        h = ns_utc(hi)
        la = self.last[(group, value)]
        best = [t for t in np.where(la < h, la, f) if t < h]
        return pd.Timestamp(max(best), tz="UTC") if best else None
