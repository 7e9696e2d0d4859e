"""Delivering alerts: queue a notification per channel for new and escalated alerts, send later.

The alert lifecycle writes an outbox row (:mod:`oauthwatch.detect.outbox`) in the same
transaction that records an alert change, so a notification can never be lost between "alert
opened" and "mail sent"; :func:`drain_outbox` turns those rows into one delivery per channel
Detection never imports this module. Sending (:func:`deliver_pending`) takes what is due, sends each by email (:func:`oauthwatch.notify.mailer.send_email`)
or webhook (:func:`oauthwatch.notify.webhook.post_webhook`), and records the outcome in
``alert_deliveries``. A failure is never fatal and never dropped: it is recorded with its
(redacted) error and retried with exponential backoff (1, 2, 4 … minutes, at most 6 hours apart)
until it succeeds.

Rules: only alerts at or above ``notify.min_severity``; not while suppressed (a notification
queued before the alert was suppressed is recorded with status ``suppressed``, not sent); a reopened alert
is not re-sent within ``notify.cooldown_minutes`` of its last notification (flapping), while an
escalation always is.
"""

from __future__ import annotations

import html
import logging
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, insert, or_, select, update

from oauthwatch.detect.base import severity_rank
from oauthwatch.secrets import redact, register_secret
from oauthwatch.store import schema
from oauthwatch.store.writes import utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from oauthwatch.config import Settings

log = logging.getLogger(__name__)
BASE_BACKOFF = timedelta(minutes=1)
MAX_BACKOFF = timedelta(hours=6)
SEND_LEASE = timedelta(minutes=10)
DELIVERY_TIMEOUT = 10.0  # seconds: connection and each read of one webhook delivery


def webhook_urls(settings: Settings) -> list[str]:
    """Every configured webhook URL (the env var's, ``webhook_url``, ``webhook_urls``), registered as secrets."""
    n = settings.notify
    env = os.environ.get(n.webhook_url_env) if n.webhook_url_env else None
    urls = list(dict.fromkeys(u for u in (env or n.webhook_url, *n.webhook_urls) if u))
    for url in urls:
        register_secret(url)
    return urls


def webhook_url(settings: Settings) -> str | None:
    """The first configured webhook URL (see :func:`webhook_urls`)."""
    urls = webhook_urls(settings)
    return urls[0] if urls else None


def _webhook_for(settings: Settings, target: str) -> str | None:
    """The configured URL a delivery's ``target`` stands for (the target never holds the token)."""
    from oauthwatch.notify.webhook import safe_target
    from oauthwatch.notify.webhook_target import target_id

    urls = webhook_urls(settings)
    for url in urls:
        if target_id(url) == target:
            return url
    older = [u for u in urls if safe_target(u) == target]  # queued before targets had fingerprints
    return older[0] if len(older) == 1 else None


def _channels(settings: Settings) -> list[tuple[str, str]]:
    from oauthwatch.notify.webhook_target import target_id

    out = []
    if settings.notify.email_to:
        out.append(("email", ", ".join(settings.notify.email_to)[:255]))
    out += [("webhook", target_id(url)) for url in webhook_urls(settings)]
    return out


def drain_outbox(engine: Engine, settings: Settings, *, now: datetime | None = None) -> int:
    """Turn the alert lifecycle's outbox rows into deliveries; returns how many were queued.

    Each row is judged as of when the lifecycle wrote it (suppression, cooldown), then marked
    drained in the same transaction as its deliveries, so a crash never queues one twice.
    """
    now = now or utcnow()
    o = schema.alert_outbox
    channels = _channels(settings)
    queued = 0
    with engine.begin() as conn:
        rows = conn.execute(
            select(o.c.id, o.c.alert_id, o.c.reason, o.c.created_at)
            .where(o.c.drained_at.is_(None))
            .order_by(o.c.id)
        ).all()
        for row_id, alert_id, reason, created_at in rows:
            if channels:
                queued += _queue(conn, alert_id, reason, channels, settings, now=created_at)
            conn.execute(update(o).where(o.c.id == row_id).values(drained_at=now))
    return queued


def _queue(
    conn: Connection,
    alert_id: int,
    reason: str,
    channels: list[tuple[str, str]],
    settings: Settings,
    *,
    now: datetime,
) -> int:
    """Queue one alert change on every channel, unless the notification rules say not to."""
    a, d = schema.alerts, schema.alert_deliveries
    alert = conn.execute(select(a).where(a.c.id == alert_id)).mappings().first()
    if alert is None:
        return 0
    if severity_rank(alert["severity"]) < severity_rank(settings.notify.min_severity):
        return 0
    if alert["suppressed_until"] is not None and alert["suppressed_until"] > now:
        return 0
    if reason == "reopened":
        cooldown = timedelta(minutes=settings.notify.cooldown_minutes)
        recent = conn.execute(
            select(d.c.id).where(d.c.alert_id == alert_id, d.c.created_at > now - cooldown).limit(1)
        ).first()
        if recent is not None:
            return 0
    for channel, target in channels:
        conn.execute(
            insert(d).values(
                alert_id=alert_id,
                channel=channel,
                target=target,
                reason="escalated" if reason == "escalated" else "new",
                status="pending",
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
        )
    conn.execute(update(a).where(a.c.id == alert_id).values(notified_severity=alert["severity"]))
    return len(channels)


def email_content(
    alert: Mapping[str, Any], *, reason: str, dashboard_url: str | None
) -> tuple[str, str, str]:
    """``(subject, text, html)`` for one alert; the HTML is escaped, nothing token-shaped survives."""
    sev = str(alert["severity"]).upper()
    subject = redact(
        f"[oauthwatch] {sev}: {alert['title']} ({alert['org']})"
        + (" — escalated" if reason == "escalated" else "")
    )
    subject = subject.replace("\r", " ").replace("\n", " ")[:200]
    evidence = alert.get("evidence") or {}
    runbook = alert.get("runbook") or []
    link = f"{dashboard_url.rstrip('/')}/alerts?alert={alert['id']}" if dashboard_url else ""
    lines = [
        f"{sev}: {alert['title']}",
        f"org {alert['org']} · {alert['subject_type']} {alert['subject']} · detector {alert['detector']} · alert #{alert['id']}",
        "",
        str(alert["explanation"]),
        "",
        "Evidence:",
        *(f"  {k}: {v}" for k, v in evidence.items() if v not in (None, "")),
        "",
        "What to check:",
        *(f"  {i}. {s}" for i, s in enumerate(runbook, 1)),
    ]
    if link:
        lines += ["", f"Open in oauthwatch: {link}"]
    text = redact("\n".join(lines))
    e = lambda v: html.escape(redact(str(v)))  # noqa: E731 - one short local escaper
    rows = "".join(
        f"<tr><th align='left'>{e(k)}</th><td>{e(v)}</td></tr>"
        for k, v in evidence.items()
        if v not in (None, "")
    )
    steps = "".join(f"<li>{e(s)}</li>" for s in runbook)
    body = (
        f"<html><body><h2>{e(sev)}: {e(alert['title'])}</h2>"
        f"<p>org <b>{e(alert['org'])}</b> · {e(alert['subject_type'])} <b>{e(alert['subject'])}</b> · "
        f"detector <code>{e(alert['detector'])}</code> · alert #{e(alert['id'])}</p>"
        f"<p>{e(alert['explanation'])}</p>"
        + (f"<h3>Evidence</h3><table>{rows}</table>" if rows else "")
        + (f"<h3>What to check</h3><ol>{steps}</ol>" if steps else "")
        + (f'<p><a href="{e(link)}">Open in oauthwatch</a></p>' if link else "")
        + "</body></html>"
    )
    return subject, text, body


def _send(channel: str, alert: Mapping[str, Any], reason: str, settings: Settings, target: str = "") -> None:
    dashboard = settings.notify.dashboard_url
    if channel == "email":
        from oauthwatch.notify.mailer import send_email

        subject, text, body = email_content(alert, reason=reason, dashboard_url=dashboard)
        send_email(
            settings.notify.smtp, to=list(settings.notify.email_to), subject=subject, text=text, html=body
        )
    elif channel == "webhook":
        from oauthwatch.notify.webhook import WebhookError, alert_payload, post_webhook

        url = _webhook_for(settings, target)
        if not url:
            raise WebhookError("this webhook is not configured any more (notify.webhook_url / webhook_urls)")
        post_webhook(
            url, alert_payload(alert, reason=reason, dashboard_url=dashboard), timeout=DELIVERY_TIMEOUT
        )
    else:
        raise ValueError(f"unknown channel {channel!r}")


def backoff(attempts: int) -> timedelta:
    """Delay before the next try after ``attempts`` failures: 1, 2, 4 … minutes, capped at 6 hours."""
    return min(MAX_BACKOFF, BASE_BACKOFF * (2 ** max(0, attempts - 1)))


def deliver_pending(
    engine: Engine, settings: Settings, *, now: datetime | None = None, limit: int = 200, workers: int = 8
) -> int:
    """Drain the alert outbox, then send every due notification; returns how many were sent.

    Deliveries go out concurrently (``workers`` at a time), each bounded by
    :data:`DELIVERY_TIMEOUT`, so dead endpoints cost one timeout per pass, not one per delivery.
    Each job's lease is taken at the moment it is sent, on the pass's clock (``now`` plus the time
    the pass has taken): a long pass cannot hold an already expired lease, and a job another sender
    leased in the meantime is skipped, so nothing is sent twice. Never raises for a failed send.
    """
    now = now or utcnow()
    started = time.monotonic()

    def clock() -> datetime:
        return now + timedelta(seconds=time.monotonic() - started)

    drain_outbox(engine, settings, now=now)
    d = schema.alert_deliveries
    with engine.connect() as conn:
        due = (
            conn.execute(
                select(d)
                .where(
                    d.c.status.in_(["pending", "failed", "sending"]),
                    or_(d.c.next_attempt_at.is_(None), d.c.next_attempt_at <= now),
                )
                .order_by(d.c.id)
                .limit(limit)
            )
            .mappings()
            .all()
        )
    if not due:
        return 0
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(due))), thread_name_prefix="deliver") as pool:
        return sum(pool.map(lambda job: _deliver_one(engine, settings, job, now, clock), due))


def _deliver_one(
    engine: Engine, settings: Settings, job: Mapping[str, Any], now: datetime, clock: Callable[[], datetime]
) -> int:
    a, d = schema.alerts, schema.alert_deliveries
    with engine.connect() as conn:
        alert = conn.execute(select(a).where(a.c.id == job["alert_id"])).mappings().first()
    values: dict[str, Any]
    if alert is None:
        return 0  # deleted with its org (ON DELETE CASCADE removes the delivery too)
    if alert["suppressed_until"] is not None and alert["suppressed_until"] > now:
        # Suppressed after it was queued: recorded as such, not sent (suppression silences).
        with engine.begin() as conn:
            conn.execute(
                update(d)
                .where(d.c.id == job["id"], d.c.status == job["status"])
                .values(
                    status="suppressed", next_attempt_at=None, last_error="alert suppressed before sending"
                )
            )
        return 0
    claim_at = clock()
    lease = claim_at + SEND_LEASE
    with engine.begin() as conn:
        # The lease: unchanged since read, and not leased by another sender since (its lease
        # would end after claim_at); a sender that dies mid-send leaves a lease that expires.
        claimed = conn.execute(
            update(d)
            .where(
                d.c.id == job["id"],
                d.c.status == job["status"],
                d.c.attempts == job["attempts"],
                or_(d.c.next_attempt_at.is_(None), d.c.next_attempt_at <= claim_at),
            )
            .values(status="sending", next_attempt_at=lease)
        ).rowcount
    if not claimed:
        return 0
    try:
        _send(job["channel"], dict(alert), job["reason"], settings, job["target"] or "")
    except Exception as exc:  # noqa: BLE001 - a failed delivery is recorded and retried, never fatal
        attempts = job["attempts"] + 1
        error = redact(f"{type(exc).__name__}: {exc}")[:1000]
        log.warning(
            "alert #%s %s delivery failed (attempt %d): %s", job["alert_id"], job["channel"], attempts, error
        )
        values = {
            "status": "failed",
            "attempts": attempts,
            "last_error": error,
            "next_attempt_at": now + backoff(attempts),
        }
        sent = 0
    else:
        values = {
            "status": "sent",
            "attempts": job["attempts"] + 1,
            "sent_at": now,
            "next_attempt_at": None,
        }
        sent = 1
    with engine.begin() as conn:
        conn.execute(
            update(d)
            .where(and_(d.c.id == job["id"], d.c.status == "sending", d.c.next_attempt_at == lease))
            .values(**values)
        )
    return sent
