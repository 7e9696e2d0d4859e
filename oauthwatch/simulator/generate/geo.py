"""A small built-in IP geolocation table: network → country, city, coordinates.

The local org resolves every login's source IP through this table, the way Salesforce fills
LoginGeo from its geo-IP provider. Networks are plausible ISP, mobile-carrier, cloud and hosting
ranges (IPv4 and a few IPv6); an address outside the table gets a LoginGeo with empty location
fields, as Salesforce does for private or unknown addresses.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import cache, lru_cache


@dataclass(frozen=True)
class Network:
    """One geolocated network and the role the generator gives it."""

    cidr: str
    iso: str
    country: str
    subdivision: str | None
    city: str | None
    postal: str | None
    lat: float
    lon: float
    kind: str  # office | isp | mobile | cloud | hosting

    @property
    def net(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return _net(self.cidr)

    def address(self, host: int) -> str:
        """The ``host``-th usable address of the network (wraps around), as a string."""
        net = self.net
        size = min(net.num_addresses - 2, 65_000)
        return str(net.network_address + 1 + host % size)


@cache
def _net(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(cidr)


_N = Network
NETWORKS: tuple[Network, ...] = (
    # Offices of the org (corporate egress).
    _N(
        "64.125.92.0/24",
        "US",
        "United States",
        "California",
        "San Francisco",
        "94105",
        37.7898,
        -122.3942,
        "office",
    ),
    _N("66.162.40.0/24", "US", "United States", "New York", "New York", "10001", 40.7506, -73.9972, "office"),
    _N("62.252.124.0/24", "GB", "United Kingdom", "England", "London", "EC2A", 51.5226, -0.0805, "office"),
    _N("90.83.200.0/24", "FR", "France", "Île-de-France", "Paris", "75009", 48.8738, 2.3320, "office"),
    _N("49.207.52.0/24", "IN", "India", "Karnataka", "Bengaluru", "560103", 12.9279, 77.6271, "office"),
    _N("210.171.224.0/24", "JP", "Japan", "Tokyo", "Tokyo", "100-0005", 35.6812, 139.7671, "office"),
    _N(
        "203.21.88.0/24", "AU", "Australia", "New South Wales", "Sydney", "2000", -33.8688, 151.2093, "office"
    ),
    _N("80.156.44.0/24", "DE", "Germany", "Berlin", "Berlin", "10117", 52.5170, 13.3889, "office"),
    _N("177.69.180.0/24", "BR", "Brazil", "São Paulo", "São Paulo", "01310", -23.5614, -46.6559, "office"),
    _N("12.221.132.0/24", "US", "United States", "Illinois", "Chicago", "60606", 41.8827, -87.6359, "office"),
    # Residential ISPs (home working).
    _N("73.158.0.0/16", "US", "United States", "California", "Oakland", "94612", 37.8044, -122.2712, "isp"),
    _N("98.217.0.0/16", "US", "United States", "New York", "Brooklyn", "11201", 40.6943, -73.9903, "isp"),
    _N("2601:646::/32", "US", "United States", "California", "San Jose", "95113", 37.3362, -121.8906, "isp"),
    _N("24.15.0.0/16", "US", "United States", "Illinois", "Evanston", "60201", 42.0451, -87.6877, "isp"),
    _N("86.128.0.0/16", "GB", "United Kingdom", "England", "Manchester", "M1", 53.4808, -2.2426, "isp"),
    _N(
        "90.24.0.0/16",
        "FR",
        "France",
        "Île-de-France",
        "Boulogne-Billancourt",
        "92100",
        48.8397,
        2.2399,
        "isp",
    ),
    _N("2003:e6::/32", "DE", "Germany", "Hamburg", "Hamburg", "20095", 53.5511, 9.9937, "isp"),
    _N("79.192.0.0/16", "DE", "Germany", "Bavaria", "Munich", "80331", 48.1374, 11.5755, "isp"),
    _N("122.171.0.0/16", "IN", "India", "Karnataka", "Bengaluru", "560001", 12.9716, 77.5946, "isp"),
    _N("126.0.0.0/16", "JP", "Japan", "Kanagawa", "Yokohama", "220-0011", 35.4437, 139.6380, "isp"),
    _N("101.160.0.0/16", "AU", "Australia", "Victoria", "Melbourne", "3000", -37.8136, 144.9631, "isp"),
    _N(
        "189.100.0.0/16",
        "BR",
        "Brazil",
        "Rio de Janeiro",
        "Rio de Janeiro",
        "20040",
        -22.9068,
        -43.1729,
        "isp",
    ),
    # Mobile carriers.
    _N("172.56.0.0/16", "US", "United States", None, None, None, 37.7510, -97.8220, "mobile"),
    _N("2607:fb90::/32", "US", "United States", None, None, None, 37.7510, -97.8220, "mobile"),
    _N("92.40.0.0/16", "GB", "United Kingdom", None, None, None, 51.4964, -0.1224, "mobile"),
    _N("37.171.0.0/16", "FR", "France", None, None, None, 48.8582, 2.3387, "mobile"),
    _N("80.187.0.0/16", "DE", "Germany", None, None, None, 51.2993, 9.4910, "mobile"),
    _N("106.76.0.0/16", "IN", "India", None, None, None, 21.9974, 79.0011, "mobile"),
    _N("49.96.0.0/16", "JP", "Japan", None, None, None, 35.6900, 139.6900, "mobile"),
    _N("1.128.0.0/16", "AU", "Australia", None, None, None, -33.4940, 143.2104, "mobile"),
    _N("177.79.0.0/16", "BR", "Brazil", None, None, None, -22.8305, -43.2192, "mobile"),
    # Cloud providers (integrations and SaaS vendors' servers).
    _N("3.214.120.0/24", "US", "United States", "Virginia", "Ashburn", "20149", 39.0469, -77.4903, "cloud"),
    _N("44.226.176.0/24", "US", "United States", "Oregon", "Boardman", "97818", 45.8399, -119.7006, "cloud"),
    _N(
        "34.122.48.0/24", "US", "United States", "Iowa", "Council Bluffs", "51501", 41.2619, -95.8608, "cloud"
    ),
    _N("52.212.64.0/24", "IE", "Ireland", "Leinster", "Dublin", "D02", 53.3498, -6.2603, "cloud"),
    _N("20.61.32.0/24", "NL", "Netherlands", "North Holland", "Amsterdam", "1012", 52.3740, 4.8897, "cloud"),
    _N("18.184.16.0/24", "DE", "Germany", "Hesse", "Frankfurt am Main", "60313", 50.1109, 8.6821, "cloud"),
    _N(
        "2600:1f18:4000::/40",
        "US",
        "United States",
        "Virginia",
        "Ashburn",
        "20149",
        39.0469,
        -77.4903,
        "cloud",
    ),
    # Hosting / VPN networks that attackers rent.
    _N(
        "185.220.101.0/24",
        "DE",
        "Germany",
        "Brandenburg",
        "Brandenburg",
        "14770",
        52.4125,
        12.5316,
        "hosting",
    ),
    _N("45.134.212.0/24", "RU", "Russia", "Moscow", "Moscow", "101000", 55.7558, 37.6173, "hosting"),
    _N("102.89.32.0/24", "NG", "Nigeria", "Lagos", "Lagos", "100001", 6.5244, 3.3792, "hosting"),
    _N("89.38.96.0/24", "RO", "Romania", "Bucharest", "Bucharest", "010011", 44.4268, 26.1025, "hosting"),
    _N("103.152.220.0/24", "VN", "Vietnam", "Hanoi", "Hanoi", "100000", 21.0278, 105.8342, "hosting"),
    _N(
        "196.196.216.0/24",
        "ZA",
        "South Africa",
        "Gauteng",
        "Johannesburg",
        "2001",
        -26.2041,
        28.0473,
        "hosting",
    ),
)

_BY_CIDR = {n.cidr: i for i, n in enumerate(NETWORKS)}


def index(cidr: str) -> int:
    """Position of the network ``cidr`` in :data:`NETWORKS`."""
    return _BY_CIDR[cidr]


def by_kind(kind: str, iso: str | None = None) -> list[int]:
    """Indexes of networks of ``kind`` (and country ``iso`` when given)."""
    return [i for i, n in enumerate(NETWORKS) if n.kind == kind and (iso is None or n.iso == iso)]


@lru_cache(maxsize=65_536)
def lookup(ip: str) -> int | None:
    """Index of the network containing ``ip``, or None when unknown (private, loopback, elsewhere)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    for i, n in enumerate(NETWORKS):
        net = n.net
        if addr.version == net.version and addr in net:
            return i
    return None
