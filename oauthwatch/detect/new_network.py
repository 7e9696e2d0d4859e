"""New network for an app: successful logins from a /24 (IPv4) or /48 (IPv6) not seen in N days.

Why it matters: the finest signal of a stolen refresh token or client secret used elsewhere: same
app, same user, different network. Networks inside an approved app's allowlisted ranges are
expected and do not fire.
"""

from __future__ import annotations

from datetime import timedelta

from oauthwatch.detect.base import Context, Detector, Finding
from oauthwatch.detect.data import Frames
from oauthwatch.detect.novelty import NOVELTY_DEFAULTS, novel_values, novelty_finding, novelty_needs
from oauthwatch.rules.network import in_ranges

RUNBOOK = (
    "See which user(s) and IP(s) used the new network (evidence) and whether the country is new too.",
    "Ask the app's owner whether the integration's egress changed (new NAT, cloud region, vendor).",
    "If unexpected, revoke the affected users' tokens for this app and rotate its secret or certificate.",
    "If expected, record the range: `oauthwatch allow add APP --ip-range 192.0.2.0/24`.",
)


def _detect(frames: Frames, ctx: Context) -> list[Finding]:
    out = []
    for app, value, rows, known, entry in novel_values(frames, ctx, "network"):
        if (
            entry is not None
            and entry.ip_ranges
            and all(in_ranges(ip, entry.ip_ranges) for ip in rows["source_ip"])
        ):
            continue
        out.append(
            novelty_finding(
                DETECTOR.id,
                RUNBOOK,
                ctx,
                app=app,
                value=value,
                rows=rows,
                known=known,
                what="network",
                severity="medium",
                subject_type="app",
                subject=app,
            )
        )
    return out


DETECTOR = Detector(
    id="new_network",
    title="New network for an app",
    severity="medium",
    description="Successful logins of an app from an IP network (/24, /48) it has not used in the last N days.",
    runbook=RUNBOOK,
    fn=_detect,
    defaults={**NOVELTY_DEFAULTS, "max_known": 8},
    clears_after=timedelta(days=1),
    needs=novelty_needs("app_network"),
)
