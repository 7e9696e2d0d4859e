"""What every read-side query shares: the :class:`Window` it reads, the org condition and the fast frame builder.

Split from :mod:`oauthwatch.store.queries` so that the login, operations and investigation queries
(:mod:`~oauthwatch.store.queries`, :mod:`~oauthwatch.store.queries_ops`,
:mod:`~oauthwatch.store.queries_investigate`) build on one base without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Date, String, case, select, type_coerce

from oauthwatch.store import schema
from oauthwatch.store.types import UTCDateTime

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.sql import ColumnElement


@dataclass(frozen=True)
class Window:
    """Which orgs (empty: all) over which UTC time range ``[start, end)``."""

    start: datetime
    end: datetime
    orgs: tuple[str, ...] = ()

    @classmethod
    def last(cls, *, days: float = 7, orgs: tuple[str, ...] = (), now: datetime | None = None) -> Window:
        """The ``days`` before the next full hour (so the current hour is included)."""
        end = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        return cls(end - timedelta(days=days), end, tuple(orgs))

    def previous(self) -> Window:
        """The window of the same length just before this one (for "vs previous period")."""
        span = self.end - self.start
        return replace(self, start=self.start - span, end=self.start)

    @property
    def days(self) -> tuple[date, date]:
        """The first and last UTC day the window touches (inclusive), for the daily rollups."""
        return self.start.astimezone(UTC).date(), (self.end - timedelta(microseconds=1)).astimezone(
            UTC
        ).date()


def _orgs(col: Any, w: Window) -> ColumnElement[bool]:
    """The org condition; "all orgs" is spelled as IN (every org) so (org, …) indexes still apply."""
    return col.in_(w.orgs) if w.orgs else col.in_(select(schema.orgs.c.name).scalar_subquery())


def _frame(engine: Engine, stmt: Any, columns: list[str] | None = None) -> pd.DataFrame:
    """Run ``stmt`` into a DataFrame, converting time columns in bulk (not row by row).

    SQLAlchemy's per-row result processing (UTCDateTime, Date on SQLite) costs more than the
    query itself on large frames, so such columns are fetched raw and parsed with pandas.
    """
    kinds: dict[str, str] = {}
    cols = []
    for c in stmt.selected_columns:
        if isinstance(c.type, UTCDateTime | Date):
            kinds[c.key] = "ts" if isinstance(c.type, UTCDateTime) else "date"
            cols.append(type_coerce(c, String).label(c.key))
        else:
            cols.append(c)
    if kinds:
        stmt = stmt.with_only_columns(*cols, maintain_column_froms=True)
    with engine.connect() as conn:
        res = conn.execute(stmt)
        names = columns or list(res.keys())
        # Plain DBAPI tuples, then each column's own result processor applied column-wise: building
        # frames from SQLAlchemy Row objects costs more than the query on large results.
        raw = res.cursor.fetchall() if res.cursor is not None else []
        res.close()
        df = pd.DataFrame(raw, columns=names)
        for name, c in zip(names, stmt.selected_columns, strict=False):
            proc = c.type.dialect_impl(conn.dialect).result_processor(conn.dialect, None)
            if proc is not None and len(df):
                df[name] = df[name].map(proc)
    for name, (key, kind) in zip(
        names, [(c.key, kinds.get(c.key)) for c in stmt.selected_columns], strict=False
    ):
        if kind == "ts":
            df[name] = pd.to_datetime(df[name], utc=True, format="ISO8601")
        elif kind == "date":
            df[name] = pd.to_datetime(df[name]).dt.date if len(df) else pd.Series(dtype=object)
        del key
    return df


def _case_failed(success: Any, events: Any) -> Any:
    return case((success.is_(False), events), else_=0)


def _with_rate(df: pd.DataFrame) -> pd.DataFrame:
    if "events" in df:
        df["events"] = df["events"].fillna(0).astype("int64")
        df["failures"] = df["failures"].fillna(0).astype("int64")
        df["failure_rate"] = (df["failures"] / df["events"].where(df["events"] > 0)).fillna(0.0)
    return df
