"""Where a webhook may be sent: https only, never to link-local or cloud metadata addresses.

A webhook URL comes from the configuration or an environment variable, and the alert it carries
holds login data: a typo or a hostile setting must not turn oauthwatch into a request forger
against the host's metadata service (``169.254.169.254`` and friends hand out cloud credentials).
So: ``https://`` only (``http://`` is allowed to a loopback literal, for tests and local relays),
the host is checked when the settings are read and its addresses again right before each send
(a name can resolve anywhere), redirects are never followed (see :mod:`oauthwatch.notify.webhook`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

# Cloud metadata endpoints that are not link-local (169.254.0.0/16 and fe80::/10 are refused whole).
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "metadata.azure.internal"})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("100.100.100.200", "fd00:ec2::254", "192.0.0.192")
)


class WebhookTargetError(ValueError):
    """A webhook URL oauthwatch refuses to send to (the message never contains the URL)."""


def _forbidden_address(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.is_link_local:
        return "a link-local address (cloud metadata services live there)"
    if addr in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if addr.is_unspecified or addr.is_multicast:
        return "not a unicast address"
    return None


def check_url(url: str) -> str:
    """``url`` itself when its shape is allowed; :class:`WebhookTargetError` saying why not."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise WebhookTargetError("is not a URL") from None
    if not host:
        raise WebhookTargetError("has no host")
    literal: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if parts.scheme == "http":
        if literal is None or not literal.is_loopback:
            raise WebhookTargetError("must be https:// (http:// is only allowed to 127.0.0.1 or ::1)")
    elif parts.scheme != "https":
        raise WebhookTargetError("must be an https:// URL")
    if host.lower().rstrip(".") in METADATA_HOSTS:
        raise WebhookTargetError("points at a cloud metadata service")
    if literal is not None and (why := _forbidden_address(literal)):
        raise WebhookTargetError(f"points at {why}")
    return url.strip()


def check_resolved(url: str) -> None:
    """Refuse ``url`` when its host resolves to a forbidden address (checked right before sending)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError):
        return  # unresolvable: the send itself fails with a clear "unreachable"
    for info in infos:
        try:
            addr = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        except ValueError:
            continue
        why = _forbidden_address(addr)
        if why:
            raise WebhookTargetError(f"resolves to {why}")


def target_id(url: str) -> str:
    """What a delivery records about its webhook: scheme, host and a short fingerprint, never the token."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    digest = hashlib.sha256(url.encode()).hexdigest()[:10]
    return f"{parts.scheme}://{parts.hostname or '?'}{port}/… #{digest}"


def _validated(url: str) -> str:
    try:
        return check_url(url)
    except WebhookTargetError as exc:
        raise ValueError(str(exc)) from None


WebhookUrl = Annotated[str, AfterValidator(_validated)]
