"""Who may see the dashboard: everyone on localhost, only allowed OIDC users when exposed.

Streamlit's built-in OIDC login (``st.login`` / ``st.user``, backed by Authlib) is switched on by an
``[auth]`` section in ``.streamlit/secrets.toml`` (see ``.streamlit/secrets.toml.example`` and
docs/dashboard.md). Allowed users are listed in ``[oauthwatch] allowed_users`` (emails; a
``@example.com`` entry allows a whole domain). Without ``[auth]`` the dashboard only serves a
loopback address: ``oauthwatch dashboard`` refuses another ``--address``, and this gate refuses
requests if the server was started on a public address some other way.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

# The example file's placeholder (.streamlit/secrets.toml.example) and the shortest secret accepted:
# Streamlit signs the login cookie with cookie_secret, so a known or short one lets anyone forge it.
COOKIE_PLACEHOLDER = "replace with"
COOKIE_SECRET_MIN = 32


def auth_problem(section: Mapping[str, Any] | None) -> str | None:
    """Why an ``[auth]`` section cannot protect the dashboard, or None when it can."""
    if not section or not section.get("redirect_uri"):
        return "no [auth] redirect_uri in .streamlit/secrets.toml"
    secret = str(section.get("cookie_secret") or "")
    if not secret.strip() or secret.strip().lower().startswith(COOKIE_PLACEHOLDER):
        return (
            "[auth] cookie_secret is missing or still the example's placeholder: set it to a long random "
            "string (python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if len(secret) < COOKIE_SECRET_MIN:
        return f"[auth] cookie_secret is shorter than {COOKIE_SECRET_MIN} characters: anyone could guess it"
    return None


def auth_configured(secrets: Mapping[str, Any]) -> bool:
    """True when secrets.toml configures an OIDC provider for st.login with a usable cookie secret."""
    try:
        section = secrets.get("auth")
    except Exception:  # noqa: BLE001 - no secrets file at all
        return False
    return auth_problem(section) is None


def is_loopback(address: str | None) -> bool:
    """True only for a loopback literal (127.0.0.0/8, ::1): the only addresses served without login.

    Anything else is exposed: an empty address makes Streamlit listen on every interface, and a
    name (even ``localhost``) resolves to whatever the host's resolver says.
    """
    if not address:
        return False
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def email_verified(user: Mapping[str, Any]) -> bool:
    """False when the OIDC provider says the e-mail address is not verified (``email_verified``).

    An unverified address proves nothing: at some providers anyone can claim any address. A
    provider that does not send the claim at all is trusted for the address it returns.
    """
    claim = user.get("email_verified")
    if claim is None:
        return True
    return claim is True or str(claim).strip().lower() == "true"


def user_allowed(email: str | None, allowed: Sequence[str]) -> bool:
    """Whether ``email`` is in ``allowed`` (exact, case-insensitive) or in an allowed ``@domain``."""
    if not email:
        return False
    e = email.strip().lower()
    for entry in allowed:
        a = str(entry).strip().lower()
        if a == e or (a.startswith("@") and e.endswith(a)):
            return True
    return False


def gate() -> bool:
    """Show login or refusal and return False when the viewer may not see the dashboard."""
    try:
        secrets: Mapping[str, Any] = st.secrets
        section = secrets.get("auth")
    except Exception:  # noqa: BLE001 - a missing or unreadable secrets file means "no auth"
        secrets, section = {}, None
    problem = auth_problem(section)
    if section and problem and section.get("redirect_uri"):
        st.error(f"Login is misconfigured: {problem}.")
        return False
    if problem:
        if is_loopback(st.get_option("server.address")):
            return True
        st.error(
            "This dashboard is listening on a non-loopback address without login. Configure OIDC in "
            "`.streamlit/secrets.toml` (see docs/dashboard.md) or start it with `--address 127.0.0.1`."
        )
        return False
    if not st.user.get("is_logged_in", False):
        st.title("oauthwatch")
        st.write("Sign in to see the dashboard.")
        st.button("Log in", key="auth_login", on_click=st.login)
        return False
    if not email_verified(st.user):
        st.error(
            "Your identity provider has not verified this account's e-mail address; verify it there first."
        )
        st.button("Log out", key="auth_logout", on_click=st.logout)
        return False
    allowed = list((secrets.get("oauthwatch") or {}).get("allowed_users", []))
    email = st.user.get("email")
    if not user_allowed(email if isinstance(email, str) else None, allowed):
        st.error(
            "This account is not allowed to use this dashboard; ask an admin to add it to allowed_users."
        )
        st.button("Log out", key="auth_logout", on_click=st.logout)
        return False
    with st.sidebar:
        st.caption("Signed in as " + str(st.user.get("email")).replace("*", "\\*").replace("_", "\\_"))
        st.button("Log out", key="auth_logout", on_click=st.logout)
    return True
