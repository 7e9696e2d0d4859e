"""The allowlist: connected apps someone approved, with what is expected of them.

An entry names an app (per org, or for every org when ``org`` is None), its owner, the IP ranges
and countries it should authenticate from, its integration users, and an optional expiry. The
detectors read it to tell "unapproved app" from "approved, behaving as expected", and to judge an
integration user against its known ranges; the digest and the dashboard's Alerts page list it.
Each CLI verb (``oauthwatch allow add|list|remove``) is a thin wrapper over these functions::

    from oauthwatch.detect.allowlist import add_entry, list_entries, remove_entry
    entry_id = add_entry(engine, "Data Loader", org="prod", owner="ops@example.com",
                         ip_ranges=["192.0.2.0/24"], countries=["US"])
    for entry in list_entries(engine, org="prod"):
        print(entry.app_name, entry.active)
    remove_entry(engine, entry_id)
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, or_, select, update

from oauthwatch.config import ConfigError
from oauthwatch.store import schema
from oauthwatch.store.writes import utcnow

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.engine import Connection, Engine


class AllowlistError(ValueError):
    """A wrong allowlist entry (bad CIDR, bad country code, unknown id), said plainly."""


@dataclass(frozen=True)
class AllowEntry:
    """One approved app and what is expected of it."""

    id: int
    org: str | None
    app_name: str
    owner: str | None
    ip_ranges: tuple[str, ...]
    countries: tuple[str, ...]
    integration_users: tuple[str, ...]
    note: str | None
    expires_at: datetime | None
    created_at: datetime
    created_by: str | None

    def active_at(self, now: datetime) -> bool:
        """True unless the entry has expired by ``now``."""
        return self.expires_at is None or self.expires_at > now

    @property
    def active(self) -> bool:
        """Whether the entry is in force right now."""
        return self.active_at(utcnow())

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON/CSV output and the dashboard."""
        return {
            "id": self.id,
            "org": self.org or "*",
            "app_name": self.app_name,
            "owner": self.owner or "",
            "ip_ranges": ", ".join(self.ip_ranges),
            "countries": ", ".join(self.countries),
            "integration_users": ", ".join(self.integration_users),
            "note": self.note or "",
            "expires_at": self.expires_at.isoformat() if self.expires_at else "",
            "active": self.active,
            "created_by": self.created_by or "",
        }


def _clean_ranges(ranges: Iterable[str]) -> list[str]:
    out = []
    for r in ranges:
        try:
            out.append(str(ipaddress.ip_network(r.strip(), strict=False)))
        except ValueError:
            raise AllowlistError(
                f"{r!r} is not an IP range; write CIDR such as 192.0.2.0/24 or 2001:db8::/48"
            ) from None
    return out


def _clean_countries(countries: Iterable[str]) -> list[str]:
    out = []
    for c in countries:
        code = c.strip().upper()
        if len(code) != 2 or not code.isalpha():
            raise AllowlistError(f"{c!r} is not an ISO 3166 two-letter country code such as US or DE")
        out.append(code)
    return out


def add_entry(
    engine: Engine,
    app_name: str,
    *,
    org: str | None = None,
    owner: str | None = None,
    ip_ranges: Iterable[str] = (),
    countries: Iterable[str] = (),
    integration_users: Iterable[str] = (),
    note: str | None = None,
    expires_at: datetime | None = None,
    created_by: str | None = None,
) -> int:
    """Approve ``app_name`` (for ``org``, or every org when None); replaces an existing entry.

    Returns the entry id. Raises :class:`AllowlistError` for a malformed range or country code.
    """
    app_name = app_name.strip()
    if not app_name:
        raise AllowlistError("the app name is empty; give the connected app's name as Salesforce shows it")
    if expires_at is not None and expires_at.tzinfo is None:
        raise AllowlistError("expires_at must be tz-aware (UTC)")
    values = {
        "org": org,
        "app_name": app_name,
        "owner": owner,
        "ip_ranges": _clean_ranges(ip_ranges),
        "countries": _clean_countries(countries),
        "integration_users": [u.strip() for u in integration_users if u.strip()],
        "note": note,
        "expires_at": expires_at,
        "created_at": utcnow(),
        "created_by": created_by,
    }
    t = schema.allowlist
    with engine.begin() as conn:
        # NULL org never equals NULL in a unique index, so "replace" is done by hand, not by upsert.
        org_cond = t.c.org.is_(None) if org is None else t.c.org == org
        existing = conn.execute(select(t.c.id).where(org_cond, t.c.app_name == app_name)).scalar()
        if existing is not None:
            conn.execute(update(t).where(t.c.id == existing).values(**values))
            return int(existing)
        key = conn.execute(insert(t).values(**values)).inserted_primary_key
        assert key is not None  # a single-row INSERT always reports the key it made
        return int(key[0])


def remove_entry(engine: Engine, entry: int | str, *, org: str | None = None) -> int:
    """Remove an entry by id, or by app name (within ``org``); returns how many were removed."""
    t = schema.allowlist
    with engine.begin() as conn:
        if isinstance(entry, int) or (isinstance(entry, str) and entry.isdigit()):
            cond = t.c.id == int(entry)
        else:
            cond = t.c.app_name == entry
            if org is not None:
                cond = cond & (t.c.org == org)
        return conn.execute(delete(t).where(cond)).rowcount or 0


def _entry(row: Any) -> AllowEntry:
    return AllowEntry(
        id=int(row.id),
        org=row.org,
        app_name=row.app_name,
        owner=row.owner,
        ip_ranges=tuple(row.ip_ranges or ()),
        countries=tuple(row.countries or ()),
        integration_users=tuple(row.integration_users or ()),
        note=row.note,
        expires_at=row.expires_at,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def entries_for(conn: Connection, org: str | None = None) -> list[AllowEntry]:
    """Every entry that applies to ``org`` (its own and the all-org ones), expired ones included."""
    t = schema.allowlist
    stmt = select(t).order_by(t.c.app_name, t.c.id)
    if org is not None:
        stmt = stmt.where(or_(t.c.org == org, t.c.org.is_(None)))
    return [_entry(r) for r in conn.execute(stmt)]


def list_entries(engine: Engine, *, org: str | None = None, include_expired: bool = True) -> list[AllowEntry]:
    """The allowlist (for ``org`` if given), sorted by app name."""
    with engine.connect() as conn:
        entries = entries_for(conn, org)
    return entries if include_expired else [e for e in entries if e.active]


def approved(entries: Iterable[AllowEntry], app_name: str, now: datetime) -> AllowEntry | None:
    """The active entry approving ``app_name`` at ``now`` (case-insensitive), or None."""
    low = app_name.casefold()
    for e in entries:
        if e.app_name.casefold() == low and e.active_at(now):
            return e
    return None


def parse_expiry(text: str | None) -> datetime | None:
    """'2026-12-31' or an ISO time -> an aware UTC datetime (for the CLI and the dashboard)."""
    if not text:
        return None
    from oauthwatch.rules.times import parse_utc

    try:
        return parse_utc(text, "--expires")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
