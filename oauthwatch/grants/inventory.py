"""Every live grant of every connected app and External Client App (the latest OAuth token snapshot
of each org; each marked by its app's kind), joined to
its user's power (``user_power``, read with the snapshot) and its app's policy (``connected_apps``),
ranked by :mod:`oauthwatch.grants.risk`.

Apps are matched by name because OauthToken names its app by label (``AppName``); an app whose
grants name no stored connected app is reported as not installed. Filters take an app's name or
id and a user's name or id.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_, func, select

from oauthwatch.grants.risk import Grant, RankedGrant, rank
from oauthwatch.rules.posture import app_kind_label
from oauthwatch.store import schema

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def _latest_days(conn, org: str | None) -> dict[str, object]:  # noqa: ANN001 - a Connection
    s = schema.oauth_token_snapshots
    q = select(s.c.org, func.max(s.c.snapshot_day)).group_by(s.c.org)
    if org:
        q = q.where(s.c.org == org)
    return dict(conn.execute(q).all())


def inventory(
    engine: Engine,
    now: datetime,
    *,
    org: str | None = None,
    app: str | None = None,
    user: str | None = None,
) -> list[RankedGrant]:
    """The live grants (latest snapshot per org), riskiest first."""
    s, p, ca = schema.oauth_token_snapshots, schema.user_power, schema.connected_apps
    out: list[RankedGrant] = []
    with engine.connect() as conn:
        for name, day in _latest_days(conn, org).items():
            apps = {r.name.casefold(): r for r in conn.execute(select(ca).where(ca.c.org == name))}
            q = (
                select(
                    s,
                    p.c.username,
                    p.c.profile,
                    p.c.is_active,
                    p.c.is_frozen,
                    p.c.permissions,
                    p.c.permissions_read,
                )
                .select_from(s.outerjoin(p, and_(p.c.org == s.c.org, p.c.user_id == s.c.user_id)))
                .where(s.c.org == name, s.c.snapshot_day == day)
            )
            for r in conn.execute(q).mappings():
                a = apps.get(r["app_name"].casefold())
                g = Grant(
                    org=name, app_name=r["app_name"], app_id=a.app_id if a else "", user_id=r["user_id"],
                    username=r["username"] or "", profile=r["profile"] or "", is_active=r["is_active"],
                    is_frozen=r["is_frozen"], permissions=tuple(r["permissions"] or ()),
                    permissions_read=bool(r["permissions_read"]), scopes=tuple((a.scopes or []) if a else ()),
                    refresh_token_policy=(a.refresh_token_policy or "") if a else "",
                    ip_relaxation=(a.ip_relaxation or "") if a else "", installed=a is not None,
                    admin_approved_only=a.admin_approved_only if a else None, created=r["created_date"],
                    last_used=r["last_used_date"], use_count=r["use_count"], snapshot_day=str(day),
                    app_kind=app_kind_label(a.kind) if a else "",
                )  # fmt: skip
                by_id = bool(g.app_id) and app is not None and app[:15].casefold() == g.app_id[:15].casefold()
                if app and not by_id and app.casefold() != g.app_name.casefold():
                    continue
                if user and user.casefold() not in (
                    g.username.casefold(),
                    g.user_id.casefold(),
                    g.user_id[:15].casefold(),
                ):
                    continue
                out.append(rank(g, now))
    out.sort(key=lambda x: (-x.score, x.grant.org, x.grant.app_name, x.grant.username))
    return out
