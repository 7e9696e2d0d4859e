"""A Bulk job deleted soon after it finished: an export whose traces were cleaned up.

Why it matters: deleting a Bulk API job removes its data and metadata, and it no longer shows in
Setup's Bulk Data Load Jobs page (docs/salesforce-behaviour.md §8); Salesforce deletes jobs by
itself after seven days, so a job gone within minutes of finishing was deleted by someone. The
2025 token thieves deleted their export jobs right after downloading them.

Two traces are read (:mod:`oauthwatch.detect.exfil_data`): the ``DELETE …/jobs/query/<id>`` call
in ApiTotalUsage (it names the app and user), and a job the listings stopped showing while it was
younger than seven days (``bulk_jobs.gone_at``; a job created and deleted between two readings is
only in the calls). An app that deletes its jobs on ``usual_days`` days of its history is judged
tidy, not hiding.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd

from oauthwatch.detect.base import Context, Detector, Finding, fmt_int, fmt_time
from oauthwatch.detect.data import Frames
from oauthwatch.detect.findings import finding
from oauthwatch.detect.needs import Data, needs
from oauthwatch.detect.recon_then_export import kinds_of, usernames
from oauthwatch.rules.api_calls import job_id_of

RUNBOOK = (
    "Find what the job exported: the evidence names the job, its object and rows when the listing saw it.",
    "Look at the app's other calls around that time (`oauthwatch incident --app APP --from … --to …`).",
    "If nobody at your company ran it, treat the app's tokens as stolen: `oauthwatch revoke --app APP` "
    "(dry run first), and follow docs/incident-response.md.",
)


def _deletions(frames: Frames, ctx: Context) -> list[dict[str, Any]]:
    """Every deletion known at ``now``: from the calls, then from the listings (not already named)."""
    now = pd.Timestamp(ctx.now)
    calls = frames.extra.get("api_job_calls")
    jobs = frames.extra.get("bulk_jobs")
    listed = (
        {}
        if jobs is None or jobs.empty
        else {str(j)[:15]: r for j, r in zip(jobs["job_id"], jobs.itertuples(), strict=True)}
    )
    out: list[dict[str, Any]] = []
    if calls is not None and not calls.empty:
        calls = calls[calls["event_time"] < now]
        jobs_named = calls["job"] if "job" in calls else [job_id_of(str(r)) for r in calls["api_resource"]]
        calls = calls.assign(kind=kinds_of(calls), job=jobs_named)
    if calls is not None and not calls.empty:
        for d in calls[calls["kind"] == "bulk_job_delete"].itertuples():
            mine = calls[
                (calls["job"] == d.job)
                & (calls["event_time"] < d.event_time)
                & (calls["kind"] != "bulk_job_delete")
            ]
            job = listed.get(str(d.job))
            finished = job.system_modstamp if job is not None and job.state == "JobComplete" else None
            if finished is None and not mine.empty:
                finished = mine["event_time"].max()  # its last poll or result download
            out.append({"job": d.job, "at": d.event_time, "finished": finished, "app": d.app, "name": d.app_name or d.app,
                        "user": d.user_id, "ip": d.client_ip, "object": d.entity_name or (job.object if job is not None else ""),
                        "rows": job.records if job is not None else None, "how": "DELETE call"})  # fmt: skip
    named = {d["job"] for d in out}
    if jobs is not None and not jobs.empty:
        gone = jobs[jobs["gone_at"].notna()]
        for j in gone[gone["gone_at"] < now].itertuples():
            job_id = str(j.job_id)[:15]
            if job_id in named:
                continue
            by = calls[calls["job"] == job_id] if calls is not None and not calls.empty else None
            first = next(by.itertuples(), None) if by is not None else None  # the calls name the app
            out.append({"job": job_id, "at": j.gone_at, "finished": j.system_modstamp,
                        "app": first.app if first else "", "name": first.app_name if first else "",
                        "user": j.created_by, "ip": first.client_ip if first else "", "object": j.object,
                        "rows": j.records, "how": "no longer listed"})  # fmt: skip
    return out


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    now = pd.Timestamp(ctx.now)
    since = now - timedelta(hours=float(ctx.get("lookback_hours")))
    soon = timedelta(minutes=float(ctx.get("max_minutes_after_finish")))
    deletions = _deletions(frames, ctx)
    usual: dict[str, set] = {}
    for d in deletions:
        if d["at"] < since:
            usual.setdefault(d["app"] or d["user"], set()).add(pd.Timestamp(d["at"]).date())
    out = []
    for d in deletions:
        if d["at"] < since or d["finished"] is None or pd.isna(d["finished"]):
            continue
        after = pd.Timestamp(d["at"]) - pd.Timestamp(d["finished"])
        who = d["app"] or d["user"]
        if after > soon or len(usual.get(who, ())) >= int(ctx.get("usual_days")):
            continue
        who_name = usernames(frames, [str(d["user"])])[0] if d["user"] else ""
        name = str(d["name"] or f"user {who_name}")
        rows = f"{fmt_int(d['rows'])} rows of " if d["rows"] is not None and not pd.isna(d["rows"]) else ""
        minutes = max(after.total_seconds() / 60, 0)
        out.append(
            finding(
                DETECTOR,
                ctx,
                subject_type="app" if d["app"] else "user",
                subject=name,
                title=f"{name}: Bulk job {d['job']} deleted {minutes:.0f} min after it finished",
                explanation=(
                    f"The Bulk API job {d['job']} ({rows}{d['object'] or 'an object'}) finished at "
                    f"{fmt_time(pd.Timestamp(d['finished']).to_pydatetime())} and "
                    + (
                        f"was deleted {minutes:.0f} minutes later"
                        if d["how"] == "DELETE call"
                        else f"was gone from the job listings {minutes:.0f} minutes later"
                    )
                    + (
                        f" (created by {who_name}" + (f", from {d['ip']}" if d["ip"] else "") + ")"
                        if who_name
                        else ""
                    )
                    + ". "
                    "Salesforce keeps jobs for seven days; deleting one right after downloading it hides an export."
                ),
                evidence={
                    "app": name,
                    "job_id": str(d["job"]),
                    "object": str(d["object"] or ""),
                    "rows": int(d["rows"]) if d["rows"] is not None and not pd.isna(d["rows"]) else "unknown",
                    "finished": pd.Timestamp(d["finished"]).isoformat(),
                    "deleted": pd.Timestamp(d["at"]).isoformat(),
                    "minutes_after_finish": round(minutes, 1),
                    "seen_by": d["how"],
                    "user": who_name,
                    "ip": str(d["ip"] or ""),
                },
                key=str(d["job"]),
                span=(d["finished"], d["at"]),
            )
        )
    return out


DETECTOR = Detector(
    id="bulk_job_deleted",
    title="Bulk job deleted soon after it finished",
    severity="high",
    description="A Bulk API job deleted within minutes of finishing (by its DELETE call, or gone from the job listings).",
    runbook=RUNBOOK,
    fn=_detect,
    defaults={"lookback_hours": 24, "max_minutes_after_finish": 60, "usual_days": 3},
    clears_after=timedelta(days=1),
    needs=needs(Data.EXFIL),
)
