"""The daily digest email: one org, one local day, as HTML (with inline charts) and plain text.

:func:`build_digest` is what both the mailer (``oauthwatch digest --send``, the service) and the
dashboard's Digest preview page call, so what is previewed is exactly what is sent. Templates are
Jinja2 with autoescaping on for HTML: app names, statuses and alert titles come from Salesforce
and from users, and are rendered as text, never as markup.

Usage::

    from oauthwatch.notify.digest import build_digest
    digest = build_digest(engine, settings, "prod", date(2026, 11, 28))
    digest.subject, digest.text, digest.html, digest.images   # images: {content id: PNG bytes}
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from typing import TYPE_CHECKING

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from oauthwatch.notify.digest_data import DigestData, collect_digest_data, page_url, zone

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from oauthwatch.config import Settings

_SEVERITY_COLOURS = {
    "critical": "#8b1a10",
    "high": "#c8402f",
    "medium": "#d08a1e",
    "low": "#4a7fb5",
    "info": "#6b7785",
}


@dataclass(frozen=True)
class Digest:
    """A rendered digest: what the email carries, plus the numbers it was made from."""

    org: str
    day: date
    subject: str
    text: str
    html: str
    images: dict[str, bytes] = field(repr=False)
    data: DigestData = field(repr=False)

    def html_with_embedded_images(self) -> str:
        """The HTML with ``cid:`` references replaced by data: URIs, for a browser preview or a file."""
        html = self.html
        for cid, png in self.images.items():
            html = html.replace(f"cid:{cid}", "data:image/png;base64," + base64.b64encode(png).decode())
        return html


def _num(value: float | int | None) -> str:
    return "–" if value is None else f"{int(value):,}"


def _avg(value: float) -> str:
    return f"{value:,.1f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _change(now: float, before: float) -> str:
    if before == 0:
        return "new" if now else "±0%"
    rel = now / before - 1
    return f"{rel * 100:+.0f}%"


def _listing(items: list[str], limit: int = 15) -> str:
    if not items:
        return "none"
    head = ", ".join(items[:limit])
    return head + (f" and {len(items) - limit} more" if len(items) > limit else "")


@cache
def _env(timezone: str) -> Environment:
    tz = zone(timezone)
    env = Environment(
        loader=PackageLoader("oauthwatch.notify", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters.update(
        num=_num,
        avg=_avg,
        pct=_pct,
        local=lambda ts: "–" if ts is None else ts.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z"),
    )
    env.globals.update(
        change=_change,
        listing=_listing,
        severity_colour=lambda sev: _SEVERITY_COLOURS.get(sev, "#44505c"),
    )
    return env


def subject_for(d: DigestData) -> str:
    """The email subject: org, day, and the one-line state (alerts, incomplete collection)."""
    parts = [f"oauthwatch · {d.org} · {d.window.day.isoformat()}: {d.events:,} authentications"]
    if d.new_alerts:
        parts.append(f"{len(d.new_alerts)} new alert{'s' if len(d.new_alerts) != 1 else ''}")
    if d.open_alert_total:
        parts.append(f"{d.open_alert_total} still open")
    if not d.coverage_complete:
        parts.append("collection incomplete")
    return ", ".join(parts)


def render_digest(d: DigestData, dashboard_url: str, *, charts: bool = True) -> Digest:
    """Render collected figures into the email's subject, text, HTML and inline images."""
    from oauthwatch.notify import digest_charts

    images: dict[str, bytes] = {}
    cids: dict[str, str] = {}
    if charts:
        stamp = f"{d.org}.{d.window.day:%Y%m%d}"
        cids["daily"] = f"daily.{stamp}@oauthwatch"
        images[cids["daily"]] = digest_charts.daily_chart(d.daily)
        if d.busiest_apps:
            cids["apps"] = f"apps.{stamp}@oauthwatch"
            images[cids["apps"]] = digest_charts.apps_chart(d.busiest_apps)
    subject = subject_for(d)
    day = d.window.day
    ctx = {
        "d": d,
        "subject": subject,
        "images": {"daily": cids.get("daily"), "apps": cids.get("apps")},
        # The Overview is the default page, served at the root.
        "overview_url": page_url(dashboard_url, "", org=d.org, range="custom", start=str(day), end=str(day)),
        "alerts_url": page_url(dashboard_url, "alerts", org=d.org, status="open"),
    }
    env = _env(d.window.timezone)
    html = env.get_template("digest.html.j2").render(ctx)
    text = env.get_template("digest.txt.j2").render(ctx)
    return Digest(d.org, d.window.day, subject, text, html, images, d)


def build_digest(
    engine: Engine, settings: Settings, org: str, day: date, *, now: datetime | None = None
) -> Digest:
    """The digest of ``org`` for the local ``day`` (in ``notify.digest_timezone``), read from the store."""
    data = collect_digest_data(engine, settings, settings.org(org), day, now=now or datetime.now(UTC))
    return render_digest(data, settings.notify.dashboard_url)
