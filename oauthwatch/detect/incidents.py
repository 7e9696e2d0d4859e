"""One incident, one alert: which findings describe the same incident.

A spray is seen by ``password_spray`` (its network), ``failure_surge`` (the app it hits) and
``volume`` (the same app's spike, its top IP in that network); a stolen token by ``new_country``
(the app, the user) and ``impossible_travel`` (the user). Two findings belong to one incident
when they share a correlation key and their event times overlap (within :data:`SLACK`):

- the subject (``app:Slack``, ``user:ann@…``, ``network:203.0.113.0/24``; never the whole org);
- every /24 (or /48) network of an IP address named in the evidence;
- the ``user`` and ``app`` the evidence names.

Pure: the alert lifecycle (:mod:`oauthwatch.detect.lifecycle`) applies it to the alerts in the
store, ``backtest`` to the alerts it would have opened, so both count incidents the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from oauthwatch.rules.network import network_of

SLACK = timedelta(hours=1)
_IP = re.compile(r"(?<![\w.:])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")


def correlation_keys(subject_type: str, subject: str, evidence: Mapping[str, Any]) -> frozenset[str]:
    """The keys a finding (or an alert) can be linked to another one by."""
    keys: set[str] = set()
    if subject_type in ("ip", "network"):
        net = network_of(subject) if subject_type == "ip" else subject
        if net:
            keys.add(f"network:{net}")
    elif subject_type != "org" and subject:
        keys.add(f"{subject_type}:{subject.casefold()}")
    for name in ("user", "app"):
        value = evidence.get(name)
        if isinstance(value, str) and value:
            keys.add(f"{name}:{value.casefold()}")
    for value in evidence.values():
        if isinstance(value, str):
            for ip in _IP.findall(value):
                net = network_of(ip)
                if net:
                    keys.add(f"network:{net}")
    return frozenset(keys)


@dataclass
class Incident:
    """What is known of one open alert: its keys, the span of its events, when last seen."""

    ref: int
    detector: str
    keys: set[str]
    start: datetime | None
    end: datetime | None
    last_seen: datetime
    detectors: set[str] = field(default_factory=set)

    def overlaps(self, keys: Iterable[str], start: datetime | None, end: datetime | None) -> bool:
        """Whether a finding with these keys and event times is part of this incident."""
        if self.start is None or self.end is None or start is None:
            return False  # current-state findings (no event time) are never merged
        end = end or start
        if not self.keys.intersection(keys):
            return False
        return start <= self.end + SLACK and end >= self.start - SLACK

    def absorb(
        self, keys: Iterable[str], start: datetime | None, end: datetime | None, detector: str
    ) -> None:
        """Take a linked finding in: its keys, its events and its detector join the incident."""
        self.keys.update(keys)
        if start is not None:
            self.start = start if self.start is None else min(self.start, start)
            last = end or start
            self.end = last if self.end is None else max(self.end, last)
        self.detectors.add(detector)


def find_incident(
    incidents: Iterable[Incident], keys: Iterable[str], start: datetime | None, end: datetime | None
) -> Incident | None:
    """The open incident a finding belongs to (the most recently seen one), or None."""
    keys = frozenset(keys)
    matches = [i for i in incidents if i.overlaps(keys, start, end)]
    return max(matches, key=lambda i: i.last_seen) if matches else None
