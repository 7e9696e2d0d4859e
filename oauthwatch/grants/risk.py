"""Why a grant is risky, in points and in words.

A grant acts as its user through its app, so its blast radius is the user's power (profile and
permissions) times what the app may do (scopes, how long its refresh tokens live, whether IP
restrictions bind it, whether an admin installed it). A grant whose user is inactive or frozen
cannot be used today, so it ranks low however powerful the user. The weights are ordinal, not a
probability: they exist to put the grants that would hurt most at the top, each with its reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from oauthwatch.rules.posture import judge_ip_relaxation
from oauthwatch.rules.thresholds import STALE_GRANT_DAYS

POWER = {
    "Modify All Data": (40, "can change or delete any record (Modify All Data)"),
    "View All Data": (30, "can read every record (View All Data)"),
    "Author Apex": (20, "can deploy code (Author Apex)"),
    "Manage Users": (25, "can create users and reset passwords (Manage Users)"),
    "Customize Application": (15, "can change the org's configuration (Customize Application)"),
    "Approve Uninstalled Connected Apps": (10, "can authorise apps no admin installed"),
    "Use Any API Client": (10, "may use any API client, bypassing API access control"),
    "API Enabled": (5, "can use the API"),
}
ADMIN_PROFILE = "System Administrator"


@dataclass(frozen=True)
class Grant:
    """One live grant joined to its user's power and its app's policy."""

    org: str
    app_name: str
    app_id: str
    user_id: str
    username: str
    profile: str
    is_active: bool | None
    is_frozen: bool | None
    permissions: tuple[str, ...]
    permissions_read: bool
    scopes: tuple[str, ...]
    refresh_token_policy: str
    ip_relaxation: str
    installed: bool
    admin_approved_only: bool | None
    created: datetime | None
    last_used: datetime | None
    use_count: int | None
    snapshot_day: str
    app_kind: str = ""  # 'Connected App' or 'External Client App' ('' when the app is not stored)


@dataclass(frozen=True)
class RankedGrant:
    """A grant with its score and the reasons, most important first."""

    grant: Grant
    score: int
    reasons: tuple[str, ...]

    def as_row(self) -> dict[str, Any]:
        """The flat row `oauthwatch grants` prints and exports."""
        g = self.grant
        state = (
            "frozen"
            if g.is_frozen
            else ("active" if g.is_active else "inactive" if g.is_active is False else "unknown")
        )
        return {
            "score": self.score, "org": g.org, "app": g.app_name, "app_id": g.app_id, "app_kind": g.app_kind,
            "user": g.username or g.user_id,
            "user_id": g.user_id, "profile": g.profile, "state": state, "permissions": ", ".join(g.permissions),
            "scopes": " ".join(g.scopes), "refresh_policy": g.refresh_token_policy or "unknown",
            "ip_relaxation": g.ip_relaxation or "unknown", "installed": g.installed, "created": g.created,
            "last_used": g.last_used, "use_count": g.use_count, "reason": "; ".join(self.reasons),
        }  # fmt: skip


def _app_points(g: Grant) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    scopes = {s.lower() for s in g.scopes}
    if "full" in scopes:
        out.append((20, "the app has full access (scope full)"))
    elif "api" in scopes:
        out.append((10, "the app can call the API (scope api)"))
    if scopes & {"refresh_token", "offline_access"}:
        out.append((5, "the app keeps refresh tokens (scope refresh_token)"))
    policy = (g.refresh_token_policy or "").lower()
    if policy in ("", "infinite"):
        out.append(
            (
                10,
                "its refresh tokens are valid until revoked"
                if policy
                else "its refresh-token policy is unknown",
            )
        )
    if judge_ip_relaxation(g.app_name, g.ip_relaxation) is not None:  # the posture detector's rule
        out.append((10, "IP restrictions are relaxed for the app"))
    if not g.installed:
        out.append((15, "no admin installed the app (a user authorised it)"))
    return out


def rank(g: Grant, now: datetime) -> RankedGrant:
    """Score one grant and say why."""
    points: list[tuple[int, str]] = []
    if g.profile == ADMIN_PROFILE:
        points.append((50, "the user is a System Administrator"))
    points += [POWER[perm] for perm in g.permissions if perm in POWER]
    if not g.permissions_read and g.profile != ADMIN_PROFILE:
        points.append((0, "the user's permissions could not be read (only the profile is known)"))
    points += _app_points(g)
    if g.last_used and now - g.last_used <= timedelta(days=7):
        points.append((5, "used in the last 7 days"))
    elif g.last_used is None or now - g.last_used > timedelta(days=STALE_GRANT_DAYS):
        points.append((5, f"dormant: unused for {STALE_GRANT_DAYS}+ days, nobody would miss it"))
    score = sum(p for p, _ in points)
    reasons = [r for _, r in sorted(points, key=lambda x: -x[0])]
    if g.is_frozen or g.is_active is False:
        score = score // 4
        reasons.insert(
            0, "the user is " + ("frozen" if g.is_frozen else "inactive") + ": the token cannot be used now"
        )
    return RankedGrant(g, score, tuple(reasons))
