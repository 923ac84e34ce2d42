"""CSV cells a spreadsheet will not run: text beginning with ``=``, ``+``, ``-``, ``@``, tab or carriage return is
written with a leading apostrophe (the OWASP rule for CSV injection), so ``=HYPERLINK(…)`` in a customer id or
an owner's name stays text in Excel, LibreOffice or a CRM import. Numbers stay numbers; only text cells (and
text headers and index labels) are touched.

The rule is reversible: text that already begins with apostrophes before such a character gets one more, and
:func:`restore` takes one away, so a list written here and read back (the churn-risk list archive) gives the
original values.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

_RISKY = re.compile(r"^'*[=+\-@\t\r]")
_ESCAPED = re.compile(r"^'+[=+\-@\t\r]")


def _cell(v):
    return "'" + v if isinstance(v, str) and _RISKY.match(v) else v


def _uncell(v):
    return v[1:] if isinstance(v, str) and _ESCAPED.match(v) else v


def _labels(index: pd.Index) -> pd.Index:
    if isinstance(index, pd.MultiIndex):
        return index.set_levels([_labels(level) for level in index.levels])
    return index.map(_cell) if index.dtype == object or pd.api.types.is_string_dtype(index) else index


def neutralise(df: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells, headers and index labels a spreadsheet reads as text."""
    out = df.copy()
    for c in out.columns:
        col = out[c]
        if col.dtype == object or pd.api.types.is_string_dtype(col) or isinstance(col.dtype, pd.CategoricalDtype):
            out[c] = col.astype(object).map(_cell)
    out.columns = _labels(out.columns)
    out.index = _labels(out.index)
    return out


def restore(df: pd.DataFrame) -> pd.DataFrame:
    """The values :func:`neutralise` changed, as they were (text columns and headers)."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
            out[c] = out[c].map(_uncell)
    out.columns = out.columns.map(_uncell)
    return out


def write_csv(df: pd.DataFrame, path: str | Path, *, index: bool = False) -> Path:
    """Write ``df`` as UTF-8 CSV with every text cell safe for a spreadsheet. Rows end in CRLF (RFC 4180), so a
    carriage return inside a value is quoted with it instead of breaking the row."""
    path = Path(path)
    neutralise(df).to_csv(path, index=index, encoding="utf-8", lineterminator="\r\n")
    return path


__all__ = ["neutralise", "restore", "write_csv"]
