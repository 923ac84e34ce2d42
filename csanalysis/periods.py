"""The month index and reporting periods: the one home of month arithmetic (pandas and numpy side).

A month is the integer ``year * 12 + month − 1`` (January 2024 is 24 288, December 2023 is 24 287), so month
arithmetic is integer arithmetic: the month after ``m`` is ``m + 1`` across year ends, and a date's day (a leap
day included) never matters. Every analysis, the loader and the report read months through these functions:

* :func:`month_index`: a date (scalar, Series, array) → its month index;
* :func:`month_start`: a month index → the first day of that month (the inverse, as the panel stores months);
* :func:`month_label`: a month index → ``"2024-03"``;
* :func:`last_complete_month`: an ``as_of`` date → the index of the last month complete on that date (the
  Dataset's ``as_of`` month, :attr:`csanalysis.data.Dataset.as_of_m`);
* :func:`window_closed`: the closed-window rule, ``month + horizon + grace ≤ as_of month``
  (:meth:`csanalysis.data.Dataset.window_closed` applies it with the data's own ``as_of``);
* :func:`period_start` and :func:`period_label`: a reporting period (month, quarter, year, fiscal year starting
  in a configurable month) is named by the index of its first month.

Engine twins (the same formulas as Ibis expressions, so DuckDB, Spark or a warehouse compute the same numbers):
:func:`csanalysis.data.spells.month_index` (of :func:`month_index`) and
:func:`csanalysis.data.direct.month_timestamp` (of :func:`month_start`); tests/data/test_time_rules.py checks
that both agree with these functions across year ends and leap days.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["PERIOD_MONTHS", "month_index", "month_start", "month_label", "last_complete_month", "window_closed",
           "period_start", "period_label"]

PERIOD_MONTHS = {"month": 1, "quarter": 3, "year": 12, "fiscal_year": 12}
EPOCH = 1970 * 12  # month index of January 1970, where numpy's datetime64[M] counts from


def month_index(ts):
    """Month index (``year * 12 + month − 1``) of a date.

    ``ts``: a scalar (Timestamp, ``datetime.date``, ISO string) gives an ``int``; a Series, Index, ndarray,
    list or tuple of dates gives an int64 ndarray (float64 with NaN where a date is missing). Timezone-aware
    dates count in their own timezone (the calendar month a reader sees)."""
    if isinstance(ts, (pd.Series, pd.Index, np.ndarray, list, tuple)):
        s = ts if isinstance(ts, pd.Series) else pd.Series(ts)
        if isinstance(s.dtype, np.dtype) and s.dtype.kind == "M":
            # naive datetime64 (the panel, usage, payments, survey dates): months since 1970 by a unit cast
            # rather than the .dt accessors (much cheaper on millions of rows); NaT falls back to the accessors
            v = s.to_numpy().astype("datetime64[M]")
            if not np.isnat(v).any():
                return v.astype(np.int64) + EPOCH
        s = pd.to_datetime(s)
        m = s.dt.year * 12 + s.dt.month - 1
        return m.to_numpy(dtype=np.float64) if m.isna().any() else m.to_numpy(dtype=np.int64)
    ts = pd.Timestamp(ts)
    return ts.year * 12 + ts.month - 1


def month_start(idx):
    """First day of the month with index ``idx``: a Timestamp for a scalar; for an array or Series a
    ``datetime64[ns]`` Series (a Series keeps its index)."""
    if np.isscalar(idx):
        return pd.Timestamp(year=int(idx) // 12, month=int(idx) % 12 + 1, day=1)
    values = (np.asarray(idx, dtype="int64") - EPOCH).astype("datetime64[M]").astype("datetime64[ns]")
    return pd.Series(values, index=idx.index if isinstance(idx, pd.Series) else None)


def month_label(idx: int) -> str:
    """The month as ``"YYYY-MM"`` (``"2024-03"``)."""
    y, m = divmod(int(idx), 12)
    return f"{y}-{m + 1:02d}"


def last_complete_month(as_of) -> int:
    """Month index of the last month complete on the date ``as_of``: its own month when ``as_of`` is the month's
    last day, else the month before (``as_of`` 2024-03-31 → March, 2024-03-15 → February). The loader ends the
    panel there; it is the Dataset's ``as_of_month``."""
    t = pd.Timestamp(as_of)
    return month_index(t) - (0 if t.is_month_end else 1)


def window_closed(month, horizon, as_of_m, grace=0):
    """Whether an outcome window has closed: the ``horizon`` months after ``month`` (``month + 1 … month +
    horizon``), then the ``grace`` months in which a stop is not yet a churn, all lie at or before the month
    ``as_of_m``, i.e. ``month + horizon + grace ≤ as_of_m``. ``horizon`` 0 asks about the month itself (a churn
    in ``month`` is confirmed once its grace months are observed).

    Vectorised: ``month`` (and ``horizon``) may be arrays that broadcast (a bool array comes back), or an
    engine column (an Ibis boolean expression comes back).

    Parameters
    ----------
    month : int, array or ibis column
        The months the windows start after (month indices).
    horizon : int or array
        The outcome window in months (0: the month itself).
    as_of_m : int
        The last observed month (month index).
    grace : int
        Months after the window in which a stop is not yet a churn.

    Returns
    -------
    bool, ndarray of bool or ibis boolean expression
        Whether each window has closed.
    """
    if np.any(np.asarray(horizon) < 0) or grace < 0:
        raise ValueError(f"horizon={horizon!r}, grace={grace!r}: a window is zero or more months long, grace ≥ 0")
    return month + horizon + grace <= as_of_m


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


def period_label(key: int, period: str) -> str:
    """Label of the period whose first month is ``key`` (:func:`period_start`): ``2024-03``, ``2024-Q1``,
    ``2024``, or a fiscal year ``FY2024`` (``FY2024 (from 2024-04)`` when it does not start in January)."""
    if period not in PERIOD_MONTHS:
        raise ValueError(f"period={period!r}: use one of {list(PERIOD_MONTHS)}")
    y, m = divmod(int(key), 12)
    if period == "month":
        return f"{y}-{m + 1:02d}"
    if period == "quarter":
        return f"{y}-Q{m // 3 + 1}"
    if period == "year":
        return f"{y}"
    return f"FY{y}" if m == 0 else f"FY{y} (from {y}-{m + 1:02d})"
