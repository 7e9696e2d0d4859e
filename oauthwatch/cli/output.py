"""Listings as an aligned table, JSON (full rows) or CSV (the listed columns), for ``--format``."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

from oauthwatch.cli.options import OutputFormat


def _cell(v: Any) -> str:
    if isinstance(v, datetime):
        return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    if v is None:
        return ""
    return str(v)


def emit(rows: list[dict[str, Any]], columns: tuple[str, ...], fmt: OutputFormat) -> str:
    """Rows as an aligned table, JSON (full rows) or CSV (the listed columns)."""
    if fmt == OutputFormat.json:
        return json.dumps(
            rows, indent=2, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v)
        )
    if fmt == OutputFormat.csv:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(columns)
        for r in rows:
            # A leading = + - @ would be a formula in a spreadsheet: quote it away.
            w.writerow(["'" + c if c and c[0] in "=+-@" else c for c in (_cell(r.get(k)) for k in columns)])
        return buf.getvalue().rstrip("\n")
    if not rows:
        return "(none)"
    cells = [[_cell(r.get(k))[:60] for k in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)
