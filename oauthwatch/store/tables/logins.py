"""Who logged in: the org, its users, every login and the rollups the dashboard and the detectors read.

Part of the store schema (:mod:`oauthwatch.store.schema`); see its docstring for the key rules."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

from oauthwatch.store.tables.base import BigId, _org, metadata
from oauthwatch.store.types import UTCDateTime

orgs = Table(
    "orgs",
    metadata,
    Column("name", String(80), primary_key=True),
    Column("org_id", String(18), nullable=True, doc="00D… once the first token told us"),
    Column("instance_url", String(255)),
    Column("org_name", String(255)),
    Column("is_sandbox", Boolean),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime),
)


users = Table(
    "users",
    metadata,
    _org(),
    Column("user_id", String(18), nullable=False),
    Column("username", String(255)),
    Column("name", String(255)),
    Column("email", String(255)),
    Column("is_active", Boolean),
    Column("user_type", String(40)),
    Column("profile", String(255)),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("org", "user_id", name="uq_users_org_user"),
)


logins = Table(
    "logins",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _org(),
    Column("source", String(20), nullable=False, doc="login_history | login_event | elf_login"),
    Column(
        "natural_id",
        String(64),
        nullable=False,
        doc="LoginHistory.Id, LoginEvent.EventIdentifier, ELF REQUEST_ID…",
    ),
    Column("login_time", UTCDateTime, nullable=False),
    Column("user_id", String(18)),
    Column("username", String(255)),
    Column("login_type", String(64)),
    Column("login_subtype", String(64), doc="the OAuth flow, as LoginHistory's label"),
    Column("status", String(255)),
    Column("success", Boolean, nullable=False),
    Column("application", String(255)),
    Column("source_ip", String(64)),
    Column("login_url", String(255)),
    Column("browser", String(255)),
    Column("platform", String(255)),
    Column("client_version", String(64)),
    Column("api_type", String(64)),
    Column("api_version", String(32)),
    Column("tls_protocol", String(16)),
    Column("cipher_suite", String(64)),
    Column("country_iso", String(3)),
    Column("country", String(80)),
    Column("subdivision", String(80)),
    Column("city", String(80)),
    Column("postal_code", String(20)),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("login_geo_id", String(18)),
    Column("ingested_at", UTCDateTime, nullable=False),
    # the event time is part of every key of a partitioned table (store.partitions)
    UniqueConstraint("org", "source", "natural_id", "login_time", name="uq_logins_natural"),
    Index("ix_logins_org_time", "org", "login_time"),
    Index("ix_logins_org_app_time", "org", "application", "login_time"),
    Index("ix_logins_org_ip_time", "org", "source_ip", "login_time"),
    Index("ix_logins_org_user_time", "org", "user_id", "login_time"),
)


login_rollup_hourly = Table(
    "login_rollup_hourly",
    metadata,
    _org(),
    Column("hour", UTCDateTime, nullable=False),
    Column("application", String(255), nullable=False, server_default=""),
    Column("login_type", String(64), nullable=False, server_default=""),
    Column("login_subtype", String(64), nullable=False, server_default=""),
    Column("success", Boolean, nullable=False),
    Column("status", String(255), nullable=False, server_default=""),
    Column("country_iso", String(3), nullable=False, server_default=""),
    Column("events", Integer, nullable=False),
    Column("users", Integer, nullable=False, doc="distinct users in this cell"),
    UniqueConstraint(
        "org",
        "hour",
        "application",
        "login_type",
        "login_subtype",
        "success",
        "status",
        "country_iso",
        name="uq_login_rollup_hourly_cell",
    ),
    Index("ix_login_rollup_org_hour", "org", "hour"),
)


# Daily rollups: the hourly cells summed per UTC day (long windows read 24x fewer rows), and what
# the hourly rollup cannot answer exactly: distinct users over any period (per app or not), and
# origins per IP. Recomputed per touched day by writes.refresh_login_rollup
# (through store.rollups_daily), from the org's primary login source only, like the hourly one.
# The daily tables are clustered by their key on SQLite (WITHOUT ROWID): a window's days are then
# one sequential range, which is what keeps month-long pages fast on millions of events.
login_rollup_daily = Table(
    "login_rollup_daily",
    metadata,
    _org(),
    Column("day", Date, nullable=False),
    Column("application", String(255), nullable=False, server_default=""),
    Column("login_type", String(64), nullable=False, server_default=""),
    Column("login_subtype", String(64), nullable=False, server_default=""),
    Column("success", Boolean, nullable=False),
    Column("status", String(255), nullable=False, server_default=""),
    Column("country_iso", String(3), nullable=False, server_default=""),
    Column("events", Integer, nullable=False),
    PrimaryKeyConstraint(
        "org",
        "day",
        "application",
        "login_type",
        "login_subtype",
        "success",
        "status",
        "country_iso",
        name="pk_login_rollup_daily",
    ),
    sqlite_with_rowid=False,
)


login_user_daily = Table(
    "login_user_daily",
    metadata,
    _org(),
    Column("day", Date, nullable=False),
    Column("user_id", String(18), nullable=False, server_default=""),
    Column("application", String(255), nullable=False, server_default=""),
    Column("username", String(255)),
    Column("events", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("last_login", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("org", "day", "user_id", "application", name="pk_login_user_daily"),
    sqlite_with_rowid=False,
)


login_ip_daily = Table(
    "login_ip_daily",
    metadata,
    _org(),
    Column("day", Date, nullable=False),
    Column("source_ip", String(64), nullable=False, server_default=""),
    Column("application", String(255), nullable=False, server_default=""),
    Column("country_iso", String(3), nullable=False, server_default=""),
    Column("country", String(80)),
    Column("city", String(80)),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("events", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("users", Integer, nullable=False, doc="distinct users in this cell"),
    PrimaryKeyConstraint("org", "day", "source_ip", "application", "country_iso", name="pk_login_ip_daily"),
    # "first seen ever" checks for new origins seek these instead of scanning all history.
    Index("ix_login_ip_daily_org_ip_day", "org", "source_ip", "day"),
    Index("ix_login_ip_daily_org_country_day", "org", "country_iso", "day"),
    sqlite_with_rowid=False,
)


login_origin_first_seen = Table(
    "login_origin_first_seen",
    metadata,
    _org(),
    Column("kind", String(10), nullable=False, doc="ip | country"),
    Column("origin", String(64), nullable=False),
    Column("first_day", Date, nullable=False, doc="first UTC day with a login from it (primary source)"),
    PrimaryKeyConstraint("org", "kind", "origin", name="pk_login_origin_first_seen"),
    Index("ix_origin_first_seen_org_day", "org", "first_day"),
)


# What the detectors read instead of weeks of raw rows (docs/architecture.md, "Detection data").
# Both are recomputed per touched hour / day by writes.refresh_login_rollup (through
# store.rollups_detect), from the primary login source only, so re-collecting or re-importing the
# same events never double counts.
login_app_hourly = Table(
    "login_app_hourly",
    metadata,
    _org(),
    Column("hour", UTCDateTime, nullable=False),
    Column("application", String(255), nullable=False, server_default=""),
    Column("success", Boolean, nullable=False),
    Column("status", String(255), nullable=False, server_default=""),
    Column("events", Integer, nullable=False),
    PrimaryKeyConstraint("org", "hour", "application", "success", "status", name="pk_login_app_hourly"),
    sqlite_with_rowid=False,
)


# One row per (kind, group, value, UTC day, success): when the value was first and last seen
# that day for the group (an app, or a user for ``user_country``) and how often. "Was this
# network seen for this app between two instants" is then exact (the edge days keep their first
# and last sighting) and reads a few rows per pair, whatever the store holds.
login_seen_daily = Table(
    "login_seen_daily",
    metadata,
    _org(),
    Column(
        "kind",
        String(16),
        nullable=False,
        doc="app | app_user | app_country | app_network | app_ip | app_flow | app_type | app_agent | user_country",
    ),
    Column("grp", String(255), nullable=False, server_default=""),
    Column("value", String(255), nullable=False, server_default=""),
    Column("day", Date, nullable=False),
    Column("success", Boolean, nullable=False),
    Column("first_at", UTCDateTime, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
    Column("events", Integer, nullable=False),
    PrimaryKeyConstraint("org", "kind", "grp", "value", "day", "success", name="pk_login_seen_daily"),
    Index("ix_login_seen_daily_org_day", "org", "day"),
    # A kind's groups over a span of days (detection's read, bounded by the lookback).
    Index("ix_login_seen_daily_group_day", "org", "kind", "grp", "day"),
    sqlite_with_rowid=False,
)
