"""Accounts rather than responses: one row per account (its account NPS and revenue change) and a straight-line
fit with its confidence band, for the account scatter of the report."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .alignment import Alignment
from .statistic import account_loyalty

__all__ = ["account_view", "fitted_line"]


def account_view(al: Alignment, k: int) -> pd.DataFrame:
    """One row per account with a complete ``k``-month window: its account NPS and mean score over those
    responses (:func:`account_loyalty`), responses, mean baseline MRR and mean MRR change among its stayer
    responses (NaN when it churned after every survey)."""
    t = al.rows(k)
    if not len(t):
        return pd.DataFrame(columns=["customer_id", "respondents", "nps", "mean_score", "mrr_base", "mrr_change"])
    loy = account_loyalty(t, "customer_id", "score")
    g = t.groupby("customer_id")
    extra = pd.DataFrame({"mrr_base": g["mrr_base"].mean(), "mrr_change": g[f"mrr_change_{k}"].mean(),
                          "churned": g[f"churned_{k}"].max()}).reset_index()
    return loy.merge(extra, on="customer_id")


def fitted_line(x, y, *, alpha: float = 0.05, points: int = 50) -> pd.DataFrame:
    """Straight-line OLS fit of ``y`` on ``x`` with HC3 errors: the fitted mean and its confidence band.

    Parameters
    ----------
    x, y : array-like
        The points (pairs with a missing value are left out).
    alpha : float
        Significance level of the band: 0.05 gives 95%.
    points : int
        Grid points across the range of ``x``.

    Returns
    -------
    DataFrame
        Columns ``x``, ``fit``, ``lower``, ``upper``; ``attrs`` holds ``slope`` with ``slope_lower`` and
        ``slope_upper``, and ``n``. Empty below 3 points or with one value of ``x``.
    """
    import statsmodels.api as sm

    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3 or np.unique(x).size < 2:
        return pd.DataFrame(columns=["x", "fit", "lower", "upper"])
    res = sm.OLS(y, sm.add_constant(x)).fit(cov_type="HC3")
    grid = np.linspace(x.min(), x.max(), points)
    pr = res.get_prediction(sm.add_constant(grid)).summary_frame(alpha=alpha)
    out = pd.DataFrame({"x": grid, "fit": pr["mean"].to_numpy(), "lower": pr["mean_ci_lower"].to_numpy(),
                        "upper": pr["mean_ci_upper"].to_numpy()})
    out.attrs.update(slope=float(res.params[1]), slope_lower=float(res.conf_int(alpha)[1, 0]),
                     slope_upper=float(res.conf_int(alpha)[1, 1]), n=int(len(x)))
    return out
