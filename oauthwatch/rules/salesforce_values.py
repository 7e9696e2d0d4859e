"""Salesforce values that arrive in more than one form, brought to one (docs/salesforce-behaviour.md §5).

- Record Ids: Event Log Files carry 15-character, case-sensitive Ids (``USER_ID``; ApiTotalUsage has
  no ``USER_ID_DERIVED``) while the API returns the 18-character, case-safe form; an Id stored in
  both forms would never join. The 3-character suffix encodes the case of the first 15 characters
  (each 5-character chunk's upper-case letters as a 5-bit number, least significant first, looked up
  in ``A–Z0–5``), so the long form is computed, never guessed.
- TLS protocol: LoginHistory says ``TLS 1.2``, the Login file ``1.2`` (or ``TLSv1.2``); the
  LoginHistory form is kept.
"""

from __future__ import annotations

import re

_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID15 = re.compile(r"[0-9A-Za-z]{15}")
_TLS = re.compile(r"(?i)^\s*(?:tls\s*v?\s*)?(1\.[0-3])\s*$")


def id18(value: str | None) -> str | None:
    """The 18-character form of a 15-character Id; an 18-character Id (or anything else) unchanged."""
    if not value:
        return value
    if not _ID15.fullmatch(value):
        return value
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, ch in enumerate(value[start : start + 5]) if "A" <= ch <= "Z")
        suffix += _SUFFIX[bits]
    return value + suffix


def tls_protocol(value: str | None) -> str | None:
    """``TLS 1.2`` for ``1.2``, ``TLSv1.2`` or ``TLS 1.2``; ``Unknown`` and other values unchanged."""
    if not value:
        return None
    m = _TLS.match(value)
    return f"TLS {m.group(1)}" if m else value.strip()
