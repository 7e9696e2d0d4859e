"""The grant inventory against the local org: every live grant, its user's power read from the org
(PermissionSetAssignment, UserLogin), ranked so that the grants that would hurt most come first."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from oauthwatch.grants.inventory import inventory
from oauthwatch.grants.risk import Grant, rank
from oauthwatch.store import open_store, schema
from tests.localorg_helpers import local_org_config
from tests.simorg import LocalOrg, local_org, make_local_org, org_template  # noqa: F401

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _grant(**kw: object) -> Grant:
    base = dict(
        org="acme", app_name="Drift", app_id="0H4000000000001", user_id="005000000000001", username="u@acme.com",
        profile="Standard User", is_active=True, is_frozen=False, permissions=("API Enabled",), permissions_read=True,
        scopes=("api", "refresh_token"), refresh_token_policy="infinite", ip_relaxation="ENFORCE", installed=True,
        admin_approved_only=True, created=NOW - timedelta(days=300), last_used=NOW - timedelta(days=1), use_count=9,
        snapshot_day="2026-12-01",
    )  # fmt: skip
    return Grant(**(base | kw))  # type: ignore[arg-type]


def test_ranking_reasons_in_words() -> None:
    admin = rank(
        _grant(profile="System Administrator", permissions=("Modify All Data", "View All Data")), NOW
    )
    plain = rank(_grant(), NOW)
    frozen = rank(_grant(profile="System Administrator", is_frozen=True), NOW)
    full = rank(_grant(scopes=("full",), installed=False), NOW)
    assert admin.score > full.score > plain.score
    assert frozen.score < admin.score
    assert admin.reasons[0] == "the user is a System Administrator"
    assert "can change or delete any record (Modify All Data)" in admin.reasons
    assert "its refresh tokens are valid until revoked" in plain.reasons
    assert frozen.reasons[0] == "the user is frozen: the token cannot be used now"
    assert "no admin installed the app (a user authorised it)" in full.reasons
    assert rank(_grant(last_used=None), NOW).reasons[-1].startswith("dormant")
    assert admin.as_row()["state"] == "active"
    assert frozen.as_row()["state"] == "frozen"


def test_inventory_from_the_local_org(local_org: LocalOrg, tmp_path: Path) -> None:  # noqa: F811
    from collectors.run.runner import collect_once
    from oauthwatch.config import load_settings

    cfg = local_org_config(local_org, tmp_path / "store.db")
    cfg.write_text(
        cfg.read_text().replace('sources = ["login_history"]', 'sources = ["oauth_tokens", "connected_apps"]')
    )
    settings = load_settings(cfg)
    for res in collect_once(settings):
        assert res.outcome == "ok", res
    engine = open_store(settings.store.url)
    db = local_org.db()
    org_grants = db.execute('SELECT COUNT(*) FROM "OauthToken"').fetchone()[0]
    ranked = inventory(engine, NOW)
    assert len(ranked) == org_grants
    with engine.connect() as conn:
        power = {r.user_id[:15]: r for r in conn.execute(select(schema.user_power))}
    assert all(p.permissions_read for p in power.values())
    admins = {r[0][:15] for r in db.execute(
        'SELECT u.Id FROM "User" u JOIN "Profile" p ON p.Id = u.ProfileId WHERE p.Name = \'System Administrator\''
    )}  # fmt: skip
    holders = {g.grant.user_id[:15] for g in ranked}
    assert admins & holders, "the org has admin grants to rank"
    for uid in admins & holders:
        assert "Modify All Data" in power[uid].permissions
    # every admin grant of an active admin outranks every grant of an active non-admin
    active = [g for g in ranked if g.grant.is_active and not g.grant.is_frozen]
    first_plain = next(i for i, g in enumerate(active) if g.grant.profile != "System Administrator")
    assert all(g.grant.profile != "System Administrator" for g in active[first_plain:])
    frozen = {r[0][:15] for r in db.execute('SELECT UserId FROM "UserLogin" WHERE IsFrozen = 1')}
    assert {uid for uid, p in power.items() if p.is_frozen} == frozen & set(power)

    app = ranked[0].grant.app_name
    out = subprocess.run(
        [sys.executable, "-m", "oauthwatch", "grants", "--app", app, "--format", "json", "--config", str(cfg)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = json.loads(out.stdout)
    assert {r["app"] for r in rows} == {app}
    assert (
        len(rows) == db.execute('SELECT COUNT(*) FROM "OauthToken" WHERE AppName = ?', (app,)).fetchone()[0]
    )
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    assert rows[0]["reason"]
