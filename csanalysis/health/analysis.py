"""The whole churn-risk analysis: both scores at the scoring date, judged on the future (:func:`churn_risk`).

Every account paying at the scoring date is scored by the weighted scorecard (calibrated to a probability) and
by the data-driven model, both fitted on every outcome window closed by then. To judge them, the last scoring
months whose windows closed are scored by the same recipe fitted only on earlier closed windows (a time split),
and on demo data the generator's true churn probabilities give the ceiling. :class:`ChurnRisk` holds the lot.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from .. import grouped
from ..data import Dataset
from ..estimate import Estimate
from ..periods import month_label
from ..result import TableSummary
from .capacity import capacity_groups
from .ceiling import true_probability
from .evaluation import _Boot, auc_difference, evaluate_score, gains_curve, rates_by
from .model import ChurnRiskModel, _model_attributes, default_attributes, fit_model, training_rows
from .outcomes import TooLittleHistory, outcomes
from .scorecard import CalibratedScorecard, Scorecard, calibrate_scorecard
from .signals import reference_date, scoring_month, signals, signals_by_part

__all__ = ["ChurnRisk", "JudgedScore", "churn_risk", "PART_CUSTOMERS"]

# Customers whose signals are read at a time when a sample is fitted (large data): the sample's history and every
# paying account's signals at the scoring month. At a million customers a part of 250,000 took about 3 GB while its
# signals were read (the usage rows' running maximum, the account-month grids); the rows are the same in any parts.
PART_CUSTOMERS = 100_000


class JudgedScore:
    """What a score judged on the future shows, shared by the churn-risk result (:class:`ChurnRisk`) and the
    expansion propensity (:class:`csanalysis.lifecycle.expansion.Expansion`): both hold ``evaluations`` (name →
    :class:`~csanalysis.health.Evaluation`), ``scoring_month``, ``test_months``, ``model`` and ``eval_model``,
    ``reason``/``fit_reason`` and their ``codes``; ``WHY`` is the catalogue prefix of their translated reasons."""

    WHY = "health.why"

    def why(self, what: str, translate: Callable | None = None) -> str | None:
        """Why the evaluation (``what="evaluation"``) or the fit at the scoring date (``"fit"``) was not done, in
        the report's language when ``translate`` is given (``<WHY>.<code>``), else in English."""
        text = self.reason if what == "evaluation" else self.fit_reason
        exc = self.codes.get(what)
        if text is None or translate is None or exc is None:
            return text
        return translate(f"{self.WHY}.{exc.code}", **exc.values)

    @property
    def evaluated(self) -> bool:
        return bool(self.evaluations)

    @property
    def summary(self) -> pd.DataFrame:
        """One row per score: AUC, top-decile lift and capture, precision at capacity (with 95% intervals), Brier."""
        return pd.DataFrame([e.row() for e in self.evaluations.values()])

    def conf_int(self) -> pd.DataFrame:
        """The (1 − ``alpha``) bootstrap intervals (``lower``, ``upper``) of each evaluated score's measures
        (:meth:`Evaluation.conf_int`), one row per score and measure; no rows when nothing was evaluated."""
        parts = {name: e.conf_int() for name, e in self.evaluations.items()}
        if not parts:
            return pd.DataFrame({"lower": [], "upper": []},
                                index=pd.MultiIndex.from_arrays([[], []], names=["score", "measure"]))
        return pd.concat(parts, names=["score", "measure"])

    def months(self) -> dict:
        """Scoring months as YYYY-MM: test window, the evaluated models' training window and the current one's."""
        lab = lambda m: None if m is None else month_label(m)  # noqa: E731
        out = {"scoring": lab(self.scoring_month),
               "current_train": [lab(m) for m in self.model.train_months] if self.model is not None else None}
        if self.test_months:
            out["test"] = [lab(self.test_months[0]), lab(self.test_months[-1])]
        if self.eval_model is not None:
            out["eval_train"] = [lab(m) for m in self.eval_model.train_months]
        return out


@dataclass(eq=False, repr=False)
class SignalHistory:
    """The rows :func:`churn_risk` read for its scoring month ``T``: the signals of every account paying in each
    scoring month ``first`` … ``T`` (no sample drawn), sorted by month, with their outcomes (``churned`` and
    ``closed`` for ``horizon``) and ``points`` (the scorecard's). Each row reads data up to the end of its own month
    only, so the rows up to an earlier month are the rows a call at that month reads: the report's later sections
    take them from here instead of reading the data again (:func:`csanalysis.health.trend.health_trend`: the
    previous month's list, the band history and the previous month's signals)."""

    ds: Dataset
    frame: pd.DataFrame
    points: np.ndarray
    T: int
    first: int
    attributes: tuple
    horizon: int
    scorecard: Scorecard

    def rows(self, ds: Dataset, T: int, *, scorecard: Scorecard, attributes: tuple | None = None,
             horizon: int | None = None) -> tuple[pd.DataFrame, np.ndarray] | None:
        """The rows of scoring months ``first`` … ``T`` and their points when they are the ones a call with these
        settings reads (the same Dataset and scorecard, ``T`` ≤ this ``T``, and the same attributes and horizon
        when given); None otherwise."""
        if (ds is not self.ds or scorecard is not self.scorecard or not self.first <= T <= self.T
                or (attributes is not None and tuple(attributes) != self.attributes)
                or (horizon is not None and horizon != self.horizon)):
            return None
        n = int(np.searchsorted(self.frame["m"].to_numpy(), T, side="right"))
        return self.frame.iloc[:n], self.points[:n]


@dataclass(kw_only=True)
class ChurnRisk(JudgedScore, TableSummary):
    """Everything the churn-risk report shows (see :func:`churn_risk`); built by keyword.

    The scores at the scoring date (fitted on every outcome window closed by then): ``current`` (signals, points,
    band and both probabilities of each paying account), ``scorecard`` (the scorecard itself, also when it could
    not be calibrated), ``calibrated_scorecard`` (its points mapped to probabilities) and ``model`` (both None
    when the history holds too few closed outcome windows: see ``fit_reason``). The judgement on the future: the
    ``test`` rows of ``test_months`` scored by ``eval_model`` and a scorecard calibrated before ``split_month``,
    their ``evaluations`` and AUC ``differences`` (or ``reason`` why there are none). :attr:`summary` is one row
    per score (:meth:`print_summary`, ``_repr_html_``), :meth:`conf_int` its intervals; :meth:`metrics` the
    numbers of ``metrics.json``.
    """

    # the question and its settings
    scoring_month: int
    scoring_date: pd.Timestamp
    horizon: int
    capacity: int
    capacity_by: str
    n_boot: int = 500
    seed: int = 0
    alpha: float = 0.05
    # the scores at the scoring date
    current: pd.DataFrame  # signals and both scores at the scoring date
    scorecard: Scorecard  # the scorecard itself (also when it could not be calibrated)
    calibrated_scorecard: CalibratedScorecard | None  # None when the history is too short (see fit_reason)
    model: ChurnRiskModel | None  # None when the history holds too few closed outcome windows (see fit_reason)
    train_rows: int = 0
    train_events: int = 0
    fit_reason: str | None = None  # why no probability could be estimated at the scoring date
    # the seeded engine sample of whole customers the fits and the evaluation read (grouped.model_dataset's
    # description: fraction, seed, drawn, customers, rule), None when they read every customer
    sample: dict | None = None
    # judged on the future
    test_months: list
    split_month: int | None
    evaluations: dict  # name → Evaluation (scorecard, model, ceiling when known)
    test: pd.DataFrame | None = field(repr=False, default=None)
    eval_model: ChurnRiskModel | None = field(repr=False, default=None)
    reason: str | None = None  # why the evaluation could not be done
    differences: dict = field(default_factory=dict)
    ceiling_coverage: float | None = None
    ceiling_reason: str | None = None  # why there is no ceiling
    codes: dict = field(default_factory=dict)  # "evaluation" / "fit" → TooLittleHistory (for translated reasons)
    # the rows read, kept for the report's health over time (keep_history; health_trend releases it)
    history: SignalHistory | None = field(repr=False, default=None)
    # the Dataset the fits read (ds, or the sample) and the part size of the scoring: the previous month's list
    # of the health over time is made the same way
    model_ds: Dataset | None = field(repr=False, default=None)
    part_customers: int | None = field(repr=False, default=None)

    def rank_score(self, name: str) -> np.ndarray:
        """The ordering each score ranks the test rows by (the scorecard by its points)."""
        if name == "scorecard":
            return -np.nan_to_num(self.test["scorecard_points"].to_numpy(dtype=float), nan=50.0)
        return self.test[{"model": "p_model", "ceiling": "p_true"}[name]].to_numpy(dtype=float)

    def gains(self) -> dict:
        """Cumulative gains curve of each evaluated score on the test rows."""
        y = self.test["churned"].to_numpy()
        return {name: gains_curve(self.rank_score(name), y) for name in self.evaluations}

    def capacity_share(self) -> float:
        """Share of the accounts scored at a test date that the teams' capacity covers (mean over the dates)."""
        groups = ["m", *capacity_groups(self.test, self.capacity_by)]
        per = self.test.groupby(groups).size()
        chosen = np.minimum(per, self.capacity).groupby(level="m").sum()
        return float((chosen / self.test.groupby("m").size()).mean())

    def band_rates(self) -> pd.DataFrame:
        """Observed churn by scorecard band on the test rows, with cluster-bootstrap intervals."""
        band = self.scorecard.band(self.test["scorecard_points"].to_numpy(dtype=float))
        return rates_by(self.test.assign(band=band), "band", n_boot=self.n_boot, seed=self.seed, alpha=self.alpha,
                        order=["good", "average", "poor"])

    def metrics(self, lst: pd.DataFrame | None = None, follow: dict | None = None) -> dict:
        """The numbers of ``metrics.json`` (every estimate with its interval, or null with a reason)."""
        why = self.reason or "not evaluated"
        null = lambda r: Estimate.missing(r).to_dict(details=())  # noqa: E731
        scores = {}
        for name in ("scorecard", "model", "ceiling"):
            e = self.evaluations.get(name)
            r = why if name != "ceiling" or self.reason else (self.ceiling_reason or why)
            scores[name] = e.to_dict() if e is not None else {
                k: null(r) for k in ("auc", "lift_top_decile", "capture_top_decile", "precision_at_capacity")}
        out = {
            "scoring_date": self.scoring_date, "horizon_months": self.horizon, "capacity": self.capacity,
            "capacity_by": self.capacity_by, "evaluated": self.evaluated, "reason": self.reason,
            "months": self.months(),
            "auc": {k: v["auc"] for k, v in scores.items()},
            "lift_top_decile": {k: v["lift_top_decile"] for k, v in scores.items()},
            "capture_top_decile": {k: v["capture_top_decile"] for k, v in scores.items()},
            "precision_at_capacity": {k: v["precision_at_capacity"] for k, v in scores.items()},
            "auc_gap_to_ceiling": {k: self.differences.get(k, null(self.ceiling_reason or why))
                                   for k in ("scorecard", "model")},
            "auc_model_minus_scorecard": self.differences.get("model_vs_scorecard", null(why)),
            "evaluation": {k: {kk: vv for kk, vv in v.items() if kk not in
                               ("auc", "lift_top_decile", "capture_top_decile", "precision_at_capacity")}
                           for k, v in scores.items() if k in self.evaluations},
            "calibration": {k: e.calibration.to_dict(orient="records") for k, e in self.evaluations.items()},
            "importance": (self.model.importance.drop(columns=["strength"]).to_dict(orient="records")
                           if self.model is not None and self.model.importance is not None else []),
            "probabilities": self.fit_reason is None, "fit_reason": self.fit_reason,
            "current_training": {"rows": self.train_rows, "churned": self.train_events},
            "accounts_scored": int(len(self.current)),
            "model_sample": self.sample,
        }
        if lst is not None:
            on = lst["on_list"] == 1
            new = lst.loc[on, "new_on_list"]
            out["list"] = {"size": int(on.sum()), "mrr": float(lst.loc[on, "mrr"].sum()),
                           "arr": float(lst.loc[on, "arr"].sum()),
                           "expected_arr_loss": (float(lst.loc[on, "arr_at_risk"].sum()) if self.fit_reason is None
                                                 else None),
                           "new_on_list": None if new.isna().all() else int(new.fillna(0).sum()),
                           "by_team": {str(t): int(n) for t, n in lst.loc[on, "touch_model"].value_counts().items()}}
        out["follow_up"] = follow
        return out


def churn_risk(ds: Dataset, *, scoring_date=None, horizon: int = 3, capacity: int = 20, capacity_by: str = "team",
               scorecard=None,
               calibration: str = "logistic", test_months: int = 6, C: float = 0.05, attributes=None,
               true_prob: pd.DataFrame | None = None, n_boot: int = 500, seed: int = 0,
               alpha: float = 0.05, model_ds: Dataset | None = None, part_customers: int = PART_CUSTOMERS,
               importance: bool = True, keep_history: bool | None = None,
               history: SignalHistory | None = None) -> ChurnRisk:
    """Score every account paying at the scoring date with both scores, and judge both on the future.

    Evaluation (a time split): the last ``test_months`` scoring months whose ``horizon``-month outcome windows
    closed by the scoring date are scored by models fitted only on scoring months whose windows closed before
    the first of them; AUC, lift, capture, precision at ``capacity`` (per ``capacity_by``, see :func:`risk_list`)
    and calibration with cluster-bootstrap
    intervals. ``true_prob`` (demo data: :func:`load_true_probabilities`) adds the ceiling. The scores at the
    scoring date come from models refitted on every window closed by then.

    At large N (the reports' one size policy, :func:`csanalysis.grouped.model_dataset`): the fits and the
    evaluation read ``model_ds``, above :data:`~csanalysis.grouped.MODEL_CUSTOMERS` customers a seeded sample of
    whole customers drawn in the engine (independently of churn, so unweighted); ``ChurnRisk.sample`` states it.
    Every account paying at the scoring date is still scored, from the signals of the scoring month alone, read
    ``part_customers`` customers at a time (:func:`~csanalysis.health.signals_by_part`), not from the history.

    ``attributes``: the customer attributes the model takes beside its signals (None: :func:`default_attributes`,
    the export's own attributes included).

    Parameters
    ----------
    ds : Dataset
        The loaded data.
    scoring_date : date-like, optional
        The date the accounts are scored at (None: the as_of month's, :func:`scoring_month`).
    horizon : int
        The outcome window in months (churn within it).
    capacity : int
        Accounts each ``capacity_by`` group can work (the precision at capacity and the list).
    capacity_by : {"team", "csm", "total"}
        Whose capacity.
    scorecard : Scorecard, path or None
        The weighted scorecard (None: the default one).
    calibration : {"logistic", "isotonic"}
        How the scorecard's points become probabilities.
    test_months : int
        Scoring months of the time split that judge the scores (0: no evaluation).
    C : float
        Inverse strength of the data-driven model's L2 penalty.
    attributes : sequence of str, optional
        Customer attributes the model takes beside its signals.
    true_prob : DataFrame, optional
        The generator's true churn probabilities (demo data): adds the ceiling.
    n_boot : int
        Cluster-bootstrap replicates of the evaluation's intervals.
    seed : int
        Seed of the bootstrap and of the sampling rule.
    alpha : float
        1 − the intervals' confidence level.
    model_ds : Dataset, optional
        What the fits and the evaluation read: ``ds`` itself or a sample of its customers
        (:func:`csanalysis.grouped.model_dataset`; None: ``model_dataset(ds, seed=seed)``).
    part_customers : int
        With a sample: customers read at a time (:data:`PART_CUSTOMERS`) when the sample's history is read and when
        every paying account is scored.
    importance : bool
        Compute the model's importance table (``model.importance``: odds ratios with cluster-robust intervals, an
        unpenalised fit on every training row, most of the analysis's time at 100k customers); False for a caller
        that shows the scores only (the renewal calendar of notebook 07): the scores are the same.
    keep_history : bool, optional
        Keep the rows read on the result (``ChurnRisk.history``, :class:`SignalHistory`; only when no sample was
        drawn), for :func:`csanalysis.health.trend.health_trend` to read the previous month's list, the band
        history and the previous signals from instead of the data. None: with ``importance`` (the full report;
        a caller that shows the scores only shows no health over time and does not hold the rows).
    history : SignalHistory, optional
        The rows of a call at a later scoring month of the same Dataset (its ``ChurnRisk.history``): used instead
        of reading the signals again when they are the rows this call reads (:meth:`SignalHistory.rows`; the same
        numbers either way).

    Returns
    -------
    ChurnRisk
        The scores at the scoring date and their judgement on the future.
    """
    sc = scorecard if isinstance(scorecard, Scorecard) else Scorecard.from_yaml(scorecard)
    if capacity < 0:
        raise ValueError(f"capacity={capacity}: must be ≥ 0")
    T = scoring_month(ds, scoring_date)
    first = ds.data_start_m + 2  # two months of usage history for the trend
    g = ds.settings.grace_months
    last_closed = ds.last_closed_month(horizon, g, by=T)
    months = np.arange(first, T + 1)
    if model_ds is None:
        model_ds = grouped.model_dataset(ds, seed=seed)
    # with a sample (large data), the history the fits and the evaluation read is the sample's, up to the last month
    # whose window closed by T, and every account paying in T is scored from T's signals alone, a part at a time
    sampled = model_ds is not ds and last_closed >= first
    # the sample's pandas tables are read on a copy of it, released once its rows are read (not held through the
    # fits; a later call reads them again); the attributes fitted are those the fitted customers vary in
    fit_ds = copy.copy(model_ds) if sampled else ds
    attributes = _model_attributes(fit_ds, default_attributes(ds) if attributes is None else attributes)
    kept = (history.rows(ds, T, scorecard=sc, attributes=attributes, horizon=horizon)
            if history is not None and not sampled else None)
    if kept is not None:
        frame, points = kept
    else:
        if sampled:
            frame = outcomes(fit_ds, signals_by_part(fit_ds, np.arange(first, last_closed + 1), attributes=attributes,
                                                     part_customers=part_customers), horizon)
            fit_ds = None
        else:
            frame = outcomes(ds, signals(ds, months if len(months) else [T], attributes=attributes), horizon)
        # scorecard points are a function of each row alone: computed once for every row, then sliced (the
        # training, test and current rows overlap and each was scored two or three times)
        points = sc.points(frame)
    # outcome windows closed by the scoring date (not by as_of): nothing after T is used
    closed = ds.window_closed(frame["m"].to_numpy(), horizon, g, by=T)
    if sampled:
        current = current_points = None  # read after the fits (not held through them)
    else:
        is_current = frame["m"].to_numpy() == T
        current = frame[is_current].drop(columns=["churned", "closed"]).reset_index(drop=True)
        current_points = points[is_current]
    if keep_history is None:
        keep_history = importance
    held = (SignalHistory(ds, frame, points, T, first, attributes, horizon, sc)
            if keep_history and not sampled and len(months) else None)

    lo = max(last_closed - test_months + 1, first + horizon + g + 2)  # at least three training months before it
    test_ms = list(range(lo, last_closed + 1))
    split = min(test_ms) if test_ms else None
    evaluations, differences, reason, test, eval_model, coverage = {}, {}, None, None, None, None
    codes: dict = {}
    ceiling_reason = None if true_prob is not None else "no true churn probabilities (real data)"
    if split is not None:
        in_train = closed & ds.window_closed(frame["m"].to_numpy(), horizon, g, by=split)
        in_test = frame["m"].isin(test_ms).to_numpy()
        train = training_rows(frame, in_train)
        try:
            eval_model = fit_model(train, C=C, attributes=attributes, importance=False)
            eval_card = calibrate_scorecard(sc, train, method=calibration, points=points[in_train])
        except TooLittleHistory as exc:
            reason, codes["evaluation"] = str(exc), exc
        del train  # most of the history's rows (a copy unless they come first), not needed past the fits (the final fit copies train_all)
        # a copy (not a view of the history's arrays, which it would keep alive): the history's rows are freed
        # during the final fit, and the report holds the test rows alone; made after the fits above, so not held
        # beside their design (issue 21)
        test = frame[in_test].reset_index(drop=True)
        if reason is None and (test["churned"].sum() == 0):
            codes["evaluation"] = TooLittleHistory("no_churn", "no account churned in the evaluation window")
            reason = str(codes["evaluation"])
        if reason is None:
            W = _Boot.draw(test["customer_id"].to_numpy(), n_boot, seed)  # shared: paired differences
            kw = dict(capacity=capacity, capacity_by=capacity_by, n_boot=n_boot, seed=seed, alpha=alpha, weights=W)
            test["p_scorecard"] = eval_card.predict(test, points[in_test])
            test["scorecard_points"] = points[in_test]
            test["p_model"] = eval_model.predict(test)
            evaluations["scorecard"] = evaluate_score("scorecard", test["p_scorecard"].to_numpy(), test,
                                                      rank_score=-np.nan_to_num(test["scorecard_points"].to_numpy(), nan=50.0), **kw)
            evaluations["model"] = evaluate_score("model", test["p_model"].to_numpy(), test, **kw)
            if true_prob is not None:
                tp = true_probability(test, true_prob, horizon, pseudonymised=ds.pseudonymised)
                coverage = float(np.isfinite(tp).mean())
                if coverage == 1.0:
                    test["p_true"] = tp
                    evaluations["ceiling"] = evaluate_score("ceiling", tp, test, **kw)
                    for k in ("scorecard", "model"):
                        differences[k] = auc_difference(evaluations[k], evaluations["ceiling"], alpha)
                else:
                    ceiling_reason = (f"the true probabilities cover {coverage:.1%} of the evaluated account-months "
                                      "(not the same data)")
            differences["model_vs_scorecard"] = auc_difference(evaluations["model"], evaluations["scorecard"], alpha)
            # the replicates (replicates × the test's accounts, 0.4 GB at 1M customers) are not held through the final
            # fit: the evaluations keep their own results (issue 21)
            del W, kw
    else:
        codes["evaluation"] = TooLittleHistory(
            "too_short", f"no scoring month has a closed {horizon}-month outcome window before "
            f"{reference_date(T).date()}: the data are too short to judge the scores", h=horizon,
            date=str(reference_date(T).date()))
        reason = str(codes["evaluation"])
    # a sample's history holds closed rows only: its training rows are the frame itself (training_rows: no copy)
    train_all, train_points = (training_rows(frame, closed), points[closed]) if sampled else (frame[closed], points[closed])
    n_train, events_train = len(train_all), int(train_all["churned"].sum())
    # the whole history is not needed past here (the rows still used are copies: train_all, test, current; with a
    # sample, whose rows are all closed, train_all is the history itself, freed in the final fit): it
    # would raise the peak memory of the final fit and prediction, unless kept for the report (keep_history;
    # fit_model then holds one design array fewer at its peak than it did)
    del frame, points
    # the training rows are handed over to the model's fit (no reference kept here), which frees them once its
    # design is built: with a sample the whole history (nothing else holds it now), without one the copy of its
    # closed rows; not held beside the design's copies through the fits (issue 21). The scorecard is calibrated
    # first (the same checks of the rows, the same numbers in either order).
    rows = [train_all]
    del train_all
    try:
        card = calibrate_scorecard(sc, rows[0], method=calibration, points=train_points)
        model = fit_model(rows.pop(), C=C, attributes=attributes, importance=importance)
        fit_reason = None
    except TooLittleHistory as exc:  # too little closed history: the accounts are ranked by scorecard points alone
        model, card, fit_reason = None, None, str(exc)
        codes["fit"] = exc
    del rows, train_points  # nor the training rows past the fits
    if sampled:  # every account paying in T, from T's signals alone, a part of the customers at a time
        current = signals_by_part(ds, [T], attributes=attributes, part_customers=part_customers)
        current_points = sc.points(current)
    current["scorecard_points"] = current_points
    current["scorecard_band"] = sc.band(current["scorecard_points"])
    if model is not None:
        current["p_scorecard"] = card.predict(current, current["scorecard_points"].to_numpy())
        current["p_model"] = model.predict(current)
    else:
        current["p_scorecard"] = np.nan
        current["p_model"] = np.nan
    return ChurnRisk(scoring_month=T, scoring_date=reference_date(T), horizon=horizon, capacity=capacity,
                     capacity_by=capacity_by, n_boot=n_boot, seed=seed, alpha=alpha,
                     current=current, scorecard=sc, calibrated_scorecard=card, model=model, train_rows=n_train,
                     train_events=events_train, fit_reason=fit_reason,
                     test_months=test_ms, split_month=split, evaluations=evaluations, test=test, eval_model=eval_model,
                     reason=reason, differences=differences, ceiling_coverage=coverage, ceiling_reason=ceiling_reason,
                     codes=codes, history=held, sample=model_ds.sample if sampled else None, model_ds=model_ds,
                     part_customers=part_customers)

