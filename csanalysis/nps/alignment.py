"""Responses lined up with their accounts' revenue: the baseline MRR in the last full month before the survey
and, k months later, churn and (among accounts that stayed) the MRR change.

Reads the Dataset's monthly panel and spells (the one churn definition, data/README.md); nothing here
re-derives churn. Only revenue after the survey is an outcome."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..result import TableSummary
from ..periods import month_index
from ..data.keys import IntegerPanel
from ..data.schema import churn_word
from .survey import responses

__all__ = ["DEFAULT_HORIZONS", "Alignment", "align", "align_responses"]

DEFAULT_HORIZONS = (6, 12)


@dataclass
class Alignment(TableSummary):
    """Responses aligned with their accounts' revenue (see :func:`align`). :attr:`summary` is :meth:`counts`
    (:meth:`print_summary`, ``_repr_html_``): per horizon, the responses used and those left out (an alignment
    has no estimates, hence no ``conf_int``).

    ``table``: one row per response with ``customer_id``, ``respondent_id``, ``date``, ``score``, ``category``,
    ``csat`` (when present), ``segment`` (when asked for), ``survey_month``, ``baseline_month`` (month index of
    the last full month before the survey), ``mrr_base`` and, for each horizon k, ``complete_k`` (the window
    is observable by ``as_of``), ``churned_k`` (1/0; NaN when not complete or without a baseline),
    ``mrr_k`` (MRR in month baseline + k; 0 in a grace gap), ``mrr_change_k`` (stayers: 100 · (mrr_k ÷
    mrr_base − 1), percent), ``expanded_k`` / ``contracted_k`` (stayers: 1/0). The last three are NaN for a
    stayer whose ``mrr_base`` is zero or below (a purchase log's active month of free items or returns): no
    revenue ratio; such responses count for churn and are counted in :meth:`counts` (``no_revenue_base``).
    ``excluded``: responses (and accounts) left out per horizon and reason.
    """

    table: pd.DataFrame
    horizons: tuple
    excluded: pd.DataFrame
    as_of_m: int  # month index of the as_of month
    grace_months: int
    definition: str = ""
    layout: str = "subscription"  # the Dataset's layout: a purchase log's churn is a lapse in the reasons' words

    def word(self) -> str:
        """What the reasons call a churn ("lapse" in a purchase log; English, as every reason here)."""
        return churn_word(self.layout)

    def rows(self, k: int, outcome: str = "churn") -> pd.DataFrame:
        """Responses usable for horizon ``k``: complete windows with a baseline (``outcome="churn"``), or
        stayers among them (``outcome="revenue"``)."""
        if k not in self.horizons:
            raise ValueError(f"horizon {k} was not aligned; horizons: {list(self.horizons)}")
        t = self.table[self.table[f"churned_{k}"].notna()]
        if outcome != "revenue":
            return t
        stay = t[f"churned_{k}"] == 0
        return t[stay & (t["mrr_base"] > 0)] if "mrr_base" in t.columns else t[stay]

    def no_revenue_base(self, k: int) -> pd.DataFrame:
        """Stayers at horizon ``k`` whose baseline month's revenue is zero or below (a purchase log's month of
        free items, or of returns larger than its purchases): used for churn, but without a revenue change (a
        change relative to zero or to a negative amount has no meaning)."""
        t = self.rows(k)
        if "mrr_base" not in t.columns:
            return t.iloc[0:0]
        return t[(t[f"churned_{k}"] == 0) & ~(t["mrr_base"] > 0)]

    def counts(self) -> pd.DataFrame:
        """Per horizon: responses, usable for churn, stayers (usable for revenue), and the exclusions."""
        rows = []
        for k in self.horizons:
            ex = self.excluded[self.excluded["horizon"] == k].set_index("reason")["responses"]
            rows.append({"horizon": k, "responses": len(self.table), "used_churn": len(self.rows(k)),
                         "used_revenue": len(self.rows(k, "revenue")), "accounts": self.rows(k)["customer_id"].nunique(),
                         "no_baseline": int(ex.get("no_baseline", 0)), "window_incomplete": int(ex.get("window_incomplete", 0)),
                         "no_revenue_base": len(self.no_revenue_base(k))})
        return pd.DataFrame(rows)

    @property
    def summary(self) -> pd.DataFrame:
        """Per horizon: responses, those usable for churn and for revenue, accounts, and the exclusions
        (:meth:`counts`)."""
        return self.counts()


def align(ds, horizons=DEFAULT_HORIZONS, *, segment: str | None = None, period: str = "quarter") -> Alignment:
    """Align every response with its account.

    The baseline is the account's MRR in the **last full month before the survey** (month s − 1 for a survey in
    month s); the outcomes are read **k months after the baseline** (month s − 1 + k), for each horizon k:

    * ``churned_k``: the spell the account was in at the baseline churned (the Dataset's churn definition,
      ``spells``) in months s … s − 1 + k;
    * among accounts that stayed: MRR change in percent, expansion (MRR higher) and contraction (lower, a
      grace gap counting as 0).

    A response whose account was not paying in the baseline month has no baseline and is left out; a window
    that ends less than ``grace_months`` before the ``as_of`` month cannot be observed yet (a churn there would
    not be known) and is left out too. Both are counted in ``excluded``. Only future revenue is an outcome.

    Parameters
    ----------
    ds : Dataset
        The loaded data, with survey responses.
    horizons : iterable of int
        The horizons k in whole months (≥ 1).
    segment : str, optional
        A customer attribute to carry as ``segment`` (its value at the survey date).
    period : {"month", "quarter", "year"}
        The survey period of ``period`` and ``period_label``.

    Returns
    -------
    Alignment
        The aligned responses (``table``) and what was left out (``excluded``).
    """
    hs = tuple(sorted({int(k) for k in horizons}))
    if not hs or min(hs) < 1:
        raise ValueError(f"horizons={horizons!r}: give one or more whole months ≥ 1")
    return align_responses(ds, responses(ds, period=period, segment=segment), hs, IntegerPanel(ds))


def align_responses(ds, r: pd.DataFrame, horizons: tuple, panel: IntegerPanel | None = None) -> Alignment:
    """:func:`align` for responses already read: the survey answers ``r`` or any dated texts written like them.

    Parameters
    ----------
    ds : Dataset
        The loaded data (its spells, panel and settings).
    r : DataFrame
        One row per answer with ``customer_id``, ``respondent_id``, ``date``, ``score``, ``category``,
        ``survey_month`` (month index), ``period`` and ``period_label`` (optional ``csat``, ``segment``), as
        :func:`~csanalysis.nps.responses` gives them.
    horizons : tuple of int
        The horizons k in whole months (≥ 1), sorted.
    panel : IntegerPanel, optional
        The integer-keyed panel of ``ds``, when the caller already holds one.

    Returns
    -------
    Alignment
        The aligned answers and what was left out, as :func:`align`.
    """
    hs, pv = tuple(horizons), panel if panel is not None else IntegerPanel(ds)
    keep = ["customer_id", "respondent_id", "date", "score", "category", "survey_month", "period", "period_label"]
    keep += [c for c in ("csat", "segment") if c in r.columns]
    t = r[keep].copy()
    cid = t["customer_id"].to_numpy()
    code = pv.codes(cid)
    b = t["survey_month"].to_numpy() - 1
    t["baseline_month"] = b
    t["mrr_base"] = pv.at(pv.mrr, code, b)
    has_base = ~np.isnan(t["mrr_base"].to_numpy())
    sp_no = np.where(has_base, pv.at(pv.spell, code, b, fill=-1), -1)
    # the spell of the baseline month: (customer code, spell number) as one integer key
    s = ds.spells
    s_code, s_no = pv.codes(s["customer_id"].to_numpy()), s["spell"].to_numpy(np.int64)
    s_rows = np.flatnonzero(s_code >= 0)  # spells of customers never paying cannot be a baseline's spell
    numbers = np.concatenate([s_no[s_rows], sp_no[has_base]])
    lo = int(numbers.min()) if len(numbers) else 0
    span = int(numbers.max()) - lo + 1 if len(numbers) else 1
    s_index = pd.Index(s_code[s_rows].astype(np.int64) * span + (s_no[s_rows] - lo))
    hit = s_index.get_indexer(np.where(has_base, code.astype(np.int64) * span + (sp_no - lo), -1))
    pos = np.where(hit >= 0, s_rows[np.maximum(hit, 0)], -1)  # row of ds.spells, −1 without a baseline
    last_m = np.where(pos >= 0, month_index(s["last_paid"])[np.maximum(pos, 0)], -1)
    event = np.where(pos >= 0, s["event"].to_numpy(np.int64)[np.maximum(pos, 0)], 0)
    grace = int(ds.settings.grace_months)
    excluded = []
    for k in hs:
        end = b + k
        complete = ds.window_closed(b, k, grace)  # end + grace ≤ the as_of month
        churned = (event == 1) & (last_m + 1 <= end)
        mk = pv.at(pv.mrr, code, end)
        mk[np.isnan(mk)] = 0.0  # not paying in month end (a grace gap or gone): MRR 0
        usable = has_base & complete
        t[f"complete_{k}"] = complete
        t[f"churned_{k}"] = np.where(usable, churned.astype(float), np.nan)
        stay = usable & ~churned
        base = t["mrr_base"].to_numpy()
        # a revenue change is a ratio to the baseline: a baseline of zero or below (a purchase log's month of free
        # items or of returns larger than its purchases) has none; the response still counts for churn
        ratio = stay & (base > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            t[f"mrr_{k}"] = np.where(stay, mk, np.nan)
            t[f"mrr_change_{k}"] = np.where(ratio, 100.0 * (mk / base - 1.0), np.nan)
            t[f"expanded_{k}"] = np.where(ratio, (mk > base).astype(float), np.nan)
            t[f"contracted_{k}"] = np.where(ratio, (mk < base).astype(float), np.nan)
        for reason, mask in (("no_baseline", ~has_base), ("window_incomplete", has_base & ~complete)):
            excluded.append({"horizon": k, "reason": reason, "responses": int(mask.sum()),
                             "accounts": int(pd.Series(cid[mask]).nunique())})
    definition = ("baseline: MRR in the last full month before the survey; outcomes k months later: churn (the "
                  "account's spell at the baseline ended in those k months, by the dataset's churn definition) "
                  "and, among accounts that stayed, the MRR change in percent")
    return Alignment(table=t, horizons=hs, excluded=pd.DataFrame(excluded), as_of_m=ds.as_of_m, grace_months=grace,
                     definition=definition, layout=getattr(ds, "layout", "subscription"))
