"""`oauthwatch revoke` against the local org: dry run changes nothing, revoke removes the grant and
the next refresh with its token fails with Salesforce's error; every run is recorded."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from sqlalchemy import create_engine, select

from oauthwatch.store import schema
from tests.shared_clock import subprocess_env
from tests.simorg import LocalOrg, local_org, make_local_org, org_template  # noqa: F401


def _config(org: LocalOrg, store: Path, allow: bool) -> Path:
    text = (org.state_dir / "oauthwatch.toml").read_text()
    text = text.replace('url = "sqlite:///oauthwatch.db"', f'url = "sqlite:///{store}"')
    lines = [ln for ln in text.splitlines() if not ln.startswith("login_url")]
    lines.insert(lines.index("[[orgs]]") + 1, f'login_url = "{org.creds["login_url"]}"')
    cfg = org.state_dir / f"revoke-{allow}.toml"
    cfg.write_text(f"[response]\nallow_revoke = {'true' if allow else 'false'}\n\n" + "\n".join(lines) + "\n")
    return cfg


def grant_refresh_token(org: LocalOrg, username: str, password: str) -> str:
    """A user authorises the app in the browser (web-server flow + PKCE); returns the refresh token."""
    verifier = "r" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    params = {
        "response_type": "code", "client_id": org.creds["consumer_key"], "redirect_uri": org.creds["callback_url"],
        "code_challenge": challenge, "code_challenge_method": "S256",
    }  # fmt: skip
    r = org.session.post(
        org.url + "/services/oauth2/authorize",
        data={**params, "username": username, "password": password, "approve": "1"},
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code == 302, r.text
    code = parse_qs(urlparse(r.headers["location"]).query)["code"][0]
    tok = org.token_request({
        "grant_type": "authorization_code", "client_id": org.creds["consumer_key"],
        "client_secret": org.creds["client_secret"], "redirect_uri": org.creds["callback_url"],
        "code": code, "code_verifier": verifier,
    })  # fmt: skip
    assert tok.status_code == 200, tok.text
    return tok.json()["refresh_token"]


def _refresh(org: LocalOrg, token: str):
    return org.token_request({
        "grant_type": "refresh_token", "client_id": org.creds["consumer_key"],
        "client_secret": org.creds["client_secret"], "refresh_token": token,
    })  # fmt: skip


def test_dry_run_then_refused_then_revoked_and_the_refresh_fails(local_org: LocalOrg, tmp_path: Path) -> None:  # noqa: F811
    org = local_org
    db = org.db()
    me = org.creds["jwt_username"]  # the configured integration user
    username, password = db.execute(
        'SELECT u.Username, s.Password FROM "User" u JOIN _UserSecret s ON s.UserId = u.Id '
        "WHERE u.IsActive = 1 AND s.AllowedIpRanges IS NULL AND u.Username <> ? "
        'AND u.ProfileId = (SELECT ProfileId FROM "User" WHERE Username = ?) ORDER BY u.Username LIMIT 1',
        (me, me),
    ).fetchone()
    refresh = grant_refresh_token(org, username, password)
    my_password = db.execute(
        'SELECT s.Password FROM _UserSecret s JOIN "User" u ON u.Id = s.UserId WHERE u.Username = ?', (me,)
    ).fetchone()[0]
    grant_refresh_token(org, me, my_password)  # oauthwatch's own user holds a grant too
    assert _refresh(org, refresh).status_code == 200
    app = "OAuthwatch"
    store = tmp_path / "store.db"

    def run(allow: bool, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [
            sys.executable,
            "-m",
            "oauthwatch",
            "revoke",
            "--app",
            app,
            "--config",
            str(_config(org, store, allow)),
        ]
        return subprocess.run(
            [*cmd, *args],
            capture_output=True,
            text=True,
            env=subprocess_env({"OAUTHWATCH_USER": "alice", "PATH": ""}),  # on the session's clock
        )

    def grants_of(user: str) -> int:
        return db.execute(
            'SELECT COUNT(*) FROM "OauthToken" o JOIN "User" u ON u.Id = o.UserId WHERE u.Username = ? AND o.AppName = ?',
            (user, app),
        ).fetchone()[0]

    assert grants_of(username) == 1
    dry = run(False, "--user", username, "--dry-run", "--format", "csv")
    assert dry.returncode == 0, dry.stderr
    assert "dry_run," + username in dry.stdout
    assert "1 grant(s) of OAuthwatch" in dry.stderr
    assert "would be revoked" in dry.stderr
    assert grants_of(username) == 1, "a dry run changes nothing"
    assert _refresh(org, refresh).status_code == 200

    refused = run(False, "--user", username, "--yes")
    assert refused.returncode == 2
    assert "allow_revoke = true" in refused.stderr
    assert grants_of(username) == 1

    everyone = run(False, "--dry-run", "--format", "csv")
    assert "skipped," + me in everyone.stdout, "oauthwatch's own grant is never revoked"

    done = run(True, "--user", username, "--yes", "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert "revoked," + username in done.stdout
    assert "HTTP 200" in done.stdout
    assert "1 grant(s) of OAuthwatch" in done.stderr
    assert "revoked in" in done.stderr
    assert grants_of(username) == 0
    assert grants_of(me) >= 1, "the other grants are untouched"
    dead = _refresh(org, refresh)
    assert (dead.status_code, dead.json()) == (
        400,
        {"error": "invalid_grant", "error_description": "expired access/refresh token"},
    )

    engine = create_engine(f"sqlite:///{store}")
    with engine.connect() as conn:
        rows = (
            conn.execute(select(schema.response_actions).order_by(schema.response_actions.c.id))
            .mappings()
            .all()
        )
    engine.dispose()
    assert [(r["outcome"], r["dry_run"], r["requested_by"]) for r in rows if r["username"] == username] == [
        ("dry_run", True, "alice"),  # --dry-run
        ("dry_run", True, "alice"),  # the refused run's dry run
        ("dry_run", True, "alice"),  # the listing of everyone
        ("dry_run", True, "alice"),  # the revoking run's dry run
        ("revoked", False, "alice"),
    ]
    last = rows[-1]
    assert (last["status_code"], last["via"], last["app_name"]) == (200, "cli", app)
    assert last["app_id"].startswith("0H4")
    assert refresh not in str([dict(r) for r in rows]), "the token is stored only as its hash"
