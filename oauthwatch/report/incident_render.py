"""Write the incident report: a self-contained HTML page, the evidence as CSV, and a manifest.

The HTML has no script, no external stylesheet, font or image, so it opens the same on a laptop
without network as in a ticket attachment. Everything rendered is escaped (Jinja2 autoescape):
app names, statuses and user agents come from Salesforce and attackers. The CSV cells that start
with ``= + - @`` are quoted away so a spreadsheet never runs them. ``MANIFEST.sha256`` lists every
file with its SHA-256 in ``sha256sum`` format (``sha256sum -c MANIFEST.sha256`` verifies it). A table
whose figures the store cannot know (``Table.absent``) says why in the page and has no file.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from oauthwatch.report.incident_data import IncidentData

HTML_ROW_LIMIT = 2000
MANIFEST = "MANIFEST.sha256"


def cell(value: Any) -> str:
    """One value as text: times in UTC ISO 8601, None as empty."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)


def _csv_text(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["'" + c if c and c[0] in "=+-@" else c for c in (cell(r.get(k)) for k in columns)])
    return buf.getvalue()


def _summary(d: IncidentData) -> list[tuple[str, Any]]:
    timeline = d.table("timeline").rows
    classes: dict[str, int] = {}
    for r in d.table("ips").rows:
        classes[r["network_class"]] = classes.get(r["network_class"], 0) + 1
    return [
        ("authentications", len(timeline)),
        ("failed", sum(1 for r in timeline if not r["success"])),
        ("users", len(d.table("users").rows)),
        ("addresses", len(d.table("ips").rows)),
        *((f"{k} addresses", v) for k, v in sorted(classes.items()) if k != "other"),
        ("live grants", len(d.table("grants").rows)),
        ("API requests", sum(r["requests"] for r in d.table("data_movement").rows)),
        ("API calls logged", sum(r["calls"] for r in d.table("api_calls").rows)),
        *_exported(d),
        ("alerts", len(d.table("alerts").rows)),
        ("response actions", len(d.table("response_actions").rows)),
    ]


def _exported(d: IncidentData) -> list[tuple[str, Any]]:
    """The rows and bytes the app exported, or that they are unknown (never a zero for unknown)."""
    exports = d.table("exports")
    if exports.absent:
        return [("rows and bytes exported: not logged (no Event Monitoring data)", "unknown")]
    return [
        ("rows exported", sum(r["rows"] for r in exports.rows)),
        ("bytes exported", sum(r["bytes"] for r in exports.rows)),
    ]


def render_html(d: IncidentData) -> str:
    """The report page."""
    env = Environment(
        loader=PackageLoader("oauthwatch.report", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True),
        undefined=StrictUndefined,
    )
    env.filters["cell"] = cell
    env.filters["t"] = lambda v: v.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return env.get_template("incident.html.j2").render(d=d, summary=_summary(d), limit=HTML_ROW_LIMIT)


def write_report(d: IncidentData, out: Path) -> dict[str, str]:
    """Write report.html, one CSV per table and the manifest into ``out``; returns {file: sha256}."""
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {"report.html": render_html(d).encode()}
    for t in d.tables:
        if not t.absent:  # no file of figures the store cannot know
            files[f"{t.name}.csv"] = _csv_text(t.columns, t.rows).encode()
    hashes: dict[str, str] = {}
    for name, data in files.items():
        (out / name).write_bytes(data)
        hashes[name] = hashlib.sha256(data).hexdigest()
    (out / MANIFEST).write_text("".join(f"{h}  {n}\n" for n, h in sorted(hashes.items())))
    return hashes
