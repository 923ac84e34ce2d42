"""Expansion propensity: the probability that an account expands its MRR within the horizon, and the upsell
candidates per touch model with their reasons (issue 23, notebook 07_lifecycle).

**Outcome.** A score at scoring month *T* (the last complete month, as for churn risk:
:func:`csanalysis.health.scoring_month`) predicts ``expanded``: the account has an **expansion movement** in
*T*+1 … *T*+``horizon`` — its MRR rises against the month before while it pays in both (the ``expansion`` of
:mod:`csanalysis.metrics`' MRR movements, without the part that is an account's return after a grace gap, which is
no upsell). An account that churns first has not expanded. The outcome is known once *T* + ``horizon`` +
``grace_months`` ≤ the as_of month (:meth:`csanalysis.data.Dataset.window_closed`).

**The score** is the churn-risk model's machinery with this outcome (:mod:`csanalysis.health`): the same signals
read up to the end of *T* (:func:`csanalysis.health.signals`), the same L2-regularised logistic regression on
standardised inputs (:func:`csanalysis.health.fit_model` with ``outcome="expanded"``), trained on past scoring
months whose windows closed before the month it scores. Inputs are added because expansion depends on when
seats can change: ``annual_term`` (the account paid in *T*, *T*−1 and *T*−2 with payment attempts in at most one of
them, or a new account paid in *T* and its first month *T*−1 with none: billed by an annual term, whose seats
change at renewal; a monthly account is billed every month after its first) and ``renewal_due`` (an annual term renewing in *T*+1 … *T*+``horizon``, the
renewal month from ``renewal_date`` as the churn-risk signals take it).

**Judged on the future**, exactly as the churn-risk score: the last ``test_months`` scoring months whose windows
closed are scored by a model fitted only on windows closed before the first of them; AUC, top-decile lift and
capture, precision at capacity and calibration with cluster-bootstrap intervals (accounts resampled whole,
:func:`csanalysis.health.evaluate_score`). On demo data the generator's true probabilities give the ceiling
(:func:`true_expansion_probability`).

**Candidates.** :func:`upsell_candidates` ranks every paying account at the scoring date by its expansion
probability, gives the top ``capacity`` accounts of each touch model their reasons in words (the inputs that raise
the probability most against an average account) and writes the layout of :data:`CANDIDATE_COLUMNS`.
The probabilities are associations learnt from the past: an account's reasons say why the score ranks it high,
not what would make it expand.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..data import Dataset
from ..data.keys import AccountMonths
from ..estimate import Estimate
from ..health import (ChurnRiskModel, Evaluation, TooLittleHistory, auc_difference, evaluate_score, fit_model,
                      gains_curve, true_probability)
from ..health.analysis import JudgedScore
from ..health.capacity import rank_within_capacity
from ..health.evaluation import _Boot
from ..health.model import _model_attributes, default_attributes, training_rows
from ..health.reasons import _reason_text, model_reasons
from ..health.analysis import PART_CUSTOMERS, SignalHistory
from ..health.signals import TOUCH_MODELS, reference_date, scoring_month, signals, signals_by_part
from ..periods import month_index
from ..result import TableSummary

__all__ = ["OUTCOME", "EXTRA_INPUTS", "CANDIDATE_COLUMNS", "REASON_TEMPLATES", "expansion_outcomes",
           "expansion_events", "term_inputs", "load_truth", "true_expansion_probability", "Expansion",
           "expansion_propensity", "term_separation", "candidate_reasons", "upsell_candidates", "candidate_layout",
           "team_candidates"]

OUTCOME = "expanded"
EXTRA_INPUTS = ("annual_term", "renewal_due")

# The CSV layout of the candidates, in this order.
CANDIDATE_COLUMNS = {
    "scoring_date": "reference date of the score (end of the scoring month; data up to this day)",
    "rank": "rank by expansion probability within the whole list (1 = most likely to expand)",
    "touch_model": "high, low or tech touch (the team whose list it is)",
    "rank_in_team": "rank within the touch model's list",
    "customer_id": "account identifier (a keyed pseudonym when pseudonymised)",
    "csm_owner": "customer-success manager",
    "expansion_probability": "probability of an MRR expansion within the horizon (learnt on past scoring dates)",
    "horizon_months": "months the probability covers",
    "plan": "plan in the scoring month's customer table",
    "seats": "seats in force at the scoring date",
    "active_users": "active users in the scoring month",
    "utilisation": "active users ÷ seats",
    "mrr": "monthly recurring revenue in the scoring month",
    "arr": "annual recurring revenue (12 × MRR)",
    "renewal_date": "next renewal date in force at the scoring date",
    "reasons": "the two or three signals that raise the account's expansion probability most, in words",
    "on_list": "1 when within the team's capacity (the accounts to work), else 0",
}

REASON_TEMPLATES = {
    "expansion.reason.renewal_due": "annual renewal in {days} days",
}


# ---------------------------------------------------------------------------- outcome and inputs


def expansion_events(ds: Dataset) -> pd.DataFrame:
    """Every expansion movement: ``customer_id``, ``m`` (month index) and ``delta`` (the MRR rise), from
    :mod:`csanalysis.metrics`' movements (``expansion`` less its grace-gap returns)."""
    from ..metrics import _grid

    g = _grid(ds)
    E = (g.moves["expansion"] - g.moves["grace_return"]).tocoo()
    pos = E.data > 0
    return pd.DataFrame({"customer_id": g.ids[E.row[pos]], "m": g.m0 + E.col[pos].astype(np.int64),
                         "delta": E.data[pos] / 100.0})


def expansion_outcomes(ds: Dataset, frame: pd.DataFrame, horizon: int = 3) -> pd.DataFrame:
    """Add ``expanded`` (1 when the account has an expansion movement in the ``horizon`` months after its scoring
    month ``m``) and ``closed`` (the outcome window has closed by the as_of month, grace period included)."""
    if horizon < 1:
        raise ValueError(f"horizon={horizon}: the outcome window must be at least one month")
    ev = expansion_events(ds)
    ids = pd.Index(pd.unique(np.r_[ev["customer_id"].to_numpy(dtype=object),
                                    frame["customer_id"].to_numpy(dtype=object)]))
    span = int(max(ev["m"].max() if len(ev) else 0, frame["m"].max() if len(frame) else 0)) + horizon + 2
    lo = int(min(ev["m"].min() if len(ev) else 0, frame["m"].min() if len(frame) else 0))
    keys = np.sort(ids.get_indexer(ev["customer_id"]).astype(np.int64) * (span - lo) + (ev["m"].to_numpy() - lo))
    base = ids.get_indexer(frame["customer_id"]).astype(np.int64) * (span - lo) + (frame["m"].to_numpy() - lo)
    n = np.searchsorted(keys, base + horizon, side="right") - np.searchsorted(keys, base, side="right")
    out = frame.copy(deep=False)
    out[OUTCOME] = (n > 0).astype(np.int8)
    out["closed"] = ds.window_closed(out["m"].to_numpy(), horizon, ds.settings.grace_months)
    return out


def term_inputs(ds: Dataset, frame: pd.DataFrame, horizon: int = 3) -> pd.DataFrame:
    """Add ``annual_term`` and ``renewal_due`` (see the module docstring; 0 without a payments table)."""
    out = frame.copy(deep=False)
    cid, m = frame["customer_id"].to_numpy(), frame["m"].to_numpy()
    annual = np.zeros(len(frame))
    if ds.payments is not None and len(ds.payments) and len(frame):
        keys = AccountMonths(cid, m, back=2)
        p = ds.panel
        paid = keys.present(p["customer_id"].to_numpy(), month_index(p["month"]))
        pay = ds.payments
        att = keys.cells(pay["customer_id"], month_index(pay["month"]),
                         pay[[c for c in pay.columns if c not in ("customer_id", "month")]].sum(axis=1), how="sum")
        paid3 = keys.at(paid, 0, fill=False) & keys.at(paid, 1, fill=False) & keys.at(paid, 2, fill=False)
        months_billed = sum((keys.at(att, k) > 0).astype(int) for k in range(3))
        # (a new account: paid in T and T − 1, its first month, with no attempt in either)
        new2 = keys.at(paid, 0, fill=False) & keys.at(paid, 1, fill=False) & ~keys.at(paid, 2, fill=False)
        annual = ((paid3 & (months_billed <= 1)) | (new2 & (keys.at(att, 0) == 0) & (keys.at(att, 1) == 0))).astype(float)
    out["annual_term"] = annual
    ren = pd.to_datetime(frame["renewal_date"]) if "renewal_date" in frame else pd.Series(pd.NaT, index=frame.index)
    ahead = np.where(ren.isna().to_numpy(), -1, month_index(ren.fillna(pd.Timestamp("2000-01-01"))) - m)
    out["renewal_due"] = (annual.astype(bool) & (ahead >= 1) & (ahead <= horizon)).astype(float)
    return out


# ---------------------------------------------------------------------------- the ceiling (demo data)


def load_truth(data) -> dict | None:
    """The generator's true probabilities in a demo-data folder: {"expansion": expansion_prob, "churn":
    churn_prob} with the columns the ceiling reads (:func:`true_expansion_probability`; every account-month, so
    not the generator's other columns), or None when the folder has none (real data)."""
    if data is None or isinstance(data, dict):
        return data
    path = Path(data)
    if not (path / "expansion_prob.parquet").is_file() or not (path / "churn_prob.parquet").is_file():
        return None
    return {"expansion": pd.read_parquet(path / "expansion_prob.parquet",
                                         columns=["customer_id", "month", "p", "annual", "next_change"]),
            "churn": pd.read_parquet(path / "churn_prob.parquet", columns=["customer_id", "month", "p"])}


def _next_month(frame: pd.DataFrame, table: pd.DataFrame, column: str, pseudonymised: bool) -> np.ndarray:
    """Each row's ``column`` of ``table`` in the month after its scoring month (the ceiling's lookup)."""
    t = pd.DataFrame({"customer_id": table["customer_id"], "month": table["month"],
                      "p": table[column].to_numpy(dtype=float)})
    return true_probability(frame, t, 1, pseudonymised=pseudonymised)


def true_expansion_probability(frame: pd.DataFrame, truth: dict, horizon: int, *,
                               pseudonymised: bool = False) -> np.ndarray:
    """The ceiling score: the probability of a seat increase within the horizon from the generator's true monthly
    expansion probability ``pe``, its billing (``annual``, ``next_change``) and its true churn probability ``pc``
    of the first month after the scoring month (later months are not used, as for the churn ceiling):

        P = Σ_{j=1..h} A_{j−1} · (1 − pc) · can_j · pe,   A_j = A_{j−1} · (1 − pc) · (1 − can_j · pe),  A_0 = 1,

    can_j = 1 when the seats can change in month *T*+j (monthly billing, or the annual term's renewal month);
    churn comes before seat changes within a month, as in the generator. NaN where the generator has no row."""
    pe = _next_month(frame, truth["expansion"], "p", pseudonymised)
    pc = _next_month(frame, truth["churn"], "p", pseudonymised)
    annual = _next_month(frame, truth["expansion"], "annual", pseudonymised)
    nxt = _next_month(frame, truth["expansion"], "next_change", pseudonymised)
    alive = np.ones(len(frame))
    total = np.zeros(len(frame))
    for j in range(1, horizon + 1):
        can = np.where(annual == 1, (np.rint(j - 1 - nxt) % 12) == 0, 1.0)
        total += alive * (1 - pc) * can * pe
        alive = alive * (1 - pc) * (1 - can * pe)
    return np.where(np.isfinite(pe) & np.isfinite(pc), total, np.nan)


# ---------------------------------------------------------------------------- the analysis


@dataclass(kw_only=True)
class Expansion(JudgedScore, TableSummary):
    """The expansion propensity (:func:`expansion_propensity`); built by keyword. ``current``: the signals and
    ``p_expand`` of every account paying at the scoring date (NaN when ``fit_reason``); ``model`` fitted on every
    window closed by then; ``evaluations`` (model, and ceiling on demo data) on ``test`` rows of ``test_months``
    scored by ``eval_model``; ``differences``: model − ceiling AUC. :attr:`summary` one row per score."""

    WHY = "expansion.why"  # the catalogue prefix of translated reasons

    scoring_month: int
    scoring_date: pd.Timestamp
    horizon: int
    capacity: int
    capacity_by: str
    n_boot: int = 500
    seed: int = 0
    alpha: float = 0.05
    current: pd.DataFrame
    model: ChurnRiskModel | None
    train_rows: int = 0
    train_events: int = 0
    fit_reason: str | None = None
    test_months: list
    evaluations: dict
    test: pd.DataFrame | None = field(repr=False, default=None)
    eval_model: ChurnRiskModel | None = field(repr=False, default=None)
    reason: str | None = None
    differences: dict = field(default_factory=dict)
    ceiling_reason: str | None = None
    codes: dict = field(default_factory=dict)

    def gains(self) -> dict:
        """Cumulative gains curve of each evaluated score on the test rows."""
        y = self.test[OUTCOME].to_numpy()
        col = {"model": "p_model", "ceiling": "p_true"}
        return {k: gains_curve(self.test[col[k]].to_numpy(dtype=float), y) for k in self.evaluations}

    def metrics(self, candidates: pd.DataFrame | None = None) -> dict:
        """The numbers of ``metrics["expansion"]`` (every estimate with its interval, or null with a reason)."""
        why = self.reason or "not evaluated"
        null = lambda r: Estimate.missing(r).to_dict(details=())  # noqa: E731
        scores = {}
        for name in ("model", "ceiling"):
            e = self.evaluations.get(name)
            r = why if name != "ceiling" or self.reason else (self.ceiling_reason or why)
            scores[name] = e.to_dict() if e is not None else {
                k: null(r) for k in ("auc", "lift_top_decile", "capture_top_decile", "precision_at_capacity",
                                     "observed_rate")}
        out = {
            "scoring_date": self.scoring_date, "horizon_months": self.horizon, "capacity": self.capacity,
            "capacity_by": self.capacity_by, "evaluated": self.evaluated, "reason": self.reason,
            "months": self.months(),
            "auc": {k: v["auc"] for k, v in scores.items()},
            "lift_top_decile": {k: v["lift_top_decile"] for k, v in scores.items()},
            "capture_top_decile": {k: v["capture_top_decile"] for k, v in scores.items()},
            "precision_at_capacity": {k: v["precision_at_capacity"] for k, v in scores.items()},
            "observed_rate": scores["model"]["observed_rate"],
            "auc_gap_to_ceiling": self.differences.get("model", null(self.ceiling_reason or why)),
            "calibration": {k: e.calibration.rename(columns={"churned": OUTCOME}).to_dict(orient="records")
                            for k, e in self.evaluations.items()},
            "importance": (self.model.importance.drop(columns=["strength"]).to_dict(orient="records")
                           if self.model is not None and self.model.importance is not None else []),
            "probabilities": self.fit_reason is None, "fit_reason": self.fit_reason,
            "current_training": {"rows": self.train_rows, "expanded": self.train_events},
            "accounts_scored": int(len(self.current)),
        }
        if candidates is not None:
            on = candidates["on_list"] == 1
            out["candidates"] = {
                "size": int(on.sum()), "mrr": float(candidates.loc[on, "mrr"].sum()),
                "expected_expansions": (float(candidates.loc[on, "expansion_probability"].sum())
                                        if self.fit_reason is None else None),
                "by_team": {str(t): int(k) for t, k in candidates.loc[on, "touch_model"].value_counts().items()}}
        return out


def expansion_propensity(ds: Dataset, *, scoring_date=None, horizon: int = 3, capacity: int = 20,
                         capacity_by: str = "team", test_months: int = 6, C: float = 0.05, attributes=None,
                         truth=None, n_boot: int = 500, seed: int = 0, alpha: float = 0.05,
                         model_ds: Dataset | None = None, part_customers: int = PART_CUSTOMERS,
                         history: SignalHistory | None = None) -> Expansion:
    """Score every account paying at the scoring date by its expansion probability, and judge the score on the
    future exactly as :func:`csanalysis.health.churn_risk` judges the churn-risk score (same time split, the same
    engine sample of whole customers at large N, same measures and intervals).

    Parameters
    ----------
    ds : Dataset
        The loaded data.
    scoring_date : date-like, optional
        The date the accounts are scored at (None: the as_of month's).
    horizon : int
        The outcome window in months (an expansion within it).
    capacity : int
        Accounts each ``capacity_by`` group can work (precision at capacity and the candidates).
    capacity_by : {"team", "csm", "total"}
        Whose capacity.
    test_months : int
        Scoring months of the time split that judge the score (0: no evaluation).
    C : float
        Inverse strength of the L2 penalty.
    attributes : sequence of str, optional
        Customer attributes beside the signals (None: the churn-risk model's default).
    truth : dict or path, optional
        The generator's true probabilities (:func:`load_truth`; demo data): adds the ceiling.
    n_boot, seed, alpha : the bootstrap's replicates, seed and 1 − confidence level.
    model_ds : Dataset, optional
        The customers the fits and the evaluation read: a seeded engine sample of whole customers of ``ds``
        (:func:`csanalysis.grouped.model_dataset`, above its size), every account-month of it read (the engine
        sample is the one size rule, as for churn risk). Every account of ``ds`` paying at the scoring date is
        still scored, from the scoring month's signals and billing term alone. None (or ``ds`` itself): ``ds``.
    part_customers : int
        With a sample: customers of ``ds`` read at a time when every account is scored
        (:func:`~csanalysis.health.signals_by_part`, as :func:`~csanalysis.health.churn_risk` scores), so that no
        table of every customer enters pandas; the sample's own tables are read on a copy of it, released once
        its rows are read.
    history : SignalHistory, optional
        The signal rows a :func:`~csanalysis.health.churn_risk` call on ``ds`` read and kept (``ChurnRisk.history``,
        no sample): without a sample, its rows up to the scoring month (the same attributes and first month) are
        these signals, taken from it instead of reading the data again (the churn outcome's columns dropped).

    Returns
    -------
    Expansion
    """
    if capacity < 0:
        raise ValueError(f"capacity={capacity}: must be ≥ 0")
    truth = load_truth(truth)
    T = scoring_month(ds, scoring_date)
    first = ds.data_start_m + 2  # two months of usage history for the trend
    g = ds.settings.grace_months
    last_closed = ds.last_closed_month(horizon, g, by=T)
    months = np.arange(first, T + 1)
    attributes = _model_attributes(ds, default_attributes(ds) if attributes is None else attributes)
    sampled = model_ds is not None and model_ds is not ds  # the fits read the sample; every account of ds is scored
    fit_ds = copy.copy(model_ds) if sampled else ds  # (a sample's pandas tables read on a copy, freed below)
    if sampled:  # the scoring month's signals and billing term of every account of ds, read first (no history held)
        current = signals_by_part(ds, [T], attributes=attributes, part_customers=part_customers,
                                  then=lambda part, rows: term_inputs(part, rows, horizon))
    # every account-month of fit_ds with its outcome and billing term (with a sample, a part of it at a time: each
    # row reads its own account's data only)
    kept = (history.rows(ds, T, scorecard=history.scorecard, attributes=attributes)
            if history is not None and not sampled and len(months) and history.first == first else None)
    if kept is not None:  # the churn-risk call's rows of these months: the same signals
        frame = term_inputs(ds, expansion_outcomes(ds, kept[0].drop(columns=["churned", "closed"]), horizon), horizon)
        del kept
    else:
        frame = signals_by_part(fit_ds, months if len(months) else [T], attributes=attributes,
                                part_customers=part_customers if sampled else None,
                                then=lambda part, rows: term_inputs(part, expansion_outcomes(part, rows, horizon), horizon))
    fit_ds = None  # the sample's tables are not held through the fits
    inputs = (*attributes, *EXTRA_INPUTS)
    closed = ds.window_closed(frame["m"].to_numpy(), horizon, g, by=T)
    is_current = frame["m"].to_numpy() == T
    if not sampled:  # (with a sample, current holds every account of ds, not the sample's T rows)
        current = frame[is_current].drop(columns=[OUTCOME, "closed"]).reset_index(drop=True)

    lo = max(last_closed - test_months + 1, first + horizon + g + 2)
    test_ms = list(range(lo, last_closed + 1))
    evaluations, differences, reason, test, eval_model, codes = {}, {}, None, None, None, {}
    ceiling_reason = None if truth is not None else "no true expansion probabilities (real data)"
    if test_ms:
        split = min(test_ms)
        in_train = closed & ds.window_closed(frame["m"].to_numpy(), horizon, g, by=split)
        test = frame[frame["m"].isin(test_ms).to_numpy()].reset_index(drop=True)
        try:
            eval_model = fit_model(training_rows(frame, in_train), C=C, attributes=inputs, importance=False, outcome=OUTCOME)
        except TooLittleHistory as exc:
            reason, codes["evaluation"] = str(exc), exc
        if reason is None and test[OUTCOME].sum() == 0:
            codes["evaluation"] = TooLittleHistory("one_outcome", "no account expanded in the evaluation window",
                                                   n=0, rows=len(test))
            reason = str(codes["evaluation"])
        if reason is None:
            W = _Boot.draw(test["customer_id"].to_numpy(), n_boot, seed)  # shared: paired differences
            kw = dict(capacity=capacity, capacity_by=capacity_by, n_boot=n_boot, seed=seed, alpha=alpha, weights=W,
                      outcome=OUTCOME)
            test["p_model"] = eval_model.predict(test)
            evaluations["model"] = evaluate_score("model", test["p_model"].to_numpy(), test, **kw)
            if truth is not None:
                tp = true_expansion_probability(test, truth, horizon, pseudonymised=ds.pseudonymised)
                coverage = float(np.isfinite(tp).mean())
                if coverage == 1.0:
                    test["p_true"] = tp
                    evaluations["ceiling"] = evaluate_score("ceiling", tp, test, **kw)
                    differences["model"] = auc_difference(evaluations["model"], evaluations["ceiling"], alpha)
                else:
                    ceiling_reason = (f"the true probabilities cover {coverage:.1%} of the evaluated account-months "
                                      "(not the same data)")
    else:
        codes["evaluation"] = TooLittleHistory(
            "too_short", f"no scoring month has a closed {horizon}-month outcome window before "
            f"{reference_date(T).date()}: the data are too short to judge the scores", h=horizon,
            date=str(reference_date(T).date()))
        reason = str(codes["evaluation"])
    # (the history is sorted by month: its first rows, not a copy). The training rows are handed over to the fit
    # (no reference kept here), which frees them, and with them the whole history (the rows still used, test and
    # current, are copies), once its design is built: not held beside the design through the fits (issue 21)
    rows = [training_rows(frame, closed)]
    n_train, events = len(rows[0]), int(rows[0][OUTCOME].sum())
    del frame
    try:
        model = fit_model(rows.pop(), C=C, attributes=inputs, outcome=OUTCOME, alpha=alpha)
        current["p_expand"] = model.predict(current)
        fit_reason = None
    except TooLittleHistory as exc:
        model, fit_reason = None, str(exc)
        codes["fit"] = exc
        current["p_expand"] = np.nan
    return Expansion(scoring_month=T, scoring_date=reference_date(T), horizon=horizon, capacity=capacity,
                     capacity_by=capacity_by, n_boot=n_boot, seed=seed, alpha=alpha, current=current, model=model,
                     train_rows=n_train, train_events=events, fit_reason=fit_reason,
                     test_months=test_ms, evaluations=evaluations, test=test, eval_model=eval_model, reason=reason,
                     differences=differences, ceiling_reason=ceiling_reason, codes=codes)


def term_separation(result: Expansion) -> bool:
    """True when the inputs that separate the outcome in the importance table are the billing-term inputs and none
    of the account-months they pick out expanded: an annual term's seats change at renewal only, so an annual-term
    account-month outside its renewal window never expands and the two inputs' unpenalised odds ratios have no
    finite value (:func:`csanalysis.health.importance_table`). The report says why in words."""
    sep = result.model.separation if result.model is not None else None
    return bool(sep and sep["rows"] and sep["events"] == 0 and set(sep["inputs"]) <= set(EXTRA_INPUTS))


# ---------------------------------------------------------------------------- the candidates


def _reason(signal: str, rec: dict, tr: Callable, own: Callable) -> str:
    if signal == "renewal_due":
        return own("expansion.reason.renewal_due", days=f"{rec['days_to_renewal']:.0f}")
    return _reason_text(signal, rec, tr)


def candidate_reasons(model: ChurnRiskModel, frame: pd.DataFrame, *, k: int = 3, translate: Callable | None = None,
                      min_contribution: float = 0.05) -> list[str]:
    """For each row, the ``k`` signals that raise its expansion probability most (positive contributions to the
    log-odds against an average account, the inputs of one signal added up, the touch model and the billing term
    left out), in words
    joined by '; ' (the churn-risk list's reasons, :func:`csanalysis.health.model_reasons`, for this score)."""
    own = translate or (lambda key, **v: REASON_TEMPLATES[key].format(**v))
    # monthly billing (annual_term low) is what most candidates share: it tells the team nothing about the account
    return model_reasons(model, frame, k=k, translate=translate, min_contribution=min_contribution,
                         leave_out=("annual_term",), own_signals=tuple(EXTRA_INPUTS),
                         text=lambda signal, rec, tr: _reason(signal, rec, tr, own))


def upsell_candidates(result: Expansion, *, capacity: int | None = None, capacity_by: str | None = None,
                      pseudonymise: bool = False, translate: Callable | None = None,
                      k_reasons: int = 3) -> pd.DataFrame:
    """Every paying account at the scoring date ranked by expansion probability, in the layout of
    :data:`CANDIDATE_COLUMNS`; ``on_list`` marks the top ``capacity`` of each touch model (``capacity_by``, as the
    churn-risk list), which get their reasons. ``pseudonymise`` replaces account ids by keyed pseudonyms. Empty
    (same columns) when no probability could be estimated (``result.fit_reason``)."""
    if result.model is None:
        return pd.DataFrame(columns=list(CANDIDATE_COLUMNS))
    cur = result.current
    df = pd.DataFrame({
        "scoring_date": result.scoring_date.date(),
        "touch_model": cur["touch_model"].fillna("unknown") if "touch_model" in cur else "unknown",
        "customer_id": cur["customer_id"].astype(str),
        "csm_owner": cur["csm_owner"] if "csm_owner" in cur else None,
        "expansion_probability": cur["p_expand"].to_numpy(),
        "horizon_months": result.horizon,
        "plan": cur["plan"] if "plan" in cur else None,
        "seats": cur["seats"], "active_users": cur["active_users"], "utilisation": cur["utilisation"].round(3),
        "mrr": cur["mrr"], "arr": 12 * cur["mrr"],
        "renewal_date": pd.to_datetime(cur["renewal_date"]).dt.date,
    })
    df, cur = rank_within_capacity(df, cur, ["expansion_probability", "arr", "customer_id"], [False, False, True],
                                   result.capacity if capacity is None else capacity,
                                   result.capacity_by if capacity_by is None else capacity_by)
    listed = df["on_list"].to_numpy() == 1
    reasons = np.full(len(df), "", dtype=object)
    if listed.any():
        reasons[listed] = candidate_reasons(result.model, cur[listed], k=k_reasons, translate=translate)
    df["reasons"] = reasons
    if pseudonymise:
        from ..data.pseudonym import pseudonymise_ids

        df["customer_id"] = pseudonymise_ids(df["customer_id"].to_numpy())
    return df[list(CANDIDATE_COLUMNS)]


def candidate_layout(translate: Callable | None = None) -> pd.DataFrame:
    """The CSV layout of the candidates: column name and meaning (``expansion.layout.<column>`` translated)."""
    return pd.DataFrame({"column": list(CANDIDATE_COLUMNS),
                         "meaning": [translate(f"expansion.layout.{c}") if translate else d
                                     for c, d in CANDIDATE_COLUMNS.items()]})


def team_candidates(candidates: pd.DataFrame, teams=TOUCH_MODELS) -> dict[str, pd.DataFrame]:
    """One list per touch model: the accounts within capacity, in rank order."""
    on = candidates[candidates["on_list"] == 1]
    found = [t for t in teams if t in set(on["touch_model"])] + sorted(set(on["touch_model"]) - set(teams))
    return {t: on[on["touch_model"] == t].reset_index(drop=True) for t in found}
