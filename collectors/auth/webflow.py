"""``oauthwatch login``: the web-server flow with PKCE, once, to obtain a refresh token.

The admin opens the authorize URL in a browser, logs in and approves; Salesforce redirects the
browser to the Connected App's callback URL, which is ``redirect_uri`` on this machine
(``http://localhost:1717/callback`` by default). A one-shot ``http.server`` on that port catches
the code, checks ``state`` (so a stray or forged redirect cannot inject a code), and the code is
exchanged with its PKCE verifier. The refresh token goes to the owner-only token file; later runs
use the refresh token flow and never need the browser again.
"""

from __future__ import annotations

import html
import logging
import secrets
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from collectors.auth.causes import explain_token_error
from collectors.auth.provider import (
    AuthError,
    Token,
    provider_for,
    tls_error,
    token_from_response,
    unreachable_error,
)
from collectors.auth.tokens import write_refresh_token
from oauthwatch.config import OrgSettings
from oauthwatch.secrets import register_secret

log = logging.getLogger(__name__)

LOGIN_SCOPES = "api refresh_token"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class LoginResult:
    """What ``login`` achieved: the token (masked in repr) and where the refresh token is."""

    token: Token
    refresh_token_file: Path


@dataclass
class _Callback:
    params: dict[str, str] | None = None


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) as RFC 7636 defines them."""
    verifier = secrets.token_urlsafe(64)
    return verifier, create_s256_code_challenge(verifier)


def callback_address(org: OrgSettings) -> tuple[str, int, str]:
    """(bind host, port, path) of the local callback, from ``redirect_uri``; only loopback URLs."""
    parts = urlsplit(org.redirect_uri)
    host = (parts.hostname or "").lower()
    if parts.scheme != "http" or host not in LOCAL_HOSTS:
        raise AuthError(
            "redirect_uri",
            "",
            cause=f"redirect_uri {org.redirect_uri} is not a loopback http URL, so oauthwatch cannot catch the code",
            fix='set redirect_uri = "http://localhost:1717/callback" for this org and add exactly that '
            "URL to the Connected App's Callback URL",
            org=org.name,
        )
    bind = "::1" if host == "::1" else "127.0.0.1"
    return bind, parts.port or 80, parts.path or "/"


def authorize_url(org: OrgSettings, *, state: str, challenge: str) -> str:
    """The URL the admin opens: login, approve, redirect back with ``code`` and ``state``."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": org.client_id,
            "redirect_uri": org.redirect_uri,
            "scope": LOGIN_SCOPES,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{org.login_url}/services/oauth2/authorize?{query}"


def _handler(path: str, box: _Callback, done: threading.Event) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != path:
                self.send_error(404)
                return
            params = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if params.get("code"):
                register_secret(params["code"])
            box.params = params
            ok = "code" in params
            body = (
                "<h1>oauthwatch is authorized</h1><p>You can close this window.</p>"
                if ok
                else f"<h1>Authorization failed</h1><p>{html.escape(params.get('error_description') or params.get('error') or 'no code')}</p>"
            )
            data = f"<!doctype html><meta charset=utf-8><title>oauthwatch</title>{body}".encode()
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            done.set()

        def log_message(self, format: str, *args: object) -> None:
            log.debug("callback: %s", self.path.split("?", 1)[0])

    return Handler


def login(
    org: OrgSettings,
    *,
    open_browser: bool = True,
    timeout: float = 300.0,
    say: Callable[[str], None] = print,
) -> LoginResult:
    """Run the web-server flow for ``org`` and store its refresh token; raise AuthError on failure."""
    bind, port, path = callback_address(org)
    verifier, challenge = pkce_pair()
    register_secret(verifier)
    state = secrets.token_urlsafe(24)
    box, done = _Callback(), threading.Event()
    try:
        server = HTTPServer((bind, port), _handler(path, box, done))
    except OSError as exc:
        raise AuthError(
            "callback_port",
            "",
            cause=f"cannot listen on {bind}:{port} for the callback ({exc.strerror})",
            fix="stop what uses that port, or pick another port in redirect_uri (and the app's Callback URL)",
            org=org.name,
        ) from None
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    try:
        url = authorize_url(org, state=state, challenge=challenge)
        say(
            f"Open this URL in a browser, log in as the user oauthwatch should act as, and approve:\n\n  {url}\n"
        )
        say(f"Waiting for the redirect to {org.redirect_uri} (up to {int(timeout)} s)…")
        if open_browser:
            try:
                webbrowser.open(url)
            except webbrowser.Error:
                log.debug("no browser could be opened; the URL is printed above")
        if not done.wait(timeout):
            raise AuthError(
                "login_timeout",
                "",
                cause=f"no redirect reached {org.redirect_uri} within {int(timeout)} s",
                fix="open the printed URL in a browser on this machine; check the app's Callback URL "
                "equals redirect_uri exactly",
                org=org.name,
            )
    finally:
        server.shutdown()
        server.server_close()
    params = box.params or {}
    if params.get("state") != state:
        raise AuthError(
            "state_mismatch",
            "",
            cause="the redirect carried a different state value (a stale tab or a forged request)",
            fix=f"run `oauthwatch login --org {org.name}` again and use the newly printed URL",
            org=org.name,
        )
    if "code" not in params:
        code, desc = params.get("error", "access_denied"), params.get("error_description", "")
        exp = explain_token_error(org, code, desc)
        if code == "access_denied":
            exp = exp.__class__(
                "the user denied access, or the app does not allow this user",
                "approve the request; check the app's Permitted Users policy and assignment",
            )
        raise AuthError(code, desc, cause=exp.cause, fix=exp.fix, org=org.name)
    return _exchange(org, params["code"], verifier)


def _exchange(org: OrgSettings, code: str, verifier: str) -> LoginResult:
    provider = provider_for(org)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": org.client_id,
        "redirect_uri": org.redirect_uri,
        "code_verifier": verifier,
    }
    secret = org.client_secret(required=False)
    if secret is not None:
        data["client_secret"] = secret.get_secret_value()
        register_secret(data["client_secret"])
    try:
        response = provider.session().post(f"{org.login_url}/services/oauth2/token", data=data)
    except requests.exceptions.SSLError as exc:
        raise tls_error(org, exc) from None
    except requests.exceptions.RequestException as exc:
        raise unreachable_error(org, exc) from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not body.get("access_token"):
        err, desc = (
            str(body.get("error") or f"http_{response.status_code}"),
            str(body.get("error_description") or ""),
        )
        exp = explain_token_error(org, err, desc)
        raise AuthError(err, desc, cause=exp.cause, fix=exp.fix, org=org.name)
    refresh = body.get("refresh_token")
    token = token_from_response(body, "web_server")
    if not refresh:
        raise AuthError(
            "no_refresh_token",
            "",
            cause="the org issued no refresh token: the app's scopes lack refresh_token",
            fix="Setup → App Manager → your oauthwatch app → Edit → Selected OAuth Scopes: add "
            "'Perform requests at any time (refresh_token, offline_access)', then log in again",
            org=org.name,
        )
    register_secret(str(refresh))
    path = write_refresh_token(org, str(refresh))
    return LoginResult(token=token, refresh_token_file=path)
