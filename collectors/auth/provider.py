"""The five OAuth flows against any https login URL → one cached access token per org.

simple-salesforce hard-wires ``https://{login,test}.salesforce.com`` and lacks the web-server and
refresh flows (docs/architecture.md, decision 1), so the token call is made here, against the configured login URL
(production, sandbox, a My Domain or the local org), and simple-salesforce is then built in
"direct" mode on the token. Everything goes through one :class:`TimeoutSession` per org that
carries the org's CA bundle and puts a timeout on every request (requests has none by default).

One token per org is cached and shared by every source (Salesforce caps concurrent tokens per app
and user). A refused call with ``INVALID_SESSION_ID`` leads to :meth:`TokenProvider.renew`: a new
token, once; if the org refuses the fresh token too, renewing again cannot help and an
:class:`AuthError` explains why (missing ``api`` scope, session policy, …).

Secrets read or received (consumer secret, password, refresh and access tokens, the signed
assertion) are registered with :func:`oauthwatch.secrets.register_secret` as soon as they exist,
so log redaction catches them anywhere.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from collectors.auth.causes import (
    AuthError,
    explain_rest_error,
    explain_token_error,
    tls_error,
    unreachable_error,
)
from collectors.auth.grants import LEGACY_FLOW_WARNING, build_grant, jwt_audience
from collectors.auth.tokens import write_refresh_token
from oauthwatch.config import OrgSettings
from oauthwatch.secrets import register_secret

__all__ = [
    "LEGACY_FLOW_WARNING",
    "AuthError",
    "TimeoutSession",
    "Token",
    "TokenProvider",
    "jwt_audience",
    "parse_identity_url",
    "provider_for",
    "reset_providers",
    "tls_error",
    "token_from_response",
    "unreachable_error",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Token:
    """An access token and what the token response said about it; repr and str mask the token."""

    access_token: str = field(repr=False)
    instance_url: str
    id_url: str | None
    org_id: str | None
    user_id: str | None
    scopes: frozenset[str]
    issued_at: datetime
    flow: str

    def __str__(self) -> str:
        return f"Token(flow={self.flow}, instance_url={self.instance_url}, user_id={self.user_id}, access_token=**********)"


class TimeoutSession(requests.Session):
    """A ``requests.Session`` that gives every request a timeout and the org's CA bundle, and
    reports successful calls.

    simple-salesforce passes ``**kw`` to ``session.request`` without a timeout; this class fills
    one in. ``on_success`` is told about every 2xx answer outside ``/services/oauth2/`` (a token
    call succeeding says nothing about the token) so that the provider knows a renewed token has
    been accepted by the API.
    """

    def __init__(self, timeout: float, on_success: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.timeout = timeout
        self._on_success = on_success

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        if kwargs.get("verify") is None:
            # requests lets $REQUESTS_CA_BUNDLE / $CURL_CA_BUNDLE override session.verify; the
            # org's ca_bundle setting must win, so it is passed on every request.
            kwargs["verify"] = self.verify
        response = super().request(method, url, *args, **kwargs)
        path = urlsplit(url if isinstance(url, str) else url.decode()).path
        if self._on_success is not None and 200 <= response.status_code < 300 and "/oauth2/" not in path:
            self._on_success()
        return response


def parse_identity_url(id_url: str | None) -> tuple[str | None, str | None]:
    """(org id, user id) from an identity URL ``https://host/id/<orgId>/<userId>``."""
    if not id_url:
        return None, None
    parts = urlsplit(id_url).path.rstrip("/").split("/")
    if len(parts) >= 3 and parts[-3] == "id":
        return parts[-2], parts[-1]
    return None, None


def token_from_response(body: dict[str, Any], flow: str) -> Token:
    """A :class:`Token` from a 200 token response (keys: docs/architecture.md, "Salesforce facts the code relies on")."""
    access = str(body["access_token"])
    register_secret(access)
    issued_raw = body.get("issued_at")
    try:
        issued = datetime.fromtimestamp(int(str(issued_raw)) / 1000, tz=UTC)
    except (TypeError, ValueError):
        issued = datetime.now(UTC)
    org_id, user_id = parse_identity_url(body.get("id"))
    return Token(
        access_token=access,
        instance_url=str(body["instance_url"]).rstrip("/"),
        id_url=body.get("id"),
        org_id=org_id,
        user_id=user_id,
        scopes=frozenset(str(body.get("scope") or "").split()),
        issued_at=issued,
        flow=flow,
    )


class TokenProvider:
    """One org's session, token cache and renewal. Thread-safe; get one with :func:`provider_for`."""

    def __init__(self, org: OrgSettings, *, timeout: float = 30.0) -> None:
        self.org = org
        self.timeout = timeout
        self._lock = threading.RLock()
        self._token: Token | None = None
        self._unconfirmed_renewals = 0
        self._session: TimeoutSession | None = None
        self.last_response_keys: frozenset[str] = frozenset()

    # -- transport -------------------------------------------------------------------------
    def session(self) -> requests.Session:
        """The org's session: CA bundle as ``verify``, a timeout on every request."""
        with self._lock:
            if self._session is None:
                s = TimeoutSession(self.timeout, on_success=self._confirmed)
                s.verify = str(self.org.ca_bundle) if self.org.ca_bundle else True
                s.headers["User-Agent"] = "oauthwatch"
                self._session = s
            return self._session

    def _confirmed(self) -> None:
        self._unconfirmed_renewals = 0

    # -- tokens ----------------------------------------------------------------------------
    def token(self) -> Token:
        """The cached token, fetched on first use."""
        with self._lock:
            if self._token is None:
                self._token = self._fetch()
            return self._token

    def renew(self, stale: Token | None = None) -> Token:
        """A new token after the org refused the current one (``INVALID_SESSION_ID``).

        ``stale`` is the token that was refused: when another thread has already replaced it,
        that newer token is returned without a second login. If the previous renewal was never
        followed by a successful call, the org is refusing fresh tokens and an :class:`AuthError`
        says why instead of looping.
        """
        with self._lock:
            if stale is not None and self._token is not None and self._token != stale:
                return self._token
            if self._unconfirmed_renewals >= 1:
                scopes = self._token.scopes if self._token else frozenset()
                self._token = None
                # a token without the api scope is refused by REST with this very message
                lacks_api = bool(scopes) and not scopes & {"api", "full"}
                message = "This session is not valid for use with the REST API" if lacks_api else ""
                exp = explain_rest_error(self.org, 401, "INVALID_SESSION_ID", message)
                raise AuthError(
                    "session_refused",
                    "a freshly issued token was refused with INVALID_SESSION_ID",
                    cause=exp.cause,
                    fix=exp.fix,
                    org=self.org.name,
                )
            self._token = None
            self._unconfirmed_renewals += 1
            log.info("org %s: the org refused the access token; requesting a new one", self.org.name)
            self._token = self._fetch()
            return self._token

    def forget(self) -> None:
        """Drop the cached token (the next :meth:`token` logs in again)."""
        with self._lock:
            self._token = None

    def salesforce(self) -> Any:
        """A simple-salesforce client on the current token, sharing this org's session."""
        from collectors.auth.salesforce import OrgSalesforce

        tok = self.token()
        return OrgSalesforce(
            instance_url=tok.instance_url,
            session_id=tok.access_token,
            session=self.session(),
            version=self.org.api_version,
        )

    # -- the token call --------------------------------------------------------------------
    # Transient token errors are retried at once a few times (docs/salesforce-behaviour.md):
    # Salesforce's ``retry_request`` ("retry your request"), the RFC 6749 server_error and
    # temporarily_unavailable, 5xx answers and an unreachable host. ``rate_limit_exceeded`` is
    # transient too but asking again at once only prolongs it: it waits for the next cycle.
    RETRIED = frozenset({"retry_request", "server_error", "temporarily_unavailable", "unreachable"})
    retry_delays: tuple[float, ...] = (0.5, 1.5, 4.0)

    def _fetch(self) -> Token:
        for delay in (*self.retry_delays, None):
            try:
                return self._fetch_once()
            except AuthError as exc:
                if delay is None or not (exc.code in self.RETRIED or exc.code.startswith("http_5")):
                    raise
                log.info(
                    "org %s: transient token error %s; asking again in %.1f s", self.org.name, exc.code, delay
                )
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _fetch_once(self) -> Token:
        org = self.org
        flow = "refresh_token" if org.flow == "web_server" else org.flow
        data, auth = build_grant(org, flow)
        url = f"{org.login_url}/services/oauth2/token"
        log.debug("org %s: token request (%s flow) to %s", org.name, org.flow, url)
        try:
            response = self.session().post(url, data=data, auth=auth, headers={"Accept": "application/json"})
        except requests.exceptions.SSLError as exc:
            raise tls_error(org, exc) from None
        except requests.exceptions.RequestException as exc:
            raise unreachable_error(org, exc) from None
        return self._parse(response)

    def _parse(self, response: requests.Response) -> Token:
        org = self.org
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 200 and isinstance(body, dict) and body.get("access_token"):
            if body.get("refresh_token"):
                register_secret(str(body["refresh_token"]))
                if org.flow in ("web_server", "refresh_token"):
                    write_refresh_token(org, str(body["refresh_token"]))  # rotation
            self.last_response_keys = frozenset(body)
            tok = token_from_response(body, org.flow)
            log.info("org %s: authenticated with the %s flow as user %s", org.name, org.flow, tok.user_id)
            return tok
        if isinstance(body, dict) and body.get("error"):
            code, desc = str(body["error"]), str(body.get("error_description") or "")
            exp = explain_token_error(org, code, desc)
            transient = code == "rate_limit_exceeded" or code in self.RETRIED
            raise AuthError(code, desc, cause=exp.cause, fix=exp.fix, org=org.name, transient=transient)
        status = response.status_code
        if status >= 500:
            raise AuthError(
                f"http_{status}",
                "",
                cause=f"the login service answered HTTP {status}",
                fix="retry later; check https://status.salesforce.com",
                org=org.name,
                transient=True,
            )
        raise AuthError(
            f"http_{status}",
            "",
            cause=f"{org.login_url} did not answer like a Salesforce token endpoint (HTTP {status})",
            fix="check login_url: https://login.salesforce.com, https://test.salesforce.com or your My Domain",
            org=org.name,
        )


_providers: dict[str, TokenProvider] = {}
_providers_lock = threading.Lock()


def provider_for(org: OrgSettings, *, timeout: float = 30.0) -> TokenProvider:
    """The process-wide provider of ``org`` (same settings → same provider, same cached token)."""
    key = org.model_dump_json()
    with _providers_lock:
        provider = _providers.get(key)
        if provider is None:
            provider = _providers[key] = TokenProvider(org, timeout=timeout)
        return provider


def reset_providers() -> None:
    """Forget every cached provider and token (tests; a reloaded configuration)."""
    with _providers_lock:
        _providers.clear()
