"""The dashboard's writes, in one place: alert status changes and allowlist entries.

Pages call these; they delegate to the detectors' alert lifecycle and allowlist modules,
record who acted (the signed-in OIDC user, else "dashboard"), and never build SQL themselves.
"""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from dashboard import data


def actor() -> str:
    """Who is acting: the signed-in user's email when login is on, else "dashboard"."""
    try:
        logged_in = bool(st.user.get("is_logged_in", False))
    except Exception:  # noqa: BLE001 - st.user is unavailable without an auth provider
        logged_in = False
    return str(st.user.get("email") or "dashboard") if logged_in else "dashboard"


def acknowledge(alert_id: int) -> None:
    """Acknowledge an alert (the detectors' lifecycle records who and when)."""
    from oauthwatch.detect.lifecycle import acknowledge

    acknowledge(data.engine(), alert_id, by=actor())


def resolve(alert_id: int) -> None:
    """Resolve an alert; it reopens only if its detector reports something newer."""
    from oauthwatch.detect.lifecycle import resolve

    resolve(data.engine(), alert_id, by=actor())


def suppress(alert_id: int, until: datetime) -> None:
    """Silence an alert's notifications until a time."""
    from oauthwatch.detect.lifecycle import suppress

    suppress(data.engine(), alert_id, until=until, by=actor())


def allow_app(app: str, org: str | None, *, owner: str | None = None, note: str | None = None) -> int:
    """Put an app on the allowlist (for ``org``, or every org when None)."""
    from oauthwatch.detect.allowlist import add_entry

    return add_entry(data.engine(), app, org=org, owner=owner, note=note, created_by=actor())


def unallow_app(app: str, org: str | None) -> int:
    """Remove the allowlist entries that approve ``app`` for ``org`` (every entry when ``org`` is None)."""
    from oauthwatch.detect.allowlist import list_entries, remove_entry

    removed = 0
    for entry in list_entries(data.engine(), org=org):
        if entry.app_name == app and (org is None or entry.org in (org, None)):
            removed += remove_entry(data.engine(), entry.id)
    return removed
