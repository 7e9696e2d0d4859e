"""``oauthwatch status``: per org and source, what is stored, how far it got, and how it went.

Reads only the store (never Salesforce), so it answers even when an org is unreachable. Each row:
org, source, rows stored, cursor, last run (time, outcome, why it stopped), lag (now minus the
cursor for event sources), coverage of the last 7 days, and the API calls used today.

Usage::

    from collectors.run.status import status_rows
    for row in status_rows(engine): print(row["org"], row["source"], row["lag_seconds"])
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import func, select

from collectors.sources.registry import LOGIN_SOURCES, SOURCES
from oauthwatch.rules.times import as_utc
from oauthwatch.rules.times import as_utc_or_none as _aware
from oauthwatch.store import schema

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine


def _stored(conn: Connection) -> dict[tuple[str, str], int]:
    """Rows stored per (org, source): its login rows and the tables it declares ``counted`` (of a
    daily snapshot, the latest day only)."""
    out: Counter[tuple[str, str]] = Counter()
    lg = schema.logins.c
    for org, src, n in conn.execute(select(lg.org, lg.source, func.count()).group_by(lg.org, lg.source)):
        out[(org, LOGIN_SOURCES.get(src, src))] += n
    for source, cls in SOURCES.items():
        for name in cls.counted:
            t = schema.metadata.tables[name].c
            q = select(t.org, func.count()).group_by(t.org)
            kind = getattr(cls, "app_kind", None)  # connected_apps holds two sources' rows, by kind
            if kind and "kind" in t:
                q = q.where(t.kind == kind)
            if "snapshot_day" in t:
                latest = select(t.org, func.max(t.snapshot_day).label("day")).group_by(t.org).subquery()
                q = q.join(latest, (latest.c.org == t.org) & (latest.c.day == t.snapshot_day))
            for org, n in conn.execute(q):
                out[(org, source)] += n
    return out


def status_rows(engine: Engine, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """One dict per (org, source) that has run or is configured to, sorted by org then source order."""
    now = now or datetime.now(UTC)
    today = now.date()
    with engine.connect() as conn:
        stored = _stored(conn)
        cps = {(r.org, r.source): r for r in conn.execute(select(schema.checkpoints))}
        runs = schema.collector_runs.c
        last_id = select(func.max(runs.id).label("id")).group_by(runs.org, runs.source).subquery()
        last = {
            (r.org, r.source): r
            for r in conn.execute(select(schema.collector_runs).join(last_id, last_id.c.id == runs.id))
        }
        calls_today = {
            (r[0], r[1]): int(r[2] or 0)
            for r in conn.execute(
                select(runs.org, runs.source, func.sum(runs.api_calls))
                .where(runs.started_at >= datetime(today.year, today.month, today.day, tzinfo=UTC))
                .group_by(runs.org, runs.source)
            )
        }
        cov = schema.coverage.c
        coverage: dict[tuple[str, str], Counter[str]] = {}
        for r in conn.execute(
            select(cov.org, cov.source, cov.status).where(cov.day > today - timedelta(days=7))
        ):
            coverage.setdefault((r.org, r.source), Counter())[r.status] += 1
        lim = schema.org_limits.c
        usage: dict[str, str] = {}
        newest = (
            select(lim.org, func.max(lim.read_at).label("at"))
            .where(lim.name == "DailyApiRequests")
            .group_by(lim.org)
            .subquery()
        )
        for r in conn.execute(
            select(lim.org, lim.max, lim.remaining)
            .join(newest, (newest.c.org == lim.org) & (newest.c.at == lim.read_at))
            .where(lim.name == "DailyApiRequests")
        ):
            usage[r.org] = f"{(r.max or 0) - (r.remaining or 0)}/{r.max}"
    keys = set(stored) | set(cps) | set(last)
    keys = {k for k in keys if not k[1].startswith("login_events.")}
    order = {name: i for i, name in enumerate(SOURCES)}
    rows = []
    for org, source in sorted(keys, key=lambda k: (k[0], order.get(k[1], 99), k[1])):
        cp = cps.get((org, source))
        cursor = cp.cursor if cp is not None else None
        if isinstance(cursor, str):
            cursor = orjson.loads(cursor)
        run = last.get((org, source))
        ts = _aware(cursor.get("ts")) if isinstance(cursor, dict) and cursor.get("ts") else None
        cov_counts = coverage.get((org, source), Counter())
        rows.append(
            {
                "org": org,
                "source": source,
                "rows_stored": stored.get((org, source), 0),
                "cursor": cursor,
                "last_run": as_utc(run.started_at).isoformat() if run is not None else None,
                "outcome": run.outcome if run is not None else None,
                "why": (run.stop_reason or run.error) if run is not None else None,
                "lag_seconds": int((now - ts).total_seconds()) if ts else None,
                "coverage_7d": dict(cov_counts),
                "api_calls_today": calls_today.get((org, source), 0),
                "org_api_usage": usage.get(org),
            }
        )
    return rows


def render_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of :func:`status_rows` for a terminal."""
    head = [
        "org",
        "source",
        "rows",
        "cursor",
        "last run",
        "outcome",
        "lag",
        "coverage 7d",
        "calls today",
        "org API",
    ]
    body = []
    for r in rows:
        c = r["cursor"] or {}
        cursor = c.get("ts") or c.get("day") or c.get("read_at") or ""
        lag = r["lag_seconds"]
        body.append(
            [
                r["org"],
                r["source"],
                str(r["rows_stored"]),
                str(cursor)[:19],
                (r["last_run"] or "never")[:19],
                (r["outcome"] or "-") + (f" ({r['why'][:40]})" if r["why"] else ""),
                "-" if lag is None else _human(lag),
                " ".join(f"{k}:{v}" for k, v in sorted(r["coverage_7d"].items())) or "-",
                str(r["api_calls_today"]),
                r["org_api_usage"] or "-",
            ]
        )
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in body]
    return "\n".join(lines)


def _human(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"
