"""Churn risk on a snapshot (a CRM export: tenure and a churned flag, one row per customer, no history).

A snapshot holds no scoring dates, so nothing can be learned about what happens *after* a date from signals seen
*at* it. What it supports is a survival model of the lifetimes on the customers' attributes:

**Model.** A penalised Cox model (lifelines ``CoxPHFitter``, Efron ties, a light ridge penalty
``penalizer × n × ½‖β‖²`` on the standardised coefficients, which keeps rare levels and collinear attributes
finite and shrinks a well-measured effect very little) on every usable attribute of ``Dataset.customers``
(:func:`snapshot_attributes`: every column but ids, dates and owners; constant, all-missing and identifier-like
columns are left out, and so are columns that describe the outcome: recorded only for churned or only for active
customers, or a numeric column moving with tenure, a running total): numeric columns per a round step near
their standard deviation (1, 10, 100, 1,000 …; at least 1, so a money column reads "per 1,000" rather than a
hazard ratio of 1.00 per unit; ``seats`` per doubling, as in :func:`csanalysis.survival.cox_drivers`), other
columns one-hot against their most common level
(:func:`csanalysis.survival.reference_levels`); a numeric column with missing values is filled with its median
and gets a 0/1 ``<name>_missing`` term. Durations are ``survival_data(ds)``: T = tenure, E = churned. Without a
usable attribute the model is the Nelson–Aalen baseline alone (the risk depends on tenure only).
The intervals of a penalised fit are approximate (lifelines' inverse Hessian of the penalised likelihood).

**Probability.** For an active customer of tenure *t* and attributes *x*, the probability of churning within
the next *h* months given that it has survived to *t*:

    P = 1 − S(t + h | x) / S(t | x) = 1 − exp(−[H₀(t + h) − H₀(t)] · exp((x − x̄)ᵀβ))

with lifelines' Breslow baseline H₀ (at the mean covariates x̄, read at *t* as lifelines'
``predict_survival_function`` does). The baseline's steps at long tenures rest on the few customers followed
that long: when fewer than ``min_at_risk`` (30) customers were followed to t + h (T ≥ t + h), the probability
is not estimated (empty, with the reason; the list puts those accounts last).

**Reasons.** The attributes that raise an account's hazard most against an average account: the contribution
of attribute *j* is Σ over its terms βₖ (xₖ − x̄ₖ) (the log hazard ratio against the mean customer); the
``k`` largest positive ones (at least ``min_contribution``) are named with the account's value.

**Judged by k-fold cross-validation** (folds stratified by churned, seeded): every customer is predicted by the
model fitted without its fold.

* *Concordance* (Harrell's C, lifelines' pairs) of the out-of-fold linear predictors, pairs within a fold (each
  fold is predicted by its own model, whose linear predictor has its own centring), pooled over the folds.
* *AUC at the horizon* (cumulative/dynamic, Heagerty & Zheng 2005) pooled over landmarks: at a landmark
  tenure *s* the customers at risk (T > s) are scored with 1 − S(s+h|x)/S(s|x); the *cases* churned within
  (s, s+h], the *controls* survived past s + h; customers censored within the window are left out (no
  censoring weights). The pooled AUC is the share of (case, control) pairs of the same landmark and fold ranked
  right (ties count one half): comparing risks across folds would rank the folds' models (their baselines differ
  by sampling), which pulls a pooled AUC below 50% for a model without attributes. Landmarks: 0, h, 2h, …
  below the 90th percentile of tenure (at most ``max_landmarks``), each needing at least one case and one control.
* *Calibration*: the at-risk landmark rows in ``bins`` equal-count groups of predicted risk; per group the mean
  predicted risk against the observed Kaplan–Meier risk within h of the residual time (T − s, censored ones
  kept as censored).

Each metric's interval is a percentile bootstrap over customers (``n_boot`` resamples of whole customers,
each with all its landmark rows; replicates drawn a block at a time, :func:`csanalysis.stats.bootstrap.count_weights`)
of the out-of-fold predictions (the concordance of a resample by :func:`weighted_concordance`, equal to lifelines'
``concordance_index`` on the resampled rows); the models are not refitted inside the bootstrap, so the intervals
hold the sampling of customers given the fitted folds. The folds' own concordances (lifelines, per fold) are
reported beside it. Too few customers for k folds (fewer than 2k churned or 2k active) leave the measures null
with the reason (:data:`CV_REASONS`).

This is association on one snapshot: attributes recorded at export may have changed, and churned customers'
attributes may have been updated or frozen differently from active ones'.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from .data import Dataset
from .data.attributes import label as attr_label
from .estimate import Estimate
from .health import LIST_COLUMNS, RANK_BY, capacity_groups
from .stats.bootstrap import count_weights, percentile_estimate
from .survival import covariate_design, _hr_sentence, reference_levels, survival_data

__all__ = ["SnapshotRisk", "snapshot_risk", "snapshot_attributes", "snapshot_risk_list", "list_layout",
           "horizon_auc", "weighted_concordance", "LEFT_OUT", "LIST_MEANINGS", "NOT_ATTRIBUTES",
           "SCORE_SOURCE", "SKIP_REASONS", "CV_REASONS", "TENURE_CORRELATION"]

# ids, dates, owners and the outcome itself: no model terms
NOT_ATTRIBUTES = ("customer_id", "signup_date", "renewal_date", "csm_owner", "tenure_months", "churned")
MAX_LEVELS = 50  # a text column with more distinct values than this (and than a tenth of the rows) is an identifier
SCORE_SOURCE = "survival_model"  # the list's score_source on a snapshot
# the churn-risk report's sections that need a history of dates, and why a snapshot cannot support them
LEFT_OUT = {
    "scorecard": "the scorecard's measures (logins, usage trend, failed payments, NPS, CS contacts) are read at a "
                 "scoring date from monthly history, which a snapshot does not hold",
    "time_split": "judging the scores on later scoring dates needs outcomes after past dates; a snapshot has one "
                  "date, so the model is judged by cross-validation instead",
    "time_varying": "drivers that change over time (usage, payments, NPS) need their values month by month",
    "follow_up": "following up an earlier list needs the churn dates after it, which a snapshot does not record",
}


CV_REASONS = {  # why the model was not cross-validated (code → sentence; snaprisk.why.<code>)
    "too_few": "{k}-fold cross-validation needs at least {need} churned and {need} active customers "
               "({events} churned, {active} active)",
    "constant_fold": "every attribute is constant in the customers outside fold {fold}",
    "no_fit": "the model fitted without fold {fold} did not converge",
}


# ============================================================================ attributes


SKIP_REASONS = {  # why a column of the export is not a model term (code → sentence; snaprisk.skip.<code>)
    "date": "a date, not an attribute",
    "all_missing": "every value is missing",
    "constant": "the same value for every customer",
    "identifier": f"more than {MAX_LEVELS} distinct values: an identifier or free text, not a segment",
    "outcome": "recorded only for churned customers (or only for active ones): it describes the churn, not the "
               "customer before it",
    "tenure": "moves with tenure (rank correlation of at least 0.7): a running total such as total charges, which "
              "measures the time already survived rather than the customer",
}
TENURE_CORRELATION = 0.7  # a numeric attribute this correlated with tenure (Spearman) is a running total


def snapshot_attributes(customers: pd.DataFrame, exclude=NOT_ATTRIBUTES,
                        churned: pd.Series | np.ndarray | None = None,
                        tenure: pd.Series | np.ndarray | None = None) -> tuple[list[str], dict[str, str]]:
    """The attribute columns of ``customers`` a model can use, and each skipped column with its reason's code
    (:data:`SKIP_REASONS`).

    Every column except ``exclude`` is considered (so attributes added to the export are picked up): numeric and
    boolean columns are numeric terms, other columns categorical; dates, all-missing and constant columns are
    skipped, and so is a text column with more than :data:`MAX_LEVELS` distinct values (and more than a tenth of
    the rows: an identifier or free text). With ``churned`` (0/1 per row of ``customers``), a column present only
    for churned customers or only for active ones (a churn reason, a cancellation date) describes the outcome and
    is skipped too. With ``tenure``, a numeric column whose rank correlation with tenure is at least
    :data:`TENURE_CORRELATION` in size is a running total (IBM's Telco export has TotalCharges ≈ tenure ×
    MonthlyCharges) and is skipped: conditioning on it conditions on the outcome.

    Parameters
    ----------
    customers : DataFrame
        The snapshot, one row per customer.
    exclude : sequence of str
        Columns that are not attributes (identifiers, tenure, the churned flag …).
    churned : Series or array, optional
        0/1 per row of ``customers``: skip the columns known only for churned or only for active customers.
    tenure : Series or array, optional
        Tenure per row of ``customers``: skip the numeric columns that are running totals of it.

    Returns
    -------
    used : list of str
        The attribute columns a model can use, in the order of ``customers``.
    skipped : dict
        Each skipped column and its reason's code (:data:`SKIP_REASONS`).
    """
    used, skipped = [], {}
    n = len(customers)
    gone = None if churned is None else np.asarray(churned).astype(bool)
    for c in customers.columns:
        if c in exclude:
            continue
        col = customers[c]
        known = col.notna().to_numpy()
        if pd.api.types.is_datetime64_any_dtype(col):
            skipped[c] = "date"
        elif col.isna().all():
            skipped[c] = "all_missing"
        elif gone is not None and gone.any() and (~gone).any() and (
                not known[~gone].any() or not known[gone].any()):
            skipped[c] = "outcome"
        elif pd.api.types.is_numeric_dtype(col):
            if col.nunique(dropna=True) < 2 and not col.isna().any():
                skipped[c] = "constant"
            elif tenure is not None and known.sum() > 2 and abs(pd.Series(col.to_numpy(dtype=float)[known]).corr(
                    pd.Series(np.asarray(tenure, dtype=float)[known]), method="spearman")) >= TENURE_CORRELATION:
                skipped[c] = "tenure"
            else:
                used.append(c)
        else:
            k = col.fillna("(missing)").astype(str).nunique()
            if k < 2:
                skipped[c] = "constant"
            elif k > MAX_LEVELS and k > 0.1 * n:
                skipped[c] = "identifier"
            else:
                used.append(c)
    return used, skipped


def _prepared(customers: pd.DataFrame, attributes: list[str]) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """Customers with numeric missing values filled by the median plus a 0/1 ``<name>_missing`` column; the
    covariates to code (:func:`csanalysis.survival.covariate_design`) and each added column's attribute."""
    cust = customers[["customer_id", *attributes]].copy()
    covariates, owner = [], {}
    for a in attributes:
        col = cust[a]
        covariates.append(a)
        owner[a] = a
        if pd.api.types.is_numeric_dtype(col):
            cust[a] = col.astype(float)
            if col.isna().any():
                cust[a] = cust[a].fillna(float(col.median()))
                cust[f"{a}_missing"] = col.isna().astype(float)
                covariates.append(f"{a}_missing")
                owner[f"{a}_missing"] = a
    return cust, covariates, owner


# ============================================================================ metrics on out-of-fold predictions


class _NoAttributes:
    """Stands in for the Cox model when the export has no usable attribute: the Breslow baseline at β = 0, which is
    the Nelson–Aalen estimate (lifelines ``NelsonAalenFitter`` without its tie smoothing: d/n at each time); every
    customer's partial hazard is 1, so the risk depends on tenure alone."""

    def __init__(self, T: np.ndarray, E: np.ndarray):
        from lifelines import NelsonAalenFitter

        na = NelsonAalenFitter(nelson_aalen_smoothing=False).fit(T, E)
        self.baseline_cumulative_hazard_ = na.cumulative_hazard_
        self.params_ = pd.Series(dtype=float)
        self._norm_mean = pd.Series(dtype=float)
        self.summary = pd.DataFrame()

    def predict_partial_hazard(self, X: pd.DataFrame) -> pd.Series:
        return pd.Series(np.ones(len(X)), index=X.index)


def _window_risk(model, X: pd.DataFrame, start: np.ndarray, h: float) -> np.ndarray:
    """1 − S(start + h | x) / S(start | x) from a fitted lifelines CoxPHFitter (its baseline read with lifelines'
    own interpolation, so it equals ``predict_survival_function`` at those times)."""
    from lifelines.utils import interpolate_at_times

    ph = model.predict_partial_hazard(X).to_numpy(dtype=float)
    base = model.baseline_cumulative_hazard_
    dH = interpolate_at_times(base, np.asarray(start, float) + h) - interpolate_at_times(base, np.asarray(start, float))
    return -np.expm1(-dH * ph)


def _pair_share(risk: np.ndarray, case: np.ndarray, control: np.ndarray,
                W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of weights ``W`` (replicates × rows): the weighted count of (case, control) pairs ranked right
    (case risk above the control's; ties one half) and the weighted count of pairs."""
    rc, rn = risk[case], risk[control]
    order = np.argsort(rn, kind="stable")
    rn = rn[order]
    Wn = W[:, control][:, order]
    C = np.concatenate([np.zeros((W.shape[0], 1)), np.cumsum(Wn, axis=1)], axis=1)
    left = np.searchsorted(rn, rc, side="left")
    right = np.searchsorted(rn, rc, side="right")
    Wc = W[:, case]
    right_pairs = (Wc * (C[:, left] + 0.5 * (C[:, right] - C[:, left]))).sum(axis=1)
    return right_pairs, Wc.sum(axis=1) * Wn.sum(axis=1)


def horizon_auc(T, E, risk, landmark: float, horizon: float, weights=None) -> float:
    """Cumulative/dynamic AUC at one landmark: among customers at risk at ``landmark`` (T > landmark), the share
    of (case, control) pairs where the case has the higher ``risk`` (ties one half); cases churned within
    (landmark, landmark + horizon], controls survived past landmark + horizon. NaN without a case or a control.

    Parameters
    ----------
    T : array-like
        Months observed.
    E : array-like
        1: churned at ``T``; 0: censored.
    risk : array-like
        The score (higher: riskier).
    landmark : float
        Months at which the customers are at risk.
    horizon : float
        Months after ``landmark`` a case churns within.
    weights : array-like or None
        Customer weights (None: 1 each).

    Returns
    -------
    float
        The AUC (NaN without a case or a control).
    """
    T, E, risk = (np.asarray(a, dtype=float) for a in (T, E, risk))
    w = np.ones(len(T)) if weights is None else np.asarray(weights, dtype=float)
    case = (T > landmark) & (T <= landmark + horizon) & (E == 1)
    control = T > landmark + horizon
    if not case.any() or not control.any():
        return float("nan")
    right, pairs = _pair_share(risk, case, control, w[None, :])
    return float(right[0] / pairs[0])


def _weighted_km_risk(R: np.ndarray, ev: np.ndarray, h: float, W: np.ndarray) -> np.ndarray:
    """1 − Kaplan–Meier S(h) of residual times ``R`` with events ``ev``, for each row of weights ``W``."""
    S = np.ones(W.shape[0])
    for r in np.unique(R[ev & (R <= h)]):
        d = W @ (ev & (R == r)).astype(float)
        n = W @ (R >= r).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            S = S * (1 - np.where(n > 0, d / n, 0.0))
    return 1 - S


def _concordance(T: np.ndarray, lp: np.ndarray, E: np.ndarray) -> float:
    """Harrell's C of a linear predictor (higher = sooner churn; lifelines ``concordance_index``), NaN without
    a comparable pair."""
    from lifelines.utils import concordance_index

    try:
        return float(concordance_index(T, -lp, E))
    except ZeroDivisionError:  # no admissible pair
        return float("nan")


class _Pairs:
    """The comparable pairs of Harrell's C (lifelines' ``concordance_index``), prepared once for many weightings:
    a churned customer i against every customer of its group who left later (T_j > T_i) or was censored at the
    same time; concordant when lp_i > lp_j, ties in lp one half.

    Customers alike in (group, T, E, lp) are one cell; a weighting's cell weights are one sparse product. Each
    group's times are walked from the last down with the weights of its later customers pooled by the group's
    distinct lp values: at each churn time one cumulative sum over them gives every churned customer's lower and
    tied weight."""

    def __init__(self, T, lp, E, group=None):
        from scipy import sparse

        T, lp, E = (np.asarray(a, dtype=float) for a in (T, lp, E))
        g = np.zeros(len(T)) if group is None else np.asarray(group, dtype=float)
        cells, cell = np.unique(np.column_stack([g, T, E, lp]), axis=0, return_inverse=True)
        self.n = len(T)
        self.M = sparse.csr_matrix((np.ones(len(T)), (np.arange(len(T)), cell.ravel())), shape=(len(T), len(cells)))
        self.steps = []  # per group: its number of lp values, then per time (descending): censored and churned cells
        for gv in np.unique(cells[:, 0]):
            ing = np.flatnonzero(cells[:, 0] == gv)
            _, u = np.unique(cells[ing, 3], return_inverse=True)  # the group's lp ranks
            times = []
            for t in np.unique(cells[ing, 1])[::-1]:
                at = cells[ing, 1] == t
                cens, died = at & (cells[ing, 2] == 0), at & (cells[ing, 2] == 1)
                times.append((ing[cens], u[cens], ing[died], u[died]))
            self.steps.append((int(u.max()) + 1, times))

    def concordance(self, W) -> np.ndarray:
        """C for each row of customer weights ``W`` (replicates × customers)."""
        W = np.atleast_2d(np.asarray(W, dtype=float))
        Wg = np.asarray((self.M.T @ W.T).T)  # replicates × cells
        correct = np.zeros(W.shape[0])
        pairs = np.zeros(W.shape[0])
        for k, times in self.steps:
            pool = np.zeros((W.shape[0], k))
            for cens, uc, died, ud in times:
                pool[:, uc] += Wg[:, cens]  # one cell per lp value at a time: no repeated index
                if len(died):
                    below = np.cumsum(pool, axis=1) - pool
                    w = Wg[:, died]
                    correct += (w * (below[:, ud] + 0.5 * pool[:, ud])).sum(axis=1)
                    pairs += w.sum(axis=1) * pool.sum(axis=1)
                    pool[:, ud] += w
        with np.errstate(invalid="ignore", divide="ignore"):
            return correct / pairs


def weighted_concordance(T, lp, E, W, group=None) -> np.ndarray:
    """Harrell's C of linear predictors ``lp`` (higher = sooner churn) with customer weights, one value per row of
    ``W`` (replicates × customers; integer counts make it the C of the resampled customers). With ``group``, only
    pairs within a group count (the cross-validation folds: each fold's predictions come from its own model), and
    the groups' pairs are pooled. The pairs and ties are lifelines' (:class:`_Pairs`).

    Parameters
    ----------
    T : array-like
        Months observed.
    lp : array-like
        Linear predictors (higher: sooner churn).
    E : array-like
        1: churned at ``T``; 0: censored.
    W : numpy.ndarray
        Weights, replicates × customers.
    group : array-like or None
        Only pairs within a group count (None: every pair).

    Returns
    -------
    numpy.ndarray
        Harrell's C per row of ``W``.
    """
    return _Pairs(T, lp, E, group).concordance(W)


def _folds(E: np.ndarray, k: int, seed: int) -> np.ndarray:
    """A fold number per customer: churned and active customers each dealt at random over the ``k`` folds."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(E), dtype=np.int64)
    for v in (0, 1):
        idx = np.flatnonzero(E == v)
        fold[rng.permutation(idx)] = np.arange(len(idx)) % k
    return fold


# ============================================================================ the result


class SnapshotRisk:
    """Penalised Cox churn risk on a snapshot, judged by k-fold cross-validation (see the module doc).

    ``SnapshotRisk(horizon=3).fit(ds)``; fitted attributes end in ``_``:

    * ``model_``: the lifelines CoxPHFitter on every customer (without a usable attribute, the Nelson–Aalen baseline
      alone: the risk then depends on tenure only, and the concordance is 50% by construction);
      ``hazard_ratios_`` (``summary``): covariate, level, reference, term, unit, hr, lower, upper, p, sentence;
      ``attributes_`` used, ``skipped_`` (column → reason code, :data:`SKIP_REASONS`); ``units_``;
    * ``risk_``: one row per active customer (churned == 0): customer_id, tenure, churn_probability (empty when
      not estimable, ``reason``); ``contributions_``: per active customer and attribute, βₖ (xₖ − x̄ₖ) summed;
    * ``concordance_``, ``auc_``: estimate dicts with bootstrap intervals; ``fold_concordance_`` (per fold);
      ``calibration_``: bin, rows, churned, predicted, observed, lower, upper; ``landmarks_``;
    * ``oof_``: the out-of-fold rows (customer, fold, landmark, predicted risk, residual time, event in the
      window, case, control); ``lp_oof_``: each customer's out-of-fold linear predictor; ``folds_``.
    """

    def __init__(self, horizon: int = 3, *, penalizer: float = 0.001, k_folds: int = 5, n_boot: int = 200,
                 bins: int = 10, seed: int = 0, alpha: float = 0.05, references=None, max_landmarks: int = 12,
                 min_contribution: float = 0.05, min_at_risk: int = 30):
        if horizon < 1:
            raise ValueError(f"horizon={horizon}: at least one month")
        if k_folds < 2:
            raise ValueError(f"k_folds={k_folds}: at least 2 folds")
        self.horizon, self.penalizer = int(horizon), float(penalizer)
        self.k_folds, self.n_boot = int(k_folds), int(n_boot)
        self.bins, self.seed, self.alpha, self.references = int(bins), int(seed), float(alpha), references
        self.max_landmarks, self.min_contribution = int(max_landmarks), float(min_contribution)
        self.min_at_risk = int(min_at_risk)

    # ------------------------------------------------------------------ fitting
    def _fit_cox(self, X: pd.DataFrame, T: np.ndarray, E: np.ndarray):
        from lifelines import CoxPHFitter

        if X.shape[1] == 0:  # no usable attribute: tenure alone
            return _NoAttributes(T, E)
        df = X.assign(T=T, E=E)
        return CoxPHFitter(alpha=self.alpha, penalizer=self.penalizer).fit(df, "T", "E", batch_mode=True)

    def fit(self, ds: Dataset) -> "SnapshotRisk":
        d = survival_data(ds)  # T = tenure, E = churned: one row per customer
        self.as_of_ = pd.Timestamp(ds.as_of)
        by_id = d.set_index("customer_id")
        self.attributes_, self.skipped_ = snapshot_attributes(
            ds.customers, churned=ds.customers["customer_id"].map(by_id["E"]).to_numpy(),
            tenure=ds.customers["customer_id"].map(by_id["T"]).to_numpy())
        cust, covariates, owner = _prepared(ds.customers, self.attributes_)
        cats = [a for a in self.attributes_ if not pd.api.types.is_numeric_dtype(cust[a])]
        self.references_ = reference_levels(ds, cats, self.references)
        X, meta = covariate_design(d, covariates, cust, self.references_)
        self.units_ = {}  # numeric term → the step its hazard ratio is per
        for cov, _, ref, name in meta:
            if ref == "per unit" and owner[cov] == cov:  # not a 0/1 missing term
                sd = float(X[name].std())
                step = 10.0 ** round(np.log10(sd)) if sd > 0 else 1.0
                self.units_[name] = max(step, 1.0)
                X[name] = X[name] / self.units_[name]
        T = d["T"].to_numpy(dtype=float)
        E = d["E"].to_numpy(dtype=int)
        if E.sum() == 0:
            raise ValueError("no customer in the snapshot has churned: a risk model needs churned customers")
        self.n_, self.events_ = len(d), int(E.sum())
        self.model_ = self._fit_cox(X, T, E)
        s = self.model_.summary
        pct = 100 * (1 - self.alpha)
        rows = []
        for cov, level, ref, name in meta:
            hr, lo, hi, p = (float(s.loc[name, c]) for c in ("exp(coef)", f"exp(coef) lower {pct:g}%",
                                                              f"exp(coef) upper {pct:g}%", "p"))
            unit = self.units_.get(name)
            sentence = (_hr_sentence(cov, level, ref, hr, lo, hi, self.alpha) if unit is None else
                        f"Each additional {unit:,.0f} of {cov.replace('_', ' ')} multiplies the churn rate by {hr:.2f} "
                        f"({pct:.0f}% CI {lo:.2f}–{hi:.2f})")
            rows.append({"covariate": cov, "level": level, "reference": ref, "term": name, "unit": unit, "hr": hr,
                         "lower": lo, "upper": hi, "p": p, "sentence": sentence})
        self.hazard_ratios_ = pd.DataFrame(rows, columns=["covariate", "level", "reference", "term", "unit", "hr",
                                                          "lower", "upper", "p", "sentence"])
        self.terms_ = {name: owner[cov] for cov, _, _, name in meta}  # term → the attribute it belongs to

        # the probability for every active customer at its current tenure
        active = E == 0
        t = T[active]
        prob = _window_risk(self.model_, X[active], t, self.horizon)
        self.max_tenure_ = float(T.max())
        # customers observed to the window's end (T ≥ t + h): too few, and the baseline there is noise
        Ts = np.sort(T)
        followed = len(T) - np.searchsorted(Ts, t + self.horizon, side="left")
        beyond = followed < self.min_at_risk
        prob[beyond] = np.nan
        ok_t = np.arange(0, int(self.max_tenure_) + 1)
        ok_t = ok_t[len(T) - np.searchsorted(Ts, ok_t + self.horizon, side="left") >= self.min_at_risk]
        self.max_scored_tenure_ = float(ok_t.max()) if len(ok_t) else None
        contrib = (X[active] - self.model_._norm_mean) * self.model_.params_  # βₖ (xₖ − x̄ₖ), per term
        by_attr = contrib.T.groupby(pd.Series(self.terms_)[contrib.columns].to_numpy(), sort=False).sum().T
        active_ids = d.loc[active, "customer_id"].astype(str).to_numpy()
        self.contributions_ = by_attr.set_axis(active_ids).rename_axis("customer_id")
        self.risk_ = pd.DataFrame({
            "customer_id": active_ids, "tenure": t,
            "churn_probability": prob,
            "reason": np.where(beyond, f"fewer than {self.min_at_risk} customers in the data were followed to "
                                        f"tenure + {self.horizon} months: the window is not estimable", None),
        })
        self._attr_values = ds.customers.set_index(ds.customers["customer_id"].astype(str))[self.attributes_]
        self._cross_validate(X, T, E, d["customer_id"].astype(str).to_numpy())
        return self

    def _not_validated(self, code: str, **values) -> None:
        self.cv_reason_ = (code, values)
        why = CV_REASONS[code].format(**values)
        null = Estimate.missing(why).to_dict(details=())
        self.concordance_, self.auc_, self.auc_pairs_ = dict(null), dict(null), 0.0
        self.fold_concordance_, self.landmarks_ = [], []
        self.calibration_ = pd.DataFrame(columns=["bin", "rows", "customers", "churned", "predicted", "observed",
                                                  "lower", "upper"])
        self.oof_ = None

    def why(self, translate: Callable | None = None) -> str | None:
        """Why the model was not cross-validated (``snaprisk.why.<code>`` when translated), or None."""
        if self.cv_reason_ is None:
            return None
        code, values = self.cv_reason_
        return translate(f"snaprisk.why.{code}", **values) if translate else CV_REASONS[code].format(**values)

    def _cross_validate(self, X: pd.DataFrame, T: np.ndarray, E: np.ndarray, ids: np.ndarray) -> None:
        from lifelines.exceptions import ConvergenceError

        h = self.horizon
        k = self.k_folds
        self.cv_reason_ = None
        self.folds_ = fold = _folds(E, k, self.seed)
        n_ev, n_act = int(E.sum()), int(len(E) - E.sum())
        if n_ev < 2 * k or n_act < 2 * k:
            return self._not_validated("too_few", k=k, need=2 * k, events=n_ev, active=n_act)
        lp = np.full(len(T), np.nan)
        top = float(np.quantile(T, 0.9))
        grid = np.arange(0, max(top, 1), h)[: self.max_landmarks]
        rows = []
        fold_c = []
        for f in range(self.k_folds):
            test = fold == f
            keep = [c for c in X.columns if X.loc[~test, c].nunique() > 1]  # a level absent from the training folds
            if X.shape[1] and not keep:
                return self._not_validated("constant_fold", fold=f + 1)
            try:
                m = self._fit_cox(X.loc[~test, keep], T[~test], E[~test])
            except ConvergenceError:
                return self._not_validated("no_fit", fold=f + 1)
            lp[test] = np.log(m.predict_partial_hazard(X.loc[test, keep]).to_numpy(dtype=float))
            fold_c.append(_concordance(T[test], lp[test], E[test]))
            for s in grid:
                at = test & (T > s)
                if not at.any():
                    continue
                idx = np.flatnonzero(at)
                risk = _window_risk(m, X.loc[at, keep], np.full(len(idx), s), h)
                rows.append(pd.DataFrame({"i": idx, "fold": f, "landmark": s, "risk": risk,
                                          "residual": np.minimum(T[idx], s + h) - s,
                                          "event": (E[idx] == 1) & (T[idx] <= s + h)}))
        oof = pd.concat(rows, ignore_index=True).sort_values(["landmark", "i"], kind="stable").reset_index(drop=True)
        oof["case"] = oof["event"].to_numpy()  # churned within (s, s + h]
        oof["control"] = T[oof["i"].to_numpy()] > oof["landmark"].to_numpy() + h  # survived past s + h
        # landmarks need a case and a control to count
        ok = oof.groupby("landmark")[["case", "control"]].transform("any").all(axis=1)
        self.landmarks_ = sorted(oof.loc[ok, "landmark"].unique().tolist())
        self.oof_ = oof.assign(customer_id=ids[oof["i"].to_numpy()])
        self.lp_oof_ = lp
        self.fold_concordance_ = fold_c

        # the point estimates (lifelines' concordance_index for C), then the bootstrap replicates a block at a time
        # (each block's weights are replicates × landmark rows)
        i = oof["i"].to_numpy()
        risk = oof["risk"].to_numpy()
        case, control = oof["case"].to_numpy(), oof["control"].to_numpy()
        edges = np.unique(np.quantile(risk, np.linspace(0, 1, self.bins + 1)))
        b = np.clip(np.searchsorted(edges, risk, side="right") - 1, 0, max(len(edges) - 2, 0))
        bins = [b == k for k in range(int(b.max()) + 1)]
        R = oof["residual"].to_numpy(dtype=float)
        ev = oof["event"].to_numpy(dtype=bool)

        # landmark rows alike in everything the measures read are one cell; a replicate's cell weights are one sparse
        # product of its customer weights (customers × cells: how many of each customer's rows fall in each cell)
        from scipy import sparse

        keys = np.column_stack([oof["landmark"].to_numpy(float), risk, case, control, b, R, ev,
                                oof["fold"].to_numpy(float)]).astype(float)
        cells, cell = np.unique(keys, axis=0, return_inverse=True)
        cell = cell.ravel()
        M = sparse.csr_matrix((np.ones(len(cell)), (i, cell)), shape=(len(T), len(cells)))
        c_land, c_risk = cells[:, 0], cells[:, 1]
        c_case, c_control, c_bin = cells[:, 2].astype(bool), cells[:, 3].astype(bool), cells[:, 4].astype(np.int64)
        c_R, c_ev, c_fold = cells[:, 5], cells[:, 6].astype(bool), cells[:, 7]
        # AUC pairs within a landmark and a fold (each fold's risks come from its own model: comparing them across
        # folds would rank the folds' models, not the customers)
        c_at = [at for at in ((c_land == s) & (c_fold == f) for s in self.landmarks_ for f in range(self.k_folds))
                if (at & c_case).any() and (at & c_control).any()]
        c_bins = [c_bin == k for k in range(len(bins))]

        def replicate(Wc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            """AUC pooled over the landmarks and the observed risk per bin, for customer weights ``Wc``."""
            W = np.asarray((M.T @ Wc.T).T)  # replicates × cells
            right = np.zeros(W.shape[0])
            pairs = np.zeros(W.shape[0])
            for at in c_at:
                r, p = _pair_share(c_risk[at], c_case[at], c_control[at], W[:, at])
                right, pairs = right + r, pairs + p
            with np.errstate(invalid="ignore", divide="ignore"):
                auc = right / pairs
            obs = np.column_stack([_weighted_km_risk(c_R[mk], c_ev[mk], h, W[:, mk]) for mk in c_bins])
            return auc, obs, pairs

        conc = _Pairs(T, lp, E, group=fold)
        c0 = float(conc.concordance(np.ones(len(T)))[0])
        auc0, obs0, pairs0 = replicate(np.ones((1, len(T))))
        cb, ab, ob = [], [], []
        # whole customers, with replacement; a block's cell weights are as wide as its customer weights or wider
        for Wc in count_weights(np.random.default_rng(self.seed), len(T), self.n_boot, width=max(len(T), len(cells))):
            cb.append(conc.concordance(Wc))
            a, o, _ = replicate(Wc)
            ab.append(a)
            ob.append(o)
        cb, ab = np.concatenate(cb), np.concatenate(ab)
        ob = np.concatenate(ob, axis=0)
        self.concordance_ = percentile_estimate(c0, cb, self.alpha).brief()
        self.auc_ = percentile_estimate(auc0[0], ab, self.alpha,
                                        reason="no landmark with both a churned and a staying customer").brief()
        self.auc_pairs_ = float(pairs0[0])
        cal = []
        for k, mk in enumerate(bins):
            if not mk.any():
                continue
            est = percentile_estimate(obs0[0, k], ob[:, k], self.alpha).brief()
            cal.append({"bin": k + 1, "rows": int(mk.sum()), "customers": int(len(np.unique(i[mk]))),
                        "churned": int(ev[mk].sum()), "predicted": float(risk[mk].mean()), "observed": est["estimate"],
                        "lower": est["lower"], "upper": est["upper"]})
        self.calibration_ = pd.DataFrame(cal)

    # ------------------------------------------------------------------ reading
    @property
    def summary(self) -> pd.DataFrame:
        """Hazard ratios with their intervals (one row per term)."""
        return self.hazard_ratios_

    def conf_int(self) -> pd.DataFrame:
        return self.hazard_ratios_.set_index("term")[["lower", "upper"]]

    def print_summary(self) -> None:
        print(self.summary.drop(columns=["sentence"]).to_string(index=False))
        print(f"concordance (out-of-fold): {self.concordance_}")
        print(f"AUC at {self.horizon} months: {self.auc_}")

    def _repr_html_(self) -> str:
        return self.summary.drop(columns=["sentence"]).to_html(index=False)

    def reasons(self, customer_ids, *, k: int = 3, translate: Callable | None = None) -> list[str]:
        """The ``k`` attributes that raise each customer's hazard most against the mean customer (positive
        contributions of at least ``min_contribution`` to the log hazard), as 'attribute: value' joined by '; '."""
        ids = pd.Index(pd.Series(customer_ids).astype(str))
        contrib = self.contributions_.reindex(ids)
        vals = contrib.to_numpy()
        order = np.argsort(-vals, axis=1)[:, :k]
        names = np.array(contrib.columns)
        values = self._attr_values.reindex(ids)
        out = []
        for r in range(len(ids)):
            parts = []
            for j in order[r]:
                if not vals[r, j] >= self.min_contribution:
                    break
                a = names[j]
                label = attr_label(a, translate)
                v = values.iloc[r][a]
                if pd.isna(v):
                    v = translate("snaprisk.missing") if translate else "missing"
                elif isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_)):
                    v = f"{float(v):,.2f}".rstrip("0").rstrip(".")
                parts.append(translate("health.reason.attribute", attribute=label, value=v) if translate
                             else f"{label}: {v}")
            out.append("; ".join(parts))
        return out

    def hr_sentences(self, translate: Callable | None = None) -> list[str]:
        """One sentence per hazard ratio in the report's language (categorical levels and seats as
        :func:`csanalysis.survival.hr_sentences`; other numeric attributes per unit; ``<name>_missing`` terms
        against customers with the value recorded)."""
        from .survival import hr_sentences

        hrs = self.hazard_ratios_
        if translate is None:
            return hrs["sentence"].tolist()
        out = []
        pct = f"{100 * (1 - self.alpha):.0f}%"
        for i, r in enumerate(hrs.itertuples(index=False)):
            if r.reference not in ("per unit",):
                out += hr_sentences(hrs.iloc[[i]], translate, alpha=self.alpha)
                continue
            attr = self.terms_[r.term]
            label = attr_label(attr, translate)
            key = "snaprisk.hr.missing" if r.term != attr else "snaprisk.hr.unit"
            out.append(translate(key, covariate=label, unit=f"{self.units_.get(r.term, 1.0):,.0f}", hr=f"{r.hr:.2f}",
                                 pct=pct, lo=f"{r.lower:.2f}", hi=f"{r.upper:.2f}"))
        return out

    def attribute_labels(self, translate: Callable | None = None) -> list[str]:
        """The labels of the attributes in the model."""
        return [attr_label(a, translate) for a in self.attributes_]

    def skipped_labels(self, translate: Callable | None = None) -> list[str]:
        """Each column left out of the model with its reason (``snaprisk.skip.<code>``)."""
        return [translate(f"snaprisk.skip.{code}", column=c) if translate else f"{c} ({SKIP_REASONS[code]})"
                for c, code in self.skipped_.items()]

    def hazard_table(self, translate: Callable | None = None) -> pd.DataFrame:
        """One row per model term: its sentence and p-value."""
        return pd.DataFrame({"sentence": self.hr_sentences(translate), "p": self.hazard_ratios_["p"].to_numpy()})

    def cv_table(self) -> pd.DataFrame:
        """The cross-validated measures (concordance, AUC at the horizon) with their intervals."""
        return pd.DataFrame([{"metric": k, "estimate": e["estimate"], "lower": e["lower"], "upper": e["upper"]}
                             for k, e in (("concordance", self.concordance_), ("auc", self.auc_))])

    def metrics(self, lst: pd.DataFrame | None = None, *, capacity: int | None = None,
                capacity_by: str | None = None) -> dict:
        """The numbers of ``metrics.json`` on a snapshot (every estimate with its interval)."""
        est = self.risk_["churn_probability"]
        out = {
            "layout": "snapshot", "scoring_date": self.as_of_, "horizon_months": self.horizon,
            "model": {"kind": "penalised Cox (lifelines CoxPHFitter, Efron ties)", "penalizer": self.penalizer,
                      "customers": self.n_, "churned": self.events_, "attributes": self.attributes_,
                      "skipped_attributes": {k: SKIP_REASONS[v] for k, v in self.skipped_.items()},
                      "references": self.references_},
            "hazard_ratios": self.hazard_ratios_.drop(columns=["sentence"]).to_dict(orient="records"),
            "cross_validation": {"folds": self.k_folds, "seed": self.seed, "n_boot": self.n_boot,
                                 "landmarks": [float(s) for s in self.landmarks_],
                                 "fold_concordance": self.fold_concordance_,
                                 "interval": "percentile bootstrap over customers of the out-of-fold predictions"},
            "concordance": self.concordance_, "auc_horizon": self.auc_,
            "calibration": {"model": self.calibration_.to_dict(orient="records")},
            "active": int(len(self.risk_)), "accounts_scored": int(est.notna().sum()),
            "not_estimable": int(est.isna().sum()), "max_scored_tenure": self.max_scored_tenure_,
            "min_at_risk": self.min_at_risk, "mean_probability": float(est.mean()) if est.notna().any() else None,
            "evaluated": self.cv_reason_ is None, "reason": self.why(), "probabilities": True, "fit_reason": None,
            "left_out": dict(LEFT_OUT),
        }
        if capacity is not None:
            out["capacity"], out["capacity_by"] = int(capacity), capacity_by
        if lst is not None:
            on = lst["on_list"] == 1
            mrr = lst.loc[on, "mrr"]
            out["list"] = {"size": int(on.sum()), "mrr": float(mrr.sum()) if mrr.notna().any() else None,
                           "arr": float(lst.loc[on, "arr"].sum()) if mrr.notna().any() else None,
                           "expected_arr_loss": float(lst.loc[on, "arr_at_risk"].sum()) if mrr.notna().any() else None,
                           "expected_churns": float(lst.loc[on, "churn_probability"].sum()),
                           "new_on_list": None}
        return out


def snapshot_risk(ds: Dataset, horizon: int = 3, **options) -> SnapshotRisk:
    """``SnapshotRisk(horizon, **options).fit(ds)``."""
    if ds.layout != "snapshot":
        raise ValueError(f"snapshot_risk reads a snapshot export; this dataset's layout is {ds.layout!r} "
                         "(use csanalysis.health.churn_risk)")
    return SnapshotRisk(horizon, **options).fit(ds)


# the list's columns whose meaning differs on a snapshot (snaprisk.layout.<column> in the catalogue)
LIST_MEANINGS = {
    "scoring_date": "the snapshot's as_of date",
    "churn_probability": "probability of churning within the horizon given the account's tenure (survival model, "
                         "judged by cross-validation); empty when not estimable",
    "score_source": "survival_model: the penalised Cox model of the snapshot's attributes",
    "scorecard_points": "empty on a snapshot (no monthly history for the scorecard)",
    "scorecard_band": "empty on a snapshot",
    "mrr": "monthly recurring revenue in the export (empty when the export has none)",
    "reasons": "the attributes that raise the account's churn rate most against an average customer",
    "new_on_list": "empty on a snapshot",
}


def list_layout(translate: Callable | None = None) -> pd.DataFrame:
    """The CSV layout of the list on a snapshot: :func:`csanalysis.health.list_layout` with the meanings of
    :data:`LIST_MEANINGS` (``snaprisk.layout.<column>`` when translated)."""
    from .health import list_layout as base

    out = base(translate)
    mean = {c: translate(f"snaprisk.layout.{c}") if translate else d for c, d in LIST_MEANINGS.items()}
    return out.assign(meaning=[mean.get(c, m) for c, m in zip(out["column"], out["meaning"])])


def snapshot_risk_list(res: SnapshotRisk, ds: Dataset, *, capacity: int = 20, capacity_by: str = "team",
                       rank_by: str = "probability", translate: Callable | None = None, pseudonymise: bool = False,
                       k_reasons: int = 3) -> pd.DataFrame:
    """The active accounts (churned == 0) ranked by their probability of churning within the horizon (``rank_by``
    ``"arr_at_risk"``: by probability × ARR, as :func:`csanalysis.health.risk_list`), in the
    layout of :data:`csanalysis.health.LIST_COLUMNS`; the fields a snapshot cannot fill (scorecard points and
    band, new_on_list) are empty. Accounts whose probability is not estimable come last, unranked by risk.

    Parameters
    ----------
    res : SnapshotRisk
        The fitted model (:func:`snapshot_risk`).
    ds : Dataset
        The loaded data (:func:`csanalysis.load_dataset`).
    capacity : int
        Accounts each owner (group of ``capacity_by``) can act on; the list marks them.
    capacity_by : str
        The column that groups the accounts by owner (see ``health.capacity_groups``).
    rank_by : {'probability', 'arr_at_risk'}
        What the accounts are ranked by.
    translate : callable or None
        The report's message function (None: English).
    pseudonymise : bool
        Replace the customer ids by pseudonyms.
    k_reasons : int
        Reasons given per listed account.

    Returns
    -------
    pandas.DataFrame
        One row per active account in the layout of ``csanalysis.health.LIST_COLUMNS``.
    """
    if capacity < 0:
        raise ValueError(f"capacity={capacity}: must be ≥ 0")
    if rank_by not in RANK_BY:
        raise ValueError(f"rank_by={rank_by!r}: use probability or arr_at_risk")
    r = res.risk_
    cust = ds.customers.set_index(ds.customers["customer_id"].astype(str)).reindex(r["customer_id"])
    last = ds.panel.assign(customer_id=ds.panel["customer_id"].astype(str)).groupby("customer_id")["mrr"].last()
    mrr = last.reindex(r["customer_id"]).to_numpy(dtype=float)
    renewal = (pd.to_datetime(cust["renewal_date"]).to_numpy() if "renewal_date" in cust
               else np.full(len(r), np.datetime64("NaT"), dtype="datetime64[ns]"))
    df = pd.DataFrame({
        "scoring_date": res.as_of_.date(),
        "touch_model": (cust["touch_model"].fillna("unknown").astype(str).to_numpy() if "touch_model" in cust
                        else "unknown"),
        "customer_id": r["customer_id"].to_numpy(),
        "csm_owner": cust["csm_owner"].to_numpy() if "csm_owner" in cust else None,
        "churn_probability": r["churn_probability"].to_numpy(),
        "horizon_months": res.horizon,
        "score_source": SCORE_SOURCE,
        "scorecard_points": np.nan,
        "scorecard_band": None,
        "mrr": mrr,
        "arr": 12 * mrr,
    })
    df["arr_at_risk"] = df["churn_probability"] * df["arr"]
    df["renewal_date"] = pd.Series(renewal).dt.date.to_numpy()
    df["days_to_renewal"] = (pd.Series(renewal) - res.as_of_).dt.days.to_numpy()
    key = "churn_probability" if rank_by == "probability" else "arr_at_risk"
    df = df.sort_values([key, "arr", "customer_id"], ascending=[False, False, True],
                        na_position="last", kind="stable").reset_index(drop=True)
    df.insert(1, "rank", np.arange(1, len(df) + 1))
    df.insert(3, "rank_in_team", df.groupby("touch_model", sort=False).cumcount() + 1)
    group = capacity_groups(df, capacity_by)
    on = (df.groupby(df[group[0]].astype(str), sort=False).cumcount() < capacity) if group else df["rank"] <= capacity
    on &= df["churn_probability"].notna()
    df["on_list"] = on.astype(int).to_numpy()
    listed = df["on_list"].to_numpy() == 1
    reasons = np.full(len(df), "", dtype=object)
    if listed.any():
        reasons[listed] = res.reasons(df.loc[listed, "customer_id"], k=k_reasons, translate=translate)
    df["reasons"] = reasons
    if pseudonymise:
        from .data.pseudonym import pseudonymise_ids

        df["customer_id"] = pseudonymise_ids(df["customer_id"].to_numpy())
    df["new_on_list"] = pd.array([pd.NA] * len(df), dtype="Int64")
    return df[list(LIST_COLUMNS)]
