"""A restricted integration user: ``check`` exits 1 naming each missing permission with its Setup
path, and collection stores what the user can see as partial (own rows only), never complete, on
SQLite and PostgreSQL; the collection-health detector and the digest say so.

The local org runs with ``--integration-permissions ApiEnabled,ViewSetup``: API access and Setup,
but neither Manage Users (everyone's LoginHistory) nor Customize Application (everyone's grants).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from simorg import local_org, make_local_org, org_template  # noqa: F401 - fixtures
from sqlalchemy import func, select

from collectors.run.runner import collect_once
from oauthwatch.config import load_settings
from oauthwatch.detect.runner import run_all
from oauthwatch.notify.digest import build_digest
from oauthwatch.store import open_store, schema

RESTRICTED = ("--integration-permissions", "ApiEnabled,ViewSetup")


def check(org: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oauthwatch", "check", "--config", str(org.state_dir / "oauthwatch.toml"), *args],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture
def restricted(make_local_org):  # noqa: F811
    return make_local_org(*RESTRICTED)


def test_check_names_each_missing_permission_and_exits_1(restricted) -> None:
    proc = check(restricted, "--format", "json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (org,) = json.loads(proc.stdout)["orgs"]
    found = {f["code"]: f for f in org["findings"]}
    partial = found["source_partial_login_history"]
    assert partial["severity"] == "problem"
    assert "own rows" in partial["cause"]
    assert "Manage Users" in partial["fix"]
    assert "Monitor Login History" in partial["fix"]
    assert "Setup → Users → Permission Sets" in partial["fix"]
    assert "Customize Application" in found["source_partial_oauth_tokens"]["fix"]
    perms = org["facts"]["permissions"]
    assert perms["read_from"] == "PermissionSetAssignment"
    assert {"ManageUsers", "CustomizeApplication"} <= set(perms["missing"])
    assert perms["granted_by"]["ApiEnabled"] == ["profile Minimum Access - API Only Integrations"]
    assert perms["granted_by"]["ViewSetup"] == ["permission set OAuthwatch Integration"]
    assert org["facts"]["source_visibility"]["login_history"] == "own rows only"
    table = check(restricted)
    assert table.returncode == 1
    assert "Manage Users" in table.stdout


def test_check_with_everything_granted_reads_the_group_too(local_org) -> None:  # noqa: F811
    proc = check(local_org, "--format", "json")
    (org,) = json.loads(proc.stdout)["orgs"]
    codes = {f["code"] for f in org["findings"]}
    assert not {c for c in codes if c.startswith(("source_partial_", "source_blind_"))}
    perms = org["facts"]["permissions"]
    assert perms["missing"] == []
    assert perms["granted_by"]["ViewEventLogFiles"] == ["permission set group OAuthwatch_Monitoring"]
    assert set(org["facts"]["source_visibility"].values()) == {"all"}


def test_collection_marks_own_rows_partial(restricted, store_url: str) -> None:
    settings = load_settings(restricted.state_dir / "oauthwatch.toml")
    settings = settings.model_copy(update={"store": settings.store.model_copy(update={"url": store_url})})
    results = {r.source: r for r in collect_once(settings, sources=["login_history", "oauth_tokens"])}
    assert {s: r.outcome for s, r in results.items()} == {"login_history": "ok", "oauth_tokens": "ok"}
    assert any(n.startswith("own rows only") for n in results["login_history"].notes)
    org_name = settings.orgs[0].name
    with restricted.db() as db:  # no new login since collection ran: its own rows are these
        (mine,) = db.execute(
            'SELECT COUNT(*) FROM "LoginHistory" h JOIN "User" u ON u.Id = h.UserId WHERE u.Username = ?',
            (restricted.creds["jwt_username"],),
        ).fetchone()
    engine = open_store(store_url)
    try:
        with engine.connect() as conn:
            lg = schema.logins.c
            stored = conn.execute(
                select(func.count()).where(lg.org == org_name, lg.source == "login_history")
            ).scalar_one()
            cov = schema.coverage.c
            rows = conn.execute(
                select(cov.source, cov.day, cov.status, cov.note).where(cov.org == org_name)
            ).all()
        assert stored == mine
        by_source: dict[str, set[str]] = {}
        for r in rows:
            by_source.setdefault(r.source, set()).add(r.status)
            assert (r.note or "").startswith("own rows only"), r
        assert by_source == {"login_history": {"partial"}, "oauth_tokens": {"partial"}}
        now = datetime.now(UTC)
        report = run_all(engine, settings, org=org_name, only=["collection_health"], now=now)
        keys = {f.dedupe_key for f in report.findings}
        assert f"collection_health:{org_name}:visibility:login_history" in keys
        assert f"collection_health:{org_name}:visibility:oauth_tokens" in keys
        digest = build_digest(engine, settings, org_name, now.date(), now=now)
        health = {h.source: h for h in digest.data.health}
        assert health["login_history"].coverage == "partial (own rows only)"
        assert not digest.data.coverage_complete
    finally:
        engine.dispose()
