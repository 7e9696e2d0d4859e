"""Check a parsed SOQL query against the catalog and compile it to parameterised SQLite SQL.

Names are resolved the way Salesforce resolves them (case-insensitive, answered with the field's
own casing), relationship paths become LEFT JOINs over the catalog's reference fields, and every
rule a real org enforces (unknown columns, non-filterable or non-sortable fields, value types,
licensed-only objects) raises the same error code and message shape. Literal values only ever
travel as SQL parameters; identifiers come from the catalog, never from the query text.

SOQL semantics kept here: string comparisons are case-insensitive, ``!=`` / ``NOT IN`` / ``NOT``
match null values, a relative date literal (TODAY, LAST_N_DAYS:n…) compared with a datetime field
means the whole UTC range it names (``=`` inside it, ``>`` after its end, ``<`` before its start),
a plain date literal filters date fields only (as the SOQL docs say), and nulls sort first unless
``NULLS LAST`` is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from oauthwatch.simulator.data import catalog, schema
from oauthwatch.simulator.data.permissions import Viewer
from oauthwatch.simulator.soql import bigobject, visibility
from oauthwatch.simulator.soql.dates import DAY_MS, date_ms, date_text, day_range
from oauthwatch.simulator.soql.parser import (
    Comparison,
    Condition,
    FieldRef,
    Literal,
    Not,
    Query,
    located_error,
)
from oauthwatch.simulator.soql.records import RecordShape

_TEXT_TYPES = {schema.ID, schema.STRING, schema.PICKLIST, schema.REFERENCE, schema.URL, schema.TEXTAREA}
_EXACT_TYPES = {schema.ID, schema.REFERENCE}  # Ids compare exactly (and use the primary key index)
_LIKE_TYPES = {schema.STRING, schema.PICKLIST, schema.URL, schema.TEXTAREA}
_TYPE_WORD = {
    schema.DATETIME: "dateTime",
    schema.DATE: "date",
    schema.BOOLEAN: "boolean",
    schema.INT: "int",
    schema.DOUBLE: "double",
}
# LoginHistory.SourceIp refuses LIKE: docs/salesforce-behaviour.md §6 (unconfirmed, and why it is harmless).
_NO_LIKE = {"sourceip"}
_SQL_OPS = {"=": "=", "!=": "=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _no_column(text: str, ref: FieldRef, name: str, entity: str) -> Exception:
    return located_error(
        "INVALID_FIELD",
        text,
        ref.pos,
        f"No such column '{name}' on entity '{entity}'. If you are attempting to use a custom field, be "
        "sure to append the '__c' after the custom field name. Please reference your WSDL or the "
        "describe call for the appropriate names.",
    )


def _bad_relationship(text: str, ref: FieldRef, name: str) -> Exception:
    return located_error(
        "INVALID_FIELD",
        text,
        ref.pos,
        f"Didn't understand relationship '{name}' in field path. If you are attempting to use a custom "
        "relationship, be sure to append the '__r' after the custom relationship name. Please "
        "reference your WSDL or the describe call for the appropriate names.",
    )


def resolve_object(query: Query, *, licensed: bool, viewer: Viewer | None = None) -> schema.SObject:
    """The queried sObject, or INVALID_TYPE as Salesforce words it (also for unlicensed objects and
    for objects the viewer's permissions do not open)."""
    obj = catalog.get(query.sobject)
    if (
        obj is None
        or (obj.licensed_only and not licensed)
        or (obj is not None and visibility.hidden(obj, viewer))
    ):
        raise located_error(
            "INVALID_TYPE",
            query.text,
            query.sobject_pos,
            f"sObject type '{query.sobject}' is not supported. If you are attempting to use a custom "
            "object, be sure to append the '__c' after the entity name. Please reference your WSDL or "
            "the describe call for the appropriate names.",
        )
    return obj


def id_suffix(id15: str) -> str:
    """The 3-character case checksum that turns a 15-character Salesforce Id into its 18-character form."""
    out = ""
    for chunk in range(3):
        bits = sum(1 << i for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]) if "A" <= ch <= "Z")
        out += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return out


@dataclass
class Compiled:
    """A checked query: SQL for rows and for the total count, and how to build records."""

    obj: schema.SObject
    select_sql: str
    count_sql: str
    params: list[Any]
    count_params: list[Any]
    shape: RecordShape | None  # None for COUNT() / COUNT(field)
    columns: list[str]  # canonical field paths in SELECT order ("LoginGeo.Country")
    count_only: bool = False  # SELECT COUNT(): totalSize only
    aggregate_key: str | None = None  # SELECT COUNT(field) [alias]: one AggregateResult row
    row_cap: int | None = None  # OauthToken: rows beyond 2500 are never returned


class _Compiler:
    def __init__(self, query: Query, obj: schema.SObject, now_ms: int, event_monitoring: bool = True) -> None:
        self.q, self.obj, self.now_ms = query, obj, now_ms
        self.event_monitoring = event_monitoring
        self.joins: dict[tuple[str, ...], tuple[str, schema.SObject, str]] = {}
        self.exprs: list[str] = ['t0."Id"']
        self.params: list[Any] = []
        self.touched: set[tuple[str, ...]] | None = None  # joins the WHERE clause needs

    def resolve(self, ref: FieldRef) -> tuple[str, schema.Field, tuple[tuple[str, str, schema.SObject], ...]]:
        """(table alias, field, relationship chain) for a field path; joins are added as needed."""
        path = ref.path
        if len(path) > 1 and path[0].lower() == self.obj.name.lower():
            path = path[1:]
        obj, alias, chain = self.obj, "t0", []
        for i, seg in enumerate(path[:-1]):
            rel = obj.relationship(seg)
            target = catalog.get(rel.reference_to) if rel and rel.reference_to else None
            if rel is None or target is None or target.licensed_only:
                raise _bad_relationship(self.q.text, ref, seg)
            key = tuple(p.lower() for p in path[: i + 1])
            if key not in self.joins:
                new_alias = f"t{len(self.joins) + 1}"
                self.joins[key] = (
                    new_alias,
                    target,
                    f'"{target.name}" AS {new_alias} ON {new_alias}."Id" = {alias}."{rel.name}"',
                )
            alias = self.joins[key][0]
            if self.touched is not None:
                self.touched.add(key)
            chain.append((rel.relationship or seg, alias, target))
            obj = target
        fld = obj.field(path[-1])
        if fld is None or not catalog.has_field(obj, fld.name, event_monitoring=self.event_monitoring):
            raise _no_column(self.q.text, ref, path[-1], obj.name)
        return alias, fld, tuple(chain)

    def column(self, expr: str) -> int:
        self.exprs.append(expr)
        return len(self.exprs) - 1

    # --- SELECT list -----------------------------------------------------------------------
    def select(self) -> tuple[RecordShape, list[str]]:
        shape = RecordShape(self.obj.name, 0)
        seen: set[str] = set()
        names: list[str] = []
        for ref in self.q.fields:
            alias, fld, chain = self.resolve(ref)
            canonical = ".".join([c[0] for c in chain] + [fld.name])
            if canonical.lower() in seen:
                raise located_error(
                    "MALFORMED_QUERY", self.q.text, ref.pos, f"duplicate field selected: {canonical}"
                )
            seen.add(canonical.lower())
            names.append(canonical)
            node = shape
            for rel_name, rel_alias, target in chain:
                node = node.child(rel_name, target.name, -1)
                if node.id_index < 0:
                    node.id_index = self.column(f'{rel_alias}."Id"')
            node.items.append((fld.name, self.column(f'{alias}."{fld.name}"'), fld.type))
        return shape, names

    # --- WHERE -----------------------------------------------------------------------------
    def condition(self, cond: Condition, negate: bool = False) -> str:
        if isinstance(cond, Not):
            return self.condition(cond.item, not negate)
        if isinstance(cond, Comparison):
            # != and NOT IN are the negations of = and IN; a negated comparison matches nulls.
            if cond.op in ("!=", "NOTIN"):
                negate = not negate
            sql, column, null_safe = self.comparison(cond)
            if not negate:
                return sql
            return f"NOT ({sql})" if null_safe else f"({column} IS NULL OR NOT ({sql}))"
        op = cond.op if not negate else ("OR" if cond.op == "AND" else "AND")
        return "(" + f" {op} ".join(self.condition(c, negate) for c in cond.items) + ")"

    def type_error(self, fld: schema.Field, lit: Literal) -> Exception:
        if fld.type in _TEXT_TYPES or fld.type == schema.BASE64:
            detail = f"value of filter criterion for field '{fld.name}' must be of type string and should be enclosed in quotes"
        else:
            word = _TYPE_WORD.get(fld.type, fld.type)
            detail = f"value of filter criterion for field '{fld.name}' must be of type {word} and should not be enclosed in quotes"
        return located_error("INVALID_FIELD", self.q.text, lit.pos, detail)

    def value(self, fld: schema.Field, lit: Literal) -> Any:
        """The SQL parameter for a scalar literal compared with ``fld`` (ranges handled elsewhere)."""
        kind, t = lit.kind, fld.type
        if t in _EXACT_TYPES and kind == "string":
            return self.record_id(lit)
        if t in _TEXT_TYPES and kind == "string":
            return lit.value
        if t == schema.BOOLEAN and kind == "boolean":
            return 1 if lit.value else 0
        if t in (schema.INT, schema.DOUBLE) and kind == "number":
            value = lit.value
            # Beyond SQLite's 64-bit integers a float compares the same way and cannot overflow.
            return float(value) if isinstance(value, int) and abs(value) >= 2**63 else value
        if t == schema.DATETIME and kind == "datetime":
            return lit.value
        raise self.type_error(fld, lit)

    def record_id(self, lit: Literal) -> str:
        """An Id literal as stored (18 characters); 15-character Ids are accepted as Salesforce does."""
        value = str(lit.value)
        if value == "":
            return value
        if len(value) not in (15, 18) or not value.isascii() or not value.isalnum():
            raise located_error(
                "INVALID_QUERY_FILTER_OPERATOR", self.q.text, lit.pos, f"invalid ID field: {value}"
            )
        return value if len(value) == 18 else value + id_suffix(value)

    def range_of(self, fld: schema.Field, lit: Literal) -> tuple[Any, Any] | None:
        """[lo, hi) for a date / relative literal, in the field's storage form; None otherwise."""
        if lit.kind == "relative":
            word, n = cast(tuple[str, int], lit.value)
            lo, hi = day_range(word, n, self.now_ms)
        elif lit.kind == "date":
            if fld.type == schema.DATETIME:
                # The SOQL docs: a date format value filters date fields only (use a dateTime
                # literal or TODAY/LAST_N_DAYS:n on dateTime fields), so a real org rejects it.
                raise self.type_error(fld, lit)
            lo = date_ms(lit.value)  # type: ignore[arg-type]
            hi = lo + DAY_MS
        else:
            return None
        if fld.type == schema.DATETIME:
            return lo, hi
        if fld.type == schema.DATE:
            return date_text(lo), date_text(hi)
        raise self.type_error(fld, lit)

    def comparison(self, cmp: Comparison) -> tuple[str, str, bool]:
        """(SQL of the positive form — = for !=, IN for NOT IN —, the column, whether it is never NULL)."""
        alias, fld, _ = self.resolve(cmp.field)
        if not fld.filterable:
            raise located_error(
                "INVALID_FIELD",
                self.q.text,
                cmp.field.pos,
                f"field '{fld.name}' can not be filtered in a query call",
            )
        col = f'{alias}."{fld.name}"'
        nocase = " COLLATE NOCASE" if fld.type in _TEXT_TYPES and fld.type not in _EXACT_TYPES else ""
        if cmp.op == "LIKE":
            lit = cmp.value
            assert isinstance(lit, Literal)
            if fld.name.lower() in _NO_LIKE or fld.type not in _LIKE_TYPES:
                raise located_error(
                    "INVALID_QUERY_FILTER_OPERATOR",
                    self.q.text,
                    cmp.pos,
                    f"invalid operator on field '{fld.name}'",
                )
            if lit.kind != "string":
                raise self.type_error(fld, lit)
            self.params.append(lit.like)
            return f"{col} LIKE ? ESCAPE '\\'", col, False
        if cmp.op in ("IN", "NOTIN"):
            values = cmp.value
            assert isinstance(values, tuple)
            with_null = any(v.kind == "null" for v in values)
            scalars = [self.value(fld, v) for v in values if v.kind != "null"]
            parts = []
            if scalars:
                self.params.extend(scalars)
                parts.append(f"{col}{nocase} IN ({', '.join('?' * len(scalars))})")
            if with_null:
                parts.append(f"{col} IS NULL")
            return "(" + " OR ".join(parts) + ")", col, with_null
        lit = cmp.value
        assert isinstance(lit, Literal)
        if lit.kind == "null":
            if cmp.op not in ("=", "!="):
                raise located_error("MALFORMED_QUERY", self.q.text, lit.pos, "unexpected token: 'null'")
            return f"{col} IS NULL", col, True
        rng = self.range_of(fld, lit)
        if rng is not None:
            lo, hi = rng
            sql = {
                "=": f"({col} >= ? AND {col} < ?)",
                "!=": f"({col} >= ? AND {col} < ?)",
                "<": f"{col} < ?",
                "<=": f"{col} < ?",
                ">": f"{col} >= ?",
                ">=": f"{col} >= ?",
            }[cmp.op]
            self.params.extend(
                {"=": (lo, hi), "!=": (lo, hi), "<": (lo,), "<=": (hi,), ">": (hi,), ">=": (lo,)}[cmp.op]
            )
        else:
            self.params.append(self.value(fld, lit))
            sql = f"{col} {_SQL_OPS[cmp.op]} ?{nocase}"
        return sql, col, False

    # --- ORDER BY --------------------------------------------------------------------------
    def order_by(self) -> str:
        terms = []
        for item in self.q.order_by:
            alias, fld, chain = self.resolve(item.field)
            if not fld.sortable:
                raise located_error(
                    "INVALID_FIELD",
                    self.q.text,
                    item.field.pos,
                    f"field '{fld.name}' can not be sorted in a query call",
                )
            nocase = " COLLATE NOCASE" if fld.type in _TEXT_TYPES and fld.type not in _EXACT_TYPES else ""
            term = f'{alias}."{fld.name}"{nocase}{" DESC" if item.descending else ""}'
            nulls_first = True if item.nulls_first is None else item.nulls_first
            sqlite_default_first = not item.descending
            if (fld.nillable or chain) and nulls_first != sqlite_default_first:
                term += " NULLS FIRST" if nulls_first else " NULLS LAST"
            terms.append(term)
        return " ORDER BY " + ", ".join(terms) if terms else ""


def compile_query(
    query: Query, *, licensed: bool, now_ms: int, viewer: Viewer | None = None, event_monitoring: bool = True
) -> Compiled:
    """Check ``query`` against the catalog (and the viewer's access) and compile it; raises :class:`SoqlError`.

    Without ``event_monitoring`` the fields only that licence brings do not exist (INVALID_FIELD)."""
    obj = resolve_object(query, licensed=licensed, viewer=viewer)
    if obj.big_object_index:
        bigobject.check(query, obj)
    c = _Compiler(query, obj, now_ms, event_monitoring)
    shape: RecordShape | None = None
    names: list[str] = []
    aggregate_key: str | None = None
    if query.count is None:
        shape, names = c.select()
    elif query.count.field is not None:
        alias, fld, _ = c.resolve(query.count.field)
        c.exprs = [f'COUNT({alias}."{fld.name}")']
        aggregate_key = query.count.alias or "expr0"
    c.touched = set()
    where = c.condition(query.where) if query.where is not None else ""
    where_joins, c.touched = c.touched, None
    own, own_params = visibility.own_rows(obj, viewer)
    if own:
        where = f"({where}) AND {own}" if where else own
    source, source_params = visibility.source(obj, viewer)
    where_params = [*source_params, *c.params, *own_params]
    order = c.order_by()
    frm = source + "".join(f" LEFT JOIN {j[2]}" for j in c.joins.values())
    # The count needs only the joins WHERE uses: the others are on a primary key and add no rows.
    count_frm = source + "".join(f" LEFT JOIN {j[2]}" for key, j in c.joins.items() if key in where_joins)
    where_sql = f" WHERE {where}" if where else ""
    limit = query.limit
    if obj.total_cap is not None and query.count is None:
        limit = obj.total_cap if limit is None else min(limit, obj.total_cap)
    page = ""
    if limit is not None or query.offset:
        page = f" LIMIT {limit if limit is not None else -1}" + (
            f" OFFSET {query.offset}" if query.offset else ""
        )
    select_sql = f"SELECT {', '.join(c.exprs)} FROM {frm}{where_sql}{order}{page}"
    if query.limit is not None or query.offset:
        count_page = f" LIMIT {query.limit if query.limit is not None else -1}" + (
            f" OFFSET {query.offset}" if query.offset else ""
        )
        count_sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM {count_frm}{where_sql}{count_page})"
    else:
        count_sql = f"SELECT COUNT(*) FROM {count_frm}{where_sql}"
    return Compiled(
        obj=obj,
        select_sql=select_sql,
        count_sql=count_sql,
        params=where_params,
        count_params=where_params,
        shape=shape,
        columns=names,
        count_only=query.count is not None and query.count.field is None,
        aggregate_key=aggregate_key,
        row_cap=obj.total_cap if query.count is None else None,
    )
