"""The rollups detectors read: hourly counts per app and status, and per-day sightings of values.

A detection cycle judges the last window against weeks of history. Reading that history as raw
logins makes every cycle cost the size of the store; these two tables make it cost the windows
being judged (docs/architecture.md, "Detection data"):

- ``login_app_hourly``: events per (hour, app, success, status), the series the volume and
  failure models judge (the hourly rollup summed over its other dimensions);
- ``login_seen_daily``: per (kind, group, value, UTC day, success) the first and last sighting
  and the count, e.g. network ``192.0.2.0/24`` for app ``Billing Sync`` on 2026-03-02. Whether a
  value was seen for a group between two instants on different days is exact from these rows
  (only the edge days can hold sightings outside the span, and their first and last sightings
  say whether they do), and the first sighting ever is the smallest ``first_at``.

Both are recomputed (delete, then ``INSERT … SELECT … GROUP BY`` inside the database) for the hours
and days a write touched, from the org's primary login source only, like the other rollups:
writing the same events twice leaves them as writing them once. :func:`oauthwatch.store.writes.refresh_login_rollup` calls
:func:`refresh_detect_rollups`; every write path goes through it. :func:`seen_cells` is the one
definition of the sightings on in-memory logins; the stored path computes the same rows in SQL
(``tests/test_detect_rollups.py`` holds the two equal on both databases).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    delete,
    func,
    insert,
    literal,
    select,
    union_all,
)
from sqlalchemy import Date as SADate

from oauthwatch.rules.network import network_label
from oauthwatch.store import schema
from oauthwatch.store.types import UTCDateTime

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# kind -> (group column, value column); "" groups the whole org.
KINDS: dict[str, tuple[str, str]] = {
    "app": ("", "application"),
    "app_user": ("application", "user_id"),
    "app_country": ("application", "country_iso"),
    "app_network": ("application", "network"),
    "app_ip": ("application", "source_ip"),
    "app_flow": ("application", "login_subtype"),
    "app_type": ("application", "login_type"),
    "app_agent": ("application", "browser"),
    "user_country": ("user_id", "country_iso"),
}
DIMS = ("application", "user_id", "country_iso", "source_ip", "login_subtype", "login_type", "browser")
SEEN_COLUMNS = ["kind", "grp", "value", "day", "success", "first_at", "last_at", "events"]


def seen_cells(cells: pd.DataFrame, kinds: Iterable[str] = KINDS) -> pd.DataFrame:
    """Sightings rows (``SEEN_COLUMNS``) from cells of logins.

    ``cells`` has the ``DIMS`` columns, ``success``, ``day``, ``first_at``, ``last_at`` and
    ``events``: either one row per login (first = last = its time, events = 1) or logins already
    grouped by those columns. Missing values count as "".
    """
    if cells.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in SEEN_COLUMNS})
    cells = cells.assign(**{c: cells[c].astype(object).where(cells[c].notna(), "").astype(str) for c in DIMS})
    ips = cells["source_ip"].unique()
    nets = {ip: _network(ip) for ip in ips}
    cells = cells.assign(network=cells["source_ip"].map(nets), success=cells["success"].astype(bool))
    parts = []
    for kind in kinds:
        grp, value = KINDS[kind]
        keys = [c for c in (grp, value) if c] + ["day", "success"]
        g = cells.groupby(keys, sort=False).agg(
            first_at=("first_at", "min"), last_at=("last_at", "max"), events=("events", "sum")
        )
        g = g.reset_index().rename(columns={value: "value"})
        g["grp"] = g[grp] if grp else ""
        g["kind"] = kind
        parts.append(g[SEEN_COLUMNS])
    return pd.concat(parts, ignore_index=True)


def refresh_detect_rollups(conn: Connection, org: str, source: str, hours: Iterable[datetime]) -> None:
    """Recompute both tables for ``org`` over the touched ``hours`` (and their UTC days)."""
    hours = sorted(set(hours))
    if not hours:
        return
    _refresh_app_hourly(conn, org, hours)
    refresh_seen_days(conn, org, source, {h.date() for h in hours})


def _refresh_app_hourly(conn: Connection, org: str, hours: list[datetime]) -> None:
    """``login_app_hourly`` for ``hours``: the hourly rollup's cells summed (run after its refresh)."""
    h, a = schema.login_rollup_hourly, schema.login_app_hourly
    for start in range(0, len(hours), 200):
        batch = hours[start : start + 200]
        lo, hi = batch[0], batch[-1] + timedelta(hours=1)
        conn.execute(
            delete(a).where(and_(a.c.org == org, a.c.hour >= lo, a.c.hour < hi, a.c.hour.in_(batch)))
        )
        dims = (h.c.org, h.c.hour, h.c.application, h.c.success, h.c.status)
        sel = (
            select(*dims, func.sum(h.c.events))
            .where(h.c.org == org, h.c.hour >= lo, h.c.hour < hi, h.c.hour.in_(batch))
            .group_by(*dims)
        )
        conn.execute(
            insert(a).from_select(["org", "hour", "application", "success", "status", "events"], sel)
        )


def refresh_seen_days(conn: Connection, org: str, source: str, days: Iterable[date]) -> None:
    """``login_seen_daily`` for the given UTC days, from those days' logins of ``source``.

    The sightings :func:`seen_cells` defines, computed inside the database. Per day, the day's
    logins are grouped once into cells (a scratch table of the ``DIMS``, success, first and last
    time, count: one index range read of ``logins`` instead of one per kind, and far fewer rows
    than logins where the same integration logs in all day), then one ``INSERT … SELECT`` reads
    the cells for every kind (a ``GROUP BY`` per kind, ``UNION ALL``). ``app_network`` comes from
    the days' ``app_ip`` rows (a network's sightings are its addresses' combined) through a
    scratch table naming the network of each address seen (:func:`_network`, the rule's label).
    No login travels through Python.
    """
    days = sorted(set(days))
    if not days:
        return
    cells = _scratch(conn, _CELLS)
    for start in range(0, len(days), DAYS_PER_CHUNK):
        chunk = days[start : start + DAYS_PER_CHUNK]
        for d in chunk:
            _seen_day(conn, cells, org, source, d)
        _networks_from_ips(conn, org, chunk)
    cells.drop(conn)


# Scratch tables (temporary, per connection). A failed refresh rolls them back with its
# transaction: DDL is transactional on both databases.
_SCRATCH = MetaData()
_CELLS = Table(
    "oauthwatch_seen_cells",
    _SCRATCH,
    *(Column(c, String(255), nullable=False) for c in DIMS),
    Column("success", Boolean, nullable=False),
    Column("first_at", UTCDateTime, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
    Column("events", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)
_NETWORKS = Table(
    "oauthwatch_ip_networks",
    _SCRATCH,
    Column("ip", String(255), primary_key=True),
    Column("network", String(255), nullable=False),
    prefixes=["TEMPORARY"],
)


def _scratch(conn: Connection, table: Table) -> Table:
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table.name}")
    table.create(conn)
    return table


def _seen_day(conn: Connection, cells: Table, org: str, source: str, d: date) -> None:
    """Every kind but ``app_network`` for one day, through the day's cells."""
    t, s = schema.logins, schema.login_seen_daily
    lo = datetime(d.year, d.month, d.day, tzinfo=UTC)
    conn.exec_driver_sql(("TRUNCATE " if conn.dialect.name == "postgresql" else "DELETE FROM ") + cells.name)
    dims = [func.coalesce(t.c[c], "") for c in DIMS]
    day_cells = (
        select(
            *dims,
            t.c.success,
            func.min(t.c.login_time),
            func.max(t.c.login_time),
            func.count(),
        )
        .where(
            t.c.org == org,
            t.c.source == source,
            t.c.login_time >= lo,
            t.c.login_time < lo + timedelta(days=1),
        )
        .group_by(*dims, t.c.success)
    )
    conn.execute(insert(cells).from_select([c.name for c in cells.c], day_cells))
    conn.execute(delete(s).where(and_(s.c.org == org, s.c.day == d)))
    c = cells.c
    per_kind = []
    for kind, (grp, value) in KINDS.items():
        if kind == "app_network":
            continue
        keys = [c[grp], c[value]] if grp else [c[value]]
        per_kind.append(
            select(
                literal(org).label("org"),
                literal(kind).label("kind"),
                (c[grp] if grp else literal("")).label("grp"),
                c[value].label("value"),
                literal(d, SADate).label("day"),
                c.success,
                func.min(c.first_at).label("first_at"),
                func.max(c.last_at).label("last_at"),
                func.sum(c.events).label("events"),
            ).group_by(*keys, c.success)
        )
    # One statement for every kind (a month's import ran eight per day, each planned and sent).
    conn.execute(insert(s).from_select(SEEN_INSERT, union_all(*per_kind)))


DAYS_PER_CHUNK = 31  # days whose addresses are named at once (bounds the scratch table)
SEEN_INSERT = ["org", *SEEN_COLUMNS]


def _network(ip: str) -> str:
    """The ``app_network`` value of an ``app_ip`` value ("" stays "", as a missing address)."""
    return network_label(ip) if ip else ""


def _networks_from_ips(conn: Connection, org: str, days: list[date]) -> None:
    """``app_network`` rows of ``days`` from their ``app_ip`` rows, grouped by each address's network."""
    s = schema.login_seen_daily
    ip_rows = and_(s.c.org == org, s.c.kind == "app_ip", s.c.day >= days[0], s.c.day <= days[-1])
    ips = [ip for (ip,) in conn.execute(select(s.c.value).where(ip_rows).distinct())]
    if not ips:
        return
    nets = _scratch(conn, _NETWORKS)
    pairs = [(ip, _network(ip)) for ip in ips]
    if conn.dialect.name == "postgresql":
        # COPY, then statistics: 50,000 addresses took 3 s as an executemany, and without them
        # the planner took the fresh table for empty.
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        with cur.copy(f"COPY {nets.name} (ip, network) FROM STDIN") as copy:
            for pair in pairs:
                copy.write_row(pair)
        conn.exec_driver_sql(f"ANALYZE {nets.name}")
    else:
        conn.exec_driver_sql(f"INSERT INTO {nets.name} (ip, network) VALUES (?, ?)", pairs)
    sel = (
        select(
            s.c.org,
            literal("app_network").label("kind"),
            s.c.grp,
            nets.c.network.label("value"),
            s.c.day,
            s.c.success,
            func.min(s.c.first_at).label("first_at"),
            func.max(s.c.last_at).label("last_at"),
            func.sum(s.c.events).label("events"),
        )
        .select_from(s.join(nets, nets.c.ip == s.c.value))
        .where(ip_rows, s.c.day.in_(days))
        .group_by(s.c.org, s.c.grp, nets.c.network, s.c.day, s.c.success)
    )
    conn.execute(insert(s).from_select(SEEN_INSERT, sel))
    nets.drop(conn)
