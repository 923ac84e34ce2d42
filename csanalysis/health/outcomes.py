"""Outcome windows: whether each scored account churned within the horizon, and whether that is known yet.

The outcome of a score at scoring month *T* is churn within the next ``horizon`` months: the account's spell
ends (its churn month, data/README.md) in *T*+1 … *T*+``horizon``. The outcome is known once its window has
closed, *T* + ``horizon`` + ``grace_months`` ≤ the as_of month (the Dataset's rule,
:meth:`csanalysis.data.Dataset.window_closed`). A score is learnt only from past scoring months whose windows
have closed; :class:`TooLittleHistory` says when the data cannot support that.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import Dataset
from ..data.keys import AccountMonths, spell_rows
from ..periods import month_index

__all__ = ["outcomes", "TooLittleHistory"]


def outcomes(ds: Dataset, frame: pd.DataFrame, horizon: int = 3) -> pd.DataFrame:
    """Add ``churned`` (1 when the account's spell ends within ``horizon`` months after its scoring month) and
    ``closed`` (the outcome window has closed by the as_of month, grace period included) to a signal frame."""
    if horizon < 1:
        raise ValueError(f"horizon={horizon}: the outcome window must be at least one month")
    g = ds.settings.grace_months
    # each row's spell from the panel and its end from the spells, looked up by account number (data/signals.py)
    # instead of (customer_id, month) and (customer_id, spell) MultiIndex reindexes, which hash the string ids
    keys = AccountMonths(frame["customer_id"].to_numpy(), frame["m"].to_numpy())
    p = ds.panel
    spell = keys.at(keys.cells(p["customer_id"], month_index(p["month"]), p["spell"], fill=np.nan, how="one"),
                    fill=np.nan)
    at = spell_rows(keys, spell, ds.spells)
    found = at >= 0
    end = pd.Series(np.full(len(at), np.datetime64("NaT"), dtype="datetime64[ns]"))
    end[found] = ds.spells["end"].to_numpy()[at[found]]
    event = np.zeros(len(at))
    event[found] = ds.spells["event"].to_numpy()[at[found]]
    end_m = np.where(end.isna(), 10**9, month_index(end))  # no end (NaN month): never within the window
    out = frame.copy(deep=False)  # new columns only: the caller's frame is not changed
    m = out["m"].to_numpy()
    out["churned"] = ((event == 1) & (end_m <= m + horizon)).astype(np.int8)
    out["closed"] = ds.window_closed(m, horizon, g)
    return out


class TooLittleHistory(ValueError):
    """The data cannot support a score or its evaluation; ``code`` and ``values`` let a report say why in its
    own language (``health.why.<code>``)."""

    def __init__(self, code: str, message: str, **values):
        super().__init__(message)
        self.code, self.values = code, values


def _need_training(train: pd.DataFrame, outcome: str = "churned") -> None:
    if not len(train):
        raise TooLittleHistory("no_history", "no past scoring dates with a closed outcome window to learn from: the "
                               "data are too short for this scoring date and horizon")
    n = int(train[outcome].sum())
    if n == 0 or n == len(train):
        what = "churns" if outcome == "churned" else f"rows with {outcome} = 1"
        raise TooLittleHistory("one_outcome", f"the past scoring dates hold {n} {what} out of {len(train)} "
                               "account-months: both outcomes are needed to learn a score", n=n, rows=len(train))
