"""The dashboard is never exposed without login (issue: hardening, item 1), and stops promptly (item 13).

``--address ""`` used to pass the loopback check while Streamlit listened on every interface; the
example's placeholder cookie secret (which signs the login cookie) used to be accepted; an OIDC
account whose e-mail the provider had not verified used to be let in.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dashboard.auth import auth_problem, email_verified, is_loopback
from tests.dashboard_helpers import APP, seeded_template, store_env  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = (ROOT / ".streamlit" / "secrets.toml.example").read_text()
GOOD_AUTH = {
    "redirect_uri": "https://dash.example/oauth2callback",
    "cookie_secret": "k3y-" * 10,
    "client_id": "id",
    "client_secret": "secret",
    "server_metadata_url": "https://idp.example/.well-known/openid-configuration",
}


def test_only_loopback_literals_are_loopback() -> None:
    for address in ("", None, "localhost", "0.0.0.0", "::", "[::1]", "127.1", "192.0.2.1", "dash.example"):  # noqa: S104
        assert not is_loopback(address), address
    for address in ("127.0.0.1", "127.0.0.2", "::1"):
        assert is_loopback(address), address


def test_cookie_secret_placeholder_or_short_is_refused() -> None:
    import tomllib

    example = tomllib.loads(EXAMPLE)["auth"]
    assert "placeholder" in str(auth_problem(example))
    assert "shorter than 32" in str(auth_problem({**GOOD_AUTH, "cookie_secret": "s3cret"}))
    assert "placeholder" in str(auth_problem({**GOOD_AUTH, "cookie_secret": ""}))
    assert auth_problem(GOOD_AUTH) is None


def test_unverified_email_is_not_trusted() -> None:
    assert not email_verified({"email": "ann@example.com", "email_verified": False})
    assert not email_verified({"email": "ann@example.com", "email_verified": "false"})
    assert email_verified({"email": "ann@example.com", "email_verified": True})
    assert email_verified({"email": "ann@example.com"})  # a provider that does not send the claim


def _dashboard(tmp_path: Path, *args: str, secrets: str | None = None) -> subprocess.CompletedProcess[str]:
    work = tmp_path / "work"
    (work / ".streamlit").mkdir(parents=True, exist_ok=True)
    if secrets is not None:
        (work / ".streamlit" / "secrets.toml").write_text(secrets)
    (work / "oauthwatch.toml").write_text(f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n')
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("OAUTHWATCH_CONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "oauthwatch", "dashboard", "--port", "8599", *args],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"the dashboard started instead of refusing: {out} {err}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_empty_address_is_exposed_and_refused_without_login(tmp_path: Path) -> None:
    out = _dashboard(tmp_path, "--address", "")
    assert out.returncode == 2, out.stderr
    assert "refusing to listen on every interface (empty --address) without login" in out.stderr


def test_example_cookie_secret_is_refused_even_with_auth(tmp_path: Path) -> None:
    out = _dashboard(tmp_path, "--address", "0.0.0.0", secrets=EXAMPLE)  # noqa: S104
    assert out.returncode == 2, out.stderr
    assert "cookie_secret is missing or still the example's placeholder" in out.stderr


@pytest.mark.usefixtures("store_env")
def test_placeholder_cookie_secret_page_refuses() -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["auth"] = {**GOOD_AUTH, "cookie_secret": "replace with a long random string"}
    at.run()
    assert not at.exception
    assert any("Login is misconfigured" in e.value for e in at.error)
    assert not at.metric
    assert not at.button  # no login offered with a forgeable cookie


def test_sigterm_stops_the_dashboard_promptly(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "oauthwatch.toml").write_text(f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n')
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("OAUTHWATCH_CONFIG", None)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "oauthwatch", "dashboard", "--port", str(port)],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with socket.socket() as c:
                if c.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.3)
        else:
            pytest.fail("the dashboard did not start")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        took = time.monotonic() - started
        with socket.socket() as c:
            assert c.connect_ex(("127.0.0.1", port)) != 0, "Streamlit outlived the command"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert took < 5, f"SIGTERM took {took:.1f}s"
