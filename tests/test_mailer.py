"""The mailer against a real SMTP server (aiosmtpd on loopback): plain, STARTTLS with AUTH, SSL.

The SMTP sink and certificate helpers are in tests/smtp_helpers.py.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from oauthwatch.config import SmtpSettings
from oauthwatch.notify.mailer import DeliveryError, send_email
from tests.smtp_helpers import SmtpSink, free_port, self_signed

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


class _Auth:
    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user.encode(), password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.user
            and auth_data.password == self.password
        )
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_plain() -> Iterator[tuple[SmtpSink, SmtpSettings]]:
    sink = SmtpSink()
    port = free_port()
    ctl = Controller(sink, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        yield sink, SmtpSettings(host="127.0.0.1", port=port, security="none", sender="ow@example.com")
    finally:
        ctl.stop()


def _tls_server(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    cert, key = self_signed(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx, cert


def test_text_html_and_inline_images_arrive_as_sent(smtp_plain) -> None:
    sink, smtp = smtp_plain
    msg_id = send_email(
        smtp,
        to=["a@example.com", "b@example.com"],
        subject="Digest ✓",
        text="plain body",
        html='<p>html body</p><img src="cid:chart1">',
        inline_images={"chart1": PNG},
    )
    assert len(sink.messages) == 1
    got = sink.messages[0]
    assert got["Message-ID"] == msg_id
    assert got["Subject"] == "Digest ✓"
    assert sink.envelopes[0] == ("ow@example.com", ["a@example.com", "b@example.com"])
    assert got.get_content_type() == "multipart/alternative"
    assert got.get_body(("plain",)).get_content().strip() == "plain body"
    html = got.get_body(("html",))
    assert "html body" in html.get_content()
    related = got.get_payload()[1]
    assert related.get_content_type() == "multipart/related"
    images = [p for p in got.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1
    assert images[0]["Content-ID"] == "<chart1>"
    assert images[0].get_content() == PNG


def test_text_only_message_is_single_part(smtp_plain) -> None:
    sink, smtp = smtp_plain
    send_email(smtp, to=["a@example.com"], subject="s", text="only text")
    got = sink.messages[0]
    assert got.get_content_type() == "text/plain"
    assert got.get_content().strip() == "only text"


def test_no_recipient_is_an_actionable_error(smtp_plain) -> None:
    _, smtp = smtp_plain
    with pytest.raises(DeliveryError, match="email_to"):
        send_email(smtp, to=[" "], subject="s", text="t")


def test_unreachable_server_names_host_and_setting() -> None:
    smtp = SmtpSettings(host="127.0.0.1", port=free_port(), security="none", timeout_seconds=2)
    with pytest.raises(DeliveryError, match=r"127\.0\.0\.1:\d+.*notify\.smtp"):
        send_email(smtp, to=["a@example.com"], subject="s", text="t")


def test_starttls_with_auth_and_private_ca(tmp_path, monkeypatch) -> None:
    server_ctx, cert = _tls_server(tmp_path)
    sink = SmtpSink()
    port = free_port()
    ctl = Controller(
        sink,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_ctx,
        require_starttls=True,
        authenticator=_Auth("mailer", "s3cret-pass-word"),
        auth_require_tls=True,
        auth_required=True,
    )
    ctl.start()
    try:
        monkeypatch.setenv("OW_TEST_SMTP_PW", "s3cret-pass-word")
        base = SmtpSettings(
            host="localhost",
            port=port,
            security="starttls",
            username="mailer",
            password_env="OW_TEST_SMTP_PW",
            ca_bundle=cert,
            sender="ow@example.com",
            timeout_seconds=5,
        )
        send_email(base, to=["a@example.com"], subject="tls", text="over tls")
        assert [m["Subject"] for m in sink.messages] == ["tls"]

        # A wrong password is refused with a message that names the setting, never the password.
        monkeypatch.setenv("OW_TEST_SMTP_PW", "wrong-pass-word-123")
        with pytest.raises(DeliveryError) as err:
            send_email(base, to=["a@example.com"], subject="x", text="x")
        assert "refused the login" in str(err.value)
        assert "wrong-pass-word-123" not in str(err.value)
        assert "password_env" in str(err.value)

        # Without the private CA, the server's certificate is not trusted.
        monkeypatch.setenv("OW_TEST_SMTP_PW", "s3cret-pass-word")
        untrusted = base.model_copy(update={"ca_bundle": None})
        with pytest.raises(DeliveryError, match="ca_bundle"):
            send_email(untrusted, to=["a@example.com"], subject="x", text="x")
        assert len(sink.messages) == 1
    finally:
        ctl.stop()


def test_starttls_required_but_not_offered(smtp_plain) -> None:
    _, smtp = smtp_plain
    with pytest.raises(DeliveryError, match="does not offer STARTTLS"):
        send_email(
            smtp.model_copy(update={"security": "starttls"}), to=["a@example.com"], subject="s", text="t"
        )


def test_username_without_password_is_explained(smtp_plain) -> None:
    _, smtp = smtp_plain
    with pytest.raises(DeliveryError, match="password_env"):
        send_email(smtp.model_copy(update={"username": "u"}), to=["a@example.com"], subject="s", text="t")


def test_implicit_ssl(tmp_path) -> None:
    server_ctx, cert = _tls_server(tmp_path)
    sink = SmtpSink()
    port = free_port()
    ctl = Controller(sink, hostname="127.0.0.1", port=port, ssl_context=server_ctx)
    ctl.start()
    try:
        smtp = SmtpSettings(host="localhost", port=port, security="ssl", ca_bundle=cert, timeout_seconds=5)
        send_email(smtp, to=["a@example.com"], subject="ssl", text="over ssl")
        assert [m["Subject"] for m in sink.messages] == ["ssl"]
    finally:
        ctl.stop()


def test_a_subject_cannot_inject_headers(smtp_plain) -> None:
    sink, smtp = smtp_plain
    send_email(smtp, to=["a@example.com"], subject="App\r\nBcc: evil@example.com\nX: y", text="t")
    got = sink.messages[0]
    assert got["Subject"] == "App Bcc: evil@example.com X: y"
    assert got["Bcc"] is None
    assert sink.envelopes[0][1] == ["a@example.com"]
