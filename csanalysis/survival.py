"""Survival analysis of customer lifetimes: Kaplan–Meier curves, survival tables, log-rank tests, RMST.

lifelines does the estimation; this module builds correct durations from the Dataset's spells.

**Durations.** Time is in months since the spell's start. A churned spell (event) has T = ``duration``: it paid
``duration`` months and was gone in the next. A spell still paying at ``as_of`` is known to have survived only
the months observed, so it is censored at ``duration − 1`` (it is not at risk of the churn in the month after
``as_of``, which nobody has seen yet). With this convention S(k) is exactly the share still active in month k,
and the pooled unbroken cohort curve of :mod:`csanalysis.cohorts` equals the Kaplan–Meier estimate.
**Left truncation.** Customers who started before the data window enter the risk set at ``entry``.
**Reactivations.** ``spells="first"`` (default) uses each customer's first spell; ``"all"`` uses every spell,
each timed from its own start, stratified by spell number (1, 2, 3+), with a cluster bootstrap by customer for
the bands.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test, pairwise_logrank_test
from lifelines.utils import restricted_mean_survival_time

from .data import Dataset
from .data import attributes as attrs_
from .estimate import Estimate
from .periods import month_index, month_start
from .result import TableSummary
from .stats.bootstrap import count_weights, percentile_interval, replicate_sums
from .stats.multitest import holm


def survival_data(ds: Dataset, *, spells: str = "first", by: str | None = None) -> pd.DataFrame:
    """One row per spell: customer_id, spell, T (months), E (1 churned), entry (months), group."""
    if spells not in ("first", "all"):
        raise ValueError(f"spells={spells!r}: use 'first' or 'all'")
    s = ds.spells
    if spells == "first":
        s = s[s["spell"] == 1]
    out = pd.DataFrame({
        "customer_id": s["customer_id"].to_numpy(),
        "spell": s["spell"].to_numpy(),
        "T": (s["duration"] - (1 - s["event"])).to_numpy(),
        "E": s["event"].to_numpy(),
        "entry": s["entry"].to_numpy(),
        "start": s["start"].to_numpy(),
    })
    if by is not None:
        # a categorical attribute, missing values one more level (data/attributes.py)
        out["group"] = out["customer_id"].map(attrs_.segment_of(ds, by)).fillna(attrs_.MISSING).astype(str)
    elif spells == "all":
        out["group"] = np.where(out["spell"] >= 3, "3+", out["spell"].astype(str))
    else:
        out["group"] = "All customers"
    return out


def _truncated(d: pd.DataFrame) -> bool:
    return bool((d["entry"] > 0).any())


def km_fits(ds: Dataset, *, by: str | None = None, spells: str = "first", alpha: float = 0.05) -> dict[str, KaplanMeierFitter]:
    """One fitted lifelines KaplanMeierFitter per group (95% Greenwood-based bands, left truncation honoured).

    Parameters
    ----------
    ds : Dataset
        The loaded data (:func:`csanalysis.load_dataset`).
    by : str or None
        An attribute of the customers: one group per level (missing values one more level); None:
        all customers together.
    spells : {'first', 'all'}
        ``'first'``: each customer's first spell; ``'all'``: every spell (reactivations too).
    alpha : float
        1 − the intervals' confidence level.

    Returns
    -------
    dict of str to lifelines.KaplanMeierFitter
        The fit of each group (``'All customers'`` without ``by``; spell number
        1, 2, 3+ with ``spells='all'``).
    """
    d = survival_data(ds, spells=spells, by=by)
    fits = {}
    for name, g in d.groupby("group", sort=True):
        fits[name] = KaplanMeierFitter(alpha=alpha, label=str(name)).fit(
            g["T"], g["E"], entry=g["entry"] if _truncated(d) else None)
    return fits


def _fmt_median(v) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def survival_table(ds: Dataset, times=(3, 6, 12, 24), *, by: str | None = None, spells: str = "first",
                   alpha: float = 0.05, translate=None) -> pd.DataFrame:
    """S(t) with its interval per group, and the median lifetime with its interval or "not reached" (``median
    text``; in the report's language with ``translate(key, **values)``: ``survival.median_text`` and
    ``survival.not_reached``).

    Parameters
    ----------
    ds : Dataset
        The loaded data (:func:`csanalysis.load_dataset`).
    times : sequence of int
        Months at which S(t) is read.
    by : str or None
        An attribute of the customers: one group per level (missing values one more level); None:
        all customers together.
    spells : {'first', 'all'}
        ``'first'``: each customer's first spell; ``'all'``: every spell (reactivations too).
    alpha : float
        1 − the intervals' confidence level.
    translate : callable or None
        The report's message function (``translate(key, **values)``); None: English.

    Returns
    -------
    pandas.DataFrame
        One row per group: group, customers, churned, S(t) with its lower and upper bound for each
        of ``times``, and the median lifetime (``median text`` for reading).
    """
    from lifelines.utils import median_survival_times

    rows = []
    for name, kmf in km_fits(ds, by=by, spells=spells, alpha=alpha).items():
        ci = kmf.confidence_interval_survival_function_
        horizon = kmf.timeline.max()
        row = {"group": name, "customers": int(kmf.event_observed.size), "churned": int(kmf.event_observed.sum())}
        for t in times:
            if t > horizon:
                row[f"S({t})"] = row[f"S({t}) lower"] = row[f"S({t}) upper"] = np.nan
                continue
            row[f"S({t})"] = float(kmf.survival_function_at_times(t).iloc[0])
            idx = ci.index[ci.index <= t].max()
            row[f"S({t}) lower"], row[f"S({t}) upper"] = (float(v) for v in ci.loc[idx].to_numpy())
        med = kmf.median_survival_time_
        med_ci = median_survival_times(ci)
        row["median"] = _fmt_median(med)
        row["median lower"] = _fmt_median(med_ci.iloc[0, 0])
        row["median upper"] = _fmt_median(med_ci.iloc[0, 1])
        row["median text"] = _median_text(row, alpha, translate)
        rows.append(row)
    return pd.DataFrame(rows)


def _median_text(row: dict, alpha: float, translate=None) -> str:
    """'37 months (95% CI 31–46)', 'not reached', or with ``translate`` the catalogue's words."""
    if translate is None:
        if row["median"] is None:
            return "not reached"
        return (f"{row['median']:.0f} months (95% CI {row['median lower'] or 0:.0f}–"
                + (f"{row['median upper']:.0f})" if row["median upper"] is not None else "not reached)"))
    if row["median"] is None:
        return translate("survival.not_reached")
    hi = f"{row['median upper']:.0f}" if row["median upper"] is not None else translate("survival.not_reached")
    return translate("survival.median_text", m=f"{row['median']:.0f}", pct=f"{100 * (1 - alpha):.0f}%",
                     lo=f"{row['median lower'] or 0:.0f}", hi=hi)


def _s_at(row, t: int, why: str) -> Estimate:
    """S(t) of one survival-table row as an estimate (undefined, with ``why``, when nobody was followed to t)."""
    return Estimate.of(f"S({t})", row.get(f"S({t})"), row.get(f"S({t}) lower"), row.get(f"S({t}) upper"), reason=why)


def not_followed(t: int) -> str:
    """Why S(t) of a group is undefined."""
    return f"no customer of this group was followed for {t} months"


def table_metrics(table: pd.DataFrame, overall: pd.Series, t: int = 12) -> dict:
    """The survival table's part of ``metrics.json`` (:mod:`csanalysis.estimate`): the median lifetime ("not
    reached" when the curve stays above one half) and S(``t``) overall (``overall``: the one row of
    :func:`survival_table` without ``by``) and for each group of ``table``, each with its reason always written."""
    why = not_followed(t)
    med = Estimate.of("median_lifetime_months", overall["median"], overall["median lower"], overall["median upper"],
                      reason="not reached")
    return {
        "median_lifetime_months": med.brief(),
        "s12_overall": _s_at(overall, t, why).brief(),
        "s12_by_segment": {r["group"]: _s_at(r, t, why).brief()
                           for r in table.to_dict(orient="records")},
    }


@dataclass
class LogrankResult:
    statistic: float
    p_value: float
    degrees_of_freedom: int
    method: str
    pairwise: pd.DataFrame  # group_a, group_b, statistic, p_value, p_holm
    method_key: str = "survival.method.logrank"  # the message of ``method`` in the catalogue

    @property
    def summary(self) -> pd.DataFrame:
        """The pairwise comparisons: group_a, group_b, statistic, p_value, p_holm (the overall test:
        :meth:`to_dict`)."""
        return self.pairwise

    def print_summary(self) -> None:
        print(f"{self.method}: statistic {self.statistic:.3f}, df {self.degrees_of_freedom}, p {self.p_value:.4g}")
        print(self.summary.to_string(index=False))

    def _repr_html_(self) -> str:
        return self.summary.to_html(index=False)

    def to_dict(self) -> dict:
        return {"statistic": self.statistic, "p_value": self.p_value, "df": self.degrees_of_freedom, "method": self.method}

    def metrics(self) -> dict:
        """The test's part of ``metrics.json`` (``logrank``)."""
        return self.to_dict()


def logrank_metrics(test: LogrankResult | None) -> dict:
    """``metrics.json``'s ``logrank``: the test's, or no p-value with the reason when there was one group only."""
    return test.metrics() if test is not None else {"p_value": None, "reason": "one group only: nothing to compare"}


def logrank(ds: Dataset, by: str, *, spells: str = "first") -> LogrankResult:
    """Log-rank test across the groups of ``by`` and pairwise with Holm correction.

    With left truncation (entry times), lifelines' ``logrank_test`` has no entry argument, so the test is
    statsmodels' ``survdiff(entry=…)`` instead; the result names the method used.
    """
    d = survival_data(ds, spells=spells, by=by)
    groups = sorted(d["group"].unique())
    if len(groups) < 2:
        raise ValueError(f"log-rank needs at least two groups of {by!r}; found {groups}")
    if _truncated(d):
        from statsmodels.duration.survfunc import survdiff

        stat, p = survdiff(d["T"].to_numpy(float), d["E"].to_numpy(), d["group"].to_numpy(), entry=d["entry"].to_numpy(float))
        pairs = []
        for a, b in itertools.combinations(groups, 2):
            m = d["group"].isin([a, b])
            s2, p2 = survdiff(d.loc[m, "T"].to_numpy(float), d.loc[m, "E"].to_numpy(), d.loc[m, "group"].to_numpy(),
                              entry=d.loc[m, "entry"].to_numpy(float))
            pairs.append((a, b, float(s2), float(p2)))
        method = "log-rank with left truncation (statsmodels survdiff, entry times)"
        key = "survival.method.logrank_entry"
    else:
        res = multivariate_logrank_test(d["T"], d["group"], d["E"])
        stat, p = res.test_statistic, res.p_value
        pw = pairwise_logrank_test(d["T"], d["group"], d["E"]).summary
        pairs = [(a, b, float(r["test_statistic"]), float(r["p"])) for (a, b), r in pw.iterrows()]
        method = "log-rank (lifelines)"
        key = "survival.method.logrank"
    pairwise = pd.DataFrame(pairs, columns=["group_a", "group_b", "statistic", "p_value"])
    # n = every pair: a pair whose test gave no p-value still counts in the family (as multipletests counted it)
    pairwise["p_holm"] = holm(pairwise["p_value"], n=len(pairwise))
    return LogrankResult(statistic=float(stat), p_value=float(p), degrees_of_freedom=len(groups) - 1, method=method,
                         pairwise=pairwise, method_key=key)


def _rmst_se(kmf: KaplanMeierFitter, horizon: float) -> float:
    """Standard error of the Kaplan–Meier RMST (Klein & Moeschberger 4.5): Var = Σ_{t_j ≤ h} A_j² d_j ÷ (Y_j (Y_j − d_j)),
    A_j the area under S from t_j to the horizon and Y_j the customers at risk at t_j (entry < t_j ≤ T). (lifelines' ``return_variance`` gives the variance of the
    restricted lifetime itself, not of its estimate.)"""
    sf = kmf.survival_function_.iloc[:, 0]
    ts, sv = sf.index.to_numpy(dtype=float), sf.to_numpy(dtype=float)
    below = ts < horizon
    knots = np.append(ts[below], horizon)
    cum = np.concatenate([[0.0], np.cumsum(sv[below] * np.diff(knots))])
    et = kmf.event_table
    t, d = et.index.to_numpy(dtype=float), et["observed"].to_numpy(dtype=float)
    # the risk set at t is entry < t ≤ T, as in the estimate (lifelines subtracts each time's entrants, except at
    # the first time, where everyone observed from the start enters) and R's se(rmean)
    entrants = et["entrance"].to_numpy(dtype=float).copy()
    entrants[0] = 0
    y = et["at_risk"].to_numpy(dtype=float) - entrants
    keep = (t <= horizon) & (d > 0) & (y > d)
    area = cum[-1] - np.interp(t[keep], knots, cum)
    return float(np.sqrt(np.sum(area ** 2 * d[keep] / (y[keep] * (y[keep] - d[keep])))))


def rmst(ds: Dataset, horizon: int, *, by: str | None = None, spells: str = "first", alpha: float = 0.05,
         reference: str | None = None) -> pd.DataFrame:
    """Restricted mean survival time to ``horizon`` months per group (expected months active within the horizon)
    with a normal interval from lifelines' variance, and the difference from ``reference`` (default: the first
    group) with its interval.

    Parameters
    ----------
    ds : Dataset
        The loaded data (:func:`csanalysis.load_dataset`).
    horizon : int
        Months the mean is restricted to.
    by : str or None
        An attribute of the customers: one group per level (missing values one more level); None:
        all customers together.
    spells : {'first', 'all'}
        ``'first'``: each customer's first spell; ``'all'``: every spell (reactivations too).
    alpha : float
        1 − the intervals' confidence level.
    reference : str or None
        The group the differences are taken from (None: the first group).

    Returns
    -------
    pandas.DataFrame
        One row per group: group, rmst with se and interval, difference from ``reference`` with
        its interval (NaN for the reference itself), reference, horizon.
    """
    z = _z(alpha)
    rows = []
    fits = km_fits(ds, by=by, spells=spells, alpha=alpha)
    for name, kmf in fits.items():
        est = restricted_mean_survival_time(kmf, t=horizon)
        se = _rmst_se(kmf, horizon)
        rows.append({"group": name, "rmst": float(est), "se": se, "lower": max(est - z * se, 0.0),
                     "upper": min(est + z * se, float(horizon))})
    out = pd.DataFrame(rows)
    ref = reference if reference is not None else out["group"].iloc[0]
    if ref not in set(out["group"]):
        raise ValueError(f"reference {ref!r} is not a group; groups: {list(out['group'])}")
    r = out.set_index("group").loc[ref]
    out["difference"] = out["rmst"] - r["rmst"]
    diff_se = np.sqrt(out["se"] ** 2 + r["se"] ** 2)
    out["difference lower"] = np.where(out["group"] == ref, np.nan, out["difference"] - z * diff_se)
    out["difference upper"] = np.where(out["group"] == ref, np.nan, out["difference"] + z * diff_se)
    out["reference"] = ref
    out["horizon"] = horizon
    return out


def _z(alpha: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(1 - alpha / 2))


# ------------------------------------------------------------------------------------------------ drivers


@dataclass(kw_only=True)
class CoxResult:
    """Cox model of churn on attributes fixed at the start (lifelines CoxPHFitter underneath)."""

    model: object  # lifelines CoxPHFitter
    hazard_ratios: pd.DataFrame  # covariate, level, reference, hr, lower, upper, p, sentence
    c_index: float | None = field(repr=False, compare=False)  # Harrell's C; None: the model's, read by concordance
    n: int
    events: int
    ph_test: pd.DataFrame | None  # term, covariate, level, statistic, p, size of the drift, violation (see _ph_sizes)
    design: str = "fixed covariates at the start of each spell"
    ph_residuals: pd.DataFrame | None = None  # one row per churn event: T, rank, and β(t) = β̂ + scaled Schoenfeld per term
    ph_reason: str | None = None  # why there is no proportional-hazards check, when there is none
    references: dict | None = None  # reference level of each categorical covariate

    ph_events: int | None = None  # churn events the proportional-hazards check had (or would have had)
    ph_sample: tuple | None = None  # (spells checked, spells eligible) when the check ran on a random sample
    ph_truncated: bool = False  # the check left out left-truncated spells (lifelines has no residuals with entry)
    skipped: dict = field(default_factory=dict)  # covariates left out of the fit: name -> "constant" / "all missing"
    design_key: str | None = None  # the message of ``design`` in the catalogue (see design_text)
    design_sample: tuple | None = None  # (share, customers drawn, customers) when fitted on a random share of customers
    separation: dict | None = None  # monotone likelihood: the terms not estimable and why (causes.cause_specific_cox)

    def design_text(self, translate=None) -> str:
        """The model's design in the report's language: ``translate(design_key)`` and, when fitted on a sample,
        ``survival.design_sample``; without ``translate`` (or a key), the English ``design``."""
        if translate is None or self.design_key is None:
            return self.design
        text = translate(self.design_key)
        if self.design_sample:
            share, drawn, total = self.design_sample
            text += translate("survival.design_sample", share=f"{share:.1%}", n=f"{drawn:,}", total=f"{total:,}")
        return text

    @property
    def ph_largest_drift(self) -> pd.Series | None:
        """The term whose hazard ratio drifts most between 3 and 24 months (on the log scale), violation or not."""
        if self.ph_test is None or not len(self.ph_test):
            return None
        size = np.log(self.ph_test.filter(like="hr_ratio_").iloc[:, 0]).abs().fillna(-1)
        return self.ph_test.loc[size.idxmax()]

    @property
    def ph_violations(self) -> pd.DataFrame:
        """The terms whose hazard ratio drifts materially over time (empty when none or not checked)."""
        if self.ph_test is None:
            return pd.DataFrame(columns=["term", "covariate", "level"])
        return self.ph_test[self.ph_test["violation"]]

    @property
    def concordance(self) -> float | None:
        """Harrell's C (None when no pair of spells can be compared): ``c_index``, or lifelines'
        ``concordance_index_`` when first read (it ranks every pair of spells, costly at scale, and the stratified
        refit's and the naive NPS model's are seldom read)."""
        if self.c_index is None:
            try:
                self.c_index = float(self.model.concordance_index_)
            except ZeroDivisionError:  # no two spells whose churn order can be compared (all tied, or no churn)
                return None
        return self.c_index

    @property
    def summary(self) -> pd.DataFrame:
        """Hazard ratios with their intervals (one row per term)."""
        return self.hazard_ratios

    def conf_int(self) -> pd.DataFrame:
        """The hazard ratios' intervals (``lower``, ``upper``) by term."""
        return self.hazard_ratios.set_index("term")[["lower", "upper"]]

    def print_summary(self) -> None:
        print(self.summary.drop(columns=["sentence"]).to_string(index=False))
        print(f"spells: {self.n}, churn events: {self.events}, concordance: {self.concordance}")

    def _repr_html_(self) -> str:
        return self.summary.drop(columns=["sentence"]).to_html(index=False)

    def strongest(self) -> pd.Series:
        """The hazard ratio furthest from 1 (on the log scale)."""
        return self.hazard_ratios.loc[np.log(self.hazard_ratios["hr"]).abs().idxmax()]

    def records(self) -> list[dict]:
        """The hazard ratios as records (without the sentence): what ``metrics.json`` keeps of them."""
        return self.hazard_ratios.drop(columns=["sentence"]).to_dict(orient="records")

    def to_dict(self) -> dict:
        return {"concordance": self.concordance, "n": self.n, "events": self.events, "design": self.design,
                "hazard_ratios": self.records(), "skipped": dict(self.skipped)}

    def metrics(self) -> dict:
        """The model's part of ``metrics.json``: ``hazard_ratios``, ``skipped_covariates``, ``ph_check`` (the
        proportional-hazards check's terms and violations, or none with the reason) and the customers and events
        it was fitted on (``cox_n``, ``cox_events``)."""
        ph = self.ph_test
        return {
            "hazard_ratios": self.records(),
            "cox_n": int(self.n),
            "cox_events": int(self.events),
            "skipped_covariates": self.skipped,
            "ph_check": ({"checked_on": ph["checked_on"].iloc[0], "events": self.ph_events, "method": PH_METHOD,
                          "terms": ph.drop(columns=["checked_on"]).to_dict(orient="records"),
                          "violations": self.ph_violations.drop(columns=["checked_on"]).to_dict(orient="records")}
                         if ph is not None else
                         {"terms": [], "violations": [], "events": self.ph_events, "reason": self.ph_reason}),
        }


PH_METHOD = ("lifelines proportional_hazard_test (rank transform); size: hazard ratio at 3 and 24 months from a line "
             "of the scaled Schoenfeld residuals on log months")


def cox_metrics(cox: CoxResult | None) -> dict:
    """``metrics.json``'s part of a Cox model (:meth:`CoxResult.metrics`), or of none (no covariates available)."""
    if cox is not None:
        return cox.metrics()
    return {"hazard_ratios": [], "skipped_covariates": {}, "cox_n": None, "cox_events": None,
            "ph_check": {"terms": [], "violations": [], "events": None, "reason": "no covariates available"}}


def reference_levels(ds: Dataset, covariates: list[str], references: dict | list | None = None) -> dict[str, str]:
    """The reference level of each categorical attribute, one rule for every model of this module: the level
    given in ``references`` (a dict, or a list of ``"attribute:level"`` strings as a notebook parameter), else
    the most common level among customers (one row per customer; ties broken alphabetically). Counting
    customers, not model rows, keeps the fixed and the time-varying Cox models on the same references (long-lived
    customers have more customer-months, so a per-row count could pick another level)."""
    given = _parse_references(references)
    attrs = ds.customers.set_index("customer_id")
    kinds = attrs_.kinds(ds)
    out = {}
    for spec in covariates:
        cov = attrs_.parse_covariate(spec)[0]
        if cov not in kinds:
            raise ValueError(f"covariate {cov!r} is not a customer attribute; attributes: {list(kinds)}")
        col = attrs[cov]
        if kinds[cov] == attrs_.NUMERIC or attrs_.uninformative(col) is not None:  # not coded, or not fitted
            continue
        col = col.fillna("(missing)").astype(str)
        if cov in given:
            if given[cov] not in set(col):
                raise ValueError(f"reference {given[cov]!r} for {cov!r} is not one of its levels: {sorted(set(col))}")
            out[cov] = given[cov]
        else:
            counts = col.value_counts()
            out[cov] = sorted(counts.index[counts == counts.max()])[0]
    return out


def _parse_references(references) -> dict[str, str]:
    if not references:
        return {}
    if isinstance(references, dict):
        return {str(k): str(v) for k, v in references.items()}
    out = {}
    for item in references:
        sep = min((i for i in (str(item).find(":"), str(item).find("=")) if i >= 0), default=-1)
        if sep < 0:
            raise ValueError(f"reference {item!r}: write attribute:level (or attribute=level), e.g. plan:Pro")
        out[str(item)[:sep].strip()] = str(item)[sep + 1:].strip()
    return out


def _by_customer(ids: pd.Series, customers: pd.DataFrame, columns) -> tuple[np.ndarray, pd.DataFrame]:
    """Each row's customer code and the customers' ``columns``, one row per distinct customer of ``ids`` in code
    order: attributes are coded once per customer and spread to the rows by ``values[codes]`` (mapping and
    comparing string ids row by row took seconds on the customer-month rows of the time-varying model)."""
    codes, uniq = pd.factorize(ids, use_na_sentinel=False)
    return codes, customers.set_index("customer_id")[list(columns)].reindex(uniq)


def covariate_design(d: pd.DataFrame, covariates: list[str], customers: pd.DataFrame, references: dict,
            kinds: dict[str, str] | None = None):
    """Dummy-code categorical attributes against ``references`` (from :func:`reference_levels`); a numeric
    attribute on its own scale (per unit), per doubling with the suffix ``:log2`` (every value above zero), and
    seats per doubling (log2 of seats, at least 1).

    Parameters
    ----------
    d : DataFrame
        The rows to code (one per spell or per customer-month), with ``customer_id``.
    covariates : list of str
        The attributes, each optionally with the suffix ``:log2``.
    customers : DataFrame
        One row per customer with the attribute columns (``Dataset.customers``).
    references : dict
        The reference level of each categorical attribute (:func:`reference_levels`).
    kinds : dict, optional
        The attributes' kinds, numeric or categorical (data/attributes.py; None: from the columns' dtypes).

    Returns
    -------
    X : DataFrame
        One column per term, on ``d``'s index.
    meta : list of tuple
        Per term: ``(covariate, level, reference, term)`` (for a numeric term the level is its name and the
        reference says per unit or per doubling).

    Raises
    ------
    ValueError
        A numeric attribute with missing values, or a ``:log2`` one with values at or below zero.

    Notes
    -----
    The columns are coded once per distinct customer of ``d`` and then spread to its rows: the time-varying model
    passes one row per customer-month (1.3M rows at 100k customers), where mapping and comparing strings row by
    row took over a second; the values are the same."""
    specs = [attrs_.parse_covariate(c) for c in covariates]
    kinds = kinds if kinds is not None else attrs_.infer_kinds(customers)
    codes, attrs = _by_customer(d["customer_id"], customers, dict.fromkeys(n for n, _t in specs))
    X = pd.DataFrame(index=d.index)
    meta = []
    for cov, transform in specs:
        col = attrs[cov]
        if kinds.get(cov) == attrs_.NUMERIC:
            missing = int(col.isna().to_numpy()[codes].sum())  # counted over d's rows
            if missing:
                raise ValueError(f"covariate {cov!r} has {missing:,} missing values; fill or drop them first")
            if cov == "seats" and transform is None:
                X["log2(seats)"] = np.log2(col.clip(lower=1).astype(float)).to_numpy()[codes]
                meta.append((cov, "log2(seats)", "per doubling of seats", "log2(seats)"))
            elif transform == attrs_.LOG2:
                v = col.astype(float).to_numpy()[codes]
                if (v <= 0).any():
                    raise ValueError(f"covariate '{cov}:{attrs_.LOG2}' needs values above zero; {int((v <= 0).sum()):,} "
                                     f"rows have {cov} ≤ 0 (e.g. {sorted(set(v[v <= 0].tolist()))[:5]}): use {cov!r} "
                                     "per unit instead")
                name = f"log2({cov})"
                X[name] = np.log2(v)
                meta.append((cov, name, "per doubling", name))
            else:
                X[cov] = col.astype(float).to_numpy()[codes]
                meta.append((cov, cov, "per unit", cov))
            continue
        col = col.fillna("(missing)").astype(str)
        ref = references[cov]
        for level in sorted(set(col) - {ref}):
            name = f"{cov}={level}"
            X[name] = (col == level).astype(float).to_numpy()[codes]
            meta.append((cov, level, ref, name))
    return X, meta


PH_MAX_SPELLS = 20_000  # the proportional-hazards check runs on a random sample of this many spells beyond it


def cox_drivers(ds: Dataset, covariates: list[str], *, strata: list[str] | None = None,
                references: dict | list | None = None, spells: str = "first", alpha: float = 0.05,
                penalizer: float = 0.0, ph_check: bool = True, min_ph_events: int = 10) -> CoxResult:
    """Cox model on attributes fixed at the start (plan, touch model, seats at signup, channel …).

    Hazard ratios come with intervals and a sentence ("customers on the Basic plan churn 1.8× as fast as Pro,
    95% CI 1.6–2.0"); reference levels follow :func:`reference_levels` (the same rule as
    :func:`time_varying_drivers`). ``ph_test`` names the terms that violate proportional hazards with the size of
    the violation (the hazard ratio implied at 3 and at 24 months by the scaled Schoenfeld residuals), not only
    its p-value; ``ph_residuals`` holds those residuals for the plot; ``strata`` refits stratified on the named
    attributes. Beyond :data:`PH_MAX_SPELLS` eligible spells the check runs on a seeded random sample of that many
    (``ph_sample``; the hazard ratios themselves always use every spell).

    Parameters
    ----------
    ds : Dataset
        The loaded data (:func:`csanalysis.load_dataset`).
    covariates : list of str
        Attributes of the customers (numeric ones may carry a transform,
        e.g. ``'seats:log2'``).
    strata : list of str or None
        Attributes to stratify a refit on (None: no strata).
    references : dict, list or None
        Reference levels of categorical covariates (``{covariate: level}`` or
        ``['covariate:level']``); None: :func:`reference_levels`' rule.
    spells : {'first', 'all'}
        ``'first'``: each customer's first spell; ``'all'``: every spell (reactivations too).
    alpha : float
        1 − the intervals' confidence level.
    penalizer : float
        lifelines' ``penalizer`` (ridge) of CoxPHFitter.
    ph_check : bool
        Run the proportional-hazards check.
    min_ph_events : int
        Fewer churn events than this: no check, with the reason (``ph_reason``).

    Returns
    -------
    CoxResult
        Hazard ratios with intervals and sentences, the fitted model, concordance and the
        proportional-hazards check.
    """
    from lifelines import CoxPHFitter
    from lifelines.statistics import proportional_hazard_test

    fixed, skipped = fitted_covariates(
        ds, [c for c in covariates if attrs_.parse_covariate(c)[0] not in (strata or [])])
    if not fixed:
        raise ValueError(f"no covariate to fit: {_skipped_text(skipped) or 'none given'}")
    refs = reference_levels(ds, fixed, references)
    d = survival_data(ds, spells=spells)
    X, meta = covariate_design(d, fixed, ds.customers, refs, attrs_.kinds(ds))
    df = pd.concat([d[["T", "E", "entry"]], X], axis=1)
    # a spell censored at 0 is at risk only of a churn at 0: without one (every subscription) it adds nothing to
    # the partial likelihood and is left out; a snapshot's churned tenure-0 rows keep every T = 0 row in
    if not ((df["T"] == 0) & (df["E"] == 1)).any():
        df = df[df["T"] > 0]
    if strata:
        # the same strings as mapping each row's id, "nan" where an attribute is missing (about 2 s per stratum at
        # 1M customers when mapped row by row)
        codes, attrs = _by_customer(d.loc[df.index, "customer_id"], ds.customers, strata)
        for s in strata:
            df[s] = attrs[s].astype(str).to_numpy()[codes]
    fit_strata = list(strata or []) or None
    if fit_strata and len(fit_strata) > 1:
        # lifelines selects each stratum's rows with .loc on a MultiIndex of the strata columns in every Newton
        # step (about a minute at 1M spells with three strata); one integer column numbering the combinations in
        # their sorted order makes the same strata in the same order with the rows in the same order: the same fit
        name = " × ".join(fit_strata)
        df[name] = df.groupby(fit_strata, sort=True).ngroup()
        df, fit_strata = df.drop(columns=fit_strata), [name]
    entry = "entry" if (df["entry"] > 0).any() else None
    if entry is None:
        df = df.drop(columns="entry")
    cph = CoxPHFitter(alpha=alpha, penalizer=penalizer)
    cph.fit(df, duration_col="T", event_col="E", entry_col=entry, strata=fit_strata, batch_mode=True)
    s = cph.summary
    rows = []
    for cov, level, ref, name in meta:
        hr, lo, hi, p = (float(s.loc[name, c]) for c in ("exp(coef)", "exp(coef) lower %g%%" % (100 * (1 - alpha)),
                                                          "exp(coef) upper %g%%" % (100 * (1 - alpha)), "p"))
        rows.append({"covariate": cov, "level": level, "reference": ref, "term": name, "hr": hr, "lower": lo,
                     "upper": hi, "p": p, "sentence": _hr_sentence(cov, level, ref, hr, lo, hi, alpha)})
    hrs = pd.DataFrame(rows)
    ph = resid = reason = events = ph_sample = None
    if ph_check and len(meta):
        ph_df, ph_fit = df, cph
        if entry is not None:
            # lifelines has no residuals with entry times: check on the spells observed from their start
            ph_df = df[df["entry"] == 0].drop(columns="entry")
        if len(ph_df) > PH_MAX_SPELLS:
            # stated sampling rule: lifelines builds the Schoenfeld residuals row by row (time grows with the
            # square of the spells), so the check refits the model on a seeded random sample of spells
            ph_sample = (PH_MAX_SPELLS, int(len(ph_df)))
            ph_df = ph_df.sample(n=PH_MAX_SPELLS, random_state=0).sort_index()
        events = int(ph_df["E"].sum())
        if events < min_ph_events:
            reason = (f"only {events} churn event(s) among the spells observed from their start: at least "
                      f"{min_ph_events} are needed to check proportional hazards")
        else:
            if entry is not None or ph_sample is not None:
                ph_fit = CoxPHFitter(alpha=alpha, penalizer=penalizer).fit(
                    ph_df, duration_col="T", event_col="E", strata=fit_strata, batch_mode=True)
            # the scaled Schoenfeld residuals once, for the test and for the size of the drift (lifelines builds
            # them row by row: 0.7 s for the 20k-spell sample, which the test alone would compute again)
            scaled = ph_fit.compute_residuals(ph_df, kind="scaled_schoenfeld")
            test = proportional_hazard_test(ph_fit, ph_df, time_transform="rank", precomputed_residuals=scaled)
            ph, resid = _ph_sizes(ph_fit, ph_df, test, meta, scaled)
            ph["checked_on"] = ("all spells" if entry is None else "spells observed from their start (no left truncation)") + (
                f" (random sample of {ph_sample[0]} of {ph_sample[1]} spells)" if ph_sample else "")
    return CoxResult(model=cph, hazard_ratios=hrs, c_index=None, n=int(len(df)), events=int(df["E"].sum()), ph_test=ph,
                     ph_residuals=resid, ph_reason=reason, references=refs, ph_events=events, ph_sample=ph_sample,
                     ph_truncated=entry is not None, skipped=skipped)


def fitted_covariates(ds: Dataset, covariates: list[str]) -> tuple[list[str], dict[str, str]]:
    """The covariate specifications to fit and the attributes left out (constant or all missing), after the
    checks of :func:`csanalysis.data.attributes.check_covariates`."""
    kept, skipped = attrs_.check_covariates(ds, covariates)
    return [n if t is None else f"{n}:{t}" for n, t in kept], skipped


def _skipped_text(skipped: dict[str, str]) -> str:
    return ", ".join(f"{k} ({v}: reported, not fitted)" for k, v in skipped.items())


def _hr_sentence(cov, level, ref, hr, lo, hi, alpha) -> str:
    pct = f"{100 * (1 - alpha):.0f}%"
    if cov == "seats":
        what = "each doubling of seats"
        return (f"{what.capitalize()} multiplies the churn rate by {hr:.2f} ({pct} CI {lo:.2f}–{hi:.2f})")
    if ref in ("per unit",):
        return f"Each unit of {cov} multiplies the churn rate by {hr:.2f} ({pct} CI {lo:.2f}–{hi:.2f})"
    if ref == "per doubling":
        return f"Each doubling of {cov} multiplies the churn rate by {hr:.2f} ({pct} CI {lo:.2f}–{hi:.2f})"
    label = cov.replace("_", " ")
    if hr >= 1:
        return (f"Customers with {label} {level} churn {hr:.2f}× as fast as {ref} ({pct} CI {lo:.2f}–{hi:.2f})")
    return (f"Customers with {label} {level} churn {1 / hr:.1f}× more slowly than {ref} "
            f"(hazard ratio {hr:.2f}, {pct} CI {lo:.2f}–{hi:.2f})")


TV_LABELS = {"failed_payment": ("failed payment", "in the month", "no failed payment"),
             "nps_detractor": ("latest NPS", "detractor", "promoter"), "nps_passive": ("latest NPS", "passive", "promoter"),
             "nps_none": ("latest NPS", "no response yet", "promoter"),
             "falling_usage": ("usage", "falling", "steady or rising")}


def _estimable_hr(hr, lo, hi, max_log: float = 10.0) -> bool:
    """A hazard ratio worth a sentence: finite, with a finite interval, and |log HR| ≤ ``max_log`` (a fit that
    separates a level from the rest drifts towards 0 or infinity: "36199616.5× more slowly, CI 0.00–inf")."""
    vals = [float(v) for v in (hr, lo, hi)]
    return all(np.isfinite(v) and v > 0 for v in vals) and abs(np.log(vals[0])) <= max_log


def _term_words(r, translate) -> tuple[str, str, str]:
    """A hazard-ratio row's covariate, level and reference in the report's words: ``survival.tv.<term>.*`` for a
    time-varying term, ``attr.<covariate>`` for a canonical attribute, else the export's own name (underscores as
    spaces, as attr_label); levels and references are the data's own values."""
    if r.term in TV_LABELS:
        return tuple(translate(f"survival.tv.{r.term}.{k}") for k in ("covariate", "level", "reference"))
    try:
        cov = translate(f"attr.{r.covariate}")
    except KeyError:  # an attribute of the user's own data
        cov = str(r.covariate).replace("_", " ")
    return cov, r.level, r.reference


def hr_labels(hazard_ratios: pd.DataFrame, translate) -> list[str]:
    """One short label per hazard ratio (the forest plot's rows) in the report's language: ``survival.term_label``
    ("plan: Pro (reference Basic)"), ``survival.term_per_doubling`` or ``survival.term_per_unit``."""
    out = []
    for r in hazard_ratios.itertuples(index=False):
        cov, level, ref = _term_words(r, translate)
        if r.reference in ("per doubling of seats", "per doubling"):
            out.append(translate("survival.term_per_doubling", covariate=cov))
        elif r.reference == "per unit":
            out.append(translate("survival.term_per_unit", covariate=cov))
        else:
            out.append(translate("survival.term_label", covariate=cov, level=level, reference=ref))
    return out


def hr_sentences(hazard_ratios: pd.DataFrame, translate=None, *, alpha: float = 0.05) -> list[str]:
    """The hazard-ratio sentences of a :class:`CoxResult` table in the report's language: ``translate(key,
    **values)`` with keys ``survival.hr.faster`` / ``slower`` / ``seats`` / ``per_unit`` / ``per_doubling`` and labels ``attr.<covariate>`` and
    ``survival.tv.<term>.{covariate,level,reference}`` (time-varying terms). Without ``translate``, the English
    ``sentence`` column."""
    if translate is None:
        return hazard_ratios["sentence"].tolist()
    pct = f"{100 * (1 - alpha):.0f}%"
    out = []
    for r in hazard_ratios.itertuples(index=False):
        hr, lo, hi = r.hr, r.lower, r.upper
        cov, level, ref = _term_words(r, translate)
        if r.covariate == "seats" and r.reference == "per doubling of seats":
            out.append(translate("survival.hr.seats", hr=f"{hr:.2f}", pct=pct, lo=f"{lo:.2f}", hi=f"{hi:.2f}"))
        elif r.reference in ("per unit", "per doubling"):
            key = "survival.hr.per_unit" if r.reference == "per unit" else "survival.hr.per_doubling"
            out.append(translate(key, covariate=cov, hr=f"{hr:.2f}", pct=pct, lo=f"{lo:.2f}", hi=f"{hi:.2f}"))
        elif not _estimable_hr(hr, lo, hi):  # a level with (almost) no churn: the fit runs off to 0 or infinity
            out.append(translate("survival.hr.not_estimable", covariate=cov, level=level, reference=ref))
        elif hr >= 1:
            out.append(translate("survival.hr.faster", covariate=cov, level=level, reference=ref, x=f"{hr:.2f}",
                                 pct=pct, lo=f"{lo:.2f}", hi=f"{hi:.2f}"))  # a hazard ratio: 2 decimals
        else:
            out.append(translate("survival.hr.slower", covariate=cov, level=level, reference=ref, x=f"{1 / hr:.1f}",
                                 hr=f"{hr:.2f}", pct=pct, lo=f"{lo:.2f}", hi=f"{hi:.2f}"))
    return out


def _ph_sizes(cph, df, test, meta, resid: pd.DataFrame, threshold: float = 0.1, early: float = 3, late: float = 24):
    """Proportional-hazards check: lifelines' test (rank transform of time) and the size of the violation.

    The scaled Schoenfeld residuals plus β̂ estimate β(t), the log hazard ratio at each churn time (Grambsch &
    Therneau 1994). A least-squares line of β(t) on log months gives the hazard ratio implied at ``early`` and at
    ``late`` months and their ratio: the size of the drift, in the units a reader can judge (at 100k customers
    every drift is "significant"). A term is a violation when p < 0.05 and the ratio differs from 1 by more
    than ``threshold`` (10%). ``resid``: the model's scaled Schoenfeld residuals on ``df`` (the ones the test used).
    Returns (table, residuals: T, rank and β(t) per term, one row per event)."""
    from scipy.stats import rankdata

    times = df.loc[resid.index, "T"].astype(float)
    on_log = times.to_numpy() > 0  # a snapshot's churns at 0 have no place on log months: the line leaves them out
    logt = np.log(times.to_numpy()[on_log])
    beta = cph.params_
    rows = []
    summary = test.summary
    for cov, level, ref, name in meta:
        y = resid[name].to_numpy()[on_log] + float(beta[name])
        ok = len(y) > 2 and np.ptp(logt) > 0
        slope, icpt = (float(v) for v in np.polyfit(logt, y, 1)) if ok else (np.nan, np.nan)
        stat = float(summary.loc[name, "test_statistic"]) if name in summary.index else np.nan
        p = float(summary.loc[name, "p"]) if name in summary.index else np.nan
        hr_early = float(np.exp(icpt + slope * np.log(early))) if ok else np.nan
        hr_late = float(np.exp(icpt + slope * np.log(late))) if ok else np.nan
        drift = hr_late / hr_early if ok else np.nan
        rows.append({"term": name, "covariate": cov, "level": level, "reference": ref, "hr": float(np.exp(beta[name])),
                     "statistic": stat, "p": p, "log_hr_slope_per_log_month": slope,
                     f"hr_at_{early:g}_months": hr_early, f"hr_at_{late:g}_months": hr_late,
                     f"hr_ratio_{late:g}_vs_{early:g}_months": drift,
                     "violation": bool(p < 0.05 and np.isfinite(drift) and abs(np.log(drift)) > np.log(1 + threshold))})
    out = pd.DataFrame(rows)
    res = pd.DataFrame({"T": times.to_numpy(), "rank": rankdata(times.to_numpy())}, index=resid.index)
    for cov, level, ref, name in meta:
        res[name] = resid[name].to_numpy() + float(beta[name])
    return out, res.reset_index(drop=True)


def schoenfeld_curves(cox: CoxResult, terms: list[str] | None = None, *, n_top: int = 3, frac: float = 0.3,
                      max_points: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What the scaled Schoenfeld plot draws, computed here: ``points`` (term, T, rank, beta_t; a random sample of
    at most ``max_points`` per term) and ``smooth`` (term, rank, T, beta_t, beta: the lowess of β(t) on the rank
    of time over every event, and the constant β̂ that proportional hazards assume).

    ``terms`` default: the violating terms, or else the ``n_top`` with the largest drift.

    Parameters
    ----------
    cox : CoxResult
        :func:`cox_drivers` with its proportional-hazards check.
    terms : list of str or None
        The terms to draw (None: as above).
    n_top : int
        Terms drawn when none violates.
    frac : float
        The lowess span (share of the events).
    max_points : int
        Residuals kept per term for the scatter.
    seed : int
        Seed of that sample.

    Returns
    -------
    tuple of pandas.DataFrame
        ``(points, smooth)`` as above.
    """
    from statsmodels.nonparametric.smoothers_lowess import lowess

    if cox.ph_residuals is None or cox.ph_test is None:
        raise ValueError(f"no proportional-hazards check to plot: {cox.ph_reason or 'ph_check was off'}")
    ph = cox.ph_test.set_index("term")
    if terms is None:
        terms = list(cox.ph_violations["term"])
        if not terms:
            size = np.log(ph.filter(like="hr_ratio_").iloc[:, 0]).abs().fillna(-1)
            terms = list(size.sort_values(ascending=False, kind="stable").index[:n_top])
    r = cox.ph_residuals
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(r), size=min(max_points, len(r)), replace=False))
    points, smooth = [], []
    x = r["rank"].to_numpy(float)
    for term in terms:
        y = r[term].to_numpy(float)
        # it=0: no robustness iterations, which would pull the line towards the larger cluster of residuals
        fit = lowess(y, x, frac=frac, it=0, delta=0.01 * np.ptp(x), return_sorted=True)
        sm = pd.DataFrame({"rank": fit[:, 0], "beta_t": fit[:, 1]}).drop_duplicates("rank")
        smooth.append(sm.assign(term=term, beta=float(np.log(ph.loc[term, "hr"]))))
        points.append(pd.DataFrame({"term": term, "T": r["T"].to_numpy()[pick], "rank": x[pick], "beta_t": y[pick]}))
    return pd.concat(points, ignore_index=True), pd.concat(smooth, ignore_index=True)


# ------------------------------------------------------------------------ things that happen during life


def person_months(ds: Dataset, *, spells: str = "all") -> pd.DataFrame:
    """One row per spell and month at risk of churning: customer_id, spell, month (calendar month index
    year·12 + month − 1), tenure (months since the spell's start), churn (1 in the churn month). A spell is at
    risk in months start+1 … start+T (T as in :func:`survival_data`), from its entry on."""
    s = ds.spells if spells == "all" else ds.spells[ds.spells["spell"] == 1]
    T = (s["duration"] - (1 - s["event"])).to_numpy()
    first = s["entry"].to_numpy() + 1
    n = np.maximum(T - first + 1, 0)
    idx = np.repeat(np.arange(len(s)), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    tenure = first[idx] + k
    start_m = month_index(s["start"])
    return pd.DataFrame({
        "customer_id": s["customer_id"].to_numpy()[idx],
        "spell": s["spell"].to_numpy()[idx],
        "month": start_m[idx] + tenure,
        "tenure": tenure,
        "churn": ((tenure == T[idx]) & (s["event"].to_numpy()[idx] == 1)).astype(np.int8),
    })


def person_month_counts(ds: Dataset, *, spells: str = "all") -> pd.DataFrame:
    """Per calendar month with customer-months at risk: ``month`` (month index), ``at_risk`` and ``churned``, the
    counts of :func:`person_months`' rows and churns in the month (its ``groupby("month")`` size and sum), counted
    from the spells without building the rows (13M customer-months at a million customers)."""
    s = ds.spells if spells == "all" else ds.spells[ds.spells["spell"] == 1]
    T = (s["duration"] - (1 - s["event"])).to_numpy()
    first = s["entry"].to_numpy() + 1
    at = np.maximum(T - first + 1, 0) > 0  # spells with a month at risk: months start + first … start + T
    start_m = np.asarray(month_index(s["start"]))[at]
    lo, hi = start_m + first[at], start_m + T[at]
    if not len(lo):
        return pd.DataFrame({"month": np.array([], dtype=np.int64), "at_risk": np.array([], dtype=np.int64),
                             "churned": np.array([], dtype=np.int64)})
    m0, width = int(lo.min()), int(hi.max() - lo.min()) + 2
    at_risk = np.cumsum(np.bincount(lo - m0, minlength=width) - np.bincount(hi + 1 - m0, minlength=width))[:-1]
    churned = np.bincount(hi[s["event"].to_numpy()[at] == 1] - m0, minlength=width)[:-1]
    keep = at_risk > 0
    return pd.DataFrame({"month": np.arange(m0, m0 + width - 1, dtype=np.int64)[keep],
                         "at_risk": at_risk[keep].astype(np.int64), "churned": churned[keep].astype(np.int64)})


TIME_VARYING = ("failed_payment", "nps_detractor", "nps_passive", "nps_none", "falling_usage")


def time_varying_drivers(ds: Dataset, fixed: list[str] | None = None, *, references: dict | list | None = None,
                         max_rows: int = 1_500_000, seed: int = 0, alpha: float = 0.05) -> CoxResult:
    """Cox model with start–stop time-varying covariates (lifelines ``CoxTimeVaryingFitter``), first spells.

    Things that happen during a customer's life — a failed payment in the month, the account's latest NPS
    category (detractor / passive / no response yet, against promoter), falling usage — enter month by month
    from when they are known, never as fixed covariates (a customer must survive to be surveyed: treating the
    category as known from the start gives the detractors' and promoters' survival to the survey for free).
    Attributes fixed at signup may be added (``fixed``), coded against the same reference levels as
    :func:`cox_drivers` (:func:`reference_levels`: given, or the most common level among customers).

    Sampling rule at large N: when the customer-month rows exceed ``max_rows``, a random share of whole customers
    (max_rows ÷ rows, drawn independently of churn) is fitted, unweighted; the result's ``design`` says so.
    (Keeping every churner with inverse-probability weights would need a robust variance, which lifelines'
    CoxTimeVaryingFitter does not have: ``robust=True`` raises NotImplementedError.)

    Parameters
    ----------
    ds : Dataset
        The loaded data (:func:`csanalysis.load_dataset`).
    fixed : list of str or None
        Attributes fixed at signup to add (None: none).
    references : dict, list or None
        Reference levels of categorical attributes (as in :func:`cox_drivers`).
    max_rows : int
        Customer-month rows beyond which a share of whole customers is fitted.
    seed : int
        Seed of that share.
    alpha : float
        1 − the intervals' confidence level.

    Returns
    -------
    CoxResult
        Hazard ratios with intervals and sentences (no proportional-hazards check).
    """
    from lifelines import CoxTimeVaryingFitter

    pm = person_months(ds, spells="first")
    design = "start–stop time-varying covariates (CoxTimeVaryingFitter), first spells"
    # lifelines' CoxTimeVaryingFitter has no robust (sandwich) variance, which inverse-probability weights (all
    # churners + a share of the others) would need; a random share of whole customers, drawn independently of
    # churn, keeps the partial likelihood and its model-based intervals valid unweighted. Drawn before the
    # signals, which look up each row on its own: at 1M customers they were computed for 13M customer-months of
    # which about 1.5M were kept
    pm, sample = customer_sample(pm, max_rows, seed)
    if sample:
        design += (f"; sampling rule: a random {sample['share']:.1%} of customers (whole histories, drawn independently "
                   f"of churn, so unweighted), {sample['drawn']:,} of {sample['customers']:,}")
        sample = (sample["share"], sample["drawn"], sample["customers"])  # the report's sampling note
    X, meta, refs, skipped = person_month_design(ds, pm, fixed or [], references=references)
    df = pd.DataFrame({"id": pm["customer_id"].to_numpy(), "start": pm["tenure"].to_numpy() - 1,
                       "stop": pm["tenure"].to_numpy(), "event": pm["churn"].to_numpy()})
    X.index = df.index  # (set_index copied all 1.3M rows at 100k customers)
    df = pd.concat([df, X], axis=1)
    fitter = CoxTimeVaryingFitter(alpha=alpha)
    fitter.fit(_merge_constant_runs(df), id_col="id", event_col="event", start_col="start", stop_col="stop")
    s = fitter.summary
    rows = []
    lo_c, hi_c = "exp(coef) lower %g%%" % (100 * (1 - alpha)), "exp(coef) upper %g%%" % (100 * (1 - alpha))
    for cov, level, ref, term in meta:
        if term not in s.index:
            continue
        hr, lo, hi, p = (float(s.loc[term, c]) for c in ("exp(coef)", lo_c, hi_c, "p"))
        rows.append({"covariate": cov, "level": level, "reference": ref, "term": term, "hr": hr, "lower": lo,
                     "upper": hi, "p": p, "sentence": _hr_sentence(cov, level, ref, hr, lo, hi, alpha)})
    events = int(df["event"].sum())
    return CoxResult(model=fitter, hazard_ratios=pd.DataFrame(rows), c_index=float("nan"), n=int(df["id"].nunique()),
                     events=events, ph_test=None, design=design, references=refs, skipped=skipped,
                     design_key="survival.tv_design", design_sample=sample)


def customer_sample(pm: pd.DataFrame, max_rows: int | None, seed: int = 0) -> tuple[pd.DataFrame, dict | None]:
    """Customer-months of a seeded random share (max_rows ÷ rows) of whole customers, drawn independently of
    churn, when ``pm`` has more than ``max_rows`` rows; else ``pm`` itself. Returns the rows and the sample's
    description (``share``, ``drawn``, ``customers``; None when every customer is kept)."""
    if max_rows is None or len(pm) <= max_rows:
        return pm, None
    codes, ids = pd.factorize(pm["customer_id"])  # ids in order of appearance, as unique() gives them
    share = max_rows / len(pm)
    drawn = np.random.default_rng(seed).random(len(ids)) < share
    return pm[drawn[codes]], {"share": share, "drawn": int(drawn.sum()), "customers": len(ids)}


def person_month_design(ds: Dataset, pm: pd.DataFrame, fixed: list[str], *, signals: bool = True,
                        references: dict | list | None = None) -> tuple[pd.DataFrame, list, dict, dict]:
    """The covariates of customer-months (``pm``: :func:`person_months` rows, in their order): with ``signals``
    the time-varying signals of :data:`TIME_VARYING` as data/signals.py reads them for each month (a failed
    payment in the month, the latest NPS category before it against promoter, falling usage), a signal the data
    never vary left out (no payments or usage table: all 0; every account answered); then the attributes fixed at
    signup (``fixed``, after :func:`fitted_covariates`) coded by :func:`covariate_design` against
    :func:`reference_levels`. One design for the time-varying Cox model and the program's effect
    (csanalysis/impact.py).

    Parameters
    ----------
    ds : Dataset
        The loaded data (signals, customers and their attributes).
    pm : DataFrame
        Customer-months (:func:`person_months`): ``customer_id``, ``month`` …
    fixed : list of str
        Attributes at signup to adjust for (``name:log2`` per doubling).
    signals : bool
        Also the time-varying signals of :data:`TIME_VARYING`.
    references : dict, list or None
        Reference levels of categorical attributes (as in :func:`cox_drivers`).

    Returns
    -------
    X : DataFrame
        The columns, on the index of ``pm``.
    meta : list of tuple
        Per column: ``(covariate, level, reference, term)``.
    references : dict
        The reference level of each categorical attribute.
    skipped : dict
        The attributes left out, each with the reason.
    """
    from .data.signals import monthly_signals

    X = pd.DataFrame(index=pm.index)
    meta = []
    if signals:
        sig = monthly_signals(ds, pm[["customer_id", "month"]])
        tv = {"failed_payment": sig["failed_payment"].to_numpy()}
        for cat in ("detractor", "passive", "none"):
            tv[f"nps_{cat}"] = (sig["nps_category"].to_numpy() == cat).astype(np.int8)
        tv["falling_usage"] = sig["falling_usage"].to_numpy()
        for term in TIME_VARYING:
            if len(np.unique(tv[term])) > 1:
                X[term] = tv[term]
                meta.append((*TV_LABELS[term], term))
    fixed, skipped = fitted_covariates(ds, fixed)
    refs = reference_levels(ds, fixed, references)
    F, fmeta = covariate_design(pm, fixed, ds.customers, refs, attrs_.kinds(ds))
    return pd.concat([X, F], axis=1), meta + fmeta, refs, skipped


def _merge_constant_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Start–stop rows with consecutive months of the same customer and the same covariates merged into one
    interval (start of the first, stop and event of the last). The partial likelihood is unchanged: at every
    event time the customer is in the risk set with the same covariates either way, so the coefficients and their
    variance are the same, with several times fewer rows (most months repeat the previous month). (lifelines
    reports its baseline hazard at the rows' mean covariates, which move with the rows; nothing here reads it.)"""
    if len(df) < 2:
        return df
    code = pd.factorize(df["id"])[0]
    start = df["start"].to_numpy()
    # the rows usually arrive sorted by customer and month (person_months): the sort, of 1.3M string ids at 100k
    # customers, then changes nothing and took about a second
    if not (df["id"].is_monotonic_increasing and np.all((code[1:] != code[:-1]) | (start[1:] >= start[:-1]))):
        df = df.sort_values(["id", "start"], kind="stable")
        code = pd.factorize(df["id"])[0]
        start = df["start"].to_numpy()
    stop, event = (df[c].to_numpy() for c in ("stop", "event"))
    same = (code[1:] == code[:-1]) & (start[1:] == stop[:-1]) & (event[:-1] == 0)
    # covariates compared column by column: the frame as one array would be copied every block
    for c in df.columns.drop(["id", "start", "stop", "event"]):
        v = df[c].to_numpy()
        same &= v[1:] == v[:-1]
    cont = np.r_[False, same]
    head = np.flatnonzero(~cont)
    tail = np.r_[head[1:], len(df)] - 1  # last row of each run
    out = df.iloc[head].copy()
    out["stop"], out["event"] = stop[tail], event[tail]
    return out.reset_index(drop=True)


def naive_nps_cox(ds: Dataset, *, alpha: float = 0.05) -> CoxResult:
    """The biased design, for comparison only: each customer's FIRST NPS category used as if known at signup
    (customers never surveyed form their own group). Customers had to survive to be surveyed (immortal time)."""
    from lifelines import CoxPHFitter

    d = survival_data(ds)
    waves = ds.nps.assign(m=month_index(ds.nps["date"])).groupby(["customer_id", "m"])["score"].mean()
    # each customer's first survey month: the first row of each customer, the grouped index being sorted (cheaper
    # than a groupby head)
    first_wave = waves[~waves.index.get_level_values(0).duplicated()].droplevel(1)
    ms = np.round(first_wave)
    cat = pd.Series(np.select([ms <= 6, ms <= 8], ["detractor", "passive"], "promoter"), index=first_wave.index)
    c = d["customer_id"].map(cat).fillna("none")
    df = pd.DataFrame({"T": d["T"], "E": d["E"], "entry": d["entry"]})
    for level in ("detractor", "passive", "none"):
        df[f"nps_{level}"] = (c == level).astype(float).to_numpy()
    df = df[df["T"] > 0]
    entry = "entry" if (df["entry"] > 0).any() else None
    if entry is None:
        df = df.drop(columns="entry")
    cph = CoxPHFitter(alpha=alpha).fit(df, "T", "E", entry_col=entry, batch_mode=True)
    s = cph.summary
    lo_c, hi_c = "exp(coef) lower %g%%" % (100 * (1 - alpha)), "exp(coef) upper %g%%" % (100 * (1 - alpha))
    rows = [{"covariate": "first NPS (as if known at signup)", "level": lvl, "reference": "promoter", "term": f"nps_{lvl}",
             "hr": float(s.loc[f"nps_{lvl}", "exp(coef)"]), "lower": float(s.loc[f"nps_{lvl}", lo_c]),
             "upper": float(s.loc[f"nps_{lvl}", hi_c]), "p": float(s.loc[f"nps_{lvl}", "p"]), "sentence": ""}
            for lvl in ("detractor", "passive", "none")]
    return CoxResult(model=cph, hazard_ratios=pd.DataFrame(rows), c_index=None, n=int(len(df)),
                     events=int(df["E"].sum()), ph_test=None,
                     design="fixed covariate at signup (biased: immortal time)")


# ------------------------------------------------------------------------------------ lifetime value


def _km_discrete(T: np.ndarray, E: np.ndarray, entry: np.ndarray, horizon: int, W: np.ndarray) -> np.ndarray:
    """Kaplan–Meier S(0..horizon−1) on whole months for each row of weights ``W`` (replicates × spells).

    The weighted sums are those of the cluster bootstrap (:func:`_weighted_km`, one sparse product for a whole
    block of replicates instead of a loop of bincounts per replicate). The weights are whole counts, so the sums,
    and the curves, are exactly those of the loop."""
    from scipy import sparse

    n, n_t = len(T), horizon + 1
    rows = np.arange(n)
    ev = (E == 1) & (T <= horizon)
    Ev = sparse.csr_matrix((np.ones(ev.sum()), (rows[ev], T[ev])), shape=(n, n_t))
    # at risk at month j: entry < j <= T (entry 0 from month 0)  →  +1 at the first month, −1 at T+1 (cumulative sum)
    starts = np.minimum(_first_at_risk(entry), n_t)
    ends = np.minimum(np.minimum(T, n_t) + 1, n_t)
    R = sparse.csr_matrix((np.r_[np.ones(n), -np.ones(n)], (np.r_[rows, rows], np.r_[starts, ends])), shape=(n, n_t + 1))
    s = _weighted_km(W.T.astype(float, order="C"), Ev, R, n_t)[0]  # S(0..horizon)
    # S(0) is 1 unless some churn at 0 (a snapshot's tenure-0 rows); row-major like the loop's result: BLAS sums
    # S @ disc in another order otherwise
    return np.ascontiguousarray(s[:, :horizon])


def lifetime_value(ds: Dataset, *, horizon: int = 36, gross_margin: float | None = None, discount_rate: float = 0.0,
                   window: int = 12, n_boot: int = 200, alpha: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """LTV from survival beside the naive formula, each with a bootstrap interval over customers.

    * survival: ARPA × gross margin × RMST(horizon), where RMST = Σ S(t) discounted at ``discount_rate`` a month
      (expected paid months within the horizon, from every customer, censored ones included);
    * naive: ARPA × gross margin ÷ monthly churn rate (churned ÷ customer-months at risk over the last
      ``window`` months), which assumes a constant churn rate and an unlimited horizon.
    ARPA is the average MRR per paying account in the ``as_of`` month.

    Parameters
    ----------
    ds : Dataset
        The loaded data (:func:`csanalysis.load_dataset`).
    horizon : int
        Months of the survival LTV's RMST.
    gross_margin : float or None
        Share of revenue kept (None: the Dataset's).
    discount_rate : float
        Monthly discount rate of the survival LTV (0: none).
    window : int
        Months of the naive LTV's churn rate.
    n_boot : int
        Bootstrap replicates over customers (0: no interval).
    alpha : float
        1 − the intervals' confidence level.
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    pandas.DataFrame
        One row per method (survival, naive) with the estimate, its interval and the inputs (arpa,
        gross_margin, monthly_churn, note).
    """
    gm = ds.settings.gross_margin if gross_margin is None else gross_margin
    d = survival_data(ds)
    T, E, entry = d["T"].to_numpy(), d["E"].to_numpy(), d["entry"].to_numpy()
    rng = np.random.default_rng(seed)  # the customers' draws, then the paying accounts', then the churn rate's
    n = len(d)
    # the estimate, then the replicates a block at a time (all the weight rows at once do not fit at 1M customers)
    S = np.vstack([_km_discrete(T, E, entry, horizon, np.ones((1, n)))] +
                  [_km_discrete(T, E, entry, horizon, W) for W in (count_weights(rng, n, n_boot) if n else [])])
    disc = (1 + discount_rate) ** -np.arange(horizon)
    rmst = S @ disc
    last = ds.panel[ds.panel["month"] == ds.as_of_month]["mrr"].to_numpy()
    k = len(last)
    arpa = (np.concatenate([[last.mean()], replicate_sums(count_weights(rng, k, n_boot), last)[0] / k]) if k
            else np.full(n_boot + 1, np.nan))
    # naive churn over the window: churn events in the window ÷ paid customer-months at risk in the window (a
    # layout without calendar history, a snapshot, has no window: the naive line is left out)
    m_as = ds.as_of_month
    lo_m = month_start(ds.as_of_m - (window - 1))
    spells = ds.spells
    churned = ((spells["event"] == 1) & (spells["end"] >= lo_m) & (spells["end"] <= m_as)).sum()
    at_risk = ((ds.panel["month"] >= month_start(ds.as_of_m - window)) & (ds.panel["month"] < m_as)).sum()
    rate = churned / at_risk if at_risk and ds.left_out("history") is None else np.nan
    rate_boot = rng.binomial(at_risk, rate, size=n_boot) / at_risk if at_risk and rate > 0 else np.full(n_boot, rate)
    rates = np.concatenate([[rate], rate_boot])
    with np.errstate(divide="ignore", invalid="ignore"):
        naive = np.where(rates > 0, arpa * gm / rates, np.nan)
    surv = arpa * gm * rmst
    s_lo, s_hi = percentile_interval(surv[1:], alpha)
    m_lo, m_hi = percentile_interval(rmst[1:], alpha)
    n_lo, n_hi = percentile_interval(naive[1:], alpha) if rate > 0 else (np.nan, np.nan)
    rows = [
        {"method": "survival", "formula": f"ARPA × gross margin × RMST({horizon} months)",
         "estimate": surv[0], "lower": s_lo, "upper": s_hi,
         "expected_months": rmst[0], "months_lower": m_lo, "months_upper": m_hi},
        {"method": "naive", "formula": "ARPA × gross margin ÷ monthly churn",
         "estimate": naive[0] if rate > 0 else np.nan, "lower": n_lo, "upper": n_hi,
         "expected_months": 1 / rate if rate > 0 else np.nan, "months_lower": np.nan, "months_upper": np.nan},
    ]
    out = pd.DataFrame(rows)
    out["arpa"] = arpa[0]
    out["gross_margin"] = gm
    out["monthly_churn"] = rate
    out["note"] = ("" if rate > 0 else "naive LTV is undefined: no churn was observed in the window")
    return out


# ------------------------------------------------------------------------------- reactivated customers


def ltv_metrics(ltv: pd.DataFrame, *, history_left_out: bool = False) -> dict:
    """:func:`lifetime_value`'s part of ``metrics.json`` (``ltv``): each method's estimate with its formula and
    reason always written; ``history_left_out``: the layout has no calendar history (the naive method's reason)."""
    ltv = ltv.set_index("method") if "method" in ltv.columns else ltv
    out = {}
    for m, r in ltv.iterrows():
        why = ("left out: the layout has no calendar history" if history_left_out and m == "naive"
               else "not estimable from these data (no revenue, or no churn observed)")
        e = Estimate.of(m, r["estimate"], r["lower"], r["upper"], formula=r["formula"], reason=why)
        out[m] = e.to_dict(details=("formula",), always_reason=True)
    return out


def cluster_bootstrap_km(T, E, entry, cluster, group, horizon: int, *, n_boot: int = 200, alpha: float = 0.05,
                         seed: int = 0) -> pd.DataFrame:
    """Kaplan–Meier S(1..horizon) per group on whole months with a percentile band from a cluster bootstrap:
    customers (``cluster``) are drawn with replacement and bring every one of their spells, in every group, so
    the band allows for spells of the same customer being alike (Greenwood's formula treats them as
    independent).

    Vectorized: each replicate is a vector of customer weights; events and risk-set changes are summed per
    customer and month once (sparse), so a replicate costs a sparse matrix product.

    Parameters
    ----------
    T : array-like of int
        Each spell's time in whole months, to its churn or to censoring (:func:`survival_data`).
    E : array-like of int
        1 when the spell ended in a churn at ``T``, 0 when censored.
    entry : array-like of int
        Months of the spell before it entered the data (late entry: at risk when entry < t ≤ T).
    cluster : array-like
        Each spell's customer: the unit the bootstrap draws.
    group : array-like
        Each spell's group (a curve per group).
    horizon : int
        The last month of the curves.
    n_boot : int
        Bootstrap replicates.
    alpha : float
        1 − the band's confidence level.
    seed : int
        Seed of the bootstrap's random generator.

    Returns
    -------
    DataFrame
        group, t, survival, lower, upper, at_risk, churned (the point estimate is the unweighted KM; at-risk
        counts: entry < t ≤ T).
    """
    from scipy import sparse

    T, E, entry = (np.asarray(a, dtype=np.int64) for a in (T, E, entry))
    codes, customers = pd.factorize(pd.Series(cluster), sort=True)
    group = np.asarray(group).astype(str)
    n_c, n_t = len(customers), horizon + 1
    rng = np.random.default_rng(seed)
    out = []
    for g in sorted(set(group)):
        m = group == g
        c, t, e, en = codes[m], T[m], E[m], entry[m]
        ev = (e == 1) & (t <= horizon)
        Ev = sparse.csr_matrix((np.ones(ev.sum()), (c[ev], t[ev])), shape=(n_c, n_t))
        starts, ends = np.minimum(_first_at_risk(en), n_t), np.minimum(np.maximum(t, en) + 1, n_t)
        R = sparse.csr_matrix((np.r_[np.ones(m.sum()), -np.ones(m.sum())], (np.r_[c, c], np.r_[starts, ends])),
                              shape=(n_c, n_t + 1))
        out.append((g, Ev, R))
    # the same customer draws for every group
    results = {g: [] for g, _, _ in out}
    point = {}
    for g, Ev, R in out:
        point[g] = [a[:, 1:] for a in _weighted_km(np.ones((n_c, 1)), Ev, R, n_t)]  # t = 1 … horizon
    for W in count_weights(rng, n_c, n_boot):  # a block of replicates at a time
        Wt = W.T.astype(float, order="C")  # customers × replicates, laid out once for every group
        for g, Ev, R in out:
            results[g].append(_weighted_km(Wt, Ev, R, n_t)[0][:, 1:])
    frames = []
    for g, Ev, R in out:
        s, at_risk, churned = point[g]
        boot = np.vstack(results[g]) if results[g] else np.empty((0, horizon))
        # with very few spells every replicate can sit on one side of the estimate: the band then includes it
        lo, hi = percentile_interval(boot, alpha, point=s[0])
        frames.append(pd.DataFrame({"group": g, "t": np.arange(1, n_t), "survival": s[0], "lower": lo, "upper": hi,
                                    "at_risk": at_risk[0], "churned": churned[0]}))
    return pd.concat(frames, ignore_index=True)


def km_from_counts(at_risk, churned, *, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kaplan–Meier S(t) and its band from the number at risk and the number of churns at each time t of a grid
    (the counts an engine query gives: :func:`csanalysis.grouped.survival_counts`), by lifelines'
    ``KaplanMeierFitter`` formulas, so the curve and band equal the fitted ones (:func:`km_fits`):

    * S(t) = exp Σ_{s ≤ t} [log(n_s − d_s) − log n_s] (the product of 1 − d_s ÷ n_s, summed as logs);
    * Greenwood's variance sum V(t) = Σ_{s ≤ t} d_s ÷ (n_s (n_s − d_s)) (a term with n_s = d_s counts 0);
    * the exponential Greenwood (log–log) band exp(−exp(log(−log S) ∓ z √V ÷ log S)), 1 where S is 1.

    Times with no churn add nothing (a time where nobody is at risk keeps the curve where it was). ``n`` is the
    Kaplan–Meier risk set: spells at risk of a churn at t (entry < t ≤ T, from t = 0 for a spell observed from
    its start; see :func:`_first_at_risk`).

    Parameters
    ----------
    at_risk, churned : array-like of int
        n_t and d_t at consecutive times t (the same length, in time order).
    alpha : float
        1 − the band's confidence level.

    Returns
    -------
    tuple of ndarray
        S(t), the lower and the upper bound, at each time of the grid.
    """
    from scipy.stats import norm

    n = np.asarray(at_risk, dtype=np.float64)
    d = np.asarray(churned, dtype=np.float64)
    if n.shape != d.shape:
        raise ValueError(f"at_risk and churned differ in shape: {n.shape} and {d.shape}")
    if (d > n).any() or (d < 0).any():
        raise ValueError("churned must be between 0 and the number at risk at every time")
    hit = d > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(hit, np.log(np.where(hit, n - d, 1.0)) - np.log(np.where(hit, n, 1.0)), 0.0)
        var = np.where(hit & (n > d), d / np.where(hit & (n > d), n * (n - d), 1.0), 0.0)
        s = np.exp(np.cumsum(step))
        v = np.log(s)
        z = norm.ppf(1 - alpha / 2)
        half = z * np.sqrt(np.cumsum(var)) / v
        lower = np.exp(-np.exp(np.log(-v) - half))
        upper = np.exp(-np.exp(np.log(-v) + half))
    lower, upper = np.where(np.isnan(lower), 1.0, lower), np.where(np.isnan(upper), 1.0, upper)
    return s, lower, upper


def _first_at_risk(entry: np.ndarray) -> np.ndarray:
    """The first month each spell is at risk: entry + 1 (entry < t ≤ T), and month 0 for spells observed from
    their start, as in lifelines' and R's Kaplan–Meier (everyone enters before the first time's churns)."""
    entry = np.asarray(entry)
    return np.where(entry == 0, 0, entry + 1)


def _weighted_km(Wt: np.ndarray, Ev, R, n_t: int):
    """S(0..n_t−1), at-risk and event totals for each column of customer weights ``Wt`` (customers × replicates).

    ``Wt`` should be C-contiguous: scipy copies a transposed view into that layout for every product (copies
    that can cost more than the products themselves)."""
    d = np.asarray(Ev.T @ Wt).T  # (replicates, months)
    at_risk = np.cumsum(np.asarray(R.T @ Wt).T, axis=1)[:, :n_t]
    with np.errstate(invalid="ignore", divide="ignore"):
        hazard = np.where(at_risk > 0, d / np.where(at_risk > 0, at_risk, 1), 0.0)
    return np.cumprod(1 - hazard, axis=1), at_risk, d


@dataclass
class SpellSurvival(TableSummary):
    """Every spell of every customer, each timed from its own start, by spell number (1, 2, 3+), with cluster
    bootstrap bands by customer. ``enough`` marks the groups with at least ``min_spells`` spells."""

    curves: pd.DataFrame  # group, t, survival, lower, upper, at_risk, churned (bootstrap band)
    table: pd.DataFrame  # group, spells, customers, churned, S(t), S(t) lower, S(t) upper …, greenwood S(t) lower/upper
    fits: dict  # group → lifelines KaplanMeierFitter (point estimate and Greenwood band)
    reactivated_customers: int
    n_boot: int
    min_spells: int
    method: str = "every spell timed from its own start, stratified by spell number; 95% bands from a cluster bootstrap by customer"

    @property
    def enough(self) -> list[str]:
        return list(self.table.loc[self.table["spells"] >= self.min_spells, "group"])

    @property
    def summary(self) -> pd.DataFrame:
        """One row per spell number: spells, customers, churned and S(t) with its bands."""
        return self.table

    def reason(self, group: str) -> str | None:
        """Why a group is not reported, or None."""
        row = self.table.set_index("group").loc[group]
        if row["spells"] < self.min_spells:
            return f"only {int(row['spells'])} spell(s) numbered {group}; at least {self.min_spells} are needed"
        return None

    def metrics(self, t: int = 12) -> dict:
        """The part of ``metrics.json`` (``spells``): the method and S(``t``) by spell number; a group with too
        few spells has no number, with the reason."""
        shown = self.enough
        s_t = {}
        for r in self.table.to_dict(orient="records"):
            g = r["group"]
            e = _s_at(r, t, self.reason(g) or not_followed(t)) if g in shown else Estimate.missing(self.reason(g), g)
            s_t[g] = e.brief()
        return {"method": self.method, "reactivated_customers": self.reactivated_customers, "n_boot": self.n_boot,
                "s12_by_spell": s_t}


def spell_survival(ds: Dataset, times=(3, 6, 12, 24), *, n_boot: int = 200, alpha: float = 0.05, seed: int = 0,
                   min_spells: int = 20) -> SpellSurvival:
    """Survival of every spell, reactivations included: each spell timed from its own start (a customer who
    comes back starts a new clock), stratified by spell number (1, 2, 3+), point estimates from lifelines'
    Kaplan–Meier (left truncation honoured), 95% bands from a cluster bootstrap by customer
    (:func:`cluster_bootstrap_km`).

    Parameters
    ----------
    ds : Dataset
        The loaded data (:func:`csanalysis.load_dataset`).
    times : sequence of int
        Months at which S(t) is read in the table.
    n_boot : int
        Bootstrap replicates over customers (0: no interval).
    alpha : float
        1 − the intervals' confidence level.
    seed : int
        Seed of the bootstrap.
    min_spells : int
        Groups with fewer spells are not reported (``enough``, ``reason``).

    Returns
    -------
    SpellSurvival
        Curves with bootstrap bands, the table by spell number and the lifelines fits.
    """
    d = survival_data(ds, spells="all")
    horizon = int(max([*times, int(d["T"].max()) if len(d) else 1, 1]))
    curves = cluster_bootstrap_km(d["T"], d["E"], d["entry"], d["customer_id"], d["group"], horizon, n_boot=n_boot,
                                  alpha=alpha, seed=seed)
    fits = km_fits(ds, spells="all", alpha=alpha)
    cv = curves.set_index(["group", "t"])
    rows = []
    for g, kmf in fits.items():
        sub = d[d["group"] == g]
        row = {"group": g, "spells": int(len(sub)), "customers": int(sub["customer_id"].nunique()),
               "churned": int(sub["E"].sum())}
        followed = int(sub["T"].max()) if len(sub) else 0
        ci = kmf.confidence_interval_survival_function_
        for t in times:
            if t > followed:
                row[f"S({t})"] = row[f"S({t}) lower"] = row[f"S({t}) upper"] = np.nan
                row[f"S({t}) greenwood lower"] = row[f"S({t}) greenwood upper"] = np.nan
                continue
            row[f"S({t})"] = float(kmf.survival_function_at_times(t).iloc[0])
            row[f"S({t}) lower"], row[f"S({t}) upper"] = (float(v) for v in cv.loc[(g, t), ["lower", "upper"]])
            idx = ci.index[ci.index <= t].max()
            row[f"S({t}) greenwood lower"], row[f"S({t}) greenwood upper"] = (float(v) for v in ci.loc[idx].to_numpy())
        rows.append(row)
    table = pd.DataFrame(rows)
    reactivated = int(ds.spells.loc[ds.spells["spell"] >= 2, "customer_id"].nunique())
    return SpellSurvival(curves=curves, table=table, fits=fits, reactivated_customers=reactivated, n_boot=n_boot,
                         min_spells=min_spells)


__all__ = ["survival_data", "km_fits", "survival_table", "not_followed", "table_metrics", "LogrankResult",
           "logrank_metrics", "logrank", "rmst", "CoxResult", "cox_metrics", "reference_levels", "covariate_design",
           "cox_drivers", "fitted_covariates", "hr_labels", "hr_sentences", "schoenfeld_curves", "person_months", "person_month_counts",
           "time_varying_drivers", "customer_sample", "person_month_design", "naive_nps_cox", "lifetime_value",
           "ltv_metrics", "cluster_bootstrap_km", "km_from_counts", "SpellSurvival", "spell_survival", "PH_METHOD", "PH_MAX_SPELLS",
           "TV_LABELS", "TIME_VARYING"]
