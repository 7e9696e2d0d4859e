"""Keeping secrets out of logs, errors and the store.

Anything that might carry a token (a URL with ``access_token=``, a form body with
``client_secret=``, a Bearer header, a JWT, a PEM block) passes through :func:`redact` before it
is logged or shown. Known secret values are also registered at run time (:func:`register_secret`)
and replaced wherever they appear.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading

MASK = "**********"

_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"),
    re.compile(
        r"(?i)\b((?:access_token|refresh_token|client_secret|password|assertion|code_verifier|code|token|"
        r"sessionId|session_id|DeleteToken)[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,;}]+"
    ),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]{20,}"),
)

_known: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that :func:`redact` masks it wherever it shows up."""
    if value and len(value) >= 6:
        with _lock:
            _known.add(value)


def redact(text: str) -> str:
    """``text`` with every known secret and every token-shaped value masked."""
    if not text:
        return text
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        text = text.replace(value, MASK)
    for pat in _PATTERNS:
        text = pat.sub(lambda m: m.group(1) + MASK, text) if pat.groups else pat.sub(MASK, text)
    return text


def fingerprint(value: str) -> str:
    """A one-way identifier for a secret (e.g. DeleteToken) so that it can be matched, never used."""
    return hashlib.sha256(value.encode()).hexdigest()


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
