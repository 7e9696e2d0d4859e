"""LoginEvent and the Threat Detection stores (Real-Time Event Monitoring), when licensed.

A group of streams (:mod:`collectors.sources.streams`): one declaration per object, each with its
own cursor. Detected, not configured: an object the org does not have answers ``INVALID_TYPE``
and is skipped for a day; one object's failure never skips the objects after it. LoginEvent rows
go to ``logins`` (source ``login_event``, keyed by EventIdentifier); the threat stores to
``security_events``.

LoginEvent is a big object (docs/salesforce-behaviour.md §2), so it is declared on
:class:`collectors.sources.bigobject.BigObjectStream`: EventDate windows, newest first (the
index's order), deduplicated on EventIdentifier, its cursor moved only at a window's end.
"""

from __future__ import annotations

from typing import Any, ClassVar

from collectors.sources.base import Context, Permission
from collectors.sources.bigobject import BigObjectStream
from collectors.sources.incremental import IncrementalSource
from collectors.sources.login_history import login_row
from collectors.sources.streams import StreamGroupSource
from collectors.sources.values import Malformed, Record, Row, get, number, parse_dt, text
from oauthwatch.store import schema


class LoginEventStream(BigObjectStream):
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


class ThreatStoreStream(IncrementalSource):
    """A Threat Detection store → ``security_events``; each store below declares its object."""

    label: ClassVar[str] = "Threat Detection"
    fields: ClassVar[tuple[str, ...]] = (
        "EventIdentifier", "EventDate", "UserId", "Username", "SourceIp", "Score", "Summary", "PolicyOutcome",
    )  # fmt: skip
    cursor_field: ClassVar[str] = "EventDate"
    id_field: ClassVar[str] = "EventIdentifier"
    table = schema.security_events
    key: ClassVar[tuple[str, ...]] = ("org", "store", "event_id")
    time_column: ClassVar[str] = "event_date"

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


class ApiAnomalyStream(ThreatStoreStream):
    name: ClassVar[str] = "login_events.api_anomaly"  # checkpoint names are at most 40 characters
    object: ClassVar[str] = "ApiAnomalyEventStore"


class CredentialStuffingStream(ThreatStoreStream):
    name: ClassVar[str] = "login_events.credential_stuffing"
    object: ClassVar[str] = "CredentialStuffingEventStore"


class SessionHijackingStream(ThreatStoreStream):
    name: ClassVar[str] = "login_events.session_hijacking"
    object: ClassVar[str] = "SessionHijackingEventStore"


class LoginEventsSource(StreamGroupSource):
    """LoginEvent plus the threat stores; skipped with one line when the org is not licensed."""

    name: ClassVar[str] = "login_events"
    label: ClassVar[str] = "LoginEvent + Threat Detection"
    object: ClassVar[str | None] = "LoginEvent"
    min_api_version: ClassVar[tuple[float, str]] = (
        50.0,
        "ApiAnomalyEventStore (CredentialStuffing and SessionHijacking stores: 49.0)",
    )
    permission: ClassVar[Permission | None] = Permission(
        "ViewDataLeakageEvents",
        "View Real-Time Event Monitoring Data",
        "LoginEvent and the Threat Detection stores",
        "https://developer.salesforce.com/docs/atlas.en-us.platform_events.meta/platform_events/sforce_api_objects_loginasevent.htm",
    )
    licence: ClassVar[str | None] = "the Event Monitoring add-on"
    streams: ClassVar[tuple[type[IncrementalSource], ...]] = (
        LoginEventStream,
        ApiAnomalyStream,
        CredentialStuffingStream,
        SessionHijackingStream,
    )
    covered: ClassVar[tuple[type[IncrementalSource], ...]] = (LoginEventStream,)
    login_source: ClassVar[str | None] = "login_event"
    counted: ClassVar[tuple[str, ...]] = ("security_events",)
