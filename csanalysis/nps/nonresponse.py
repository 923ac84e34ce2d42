"""Who answered the survey: coverage per period (the share of paying customers, and of their MRR, that
responded) and the response-bias check (respondents against non-respondents among paying customers).

Both are grouped queries in the engine (the engine panel, :meth:`Dataset.engine_table`, and the usage table,
:meth:`Dataset.engine_frame`): the paying accounts of a period and their MRR never come into pandas, only one row
per period (coverage) or per account paying in the one period compared (the bias check, whose Welch test needs
each account's values). The survey answers, which are few, are grouped in pandas and sent to the engine as the
(period, account) pairs that answered. The engine sums MRR and logins in its own order: on whole-number amounts
(cents or whole currency units of the bundled data) the sums, shares and means are exactly those of a sequential
sum; on other amounts they may differ in the last binary digit (tests/nps/test_nps_nonresponse_engine.py compares
both with the pandas computation on customer-month rows)."""
from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
from ibis import _

from ..periods import PERIOD_MONTHS, period_label, period_start
from ..stats.proportion import wilson
from .survey import responses

__all__ = ["coverage", "response_bias"]


def _paying(ds, period: str):
    """Engine: one row per (account, period key) with a paid month in the period, and the MRR of its paid
    months summed (a month without MRR adds nothing)."""
    p = ds.engine_table("panel")
    p = p.select(customer_id=p.customer_id.cast("string"), key=period_start(p.m, period).cast("int64"),
                 mrr=p.mrr.fill_null(0.0))
    return p.group_by(["customer_id", "key"]).aggregate(mrr=_.mrr.sum())


def _answered(per_acc: pd.DataFrame):
    """The (period key, account) pairs that answered, as an engine table."""
    return ibis.memtable(pd.DataFrame({"customer_id": per_acc["customer_id"].astype(str).to_numpy(dtype=object),
                                       "key": per_acc["period"].to_numpy(np.int64)}))


def coverage(ds, period: str = "quarter", *, alpha: float = 0.05) -> pd.DataFrame:
    """Survey coverage per period: of the customers paying in at least one month of the period, how many
    answered (``customers``, ``respondent_accounts``, ``share`` with a Wilson interval), what share of the
    period's MRR they hold (``mrr_share``: Σ MRR over the period's months of responding accounts ÷ Σ of all),
    ``responses``, respondents per responding account (``respondents_per_account`` mean, ``max``), responses
    from accounts not paying in the period (``responses_not_paying``) and ``complete`` (the period ended by
    ``as_of``)."""
    return _coverage(ds, responses(ds, period=period), period, alpha)


def _coverage(ds, r: pd.DataFrame, period: str, alpha: float) -> pd.DataFrame:
    """:func:`coverage` from the responses ``r`` (:func:`responses`): one grouped query per period over the
    paying accounts, one over the answering accounts (paying in the period or not)."""
    months = PERIOD_MONTHS[period]
    per_acc = r.groupby(["period", "customer_id"]).agg(responses=("score", "size"),
                                                       respondents=("respondent_id", "nunique")).reset_index()
    pay = _paying(ds, period)
    ans = _answered(per_acc)
    j = pay.left_join(ans, [pay.customer_id == ans.customer_id, pay.key == ans.key]).select(
        key=pay.key, mrr=pay.mrr, hit=ans.customer_id.notnull())
    per = (j.group_by("key")
           .aggregate(customers=_.count(), respondent_accounts=_.hit.cast("int64").sum(),
                      mrr_all=_.mrr.sum(), mrr_ans=_.mrr.sum(where=_.hit))
           .order_by("key").execute())
    # which answering accounts paid in their period (the others' responses are counted apart)
    paid = ans.semi_join(pay, [ans.customer_id == pay.customer_id, ans.key == pay.key]).execute()
    flag = pd.MultiIndex.from_frame(per_acc[["period", "customer_id"]].astype({"customer_id": str}))
    paying = flag.isin(pd.MultiIndex.from_frame(paid[["key", "customer_id"]].astype({"key": np.int64})))
    rp = per_acc["period"].to_numpy(np.int64)
    resp_n, resp_people = per_acc["responses"].to_numpy(), per_acc["respondents"].to_numpy()
    rows = []
    for rec in per.itertuples(index=False):
        key = int(rec.key)
        in_r = rp == key
        if not in_r.any():
            continue
        n, k = int(rec.customers), int(rec.respondent_accounts)
        lo, hi = wilson(k, n, alpha)  # NaN when no account was paying (n = 0)
        mrr_all = float(rec.mrr_all)
        mrr_ans = float(rec.mrr_ans) if k else 0.0  # an empty sum is null in the engine
        people = resp_people[in_r & paying]
        rows.append({"period": period_label(key, period), "customers": n, "respondent_accounts": k,
                     "share": k / n if n else np.nan, "lower": lo, "upper": hi,
                     "mrr_share": mrr_ans / mrr_all if mrr_all > 0 else np.nan,
                     "responses": int(resp_n[in_r].sum()),
                     "respondents_per_account": float(people.mean()) if k else np.nan,
                     "max_respondents": int(people.max()) if k else 0,
                     "responses_not_paying": int(resp_n[in_r & ~paying].sum()),
                     "complete": bool(ds.window_closed(key, months - 1)), "_key": key})
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
    return _response_bias(ds, r, _coverage(ds, r, period, 0.05), period, which, alpha)


def _accounts(ds, r: pd.DataFrame, key: int, period: str) -> pd.DataFrame:
    """Engine: the accounts paying in the period ``key``, in the order of their ids: ``mrr`` (average over the
    period's paid months), ``tenure`` (months since the start, at the first paid month of the period), ``logins``
    (average over the paid months, 0 for a paid month without a usage row; only with a usage table that has
    logins) and ``answered`` (the account answered in the period)."""
    from ..data.spells import month_index

    p = ds.engine_table("panel")
    p = p.filter(period_start(p.m, period) == key)
    p = p.select(customer_id=p.customer_id.cast("string"), m=p.m.cast("int64"), mrr=p.mrr, tenure=p.tenure)
    u = ds.engine_frame("usage")
    logins = u is not None and "logins" in u.columns
    if logins:
        u = u.select(customer_id=u.customer_id.cast("string"), m=month_index(u.month).cast("int64"), logins=u.logins)
        u = u.filter(period_start(u.m, period) == key)  # only the period's usage rows can match its paid months
        p = p.left_join(u, [p.customer_id == u.customer_id, p.m == u.m]).select(
            p.customer_id, p.mrr, p.tenure, logins=u.logins.cast("float64").fill_null(0.0))
    ids = r.loc[r["period"] == key, "customer_id"].astype(str).unique()
    said = ibis.memtable(pd.DataFrame({"customer_id": np.asarray(ids, dtype=object)}))
    aggs = {"n": _.count(), "mrr_sum": _.mrr.sum(), "tenure": _.tenure.min()}
    if logins:
        aggs["logins_sum"] = _.logins.sum()
    acc = p.group_by("customer_id").aggregate(**aggs)
    acc = acc.left_join(said, acc.customer_id == said.customer_id).select(
        *[acc[c] for c in acc.columns], answered=said.customer_id.notnull()).order_by("customer_id")
    df = acc.drop("customer_id").execute()
    n = df["n"].to_numpy(np.float64)
    out = pd.DataFrame({"mrr": df["mrr_sum"].to_numpy(np.float64) / n, "tenure": df["tenure"].to_numpy(np.float64)})
    if logins:
        out["logins"] = df["logins_sum"].to_numpy(np.float64) / n
    out["answered"] = df["answered"].to_numpy(bool)
    return out


def _response_bias(ds, r: pd.DataFrame, cov: pd.DataFrame, period: str, which, alpha: float) -> pd.DataFrame:
    """:func:`response_bias` from the responses ``r`` and the coverage table."""
    row = period_row(cov, which)
    return welch_by_measure(_accounts(ds, r, int(row["_key"]), period), row["period"], alpha)


def period_row(cov: pd.DataFrame, which) -> pd.Series:
    """The coverage table's row of the period ``which`` (its label or key; None: the latest)."""
    if not len(cov):
        raise ValueError("no survey period with responses from paying customers")
    if which is None:
        row = cov.iloc[-1]
    else:
        hit = cov[(cov["period"] == which) | (cov["_key"] == which)]
        if not len(hit):
            raise ValueError(f"period {which!r} has no responses; periods: {cov['period'].tolist()}")
        row = hit.iloc[0]
    return row


def welch_by_measure(acc: pd.DataFrame, period, alpha: float) -> pd.DataFrame:
    """Respondents against non-respondents of one period, measure by measure (``mrr``, ``tenure``, ``logins``:
    one row per paying account, ``answered`` marking respondents): Welch's t-test, the difference of means with its
    interval and the ratio of means; a reason instead where either side has fewer than two accounts or no
    variation."""
    from scipy import stats

    labels = {"mrr": "average monthly MRR", "tenure": "tenure (months)", "logins": "logins per month"}
    rows = []
    for col in [c for c in ("mrr", "tenure", "logins") if c in acc.columns]:
        a, b = acc.loc[acc["answered"], col].to_numpy(float), acc.loc[~acc["answered"], col].to_numpy(float)
        rec = {"period": period, "measure": col, "label": labels[col], "respondents": len(a),
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
