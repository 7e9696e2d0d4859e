"""One finding's fixed parts, written once for the detectors that build them alike.

A detector's finding carries the detector's id, severity and runbook, the org of the run, a dedupe
key ``<detector>:<org>:<what>`` and the span of the events it saw (pandas times made plain
datetimes). :func:`finding` fills those in, so a detector says only what is its own: the subject,
the words and the evidence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from oauthwatch.detect.base import Context, Detector, Finding, SubjectType

if TYPE_CHECKING:
    from datetime import datetime


def finding(
    detector: Detector,
    ctx: Context,
    *,
    subject: str,
    title: str,
    explanation: str,
    evidence: dict[str, Any],
    key: str,
    span: tuple[datetime | pd.Timestamp, datetime | pd.Timestamp],
    subject_type: SubjectType = "app",
) -> Finding:
    """``detector``'s finding about ``subject`` in ``ctx.org`` over ``span`` (first, last event),
    deduplicated on ``key``."""
    return Finding(
        detector=detector.id,
        severity=detector.severity,
        org=ctx.org,
        subject_type=subject_type,
        subject=subject,
        title=title,
        explanation=explanation,
        evidence=evidence,
        runbook=detector.runbook,
        dedupe_key=f"{detector.id}:{ctx.org}:{key}",
        event_start=pd.Timestamp(span[0]).to_pydatetime(),
        event_end=pd.Timestamp(span[1]).to_pydatetime(),
    )
