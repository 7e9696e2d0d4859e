"""How the local org describes an sObject: field types, ``Field``, ``SObject`` and their SQLite DDL.

Table and column names in the org database are the object and field API names exactly. Storage
conventions in that database:

- ``datetime`` fields: INTEGER epoch milliseconds UTC (sortable, compact; rendered on the wire as
  ``2024-06-05T05:41:17.937+0000``);
- ``date`` fields: TEXT ``YYYY-MM-DD``;
- ``boolean``: INTEGER 0/1; ``int``: INTEGER; ``double``: REAL; everything else TEXT.

The objects themselves are listed in :mod:`oauthwatch.simulator.data.catalog`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Field types, as describe() names them.
ID, STRING, PICKLIST, DATETIME, DATE, BOOLEAN, INT, DOUBLE, REFERENCE, URL, BASE64, TEXTAREA = (
    "id",
    "string",
    "picklist",
    "datetime",
    "date",
    "boolean",
    "int",
    "double",
    "reference",
    "url",
    "base64",
    "textarea",
)

_SQL_TYPE = {DATETIME: "INTEGER", BOOLEAN: "INTEGER", INT: "INTEGER", DOUBLE: "REAL"}


@dataclass(frozen=True)
class Field:
    """One field of an sObject."""

    name: str
    type: str = STRING
    filterable: bool = True
    sortable: bool = True
    groupable: bool = True
    nillable: bool = True
    reference_to: str | None = None
    relationship: str | None = None

    @property
    def sql_type(self) -> str:
        return _SQL_TYPE.get(self.type, "TEXT")


@dataclass(frozen=True)
class SObject:
    """One queryable object of the local org."""

    name: str
    key_prefix: str | None
    fields: tuple[Field, ...]
    batch_cap: int = 2000
    total_cap: int | None = None
    licensed_only: bool = False
    indexes: tuple[tuple[str, ...], ...] = ()
    virtual: bool = False  # no table: answered from other tables for the running user
    big_object_index: tuple[tuple[str, bool], ...] = ()  # (field, descending): big-object SOQL rules
    by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name.lower(): f for f in self.fields})

    def field(self, name: str) -> Field | None:
        """The field called ``name`` (SOQL names are case-insensitive), or None."""
        return self.by_name.get(name.lower())

    def relationship(self, name: str) -> Field | None:
        """The reference field whose relationship name is ``name`` (e.g. ``LoginGeo``)."""
        low = name.lower()
        for f in self.fields:
            if f.relationship and f.relationship.lower() == low:
                return f
        return None


def ddl(obj: SObject) -> list[str]:
    """CREATE TABLE and CREATE INDEX statements for ``obj`` in the org's SQLite database."""
    if obj.virtual:
        return []
    cols = ", ".join(
        f'"{f.name}" {f.sql_type}'
        + (" PRIMARY KEY" if f.name == "Id" and f.type == ID and obj.key_prefix else "")
        for f in obj.fields
    )
    stmts = [f'CREATE TABLE IF NOT EXISTS "{obj.name}" ({cols})']
    for i, cols_ in enumerate(obj.indexes):
        quoted = ", ".join(f'"{c}"' for c in cols_)
        stmts.append(f'CREATE INDEX IF NOT EXISTS "ix_{obj.name}_{i}" ON "{obj.name}" ({quoted})')
    return stmts
