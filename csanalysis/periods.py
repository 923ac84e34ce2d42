"""Month indices and reporting periods, shared by every analysis (pandas side; the engine side is
``data.spells.month_index``).

A month is the integer ``year * 12 + month − 1``, so month arithmetic is integer arithmetic. A period (month,
quarter, year, fiscal year starting in a configurable month) is named by the index of its first month.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

PERIOD_MONTHS = {"month": 1, "quarter": 3, "year": 12, "fiscal_year": 12}


def month_index(ts):
    """Month index of a Timestamp (int) or of a datetime Series / array (int64 ndarray)."""
    if isinstance(ts, (pd.Series, pd.Index, np.ndarray, list)):
        ts = pd.to_datetime(pd.Series(ts)) if not isinstance(ts, pd.Series) else pd.to_datetime(ts)
        return (ts.dt.year * 12 + ts.dt.month - 1).to_numpy(dtype=np.int64)
    ts = pd.Timestamp(ts)
    return ts.year * 12 + ts.month - 1


def month_start(idx: int) -> pd.Timestamp:
    """First day of the month with index ``idx``."""
    return pd.Timestamp(year=int(idx) // 12, month=int(idx) % 12 + 1, day=1)


def period_start(m, period: str, fy_start: int = 1):
    """Index of the first month of the period (month/quarter/year/fiscal_year) containing month index ``m``."""
    if period not in PERIOD_MONTHS:
        raise ValueError(f"period={period!r}: use one of {list(PERIOD_MONTHS)}")
    if period == "month":
        return m
    if period == "quarter":
        return m - m % 3
    if period == "year":
        return m - m % 12
    return m - (m - (fy_start - 1)) % 12  # fiscal year: 12 months starting in month fy_start
