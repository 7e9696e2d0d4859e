"""The thresholds that more than one reader applies: grant age, source lag, certificate warning.

The detectors own these numbers (``[detect.<id>]`` in the configuration overrides their
defaults); the dashboard's Tokens and Collection pages and the digest read the same configured
values through :meth:`Thresholds.from_settings`, so a grant the digest calls stale is the grant
the ``stale_grants`` detector alerts on (docs/configuration.md lists the keys).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

STALE_GRANT_DAYS = 90  # [detect.stale_grants] days
DORMANT_GRANT_DAYS = 30  # [detect.dormant_grant] dormant_days
LAG_MINUTES = 90  # [detect.collection_health] lag_minutes
CERT_WARNING_DAYS = 30  # [detect.posture] cert_days

# A run that collected (everything, or a part of a day it says is partial) counts as progress.
SUCCESS_OUTCOMES = ("ok", "partial")
# A source skipped on purpose (not licensed, snapshot still fresh) is not lagging.
SKIPPED_OUTCOME = "skipped"


@dataclass(frozen=True)
class Thresholds:
    """The shared thresholds, as configured."""

    stale_grant_days: int = STALE_GRANT_DAYS
    dormant_grant_days: int = DORMANT_GRANT_DAYS
    lag_minutes: int = LAG_MINUTES
    cert_days: int = CERT_WARNING_DAYS

    @classmethod
    def from_settings(cls, detector: Callable[[str], Mapping[str, Any]]) -> Thresholds:
        """From the ``[detect.<id>]`` tables; pass ``settings.detector``."""
        return cls(
            stale_grant_days=int(detector("stale_grants").get("days", STALE_GRANT_DAYS)),
            dormant_grant_days=int(detector("dormant_grant").get("dormant_days", DORMANT_GRANT_DAYS)),
            lag_minutes=int(detector("collection_health").get("lag_minutes", LAG_MINUTES)),
            cert_days=int(detector("posture").get("cert_days", CERT_WARNING_DAYS)),
        )

    @property
    def lag(self) -> timedelta:
        return timedelta(minutes=self.lag_minutes)


DEFAULTS = Thresholds()


def grant_last_activity(last_used: pd.Series, created: pd.Series) -> pd.Series:
    """When each grant was last active: its last use, else its creation (a new grant is not stale)."""
    return last_used.fillna(created)


def stale_grants(last_used: pd.Series, created: pd.Series, now: datetime, days: int) -> pd.Series:
    """Grants not active for more than ``days`` (the ``stale_grants`` detector's rule)."""
    return grant_last_activity(last_used, created) < now - timedelta(days=days)


def dormant_grants(last_used: pd.Series, created: pd.Series, now: datetime, t: Thresholds) -> pd.Series:
    """Grants idle for more than the dormant threshold but not yet stale: the ones that may wake up."""
    idle = grant_last_activity(last_used, created) < now - timedelta(days=t.dormant_grant_days)
    return idle & ~stale_grants(last_used, created, now, t.stale_grant_days)


def is_lagging(
    last_success: datetime | None, latest_outcome: str | None, now: datetime, lag: timedelta
) -> bool:
    """Whether a source lags: no successful run (``ok`` or ``partial``) within ``lag`` of ``now``.

    A source never run lags; one whose latest run was skipped on purpose does not. A source that
    ran successfully but found no new events is current: lag is about the collector, not the traffic.
    """
    if latest_outcome == SKIPPED_OUTCOME:
        return False
    if last_success is None:
        return True
    return now - last_success > lag
