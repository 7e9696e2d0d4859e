"""Which network an address belongs to: the unit the detectors, the dashboard and the digest group by.

A network is the /24 of an IPv4 address or the /48 of an IPv6 address: one office, one cloud
subnet, one carrier pool. A value that is not an address (empty, "Salesforce.com IP", a masked
value) has no network: :func:`network_of` returns None, and :func:`network_label` keeps such
values visible as themselves (or "(unknown)" when empty) where rows must still be grouped or shown.
"""

from __future__ import annotations

import ipaddress

UNKNOWN = "(unknown)"


def network_of(ip: str | None) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) network of ``ip``, or None when it is not an address."""
    if not ip:
        return None
    ip = ip.strip()
    parts = ip.split(".")
    if len(parts) == 4 and all(_octet(p) for p in parts):
        return f"{parts[0]}.{parts[1]}.{parts[2]}.0/24"  # the common case, without ipaddress's cost
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


def _octet(text: str) -> bool:
    """A decimal IPv4 octet as :mod:`ipaddress` accepts it (0-255, no leading zero)."""
    return text.isdigit() and len(text) <= 3 and int(text) <= 255 and (text == "0" or text[0] != "0")


def network_label(ip: str | None) -> str:
    """The network of ``ip`` for grouping and display: the value itself when it is not an address."""
    net = network_of(ip)
    if net is not None:
        return net
    text = (ip or "").strip()
    return text or UNKNOWN


def in_ranges(ip: str | None, ranges: list[str] | tuple[str, ...]) -> bool:
    """Whether ``ip`` falls in any of the CIDR ``ranges`` (values that are not addresses never do)."""
    if not ip or not ranges:
        return False
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return False
    for r in ranges:
        try:
            if addr in ipaddress.ip_network(r, strict=False):
                return True
        except ValueError:
            continue
    return False
