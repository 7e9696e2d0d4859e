"""Sending the digest once per org and day, even across restarts and with several processes.

The ``digests_sent`` row for (org, day) is claimed *before* sending (an insert that only one
writer can win), completed with the Message-ID after the SMTP server accepted the message, and
released if sending failed so that the next attempt can try again. A claim left behind by a
process that died mid-send (no Message-ID) is taken over after :data:`STALE_CLAIM`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, delete, update
from sqlalchemy.exc import IntegrityError

from oauthwatch.notify.digest_data import local_yesterday, zone
from oauthwatch.store import schema as s
from oauthwatch.store.writes import ensure_org

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from oauthwatch.config import OrgSettings, Settings

log = logging.getLogger(__name__)

STALE_CLAIM = timedelta(minutes=15)


@dataclass(frozen=True)
class DigestOutcome:
    """What happened to one org's digest for one day."""

    org: str
    day: date
    status: str  # sent | already_sent | no_recipients | failed
    recipients: tuple[str, ...] = ()
    message_id: str | None = None
    error: str | None = None


def recipients_for(settings: Settings, org: OrgSettings) -> list[str]:
    """The org's own ``digest_to`` list, else ``notify.email_to``."""
    return list(org.digest_to or settings.notify.email_to)


def claim(engine: Engine, org: str, day: date, recipients: list[str], *, now: datetime | None = None) -> bool:
    """Reserve the (org, day) digest for this process; False when it is sent or being sent."""
    now = now or datetime.now(UTC)
    t = s.digests_sent
    with engine.begin() as conn:
        ensure_org(conn, org)
    try:
        with engine.begin() as conn:
            conn.execute(
                t.insert().values(org=org, day=day, sent_at=now, recipients=recipients, message_id=None)
            )
        return True
    except IntegrityError:
        pass
    with engine.begin() as conn:
        taken = conn.execute(
            update(t)
            .where(
                and_(
                    t.c.org == org, t.c.day == day, t.c.message_id.is_(None), t.c.sent_at < now - STALE_CLAIM
                )
            )
            .values(sent_at=now, recipients=recipients)
        ).rowcount
    return taken == 1


def complete(engine: Engine, org: str, day: date, message_id: str) -> None:
    """Record that the digest was accepted by the SMTP server."""
    t = s.digests_sent
    with engine.begin() as conn:
        conn.execute(
            update(t)
            .where(t.c.org == org, t.c.day == day)
            .values(message_id=message_id, sent_at=datetime.now(UTC))
        )


def release(engine: Engine, org: str, day: date) -> None:
    """Give up a claim after a failed send, so that a later attempt can send."""
    t = s.digests_sent
    with engine.begin() as conn:
        conn.execute(delete(t).where(t.c.org == org, t.c.day == day, t.c.message_id.is_(None)))


def send_digest(engine: Engine, settings: Settings, org: str, day: date) -> DigestOutcome:
    """Build and send ``org``'s digest for ``day`` unless it was already sent."""
    from oauthwatch.notify.digest import build_digest
    from oauthwatch.notify.mailer import DeliveryError, send_email

    to = recipients_for(settings, settings.org(org))
    if not to:
        return DigestOutcome(org, day, "no_recipients", error="set digest_to on the org or notify.email_to")
    if not claim(engine, org, day, to):
        return DigestOutcome(org, day, "already_sent", tuple(to))
    try:
        digest = build_digest(engine, settings, org, day)
        message_id = send_email(
            settings.notify.smtp,
            to=to,
            subject=digest.subject,
            text=digest.text,
            html=digest.html,
            inline_images=digest.images,
        )
    except DeliveryError as exc:
        release(engine, org, day)
        log.warning("digest for %s on %s not sent: %s", org, day, exc)
        return DigestOutcome(org, day, "failed", tuple(to), error=str(exc))
    except BaseException:
        release(engine, org, day)
        raise
    complete(engine, org, day, message_id)
    log.info("digest for %s on %s sent to %d recipient(s)", org, day, len(to))
    return DigestOutcome(org, day, "sent", tuple(to), message_id)


def digest_due(settings: Settings, now: datetime | None = None) -> date | None:
    """The day whose digest is due at ``now`` (local yesterday once digest_time has passed), else None."""
    now = now or datetime.now(UTC)
    local = now.astimezone(zone(settings.notify.digest_timezone))
    if local.time() < settings.notify.digest_time:
        return None
    return local_yesterday(settings.notify.digest_timezone, now)


def send_due_digests(engine: Engine, settings: Settings, now: datetime | None = None) -> list[DigestOutcome]:
    """Send every enabled org's digest that is due and not yet sent (the service calls this)."""
    day = digest_due(settings, now)
    if day is None:
        return []
    return [
        send_digest(engine, settings, org.name, day)
        for org in settings.selected_orgs()
        if recipients_for(settings, org)
    ]
