"""Impact and ROI of customer-success work, estimated honestly.

Naive before/after comparisons mislead because churn falls anyway as the customer base ages. The estimator is a
customer-month churn model (a discrete-time hazard: statsmodels GLM, binomial with complementary log-log link,
so exp(coefficient) is a hazard ratio) with

* tenure as a B-spline (churn changes with customer age),
* a calendar-time trend (churn drifting for other reasons),
* a post-program level shift (and optionally a change of slope),

with errors clustered by customer. The program's effect is reported as a hazard ratio and in percentage points
of monthly churn (the average, over post-program at-risk customer-months, of the fitted churn probability with
the effect removed minus with it), with intervals. ROI turns the effect into retained gross profit against the
team's cost, with intervals by simulation from the estimate's sampling distribution.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf

from .data import Dataset
from .periods import month_index as _midx
from .survival import person_months

MIN_PRE_MONTHS = 6


def monthly_churn(ds: Dataset) -> pd.DataFrame:
    """Monthly churn rate: churned in the month ÷ at risk (from person_months), with Wilson intervals."""
    from statsmodels.stats.proportion import proportion_confint

    pm = person_months(ds)
    g = pm.groupby("month").agg(at_risk=("churn", "size"), churned=("churn", "sum")).reset_index()
    g["rate"] = g["churned"] / g["at_risk"]
    g["lower"], g["upper"] = proportion_confint(g["churned"], g["at_risk"], method="wilson")
    g.insert(0, "date", pd.to_datetime({"year": g["month"] // 12, "month": g["month"] % 12 + 1, "day": 1}))
    return g


@dataclass
class ProgramEffect:
    estimable: bool
    reason: str
    program_start: pd.Timestamp
    pre_months: int
    hr: float = np.nan
    hr_lower: float = np.nan
    hr_upper: float = np.nan
    pp: float = np.nan  # percentage points of monthly churn (counterfactual − actual; > 0 means churn prevented)
    pp_lower: float = np.nan
    pp_upper: float = np.nan
    p_value: float = np.nan
    slope_hr: float | None = None
    model: object | None = field(default=None, repr=False)
    data: pd.DataFrame | None = field(default=None, repr=False)
    draws: np.ndarray | None = field(default=None, repr=False)  # simulated post coefficients

    def to_dict(self) -> dict:
        keys = ("estimable", "reason", "pre_months", "hr", "hr_lower", "hr_upper", "pp", "pp_lower", "pp_upper", "p_value")
        d = {k: getattr(self, k) for k in keys}
        d["program_start"] = str(self.program_start.date())
        return d


def program_effect(ds: Dataset, program_start, *, slope_change: bool = False, tenure_df: int = 4,
                   min_pre_months: int = MIN_PRE_MONTHS, alpha: float = 0.05, n_draws: int = 1000,
                   seed: int = 0) -> ProgramEffect:
    """Discrete-time hazard estimate of the program's effect on monthly churn (see the module docstring)."""
    return effect_from_person_months(person_months(ds), program_start, slope_change=slope_change, tenure_df=tenure_df,
                                     min_pre_months=min_pre_months, alpha=alpha, n_draws=n_draws, seed=seed)


def effect_from_person_months(pm: pd.DataFrame, program_start, *, slope_change: bool = False, tenure_df: int = 4,
                              min_pre_months: int = MIN_PRE_MONTHS, alpha: float = 0.05, n_draws: int = 1000,
                              seed: int = 0) -> ProgramEffect:
    """:func:`program_effect` on customer-months already at hand (``customer_id``, ``month`` as a month index,
    ``tenure``, ``churn``: :func:`csanalysis.survival.person_months`)."""
    start = pd.Timestamp(program_start).to_period("M").to_timestamp()
    ps = start.year * 12 + start.month - 1
    pre_months = int(pm.loc[pm["month"] < ps, "month"].nunique())
    post_months = int(pm.loc[pm["month"] >= ps, "month"].nunique())
    if pre_months < min_pre_months:
        return ProgramEffect(False, f"only {pre_months} month(s) of churn data before the program started "
                             f"({start:%Y-%m}); at least {min_pre_months} are needed to separate the program from the "
                             "trend, so the effect cannot be estimated", start, pre_months)
    if post_months < 1:
        return ProgramEffect(False, f"no churn data after the program start ({start:%Y-%m})", start, pre_months)
    d = pm.assign(t=(pm["month"] - ps) / 12.0, post=(pm["month"] >= ps).astype(float))
    d["post_t"] = d["post"] * d["t"]
    formula = f"churn ~ bs(tenure, df={tenure_df}, degree=3) + t + post" + (" + post_t" if slope_change else "")
    fam = sm.families.Binomial(link=sm.families.links.CLogLog())
    groups = pd.factorize(d["customer_id"])[0]
    model = smf.glm(formula, data=d, family=fam).fit(cov_type="cluster", cov_kwds={"groups": groups})
    b, se = model.params["post"], model.bse["post"]
    z = _z(alpha)
    rng = np.random.default_rng(seed)
    draws = rng.multivariate_normal(model.params.to_numpy(), model.cov_params().to_numpy(), size=n_draws)
    names = list(model.params.index)
    post_rows = d[d["post"] == 1]
    # a customer-month's predicted hazard depends only on its tenure and calendar month: the average over the
    # post-period rows is a weighted average over those distinct (tenure, month) cells (≈ 1,000 instead of
    # millions of rows)
    _, first_row, counts = np.unique(post_rows[["tenure", "month"]].to_numpy(), axis=0, return_index=True,
                                     return_counts=True)
    X = np.asarray(model.model.exog[d.index.get_indexer(post_rows.index[first_row])])
    share = counts / counts.sum()
    effect_cols = [names.index("post")] + ([names.index("post_t")] if slope_change else [])

    def pp_for(params: np.ndarray) -> np.ndarray:
        eta = X @ params.T
        removed = eta - X[:, effect_cols] @ params[..., effect_cols].T
        p = 1 - np.exp(-np.exp(eta))
        p_cf = 1 - np.exp(-np.exp(removed))
        return share @ (p_cf - p)

    pp = float(pp_for(model.params.to_numpy()[None, :])[0]) * 100
    chunks = [pp_for(draws[i : i + 100]) for i in range(0, n_draws, 100)]
    pp_draws = np.concatenate(chunks) * 100
    eff = ProgramEffect(
        True, "estimated", start, pre_months,
        hr=float(np.exp(b)), hr_lower=float(np.exp(b - z * se)), hr_upper=float(np.exp(b + z * se)),
        pp=pp, pp_lower=float(np.quantile(pp_draws, alpha / 2)), pp_upper=float(np.quantile(pp_draws, 1 - alpha / 2)),
        p_value=float(model.pvalues["post"]),
        slope_hr=float(np.exp(model.params["post_t"])) if slope_change else None,
        model=model, data=d, draws=draws[:, names.index("post")],
    )
    return eff


def naive_before_after(ds: Dataset, program_start) -> dict:
    """The comparison that misleads: mean monthly churn after vs before (two-proportion z-test), ignoring tenure
    and trend. Shown beside the model to make the point."""
    return naive_from_person_months(person_months(ds), program_start)


def naive_from_person_months(pm: pd.DataFrame, program_start) -> dict:
    """:func:`naive_before_after` on customer-months already at hand."""
    from statsmodels.stats.proportion import proportions_ztest

    ps = _midx(pd.Timestamp(program_start))
    pre, post = pm[pm["month"] < ps], pm[pm["month"] >= ps]
    counts = np.array([post["churn"].sum(), pre["churn"].sum()])
    nobs = np.array([len(post), len(pre)])
    stat, p = proportions_ztest(counts, nobs)
    return {"pre_rate": counts[1] / nobs[1], "post_rate": counts[0] / nobs[0],
            "difference_pp": 100 * (counts[0] / nobs[0] - counts[1] / nobs[1]), "p_value": float(p)}


def its_series(ds: Dataset, program_start, *, maxlags: int = 3, alpha: float = 0.05) -> dict:
    """Segmented regression of the monthly churn rate (level and slope change at the start) with Newey–West
    errors (``maxlags`` stated, small-sample correction, t critical values), and the counterfactual line: the
    pre-program trend carried past the start."""
    mc = monthly_churn(ds)
    ps = _midx(pd.Timestamp(program_start))
    t = (mc["month"] - ps).to_numpy(float)
    post = (t >= 0).astype(float)
    X = sm.add_constant(np.column_stack([t, post, post * t]))
    if len(t) < 4 + maxlags + 2 or post.sum() < 2 or (1 - post).sum() < 2:
        raise ValueError(f"segmented regression needs at least two months on each side and more months ({len(t)}) "
                         f"than parameters plus lags ({4 + maxlags + 1})")
    fit = sm.OLS(mc["rate"].to_numpy(), X).fit(cov_type="HAC", cov_kwds={"maxlags": maxlags, "use_correction": True},
                                              use_t=True)
    cf = fit.params[0] + fit.params[1] * t
    ci = fit.conf_int(alpha)
    return {
        "series": mc.assign(fitted=fit.fittedvalues, counterfactual=np.where(post == 1, cf, np.nan), pre_trend=np.where(post == 0, cf, np.nan)),
        "level_change": float(fit.params[2]), "level_lower": float(ci[2, 0]), "level_upper": float(ci[2, 1]),
        "slope_change": float(fit.params[3]), "slope_lower": float(ci[3, 0]), "slope_upper": float(ci[3, 1]),
        "maxlags": maxlags, "method": f"OLS with Newey–West errors (maxlags={maxlags}, small-sample correction, t critical values)",
    }


def touched_association(ds: Dataset, *, window: int = 3, tenure_df: int = 4, alpha: float = 0.05) -> dict:
    """Churn of accounts contacted by CS in the previous ``window`` months against those not, as a time-varying
    exposure (a contact counts only from the month after it happens). This is an ASSOCIATION: teams contact risky
    accounts first, so touched accounts may churn more or less for reasons that have nothing to do with the contact."""
    if ds.cs_activities is None:
        return {"available": False, "reason": "no cs_activities table"}
    pm = person_months(ds)
    act = ds.cs_activities.assign(month=_midx(ds.cs_activities["month"]))
    act = act.groupby(["customer_id", "month"]).size().rename("n").reset_index()
    pm = pm.merge(act, on=["customer_id", "month"], how="left")
    pm["n"] = pm["n"].fillna(0)
    pm = pm.sort_values(["customer_id", "spell", "month"])
    # contacts in the previous `window` months (lagged: a contact cannot prevent a churn in its own month)
    keys = [pm["customer_id"], pm["spell"]]
    before = pm["n"].groupby(keys).shift(1).fillna(0)  # contacts up to the previous month, summed over `window`
    total = before.groupby(keys).cumsum()
    roll = total - total.groupby(keys).shift(window).fillna(0)
    pm["touched"] = (roll > 0).astype(float)
    fam = sm.families.Binomial(link=sm.families.links.CLogLog())
    fit = smf.glm(f"churn ~ bs(tenure, df={tenure_df}, degree=3) + touched", data=pm, family=fam).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(pm["customer_id"])[0]})
    b, se = fit.params["touched"], fit.bse["touched"]
    z = _z(alpha)
    rates = pm.groupby("touched")["churn"].mean()
    return {"available": True, "hr": float(np.exp(b)), "lower": float(np.exp(b - z * se)), "upper": float(np.exp(b + z * se)),
            "rate_touched": float(rates.get(1.0, np.nan)), "rate_untouched": float(rates.get(0.0, np.nan)),
            "window": window, "label": "association, not effect: CS teams contact risky accounts first (confounding by risk)"}


# ------------------------------------------------------------------------------------------------- ROI


def roi(ds: Dataset, effect: ProgramEffect, *, gross_margin: float | None = None, costs: pd.DataFrame | None = None,
        horizon: int | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """Monthly and cumulative ROI of the program with intervals from the effect's sampling distribution.

    Retained MRR in month t = Σ over customers at risk in t of MRR × (S_actual − S_counterfactual), where S is
    each customer's expected survival since the program start (or its own start, if later) under the fitted
    hazards with and without the program term. × gross margin = retained gross profit, against the CS cost.
    """
    if not effect.estimable:
        raise ValueError(f"no ROI: {effect.reason}")
    gm = ds.settings.gross_margin if gross_margin is None else gross_margin
    costs = ds.cs_costs if costs is None else costs
    if costs is None:
        raise ValueError("no ROI without the team's cost: give a cs_costs table (month, cost)")
    model = effect.model
    ps = _midx(effect.program_start)
    as_m = _midx(ds.as_of_month)
    # Projection grid: every spell at risk at some point after the start, from its first post-start month at risk
    # to as_of, whether or not it churned (its expected survival is compared with and without the program).
    pm = effect.data
    first_post = pm[pm["post"] == 1].groupby(["customer_id", "spell"], sort=False).agg(
        m0=("month", "min"), tenure0=("tenure", "min")).reset_index()
    # each customer's MRR in the month before it enters the post period (its MRR at stake)
    mrr = ds.panel.assign(month=_midx(ds.panel["month"]))[["customer_id", "month", "mrr"]]
    first_post["stake"] = first_post.merge(mrr.assign(m0=mrr["month"] + 1), on=["customer_id", "m0"],
                                           how="left")["mrr"].fillna(0.0).to_numpy()
    # spells entering the post period in the same month at the same tenure follow the same expected survival
    # path: one path per (entry month, tenure) with the spells' MRR at stake added up (exact, by linearity)
    paths = first_post.groupby(["m0", "tenure0"], sort=True)["stake"].sum().reset_index()
    n = (as_m - paths["m0"].to_numpy() + 1).clip(min=0)
    idx = np.repeat(np.arange(len(paths)), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    d = pd.DataFrame({"month": paths["m0"].to_numpy()[idx] + k, "tenure": paths["tenure0"].to_numpy()[idx] + k,
                      "stake": paths["stake"].to_numpy()[idx]})
    d["t"] = (d["month"] - ps) / 12.0
    d["post"] = 1.0
    d["post_t"] = d["t"]
    d["churn"] = 0
    params = model.params
    eta = np.asarray(model.predict(d, which="linear"))
    if "post_t" in params.index:  # a slope change: its contribution is part of the program's effect (kept fixed)
        eta = eta - params["post_t"] * d["t"].to_numpy()

    def retained_for(b_post: np.ndarray) -> pd.DataFrame:
        """Retained MRR per month for each value of the post coefficient (vectorised over draws)."""
        base = eta - params["post"]  # the program term removed
        p = 1 - np.exp(-np.exp(base[:, None] + b_post[None, :]))
        p_cf = np.broadcast_to((1 - np.exp(-np.exp(base)))[:, None], p.shape)
        s_act = np.exp(pd.DataFrame(np.log1p(-p)).groupby(idx).cumsum().to_numpy())
        s_cf = np.exp(pd.DataFrame(np.log1p(-p_cf)).groupby(idx).cumsum().to_numpy())
        kept = d["stake"].to_numpy()[:, None] * (s_act - s_cf)
        return pd.DataFrame(kept).groupby(d["month"].to_numpy()).sum()

    point = retained_for(np.array([params["post"]]))
    draws = effect.draws[:200]
    step = max(1, 20_000_000 // max(len(d), 1))  # draws per block: the temporaries are rows × draws
    sims = pd.concat([retained_for(draws[i:i + step]) for i in range(0, len(draws), step)], axis=1)
    months = point.index.to_numpy()
    cost = costs.assign(month=_midx(pd.to_datetime(costs["month"]))).groupby("month")["cost"].sum().reindex(months, fill_value=0.0)
    profit = point.iloc[:, 0].to_numpy() * gm
    profit_sims = sims.to_numpy() * gm
    cum_profit = np.cumsum(profit)
    cum_cost = np.cumsum(cost.to_numpy())
    cum_sims = np.cumsum(profit_sims, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        roi_t = (cum_profit - cum_cost) / cum_cost
        roi_sims = (cum_sims - cum_cost[:, None]) / cum_cost[:, None]
    q = [alpha / 2, 1 - alpha / 2]
    out = pd.DataFrame({
        "month": months, "retained_mrr": point.iloc[:, 0].to_numpy(), "retained_profit": profit,
        "retained_profit_lower": np.quantile(profit_sims, q[0], axis=1), "retained_profit_upper": np.quantile(profit_sims, q[1], axis=1),
        "cost": cost.to_numpy(), "cumulative_profit": cum_profit, "cumulative_cost": cum_cost,
        "cumulative_roi": roi_t, "cumulative_roi_lower": np.quantile(roi_sims, q[0], axis=1),
        "cumulative_roi_upper": np.quantile(roi_sims, q[1], axis=1),
    })
    out.insert(0, "date", pd.to_datetime({"year": out["month"] // 12, "month": out["month"] % 12 + 1, "day": 1}))
    if horizon:
        out = out.iloc[:horizon]
    return out


def payback(roi_table: pd.DataFrame) -> dict:
    """First month where cumulative retained gross profit covers cumulative cost ("not reached" otherwise)."""
    hit = roi_table.index[roi_table["cumulative_profit"] >= roi_table["cumulative_cost"]]
    if len(hit) == 0:
        return {"reached": False, "month": None, "months_after_start": None, "text": "not reached"}
    i = hit[0]
    return {"reached": True, "month": str(roi_table.loc[i, "date"].date()), "months_after_start": int(i) + 1,
            "text": f"{roi_table.loc[i, 'date']:%Y-%m} ({int(i) + 1} months after the start)"}


def reduction_value(mrr: float, customers: int, from_rate: float, to_rate: float, *, months: int = 12,
                    gross_margin: float = 0.8) -> dict:
    """Planning: what lowering monthly churn from ``from_rate`` to ``to_rate`` is worth over ``months`` for a base
    of ``customers`` paying ``mrr`` in total (no new customers; constant rates)."""
    t = np.arange(1, months + 1)
    s_from, s_to = (1 - from_rate) ** t, (1 - to_rate) ** t
    retained = mrr * (s_to - s_from)
    return {"months": months, "retained_mrr_by_month": retained.tolist(), "retained_revenue": float(retained.sum()),
            "retained_gross_profit": float(retained.sum() * gross_margin),
            "customers_kept_at_end": float(customers * (s_to[-1] - s_from[-1]))}


def _z(alpha: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(1 - alpha / 2))
