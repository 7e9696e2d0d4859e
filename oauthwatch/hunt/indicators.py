"""The IOC file: one indicator per line, ``#`` starts a comment.

- ``203.0.113.7`` or ``2001:db8::1``: an address;
- ``203.0.113.0/24``: a network;
- ``ua:python-requests``: a user-agent substring (case-insensitive);
- ``app:My Ticket Portal`` or ``app:0H4…``: an app by name (case-insensitive) or by id.

A line that is none of these is reported with its number, and the others are still used: a typo in
one indicator must not stop a hunt in the middle of an incident.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

IndicatorKind = Literal["ip", "cidr", "ua", "app"]
APP_ID = re.compile(r"^(0H4|888)[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$")


class IocFileError(ValueError):
    """The IOC file cannot be read at all (missing, not text)."""


@dataclass(frozen=True)
class Indicator:
    """One parsed line: its kind, the normalised value, and the text as written."""

    kind: IndicatorKind
    value: str
    text: str
    line: int

    @property
    def is_app_id(self) -> bool:
        """``app:`` followed by a connected-app id (0H4…, or 888… for Salesforce-owned apps)."""
        return self.kind == "app" and bool(APP_ID.match(self.value))


@dataclass
class IocList:
    """The indicators of one file and the lines that were not indicators."""

    source: str
    indicators: list[Indicator] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def of_kind(self, kind: IndicatorKind) -> list[Indicator]:
        """The indicators of one kind, in file order."""
        return [i for i in self.indicators if i.kind == kind]


def parse_line(raw: str, line: int) -> Indicator | str | None:
    """An Indicator, None for a blank or comment line, or an error message."""
    tagged = raw.lstrip().lower().startswith(("ua:", "app:"))
    # a user agent may contain '#', so on ua:/app: lines only " #" starts a comment
    text = (raw.split(" #", 1)[0] if tagged else raw.split("#", 1)[0]).strip()
    if not text or text.startswith("#"):
        return None
    low = text.lower()
    for prefix, kind in (("ua:", "ua"), ("app:", "app")):
        if low.startswith(prefix):
            value = text[len(prefix) :].strip()
            if not value:
                return f"line {line}: {prefix} needs a value, e.g. {prefix}{'python-requests' if kind == 'ua' else 'My Ticket Portal'}"
            return Indicator(kind, value, text, line)  # type: ignore[arg-type]
    value = text.replace("[.]", ".")  # advisories defang addresses as 3.239.45[.]43
    try:
        if "/" in value:
            return Indicator("cidr", str(ipaddress.ip_network(value, strict=False)), text, line)
        return Indicator("ip", str(ipaddress.ip_address(value)), text, line)
    except ValueError:
        return (
            f"line {line}: {text[:80]!r} is not an IP, a CIDR, ua:… or app:… "
            "(write user agents as ua:TEXT and apps as app:NAME)"
        )


def parse_iocs(text: str, source: str = "<text>") -> IocList:
    """Parse the text of an IOC file (duplicates are kept once)."""
    out = IocList(source)
    seen: set[tuple[str, str]] = set()
    for no, raw in enumerate(text.splitlines(), 1):
        parsed = parse_line(raw, no)
        if parsed is None:
            continue
        if isinstance(parsed, str):
            out.errors.append(parsed)
            continue
        key = (parsed.kind, parsed.value.casefold())
        if key not in seen:
            seen.add(key)
            out.indicators.append(parsed)
    return out


def read_iocs(path: Path | str) -> IocList:
    """Read and parse an IOC file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise IocFileError(f"cannot read the IOC file {p}: {exc}") from None
    return parse_iocs(text, str(p))
