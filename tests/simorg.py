"""The local Salesforce org as a pytest fixture: a real ``oauthwatch simulate`` process over HTTPS.

Import the fixtures into a test module (or a conftest) with::

    from tests.simorg import local_org, local_org_session, make_local_org, org_template  # noqa: F401

- ``local_org_session``: one org for the whole test session (read-only tests share it);
- ``local_org``: a fresh org per test (tests that edit the org database or break things). It copies
  the session's built org database instead of generating a new one, so it starts in about a second;
- ``make_local_org(*simulate_flags)``: the same with flags (``"--token-ttl", "2"``, ``"--faults", …``).

Both give a :class:`LocalOrg`: ``creds`` (credentials.json), ``session`` (a ``requests.Session``
that trusts the org's CA), ``proc``, ``db_path``, ``state_dir``, plus helpers (``token()``,
``sf()``, ``db()``, ``admin()``). ``session.trust_env`` is off: requests lets
``REQUESTS_CA_BUNDLE`` override ``session.verify``, and the org's CA must win.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

# Small enough to build in seconds on a shared 2-core machine, big enough to page (> 2,000 logins).
ORG_ARGS = ("--seed", "7", "--days", "10", "--users", "60", "--apps", "8")
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
COPY = ("org.sqlite3", "ca.pem", "ca.key", "server.pem", "server.key")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackSession(requests.Session):
    """Sends simple-salesforce's hard-coded ``https://*.salesforce.com`` login URLs to the local org.

    simple-salesforce builds every login URL as ``https://{domain}.salesforce.com`` (docs/architecture.md, decision 2);
    the org's token response then names ``instance_url`` = the org, so later calls go there directly.
    """

    def __init__(self, org_url: str, ca_bundle: str) -> None:
        super().__init__()
        self.org_url = org_url.rstrip("/")
        self.verify = ca_bundle
        self.trust_env = False
        self.rewritten: list[str] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        text = url.decode() if isinstance(url, bytes) else url
        m = re.match(r"https://[A-Za-z0-9.-]+\.salesforce\.com(/.*)?$", text)
        if m:
            text = self.org_url + (m.group(1) or "")
            self.rewritten.append(text)
        return super().request(method, text, *args, **kwargs)


@dataclass
class LocalOrg:
    """A running local org and the ways to talk to it."""

    state_dir: Path
    proc: subprocess.Popen
    creds: dict[str, Any]
    session: requests.Session
    log_path: Path
    _conns: list[sqlite3.Connection] = field(default_factory=list)

    @property
    def db_path(self) -> Path:
        return self.state_dir / "org.sqlite3"

    @property
    def url(self) -> str:
        return self.creds["instance_url"]

    def db(self) -> sqlite3.Connection:
        """A connection to the org database (autocommit), closed when the org stops."""
        conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=30000")
        self._conns.append(conn)
        return conn

    def jwt_assertion(self, *, sub: str | None = None, key_pem: str | None = None, **claims: Any) -> str:
        body = {
            "iss": self.creds["consumer_key"],
            "sub": sub or self.creds["jwt_username"],
            "aud": self.creds["login_url"],
            "exp": int(time.time()) + 170,
        }
        body.update(claims)
        key = key_pem or Path(self.creds["private_key_file"]).read_text()
        return jwt.encode(body, key, algorithm="RS256")

    def token_request(self, data: dict[str, str], **kw: Any) -> requests.Response:
        return self.session.post(self.url + "/services/oauth2/token", data=data, timeout=30, **kw)

    def token(self, **claims: Any) -> dict[str, Any]:
        """A JWT-bearer token response (asserts success)."""
        r = self.token_request({"grant_type": JWT_GRANT, "assertion": self.jwt_assertion(**claims)})
        assert r.status_code == 200, r.text
        return r.json()

    def sf(self, **kw: Any) -> Any:
        """simple-salesforce in session-id mode with a fresh JWT token."""
        from simple_salesforce import Salesforce

        tok = self.token()
        return Salesforce(
            instance_url=tok["instance_url"], session_id=tok["access_token"], session=self.session, **kw
        )

    def loopback(self) -> LoopbackSession:
        """A session that routes simple-salesforce's login URLs to this org."""
        return LoopbackSession(self.url, self.creds["ca_bundle"])

    def sf_login(self, flow: str = "jwt", **overrides: Any) -> Any:
        """simple-salesforce logging in by itself with ``flow`` (jwt, client_credentials, password).

        Built with credentials, it also logs in again by itself when a call gets 401 INVALID_SESSION_ID.
        """
        from simple_salesforce import Salesforce

        c = {**self.creds, **overrides}
        session = self.loopback()
        if flow == "jwt":
            return Salesforce(
                username=c["jwt_username"],
                consumer_key=c["consumer_key"],
                privatekey_file=c["private_key_file"],
                session=session,
            )
        if flow == "client_credentials":
            return Salesforce(
                consumer_key=c["consumer_key"],
                consumer_secret=c["client_secret"],
                domain="local.my",
                session=session,
            )
        if flow == "password":
            return Salesforce(
                username=c["username"],
                password=c["password"],
                consumer_key=c["consumer_key"],
                consumer_secret=c["client_secret"],
                session=session,
            )
        raise ValueError(f"simple-salesforce cannot run the {flow} flow by itself")

    def admin(self, path: str, payload: dict[str, Any] | None = None) -> requests.Response:
        """Call an admin endpoint (GET without payload, POST with one)."""
        headers = {"Authorization": f"Bearer {self.creds['admin_token']}"}
        url = f"{self.creds['admin_url']}/{path.lstrip('/')}"
        if payload is None:
            return self.session.get(url, headers=headers, timeout=30)
        return self.session.post(url, json=payload, headers=headers, timeout=30)

    def stop(self) -> None:
        for conn in self._conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self.session.close()  # closed first: the server's graceful shutdown waits for open TLS connections
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def start_org(state_dir: Path, *extra: str, timeout: float = 300) -> LocalOrg:
    """Start ``oauthwatch simulate`` in ``state_dir``; return once credentials.json exists and it listens."""
    state_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = state_dir / "simulate.log"
    cmd = [
        sys.executable,
        "-m",
        "oauthwatch.cli.simulate",
        "--state-dir",
        str(state_dir),
        "--port",
        str(port),
    ]
    cmd += [*ORG_ARGS, *extra]
    log = log_path.open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    creds_path = state_dir / "credentials.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"simulate exited ({proc.returncode}): {log_path.read_text()[-2000:]}")
        if creds_path.exists():
            try:
                creds = json.loads(creds_path.read_text())
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    pass
            except (OSError, ValueError):
                time.sleep(0.1)
                continue
            session = requests.Session()
            session.verify = creds["ca_bundle"]
            session.trust_env = False
            return LocalOrg(state_dir, proc, creds, session, log_path)
        time.sleep(0.1)
    stop_process(proc)
    raise RuntimeError(f"simulate did not get ready in {timeout}s: {log_path.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def org_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built org (database, CA and keys) that function-scoped orgs copy instead of rebuilding."""
    state = tmp_path_factory.mktemp("org-template")
    org = start_org(state)
    org.stop()
    return state


def clone_template(template: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for item in template.iterdir():
        if item.name in COPY or item.suffix in (".key", ".crt", ".pem"):
            shutil.copy2(item, dest / item.name)
    return dest


@pytest.fixture(scope="session")
def local_org_session(org_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalOrg]:
    """One running org shared by the whole test session: do not edit its database."""
    org = start_org(clone_template(org_template, tmp_path_factory.mktemp("org-shared")))
    try:
        yield org
    finally:
        org.stop()


@pytest.fixture
def make_local_org(org_template: Path, tmp_path: Path) -> Iterator[Any]:
    """A factory: ``make_local_org("--token-ttl", "2", "--faults", "flaky")`` starts a fresh org."""
    started: list[LocalOrg] = []

    def make(*extra: str) -> LocalOrg:
        org = start_org(clone_template(org_template, tmp_path / f"org{len(started)}"), *extra)
        started.append(org)
        return org

    try:
        yield make
    finally:
        for org in started:
            org.stop()


@pytest.fixture
def local_org(make_local_org: Any) -> LocalOrg:
    """A fresh running org for one test (edit its database freely)."""
    return make_local_org()
