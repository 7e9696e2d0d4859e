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


def auth_configured(secrets: Mapping[str, Any]) -> bool:
    """True when secrets.toml configures an OIDC provider for st.login."""
    try:
        section = secrets.get("auth")
    except Exception:  # noqa: BLE001 - no secrets file at all
        return False
    return bool(section) and bool(section.get("redirect_uri"))


def is_loopback(address: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost (the only addresses served without login)."""
    if not address or address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


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
        configured = auth_configured(secrets)
    except Exception:  # noqa: BLE001 - a missing or unreadable secrets file means "no auth"
        secrets, configured = {}, False
    if not configured:
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
    allowed = list((secrets.get("oauthwatch") or {}).get("allowed_users", []))
    if not user_allowed(st.user.get("email"), allowed):
        st.error(
            "This account is not allowed to use this dashboard; ask an admin to add it to allowed_users."
        )
        st.button("Log out", key="auth_logout", on_click=st.logout)
        return False
    with st.sidebar:
        st.caption("Signed in as " + str(st.user.get("email")).replace("*", "\\*").replace("_", "\\_"))
        st.button("Log out", key="auth_logout", on_click=st.logout)
    return True
