"""Who answered the survey: coverage per period (the share of paying customers, and of their MRR, that
responded) and the response-bias check (respondents against non-respondents among paying customers)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..periods import PERIOD_MONTHS, month_index, period_label, period_start
from ..data.keys import IntegerPanel
from ..stats.proportion import wilson
from .survey import responses

__all__ = ["coverage", "response_bias"]


def coverage(ds, period: str = "quarter", *, alpha: float = 0.05) -> pd.DataFrame:
    """Survey coverage per period: of the customers paying in at least one month of the period, how many
    answered (``customers``, ``respondent_accounts``, ``share`` with a Wilson interval), what share of the
    period's MRR they hold (``mrr_share``: Σ MRR over the period's months of responding accounts ÷ Σ of all),
    ``responses``, respondents per responding account (``respondents_per_account`` mean, ``max``), responses
    from accounts not paying in the period (``responses_not_paying``) and ``complete`` (the period ended by
    ``as_of``)."""
    return _coverage(ds, responses(ds, period=period), IntegerPanel(ds), period, alpha)


def _coverage(ds, r: pd.DataFrame, pv: IntegerPanel, period: str, alpha: float) -> pd.DataFrame:
    """:func:`coverage` from the responses ``r`` (:func:`responses`) and the integer-keyed panel ``pv``."""
    # paying accounts per period: one run per (customer, period) of the panel, which comes sorted by customer
    # and month, so runs are found in one pass instead of a groupby and a merge over every customer-month; an
    # unsorted panel is sorted first
    months = PERIOD_MONTHS[period]
    pstart = period_start(pv.m, period)
    p0 = int(pstart.min()) if len(pstart) else 0
    n_per = (int(pstart.max()) - p0) // months + 1 if len(pstart) else 1
    flat = pv.code.astype(np.int64) * n_per + (pstart - p0) // months
    mrr = np.nan_to_num(pv.mrr)  # a month without MRR adds nothing (as a groupby sum skips NaN)
    if len(flat) > 1 and not np.all(flat[1:] >= flat[:-1]):
        order = np.argsort(flat, kind="stable")
        flat, mrr = flat[order], mrr[order]
    starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]]) if len(flat) else np.zeros(0, dtype=np.int64)
    act_key = flat[starts]  # sorted (code, period) keys of paying accounts
    act_mrr = np.add.reduceat(mrr, starts) if len(starts) else np.zeros(0)
    act_per = p0 + (act_key % n_per) * months
    per_acc = r.groupby(["period", "customer_id"]).agg(responses=("score", "size"),
                                                       respondents=("respondent_id", "nunique")).reset_index()
    code = pv.codes(per_acc["customer_id"])  # −1: never paying, so never matched below
    rp = per_acc["period"].to_numpy(np.int64)
    key = code * n_per + (rp - p0) // months
    in_span = (code >= 0) & (rp >= p0) & (rp < p0 + n_per * months) & ((rp - p0) % months == 0)
    i = np.minimum(np.searchsorted(act_key, key), max(len(act_key) - 1, 0))
    paying = in_span & (act_key[i] == key) if len(act_key) else np.zeros(len(key), dtype=bool)
    answered = np.zeros(len(act_key), dtype=bool)
    answered[i[paying]] = True
    resp_n, resp_people = per_acc["responses"].to_numpy(), per_acc["respondents"].to_numpy()
    rows = []
    for key in np.unique(act_per):
        in_r = rp == key
        if not in_r.any():
            continue
        g = act_per == key
        n, k = int(g.sum()), int((g & answered).sum())
        lo, hi = wilson(k, n, alpha)  # NaN when no account was paying (n = 0)
        mrr_all, mrr_ans = act_mrr[g].sum(), act_mrr[g & answered].sum()
        people = resp_people[in_r & paying]
        rows.append({"period": period_label(key, period), "customers": n, "respondent_accounts": k,
                     "share": k / n if n else np.nan, "lower": lo, "upper": hi,
                     "mrr_share": mrr_ans / mrr_all if mrr_all > 0 else np.nan,
                     "responses": int(resp_n[in_r].sum()),
                     "respondents_per_account": float(people.mean()) if k else np.nan,
                     "max_respondents": int(people.max()) if k else 0,
                     "responses_not_paying": int(resp_n[in_r & ~paying].sum()),
                     "complete": bool(ds.window_closed(key, months - 1)), "_key": int(key)})
    out = pd.DataFrame(rows)
    out.attrs["period"] = period
    return out


def response_bias(ds, period: str = "quarter", which: str | int | None = None, *, alpha: float = 0.05) -> pd.DataFrame:
    """Do respondents differ from non-respondents?

    Among the customers paying in a period, compare respondents with non-respondents in average monthly MRR over
    the period, tenure (months since the customer's start, at the period's first month) and usage (average monthly
    logins over the period's paid months, when there is a usage table): difference of means (respondents −
    non-respondents) with a Welch interval and p-value, and the ratio of means.

    Parameters
    ----------
    ds : Dataset
        The loaded data, with survey responses.
    period : {"month", "quarter", "year"}
        The survey period.
    which : str or int, optional
        A period label such as ``"2024-Q2"``, a period key, or None for the latest period with responses.
    alpha : float
        Significance level: 0.05 gives 95% intervals.

    Returns
    -------
    DataFrame
        One row per measure: ``period`` (its label), ``measure``, ``label``, ``respondents``,
        ``non_respondents``, ``mean_respondents``, ``mean_non_respondents``, ``difference``, ``lower``, ``upper``,
        ``p_value``, ``ratio`` and ``reason`` (why the comparison is missing, else None).
    """
    r = responses(ds, period=period)
    pv = IntegerPanel(ds)
    return _response_bias(ds, r, pv, _coverage(ds, r, pv, period, 0.05), period, which, alpha)


def _response_bias(ds, r: pd.DataFrame, pv: IntegerPanel, cov: pd.DataFrame, period: str, which, alpha: float) -> pd.DataFrame:
    """:func:`response_bias` from the responses ``r``, the integer-keyed panel ``pv`` and the coverage table."""
    from scipy import stats


    if not len(cov):
        raise ValueError("no survey period with responses from paying customers")
    if which is None:
        row = cov.iloc[-1]
    else:
        hit = cov[(cov["period"] == which) | (cov["_key"] == which)]
        if not len(hit):
            raise ValueError(f"period {which!r} has no responses; periods: {cov['period'].tolist()}")
        row = hit.iloc[0]
    key = int(row["_key"])
    answered = pv.codes(r.loc[r["period"] == key, "customer_id"].unique())
    sel = period_start(pv.m, period) == key
    pm = pd.DataFrame({"code": pv.code[sel], "m": pv.m[sel], "mrr": pv.mrr[sel], "tenure": pv.tenure[sel]})
    if ds.usage is not None and "logins" in ds.usage.columns:
        um = month_index(ds.usage["month"])
        in_period = period_start(um, period) == key  # only the period's usage rows can match its paid months
        u = pd.DataFrame({"code": pv.codes(ds.usage["customer_id"].to_numpy()[in_period]), "m": um[in_period],
                          "logins": ds.usage["logins"].to_numpy()[in_period]})
        pm = pm.merge(u[u["code"] >= 0], on=["code", "m"], how="left")
        pm["logins"] = pm["logins"].fillna(0.0)  # a paid month without usage rows had no logins
    g = pm.groupby("code")  # sorted codes = sorted ids
    acc = pd.DataFrame({"mrr": g["mrr"].mean(), "tenure": g["tenure"].min()})
    if "logins" in pm.columns:
        acc["logins"] = g["logins"].mean()
    acc["answered"] = acc.index.isin(answered[answered >= 0])
    labels = {"mrr": "average monthly MRR", "tenure": "tenure (months)", "logins": "logins per month"}
    rows = []
    for col in [c for c in ("mrr", "tenure", "logins") if c in acc.columns]:
        a, b = acc.loc[acc["answered"], col].to_numpy(float), acc.loc[~acc["answered"], col].to_numpy(float)
        rec = {"period": row["period"], "measure": col, "label": labels[col], "respondents": len(a),
               "non_respondents": len(b), "mean_respondents": a.mean() if len(a) else np.nan,
               "mean_non_respondents": b.mean() if len(b) else np.nan, "difference": np.nan, "lower": np.nan,
               "upper": np.nan, "p_value": np.nan, "ratio": np.nan, "reason": None}
        if len(a) >= 2 and len(b) >= 2 and (a.var(ddof=1) + b.var(ddof=1)) > 0:
            t = stats.ttest_ind(a, b, equal_var=False)
            ci = t.confidence_interval(1 - alpha)
            rec.update(difference=a.mean() - b.mean(), lower=ci.low, upper=ci.high, p_value=t.pvalue,
                       ratio=a.mean() / b.mean() if b.mean() else np.nan)
        else:
            rec["reason"] = "fewer than two respondents or non-respondents, or no variation"
        rows.append(rec)
    return pd.DataFrame(rows)
