"""Classify an IP address as hosting (with provider), VPN, Tor exit or other, offline.

Ranges are kept per (IP version, prefix length) in dicts keyed by the network's integer, so a
lookup is at most one dict probe per prefix length present, most specific first. That makes
overlapping ranges harmless (the narrowest wins: a Tor exit /32 inside a hosting /16 answers
"tor") and lets ranges loaded by the user sit beside the shipped table: the user's table is
asked first, so a fresher download always overrides the shipped data.
"""

from __future__ import annotations

import csv
import gzip
import io
import ipaddress
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

Kind = Literal["hosting", "vpn", "tor", "other"]
KINDS: tuple[Kind, ...] = ("hosting", "vpn", "tor", "other")
SHIPPED = Path(__file__).with_name("data") / "networks.csv.gz"


@dataclass(frozen=True)
class NetClass:
    """What an address is: ``kind`` (hosting | vpn | tor | other), the provider, and the source."""

    kind: Kind
    provider: str = ""
    source: str = ""

    @property
    def label(self) -> str:
        """'hosting (Amazon AWS)', 'tor', 'other': how pages and alerts print it."""
        return f"{self.kind} ({self.provider})" if self.provider and self.kind != "other" else self.kind

    @property
    def suspicious(self) -> bool:
        """Hosting, VPN and Tor: places a person's integration traffic does not usually come from."""
        return self.kind != "other"


OTHER = NetClass("other")


class RangeTable:
    """Networks by (version, prefix length) → {network int: NetClass}; most specific wins."""

    def __init__(self) -> None:
        self._by_len: dict[tuple[int, int], dict[int, NetClass]] = {}
        self._lengths: dict[int, list[int]] = {4: [], 6: []}
        self.count = 0

    def add(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network, cls: NetClass) -> None:
        """Add one network (a later add of the same network replaces the earlier one)."""
        self.add_int(network.version, network.prefixlen, int(network.network_address), cls)

    def add_int(self, version: int, prefixlen: int, start: int, cls: NetClass) -> None:
        """Add one network given as integers (the shipped table's fast path)."""
        key = (version, prefixlen)
        bucket = self._by_len.get(key)
        if bucket is None:
            bucket = self._by_len[key] = {}
            lengths = self._lengths[version]
            lengths.append(prefixlen)
            lengths.sort(reverse=True)
        if start not in bucket:
            self.count += 1
        bucket[start] = cls

    def find(self, addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> NetClass | None:
        """The most specific network containing ``addr``, or None."""
        value = int(addr)
        bits = addr.max_prefixlen
        for length in self._lengths[addr.version]:
            masked = (value >> (bits - length)) << (bits - length) if length else 0
            hit = self._by_len[(addr.version, length)].get(masked)
            if hit is not None:
                return hit
        return None


@dataclass(frozen=True)
class RangeRow:
    """One range as read from a file or the store."""

    cidr: str
    kind: Kind
    provider: str


def read_shipped(path: Path = SHIPPED) -> list[RangeRow]:
    """The shipped table (``cidr,kind,provider`` CSV, gzip)."""
    with gzip.open(path, "rt", newline="") as fh:
        return [RangeRow(r["cidr"], r["kind"], r["provider"]) for r in csv.DictReader(fh)]  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def _shipped_table() -> RangeTable:
    table = RangeTable()
    with gzip.open(SHIPPED, "rb") as fh:
        reader = csv.reader(io.TextIOWrapper(fh, newline=""))
        next(reader)
        classes: dict[tuple[str, str], NetClass] = {}
        for cidr, kind, provider in reader:
            cls = classes.get((kind, provider))
            if cls is None:
                cls = classes[(kind, provider)] = NetClass(kind, provider, "shipped")  # type: ignore[arg-type]
            addr, _, length = cidr.partition("/")
            if ":" in addr:
                table.add_int(6, int(length), int(ipaddress.IPv6Address(addr)), cls)
            else:
                a, b, c, d = addr.split(".")
                table.add_int(4, int(length), (int(a) << 24) | (int(b) << 16) | (int(c) << 8) | int(d), cls)
    return table


class NetworkIndex:
    """The user's loaded ranges (asked first) over the shipped table."""

    def __init__(self, overlay: Iterable[RangeRow] = (), *, shipped: bool = True) -> None:
        self.overlay = RangeTable()
        for row in overlay:
            self.overlay.add(
                ipaddress.ip_network(row.cidr, strict=False), NetClass(row.kind, row.provider, "loaded")
            )
        self.shipped = _shipped_table() if shipped else RangeTable()
        self._cache: dict[str, NetClass] = {}
        self._lock = threading.Lock()

    def classify(self, ip: str | None) -> NetClass:
        """The class of ``ip``; unparsable, private and unknown addresses are ``other``."""
        if not ip:
            return OTHER
        hit = self._cache.get(ip)
        if hit is not None:
            return hit
        try:
            addr = ipaddress.ip_address(ip.strip())
        except ValueError:
            return OTHER
        if addr.is_private or addr.is_reserved or addr.is_loopback or addr.is_link_local or addr.is_multicast:
            found = (
                OTHER  # private, documentation and special ranges are nobody's cloud, whatever a feed says
            )
        else:
            found = self.overlay.find(addr) or self.shipped.find(addr) or OTHER
        with self._lock:
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[ip] = found
        return found


def network_index(engine: Engine | None = None) -> NetworkIndex:
    """The index for this store: the shipped table plus the ranges loaded into ``engine``."""
    if engine is None:
        return NetworkIndex()
    from oauthwatch.intel.store import loaded_ranges

    return NetworkIndex(loaded_ranges(engine))


def classify_ips(ips: Iterable[str | None], index: NetworkIndex | None = None) -> dict[str, NetClass]:
    """Classes of many addresses at once (each distinct address classified once)."""
    index = index or NetworkIndex()
    return {ip: index.classify(ip) for ip in {i for i in ips if i}}
