"""Revoke an app's OAuth grants: plan (a dry run), then revoke each grant and record the answer.

Salesforce documents the revoke endpoint (docs/incident-response.md has the citations):
``POST https://MyDomain.my.salesforce.com/services/oauth2/revoke`` with the form body
``token=<token>``; ``OauthToken.DeleteToken`` is the token to send for a grant. Success is HTTP
200 with an empty body; an error is HTTP 400 with ``unsupported_token_type`` or ``invalid_token``.
Revoking the refresh token ends its access tokens too, and the next refresh with it fails with
``invalid_grant`` / ``expired access/refresh token``.

Nothing is revoked unless ``[response] allow_revoke = true``; a dry run always works and is
recorded like a revocation, so the record shows who looked before who acted. oauthwatch's own
integration user is never revoked (that would end monitoring in the middle of an incident).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import insert

from oauthwatch.response.grants_live import LiveGrant, live_grants, resolve_app, resolve_user
from oauthwatch.secrets import redact
from oauthwatch.store import schema
from oauthwatch.store.writes import ensure_org, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from collectors.api.client import SalesforceClient
    from oauthwatch.config import OrgSettings, Settings

log = logging.getLogger(__name__)
REVOKE_PATH = "/services/oauth2/revoke"


class RevokeNotAllowed(PermissionError):
    """Revocation is off in the configuration."""


@dataclass(frozen=True)
class Outcome:
    """What happened to one grant."""

    grant: LiveGrant
    outcome: Literal["dry_run", "revoked", "failed", "skipped"]
    status_code: int | None = None
    answer: str = ""


@dataclass
class RevokeReport:
    """One revoke run: the app, the grants it found, and what happened to each."""

    org: str
    app_id: str
    app_name: str
    dry_run: bool
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        """How many grants ended with ``outcome``."""
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    def summary(self) -> str:
        """One line for the CLI and the dashboard."""
        if self.dry_run:
            return f"dry run: {self.count('dry_run')} grant(s) of {self.app_name} ({self.app_id}) would be revoked in {self.org}"
        return (
            f"{self.count('revoked')} grant(s) of {self.app_name} ({self.app_id}) revoked in {self.org}, "
            f"{self.count('failed')} failed, {self.count('skipped')} skipped"
        )


def _post_revoke(client: SalesforceClient, grant: LiveGrant) -> tuple[int, str]:
    """Send one DeleteToken to the revoke endpoint; (HTTP status, Salesforce's answer)."""
    sf = client.sf
    url = f"https://{sf.sf_instance}{REVOKE_PATH}"
    resp = sf.session.post(
        url,
        data={"token": grant.delete_token.get_secret_value()},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=client.timeout,
    )
    body = resp.text.replace(grant.delete_token.get_secret_value(), "[DeleteToken]")
    return resp.status_code, redact(f"HTTP {resp.status_code} {body}".strip())[:2000]


def revoke_app(
    engine: Engine,
    settings: Settings,
    org: OrgSettings,
    client: SalesforceClient,
    *,
    app: str,
    user: str | None = None,
    dry_run: bool = True,
    by: str,
    via: str = "cli",
    confirmed: frozenset[str] | None = None,
    now: datetime | None = None,
) -> RevokeReport:
    """Revoke (or, in a dry run, list) the live grants of ``app`` (for ``user`` only if given).

    ``confirmed``: the token hashes of the grants a person confirmed after the dry run; a grant
    that appeared since is left alone (skipped), so exactly what was shown is what is revoked.
    """
    if not dry_run and not settings.response.allow_revoke:
        raise RevokeNotAllowed(
            "revoking is off: set `[response] allow_revoke = true` in the configuration "
            "(a dry run, `--dry-run`, always works)"
        )
    ref = resolve_app(client, app)
    user_id = resolve_user(client, user) if user else None
    grants = live_grants(client, ref, user_id)
    report = RevokeReport(org.name, ref.app_id, ref.name, dry_run)
    for g in grants:
        if org.username and g.username.casefold() == org.username.casefold():
            report.outcomes.append(
                Outcome(g, "skipped", None, "oauthwatch's own integration user: not revoked")
            )
        elif dry_run:
            report.outcomes.append(Outcome(g, "dry_run"))
        elif confirmed is not None and g.token_hash not in confirmed:
            report.outcomes.append(Outcome(g, "skipped", None, "not in the confirmed dry run: not revoked"))
        else:
            try:
                status, answer = _post_revoke(client, g)
            except Exception as exc:  # noqa: BLE001 - a network error is an answer to record, not a crash
                status, answer = None, redact(f"{type(exc).__name__}: {exc}")[:2000]
            ok = status == 200
            report.outcomes.append(Outcome(g, "revoked" if ok else "failed", status, answer))
            log.info("revoke %s grant of %s for %s: %s", ref.name, g.token_hash[:12], g.user_id, answer[:200])
    _record(engine, report, by=by, via=via, now=now or utcnow())
    return report


def org_client(settings: Settings, org_name: str) -> tuple[OrgSettings, SalesforceClient]:
    """The org's settings and a Salesforce client on its configured credentials.

    Built here so that callers which otherwise only read the store (the dashboard's revoke
    button) reach Salesforce through ``response`` and never import the collectors themselves.
    """
    from collectors.api.client import SalesforceClient
    from collectors.auth import provider_for

    org = settings.org(org_name)
    return org, SalesforceClient(provider_for(org), timeout=settings.collect.request_timeout_seconds)


def revoke_in_org(engine: Engine, settings: Settings, org_name: str, **options: Any) -> RevokeReport:
    """:func:`revoke_app` (``app=``, ``dry_run=``, ``by=``… as there) in the configured org ``org_name``."""
    org, client = org_client(settings, org_name)
    return revoke_app(engine, settings, org, client, **options)


def _record(engine: Engine, report: RevokeReport, *, by: str, via: str, now: datetime) -> None:
    rows = [
        {
            "org": report.org,
            "action": "revoke",
            "app_id": report.app_id,
            "app_name": report.app_name[:255],
            "user_id": o.grant.user_id[:18],
            "username": o.grant.username[:255] or None,
            "grant_created": o.grant.created,
            "token_hash": o.grant.token_hash,
            "dry_run": report.dry_run,
            "requested_by": by[:255],
            "requested_at": now,
            "via": via,
            "outcome": o.outcome,
            "status_code": o.status_code,
            "answer": o.answer or None,
        }
        for o in report.outcomes
    ]
    with engine.begin() as conn:
        ensure_org(conn, report.org)
        if rows:
            conn.execute(insert(schema.response_actions), rows)
