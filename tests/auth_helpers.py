"""Helpers for tests that drive the local org as an admin would: start it, edit its app and user
configuration in its database and restore it, write org settings and config files, log in through
its browser pages. Used by tests/test_auth_sim.py and tests/test_check_sim.py."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oauthwatch.config import OrgSettings

OW = [sys.executable, "-m", "oauthwatch"]


# ---- shared helpers (clearly separate from the tests below) ---------------------------------
@dataclass
class LocalOrg:
    proc: subprocess.Popen
    state: Path
    creds: dict[str, Any]

    @property
    def db(self) -> Path:
        return Path(self.creds["db_path"])

    def sql(self, statement: str, params: tuple = ()) -> list[tuple]:
        conn = sqlite3.connect(self.db, timeout=30)
        try:
            rows = conn.execute(statement, params).fetchall()
            conn.commit()
            return rows
        finally:
            conn.close()

    @property
    def app_id(self) -> str:
        return self.sql("SELECT AppId FROM _AppConfig WHERE Kind = 'oauthwatch'")[0][0]

    def user_id(self, username: str) -> str:
        return self.sql('SELECT Id FROM "User" WHERE Username = ?', (username,))[0][0]

    def secrets(self) -> list[str]:
        """Every secret value that must never appear in output: app secret, passwords, private
        key material, and every token the org has issued so far."""
        values = [self.creds["client_secret"], self.creds["password"]]
        key = Path(self.creds["private_key_file"]).read_text()
        values += [line for line in key.splitlines() if len(line) > 40]
        values += [r[0] for r in self.sql("SELECT Token FROM _Token WHERE Kind IN ('access', 'refresh')")]
        return [v for v in values if v]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_org(state: Path, *extra: str, timeout: float = 180) -> LocalOrg:
    """Start `oauthwatch simulate` in ``state`` and wait for credentials.json + the port."""
    state.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = (state / "simulate.log").open("w")
    cmd = [*OW, "simulate", "--state-dir", str(state), "--port", str(port), "--seed", "7"]
    cmd += ["--days", "2", "--users", "20", "--apps", "4", *extra]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    creds_path = state / "credentials.json"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"simulate exited: {(state / 'simulate.log').read_text()[-2000:]}")
        if creds_path.exists():
            try:
                creds = json.loads(creds_path.read_text())
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return LocalOrg(proc, state, creds)
            except (OSError, ValueError):
                pass
        time.sleep(0.2)
    stop_org(proc)
    raise RuntimeError("simulate did not become ready")


def stop_org(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=5)


@contextlib.contextmanager
def db_edit(org: LocalOrg, table: str, where: str, params: tuple, **changes: Any) -> Iterator[None]:
    """Set columns of the rows matching ``where`` and put the old values back afterwards."""
    cols = list(changes)
    old = org.sql(f'SELECT rowid, {", ".join(cols)} FROM "{table}" WHERE {where}', params)
    assert old, f"no {table} row matches {where} {params}"
    sets = ", ".join(f"{c} = ?" for c in cols)
    org.sql(f'UPDATE "{table}" SET {sets} WHERE {where}', (*changes.values(), *params))
    try:
        yield
    finally:
        for row in old:
            org.sql(f'UPDATE "{table}" SET {sets} WHERE rowid = ?', (*row[1:], row[0]))


@contextlib.contextmanager
def db_delete(org: LocalOrg, table: str, where: str, params: tuple) -> Iterator[None]:
    """Delete rows and insert them back afterwards."""
    conn = sqlite3.connect(org.db, timeout=30)
    conn.row_factory = sqlite3.Row
    rows = [dict(r) for r in conn.execute(f'SELECT * FROM "{table}" WHERE {where}', params)]
    conn.close()
    assert rows, f"no {table} row matches {where}"
    org.sql(f'DELETE FROM "{table}" WHERE {where}', params)
    try:
        yield
    finally:
        for r in rows:
            marks = ", ".join("?" for _ in r)
            org.sql(f'INSERT INTO "{table}" ({", ".join(r)}) VALUES ({marks})', tuple(r.values()))


@contextlib.contextmanager
def db_state(org: LocalOrg, key: str, value: str) -> Iterator[None]:
    org.sql("INSERT OR REPLACE INTO _State (Key, Value) VALUES (?, ?)", (key, value))
    try:
        yield
    finally:
        org.sql("DELETE FROM _State WHERE Key = ?", (key,))


def secret_files(org: LocalOrg, folder: Path) -> dict[str, Path]:
    """The client secret and the interactive user's password as 0600 files (never in the config)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, value in (("client_secret", org.creds["client_secret"]), ("password", org.creds["password"])):
        path = folder / f"{name}.txt"
        path.write_text(value + "\n")
        path.chmod(0o600)
        out[name] = path
    return out


def org_settings(org: LocalOrg, folder: Path, flow: str = "jwt", name: str | None = None, **kw: Any) -> dict:
    """An [[orgs]] entry (as a dict) connecting to the local org with ``flow``."""
    files = secret_files(org, folder)
    c = org.creds
    entry: dict[str, Any] = {
        "name": name or flow.replace("_", "-"),
        "login_url": c["login_url"],
        "flow": flow,
        "client_id": c["consumer_key"],
        "ca_bundle": c["ca_bundle"],
    }
    if flow == "jwt":
        entry.update(username=c["jwt_username"], private_key_file=c["private_key_file"])
        entry["certificate_file"] = c["certificate_file"]
    if flow in ("client_credentials", "password", "refresh_token", "web_server"):
        entry["client_secret_file"] = str(files["client_secret"])
    if flow == "password":
        entry.update(username=c["username"], password_file=str(files["password"]))
    if flow in ("refresh_token", "web_server"):
        entry["refresh_token_file"] = str(folder / f"{entry['name']}.token")
    entry.update(kw)
    return entry


def settings(entry: dict) -> OrgSettings:
    return OrgSettings.model_validate({k: str(v) if isinstance(v, Path) else v for k, v in entry.items()})


def write_config(path: Path, entries: list[dict]) -> Path:
    lines = [f'[store]\nurl = "sqlite:///{path.parent / "store.db"}"\n']
    for e in entries:
        lines.append("[[orgs]]")
        lines += [f"{k} = {json.dumps(str(v) if isinstance(v, Path) else v)}" for k, v in e.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def browser_login(org: LocalOrg, authorize_url: str, *, approve: bool = True) -> str:
    """Act as the admin's browser: open the authorize page, log in, approve; return the redirect."""
    import html
    import re

    import requests

    s = requests.Session()
    ca = org.creds["ca_bundle"]  # explicit per request: $REQUESTS_CA_BUNDLE overrides session.verify
    page = s.get(authorize_url, timeout=30, verify=ca)
    assert page.status_code == 200, page.text[:300]
    form = {
        m[0]: html.unescape(m[1])
        for m in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page.text)
    }
    form.update(username=org.creds["username"], password=org.creds["password"])
    if approve:
        form["approve"] = "1"
    r = s.post(
        f"{org.creds['login_url']}/services/oauth2/authorize",
        data=form,
        allow_redirects=False,
        timeout=30,
        verify=ca,
    )
    assert r.status_code == 302, r.text[:300]
    return r.headers["Location"]


def expired_certificate(key_file: Path) -> str:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=400))
        .not_valid_after(now - timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()
