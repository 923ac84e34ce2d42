"""The data-driven score: an L2-regularised logistic regression on the signals, with the inputs' importance.

:func:`design` turns the signals into model inputs (transformed numerics, missing-value indicators, the
customer attributes); :func:`fit_model` fits a :class:`ChurnRiskModel` (scikit-learn) on past scoring dates whose
outcome windows closed before the date it scores, and :func:`importance_table` reports each input's odds ratio
per standard deviation from an unpenalised fit with errors clustered by account (statsmodels).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data import Dataset
from ..data import attributes as attrs_
from ..result import TableSummary
from .outcomes import _need_training
from .signals import ATTRIBUTES

__all__ = ["design", "ChurnRiskModel", "fit_model", "importance_table", "default_attributes"]


def design(frame: pd.DataFrame, attributes=ATTRIBUTES) -> pd.DataFrame:
    """Model inputs from the signals: transformed numerics, missing-value indicators and the ``attributes``: a
    categorical one (text) one-hot against its first level, a numeric one on its own scale with missing values 0
    and an indicator ``<name> missing`` (when any is missing).

    The columns are written one at a time into one inputs × rows block, the frame's own (pandas keeps a float
    frame as one such block): a dict of the columns made a frame would hold them twice at once, the peak of a fit
    on a large history (issue 21). The block has a row for every column there can be (each categorical
    attribute's values); the rows not written are never touched, so hold no memory."""
    n = len(frame)
    bound = _FIXED_INPUTS + sum(2 if pd.api.types.is_numeric_dtype(frame[a]) else frame[a].nunique(dropna=True)
                                for a in attributes if a in frame.columns)
    block = np.empty((bound, n))
    names = []
    for name, values in _inputs(frame, attributes):
        block[len(names)] = np.asarray(values, dtype=float)
        names.append(name)
    return pd.DataFrame(block[:len(names)].T, columns=names, index=frame.index, copy=False)


_FIXED_INPUTS = 16  # the inputs of the signals themselves (_inputs), before the attributes'


def _inputs(frame: pd.DataFrame, attributes):
    """:func:`design`'s columns, (name, values) one at a time, in order."""
    yield "log_days_since_login", np.log1p(frame["days_since_login"].clip(lower=0))
    yield "utilisation", frame["utilisation"].fillna(0).clip(upper=2)
    yield "features_used", frame["features_used"].fillna(0)
    yield "log_logins_per_seat", np.log1p(frame["logins"].fillna(0) / frame["seats"].where(frame["seats"] > 0, 1).fillna(1))
    trend = frame["usage_trend"]
    yield "log_usage_trend", np.log(trend.clip(lower=0.05, upper=20)).fillna(0)
    yield "usage_trend_unknown", trend.isna().astype(float)
    yield "falling_usage", frame["falling_usage"].astype(float)
    yield "failed_payment", (frame["failed_payments"] > 0).astype(float)
    # categories compared as codes (one hash of the strings, not one string comparison per row and category)
    codes, values = pd.factorize(frame["nps_category"].astype(str))
    for c in ("detractor", "passive", "none"):
        yield f"nps_{c}", (codes == values.get_loc(c)).astype(float) if c in values else np.zeros(len(frame))
    yield "log_cs_contacts", np.log1p(frame["cs_contacts"].fillna(0))
    yield "log_tenure", np.log1p(frame["tenure_months"])
    yield "log_mrr", np.log(frame["mrr"].clip(lower=1))
    yield "log2_seats", np.log2(frame["seats"].clip(lower=1)).fillna(0)
    yield "months_to_renewal", (frame["days_to_renewal"] / 30.44).clip(-1, 13).fillna(13)
    for a in attributes:
        if a in frame.columns and pd.api.types.is_numeric_dtype(frame[a]):
            yield a, frame[a].fillna(0)
            if frame[a].isna().any():
                yield f"{a} missing", frame[a].isna().astype(float)
        elif a in frame.columns:
            codes, values = pd.factorize(frame[a].astype(str))  # missing values become "nan", never a level
            levels = sorted(frame[a].dropna().astype(str).unique())
            for lv in levels[1:] if len(levels) > 1 else []:
                yield f"{a}={lv}", (codes == values.get_loc(lv)).astype(float)


@dataclass(kw_only=True)
class ChurnRiskModel(TableSummary):
    """L2-regularised logistic regression on standardised signals (scikit-learn), fitted on past scoring dates;
    built by keyword. :attr:`summary` is the inputs' importance (:func:`importance_table`), :meth:`conf_int` its
    intervals."""

    features: list[str]
    mean_: np.ndarray
    scale_: np.ndarray
    coef_: np.ndarray
    intercept_: float
    C: float
    attributes: tuple
    n_train: int
    events_train: int
    train_months: tuple
    importance: pd.DataFrame | None = None
    separation: dict | None = None  # the rows the importance fit found predicted perfectly (importance_table)

    @property
    def summary(self) -> pd.DataFrame:
        """The inputs ranked by strength: penalised coefficient and odds ratio per standard deviation, and the
        unpenalised odds ratio with its cluster-robust interval, or why it has none (``glm_reason``:
        :func:`importance_table`; no rows when fitted without ``importance``)."""
        if self.importance is None:
            return pd.DataFrame(columns=["rank", "input", "coef_per_sd", "or_per_sd", "glm_or_per_sd", "lower",
                                         "upper", "glm_reason"])
        return self.importance.drop(columns=["strength"])

    def conf_int(self) -> pd.DataFrame:
        """The intervals (``lower``, ``upper``) of the unpenalised odds ratios per standard deviation, by input."""
        return self.summary.set_index("input")[["lower", "upper"]]

    def _X(self, frame: pd.DataFrame) -> np.ndarray:
        X = design(frame, self.attributes).reindex(columns=self.features, fill_value=0.0).to_numpy()
        if not X.flags.writeable:
            X = X.copy()
        # standardised in place (the same operations as (X − mean) / scale, without two more rows × inputs copies)
        X -= self.mean_
        X /= self.scale_
        return X

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        eta = self._X(frame) @ self.coef_ + self.intercept_
        return 1.0 / (1.0 + np.exp(-eta))

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Each input's contribution to the log-odds against an average account (coefficient × standardised value)."""
        return pd.DataFrame(self._X(frame) * self.coef_, columns=self.features, index=frame.index)


def training_rows(frame: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """``frame[mask]`` without copying when the rows picked are the first ones (a signal history is sorted by month
    and a window closed by a month is closed for every earlier month): a slice of the frame's arrays, the same rows,
    index and values; a copy otherwise. For reading only (the rows of a fit): at 100k customers a copy of the
    training rows is ~0.8 of the whole history, held beside it while the model is fitted (issue 21)."""
    n = int(mask.sum())
    if mask[:n].all():
        return frame.iloc[:n]
    return frame[mask]


def fit_model(train: pd.DataFrame, *, C: float = 0.05, attributes=ATTRIBUTES, importance: bool = True,
              alpha: float = 0.05, outcome: str = "churned") -> ChurnRiskModel:
    """Fit the data-driven score on past rows (``churned``, or the 0/1 column ``outcome``: the same machinery
    scores another outcome, e.g. the expansion propensity of csanalysis/lifecycle/expansion.py). ``importance`` adds, per standardised input, the
    odds ratio per standard deviation from an unpenalised logistic fit of the same design with errors clustered
    by account (statsmodels), with its interval — an association holding the other signals fixed.

    Parameters
    ----------
    train : DataFrame
        Past rows of closed windows: the signals, the ``attributes`` and ``churned``.
    C : float
        Inverse strength of the L2 penalty of the logistic regression.
    attributes : sequence of str
        The customer attributes beside the signals.
    importance : bool
        Also compute the importance table (odds ratios per standard deviation with intervals).
    alpha : float
        1 − the importance intervals' confidence level.
    outcome : str
        The 0/1 column of ``train`` the score predicts.

    Returns
    -------
    ChurnRiskModel
        The fitted score (its inputs, coefficients, training months and, with ``importance``, the table).
    """
    from sklearn.linear_model import LogisticRegression

    _need_training(train, outcome)
    # the inputs' mean and scale, a column at a time (each column reduced alone: the numbers of X.mean() and
    # X.std(ddof=0) of design(train)), then Z written column by column into the one rows × inputs array the fits
    # read: the design itself is never held whole beside Z (two rows × inputs arrays at once, the peak of this fit
    # on a large history, issue 21); the columns are made twice (cheap beside the fits)
    names, means, sds = [], [], []
    for name, values in _inputs(train, attributes):
        col = pd.Series(np.asarray(values, dtype=float))
        names.append(name)
        means.append(col.mean())
        sds.append(col.std(ddof=0))
    ok = np.asarray(sds, dtype=float) > 0
    keep = pd.Index(names)[ok]
    mean, scale = np.asarray(means, dtype=float)[ok], np.asarray(sds, dtype=float)[ok]
    n, k = len(train), len(keep)
    # with the importance table, one buffer holds Z (C order, as scikit-learn's fit takes it uncopied) and then, in
    # place, the importance fit's design [1, Z] (_widen): one rows × inputs array instead of two
    buffer = np.empty(n * (k + 1) if importance else n * k)
    Z = buffer[:n * k].reshape(n, k)
    j, values, z = 0, None, None
    for (name, values), kept in zip(_inputs(train, attributes), ok):
        if kept:  # (x − mean) / scale: the same operations, element by element, as on the whole design
            z = np.subtract(np.asarray(values, dtype=float), mean[j])
            z /= scale[j]
            Z[:, j] = z
            j += 1
    # what the fits read of the rows besides the design, copied (not views of the rows' arrays): rows handed over by
    # the caller (churn_risk's final fit on a sample) are freed here, before the fits, instead of held beside them
    # (issue 21)
    y = train[outcome].to_numpy().copy()
    groups = train["customer_id"].to_numpy().copy() if importance else None
    n_train, train_months = len(train), (int(train["m"].min()), int(train["m"].max()))
    del train, values, z
    lr = LogisticRegression(C=C, max_iter=2000).fit(Z, y)
    model = ChurnRiskModel(features=list(keep), mean_=mean, scale_=scale, coef_=lr.coef_[0].copy(),
                           intercept_=float(lr.intercept_[0]), C=C, attributes=tuple(attributes), n_train=n_train,
                           events_train=int(y.sum()), train_months=train_months)
    if importance:
        del Z
        # the design is handed over (no reference kept here): when inputs separate the outcome, _importance fits a
        # reduced design and the full one is freed before the fit instead of held beside it (issue 21)
        held = [_widen(buffer, n, k)]
        del buffer
        model.importance = _importance(held.pop(), y, groups, list(keep), model.coef_,
                                       alpha, start=np.r_[model.intercept_, model.coef_])
        model.separation = model.importance.attrs["separation"]
    return model


def _widen(buffer: np.ndarray, n: int, k: int, rows: int = 65_536) -> np.ndarray:
    """The rows × (k + 1) design [1, Z] written in place over ``buffer``, whose first n·k numbers hold Z (rows × k,
    C order): the last rows first, a part of ``rows`` rows at a time (each part's row i moves from i·k to i·(k + 1),
    never below where it was, so no row still to move is overwritten). The same numbers as a fresh
    ``np.hstack([1, Z])``, without a second rows × inputs array."""
    D = buffer[:n * (k + 1)].reshape(n, k + 1)
    for b in range(n, 0, -rows):
        a = max(b - rows, 0)
        part = buffer[a * k:b * k].reshape(b - a, k).copy()
        D[a:b, 1:] = part
        D[a:b, 0] = 1.0
    return D


GLM_REASONS = ("separates_outcome", "not_converged", "fit_failed")  # why an input has no unpenalised odds ratio


def importance_table(Z, y, groups, names, coef, alpha: float = 0.05, start=None, *, maxiter: int = 35
                     ) -> pd.DataFrame:
    """The inputs ranked by the strength of their penalised coefficient (``coef``, per standard deviation), with
    the odds ratio per standard deviation of an unpenalised logistic fit of the standardised design ``Z`` on ``y``
    and its 1 − ``alpha`` interval, errors clustered by ``groups`` (accounts).

    Before fitting, the outcome is checked for (quasi-)complete separation (:mod:`csanalysis.stats.separation`):
    when some inputs predict a group of rows perfectly (e.g. no annual-term account-month outside its renewal
    window expands, as seats change at renewal only), their unpenalised odds ratios are 0 or infinite. They are
    reported as not estimable (``glm_reason`` ``"separates_outcome"``, no odds ratio or interval) and the other
    inputs' odds ratios are those of the fit on the rows not separated (the extended maximum likelihood estimate:
    the limit the diverging fit tends to). Without separation the fit is the plain one. A fit that does not
    converge within ``maxiter`` Newton steps, or fails (a singular design), reports every input with
    ``glm_reason`` ``"not_converged"`` or ``"fit_failed"`` and no odds ratio: never a number from a fit that did
    not finish. The penalised columns are always there.

    Parameters
    ----------
    Z : rows × inputs standardised design (no constant column); y : 0/1 outcomes; groups : each row's account;
    names : the inputs' names; coef : the penalised coefficients; alpha : the interval's level.
    start : where the Newton steps begin (intercept, then one coefficient per column of ``Z``), e.g. the
        penalised fit on the same standardised design; the optimum is the same (to Newton's tolerance), reached
        in about half the steps.
    maxiter : Newton steps allowed.

    Returns
    -------
    DataFrame with ``rank``, ``input``, ``coef_per_sd``, ``or_per_sd``, ``glm_or_per_sd``, ``lower``, ``upper``,
    ``glm_reason`` (None, or one of :data:`GLM_REASONS`), ``strength``; ``attrs["separation"]``: the rows
    predicted perfectly and their outcomes (``{"rows": 0, ...}`` without separation).
    """
    # the design is [1, Z] as sm.add_constant builds it, written straight into C order (no Fortran copy)
    X = np.empty((Z.shape[0], Z.shape[1] + 1))
    X[:, 0] = 1.0
    X[:, 1:] = Z
    return _importance(X, y, groups, names, coef, alpha, start, maxiter=maxiter)


def _importance(X, y, groups, names, coef, alpha: float = 0.05, start=None, *, maxiter: int = 35) -> pd.DataFrame:
    """:func:`importance_table` from its design ``X`` = [1, Z] (C order), which :func:`fit_model` writes once."""
    import warnings

    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    from ..stats.separation import estimable_basis, find_separation

    z = _z(alpha)
    p = X.shape[1]
    b, se = np.full(len(names), np.nan), np.full(len(names), np.nan)
    why = np.full(len(names), None, dtype=object)
    sep_info = {"rows": 0, "events": 0, "inputs": []}
    try:
        # the logit likelihood by Newton steps on a C-ordered design: the same estimates and cluster-robust errors as
        # a binomial GLM (equal to 1e-12), faster (statsmodels' GLM multiplies a Fortran-ordered design, slowly).
        sep = find_separation(X, y)
        g = pd.factorize(groups)[0]
        Q = None
        if sep.separated:
            keep = np.flatnonzero(~sep.rows)
            sep_info = {"rows": int(sep.rows.sum()), "events": int(np.asarray(y)[sep.rows].sum()),
                        "inputs": [n for n, inf in zip(names, sep.infinite[1:]) if inf]}
            Q = estimable_basis(sep.directions, p)
            Xr = np.empty((len(keep), Q.shape[1]))
            for a in range(0, len(keep), 200_000):  # X[keep] @ Q a block at a time (no second rows × inputs copy)
                Xr[a:a + 200_000] = X[keep[a:a + 200_000]] @ Q
            X, y, g = Xr, np.asarray(y)[keep], pd.factorize(g[keep])[0]
            start = None if start is None else Q.T @ np.asarray(start, dtype=float)
        with warnings.catch_warnings():
            # non-convergence is read from mle_retvals and reported in the table, not as a warning in the report
            warnings.simplefilter("ignore", ConvergenceWarning)
            # check_rank=False: the rank check is a QR of the whole design (slow) and only sets df_model and
            # df_resid, which neither the estimates nor the cluster-robust errors use (Z has no constant column).
            # hasconst=True: given a design without a column of ones (the reduced design after a separation),
            # statsmodels looks for an implicit constant by the rank of the design with ones added: a copy of the
            # rows × inputs design and two SVDs, three such arrays at once (the peak of the expansion score's fit at
            # a million customers, issue 21), for the degrees of freedom only, which nothing here reads
            res = sm.Logit(y, X, check_rank=False, hasconst=True).fit(method="newton", start_params=start, disp=0, maxiter=maxiter)
            cov = _cluster_cov(res, g)  # what cov_type="cluster" computes, holding fewer rows × inputs arrays
        if not res.mle_retvals.get("converged", False):
            why[:] = "not_converged"
        elif Q is None:
            b, se = res.params[1:], np.sqrt(np.diag(cov))[1:]
        else:
            beta, cov = Q @ res.params, Q @ cov @ Q.T
            b, se = beta[1:], np.sqrt(np.diag(cov))[1:]
            inf = sep.infinite[1:]
            b[inf], se[inf], why[inf] = np.nan, np.nan, "separates_outcome"
    except Exception:  # noqa: BLE001 - a singular design: report the penalised coefficients alone
        b, se = np.full(len(names), np.nan), np.full(len(names), np.nan)
        why[:] = "fit_failed"
    imp = pd.DataFrame({"input": names, "coef_per_sd": coef, "or_per_sd": np.exp(coef),
                        "glm_or_per_sd": np.exp(b), "lower": np.exp(b - z * se), "upper": np.exp(b + z * se),
                        "glm_reason": why})
    imp["strength"] = np.abs(coef)
    imp = imp.sort_values("strength", ascending=False, kind="stable").reset_index(drop=True)
    imp.insert(0, "rank", np.arange(1, len(imp) + 1))
    imp.attrs["separation"] = sep_info
    return imp


def _cluster_cov(res, groups: np.ndarray) -> np.ndarray:
    """The cluster-robust covariance (CRV1, with its small-sample correction) of a fitted ``sm.Logit`` result, by
    the integer ``groups``: the numbers of ``fit(cov_type="cluster", cov_kwds={"groups": groups})``
    (``sandwich_covariance.cov_cluster`` on the same score and Hessian), with the Hessian's bread computed before
    the rows' scores: statsmodels computes the scores (rows × inputs) and then the Hessian, whose rows × inputs
    temporary is then held beside them and the design, three such arrays at once (issue 21)."""
    from statsmodels.stats import sandwich_covariance as sw

    hessian_inv = np.linalg.inv(res.model.hessian(res.params))
    scores = res.model.score_obs(res.params)
    return sw.cov_cluster((scores, hessian_inv), groups, use_correction=True)


def _z(alpha: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(1 - alpha / 2))


def default_attributes(ds: Dataset) -> tuple[str, ...]:
    """The churn-risk model's attributes when none are named: plan, touch model and channel (:data:`ATTRIBUTES`)
    and every attribute of the export's own (a column of the customer table that is not a canonical one)."""
    from ..data.schema import TABLES

    canonical = set(TABLES["customers"].columns) | set(TABLES["snapshot"].columns)
    return tuple(dict.fromkeys([*ATTRIBUTES, *(a for a in attrs_.kinds(ds) if a not in canonical)]))


def _model_attributes(ds: Dataset, attributes) -> tuple[str, ...]:
    """The churn-risk model's attribute inputs: those of ``attributes`` that the data have, less any constant or
    empty one (data/attributes.py; not fitted). The penalised model takes a categorical attribute with many
    levels, unlike a segment or a Cox covariate."""
    given = attrs_.present(ds, attributes)
    if any(attrs_.parse_covariate(a)[1] is not None for a in given):
        raise ValueError(f"attributes={list(attributes)}: the churn-risk model takes attribute names (a numeric "
                         "attribute enters on its own scale, standardised); ':log2' is for the Cox models")
    return tuple(a for a in given if attrs_.uninformative(ds.customers[a]) is None)
