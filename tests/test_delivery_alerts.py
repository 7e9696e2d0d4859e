"""Alert delivery over real wires: an aiosmtpd server and an http.server webhook, both in-process.

Guards: content is escaped (HTML for email, Slack mrkdwn for the webhook), no secret (a token in
the text, the webhook URL's token) reaches a message, the store or an error; a failed delivery is
recorded and retried with backoff, never lost and never raised; severity floor, suppression,
cooldown and escalation rules decide what is queued.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from oauthwatch.config import NotifySettings, Settings, SmtpSettings
from oauthwatch.detect.lifecycle import apply_findings, suppress
from oauthwatch.notify.alert_delivery import deliver_pending, email_content
from oauthwatch.notify.webhook import alert_payload, slack_escape
from oauthwatch.store import schema
from tests.delivery_helpers import HOOK_SECRET, T0, TOKEN, deliveries, finding, record


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


class Hook:
    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        self.fail_next = 0


@pytest.fixture
def webhook() -> Iterator[tuple[Hook, str]]:
    hook = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if hook.fail_next:
                hook.fail_next -= 1
                self.send_response(500)
                self.end_headers()
                self.wfile.write(b"upstream broke")
                return
            hook.bodies.append(json.loads(body))
            hook.paths.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook, f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/{HOOK_SECRET}"
    finally:
        server.shutdown()
        server.server_close()


def settings_for(smtp_port: int, hook_url: str | None, **notify: object) -> Settings:
    n = {
        "email_to": ["secops@example.com"],
        "webhook_url": hook_url,
        "min_severity": "medium",
        "cooldown_minutes": 60,
        "dashboard_url": "http://localhost:8501",
        "smtp": SmtpSettings(
            host="127.0.0.1",
            port=smtp_port,
            security="none",
            sender="oauthwatch@example.com",
            timeout_seconds=5,
        ),
    }
    n.update(notify)
    return Settings(notify=NotifySettings(**n))


def test_email_and_webhook_delivered_escaped_without_secrets(sqlite_store, smtp, webhook) -> None:
    inbox, port = smtp
    hook, url = webhook
    settings = settings_for(port, url)
    _, queued = record(sqlite_store, [finding()], settings)
    assert queued == 2
    assert deliver_pending(sqlite_store, settings, now=T0) == 2
    assert len(inbox.messages) == 1
    assert len(hook.bodies) == 1
    msg = message_from_bytes(inbox.messages[0], policy=policy.default)
    assert msg["To"] == "secops@example.com"
    assert msg["Subject"].startswith("[oauthwatch] HIGH: New connected app")
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;!channel&gt;" in html
    assert "Block &lt;b&gt;it&lt;/b&gt; &amp; revoke" in html
    assert "<script>alert(1)</script>" in text  # plain text is shown as text, not interpreted
    raw = inbox.messages[0].decode(errors="replace")
    assert TOKEN not in raw
    assert "AQ4AQFakeAccessToken" not in raw
    payload = json.dumps(hook.bodies[0])
    assert "<!channel>" not in payload
    assert "<http://evil" not in payload
    assert "&lt;!channel&gt;" in payload
    assert TOKEN not in payload
    assert hook.paths == [f"/services/T000/B000/{HOOK_SECRET}"]
    rows = deliveries(sqlite_store)
    assert {r["status"] for r in rows} == {"sent"}
    assert all(HOOK_SECRET not in r["target"] for r in rows)
    with sqlite_store.connect() as conn:
        alert = conn.execute(select(schema.alerts)).mappings().one()
    assert alert["notified_severity"] == "high"


def test_failed_delivery_is_recorded_and_retried_with_backoff(sqlite_store, smtp, webhook) -> None:
    _, port = smtp
    hook, url = webhook
    hook.fail_next = 1
    settings = settings_for(port, url, email_to=[])
    record(sqlite_store, [finding()], settings)
    assert deliver_pending(sqlite_store, settings, now=T0) == 0
    [row] = deliveries(sqlite_store)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "HTTP 500" in row["last_error"]
    assert HOOK_SECRET not in row["last_error"]
    assert row["next_attempt_at"] == T0 + timedelta(minutes=1)
    assert deliver_pending(sqlite_store, settings, now=T0 + timedelta(seconds=30)) == 0  # not due yet
    assert deliver_pending(sqlite_store, settings, now=T0 + timedelta(minutes=2)) == 1
    [row] = deliveries(sqlite_store)
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert len(hook.bodies) == 1


def test_unreachable_smtp_is_recorded_not_raised(sqlite_store) -> None:
    settings = settings_for(free_port(), None)  # nothing listens there
    record(sqlite_store, [finding()], settings)
    assert deliver_pending(sqlite_store, settings, now=T0) == 0
    [row] = deliveries(sqlite_store)
    assert row["status"] == "failed"
    assert row["channel"] == "email"
    assert "check notify.smtp" in row["last_error"]
    later = deliver_pending(sqlite_store, settings, now=T0 + timedelta(minutes=1, seconds=1))
    assert later == 0
    assert deliveries(sqlite_store)[0]["attempts"] == 2
    assert deliveries(sqlite_store)[0]["next_attempt_at"] == T0 + timedelta(minutes=1, seconds=1) + timedelta(
        minutes=2
    )


def test_queue_rules_severity_suppression_cooldown_escalation(sqlite_store) -> None:
    settings = settings_for(25, "https://hooks.example.com/services/T/B/" + HOOK_SECRET, email_to=[])
    _, queued = record(sqlite_store, [finding("low", key="a")], settings)
    assert queued == 0  # below min_severity
    result, queued = record(sqlite_store, [finding("medium", key="b")], settings)
    assert queued == 1
    alert_b = result.opened[0]
    # Escalation is always notified, cooldown or not.
    _, queued = record(sqlite_store, [finding("critical", key="b")], settings, now=T0 + timedelta(minutes=5))
    assert queued == 1
    assert deliveries(sqlite_store)[-1]["reason"] == "escalated"
    # Auto-resolved and back within the cooldown: no second "new" notification.
    record(sqlite_store, [], settings, now=T0 + timedelta(days=2))
    _, queued = record(
        sqlite_store, [finding("critical", key="b")], settings, now=T0 + timedelta(days=2, minutes=10)
    )
    assert queued == 1  # cooldown counts from the last notification (two days ago)
    result, queued = record(sqlite_store, [finding("high", key="c")], settings)
    suppress(sqlite_store, result.opened[0], until=T0 + timedelta(days=9), by="analyst@example.com")
    _, queued = record(sqlite_store, [finding("critical", key="c")], settings, now=T0 + timedelta(minutes=1))
    assert queued == 0  # suppressed: escalation is tracked but not sent
    assert alert_b


def test_reopen_inside_cooldown_is_not_resent(sqlite_store) -> None:
    settings = settings_for(
        25, "https://hooks.example.com/services/T/B/" + HOOK_SECRET, email_to=[], cooldown_minutes=180
    )
    record(sqlite_store, [finding("high", key="d")], settings)
    with sqlite_store.begin() as conn:
        res = apply_findings(
            conn, [], org="prod", clears_after={"new_app": timedelta(0)}, now=T0 + timedelta(minutes=30)
        )
    assert len(res.resolved) == 1
    result, queued = record(
        sqlite_store, [finding("high", key="d")], settings, now=T0 + timedelta(minutes=60)
    )
    assert result.reopened
    assert queued == 0


def test_slack_escaping_and_email_content_units() -> None:
    assert slack_escape("a < b & c > d") == "a &lt; b &amp; c &gt; d"
    assert slack_escape(f"token {TOKEN}") == "token **********"
    alert = {
        "id": 7,
        "severity": "high",
        "title": "t <x>",
        "org": "prod",
        "subject_type": "app",
        "subject": "s",
        "detector": "new_app",
        "explanation": "e & f",
        "evidence": {"k": "<v>"},
        "runbook": ["step <1>"],
    }
    payload = alert_payload(alert, reason="escalated", dashboard_url="http://localhost:8501")
    blob = json.dumps(payload)
    assert "(escalated)" in blob
    assert "&lt;v&gt;" in blob
    assert "<http://localhost:8501/alerts?alert=7|Open in oauthwatch>" in blob
    subject, text, html = email_content(alert, reason="new", dashboard_url=None)
    assert subject == "[oauthwatch] HIGH: t <x> (prod)"
    assert "t &lt;x&gt;" in html
    assert "1. step <1>" in text


def test_suppressed_after_queueing_is_recorded_not_sent(sqlite_store, webhook) -> None:
    hook, url = webhook
    settings = settings_for(25, url, email_to=[])
    result, queued = record(sqlite_store, [finding()], settings)
    assert queued == 1
    suppress(sqlite_store, result.opened[0], until=T0 + timedelta(hours=4), by="analyst@example.com")
    assert deliver_pending(sqlite_store, settings, now=T0) == 0
    assert hook.bodies == []
    [row] = deliveries(sqlite_store)
    assert row["status"] == "suppressed"
    assert deliver_pending(sqlite_store, settings, now=T0 + timedelta(hours=5)) == 0


def test_a_claimed_job_is_skipped_until_its_lease_expires(sqlite_store, webhook) -> None:
    from sqlalchemy import update

    hook, url = webhook
    settings = settings_for(25, url, email_to=[])
    record(sqlite_store, [finding()], settings)
    with sqlite_store.begin() as conn:  # another sender claimed it and died mid-send
        conn.execute(
            update(schema.alert_deliveries).values(
                status="sending", next_attempt_at=T0 + timedelta(minutes=10)
            )
        )
    assert deliver_pending(sqlite_store, settings, now=T0) == 0
    assert hook.bodies == []
    assert deliver_pending(sqlite_store, settings, now=T0 + timedelta(minutes=11)) == 1
    assert len(hook.bodies) == 1
    assert deliveries(sqlite_store)[0]["status"] == "sent"
