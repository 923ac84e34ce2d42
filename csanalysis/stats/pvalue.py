"""How a p-value is written, everywhere: in the report's tables and sentences (:mod:`csanalysis.report.narrative`
re-exports :func:`fmt_p`) and in a result's own text (``str(nps.NPSDifference)``).

Below 0.001 it reads ``< 0.001``; otherwise two significant digits (0.0016, 0.050, 0.34, 1.0): never ``p = 0``,
never scientific notation. It sits apart from the report so an analysis can write its p-values the same way
without importing the report.
"""
from __future__ import annotations

import math

import pandas as pd

__all__ = ["fmt_p"]


def fmt_p(v, *, label: bool = False) -> str:
    """The project's one way to write a p-value: '< 0.001' below 0.001, else two significant digits (0.0016,
    0.050, 0.34, 1.0); never 'p = 0', never scientific notation. ``label`` writes it with its p: 'p < 0.001',
    'p = 0.034'. A missing value (None, NaN, pandas' NA) reads '–'."""
    if v is None or (pd.api.types.is_scalar(v) and pd.isna(v)):
        return "–"
    v = float(v)
    if not 0 <= v <= 1 + 1e-9:
        raise ValueError(f"p-value {v!r} is outside [0, 1]")
    if v < 0.001:
        return "p < 0.001" if label else "< 0.001"
    d = 1 - math.floor(math.log10(v))  # decimals that keep two significant digits
    r = round(v, d)
    if math.floor(math.log10(r)) > math.floor(math.log10(v)):  # rounded up to the next power of ten: 0.0999 → 0.10
        d -= 1
    text = f"{r:.{max(d, 1)}f}"
    return f"p = {text}" if label else text
