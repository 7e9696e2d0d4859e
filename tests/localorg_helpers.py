"""Driving a running local org in end-to-end tests: a configuration file that points oauthwatch at
it, and a token-theft campaign injected into its history (the hunt, grants and incident-report
tests share them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.simorg import LocalOrg


def local_org_config(org: LocalOrg, store: Path, extra: str = "") -> Path:
    text = (org.state_dir / "oauthwatch.toml").read_text()
    text = text.replace('url = "sqlite:///oauthwatch.db"', f'url = "sqlite:///{store}"')
    lines = [ln for ln in text.splitlines() if not ln.startswith(("login_url", "sources"))]
    idx = lines.index("[[orgs]]")
    lines.insert(idx + 1, f'login_url = "{org.creds["login_url"]}"')
    lines.insert(idx + 2, 'sources = ["login_history"]')
    cfg = org.state_dir / "hunt.toml"
    cfg.write_text(extra + "\n".join(lines) + "\n")
    return cfg


def inject_campaign(org: LocalOrg) -> dict[str, Any]:
    """Stolen-token logins of the org's busiest integration from the campaign's addresses and agents."""
    from oauthwatch.simulator.generate.logins import record_login

    conn = org.db()
    app, user = conn.execute(
        "SELECT Application, UserId FROM \"LoginHistory\" WHERE Application <> 'Browser' AND Status = 'Success' "
        "GROUP BY Application, UserId ORDER BY COUNT(*) DESC LIMIT 1"
    ).fetchone()
    last = conn.execute('SELECT MAX(LoginTime) FROM "LoginHistory"').fetchone()[0]
    plan = [
        ("208.68.36.90", "python-requests/2.32.4"),
        ("185.220.101.33", "Salesforce-Multi-Org-Fetcher/1.0"),
        ("185.220.101.133", "Salesforce-Multi-Org-Fetcher/1.0"),
        ("44.215.108.109", "Python/3.11 aiohttp/3.12.15"),
    ]
    ids = []
    for k, (ip, ua) in enumerate(plan):
        ids.append(
            record_login(
                conn, user_id=user, app_label=app, login_type="Remote Access 2.0", login_subtype="OAuth Refresh Token",
                status="Success", source_ip=ip, login_url="login.salesforce.com", when_ms=last - 3_600_000 + k * 60_000,
                browser=ua,
            )
        )  # fmt: skip
    conn.commit()
    return {"app": app, "user": user, "ids": ids}


def start_run(cfg: Path, log: Path, store_url: str | None = None) -> subprocess.Popen:
    """``oauthwatch run --config cfg`` as a process group of its own, its output appended to ``log``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTHWATCH_")}
    if store_url:
        env["OAUTHWATCH_STORE_URL"] = store_url  # as compose.yaml sets it
    return subprocess.Popen(
        [sys.executable, "-m", "oauthwatch", "run", "--config", str(cfg)],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
    )
