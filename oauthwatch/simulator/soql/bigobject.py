"""Big-object SOQL (LoginEvent): only what Salesforce allows on an object stored as a big object.

Salesforce's rules (docs/salesforce-behaviour.md): filters only on the index fields, in index
order and without gaps, ``=`` on all but the last field used, a range (or ``=``/``IN``) on that
last one, no ``!=``, ``LIKE``, ``NOT IN``, ``OR`` or ``NOT``; ``ORDER BY`` only on a prefix of the
index and in the index's own direction; no aggregate functions and no OFFSET. Refusals carry
the ``BIG_OBJECT_UNSUPPORTED_OPERATION`` code Salesforce uses for them.
"""

from __future__ import annotations

from oauthwatch.simulator.data.schema import SObject
from oauthwatch.simulator.soql.lexer import SoqlError
from oauthwatch.simulator.soql.parser import Comparison, Condition, Not, Query

CODE = "BIG_OBJECT_UNSUPPORTED_OPERATION"
_RANGE = {"<", "<=", ">", ">="}


def _refuse(message: str) -> SoqlError:
    return SoqlError(CODE, message)


def _comparisons(cond: Condition) -> list[Comparison]:
    if isinstance(cond, Comparison):
        return [cond]
    if isinstance(cond, Not) or cond.op != "AND":
        raise _refuse("Only AND is supported between filters on a big object")
    out: list[Comparison] = []
    for item in cond.items:
        out.extend(_comparisons(item))
    return out


def check(query: Query, obj: SObject) -> None:
    """Raise Salesforce's error when ``query`` breaks the big-object rules of ``obj``."""
    index = [name.lower() for name, _desc in obj.big_object_index]
    if query.count is not None:
        raise _refuse("Aggregate functions not supported")
    if query.offset:
        raise _refuse("OFFSET is not supported on big objects")
    if query.where is not None:
        used: dict[int, list[str]] = {}
        for comp in _comparisons(query.where):
            name = comp.field.path[-1].lower() if len(comp.field.path) == 1 else ""
            if name not in index:
                raise _refuse(f"Filter on field '{'.'.join(comp.field.path)}' is not on the index")
            if comp.op in ("!=", "LIKE", "NOTIN"):
                raise _refuse(f"The {comp.op} operator is not supported on big objects")
            used.setdefault(index.index(name), []).append(comp.op)
        positions = sorted(used)
        if positions != list(range(len(positions))):
            raise _refuse("Filters must use the index fields in order, without gaps")
        for pos in positions[:-1]:
            if any(op != "=" for op in used[pos]):
                raise _refuse("Only the last index field used may have a range filter")
        last_ops = used[positions[-1]]
        if len(last_ops) > 1 and not all(op in _RANGE for op in last_ops):
            raise _refuse("Only the last index field used may have a range filter")
    for pos, item in enumerate(query.order_by):
        if pos >= len(index) or item.field.path[-1].lower() != index[pos] or len(item.field.path) != 1:
            raise _refuse("ORDER BY must follow the index fields in order")
        if item.descending != obj.big_object_index[pos][1]:
            raise _refuse("ORDER BY must use the direction of the index field")
