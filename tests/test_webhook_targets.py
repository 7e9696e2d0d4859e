"""Webhooks go only where they should, never twice, and dead ones do not stall a pass (issue:
hardening, item 10). Before: any scheme and host was accepted, redirects were followed, deliveries
went one after another with no bound per pass, and a stale lease could be claimed twice."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from oauthwatch.config import NotifySettings, Settings
from oauthwatch.notify import alert_delivery
from oauthwatch.notify.alert_delivery import deliver_pending
from oauthwatch.notify.webhook import WebhookError, post_webhook
from oauthwatch.store import schema
from tests.delivery_helpers import HOOK_SECRET, T0, deliveries, finding, record

BAD = [
    ("http://hooks.example.com/services/T/B/" + HOOK_SECRET, "must be https://"),
    ("ftp://hooks.example.com/x", "must be an https:// URL"),
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://[fe80::1]/hook", "link-local"),
    ("https://metadata.google.internal/computeMetadata/v1/", "metadata"),
    ("https://100.100.100.200/latest", "metadata"),
    ("https:///no-host", "has no host"),
]


@pytest.mark.parametrize(("url", "why"), BAD)
def test_configuration_refuses_unsafe_webhooks(tmp_path, url: str, why: str) -> None:
    from oauthwatch.config import ConfigError, load_settings

    for line in (f'webhook_url = "{url}"', f'webhook_urls = ["https://ok.example/x", "{url}"]'):
        cfg = tmp_path / "oauthwatch.toml"
        cfg.write_text(f"[notify]\n{line}\n")
        with pytest.raises(ConfigError, match=why) as info:
            load_settings(cfg)
        assert HOOK_SECRET not in str(info.value)


def test_configuration_accepts_https_and_loopback_http() -> None:
    n = NotifySettings(
        webhook_url="https://hooks.example.com/a", webhook_urls=["http://127.0.0.1:9/b", "http://[::1]:9/c"]
    )
    assert len(n.webhook_urls) == 2


def test_send_time_check_covers_env_urls_and_resolved_names(monkeypatch) -> None:
    with pytest.raises(WebhookError, match="link-local"):
        post_webhook("https://169.254.169.254/hook", {"text": "x"})

    def fake_getaddrinfo(host, port, *a, **k):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(WebhookError, match="resolves to a link-local address"):
        post_webhook("https://innocent.example/hook", {"text": "x"})


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers() -> Iterator[list[_Server]]:
    made: list[_Server] = []
    yield made
    for s in made:
        s.close()


def test_redirects_are_not_followed(servers) -> None:
    hits: list[str] = []

    class Target(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    target = _Server(Target)
    servers.append(target)

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(307)
            self.send_header("Location", target.url + "/stolen")
            self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    hop = _Server(Redirect)
    servers.append(hop)
    with pytest.raises(WebhookError, match=r"redirect .*not followed"):
        post_webhook(hop.url + "/services/T/B/" + HOOK_SECRET, {"text": "x"})
    assert hits == []


def test_dead_webhooks_do_not_stall_a_pass(sqlite_store, servers, monkeypatch) -> None:
    got: list[str] = []

    class Live(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            got.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    class Dead(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            time.sleep(8)  # accepts, never answers in time

        def log_message(self, *a: object) -> None:
            pass

    live = _Server(Live)
    dead = [_Server(Dead) for _ in range(6)]
    servers.extend([live, *dead])
    monkeypatch.setattr(alert_delivery, "DELIVERY_TIMEOUT", 1.0)
    urls = [d.url + f"/dead{i}" for i, d in enumerate(dead)] + [live.url + "/live"]
    settings = Settings(notify=NotifySettings(webhook_urls=urls, min_severity="medium"))
    record(sqlite_store, [finding()], settings)
    started = time.monotonic()
    assert deliver_pending(sqlite_store, settings, now=T0) == 1
    took = time.monotonic() - started
    assert got == ["/live"]
    assert took < 4.5, f"six dead webhooks took {took:.1f}s: they were not sent concurrently"
    rows = deliveries(sqlite_store)
    assert sorted(r["status"] for r in rows) == ["failed"] * 6 + ["sent"]
    assert all(HOOK_SECRET not in (r["target"] or "") for r in rows)


def test_a_lease_taken_during_a_long_pass_is_not_taken_again(sqlite_store, monkeypatch) -> None:
    """Two stale jobs; while pass A is busy with the first, pass B leases the second and is still
    sending it when A reaches it: A must skip it (its snapshot is stale), so it is sent once."""
    settings = Settings(
        notify=NotifySettings(webhook_url="https://hooks.example.com/x", min_severity="medium")
    )
    record(sqlite_store, [finding(key="a"), finding(key="b")], settings)
    from sqlalchemy import update

    with sqlite_store.begin() as conn:  # both left "sending" by a sender that died; leases expired
        conn.execute(update(schema.alert_deliveries).values(status="sending", next_attempt_at=T0))
    ids = sorted(r["alert_id"] for r in deliveries(sqlite_store))
    sent: list[int] = []
    b_inside, a_done = threading.Event(), threading.Event()
    b_thread: list[threading.Thread] = []

    settings_b = settings.model_copy()  # tells pass B's sends apart (they run on pool threads)

    def fake_send(channel, alert, reason, used, *args) -> None:
        sent.append(alert["id"])
        if used is settings_b:
            b_inside.set()
            a_done.wait(5)
        elif alert["id"] == ids[0] and not b_thread:
            t = threading.Thread(
                target=deliver_pending, args=(sqlite_store, settings_b), kwargs={"now": T0 + timedelta(minutes=1)},
                name="pass-b",
            )  # fmt: skip
            b_thread.append(t)
            t.start()
            b_inside.wait(3)

    monkeypatch.setattr(alert_delivery, "_send", fake_send)
    deliver_pending(sqlite_store, settings, now=T0 + timedelta(minutes=1))
    a_done.set()
    for t in b_thread:
        t.join(10)
    assert sorted(sent) == ids, f"sent {sent}: a job went out twice"
