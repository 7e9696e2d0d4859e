"""What ``oauthwatch check`` found about one org: findings with their fix, facts, an exit code.

Kept apart from the checks themselves so every part of the doctor (the checks, the app posture,
the source probes) writes into the same report without importing the others.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from oauthwatch.rules.thresholds import CERT_WARNING_DAYS
from oauthwatch.secrets import redact

CERT_WARN_DAYS = CERT_WARNING_DAYS  # the posture detector's default cert_days (oauthwatch.rules.thresholds)


@dataclass(frozen=True)
class Finding:
    """One thing check found: what it means and how to fix it."""

    severity: str  # problem | warning | info
    code: str
    cause: str
    fix: str = ""


@dataclass
class OrgReport:
    """Everything check learned about one org; never holds a secret."""

    org: str
    flow: str
    login_url: str
    connected: bool = False
    facts: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def add(self, severity: str, code: str, cause: str, fix: str = "") -> None:
        """Record a finding once (texts are redacted once more, defensively)."""
        if any(f.code == code for f in self.findings):
            return
        self.findings.append(Finding(severity, code, redact(cause), redact(fix)))

    @property
    def status(self) -> str:
        """``healthy``, ``warnings`` or ``problems``."""
        severities = {f.severity for f in self.findings}
        if "problem" in severities:
            return "problems"
        return "warnings" if "warning" in severities else "healthy"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``check --format json``)."""
        return {
            "org": self.org,
            "flow": self.flow,
            "login_url": self.login_url,
            "status": self.status,
            "connected": self.connected,
            "facts": self.facts,
            "findings": [asdict(f) for f in self.findings],
        }


def exit_code(reports: list[OrgReport], *, strict: bool = False) -> int:
    """0 healthy, 1 problems found (warnings too when ``strict``)."""
    bad = {"problems", "warnings"} if strict else {"problems"}
    return 1 if any(r.status in bad for r in reports) else 0


def judge_expiry(report: OrgReport, not_after: datetime, what: str) -> None:
    """Expired → problem; expiring within the posture detector's ``cert_days`` (30) → warning."""
    days = (not_after - datetime.now(UTC)).total_seconds() / 86400
    fix = (
        f"run `oauthwatch keygen --org {report.org} --force`, upload the new certificate to the app "
        "(Edit → 'Use digital signatures'), then run check again"
    )
    if days < 0:
        report.add("problem", "certificate_expired", f"{what} expired on {not_after:%Y-%m-%d}", fix)
    elif days < CERT_WARN_DAYS:
        report.add(
            "warning",
            "certificate_expiring",
            f"{what} expires on {not_after:%Y-%m-%d} ({int(days)} days)",
            fix,
        )
