"""The workers of ``oauthwatch run`` sharing one store, and which org each holds (docs/deploy.md, "Workers").

``fleet_workers`` has one row per worker process (its beat says it is alive); ``org_leases`` one
row per configured org, naming the worker that holds it until ``expires_at``. A lease is the unit
of work: its holder collects every source of the org, runs its detectors and sends its digest.
The org column has no foreign key: an org is leased before its first collection creates its row.

Part of the store schema (:mod:`oauthwatch.store.schema`)."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table

from oauthwatch.store.tables.base import metadata
from oauthwatch.store.types import UTCDateTime

fleet_workers = Table(
    "fleet_workers",
    metadata,
    Column("worker", String(120), primary_key=True, doc="host:pid:random, unique per process start"),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("beat_at", UTCDateTime, nullable=False),
    Column("state", String(20), nullable=False, doc="running | stopping | stopped"),
)

org_leases = Table(
    "org_leases",
    metadata,
    Column("org", String(80), primary_key=True),
    Column("worker", String(120), doc="the holder; NULL when released"),
    Column("acquired_at", UTCDateTime),
    Column("expires_at", UTCDateTime, doc="the holder renews it; after this anyone may claim it"),
    Index("ix_org_leases_worker", "worker"),
)
