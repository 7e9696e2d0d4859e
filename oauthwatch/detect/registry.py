"""The catalogue: every detector, in the order reports list them."""

from __future__ import annotations

from oauthwatch.detect import (
    app_imitation,
    app_network,
    bulk_job_deleted,
    dormant_grant,
    export_volume,
    failures,
    health,
    inactive_grant,
    integration_network,
    legacy_flow,
    new_app,
    new_country,
    new_flow,
    new_network,
    new_user,
    new_user_agent,
    posture,
    recon_then_export,
    spray,
    stale_grants,
    travel,
    volume,
)
from oauthwatch.detect.base import Detector

DETECTORS: tuple[Detector, ...] = tuple(
    m.DETECTOR
    for m in (
        volume,
        failures,
        new_country,
        new_network,
        new_user,
        spray,
        travel,
        legacy_flow,
        new_flow,
        dormant_grant,
        inactive_grant,
        new_app,
        integration_network,
        app_network,
        new_user_agent,
        app_imitation,
        recon_then_export,
        export_volume,
        bulk_job_deleted,
        posture,
        stale_grants,
        health,
    )
)


def all_detectors() -> list[Detector]:
    """Every registered detector."""
    return list(DETECTORS)


def get_detector(detector_id: str) -> Detector:
    """The detector with this id, or a KeyError listing the known ids."""
    for d in DETECTORS:
        if d.id == detector_id:
            return d
    raise KeyError(f"no detector {detector_id!r}; known: {', '.join(d.id for d in DETECTORS)}")
