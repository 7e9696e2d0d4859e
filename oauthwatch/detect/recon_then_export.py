"""Reconnaissance, then a Bulk export: an app (or user) that maps the org and then pulls it out.

Why it matters: the 2025 token-theft campaigns ran the same sequence with every stolen token: list
the objects (``/sobjects``), describe them, count their rows (``SELECT COUNT()``), read the limits,
and minutes later create Bulk API query jobs on the same objects (docs/incident-response.md). An
integration that exports every night does the same, so an app that created Bulk query jobs on
``usual_days`` days of its history is judged routine; the first time is what stands out.

Reads ApiTotalUsage calls (:mod:`oauthwatch.detect.exfil_data`), classified by
:mod:`oauthwatch.rules.api_calls`.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from oauthwatch.detect.base import Context, Detector, Finding, fmt_int, fmt_time
from oauthwatch.detect.data import Frames
from oauthwatch.detect.findings import finding
from oauthwatch.detect.needs import Data, needs
from oauthwatch.rules.api_calls import RECON_KINDS, call_kind

RUNBOOK = (
    "Read the evidence: which objects were described and counted, then exported, by which users, from which addresses.",
    "Ask the app's owner whether anyone ran an export then; a vendor integration rarely exports on its own.",
    "If nobody did: `oauthwatch grants --app APP`, `oauthwatch revoke --app APP` (dry run first), and "
    "`oauthwatch incident --app APP` for the evidence; follow docs/incident-response.md.",
)


def kinds_of(calls: pd.DataFrame) -> pd.Series:
    """Each call's kind (:func:`oauthwatch.rules.api_calls.call_kind`), as loaded when it was."""
    if "kind" in calls:
        return calls["kind"]
    return pd.Series(
        [call_kind(str(r), str(m), str(e or "")) for r, m, e in
         zip(calls["api_resource"], calls["http_method"], calls["entity_name"], strict=True)],
        index=calls.index, dtype=object,
    )  # fmt: skip


WORDS = {"list_objects": "listed the objects", "describe": "described objects", "count_query": "counted rows",
         "limits": "read the limits"}  # fmt: skip


def usernames(frames: Frames, ids: list[str]) -> list[str]:
    """The users' names where the store knows them, else their ids."""
    known = dict(zip(frames.users["user_id"].astype(str), frames.users["username"].astype(str), strict=True))
    return [known.get(i, i) for i in ids]


def _who(rows: pd.DataFrame) -> str:
    return str(rows["app"].iloc[0]) or f"user {rows['user_id'].iloc[0]}"


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    jobs = frames.extra.get("api_job_calls")
    recon = frames.extra.get("api_recon_calls")
    if jobs is None or jobs.empty or recon is None:
        return []
    now = pd.Timestamp(ctx.now)
    jobs = jobs[jobs["event_time"] < now]
    creates = jobs[kinds_of(jobs) == "bulk_query_create"] if not jobs.empty else jobs
    if creates.empty:
        return []
    since = now - timedelta(hours=float(ctx.get("lookback_hours")))
    gap = timedelta(minutes=float(ctx.get("max_gap_minutes")))
    key = creates["app"].where(creates["app"].astype(str) != "", "user:" + creates["user_id"].astype(str))
    out = []
    for who, rows in creates.assign(key=key).groupby("key"):
        recent = rows[rows["event_time"] >= since]
        if recent.empty:
            continue
        before = rows[rows["event_time"] < since]
        if before["event_time"].dt.date.nunique() >= int(ctx.get("usual_days")):
            continue  # this app exports routinely
        first = recent["event_time"].min()
        mine = recon[
            (recon["app"] == who) & (recon["event_time"] >= first - gap) & (recon["event_time"] < first)
        ]
        if mine.empty:
            continue
        kinds = kinds_of(mine)
        mine = mine[kinds.isin(RECON_KINDS)]
        seen = sorted(set(kinds[kinds.isin(RECON_KINDS)]))
        if len(seen) < int(ctx.get("min_recon_kinds")) or len(mine) < int(ctx.get("min_recon_calls")):
            continue
        name = str(recent["app_name"].iloc[0] or _who(recent))
        objects = sorted({str(e) for e in recent["entity_name"] if e})
        described = sorted({str(e) for e in mine["entity_name"] if e})
        users = usernames(
            frames, sorted({str(u) for u in pd.concat([mine["user_id"], recent["user_id"]]) if u})
        )
        ips = sorted({str(i) for i in pd.concat([mine["client_ip"], recent["client_ip"]]) if i})
        out.append(
            finding(
                DETECTOR,
                ctx,
                subject=name,
                title=f"{name}: reconnaissance then a Bulk export of {', '.join(objects[:4]) or 'data'}",
                explanation=(
                    f"{name} made {fmt_int(len(mine))} reconnaissance calls ({', '.join(WORDS[k] for k in seen)}"
                    + (f"; objects {', '.join(described[:5])}" if described else "")
                    + f") from {fmt_time(mine['event_time'].min().to_pydatetime())}, then created "
                    f"{fmt_int(len(recent))} Bulk API query job(s) ({', '.join(objects[:5]) or 'objects not logged'}) "
                    f"from {fmt_time(first.to_pydatetime())}, as {', '.join(users[:3])} from {', '.join(ips[:4])}. "
                    "It had not run Bulk exports before; mapping an org and then exporting it is how the "
                    "2025 token thieves worked."
                ),
                evidence={
                    "app": name,
                    "recon_calls": len(mine),
                    "recon_kinds": ", ".join(seen),
                    "described": ", ".join(described[:10]),
                    "export_jobs": len(recent),
                    "exported_objects": ", ".join(objects[:10]),
                    "users": ", ".join(users[:10]),
                    "ips": ", ".join(ips[:10]),
                    "earlier_export_days": int(before["event_time"].dt.date.nunique()),
                },
                key=str(who),
                span=(mine["event_time"].min(), recent["event_time"].max()),
            )
        )
    return out


DETECTOR = Detector(
    id="recon_then_export",
    title="Reconnaissance then Bulk export",
    severity="high",
    description="An app (or user) lists, describes and counts objects, then exports them with Bulk API query jobs.",
    runbook=RUNBOOK,
    fn=_detect,
    defaults={
        "lookback_hours": 6,
        "max_gap_minutes": 120,
        "min_recon_kinds": 3,
        "min_recon_calls": 5,
        "usual_days": 3,
    },
    clears_after=timedelta(days=1),
    needs=needs(Data.EXFIL, Data.USERS),
)
