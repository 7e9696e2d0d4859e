"""Detectors: pure functions over store frames that explain what changed or looks wrong.

Public API (imported lazily so that ``oauthwatch --help`` does not pay for pandas)::

    from oauthwatch.detect import volume_anomalies, run_all, backtest
    flagged = volume_anomalies(hourly_counts)          # stands alone: any count series
    report = run_all(engine, settings)                 # every detector, alerts recorded
    replay = backtest(engine, settings, start=..., end=...)

See docs/detectors.md for the catalogue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oauthwatch.detect.base import Context, Detector, Finding
    from oauthwatch.detect.registry import all_detectors
    from oauthwatch.detect.runner import BacktestReport, DetectReport, backtest, run_all
    from oauthwatch.detect.volume_model import volume_anomalies

_EXPORTS = {
    "volume_anomalies": "oauthwatch.detect.volume_model",
    "run_all": "oauthwatch.detect.runner",
    "backtest": "oauthwatch.detect.runner",
    "DetectReport": "oauthwatch.detect.runner",
    "BacktestReport": "oauthwatch.detect.runner",
    "Finding": "oauthwatch.detect.base",
    "Detector": "oauthwatch.detect.base",
    "Context": "oauthwatch.detect.base",
    "all_detectors": "oauthwatch.detect.registry",
}

__all__ = [
    "BacktestReport",
    "Context",
    "DetectReport",
    "Detector",
    "Finding",
    "all_detectors",
    "backtest",
    "run_all",
    "volume_anomalies",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'oauthwatch.detect' has no attribute {name!r}")
