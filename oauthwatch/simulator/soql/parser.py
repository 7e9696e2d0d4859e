"""SOQL for the local org: the syntax tree and a recursive-descent parser (errors re-exported).

The local org must accept what Salesforce accepts and reject what it rejects with the same error
codes and message shapes, so that a collector which works here works against a real org. This
module only checks syntax; :mod:`oauthwatch.simulator.soql.compiler` checks names against the
catalog and turns the tree into SQLite SQL.

The subset: ``SELECT`` fields and relationship paths (``LoginGeo.Country``,
``Parent.Profile.Name``) or ``COUNT()`` / ``COUNT(field) [alias]``; ``FROM`` one object;
``WHERE`` with ``= != <> < <= > >=``, ``[NOT] IN (…)``, ``LIKE``, ``AND`` / ``OR`` (not mixed
without parentheses, as in SOQL), ``NOT`` and parentheses; literals: strings (backslash escapes
and doubled quotes), numbers, ``true``/``false``/``null``, datetimes (``Z``, ``±hh:mm``,
optional fraction), dates, and the relative literals TODAY, YESTERDAY, TOMORROW, THIS_WEEK,
LAST_WEEK, THIS_MONTH, LAST_MONTH, LAST_N_DAYS:n, NEXT_N_DAYS:n, LAST_N_HOURS:n; ``ORDER BY``
with ASC/DESC and NULLS FIRST/LAST; ``LIMIT``; ``OFFSET`` up to 2,000. Keywords are
case-insensitive. Anything else (GROUP BY, sub-queries, TYPEOF, FIELDS()) is MALFORMED_QUERY.

Usage::

    query = parse("SELECT Id, LoginGeo.Country FROM LoginHistory WHERE LoginTime > TODAY")
    query.sobject, [f.path for f in query.fields]   # ('LoginHistory', [('Id',), ('LoginGeo', 'Country')])
"""

from __future__ import annotations

from dataclasses import dataclass, field

from oauthwatch.simulator.soql.lexer import MAX_OFFSET, SoqlError, Token, located_error, tokenize

__all__ = ["MAX_OFFSET", "Condition", "Query", "SoqlError", "located_error", "parse"]

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
_MAX_INT = 2**31 - 1
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
        if tok.value > _MAX_INT:  # LIMIT, OFFSET and LAST_N_DAYS:n are 32-bit integers
            raise located_error(
                "NUMBER_OUTSIDE_VALID_RANGE", self.text, tok.pos, f"number out of range: {tok.text}"
            )
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
