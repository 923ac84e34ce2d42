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

FALLING_RATIO = 0.6


def _m(ts: pd.Series) -> np.ndarray:
    ts = pd.to_datetime(ts)
    return (ts.dt.year * 12 + ts.dt.month - 1).to_numpy()


def nps_category_at(ds, customer_id: np.ndarray, month: np.ndarray) -> np.ndarray:
    """Latest account-level NPS category strictly before ``month`` (month indices) for each row."""
    out = np.full(len(customer_id), "none", dtype=object)
    if ds.nps is None or not len(ds.nps):
        return out
    waves = ds.nps.assign(m=_m(ds.nps["date"])).groupby(["customer_id", "m"], sort=False)["score"].mean().reset_index()
    ms = np.round(waves["score"].to_numpy())
    waves["category"] = np.select([ms <= 6, ms <= 8], ["detractor", "passive"], "promoter")
    waves["m_eff"] = (waves["m"] + 1).astype(np.int64)  # known from the month after the survey
    rows = pd.DataFrame({"customer_id": customer_id, "m_eff": np.asarray(month, np.int64), "i": np.arange(len(customer_id))})
    rows = rows.sort_values("m_eff", kind="stable")
    waves = waves.sort_values("m_eff", kind="stable")
    merged = pd.merge_asof(rows, waves[["customer_id", "m_eff", "category"]], on="m_eff", by="customer_id",
                           direction="backward")
    out[merged["i"].to_numpy()] = merged["category"].fillna("none").to_numpy()
    return out


def monthly_signals(ds, rows: pd.DataFrame) -> pd.DataFrame:
    """Add signals to ``rows`` (columns customer_id and month as a month index) without changing their order."""
    out = rows.copy()
    cid, m = out["customer_id"].to_numpy(), out["month"].to_numpy()
    key = pd.MultiIndex.from_arrays([cid, m])
    if ds.payments is not None and "failed" in ds.payments.columns:
        f = ds.payments.assign(m=_m(ds.payments["month"])).set_index(["customer_id", "m"])["failed"]
        out["failed_payment"] = (f.reindex(key).fillna(0).to_numpy() > 0).astype(np.int8)
    else:
        out["failed_payment"] = np.int8(0)
    out["nps_category"] = nps_category_at(ds, cid, m)
    if ds.usage is not None and "logins" in ds.usage.columns:
        u = ds.usage.assign(m=_m(ds.usage["month"])).set_index(["customer_id", "m"])["logins"]
        lag = {k: u.reindex(pd.MultiIndex.from_arrays([cid, m - k])).fillna(0).to_numpy() for k in (1, 2, 3)}
        # usage history must exist: the customer was paying in each of the three months before
        paid = ds.panel.assign(m=_m(ds.panel["month"])).set_index(["customer_id", "m"])["mrr"]
        known = np.all([paid.reindex(pd.MultiIndex.from_arrays([cid, m - k])).notna().to_numpy() for k in (1, 2, 3)], axis=0)
        out["falling_usage"] = (known & (lag[1] < FALLING_RATIO * (lag[2] + lag[3]) / 2)).astype(np.int8)
        out["logins_last_month"] = lag[1]
    else:
        out["falling_usage"] = np.int8(0)
    return out
