"""The copyable incident summary of an investigation: plain Markdown, no secrets, UTC and local times."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from oauthwatch.store.queries import Window


def _top(df: pd.DataFrame | None, col: str, n: int = 5) -> str:
    if df is None or df.empty:
        return "none"
    return ", ".join(
        f"{v or '(none)'} ({e:,}, {f:,} failed)"
        for v, e, f in df.head(n)[[col, "events", "failures"]].itertuples(index=False)
    )


def incident_summary(
    w: Window,
    filters: dict[str, str],
    timeline: pd.DataFrame,
    breakdowns: dict[str, pd.DataFrame],
    audit: pd.DataFrame,
    alert: dict[str, Any] | None,
    tz: str,
) -> str:
    """A Markdown summary of what the investigation shows, for the incident record."""
    events = int(timeline["events"].sum()) if not timeline.empty else 0
    failures = int(timeline["failures"].sum()) if not timeline.empty else 0
    lines = ["## oauthwatch investigation"]
    if alert:
        lines.append(f"- Alert #{alert['id']} [{alert['severity']}] {alert['title']} ({alert['status']})")
    lines += [
        f"- Window: {w.start:%Y-%m-%d %H:%M} → {w.end:%Y-%m-%d %H:%M} UTC (display zone {tz})",
        f"- Orgs: {', '.join(w.orgs) or 'all'}",
        f"- Filters: {', '.join(f'{k}={v}' for k, v in filters.items()) or 'none'}",
        f"- Logins: {events:,}, failed: {failures:,} ({(failures / events if events else 0):.1%})",
    ]
    if not timeline.empty:
        peak = timeline.sort_values("events", ascending=False).iloc[0]
        lines.append(f"- Peak: {int(peak['events']):,} logins at {peak['t']:%Y-%m-%d %H:%M} UTC")
    for dim, label in (
        ("application", "Apps"),
        ("username", "Users"),
        ("source_ip", "IPs"),
        ("country_iso", "Countries"),
        ("status", "Statuses"),
    ):
        lines.append(f"- {label}: {_top(breakdowns.get(dim), dim)}")
    if audit is not None and not audit.empty:
        lines.append("- Setup changes in the window:")
        for row in audit.head(10).itertuples(index=False):
            lines.append(f"  - {row.created_date:%Y-%m-%d %H:%M} UTC {row.created_by}: {row.display}")
    return "\n".join(lines)
