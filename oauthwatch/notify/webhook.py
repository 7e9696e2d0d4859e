"""Slack-compatible webhook delivery of one alert (Slack, Mattermost, Teams workflows, Rocket.Chat).

The payload is ``{"text": …, "blocks": […]}``: ``text`` is the notification fallback, the blocks
carry title, explanation, evidence and runbook. Every piece of alert text is escaped for Slack
mrkdwn (``&``, ``<``, ``>``), so an app name like ``<!channel>`` or ``<http://evil|click>`` cannot
ping a channel or forge a link. The webhook URL is itself a secret (it carries a token): it is
registered with the redactor and never appears in errors, logs or the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from oauthwatch.secrets import redact, register_secret

SEVERITY_EMOJI = {
    "info": ":information_source:",
    "low": ":small_blue_diamond:",
    "medium": ":warning:",
    "high": ":rotating_light:",
    "critical": ":fire:",
}


class WebhookError(Exception):
    """The webhook did not accept the alert; the message never contains the URL's token."""


def slack_escape(text: object) -> str:
    """Escape ``&``, ``<`` and ``>`` as Slack's mrkdwn requires (and redact anything token-shaped)."""
    return redact(str(text)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def safe_target(url: str) -> str:
    """What may be stored and shown about a webhook URL: scheme and host, never the path's token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{':' + str(parts.port) if parts.port else ''}/…"


def alert_payload(
    alert: Mapping[str, Any], *, reason: str = "new", dashboard_url: str | None = None
) -> dict[str, Any]:
    """The Slack-compatible JSON for one alert row (a mapping with the ``alerts`` table's columns)."""
    sev = str(alert["severity"])
    head = f"{SEVERITY_EMOJI.get(sev, '')} [{sev.upper()}] {alert['title']}".strip()
    if reason == "escalated":
        head += " (escalated)"
    evidence = alert.get("evidence") or {}
    ev_lines = "\n".join(
        f"• *{slack_escape(k)}*: {slack_escape(v)}" for k, v in evidence.items() if v not in (None, "")
    )
    runbook = alert.get("runbook") or []
    steps = "\n".join(f"{i}. {slack_escape(s)}" for i, s in enumerate(runbook, 1))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": slack_escape(head)[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": slack_escape(alert["explanation"])[:2900]}},
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"org *{slack_escape(alert['org'])}* · {slack_escape(alert['subject_type'])} "
                    f"*{slack_escape(alert['subject'])}* · detector `{slack_escape(alert['detector'])}` · alert #{alert['id']}",
                }
            ],
        },
    ]
    if ev_lines:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Evidence*\n" + ev_lines[:2900]}}
        )
    if steps:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": "*What to check*\n" + steps[:2900]}}
        )
    if dashboard_url:
        link = f"{dashboard_url.rstrip('/')}/alerts?alert={alert['id']}"
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"<{slack_escape(link)}|Open in oauthwatch>"},
            }
        )
    return {"text": slack_escape(f"[{sev.upper()}] {alert['title']} ({alert['org']})"), "blocks": blocks}


def post_webhook(url: str, payload: Mapping[str, Any], *, timeout: float = 10.0) -> None:
    """POST ``payload`` as JSON; raise :class:`WebhookError` on any failure (URL never in the message).

    The target is checked again here (a URL from an environment variable, a name that resolves to
    a metadata address), redirects are not followed (a 3xx is an error: it could lead anywhere),
    and ``timeout`` bounds the connection and each read.
    """
    from oauthwatch.notify.webhook_target import WebhookTargetError, check_resolved, check_url

    register_secret(url)
    where = safe_target(url)
    try:
        check_url(url)
        check_resolved(url)
    except WebhookTargetError as exc:
        raise WebhookError(f"webhook {where} refused: the URL {exc}; check notify.webhook_url") from None
    try:
        resp = requests.post(url, json=payload, timeout=(min(timeout, 5.0), timeout), allow_redirects=False)
    except requests.RequestException as exc:
        raise WebhookError(
            f"webhook {where} unreachable: {redact(type(exc).__name__)}; check notify.webhook_url"
        ) from None
    if 300 <= resp.status_code < 400:
        raise WebhookError(
            f"webhook {where} answered a redirect (HTTP {resp.status_code}), which is not followed: "
            "configure the final URL"
        )
    if resp.status_code >= 300:
        body = redact(resp.text[:200]).replace(url, "…")
        raise WebhookError(f"webhook {where} answered HTTP {resp.status_code}: {body}")
