"""Posture: risky connected-app policies, read from the apps' settings (not from traffic).

Checks, one finding per app and check:

- ``refresh_infinite``: refresh tokens valid until revoked (``refreshTokenPolicy = infinite``);
- ``ip_bypass``: IP restrictions relaxed (``ipRelaxation`` other than ``ENFORCE``: ``BYPASS`` and
  ``ENFORCE_RELAXREFRESH`` medium, ``BYPASS_2FACTOR`` low; see :mod:`oauthwatch.rules.posture`);
- ``self_authorize``: all users may self-authorize (not admin-approved users only);
- ``full_scope``: the ``full`` scope (everything the user can do, including setup);
- ``cert_expiry``: the JWT certificate expires within ``cert_days`` (or has expired).

The judgement of each setting is :func:`oauthwatch.rules.posture.judge_app`, which the dashboard
and the digest show too. Long-standing settings are hygiene (low: the digest and the dashboard
list them; an expiring certificate is medium, an expired one high). A check whose field changed in the last
``changed_days`` (``connected_app_changes``, or a Setup Audit Trail row about that setting of
that app, which also covers a change made before oauthwatch first read the app) is reported as
high and says what it changed from: a policy loosened today is news.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from oauthwatch.detect.base import SEVERITIES, Context, Detector, Finding, fmt_time
from oauthwatch.detect.data import Frames
from oauthwatch.detect.needs import Data, needs
from oauthwatch.rules.posture import judge_app, scopes_of
from oauthwatch.rules.thresholds import CERT_WARNING_DAYS

RUNBOOK = (
    "Open the app in Setup → App Manager → the app → Manage / Edit Policies.",
    "Refresh tokens: choose 'Expire refresh token if not used for' a period the integration can live with.",
    "IP relaxation: 'Enforce IP restrictions', and set Login IP Ranges on the integration user's profile.",
    "Permitted users: 'Admin approved users are pre-authorized' and assign a permission set.",
    "Scopes: replace 'full' with 'api' and 'refresh_token' unless the app truly needs setup access.",
    "Certificate: upload the new certificate to the app before the old one expires and update the integration's key.",
)

AUDIT_WORDS = {
    "refresh_infinite": "refresh token policy",
    "ip_bypass": "ip relaxation",
    "self_authorize": "permitted users",
    "full_scope": "scope",
    "cert_expiry": "certificate",
}
CHECK_FIELDS = {
    "refresh_infinite": "refresh_token_policy",
    "ip_bypass": "ip_relaxation",
    "self_authorize": "admin_approved_only",
    "full_scope": "scopes",
    "cert_expiry": "certificate_expires_at",
}


def _audit_mentions(frames: Frames, app: str, words: str, now: pd.Timestamp, days: int) -> pd.Series | None:
    """The newest Setup Audit Trail row of the last ``days`` that changed ``words`` of connected app ``app``."""
    audit = frames.audit
    if audit.empty:
        return None
    recent = audit[pd.to_datetime(audit["created_date"], utc=True) >= now - pd.Timedelta(days=days)]
    text = recent["display"].fillna("").str.casefold()
    hits = recent[
        text.str.contains(f"connected app {app}".casefold(), regex=False)
        & text.str.contains(words, regex=False)
    ]
    return None if hits.empty else hits.sort_values("created_date").iloc[-1]


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    now = pd.Timestamp(ctx.now)
    changes = frames.app_changes
    if not changes.empty:
        changes = changes[
            pd.to_datetime(changes["observed_at"], utc=True)
            >= now - pd.Timedelta(days=int(ctx.get("changed_days")))
        ]
    out = []
    for _, app in frames.apps.iterrows():
        for judged in judge_app({str(k): v for k, v in app.items()}, ctx.now, int(ctx.get("cert_days"))):
            check, severity, title, sentence = judged.check, judged.severity, judged.title, judged.sentence
            changed = (
                changes[(changes["app_id"] == app["app_id"]) & (changes["field"] == CHECK_FIELDS[check])]
                if not changes.empty
                else changes
            )
            evidence: dict[str, Any] = {"app": app["name"], "app_id": app["app_id"], "check": check}
            field = CHECK_FIELDS[check]
            value = app.get(field)
            evidence[field] = (
                ", ".join(sorted(scopes_of(value)))
                if field == "scopes"
                else (str(value) if value is not None else "")
            )
            text = sentence
            trail = _audit_mentions(
                frames, str(app["name"]), AUDIT_WORDS[check], now, int(ctx.get("changed_days"))
            )
            if changed.empty and trail is not None:
                severity = "high" if SEVERITIES.index(severity) < SEVERITIES.index("high") else severity
                text += f" Setup Audit Trail, {fmt_time(pd.Timestamp(trail['created_date']).to_pydatetime())}: {trail['display']}"
                evidence["changed_at"] = pd.Timestamp(trail["created_date"]).isoformat()
                evidence["changed_by"] = str(trail.get("created_by") or "")
            if not changed.empty:
                last = changed.sort_values("observed_at").iloc[-1]
                severity = "high" if SEVERITIES.index(severity) < SEVERITIES.index("high") else severity
                text += f" It changed from {last['old_value']!r} to {last['new_value']!r} at {fmt_time(pd.Timestamp(last['observed_at']).to_pydatetime())}."
                evidence["changed_from"] = str(last["old_value"])
                evidence["changed_at"] = pd.Timestamp(last["observed_at"]).isoformat()
            out.append(
                Finding(
                    detector=DETECTOR.id,
                    severity=severity,  # type: ignore[arg-type]
                    org=ctx.org,
                    subject_type="app",
                    subject=str(app["name"]),
                    title=title,
                    explanation=text,
                    evidence=evidence,
                    runbook=RUNBOOK,
                    dedupe_key=f"posture:{ctx.org}:{app['app_id']}:{check}",
                )
            )
    return out


DETECTOR = Detector(
    id="posture",
    title="Risky connected-app policy",
    severity="low",
    description="Connected-app settings that widen the blast radius of a stolen token: infinite refresh tokens, IP bypass, self-authorization, the full scope, an expiring JWT certificate.",
    runbook=RUNBOOK,
    fn=_detect,
    defaults={"cert_days": CERT_WARNING_DAYS, "changed_days": 1},
    replayable=False,
    needs=needs(Data.POLICIES),
)
