"""CSV export that a spreadsheet cannot turn into a formula (CSV/formula injection).

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a formula
by Excel and LibreOffice. Login data is attacker-influenced (usernames, app names, Status texts
come from whoever tries to log in), so every such text cell is prefixed with ``'`` (OWASP advice).
Numbers stay numbers: only text cells are touched.
"""

from __future__ import annotations

import pandas as pd

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value: object) -> object:
    """``value`` made safe for a spreadsheet cell (text only; other types unchanged)."""
    if isinstance(value, str) and value.startswith(DANGEROUS_PREFIXES):
        return "'" + value
    return value


def safe_csv(df: pd.DataFrame) -> bytes:
    """``df`` as UTF-8 CSV bytes with every text cell (and header) neutralized."""
    out = df.copy()
    out.columns = [neutralize(str(c)) for c in out.columns]
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralize)
        elif isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    # RFC 4180 line ends: with "\r\n" as terminator, cells holding \r or \n are quoted too.
    return out.to_csv(index=False, lineterminator="\r\n").encode("utf-8")
