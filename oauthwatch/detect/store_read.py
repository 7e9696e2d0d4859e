"""Reading the store into pandas, and instants as numpy times to search sorted arrays: the plumbing under load.py.

SQLite hands timestamps back as text: they are read as text and parsed by pandas in bulk (far
faster than SQLAlchemy's per-row conversion), and frames are built column by column.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import DateTime, String, type_coerce

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.sql import Select


def time_col(conn: Connection, col: Any) -> Any:
    """``col`` read for :func:`read_frame` to parse in bulk: SQLite's stored text, PostgreSQL's
    timestamps as the driver makes them (without the per-value UTC conversion of the column type)."""
    if conn.dialect.name == "sqlite":
        return type_coerce(col, String()).label(col.name)
    return type_coerce(col, DateTime(timezone=True)).label(col.name)


def to_utc(values: pd.Series) -> pd.Series:
    """Store timestamps (aware datetimes or SQLite text) as a datetime64[ns, UTC] Series."""
    if values.empty:
        return pd.Series(pd.to_datetime([], utc=True), index=values.index, dtype="datetime64[ns, UTC]")
    return pd.to_datetime(values, utc=True, format="ISO8601").astype("datetime64[ns, UTC]")


def read_frame(
    conn: Connection, stmt: Select[Any], time_cols: tuple[str, ...] = (), *, raw: bool = False
) -> pd.DataFrame:
    """Run ``stmt`` and return a DataFrame with ``time_cols`` as UTC datetimes.

    ``raw``: the values as the driver returns them, without SQLAlchemy's per-row result
    processing (most of the cost of a read of many rows). Only for selects of strings, numbers,
    times read through :func:`time_col` and booleans the caller converts (SQLite gives 0 and 1).
    """
    result = conn.execute(stmt)
    keys = list(result.keys())
    if raw:
        with result:
            tuples = result.cursor.fetchall()
        # One object array filled from the tuples in C, then sliced per column.
        table = np.empty((len(tuples), len(keys)), dtype=object)
        if tuples:
            table[:] = tuples
        df = pd.DataFrame({k: pd.Series(table[:, i], dtype=object) for i, k in enumerate(keys)})
    else:
        rows = result.fetchall()
        # Column-wise construction: handing pandas Row objects costs a slow per-row type probe.
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in keys]
        df = pd.DataFrame(
            {k: pd.Series(list(col), dtype=object) for k, col in zip(keys, columns, strict=True)}
        )
    for c in time_cols:
        if c in df:
            df[c] = to_utc(df[c])
    return df


def ns_utc(t: datetime | pd.Timestamp) -> np.datetime64:
    """``t`` as a naive UTC ``datetime64[ns]``, to compare with sorted time arrays."""
    ts = pd.Timestamp(t)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.tz_localize(None).to_datetime64().astype("datetime64[ns]")


def first_col(conn: Connection, expr: Any) -> Any:
    return type_coerce(expr, String()) if conn.dialect.name == "sqlite" else expr


def as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
