"""What every source is: a declaration (what it reads, needs and writes) and a run over a context.

A source is a short declaration (STYLE: singer-sdk streams) on top of one of the bases for the
shapes that exist, each owning cursor, paging, checkpoints and coverage:

- :class:`collectors.sources.incremental.IncrementalSource`: an event object read by a
  ``(timestamp, Id)`` cursor (LoginHistory, SetupAuditTrail, LoginEvent);
- :class:`collectors.sources.snapshot.DailySnapshotSource`: a whole reading each run, one
  consistent snapshot per day (OauthToken, connected apps, limits);
- :class:`collectors.sources.bigobject.BigObjectStream`: an incremental event object stored as a
  big object (time windows, the index's order, deduplicated: LoginEvent);
- :class:`collectors.sources.parent_child.ParentChildSource`: parent records found by a cursor,
  each with children stored with it; :class:`collectors.sources.files.FileSource` is the one for
  Event Log Files (download, length check, quarantine; one ``FileType`` per event type);
- :class:`collectors.sources.streams.StreamGroupSource`: several objects under one licence, one
  declaration each, each object's failure isolated (LoginEvent and the Threat Detection stores).

This module holds what they share: the run :class:`Context` the runner builds, the
:class:`Source` declaration, and the split of records into rows and quarantined records.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from collectors.run import ledger
from collectors.sources.values import Malformed, Record, Row, plain

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from collectors.api.client import SalesforceClient
    from oauthwatch.config import CollectSettings, OrgSettings


class Stopped(Exception):
    """The caller asked the run to stop (service shutdown); the last commit stands."""


class BackfillRefused(Exception):
    """The org would not run a backfill the fast way (e.g. Bulk API 2.0); REST reads it instead."""


# (source, context, start, expected rows): stores every row of the source from ``start``
Backfill = Callable[[Any, "Context", datetime | None, int], None]


@dataclass
class Context:
    """Everything one source run may use; built by the runner."""

    org: str
    org_settings: OrgSettings
    collect: CollectSettings
    client: SalesforceClient
    engine: Engine
    run_start: datetime
    work_dir: Path
    since: datetime | None = None
    forced: bool = False
    stop: threading.Event | None = None
    stats: ledger.RunStats = field(default_factory=ledger.RunStats)
    progress: Callable[[int, int | None], None] | None = None
    cursor_before: dict[str, Any] | None = None
    cursor_after: dict[str, Any] | None = None
    # Set by the runner when the run read everything up to the signpost: days after the last
    # event are then known to be empty, not missing (sparse sources such as the audit trail).
    read_through: datetime | None = None
    # How a first run far above ``collect.bulk_threshold_rows`` is read instead of paging REST
    # (the runner plugs in the Bulk API 2.0 backfill, :mod:`collectors.fastpath.bulk_backfill`).
    backfill: Backfill | None = None

    @property
    def signpost(self) -> datetime:
        return self.run_start - timedelta(seconds=self.collect.settle_seconds)

    def check_stop(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise Stopped("stop requested")

    def quarantine(
        self, conn: Connection, source: str, reason: str, raw: Any, natural_id: str | None
    ) -> None:
        ledger.quarantine(conn, self.org, source, reason, raw, natural_id)
        self.stats.rows_quarantined += 1


@dataclass(frozen=True)
class Permission:
    """A Salesforce user permission a source needs to read the whole org, and who says so.

    ``documented_at`` is the public Salesforce page that states the rule; ``None`` marks a rule
    this project could not confirm (``check`` still names the permission, as its best guess).
    """

    api_name: str  # the permission's API name (PermissionSet field ``Permissions<api_name>``)
    label: str  # as Setup shows it
    reads: str  # what it lets the source read
    documented_at: str | None = None
    alternatives: tuple[str, ...] = ()  # other permissions that open the same (API names)
    without_it: str = "nothing"  # what the source sees without it: "nothing" or "own_rows"

    @property
    def confirmed(self) -> bool:
        """Whether a public Salesforce document states the rule."""
        return self.documented_at is not None


Writes = tuple[str, tuple[str, ...]]  # (store table, its natural key)


class Source:
    """The base of every source: what it reads, what it needs, what it writes, and ``run(ctx)``.

    The class attributes are the source's declaration; the registry
    (:mod:`collectors.sources.registry`) hands them to configuration (the known source names),
    to ``check`` (one probe query and the permission to name per source) and to the contract tests
    (the tables and natural keys every source is held to).
    """

    name: ClassVar[str]
    label: ClassVar[str] = ""
    object: ClassVar[str | None] = None  # the Salesforce object it reads; None for a REST resource
    probe_field: ClassVar[str] = "Id"  # a field every reader may select, for the ``LIMIT 1`` probe
    permission: ClassVar[Permission | None] = None
    licence: ClassVar[str | None] = None  # the add-on without which the object does not exist
    writes: ClassVar[tuple[Writes, ...]] = ()
    login_source: ClassVar[str | None] = None  # the ``logins.source`` of the login rows it writes
    counted: ClassVar[tuple[str, ...]] = ()  # tables ``status`` counts as its rows (besides logins)
    # the lowest API version its queries work with, and the object or field that needs it
    min_api_version: ClassVar[tuple[float, str]] = (20.0, "")

    @classmethod
    def probe(cls) -> str | None:
        """The ``LIMIT 1`` query ``check`` runs to learn whether the object is readable at all."""
        return f"SELECT {cls.probe_field} FROM {cls.object} LIMIT 1" if cls.object else None

    describes: ClassVar[bool] = False  # ``check`` describes the object and reports :meth:`shape_notes`

    @classmethod
    def shape_notes(cls, describe: dict[str, Any], org: OrgSettings) -> list[tuple[str, str, str, str]]:
        """What ``check`` says about the object's shape in this org: (severity, code, cause, fix)."""
        return []

    def run(self, ctx: Context) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def coverage(self, conn: Connection, ctx: Context) -> None:
        """Update the coverage rows this run touched (default: nothing)."""


Bad = tuple[str, Any, "str | None"]  # (reason, record as received, natural id)


def split_records(
    records: Sequence[Record], to_row: Callable[[Record], Row | None], key_of: Callable[[Record], str | None]
) -> tuple[list[Row], list[Bad]]:
    """Rows of ``records`` and the malformed ones with their reason (pure: runs in any thread)."""
    rows: list[Row] = []
    bad: list[Bad] = []
    for rec in records:
        try:
            row = to_row(rec)
        except Malformed as exc:
            bad.append((str(exc), plain(rec), key_of(rec)))
            continue
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            bad.append((f"unreadable record: {type(exc).__name__}: {exc}", plain(rec), key_of(rec)))
            continue
        if row is not None:
            rows.append(row)
    return rows, bad
