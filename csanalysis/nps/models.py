"""Regression models of the outcomes on the NPS category (statsmodels): churn within k months (logistic,
effects as risk ratios and risk differences from predicted probabilities) and the MRR change among accounts
that stayed (OLS with segment and size controls), with robust or account-clustered errors."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..data.schema import churn_word
from ..estimate import json_safe
from ..result import TableSummary
from ..reasons import Reason
from .alignment import Alignment
from .survey import CATEGORIES

__all__ = ["OUTCOMES", "PAIRS", "ModelResult", "churn_model", "revenue_model"]

OUTCOMES = ("churn", "revenue")

# exploratory comparisons per outcome (a vs b): churn as a risk ratio a ÷ b, revenue as a difference a − b
PAIRS = {"churn": (("detractor", "promoter"), ("passive", "promoter"), ("detractor", "passive")),
         "revenue": (("promoter", "detractor"), ("promoter", "passive"), ("passive", "detractor"))}


def _design(t: pd.DataFrame, y_col: str, controls: list[str], reference: str):
    """Design matrix with category dummies against ``reference`` and controls; rows with a missing value are
    dropped here, explicitly, and counted per column (statsmodels formulas would drop them silently)."""
    need = [y_col, "category"] + controls
    miss = {c: int(t[c].isna().sum()) for c in need if c in t.columns and t[c].isna().any()}
    ok = t[need].notna().all(axis=1)
    if "mrr_base" in controls:
        bad = ok & ~(t["mrr_base"] > 0)
        if bad.any():
            miss["mrr_base ≤ 0"] = int(bad.sum())
        ok &= t["mrr_base"] > 0
    d = t[ok]
    X = pd.DataFrame({"const": 1.0}, index=d.index)
    levels = [c for c in CATEGORIES if c != reference]
    for c in levels:
        X[c] = (d["category"] == c).astype(float)
    for c in controls:
        if c == "mrr_base":
            X["log_mrr_base"] = np.log(d["mrr_base"].astype(float))
        elif c == "segment":
            lv = sorted(d["segment"].astype(str).unique())
            for v in lv[1:]:
                X[f"segment[{v}]"] = (d["segment"].astype(str) == v).astype(float)
        else:
            X[c] = d[c].astype(float)
    X = X.loc[:, (X != 0).any(axis=0) | (X.columns == "const")]
    # row-major values: a frame built column by column hands statsmodels a column-major array, whose products in
    # every IRLS step are slower (the same estimates)
    X = pd.DataFrame(np.ascontiguousarray(X.to_numpy()), index=X.index, columns=X.columns)
    return d, X, d[y_col].astype(float), {"dropped_missing": int((~ok).sum()), "missing_by_column": miss}


def _cov(groups: np.ndarray) -> tuple[str, dict]:
    if pd.Series(groups).duplicated().any():
        return "cluster", {"groups": pd.factorize(pd.Series(groups))[0]}
    return "HC3", {}


@dataclass(kw_only=True)
class ModelResult(TableSummary):
    """A fitted statsmodels model of one outcome at one horizon, its effects on the business scale, and what
    was dropped; built by keyword. ``effects``: one row per comparison (a vs b) with estimate, lower, upper,
    p_value, and for churn also the predicted probabilities and the risk difference. :attr:`summary` is the
    model's coefficients by term (:meth:`print_summary`, ``_repr_html_``), :meth:`conf_int` their intervals."""

    _summary_index = True  # the summary's index is the model's terms

    outcome: str
    horizon: int
    n: int
    accounts: int
    dropped: dict
    cov_type: str
    effects: pd.DataFrame
    result: object = field(default=None, repr=False)
    reason: str | None = None
    r2: float | None = None

    @property
    def summary(self) -> pd.DataFrame:
        """One row per term of the fitted model: coefficient (log odds for churn, percentage points of MRR change
        for revenue), robust SE, 95% interval and p-value; no rows when no model was fitted (``reason``)."""
        if self.result is None:
            return pd.DataFrame(columns=["coef", "se", "lower", "upper", "p"], dtype=float)
        r = self.result
        ci = r.conf_int()
        return pd.DataFrame({"coef": r.params, "se": r.bse, "lower": ci[0], "upper": ci[1], "p": r.pvalues})

    def conf_int(self) -> pd.DataFrame:
        """The coefficients' intervals (``lower``, ``upper``) by term."""
        return self.summary[["lower", "upper"]]

    def effect(self, a: str, b: str) -> dict:
        e = self.effects[(self.effects["a"] == a) & (self.effects["b"] == b)] if len(self.effects) else self.effects
        if not len(e):
            return {}
        return json_safe(e.iloc[0].to_dict())


def churn_model(al_or_table, k: int, *, controls: list[str] | None = None, pairs=PAIRS["churn"], alpha: float = 0.05) -> ModelResult:
    """Logistic regression (statsmodels GLM, binomial): churned within ``k`` months ~ NPS category (promoter
    reference) [+ controls], errors clustered by account when an account answered more than once, else HC3.

    Effects are read from **predicted probabilities** (each category's average predicted churn, all rows set to
    that category): risk ratio a ÷ b with a delta-method interval on the log scale (and its Wald p-value), and
    risk difference a − b (delta method). Never odds ratios as "× as likely".

    Parameters
    ----------
    al_or_table : Alignment or DataFrame
        An :class:`Alignment`, or a table with ``customer_id``, ``category`` and ``churned_k``.
    k : int
        The horizon in months.
    controls : list of str, optional
        Columns to adjust for (``mrr_base`` enters as log baseline MRR, ``segment`` as dummies).
    pairs : sequence of (str, str)
        The comparisons a vs b to report.
    alpha : float
        Significance level: 0.05 gives 95% intervals.

    Returns
    -------
    ModelResult
        The fit, one row of ``effects`` per pair (``p_a``, ``p_b``, ``rr`` and ``rd`` with their intervals,
        ``p_value``), and ``reason`` when the model cannot be estimated.
    """
    import statsmodels.api as sm

    t = al_or_table.rows(k) if isinstance(al_or_table, Alignment) else al_or_table
    t = t[t[f"churned_{k}"].notna()] if f"churned_{k}" in t.columns else t.iloc[0:0]
    word = al_or_table.word() if isinstance(al_or_table, Alignment) else churn_word("subscription")
    controls = list(controls or [])
    z = norm.ppf(1 - alpha / 2)
    empty = pd.DataFrame(columns=["a", "b", "p_a", "p_b", "rr", "rr_lower", "rr_upper", "rd", "rd_lower", "rd_upper",
                                  "p_value", "se_log_rr", "n_a", "n_b", "events_a", "events_b", "reason"])
    if not len(t):
        return ModelResult(outcome="churn", horizon=k, n=0, accounts=0, dropped={"dropped_missing": 0}, cov_type="",
                           effects=empty,
                           reason=Reason(f"no response has a complete {k}-month window", "nps.reason.no_window", k=k))
    d, X, y, dropped = _design(t, f"churned_{k}", controls, "promoter")
    ev = d.groupby("category")[f"churned_{k}"].agg(["size", "sum"]).reindex(list(CATEGORIES)).fillna(0)
    fit_ok = y.sum() > 0 and y.sum() < len(y) and len(X.columns) > 1
    cov_type, kw = _cov(d["customer_id"].to_numpy())
    res, reason = None, None
    if fit_ok:
        present = [c for c in X.columns if c in CATEGORIES]
        degenerate = [c for c in present + ["promoter"] if ev.loc[c, "size"] > 0 and ev.loc[c, "sum"] in (0, ev.loc[c, "size"])]
        if degenerate:
            reason = (f"no {word} (or only {word}) among the {', '.join(degenerate)} responses within {k} months: "
                      "the logistic model cannot estimate that category")
        else:
            res = sm.GLM(y, X, family=sm.families.Binomial()).fit(cov_type=cov_type, cov_kwds=kw)
    else:
        reason = Reason(f"no {word} (or only {word}) within {k} months among the {len(d)} usable responses",
                        "nps.reason.no_variation", k=k, n=f"{len(d):,}")
    rows = []
    if res is not None:
        beta, V = res.params.to_numpy(), res.cov_params().to_numpy()
        Xv = X.to_numpy()
        P, G = {}, {}
        for c in CATEGORIES:
            if c != "promoter" and c not in X.columns:
                continue
            Xc = Xv.copy()
            for j, name in enumerate(X.columns):
                if name in CATEGORIES:
                    Xc[:, j] = 1.0 if name == c else 0.0
            p = 1.0 / (1.0 + np.exp(-(Xc @ beta)))
            P[c], G[c] = p.mean(), (Xc * (p * (1 - p))[:, None]).mean(axis=0)
        for a, b in pairs:
            if a not in P or b not in P:
                continue
            g_log = G[a] / P[a] - G[b] / P[b]
            se_log = float(np.sqrt(g_log @ V @ g_log))
            g_rd = G[a] - G[b]
            se_rd = float(np.sqrt(g_rd @ V @ g_rd))
            lrr = np.log(P[a] / P[b])
            rows.append({"a": a, "b": b, "p_a": P[a], "p_b": P[b], "rr": P[a] / P[b], "rr_lower": np.exp(lrr - z * se_log),
                         "rr_upper": np.exp(lrr + z * se_log), "rd": P[a] - P[b], "rd_lower": P[a] - P[b] - z * se_rd,
                         "rd_upper": P[a] - P[b] + z * se_rd, "p_value": float(2 * norm.sf(abs(lrr) / se_log)) if se_log > 0 else np.nan,
                         "se_log_rr": se_log, "n_a": int(ev.loc[a, "size"]), "n_b": int(ev.loc[b, "size"]),
                         "events_a": int(ev.loc[a, "sum"]), "events_b": int(ev.loc[b, "sum"]), "reason": None})
    effects = pd.DataFrame(rows) if rows else empty
    cov_text = ("errors clustered by account (several responses per account)" if cov_type == "cluster"
                else "HC3 heteroskedasticity-robust errors")
    return ModelResult(outcome="churn", horizon=k, n=len(d), accounts=int(d["customer_id"].nunique()), dropped=dropped,
                       cov_type=cov_text, effects=effects, result=res, reason=reason)


def revenue_model(al_or_table, k: int, *, controls: list[str] | None = ("segment", "mrr_base"), pairs=PAIRS["revenue"],
                  alpha: float = 0.05) -> ModelResult:
    """OLS among accounts that stayed: MRR change over ``k`` months (percent) ~ NPS category (detractor reference) +
    controls (``segment`` when aligned with one, ``mrr_base`` as log baseline MRR for size); HC3 errors, clustered
    by account when an account answered more than once. Effects: difference a − b in percentage points of MRR
    change, adjusted for the controls, with its interval and p-value.

    Parameters
    ----------
    al_or_table : Alignment or DataFrame
        An :class:`Alignment`, or a table with ``customer_id``, ``category`` and ``mrr_change_k``.
    k : int
        The horizon in months.
    controls : sequence of str, optional
        Columns to adjust for; those not in the table are left out.
    pairs : sequence of (str, str)
        The comparisons a vs b to report.
    alpha : float
        Significance level: 0.05 gives 95% intervals.

    Returns
    -------
    ModelResult
        The fit, one row of ``effects`` per pair (``estimate``, ``lower``, ``upper``, ``p_value``, ``se``), ``r2``,
        and ``reason`` when the model cannot be estimated.
    """
    import statsmodels.api as sm

    t = al_or_table.rows(k, "revenue") if isinstance(al_or_table, Alignment) else al_or_table
    col = f"mrr_change_{k}"
    t = t[t[col].notna()] if col in t.columns else t.iloc[0:0]
    controls = [c for c in (controls or []) if c in t.columns]
    z = norm.ppf(1 - alpha / 2)
    empty = pd.DataFrame(columns=["a", "b", "estimate", "lower", "upper", "p_value", "se", "n_a", "n_b", "reason"])
    if len(t) < 5:
        return ModelResult(outcome="revenue", horizon=k, n=len(t), accounts=int(t["customer_id"].nunique()) if len(t) else 0,
                           dropped={"dropped_missing": 0}, cov_type="", effects=empty,
                           reason=Reason(f"fewer than 5 accounts stayed with a complete {k}-month window",
                                         "nps.reason.few_stayers", k=k))
    d, X, y, dropped = _design(t, col, controls, "detractor")
    cov_type, kw = _cov(d["customer_id"].to_numpy())
    rows, res, reason = [], None, None
    if len(d) <= X.shape[1] + 1 or len(X.columns) < 2:
        reason = Reason("too few responses for the model", "nps.reason.too_few_for_model")
    else:
        res = sm.OLS(y, X).fit(cov_type=cov_type, cov_kwds=kw)
        names = list(X.columns)
        nc = d["category"].value_counts()
        for a, b in pairs:
            if (a != "detractor" and a not in names) or (b != "detractor" and b not in names):
                continue
            L = np.zeros(len(names))
            if a != "detractor":
                L[names.index(a)] += 1
            if b != "detractor":
                L[names.index(b)] -= 1
            est = float(L @ res.params.to_numpy())
            se = float(np.sqrt(L @ res.cov_params().to_numpy() @ L))
            rows.append({"a": a, "b": b, "estimate": est, "lower": est - z * se, "upper": est + z * se,
                         "p_value": float(2 * norm.sf(abs(est) / se)) if se > 0 else np.nan, "se": se,
                         "n_a": int(nc.get(a, 0)), "n_b": int(nc.get(b, 0)), "reason": None})
    cov_text = ("errors clustered by account (several responses per account)" if cov_type == "cluster"
                else "HC3 heteroskedasticity-robust errors")
    return ModelResult(outcome="revenue", horizon=k, n=len(d), accounts=int(d["customer_id"].nunique()), dropped=dropped,
                       cov_type=cov_text, effects=pd.DataFrame(rows) if rows else empty, result=res, reason=reason,
                       r2=float(res.rsquared) if res is not None else None)
