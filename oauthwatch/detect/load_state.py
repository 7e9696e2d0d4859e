"""The org's state that detectors declare (grants, policies, the collection ledger), as Frames fields.

Each loader returns the :class:`oauthwatch.detect.data.Frames` fields it fills; all are bounded by
the org and a few days, or are current state (:mod:`oauthwatch.detect.load`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import func, select

from oauthwatch.detect.data import CHANGE_COLUMNS, TOKEN_DAYS
from oauthwatch.detect.store_read import as_date, first_col, read_frame, time_col
from oauthwatch.store import schema

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def load_grants(conn: Connection, org: str, start: datetime, end: datetime) -> dict[str, Any]:
    """Grant snapshots of the last days, each app's first grant and each user's first grant per app."""
    tk = schema.oauth_token_snapshots
    tokens = read_frame(
        conn,
        select(
            tk.c.snapshot_day,
            tk.c.user_id,
            tk.c.app_name,
            time_col(conn, tk.c.created_date),
            time_col(conn, tk.c.last_used_date),
            tk.c.use_count,
            tk.c.delete_token_hash,
            tk.c.app_menu_item_id,
        ).where(
            tk.c.org == org,
            tk.c.snapshot_day > start.date() - timedelta(days=TOKEN_DAYS),
            tk.c.snapshot_day <= end.date(),
        ),
        ("created_date", "last_used_date"),
    )
    if not tokens.empty:
        tokens["snapshot_day"] = tokens["snapshot_day"].map(as_date)
    tfirst = read_frame(
        conn,
        select(tk.c.app_name, first_col(conn, func.min(tk.c.seen_at)).label("first"))
        .where(tk.c.org == org)
        .group_by(tk.c.app_name),
        ("first",),
    )
    created = read_frame(
        conn,
        select(
            tk.c.user_id,
            tk.c.app_name,
            first_col(conn, func.min(tk.c.created_date)).label("created_date"),
        )
        .where(tk.c.org == org)
        .group_by(tk.c.user_id, tk.c.app_name),
        ("created_date",),
    )
    out: dict[str, Any] = {
        "token_app_first_seen": tfirst.set_index("app_name")["first"]
        if not tfirst.empty
        else pd.Series(dtype="datetime64[ns, UTC]")
    }
    if not tokens.empty:
        out["tokens"] = tokens
    if not created.empty:
        out["grants_created"] = created
    return out


def load_policies(conn: Connection, org: str, start: datetime, end: datetime) -> dict[str, Any]:
    """Connected apps, their setting changes and the setup audit trail of the last week."""
    ca, ae, ch = schema.connected_apps, schema.audit_events, schema.connected_app_changes
    out: dict[str, Any] = {}
    audit = read_frame(
        conn,
        select(ae.c.created_date, ae.c.action, ae.c.section, ae.c.display, ae.c.created_by).where(
            ae.c.org == org, ae.c.created_date >= start - timedelta(days=7), ae.c.created_date <= end
        ),
    )
    if not audit.empty:
        out["audit"] = audit
    apps = read_frame(
        conn,
        select(
            ca.c.app_id,
            ca.c.name,
            ca.c.admin_approved_only,
            ca.c.ip_relaxation,
            ca.c.refresh_token_policy,
            ca.c.scopes,
            ca.c.certificate_expires_at,
            ca.c.session_level,
        ).where(ca.c.org == org),
    )
    if not apps.empty:
        out["apps"] = apps
    changes = read_frame(
        conn,
        select(ch.c.app_id, ch.c.observed_at, ch.c.field, ch.c.old_value, ch.c.new_value).where(
            ch.c.org == org, ch.c.observed_at >= start - timedelta(days=7), ch.c.observed_at <= end
        ),
    )
    out["app_changes"] = changes if not changes.empty else pd.DataFrame(columns=CHANGE_COLUMNS)
    return out


def load_ledger(conn: Connection, org: str, end: datetime) -> dict[str, Any]:
    """Checkpoints, the last two days' collector runs, the last week's coverage, the latest limits."""
    cp, cr, cv, ol = schema.checkpoints, schema.collector_runs, schema.coverage, schema.org_limits
    out: dict[str, Any] = {
        "checkpoints": read_frame(
            conn, select(cp.c.source, cp.c.updated_at).where(cp.c.org == org), ("updated_at",)
        ),
        "runs": read_frame(
            conn,
            select(cr.c.source, cr.c.started_at, cr.c.finished_at, cr.c.outcome, cr.c.error)
            .where(cr.c.org == org, cr.c.started_at >= end - timedelta(days=2))
            .order_by(cr.c.started_at),
        ),
    }
    coverage = read_frame(
        conn,
        select(cv.c.source, cv.c.day, cv.c.status, cv.c.rows, cv.c.note).where(
            cv.c.org == org, cv.c.day >= end.date() - timedelta(days=7)
        ),
    )
    if not coverage.empty:
        coverage["day"] = coverage["day"].map(as_date)
    out["coverage"] = coverage
    latest = (
        select(ol.c.name, func.max(ol.c.read_at).label("read_at"))
        .where(ol.c.org == org, ol.c.read_at <= end)
        .group_by(ol.c.name)
        .subquery()
    )
    out["limits"] = read_frame(
        conn,
        select(ol.c.name, ol.c.read_at, ol.c.max, ol.c.remaining)
        .join(latest, (ol.c.name == latest.c.name) & (ol.c.read_at == latest.c.read_at))
        .where(ol.c.org == org),
    )
    return out
