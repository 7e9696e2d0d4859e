"""Sending one email over SMTP: plain text plus optional HTML with inline images.

Alerts and the daily digest both go through :func:`send_email`. It builds a standards-shaped
message (``multipart/alternative`` with a text part and an HTML part; the HTML part is
``multipart/related`` when it carries inline PNGs referenced as ``cid:<name>``), connects with
plain SMTP, STARTTLS or implicit TLS as configured, authenticates when a username is set, and
turns every failure into a :class:`DeliveryError` whose message says what to fix and never
contains the password.

Usage::

    from oauthwatch.notify.mailer import send_email
    msg_id = send_email(settings.notify.smtp, to=["secops@example.com"], subject="Hi", text="Hello")
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING

from oauthwatch.secrets import redact, register_secret

if TYPE_CHECKING:
    from oauthwatch.config import SmtpSettings


class DeliveryError(Exception):
    """An email could not be delivered; the message says why and what to check."""


def build_message(
    sender: str,
    *,
    to: list[str],
    subject: str,
    text: str,
    html: str | None = None,
    inline_images: dict[str, bytes] | None = None,
) -> EmailMessage:
    """The email as an :class:`EmailMessage` (exposed so that tests and previews can inspect it).

    ``inline_images`` maps a content id (used in the HTML as ``cid:<id>``) to PNG bytes.
    """
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    # Subjects carry app names and alert titles from Salesforce: one line, so no header can be injected.
    msg["Subject"] = " ".join(subject.split())
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    domain = sender.rpartition("@")[2] or "localhost"
    msg["Message-ID"] = make_msgid(domain=domain)
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
        if inline_images:
            html_part = msg.get_body(preferencelist=("html",))
            assert html_part is not None  # add_alternative has just added it
            for cid, data in inline_images.items():
                html_part.add_related(
                    data, maintype="image", subtype="png", cid=f"<{cid}>", filename=f"{cid}.png"
                )
    elif inline_images:
        raise ValueError("inline images need an HTML part that references them")
    return msg


def _tls_context(smtp: SmtpSettings) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=str(smtp.ca_bundle) if smtp.ca_bundle else None)
    except (OSError, ssl.SSLError) as exc:
        raise DeliveryError(
            f"cannot load the SMTP CA bundle {smtp.ca_bundle}: {exc}; check notify.smtp.ca_bundle"
        ) from None


def send_email(
    smtp: SmtpSettings,
    *,
    to: list[str],
    subject: str,
    text: str,
    html: str | None = None,
    inline_images: dict[str, bytes] | None = None,
) -> str:
    """Send one email through the configured SMTP server and return its Message-ID.

    Raises :class:`DeliveryError` (never with the password in it) when there is no recipient,
    the server cannot be reached, TLS fails, authentication is refused or a recipient is rejected.
    """
    recipients = [r.strip() for r in to if r and r.strip()]
    if not recipients:
        raise DeliveryError("no recipient: set notify.email_to (or digest_to on the org)")
    msg = build_message(
        smtp.sender, to=recipients, subject=subject, text=text, html=html, inline_images=inline_images
    )
    where = f"{smtp.host}:{smtp.port} ({smtp.security})"
    password = smtp.password() if smtp.username else None
    secret = password.get_secret_value() if password else None
    register_secret(secret)
    try:
        _deliver(smtp, msg, recipients, secret)
    except DeliveryError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(
            f"SMTP server {where} refused the login of {smtp.username!r} ({exc.smtp_code}); "
            "check notify.smtp.username and the password in notify.smtp.password_env/password_file"
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryError(
            f"SMTP server {where} does not support what was asked ({_clean(exc, secret)}); "
            'try notify.smtp.security = "ssl" or "none", or remove notify.smtp.username'
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(sorted(exc.recipients))
        raise DeliveryError(f"SMTP server {where} refused the recipient(s) {refused}") from None
    except smtplib.SMTPSenderRefused as exc:
        raise DeliveryError(
            f"SMTP server {where} refused the sender {smtp.sender!r} ({exc.smtp_code}); "
            "check notify.smtp.sender"
        ) from None
    except ssl.SSLError as exc:
        raise DeliveryError(
            f"TLS with SMTP server {where} failed ({_clean(exc, secret)}); check notify.smtp.security "
            "(starttls on 587, ssl on 465) and notify.smtp.ca_bundle for a private CA"
        ) from None
    except TimeoutError:
        raise DeliveryError(
            f"SMTP server {where} did not answer within {smtp.timeout_seconds:g} s; "
            "check notify.smtp.host/port and the firewall"
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(
            f"cannot send mail through {where}: {_clean(exc, secret)}; "
            "check notify.smtp.host, port and security"
        ) from None
    return str(msg["Message-ID"])


def _deliver(smtp: SmtpSettings, msg: EmailMessage, recipients: list[str], secret: str | None) -> None:
    client: smtplib.SMTP
    if smtp.security == "ssl":
        client = smtplib.SMTP_SSL(
            smtp.host, smtp.port, timeout=smtp.timeout_seconds, context=_tls_context(smtp)
        )
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds)
    with client:
        client.ehlo()
        if smtp.security == "starttls":
            if not client.has_extn("starttls"):
                raise DeliveryError(
                    f"SMTP server {smtp.host}:{smtp.port} does not offer STARTTLS; set "
                    'notify.smtp.security = "ssl" (usually port 465) or "none" for a local relay'
                )
            client.starttls(context=_tls_context(smtp))
            client.ehlo()
        if smtp.username:
            if secret is None:
                raise DeliveryError(
                    f"notify.smtp.username is {smtp.username!r} but no password is configured; "
                    "set notify.smtp.password_env or notify.smtp.password_file"
                )
            client.login(smtp.username, secret)
        refused = client.send_message(msg, from_addr=smtp.sender, to_addrs=recipients)
        if refused:
            raise DeliveryError(
                f"SMTP server {smtp.host}:{smtp.port} refused the recipient(s) {', '.join(sorted(refused))}"
            )


def _clean(exc: BaseException, secret: str | None) -> str:
    text = str(exc) or type(exc).__name__
    if secret:
        text = text.replace(secret, "**********")
    return redact(text)
