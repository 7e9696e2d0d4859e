"""What each detector reads from the store, declared next to it: the loader reads only the union.

A detection cycle costs what is new, not the size of the store (docs/architecture.md, "Detection
data"): raw logins are read for the windows being judged only (plus a short declared lookback),
and everything older comes from the rollups maintained when logins are written
(:mod:`oauthwatch.store.rollups_detect`): the hourly counts per app and status
(``login_app_hourly``) and the per-day sightings of values per app or user (``login_seen_daily``).
How far back a detector looks in those rollups follows its thresholds (``lookback``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any


class Data(StrEnum):
    """One kind of data a detector reads."""

    WINDOW_LOGINS = "window_logins"  # raw logins of the judged windows (or ``raw_lookback`` before their end)
    PREVIOUS_LOGINS = "previous_logins"  # each window (user, app)'s last located success before it
    APP_HOURLY = "app_hourly"  # login_app_hourly: events per hour, app, success, status
    SEEN = "seen"  # login_seen_daily rows of the declared ``seen`` kinds
    FIRST_SEEN = "first_seen"  # every app's first login and the org's (all time, from login_seen_daily)
    GRANTS = "grants"  # OAuth grant snapshots of the last days, first grant per user and app
    POLICIES = "policies"  # connected apps, their setting changes, the setup audit trail
    USERS = "users"  # the org's users
    ALLOWLIST = "allowlist"  # approved apps with their ranges
    EXFIL = "exfil"  # API calls and Bulk jobs (oauthwatch.detect.exfil_data)
    LEDGER = "ledger"  # checkpoints, collector runs, coverage, org limits
    NETWORKS = "networks"  # hosting / VPN / Tor classes (oauthwatch.intel)


def _none(_: Mapping[str, Any]) -> timedelta:
    return timedelta(0)


@dataclass(frozen=True)
class Needs:
    """A detector's declaration.

    ``lookback`` gives, from the detector's thresholds, how far before a window's start it reads
    the rollups (and the exfiltration data); ``raw_lookback`` how far before a window's end it
    reads raw logins when that is longer than the window (zero: the window only);
    ``previous_lookback`` how far before the windows :attr:`Data.PREVIOUS_LOGINS` looks for each
    (user, app)'s last login.
    """

    data: frozenset[Data] = frozenset()
    seen: frozenset[str] = frozenset()
    lookback: Callable[[Mapping[str, Any]], timedelta] = field(default=_none)
    raw_lookback: timedelta = timedelta(0)
    previous_lookback: Callable[[Mapping[str, Any]], timedelta] = field(default=_none)

    def __contains__(self, item: object) -> bool:
        return item in self.data


def needs(
    *data: Data,
    seen: Iterable[str] = (),
    lookback: Callable[[Mapping[str, Any]], timedelta] = _none,
    raw_lookback: timedelta = timedelta(0),
    previous_lookback: Callable[[Mapping[str, Any]], timedelta] = _none,
) -> Needs:
    """A declaration (``seen`` kinds imply :attr:`Data.SEEN`)."""
    kinds = frozenset(seen)
    return Needs(
        data=frozenset(data) | ({Data.SEEN} if kinds else set()),
        seen=kinds,
        lookback=lookback,
        raw_lookback=raw_lookback,
        previous_lookback=previous_lookback,
    )


def days_of(key: str, extra: timedelta = timedelta(0)) -> Callable[[Mapping[str, Any]], timedelta]:
    """A lookback of ``thresholds[key]`` days (plus ``extra``)."""
    return lambda t: timedelta(days=int(t[key])) + extra


def hours_of(key: str) -> Callable[[Mapping[str, Any]], timedelta]:
    """A lookback of ``thresholds[key]`` hours."""
    return lambda t: timedelta(hours=int(t[key]))


def weeks_of(key: str, extra: timedelta = timedelta(0)) -> Callable[[Mapping[str, Any]], timedelta]:
    """A lookback of ``thresholds[key]`` weeks (plus ``extra``)."""
    return lambda t: timedelta(weeks=int(t[key])) + extra


@dataclass(frozen=True)
class LoadPlan:
    """The union of the enabled detectors' declarations: what one load reads, and how far before
    the earliest judged window each kind of data goes (the longest any detector declared)."""

    data: frozenset[Data]
    seen: frozenset[str]
    lookbacks: Mapping[Data, timedelta]
    raw_lookback: timedelta
    previous_lookback: timedelta = timedelta(0)

    def __contains__(self, item: object) -> bool:
        return item in self.data

    def lookback(self, item: Data) -> timedelta:
        """How far before the earliest window ``item`` is read (zero: the configured history)."""
        return self.lookbacks.get(item, timedelta(0))


def union(declared: Iterable[tuple[Needs | None, Mapping[str, Any]]]) -> LoadPlan:
    """What to load for detectors with these declarations and thresholds."""
    data: set[Data] = set()
    seen: set[str] = set()
    lookbacks: dict[Data, timedelta] = {}
    raw = previous = timedelta(0)
    for declared_needs, thresholds in declared:
        n = declared_needs or UNDECLARED
        data |= n.data
        seen |= n.seen
        span = n.lookback(thresholds)
        for d in n.data:
            lookbacks[d] = max(lookbacks.get(d, timedelta(0)), span)
        raw = max(raw, n.raw_lookback)
        previous = max(previous, n.previous_lookback(thresholds))
    return LoadPlan(frozenset(data), frozenset(seen), lookbacks, raw, previous)


# What a detector that declares nothing gets: its windows' logins and the org's state.
UNDECLARED = needs(
    Data.WINDOW_LOGINS,
    Data.FIRST_SEEN,
    Data.GRANTS,
    Data.POLICIES,
    Data.USERS,
    Data.ALLOWLIST,
    Data.LEDGER,
)
