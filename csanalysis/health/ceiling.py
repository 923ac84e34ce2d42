"""The ceiling on demo data: the generator's true churn probabilities, scored like any other score.

On demo data the generator's true monthly churn probabilities are known (``churn_prob.parquet``); turned into
the horizon they are the best score any model could reach on these data, so the report shows how far the
scorecard and the data-driven score fall short of it. Real data have none.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..data.keys import AccountMonths
from ..periods import month_index

__all__ = ["load_true_probabilities", "true_probability"]


def load_true_probabilities(data) -> pd.DataFrame | None:
    """The generator's true monthly churn probabilities (``churn_prob.parquet`` in a demo-data folder), or None
    when the folder has none (real data)."""
    if data is None or isinstance(data, pd.DataFrame):
        return data
    path = Path(data) / "churn_prob.parquet"
    if not path.is_file():
        return None
    return pd.read_parquet(path)


def true_probability(frame: pd.DataFrame, churn_prob: pd.DataFrame, horizon: int, *, pseudonymised: bool = False) -> np.ndarray:
    """The ceiling score: the generator's true churn probability of the first month after the scoring month,
    turned into the horizon as 1 − (1 − p)^horizon (later months are not used: their probabilities are only
    defined for accounts that survived, which would leak the outcome). NaN where the generator has no row.

    Parameters
    ----------
    frame : DataFrame
        The scored rows: ``customer_id`` and ``m`` (the scoring month index).
    churn_prob : DataFrame
        The generator's monthly churn probabilities (:func:`load_true_probabilities`).
    horizon : int
        The outcome window in months.
    pseudonymised : bool
        ``frame``'s ids are keyed pseudonyms (the generator's ids are mapped the same way).

    Returns
    -------
    ndarray
        One probability per row of ``frame`` (NaN where the generator has no row).
    """
    cp = churn_prob
    ids = cp["customer_id"].to_numpy()
    if pseudonymised:
        from ..data.pseudonym import pseudonymise_ids

        ids = pseudonymise_ids(ids)
    # each row's (account, month after) cell by position (AccountMonths): a (customer_id, month) MultiIndex
    # reindex would hash the string ids of both tables again
    keys = AccountMonths(frame["customer_id"].to_numpy(), frame["m"].to_numpy() + 1)
    acc, cm = keys.accounts(ids), month_index(cp["month"])
    inside = np.flatnonzero((acc >= 0) & (cm >= keys.lo) & (cm < keys.lo + keys.M))
    # of repeated (account, month) rows the first counts, as before
    inside = inside[np.unique(acc[inside] * keys.M + (cm[inside] - keys.lo), return_index=True)[1]]
    grid = keys.cells(None, cm[inside], np.asarray(cp["p"].to_numpy(), dtype=float)[inside], fill=np.nan, how="one",
                      acc=acc[inside])
    v = keys.at(grid, fill=np.nan)
    return 1 - (1 - v) ** horizon
