"""Detection hands alerts to notification through the outbox only: detect never imports notify.

The lifecycle writes one outbox row per opened, reopened or escalated alert in the transaction
that changes it; notify's drain turns each row into deliveries once, judged as of when it was
written (severity floor, suppression), and never again.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from oauthwatch.config import NotifySettings, Settings
from oauthwatch.detect.base import Finding
from oauthwatch.detect.lifecycle import apply_findings
from oauthwatch.notify.alert_delivery import drain_outbox
from oauthwatch.store import schema
from oauthwatch.store.writes import ensure_org

T0 = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
DETECT = Path(__file__).resolve().parents[1] / "oauthwatch" / "detect"
CLI_VERBS = {"commands.py"}  # the CLI's verbs (they deliver after detecting); not detection itself


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_detection_never_imports_notify() -> None:
    offenders = {
        p.name: sorted(n for n in _imports(p) if n.startswith("oauthwatch.notify"))
        for p in DETECT.glob("*.py")
        if p.name not in CLI_VERBS
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def _finding(severity: str, key: str) -> Finding:
    return Finding(
        detector="new_app",
        severity=severity,  # type: ignore[arg-type]
        org="prod",
        subject_type="app",
        subject=key,
        title=f"New connected app: {key}",
        explanation="first seen",
        evidence={"app": key},
        runbook=("Block it.",),
        dedupe_key=f"new_app:prod:{key}",
        event_start=T0,
        event_end=T0,
    )


def _count(store, table) -> int:
    with store.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_lifecycle_writes_the_outbox_and_notify_drains_it_once(sqlite_store) -> None:
    settings = Settings(notify=NotifySettings(email_to=["secops@example.com"], min_severity="medium"))
    with sqlite_store.begin() as conn:
        ensure_org(conn, "prod")
        result = apply_findings(
            conn,
            [_finding("high", "A"), _finding("low", "B")],
            org="prod",
            clears_after={"new_app": timedelta(days=1)},
            now=T0,
        )
    assert len(result.opened) == 2
    assert _count(sqlite_store, schema.alert_outbox) == 2
    assert _count(sqlite_store, schema.alert_deliveries) == 0  # detection queued nothing itself

    assert drain_outbox(sqlite_store, settings, now=T0) == 1  # the low one is below the floor
    assert drain_outbox(sqlite_store, settings, now=T0) == 0  # drained rows are never queued again
    with sqlite_store.connect() as conn:
        pending = conn.execute(
            select(func.count()).where(schema.alert_outbox.c.drained_at.is_(None))
        ).scalar_one()
    assert pending == 0

    with sqlite_store.begin() as conn:  # the same condition again, now critical: an escalation
        result = apply_findings(
            conn,
            [_finding("critical", "A")],
            org="prod",
            clears_after={"new_app": timedelta(days=1)},
            now=T0 + timedelta(minutes=15),
        )
    assert result.escalated
    assert not result.opened
    assert drain_outbox(sqlite_store, settings, now=T0 + timedelta(minutes=15)) == 1
    with sqlite_store.connect() as conn:
        reasons = [r[0] for r in conn.execute(select(schema.alert_deliveries.c.reason))]
    assert sorted(reasons) == ["escalated", "new"]
