"""Alert delivery in tests: a hostile finding (markup, a token in its text), the lifecycle that
records it and fills the outbox, and the deliveries the store then holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from oauthwatch.detect.base import Finding
from oauthwatch.detect.lifecycle import LifecycleResult, apply_findings
from oauthwatch.notify.alert_delivery import drain_outbox
from oauthwatch.store import schema

T0 = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
TOKEN = "00D5j000000AbCd!AQ4AQFakeAccessTokenValue1234567890abcdef"
HOOK_SECRET = "XyZsecretHookToken9876"
NASTY_APP = "<script>alert(1)</script> & <!channel> <http://evil.example|click>"


def finding(severity: str = "high", key: str = "new_app:prod:x") -> Finding:
    # Other keys name other apps from other networks: separate incidents, separate alerts.
    app, ip = (
        (NASTY_APP, "192.0.2.7")
        if key == "new_app:prod:x"
        else (f"App {key}", f"198.51.{sum(map(ord, key)) % 250}.7")
    )
    return Finding(
        detector="new_app",
        severity=severity,  # type: ignore[arg-type]
        org="prod",
        subject_type="app",
        subject=app,
        title=f"New connected app: {app}",
        explanation=f"Connected app {app} logged in; its session id was {TOKEN}.",
        evidence={"app": app, "users": "user@example.com", "ips": ip},
        runbook=("Block <b>it</b> & revoke its tokens.",),
        dedupe_key=key,
        event_start=T0,
        event_end=T0,
    )


def record(store, findings, settings, now=T0) -> tuple[LifecycleResult, int]:
    """The lifecycle records the alerts and their outbox rows; notify drains the outbox."""
    with store.begin() as conn:
        result = apply_findings(
            conn, findings, org="prod", clears_after={"new_app": timedelta(days=1)}, now=now
        )
    return result, drain_outbox(store, settings, now=now)


def deliveries(store) -> list[dict]:
    with store.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                select(schema.alert_deliveries).order_by(schema.alert_deliveries.c.id)
            ).mappings()
        ]
