"""The digest's state sections: app posture and collection health (is what we report complete?).

Split from :mod:`oauthwatch.notify.digest_data` (the day's event figures); both fill one
:class:`~oauthwatch.notify.digest_data.DigestData`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from oauthwatch.notify.digest_data import DigestData, Finding, SourceHealth, _utc
from oauthwatch.rules.posture import app_kind_label, judge_app
from oauthwatch.rules.thresholds import SUCCESS_OUTCOMES, Thresholds, is_lagging
from oauthwatch.store import schema as s

# Sources that record the org's current state rather than the day's events.
SNAPSHOT_SOURCES = frozenset(
    {"oauth_tokens", "connected_apps", "external_client_apps", "org_limits", "bulk_jobs"}
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from oauthwatch.config import OrgSettings, Settings


def posture_findings(conn: Connection, d: DigestData, thresholds: Thresholds) -> None:
    """Risky app policies (connected apps and External Client Apps, each with its kind), from the
    connected_apps columns as last collected.

    The posture detector's own judgement (:func:`oauthwatch.rules.posture.judge_app`) with the
    configured ``cert_days``, so the digest lists exactly what the detector reports.
    """
    ca = s.connected_apps
    for r in conn.execute(select(ca).where(ca.c.org == d.org).order_by(ca.c.name)).mappings():
        kind = app_kind_label(r["kind"])
        d.app_kinds.setdefault(r["name"], kind)
        for check in judge_app(dict(r), d.generated_at, thresholds.cert_days):
            d.posture.append(Finding(r["name"], check.label, kind))


def collection_health(conn: Connection, d: DigestData, org: OrgSettings, settings: Settings) -> None:
    """Per source: the day's coverage, the last run, whether it lags; and the API budget used."""
    cov, runs, w = s.coverage, s.collector_runs, d.window
    days = sorted({w.start.date(), (w.end - timedelta(microseconds=1)).date()})
    lag_after = Thresholds.from_settings(lambda n: settings.detector(n, org.name)).lag
    statuses: list[str] = []
    for source in org.sources:
        rows = conn.execute(
            select(cov.c.status, cov.c.note).where(
                cov.c.org == d.org, cov.c.source == source, cov.c.day.in_(days)
            )
        ).all()
        cells = [str(r.status) for r in rows]
        own_rows = any((r.note or "").startswith("own rows only") for r in rows)
        first_day = conn.execute(
            select(func.min(cov.c.day)).where(cov.c.org == d.org, cov.c.source == source)
        ).scalar_one()
        counted = first_day is not None
        if first_day is None:
            coverage = "not tracked"
        elif len(cells) < len(days) and source in SNAPSHOT_SOURCES and first_day > days[0]:
            # A snapshot (the state now) taken only since first_day cannot cover an earlier day.
            coverage = f"collected since {first_day}"
            counted = False
        elif len(cells) < len(days) and d.pruned_before is not None and w.end <= d.pruned_before:
            coverage = "pruned"  # retention removed the day's raw rows; its totals come from the rollups
        elif len(cells) < len(days):
            coverage = "missing"
        elif all(c == "complete" for c in cells):
            coverage = "complete"
        else:
            coverage = next(c for c in cells if c != "complete")
        if own_rows and coverage == "partial":  # the integration user sees only its own rows
            coverage = "partial (own rows only)"
        if counted:
            statuses.append(coverage)
        last = conn.execute(
            select(runs.c.started_at, runs.c.finished_at, runs.c.outcome, runs.c.error)
            .where(runs.c.org == d.org, runs.c.source == source)
            .order_by(runs.c.started_at.desc())
            .limit(1)
        ).first()
        last_ok = conn.execute(
            select(func.max(func.coalesce(runs.c.finished_at, runs.c.started_at))).where(
                runs.c.org == d.org, runs.c.source == source, runs.c.outcome.in_(SUCCESS_OUTCOMES)
            )
        ).scalar_one()
        last_ok = _utc(last_ok) if last_ok is not None else None
        d.health.append(
            SourceHealth(
                source=source,
                coverage=coverage,
                last_run_at=_utc(last.finished_at or last.started_at) if last else None,
                last_outcome=last.outcome if last else None,
                last_ok_at=last_ok,
                lagging=is_lagging(last_ok, last.outcome if last else None, d.generated_at, lag_after),
                error=last.error if last and last.outcome not in ("ok", "running") else None,
            )
        )
    # a pruned day was collected (its totals are in the rollups): not an incomplete one
    d.coverage_complete = bool(statuses) and all(x in ("complete", "pruned") for x in statuses)
    lim = s.org_limits
    row = conn.execute(
        select(lim.c.max, lim.c.remaining, lim.c.read_at)
        .where(lim.c.org == d.org, lim.c.name == "DailyApiRequests")
        .order_by(lim.c.read_at.desc())
        .limit(1)
    ).first()
    if row is not None:
        d.api_max = int(row.max) if row.max is not None else None
        d.api_remaining = int(row.remaining) if row.remaining is not None else None
        d.api_read_at = _utc(row.read_at)
