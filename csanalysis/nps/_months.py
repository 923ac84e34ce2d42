"""Month index helpers of the NPS analyses: months since year 0 (year · 12 + month − 1) from dates, a month's
label and its first day. Kept as they were in ``nps.py`` until the month index of csanalysis/periods.py
replaces them (issue 20)."""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["_midx", "_month_label", "_month_start"]


def _midx(ts) -> np.ndarray:
    if isinstance(ts, pd.Series) and ts.dtype.kind == "M" and isinstance(ts.dtype, np.dtype):
        # naive datetime64 column (the panel, usage, survey dates): months since 1970 by a unit cast, far cheaper
        # than the .dt accessors on a million rows; the same numbers (NaT falls back to the accessors below)
        v = ts.to_numpy().astype("datetime64[M]")
        if not np.isnat(v).any():
            return v.astype(np.int64) + 1970 * 12
    ts = pd.to_datetime(pd.Series(ts))
    return (ts.dt.year * 12 + ts.dt.month - 1).to_numpy(np.int64)


def _month_label(m: int) -> str:
    return f"{int(m) // 12}-{int(m) % 12 + 1:02d}"


def _month_start(m: int) -> pd.Timestamp:
    from ..periods import month_start

    return month_start(m)
