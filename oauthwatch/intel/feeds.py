"""Read the range files people download, in the formats the providers publish them.

Recognised without being told:

- AWS ``ip-ranges.json`` (``prefixes[].ip_prefix``, ``ipv6_prefixes[].ipv6_prefix``);
- Google ``cloud.json`` / ``goog.json`` (``prefixes[].ipv4Prefix`` / ``ipv6Prefix``);
- Microsoft Azure Service Tags JSON (``values[].properties.addressPrefixes``);
- Oracle Cloud ``public_ip_ranges.json`` (``regions[].cidrs[].cidr``);
- Tor's ``exit-addresses`` (``ExitAddress 1.2.3.4 …`` lines);
- oauthwatch's own ``cidr,kind,provider`` CSV (the shipped table's format).

Anything else is a plain list, one address or CIDR per line (a provider's ``ips-v4`` text, Tor's
bulk exit list) or an RFC 8805 geofeed CSV (``prefix,country,region,city,postal``, as DigitalOcean
and Linode publish); those need ``kind`` and ``provider`` from the caller, because the file does
not say. Lines that are not ranges are counted and reported by line number, never fatal.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oauthwatch.intel.networks import KINDS, Kind, RangeRow


class FeedError(ValueError):
    """A file that cannot be read as ranges, phrased for the person who downloaded it."""


@dataclass
class Feed:
    """The ranges read from one file, what the file was, and the lines that were not ranges."""

    path: str
    format: str
    kind: Kind
    provider: str
    rows: list[RangeRow] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The feed's identity in the store: loading it again replaces its previous ranges."""
        return f"{self.kind}:{self.provider}"[:120]


def _norm(cidr: str) -> str | None:
    try:
        return str(ipaddress.ip_network(cidr.strip(), strict=False))
    except ValueError:
        return None


def _json_ranges(doc: Any) -> tuple[str, Kind, str, list[str]] | None:
    """(format, kind, provider, cidrs) for the JSON formats we know, else None."""
    if not isinstance(doc, dict):
        return None
    if "prefixes" in doc and any("ip_prefix" in p for p in doc.get("prefixes", []) if isinstance(p, dict)):
        cidrs = [p["ip_prefix"] for p in doc["prefixes"] if isinstance(p, dict) and "ip_prefix" in p]
        cidrs += [
            p["ipv6_prefix"]
            for p in doc.get("ipv6_prefixes", [])
            if isinstance(p, dict) and "ipv6_prefix" in p
        ]
        return "aws-ip-ranges", "hosting", "Amazon AWS", cidrs
    if "prefixes" in doc:
        prefixes = [p for p in doc["prefixes"] if isinstance(p, dict)]
        cidrs = [p.get("ipv4Prefix") or p.get("ipv6Prefix") or "" for p in prefixes]
        provider = "Google Cloud" if any("scope" in p for p in prefixes) else "Google"
        return "google-ipranges", "hosting", provider, cidrs
    if "values" in doc and isinstance(doc["values"], list):
        cidrs = [
            c
            for v in doc["values"]
            if isinstance(v, dict)
            for c in (v.get("properties") or {}).get("addressPrefixes", [])
        ]
        return "azure-service-tags", "hosting", "Microsoft Azure", cidrs
    if "regions" in doc and isinstance(doc["regions"], list):
        cidrs = [c.get("cidr", "") for r in doc["regions"] if isinstance(r, dict) for c in r.get("cidrs", [])]
        return "oracle-public-ip-ranges", "hosting", "Oracle Cloud", cidrs
    return None


def _as_kind(text: str | None) -> Kind | None:
    """``text`` when it names a kind (hosting, vpn, tor, other), else None."""
    return next((k for k in KINDS if k == text), None)


def read_feed(path: Path, *, kind: str | None = None, provider: str | None = None) -> Feed:
    """Parse one downloaded file into ranges (see the module docstring for the formats)."""
    wanted = _as_kind(kind)
    if kind is not None and wanted is None:
        raise FeedError(f"--kind must be one of {', '.join(KINDS)} (got {kind!r})")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise FeedError(f"{path}: cannot read it as text ({exc})") from None
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FeedError(f"{path}: looks like JSON but is not valid JSON ({exc})") from None
        known = _json_ranges(doc)
        if known is None:
            raise FeedError(
                f"{path}: a JSON file of an unknown shape; known: AWS ip-ranges.json, Google cloud.json/goog.json, "
                "Azure Service Tags, Oracle public_ip_ranges.json"
            )
        fmt, k, p, cidrs = known
        feed = Feed(str(path), fmt, wanted or k, provider or p)
        for c in cidrs:
            n = _norm(c) if c else None
            if n:
                feed.rows.append(RangeRow(n, feed.kind, feed.provider))
            else:
                feed.skipped.append(f"entry {c!r}")
        return feed
    lines = text.splitlines()
    if any(line.startswith("ExitAddress ") for line in lines[:50]):
        feed = Feed(str(path), "tor-exit-addresses", "tor", provider or "Tor")
        for no, line in enumerate(lines, 1):
            if line.startswith("ExitAddress "):
                n = _norm(line.split()[1])
                if n:
                    feed.rows.append(RangeRow(n, "tor", feed.provider))
                else:
                    feed.skipped.append(f"line {no}: {line[:60]!r}")
        return feed
    first = next((ln for ln in lines if ln.strip() and not ln.startswith("#")), "")
    if first.replace(" ", "").lower().startswith("cidr,kind,provider"):
        feed = Feed(str(path), "oauthwatch-csv", "hosting", provider or "")
        for no, row in enumerate(csv.DictReader(io.StringIO(text)), 2):
            n = _norm(row.get("cidr") or "")
            row_kind = _as_kind((row.get("kind") or "").strip())
            if n and row_kind:
                feed.rows.append(RangeRow(n, row_kind, (row.get("provider") or "").strip()))
            else:
                feed.skipped.append(f"line {no}: {row}")
        feed.provider = provider or "mixed"
        return feed
    if not wanted or not provider:
        raise FeedError(
            f"{path}: a plain list of addresses does not say what they are; add --kind "
            f"({'|'.join(KINDS)}) and --provider NAME, e.g. --kind tor --provider Tor"
        )
    fmt = "geofeed-csv" if "," in first else "plain-list"
    feed = Feed(str(path), fmt, wanted, provider)
    for no, line in enumerate(lines, 1):
        value = line.split("#", 1)[0].strip().split(",", 1)[0].strip()
        if not value:
            continue
        n = _norm(value)
        if n:
            feed.rows.append(RangeRow(n, feed.kind, provider))
        else:
            feed.skipped.append(f"line {no}: {line[:60]!r}")
    return feed
