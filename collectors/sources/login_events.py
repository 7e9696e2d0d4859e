"""LoginEvent and the Threat Detection stores (Real-Time Event Monitoring), when licensed.

Detected, not configured: the first query of a store that the org does not have answers
``INVALID_TYPE``; the source then logs one line saying why it is skipped and does not ask again
for a day. LoginEvent rows go to ``logins`` (source ``login_event``, keyed by EventIdentifier);
the threat stores to ``security_events``. Each object has its own cursor, and one object's
failure is recorded without skipping the objects after it.

LoginEvent is a big object (docs/salesforce-behaviour.md): Salesforce accepts only filters on its
index (EventDate, then EventIdentifier) and an ORDER BY in the index's direction, so it is read
in EventDate windows (``>= lo AND < hi``), newest first, deduplicated on EventIdentifier, and its
cursor moves to a window's end only once the whole window is stored.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, ClassVar

from collectors.api.budget import BudgetExhausted
from collectors.api.client import ObjectNotAvailable, QueryLocatorExpired
from collectors.run import ledger
from collectors.sources.base import Context, Permission, Source, Stopped, Writes
from collectors.sources.incremental import IncrementalSource
from collectors.sources.login_history import login_row
from collectors.sources.values import Malformed, Record, Row, get, number, parse_dt, soql_dt, text
from oauthwatch.store import schema

log = logging.getLogger(__name__)

THREAT_STORES = {  # store → the short name its checkpoint is kept under (source names are ≤ 40 chars)
    "ApiAnomalyEventStore": "api_anomaly",
    "CredentialStuffingEventStore": "credential_stuffing",
    "SessionHijackingEventStore": "session_hijacking",
}
_RECHECK_SECONDS = 24 * 3600
_unlicensed: dict[tuple[str, str], float] = {}
_lock = threading.Lock()


class LoginEventStream(IncrementalSource):
    """LoginEvent → ``logins`` (source ``login_event``)."""

    name: ClassVar[str] = "login_events"
    label: ClassVar[str] = "LoginEvent"
    object: ClassVar[str] = "LoginEvent"
    fields: ClassVar[tuple[str, ...]] = (
        "EventIdentifier", "EventDate", "UserId", "Username", "SourceIp", "Application", "Browser",
        "Platform", "ClientVersion", "ApiType", "ApiVersion", "CountryIso", "Country", "City",
        "PostalCode", "Subdivision", "LoginLatitude", "LoginLongitude", "LoginGeoId", "LoginType",
        "LoginSubType", "LoginUrl", "Status", "TlsProtocol", "CipherSuite",
    )  # fmt: skip
    cursor_field: ClassVar[str] = "EventDate"
    id_field: ClassVar[str] = "EventIdentifier"
    table = schema.logins
    key: ClassVar[tuple[str, ...]] = ("org", "source", "natural_id")
    time_column: ClassVar[str] = "login_time"
    rollup_source: ClassVar[str | None] = "login_event"

    def to_row(self, ctx: Context, record: Record) -> Row | None:
        row = login_row(ctx.org, "login_event", get(record, "EventIdentifier"), record, geo_prefix="")
        for k in ("api_type", "api_version", "client_version"):  # LoginEvent says "N/A" for none
            if row[k] == "N/A":
                row[k] = None
        return row

    def coverage_filter(self, ctx: Context) -> list[Any]:
        return [self.table.c.org == ctx.org, self.table.c.source == "login_event"]

    # -- big-object reading: windows in index order ----------------------------------------------
    window: ClassVar[timedelta] = timedelta(hours=6)

    def soql_window(self, lo: datetime | None, hi: datetime) -> str:
        """One window, in the only order the index allows (EventDate descending)."""
        conds = [f"EventDate >= {soql_dt(lo)}"] if lo is not None else []
        conds.append(f"EventDate < {soql_dt(hi)}")
        return (
            f"SELECT {', '.join(self.fields)} FROM {self.object} WHERE {' AND '.join(conds)} "
            "ORDER BY EventDate DESC"
        )

    def _run_with_restarts(self, ctx: Context, cursor: dict[str, Any] | None, start: datetime | None) -> None:
        end = ctx.signpost
        if start is None:  # first run: everything the org keeps, newest first, in one window
            self._read_window(ctx, None, end)
            return
        lo = start
        while lo < end:
            hi = min(lo + self.window, end)
            ctx.check_stop()
            self._read_window(ctx, lo, hi)
            lo = hi

    def _read_window(self, ctx: Context, lo: datetime | None, hi: datetime) -> None:
        size = min(self.batch_size, ctx.collect.query_batch_size)
        for attempt in range(6):
            seen: set[str] = set()
            try:
                for page in ctx.client.query_pages(self.soql_window(lo, hi), batch_size=size):
                    ctx.check_stop()
                    fresh = []
                    for rec in page.records:
                        key = self.key_of(rec)
                        if key is None or key not in seen:
                            fresh.append(rec)
                            if key is not None:
                                seen.add(key)
                    converted = replace(self._convert(ctx, fresh, page.total_size), last=None)
                    self._commit(ctx, [converted])  # rows only: the cursor waits for the window's end
                break
            except QueryLocatorExpired:
                if attempt == 5:
                    raise
                ctx.stats.notes.append("query locator expired; the LoginEvent window was read again")
        with ctx.engine.begin() as conn:
            cursor = {**(ctx.cursor_after or {}), "ts": hi.isoformat(), "id": ""}
            ledger.save_checkpoint(conn, ctx.org, self.name, cursor)
        ctx.cursor_after = cursor


class ThreatStoreStream(IncrementalSource):
    """One Threat Detection store → ``security_events``."""

    label: ClassVar[str] = "Threat Detection"
    fields: ClassVar[tuple[str, ...]] = (
        "EventIdentifier", "EventDate", "UserId", "Username", "SourceIp", "Score", "Summary", "PolicyOutcome",
    )  # fmt: skip
    cursor_field: ClassVar[str] = "EventDate"
    id_field: ClassVar[str] = "EventIdentifier"
    table = schema.security_events
    key: ClassVar[tuple[str, ...]] = ("org", "store", "event_id")
    time_column: ClassVar[str] = "event_date"

    def __init__(self, store: str) -> None:
        super().__init__()
        self.object = store  # type: ignore[misc]
        self.name = f"login_events.{THREAT_STORES[store]}"  # type: ignore[misc]

    def to_row(self, ctx: Context, record: Record) -> Row | None:
        eid = get(record, "EventIdentifier")
        when = parse_dt(get(record, "EventDate"))
        if not eid or when is None:
            raise Malformed("no EventIdentifier or EventDate")
        return {
            "org": ctx.org,
            "store": self.object,
            "event_id": str(eid)[:64],
            "event_date": when,
            "user_id": text(get(record, "UserId"), 18),
            "username": text(get(record, "Username"), 255),
            "source_ip": text(get(record, "SourceIp"), 64),
            "score": number(get(record, "Score")),
            "summary": text(get(record, "Summary")),
            "details": {"PolicyOutcome": get(record, "PolicyOutcome")},
        }

    def coverage_filter(self, ctx: Context) -> list[Any]:
        return [self.table.c.org == ctx.org, self.table.c.store == self.object]


class LoginEventsSource(Source):
    """LoginEvent plus the threat stores; skipped with one line when the org is not licensed."""

    name: ClassVar[str] = "login_events"
    label: ClassVar[str] = "LoginEvent + Threat Detection"
    object: ClassVar[str | None] = "LoginEvent"
    min_api_version: ClassVar[tuple[float, str]] = (50.0, "ApiAnomalyEventStore (CredentialStuffing and SessionHijacking stores: 49.0)")
    permission: ClassVar[Permission | None] = Permission(
        "ViewDataLeakageEvents",
        "View Real-Time Event Monitoring Data",
        "LoginEvent and the Threat Detection stores",
        "https://developer.salesforce.com/docs/atlas.en-us.platform_events.meta/platform_events/sforce_api_objects_loginasevent.htm",
    )
    licence: ClassVar[str | None] = "the Event Monitoring add-on"
    writes: ClassVar[tuple[Writes, ...]] = (
        ("logins", ("org", "source", "natural_id")),
        ("security_events", ("org", "store", "event_id")),
    )

    def __init__(self) -> None:
        self.ran: list[IncrementalSource] = []
        self.skipped: list[str] = []
        self.failed: list[str] = []
        self._login_cursors: tuple[Any, Any] | None = None

    def run(self, ctx: Context) -> None:
        streams: list[IncrementalSource] = [
            LoginEventStream(),
            *(ThreatStoreStream(s) for s in THREAT_STORES),
        ]
        for stream in streams:
            key = (ctx.org, stream.object)
            with _lock:
                since_check = time.monotonic() - _unlicensed.get(key, -1e12)
            if since_check < _RECHECK_SECONDS:
                self.skipped.append(stream.object)
                continue
            try:
                stream.run(ctx)
                self.ran.append(stream)
                if isinstance(stream, LoginEventStream):
                    self._login_cursors = (ctx.cursor_before, ctx.cursor_after)
            except (BudgetExhausted, Stopped):
                raise  # the whole run stops for these, not one object
            except ObjectNotAvailable:
                with _lock:
                    _unlicensed[key] = time.monotonic()
                self.skipped.append(stream.object)
                log.info(
                    "%s: %s is not available in this org (Real-Time Event Monitoring is not licensed); "
                    "skipping it, next check in 24 h",
                    ctx.org,
                    stream.object,
                )
            except Exception as exc:
                self.failed.append(stream.object)
                ctx.stats.notes.append(f"{stream.object} failed: {type(exc).__name__}: {exc}"[:300])
                log.warning(
                    "%s: %s failed; the other objects still run", ctx.org, stream.object, exc_info=True
                )
        if self.failed:
            if not self.ran:
                raise RuntimeError("every object failed: " + ", ".join(self.failed))
            ctx.stats.incomplete = True
        ctx.stats.skipped = not self.ran and not self.failed
        if self.skipped:
            ctx.stats.notes.append("not licensed: " + ", ".join(self.skipped))

    def coverage(self, conn: Any, ctx: Context) -> None:
        for stream in self.ran:
            if isinstance(stream, LoginEventStream) and self._login_cursors is not None:
                saved = (ctx.cursor_before, ctx.cursor_after)
                ctx.cursor_before, ctx.cursor_after = self._login_cursors  # its own, not the last store's
                try:
                    stream.coverage(conn, ctx)
                finally:
                    ctx.cursor_before, ctx.cursor_after = saved
