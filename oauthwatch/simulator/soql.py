"""SOQL for the local org: errors, tokens, syntax tree and a recursive-descent parser.

The local org must accept what Salesforce accepts and reject what it rejects with the same error
codes and message shapes, so that a collector which works here works against a real org. This
module only checks syntax; :mod:`oauthwatch.simulator.soql_compile` checks names against the
catalog and turns the tree into SQLite SQL.

Usage::

    query = parse("SELECT Id, LoginGeo.Country FROM LoginHistory WHERE LoginTime > TODAY")
    query.sobject, [f.path for f in query.fields]   # ('LoginHistory', [('Id',), ('LoginGeo', 'Country')])
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
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
            value: object = float(num) if "." in num else int(num)
            toks.append(Token("number", num, i, value))
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


# ---------------------------------------------------------------------------------------------
# Syntax tree


@dataclass(frozen=True)
class FieldRef:
    """A field path as written: ``('LoginGeo', 'Country')``; ``pos`` for error carets."""

    path: tuple[str, ...]
    pos: int


@dataclass(frozen=True)
class Literal:
    """A value: kind is string | number | boolean | null | datetime | date | relative."""

    kind: str
    value: object
    pos: int
    like: str | None = None


@dataclass(frozen=True)
class Comparison:
    """``field op value``; op is one of = != < <= > >= LIKE IN NOTIN (values is a tuple for IN)."""

    field: FieldRef
    op: str
    value: Literal | tuple[Literal, ...]
    pos: int


@dataclass(frozen=True)
class BoolOp:
    """AND / OR over two or more conditions."""

    op: str
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    """NOT condition."""

    item: Condition


Condition = Comparison | BoolOp | Not


@dataclass(frozen=True)
class OrderItem:
    """One ORDER BY term; ``nulls_first`` None means Salesforce's default (nulls first)."""

    field: FieldRef
    descending: bool = False
    nulls_first: bool | None = None


@dataclass(frozen=True)
class CountExpr:
    """``COUNT()`` (field None: only totalSize) or ``COUNT(field) [alias]`` (an aggregate row)."""

    field: FieldRef | None
    alias: str | None
    pos: int


@dataclass
class Query:
    """A parsed SELECT statement."""

    text: str
    fields: list[FieldRef]
    count: CountExpr | None
    sobject: str
    sobject_pos: int
    where: Condition | None = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


RELATIVE_DATES = {"TODAY", "YESTERDAY", "TOMORROW", "THIS_WEEK", "LAST_WEEK", "THIS_MONTH", "LAST_MONTH"}
RELATIVE_N = {"LAST_N_DAYS", "NEXT_N_DAYS", "LAST_N_HOURS"}
_CLAUSE_WORDS = {"FROM", "WHERE", "ORDER", "LIMIT", "OFFSET", "GROUP", "HAVING", "WITH", "FOR", "USING"}


# ---------------------------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def advance(self) -> Token:
        tok = self.toks[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def fail(self, tok: Token | None = None) -> SoqlError:
        tok = tok or self.tok
        return located_error("MALFORMED_QUERY", self.text, tok.pos, f"unexpected token: '{tok.text}'")

    def is_word(self, *words: str) -> bool:
        return self.tok.kind == "ident" and self.tok.upper in words

    def expect_word(self, word: str) -> Token:
        if not self.is_word(word):
            raise self.fail()
        return self.advance()

    def expect_punct(self, ch: str) -> Token:
        if not (self.tok.kind == "punct" and self.tok.text == ch):
            raise self.fail()
        return self.advance()

    def field_ref(self) -> FieldRef:
        tok = self.tok
        if tok.kind != "ident" or tok.upper in _CLAUSE_WORDS:
            raise self.fail()
        self.advance()
        return FieldRef(tuple(tok.text.split(".")), tok.pos)

    def parse(self) -> Query:
        self.expect_word("SELECT")
        fields: list[FieldRef] = []
        count: CountExpr | None = None
        if self.is_word("COUNT") and self.toks[self.i + 1].text == "(":
            count = self.count_expr()
        else:
            fields.append(self.field_ref())
            while self.tok.text == "," and self.tok.kind == "punct":
                self.advance()
                fields.append(self.field_ref())
        self.expect_word("FROM")
        obj = self.tok
        if obj.kind != "ident" or "." in obj.text:
            raise self.fail()
        self.advance()
        q = Query(self.text, fields, count, obj.text, obj.pos)
        if self.is_word("WHERE"):
            self.advance()
            q.where = self.condition()
        if self.is_word("ORDER"):
            self.advance()
            self.expect_word("BY")
            q.order_by.append(self.order_item())
            while self.tok.text == "," and self.tok.kind == "punct":
                self.advance()
                q.order_by.append(self.order_item())
        if self.is_word("LIMIT"):
            self.advance()
            q.limit = self.unsigned_int()
        if self.is_word("OFFSET"):
            self.advance()
            q.offset = self.unsigned_int()
            if q.offset > MAX_OFFSET:
                raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}")
        if self.tok.kind != "eof":
            raise self.fail()
        return q

    def count_expr(self) -> CountExpr:
        pos = self.advance().pos
        self.expect_punct("(")
        ref = None if self.tok.text == ")" else self.field_ref()
        self.expect_punct(")")
        alias = None
        if ref is not None and self.tok.kind == "ident" and self.tok.upper not in _CLAUSE_WORDS:
            alias = self.advance().text
        return CountExpr(ref, alias, pos)

    def unsigned_int(self) -> int:
        tok = self.tok
        if tok.kind != "number" or not isinstance(tok.value, int) or tok.text[0] in "+-":
            raise self.fail()
        self.advance()
        return int(tok.value)

    def order_item(self) -> OrderItem:
        ref = self.field_ref()
        desc = False
        nulls: bool | None = None
        if self.is_word("ASC", "DESC"):
            desc = self.advance().upper == "DESC"
        if self.is_word("NULLS"):
            self.advance()
            if not self.is_word("FIRST", "LAST"):
                raise self.fail()
            nulls = self.advance().upper == "FIRST"
        return OrderItem(ref, desc, nulls)

    # WHERE: SOQL forbids mixing AND and OR without parentheses, so each level is one operator.
    def condition(self) -> Condition:
        first = self.unary()
        if not self.is_word("AND", "OR"):
            return first
        op = self.tok.upper
        items = [first]
        while self.is_word("AND", "OR"):
            if self.tok.upper != op:
                raise self.fail()
            self.advance()
            items.append(self.unary())
        return BoolOp(op, tuple(items))

    def unary(self) -> Condition:
        if self.is_word("NOT"):
            self.advance()
            return Not(self.unary())
        if self.tok.kind == "punct" and self.tok.text == "(":
            self.advance()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        ref = self.field_ref()
        tok = self.tok
        if tok.kind == "op":
            self.advance()
            op = "!=" if tok.text == "<>" else tok.text
            return Comparison(ref, op, self.literal(), tok.pos)
        if self.is_word("LIKE"):
            self.advance()
            return Comparison(ref, "LIKE", self.literal(), tok.pos)
        negate = False
        if self.is_word("NOT"):
            self.advance()
            negate = True
        if self.is_word("IN"):
            self.advance()
            self.expect_punct("(")
            values = [self.literal()]
            while self.tok.kind == "punct" and self.tok.text == ",":
                self.advance()
                values.append(self.literal())
            self.expect_punct(")")
            return Comparison(ref, "NOTIN" if negate else "IN", tuple(values), tok.pos)
        raise self.fail()

    def literal(self) -> Literal:
        tok = self.tok
        if tok.kind == "string":
            self.advance()
            return Literal("string", tok.value, tok.pos, tok.like)
        if tok.kind in ("number", "datetime", "date"):
            self.advance()
            return Literal(tok.kind, tok.value, tok.pos)
        if tok.kind == "ident":
            word = tok.upper
            if word in ("TRUE", "FALSE"):
                self.advance()
                return Literal("boolean", word == "TRUE", tok.pos)
            if word == "NULL":
                self.advance()
                return Literal("null", None, tok.pos)
            if word in RELATIVE_DATES:
                self.advance()
                return Literal("relative", (word, 0), tok.pos)
            if word in RELATIVE_N:
                self.advance()
                self.expect_punct(":")
                return Literal("relative", (word, self.unsigned_int()), tok.pos)
        raise self.fail()


def parse(text: str | None) -> Query:
    """Parse one SOQL SELECT statement or raise :class:`SoqlError` as Salesforce words it."""
    if not text:
        raise SoqlError("MALFORMED_QUERY", "A query string has to be specified")
    if not text.strip():
        raise SoqlError("MALFORMED_QUERY", "SOQL statements cannot be empty or null")
    return _Parser(text).parse()
