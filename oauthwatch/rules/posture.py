"""Posture: which app settings widen the blast radius of a stolen token, and how much.

Connected apps and External Client Apps are judged alike: the External Client App source stores
its policies in the connected-app spelling (``ipRelaxationPolicyType`` ``Bypass_2factor`` is
``BYPASS_2FACTOR``, ``permittedUsersPolicyType`` ``AllSelfAuthorized`` is self-authorization).

One judgement for every reader: the posture detector raises alerts from it, the dashboard's Apps
page and the digest list its short labels, and ``oauthwatch check`` judges oauthwatch's own app
with :func:`judge_ip_relaxation`. The IP relaxation values and their meaning are Salesforce's
(docs/architecture.md, "Salesforce facts the rules rely on"):

- ``ENFORCE``: the org's IP restrictions (Login IP Ranges of the user's profile) apply;
- ``ENFORCE_RELAXREFRESH``: they apply at login but not when a refresh token mints a new access
  token, so a stolen refresh token works from any network;
- ``BYPASS_2FACTOR``: relaxed for web-server and user-agent flows once the user confirms their
  identity with a second factor (or, for an app with its own IP ranges, from those ranges);
- ``BYPASS``: the app's users are not subject to any IP restriction.

Any other value (``ENFORCE_ACTIVATION``, ``RELAX``, ``BYPASS_IP_RANGE``) does not exist; an
unknown value is reported as such rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from oauthwatch.rules.times import as_utc

# connected_apps.kind: an app read from ConnectedApplication (+ its ConnectedApp metadata), or an
# External Client App read from its Metadata API components; both are judged by the rules below.
APP_KINDS = {"connected_app": "Connected App", "external_client_app": "External Client App"}


def app_kind_label(kind: Any) -> str:
    """How every page, the digest and ``grants`` name an app's kind ('' when its policy is unknown)."""
    return APP_KINDS.get(str(kind), "") if not _blank(kind) else ""


IP_RELAXATION_LABELS = {
    "ENFORCE": "Enforce IP restrictions",
    "ENFORCE_RELAXREFRESH": "Enforce IP restrictions, but relax for refresh tokens",
    "BYPASS_2FACTOR": "Relax IP restrictions with second factor",
    "BYPASS": "Relax IP restrictions",
}


@dataclass(frozen=True)
class PostureCheck:
    """One risky setting of one app: ``check`` names it (stable: alert dedupe keys use it),
    ``label`` is the few words the dashboard and the digest list, ``sentence`` explains it."""

    check: str
    severity: str
    title: str
    sentence: str
    label: str


def scopes_of(value: Any) -> set[str]:
    """The app's OAuth scopes, lower-cased, from a list or a comma/space separated string."""
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    return {str(s).casefold() for s in (value or [])}


def _blank(value: Any) -> bool:
    """None, NaN or NaT: a column the source did not fill."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError):
        return False


def judge_ip_relaxation(name: str, value: Any) -> PostureCheck | None:
    """The IP relaxation check of one app, or None when IP restrictions are enforced (or unknown)."""
    if _blank(value) or not str(value).strip():
        return None
    relax = str(value).strip().upper()
    if relax == "ENFORCE":
        return None
    if relax == "BYPASS":
        return PostureCheck(
            "ip_bypass",
            "medium",
            f"{name}: IP restrictions relaxed",
            f"{name} relaxes IP restrictions (ipRelaxation BYPASS): its tokens work from any network, "
            "whatever the users' Login IP Ranges say.",
            "IP restrictions relaxed (BYPASS)",
        )
    if relax == "ENFORCE_RELAXREFRESH":
        return PostureCheck(
            "ip_bypass",
            "medium",
            f"{name}: IP restrictions relaxed for refresh tokens",
            f"{name} enforces IP restrictions at login but not for refresh tokens (ipRelaxation "
            "ENFORCE_RELAXREFRESH): a stolen refresh token mints access tokens from any network.",
            "IP restrictions relaxed for refresh tokens (ENFORCE_RELAXREFRESH)",
        )
    if relax == "BYPASS_2FACTOR":
        return PostureCheck(
            "ip_bypass",
            "low",
            f"{name}: IP restrictions relaxed with a second factor",
            f"{name} relaxes IP restrictions for users who confirm their identity with a second factor "
            "(ipRelaxation BYPASS_2FACTOR): outside the Login IP Ranges, the second factor is the only barrier.",
            "IP restrictions relaxed with a second factor (BYPASS_2FACTOR)",
        )
    return PostureCheck(
        "ip_bypass",
        "low",
        f"{name}: unknown IP relaxation {relax}",
        f"{name} has ipRelaxation {relax}, which is not a value Salesforce documents "
        "(ENFORCE, ENFORCE_RELAXREFRESH, BYPASS_2FACTOR, BYPASS); check its policy in Setup.",
        f"unknown IP relaxation ({relax})",
    )


def judge_app(app: Mapping[str, Any], now: datetime, cert_days: int) -> list[PostureCheck]:
    """Every risky setting of one ``connected_apps`` row, judged at ``now``.

    ``cert_days`` is the posture detector's configured ``cert_days``: a JWT certificate expiring
    within it is medium, an expired one high.
    """
    name = str(app.get("name") or app.get("app_id") or "?")
    out: list[PostureCheck] = []
    if str(app.get("refresh_token_policy") or "").casefold() == "infinite":
        out.append(
            PostureCheck(
                "refresh_infinite",
                "low",
                f"{name}: refresh tokens never expire",
                f"{name}'s refresh tokens are valid until revoked, so a stolen one works forever.",
                "refresh tokens are valid until revoked",
            )
        )
    ip = judge_ip_relaxation(name, app.get("ip_relaxation"))
    if ip is not None:
        out.append(ip)
    approved = app.get("admin_approved_only")
    if not _blank(approved) and not bool(approved):
        out.append(
            PostureCheck(
                "self_authorize",
                "low",
                f"{name}: all users may self-authorize",
                f"Any user can authorise {name} for themselves; no admin approval or permission set limits who uses it.",
                "all users may self-authorize",
            )
        )
    if "full" in scopes_of(app.get("scopes")):
        out.append(
            PostureCheck(
                "full_scope",
                "low",
                f"{name}: over-broad 'full' scope",
                f"{name} may request the 'full' scope: everything its users can do, including setup changes.",
                "has the full scope",
            )
        )
    exp: Any = app.get("certificate_expires_at")  # a datetime, a pandas Timestamp or blank
    if not _blank(exp):
        exp = as_utc(exp.to_pydatetime() if hasattr(exp, "to_pydatetime") else exp)
        when = exp.strftime("%Y-%m-%d %H:%M UTC")
        if exp <= now:
            out.append(
                PostureCheck(
                    "cert_expiry",
                    "high",
                    f"{name}: JWT certificate expired",
                    f"{name}'s JWT certificate expired {when}: JWT bearer logins now fail.",
                    f"JWT certificate expired on {exp:%Y-%m-%d}",
                )
            )
        elif exp - now <= timedelta(days=cert_days):
            days = (exp - now).days
            out.append(
                PostureCheck(
                    "cert_expiry",
                    "medium",
                    f"{name}: JWT certificate expires in {days} days",
                    f"{name}'s JWT certificate expires {when}, in {days} days; JWT bearer logins will fail from then on.",
                    f"JWT certificate expires on {exp:%Y-%m-%d}",
                )
            )
    return out
