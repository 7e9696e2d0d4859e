"""The metadata every table belongs to, its naming convention and the column helpers tables share."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    MetaData,
    String,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# BigInteger ids that still autoincrement on SQLite (where only INTEGER PRIMARY KEY does).
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _org() -> Column[str]:
    return Column("org", String(80), ForeignKey("orgs.name", ondelete="CASCADE"), nullable=False)
