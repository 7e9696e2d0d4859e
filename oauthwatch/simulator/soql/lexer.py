"""SOQL errors and tokens: the lexical layer of the local org's SOQL parser.

Salesforce words its SOQL errors with an echo of the query line, a caret under the offending
character and ``ERROR at Row:r:Column:c``; :func:`located_error` builds exactly that, and the
lexer uses it for the errors it can see (unterminated strings, impossible datetimes, stray
characters). The grammar lives in :mod:`oauthwatch.simulator.soql.parser`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

MAX_OFFSET = 2000


class SoqlError(Exception):
    """An error Salesforce would answer with ``[{"message": …, "errorCode": …}]`` and ``status``."""

    def __init__(self, error_code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message
        self.status = status

    def body(self) -> list[dict[str, str]]:
        """The JSON error body exactly as the REST API sends it (always a list)."""
        return [{"message": self.message, "errorCode": self.error_code}]


def located_error(code: str, text: str, pos: int, detail: str) -> SoqlError:
    """An error whose message echoes the query line, a caret and ``ERROR at Row:r:Column:c``.

    That is how Salesforce words MALFORMED_QUERY, INVALID_FIELD and INVALID_TYPE errors.
    """
    pos = max(0, min(pos, len(text)))
    row = text.count("\n", 0, pos) + 1
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    col = pos - line_start + 1
    caret = " " * (col - 1) + "^"
    return SoqlError(code, f"\n{line}\n{caret}\nERROR at Row:{row}:Column:{col}\n{detail}")


# ---------------------------------------------------------------------------------------------
# Tokens


@dataclass(frozen=True)
class Token:
    """One lexical token; ``pos`` is its offset in the query text (for error carets)."""

    kind: str  # ident | string | number | datetime | date | op | punct | eof
    text: str
    pos: int
    value: object = None
    like: str | None = None  # for strings: the LIKE pattern with SQLite ESCAPE '\\' semantics

    @property
    def upper(self) -> str:
        return self.text.upper()


_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2}))?(?![\w:.-])"
)
_DATE_PREFIX = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?![\w.])")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_OPS = ("<=", ">=", "!=", "<>", "=", "<", ">")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def _datetime_value(m: re.Match[str], text: str, pos: int) -> tuple[str, object]:
    """Epoch ms for a datetime literal, a :class:`date` for a date literal."""
    try:
        if m.group(4) is None:
            return "date", date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        frac = (m.group(7) or ".0")[1:]
        tz = m.group(8)
        iso = m.group(0)[:19] + "." + frac[:6].ljust(6, "0") + ("+00:00" if tz == "Z" else tz)
        dt = datetime.fromisoformat(iso)
    except ValueError:
        raise located_error(
            "MALFORMED_QUERY",
            text,
            pos,
            f"{_antlr_at(text, pos)} no viable alternative at character '{m.group(0)}'",
        ) from None
    return "datetime", _epoch_ms(dt)


def _antlr_at(text: str, pos: int) -> str:
    """``line R:C`` as Salesforce's lexer errors say it (column counted from 0)."""
    return f"line {text.count(chr(10), 0, pos) + 1}:{pos - (text.rfind(chr(10), 0, pos) + 1)}"


def _epoch_ms(dt: datetime) -> int:
    delta = dt.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _string(text: str, start: int) -> Token:
    """Scan a quoted string: backslash escapes (SOQL) and doubled quotes both supported."""
    plain: list[str] = []
    like: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text):
                break
            nxt = text[i + 1]
            if nxt in "%_":
                plain.append(nxt)
                like.append("\\" + nxt)
            elif nxt in _ESCAPES:
                plain.append(_ESCAPES[nxt])
                like.append("\\\\" if nxt == "\\" else _ESCAPES[nxt])
            else:
                raise located_error(
                    "MALFORMED_QUERY",
                    text,
                    i,
                    f"Invalid string literal '{text[start : i + 2]}'. Illegal character sequence '\\{nxt}' in string literal.",
                )
            i += 2
            continue
        if ch == "'":
            if i + 1 < len(text) and text[i + 1] == "'":
                plain.append("'")
                like.append("'")
                i += 2
                continue
            return Token("string", text[start : i + 1], start, "".join(plain), "".join(like))
        plain.append(ch)
        like.append("\\\\" if ch == "\\" else ch)
        i += 1
    end = len(text)
    detail = f"{_antlr_at(text, end)} mismatched character '<EOF>' expecting " + "'\\''"
    raise located_error("MALFORMED_QUERY", text, end, detail)


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an ``eof`` token."""
    toks: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "'":
            tok = _string(text, i)
            toks.append(tok)
            i += len(tok.text)
            continue
        if ch.isdigit() and _DATE_PREFIX.match(text, i):
            m = _DATETIME.match(text, i)
            if m is None:
                end = i
                while end < n and not text[end].isspace() and text[end] not in "(),":
                    end += 1
                raise located_error(
                    "MALFORMED_QUERY",
                    text,
                    i,
                    f"{_antlr_at(text, i)} no viable alternative at character '{text[i:end]}'",
                )
            kind, value = _datetime_value(m, text, i)
            toks.append(Token(kind, m.group(0), i, value))
            i = m.end()
            continue
        if (ch.isdigit() or ch in "+-.") and (m := _NUMBER.match(text, i)):
            num = m.group(0)
            number: float = float(num) if "." in num else int(num)
            toks.append(Token("number", num, i, number))
            i = m.end()
            continue
        if m := _IDENT.match(text, i):
            toks.append(Token("ident", m.group(0), i))
            i = m.end()
            continue
        op = next((o for o in _OPS if text.startswith(o, i)), None)
        if op:
            toks.append(Token("op", op, i))
            i += len(op)
            continue
        if ch in "(),:":
            toks.append(Token("punct", ch, i))
            i += 1
            continue
        raise located_error(
            "MALFORMED_QUERY", text, i, f"{_antlr_at(text, i)} no viable alternative at character '{ch}'"
        )
    toks.append(Token("eof", "<EOF>", n))
    return toks
