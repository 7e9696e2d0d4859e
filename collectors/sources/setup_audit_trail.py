"""SetupAuditTrail rows about connected apps, OAuth policies and permission grants.

Incremental on (CreatedDate, Id) like every event source. The audit trail covers all of Setup;
only rows about what oauthwatch watches are kept (:func:`is_relevant`), the rest are read and
counted but not stored, so the dashboard can overlay policy changes on login charts.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from collectors.sources.base import Context, Permission
from collectors.sources.incremental import IncrementalSource
from collectors.sources.values import Malformed, Record, Row, get, parse_dt, record_id, text
from oauthwatch.store import schema

_RELEVANT = re.compile(
    r"connected ?app|oauth|external client app|permission ?set|permset|(?<!company )profile|"
    r"refresh token|ip relax|consumer|session (level|polic)|api only|login ip|login hours",
    re.I,
)


def is_relevant(record: Record) -> bool:
    """Whether an audit row is about connected apps, OAuth policy or permission grants."""
    hay = " ".join(str(get(record, f) or "") for f in ("Section", "Action", "Display"))
    return bool(_RELEVANT.search(hay))


class SetupAuditTrailSource(IncrementalSource):
    """SetupAuditTrail → ``audit_events``."""

    name: ClassVar[str] = "setup_audit_trail"
    counted: ClassVar[tuple[str, ...]] = ("audit_events",)
    label: ClassVar[str] = "SetupAuditTrail"
    object: ClassVar[str] = "SetupAuditTrail"
    min_api_version: ClassVar[tuple[float, str]] = (35.0, "SetupAuditTrail.DelegateUser")
    permission: ClassVar[Permission | None] = Permission(
        "ViewSetup", "View Setup and Configuration", "the Setup Audit Trail"
    )  # UNCONFIRMED: the object reference states no access rule; admin guides name this one
    fields: ClassVar[tuple[str, ...]] = (
        "Id", "Action", "Section", "CreatedDate", "CreatedBy.Username", "Display", "DelegateUser",
    )  # fmt: skip
    cursor_field: ClassVar[str] = "CreatedDate"
    table = schema.audit_events
    key: ClassVar[tuple[str, ...]] = ("org", "event_id")
    time_column: ClassVar[str] = "created_date"

    def to_row(self, ctx: Context, record: Record) -> Row | None:
        rid = record_id(record)
        if not rid:
            raise Malformed("no Id")
        created = parse_dt(get(record, "CreatedDate"))
        if created is None:
            raise Malformed("no CreatedDate")
        if not is_relevant(record):
            return None
        return {
            "org": ctx.org,
            "event_id": rid[:18],
            "created_date": created,
            "action": text(get(record, "Action"), 120),
            "section": text(get(record, "Section"), 120),
            "display": text(get(record, "Display")),
            "created_by": text(get(record, "CreatedBy.Username") or get(record, "CreatedById"), 255),
            "delegate_user": text(get(record, "DelegateUser"), 255),
        }

    def coverage_filter(self, ctx: Context) -> list[Any]:
        return [self.table.c.org == ctx.org]
