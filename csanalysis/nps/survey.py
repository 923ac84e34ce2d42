"""The survey responses of a Dataset: each answer's NPS category, its survey month and calendar period (with
a label), and optionally its account's segment at the survey date."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..periods import month_index, month_start, period_label, period_start
from .statistic import _as_scores

__all__ = ["CATEGORIES", "SURVEY_PERIODS", "category", "responses"]

CATEGORIES = ("detractor", "passive", "promoter")


def category(scores) -> np.ndarray:
    """Category of each 0–10 score: ``detractor`` (0–6), ``passive`` (7–8), ``promoter`` (9–10)."""
    s = _as_scores(scores)
    return np.select([s <= 6, s <= 8], ["detractor", "passive"], "promoter").astype(object)


SURVEY_PERIODS = ("month", "quarter", "year")  # survey periods for NPS over time and coverage


def _check_period(period: str) -> None:
    if period not in SURVEY_PERIODS:
        raise ValueError(f"period={period!r}: use month, quarter or year")


def responses(ds, *, period: str = "quarter", segment: str | None = None) -> pd.DataFrame:
    """The survey responses with ``survey_month`` (month index), ``period`` (key: first month index of the
    calendar period), ``period_label``, ``category`` and, with ``segment``, the account's segment at the survey
    date (the attribute history when there is one, else the value at signup; ``"unknown"`` when missing)."""
    from ..data.attributes import check_segment

    _check_period(period)
    if ds.nps is None or not len(ds.nps):
        raise ValueError("the dataset has no NPS responses (no nps table, or an empty one)")
    r = ds.nps.reset_index(drop=True).copy()
    r["customer_id"] = r["customer_id"].astype(str)
    if "respondent_id" not in r.columns:  # optional (data/README.md): without it each response is its own respondent
        r["respondent_id"] = "response " + pd.Series(np.arange(len(r)), index=r.index).astype(str)
    r["date"] = pd.to_datetime(r["date"])
    r["survey_month"] = month_index(r["date"])
    r["period"] = period_start(r["survey_month"].to_numpy(), period)
    keys, inv = np.unique(r["period"].to_numpy(), return_inverse=True)  # one label per period, not per response
    r["period_label"] = np.array([period_label(k, period) for k in keys], dtype=object)[inv.ravel()]
    r["category"] = category(r["score"])
    if segment:
        if segment in ds.customers.columns or ds.attributes is None or segment not in set(ds.attributes["attribute"]):
            check_segment(ds, segment, what="segment")  # a categorical attribute of customers (data/attributes.py)
        seg = pd.Series(index=r.index, dtype=object)
        for m, idx in r.groupby("survey_month").groups.items():
            at = ds.attribute_at(segment, month_start(m))
            if at.index.inferred_type != "string":  # ids compared as strings (renamed only when they are not)
                at = at.rename(index=str)
            seg.loc[idx] = r.loc[idx, "customer_id"].map(at).to_numpy()
        r["segment"] = seg.where(seg.notna(), "unknown").astype(str)
    return r
