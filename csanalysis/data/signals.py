"""Customer-month signals known at the start of each month, from data before that month only.

Shared by the time-varying survival model, the impact model and the health scores, so they agree:

* ``failed_payment``: a failed payment attempt in the month (known when the attempt fails, before the month's
  churn is observed);
* ``nps_category``: the account's category at its latest survey before the month (mean score of that survey's
  respondents, rounded half to even; 0–6 detractor, 7–8 passive, 9–10 promoter), or ``none``;
* ``logins`` of the month, and ``falling_usage``: logins last month below 60% of the mean of the two months
  before (months without usage rows count as zero logins).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..periods import month_index
from .keys import AccountMonths

FALLING_RATIO = 0.6


def survey_waves(ds) -> pd.DataFrame | None:
    """One row per account and survey month: the mean score of that month's respondents and its category."""
    if ds.nps is None or not len(ds.nps):
        return None
    waves = ds.nps.assign(m=month_index(ds.nps["date"])).groupby(["customer_id", "m"], sort=False)["score"].mean().reset_index()
    ms = np.round(waves["score"].to_numpy())
    waves["category"] = np.select([ms <= 6, ms <= 8], ["detractor", "passive"], "promoter")
    return waves


def nps_category_at(ds, customer_id: np.ndarray, month: np.ndarray, keys: AccountMonths | None = None,
                    waves: pd.DataFrame | None = None, lag: int = 1) -> np.ndarray:
    """Latest account-level NPS category at or before ``month`` − ``lag`` (month indices; by default strictly
    before ``month``) for each row (``keys``: the rows' :class:`AccountMonths`, and ``waves``:
    :func:`survey_waves`, when the caller has them).

    Parameters
    ----------
    ds : Dataset
        The loaded data, with survey responses.
    customer_id : ndarray
        The rows' account ids.
    month : ndarray of int
        The rows' month indices.
    keys : AccountMonths, optional
        The rows' keys (None: built here).
    waves : DataFrame, optional
        :func:`survey_waves` (None: computed here).
    lag : int
        Months before ``month`` to read at (1: strictly before).

    Returns
    -------
    ndarray
        One category per row (``none`` where the account never answered).
    """
    waves = survey_waves(ds) if waves is None else waves
    if waves is None:
        return np.full(len(customer_id), "none", dtype=object)
    keys = keys or AccountMonths(customer_id, month)
    cat = keys.latest(waves["customer_id"], waves["m"], waves["category"].to_numpy(dtype=object), lag=lag)
    return np.where(pd.isna(cat), "none", cat).astype(object)


def falling_usage_at(keys: AccountMonths, logins: np.ndarray, paid: np.ndarray, lag: int = 1):
    """``falling_usage`` read in month ``m`` − ``lag`` + 1 of each row (``m``: the row's month in ``keys``), so
    with the default ``lag`` of each row's own month: logins in month ``m`` − ``lag`` below 60% of the mean of
    the two months before, the customer paying in all three. ``logins``: :meth:`AccountMonths.cells` of the
    usage logins (one per cell), ``paid``: :meth:`AccountMonths.present` of the paying panel rows. One rule for
    :func:`monthly_signals` and the health signals (which read it for the month after the scoring month with the
    grids they already have). Returns the flags (int8) and the logins of month ``m`` − ``lag``.

    Parameters
    ----------
    keys : AccountMonths
        The rows' account-month keys.
    logins : ndarray
        The usage logins per account and month (:meth:`AccountMonths.cells`).
    paid : ndarray
        Whether each account paid in each month (:meth:`AccountMonths.present`).
    lag : int
        Months before each row's month + 1 to read the flag at.

    Returns
    -------
    flags : ndarray of int8
        1 where usage fell, else 0.
    logins : ndarray
        The logins of month ``m`` − ``lag``.
    """
    last, before = keys.at(logins, lag), (keys.at(logins, lag + 1), keys.at(logins, lag + 2))
    known = np.all([keys.at(paid, lag + k, fill=False) for k in (0, 1, 2)], axis=0)
    return (known & (last < FALLING_RATIO * (before[0] + before[1]) / 2)).astype(np.int8), last


def monthly_signals(ds, rows: pd.DataFrame, waves: pd.DataFrame | None = None) -> pd.DataFrame:
    """Add signals to ``rows`` (columns customer_id and month as a month index) without changing their order
    (``waves``: :func:`survey_waves`, when the caller has them)."""
    out = rows.copy()
    cid, m = out["customer_id"].to_numpy(), out["month"].to_numpy()
    keys = AccountMonths(cid, m, back=3)
    if ds.payments is not None and "failed" in ds.payments.columns:
        p = ds.payments
        f = keys.cells(p["customer_id"], month_index(p["month"]), p["failed"], how="one")
        out["failed_payment"] = (keys.at(f) > 0).astype(np.int8)
    else:
        out["failed_payment"] = np.int8(0)
    out["nps_category"] = nps_category_at(ds, cid, m, keys, waves)
    if ds.usage is not None and "logins" in ds.usage.columns:
        u = ds.usage
        logins = keys.cells(u["customer_id"], month_index(u["month"]), u["logins"], how="one")
        # usage history must exist: the customer was paying in each of the three months before
        paying = ds.panel["mrr"].notna().to_numpy()  # ids and months only, not a copy of every panel column
        paid = keys.present(ds.panel["customer_id"].to_numpy()[paying], month_index(ds.panel["month"])[paying])
        out["falling_usage"], out["logins_last_month"] = falling_usage_at(keys, logins, paid)
    else:
        out["falling_usage"] = np.int8(0)
    return out
