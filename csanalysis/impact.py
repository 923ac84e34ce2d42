"""Impact and ROI of customer-success work, estimated honestly.

Naive before/after comparisons mislead because churn falls anyway as the customer base ages. The estimator is a
customer-month churn model (a discrete-time hazard: statsmodels GLM, binomial with complementary log-log link,
so exp(coefficient) is a hazard ratio) with

* tenure as a B-spline (churn changes with customer age),
* a calendar-time trend (churn drifting for other reasons),
* the case mix: the customers' attributes at signup (plan, touch model, seats, channel: those the data have) and
  the month's time-varying signals (a failed payment in the month, the latest NPS category before it, falling
  usage), coded as the time-varying Cox model codes them (:func:`csanalysis.survival.person_month_design`),
* a post-program level shift (and optionally a change of slope),

with errors clustered by customer.

The hazard ratio is **conditional on the case mix** in the model: among customers alike in those attributes and
signals in the same month, the program multiplies the monthly hazard by ``hr``. Without the case mix the model
estimates a different, marginal quantity, and a biased one for the conditional ratio a churn model plants or a
team means: hazard ratios are not collapsible (leaving out risk factors pulls the ratio towards 1 as the frail
leave first), and the signals' mix drifts over calendar time (surveys start, usage histories fill in) in ways a
linear trend absorbs only in part, so the post term picks up the rest. Over 100 demo worlds of 20,000
customers with a planted ratio of 0.75 the unadjusted model averaged 0.737 and its 95% interval covered 0.75
in 90 of 100 (issue 25); the adjusted model is checked over generated worlds in tests/test_impact_worlds.py.
If the program works *through* a signal (contacts that lift usage, which lowers churn), adjusting for that
signal leaves that path out: ``signals=False`` adjusts for the attributes at signup only, and the report says
which adjustment the estimate carries. The program's effect is reported as a hazard ratio and in percentage points
of monthly churn (the average, over post-program at-risk customer-months, of the fitted churn probability with
the effect removed minus with it), with intervals. ROI turns the effect into retained gross profit against the
team's cost, with intervals by simulation from the estimate's sampling distribution.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm

from .data import Dataset
from .data.schema import churn_word
from .estimate import Estimate, json_safe
from .periods import month_index, month_start
from .result import TableSummary
from .stats.proportion import wilson
from .survival import TIME_VARYING, customer_sample, person_month_counts, person_month_design, person_months

MIN_PRE_MONTHS = 6
# the attributes at signup the effect is adjusted for by default: the Cox model's defaults (notebook 02)
ADJUST = ("plan", "touch_model", "seats", "acquisition_channel")
MAX_ROWS = 2_000_000  # beyond this many customer-months the model is fitted on a seeded share of whole customers


def monthly_churn(ds: Dataset) -> pd.DataFrame:
    """Monthly churn rate: churned in the month ÷ at risk (person_months' counts), with Wilson intervals."""
    g = person_month_counts(ds)
    g["rate"] = g["churned"] / g["at_risk"]
    g["lower"], g["upper"] = wilson(g["churned"], g["at_risk"])
    g.insert(0, "date", month_start(g["month"]))
    return g


@dataclass(kw_only=True)
class ProgramEffect:
    """The program's effect on monthly churn (:func:`program_effect`); built by keyword. ``hr`` (the hazard
    ratio of the post-program shift, conditional on the case mix) and ``pp`` (churn prevented, percentage points
    of monthly churn) with their intervals and the p-value, or ``estimable=False`` with the ``reason``. :attr:`summary` is the two effects
    with their intervals, :meth:`conf_int` the intervals; :meth:`metrics` the numbers of ``metrics.json``."""

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
    adjusted_for: tuple = ()  # the attributes at signup the effect is conditional on
    signals: tuple = ()  # and the time-varying signals (terms of csanalysis.survival.TIME_VARYING)
    sample: dict | None = None  # the share of customers fitted (customer_sample), or None: every customer
    model: object | None = field(default=None, repr=False)
    data: pd.DataFrame | None = field(default=None, repr=False)
    draws: np.ndarray | None = field(default=None, repr=False)  # simulated parameter vectors (draws × model.params)

    @property
    def summary(self) -> pd.DataFrame:
        """The hazard ratio and the churn prevented (percentage points) with their intervals (NaN when not
        estimable: ``reason`` says why)."""
        return pd.DataFrame({"estimate": [self.hr, self.pp], "lower": [self.hr_lower, self.pp_lower],
                             "upper": [self.hr_upper, self.pp_upper], "p": [self.p_value, self.p_value]},
                            index=pd.Index(["hr", "pp"], name="effect"))

    def conf_int(self) -> pd.DataFrame:
        return self.summary[["lower", "upper"]]

    def print_summary(self, decimals: int = 3) -> None:
        print(self.summary.round(decimals).to_string())
        if not self.estimable:
            print(self.reason)

    def _repr_html_(self) -> str:
        return self.summary.to_html(float_format="{:.3f}".format)

    def to_dict(self) -> dict:
        keys = ("estimable", "reason", "pre_months", "hr", "hr_lower", "hr_upper", "pp", "pp_lower", "pp_upper", "p_value")
        d = {k: getattr(self, k) for k in keys}
        d["program_start"] = str(self.program_start.date())
        d["adjusted_for"] = list(self.adjusted_for)
        d["signals"] = list(self.signals)
        d["sample"] = self.sample
        return d

    def metrics(self, roi: pd.DataFrame | None = None) -> dict:
        """The effect's part of ``metrics.json``: the hazard ratio and the churn prevented (percentage points),
        each with its interval or none with the reason, what it is adjusted for, and the cumulative ROI at the
        last month of ``roi`` (:func:`roi`; None: no ROI, because the effect is not estimable or there is no cost
        table)."""
        why = None if self.estimable else self.reason
        est = lambda name, e, lo, hi, reason: Estimate.of(name, e, lo, hi, reason=reason).brief()  # noqa: E731
        if roi is not None:
            last = roi.iloc[-1]
            cum = est("cumulative_roi", last["cumulative_roi"], last["cumulative_roi_lower"],
                      last["cumulative_roi_upper"], "no cost yet: the cumulative ROI is undefined")
        else:
            cum = Estimate.missing(why or "no cost table (cs_costs)").brief()
        return json_safe({
            "program_start": self.program_start, "estimable": self.estimable, "pre_months": self.pre_months,
            "adjusted_for": list(self.adjusted_for), "signals": list(self.signals), "sample": self.sample,
            "hazard_ratio": est("hazard_ratio", self.hr, self.hr_lower, self.hr_upper, why or ""),
            "churn_prevented_pp": est("churn_prevented_pp", self.pp, self.pp_lower, self.pp_upper, why or ""),
            "cumulative_roi": cum,
        })


def program_effect(ds: Dataset, program_start, *, adjust=ADJUST, signals: bool = True,
                   references: dict | list | None = None, slope_change: bool = False, tenure_df: int = 4,
                   min_pre_months: int = MIN_PRE_MONTHS, alpha: float = 0.05, n_draws: int = 1000, seed: int = 0,
                   max_rows: int | None = MAX_ROWS) -> ProgramEffect:
    """Discrete-time hazard estimate of the program's effect on monthly churn (see the module docstring),
    adjusted for the attributes ``adjust`` that the data have (at signup; a numeric one per unit, seats per
    doubling, ``name:log2`` per doubling) and, with ``signals``, the month's time-varying signals. Beyond
    ``max_rows`` customer-months a seeded random share of whole customers is fitted (``sample``).

    Parameters
    ----------
    ds : Dataset
        The loaded data (:func:`csanalysis.load_dataset`).
    program_start : date-like
        The month the program started.
    adjust : sequence of str
        Attributes at signup to adjust for (those the data lack are left out).
    signals : bool
        Also adjust for the month's time-varying signals.
    references : dict, list or None
        Reference levels of categorical attributes (as in
        :func:`csanalysis.survival.cox_drivers`).
    slope_change : bool
        Also estimate a change of slope after the start (``slope_hr``).
    tenure_df : int
        Degrees of freedom of the tenure spline of the baseline hazard.
    min_pre_months : int
        Fewer months of data before the start: not estimable, with the reason.
    alpha : float
        1 − the intervals' confidence level.
    n_draws : int
        Parameter vectors drawn from the fit for the churn prevented's interval (and :func:`roi`).
    seed : int
        Seed of the random draws.
    max_rows : int or None
        Customer-months beyond which a share of whole customers is fitted (None: all).

    Returns
    -------
    ProgramEffect
        The hazard ratio and the churn prevented with intervals, or ``estimable=False`` with the
        reason.
    """
    from .data.attributes import present
    from .grouped import customer_tables

    pm, sample = customer_sample(person_months(ds), max_rows, seed)
    # the signals of a share of customers read the usage, payments and panel (the months paid) of those customers
    # alone (the same rows of them: the same signals), not the whole tables (at 1M customers 14M, 10M and 14M rows,
    # 3.8 GB in pandas)
    signals_ds = (customer_tables(ds, pm["customer_id"].unique(), ("usage", "payments", "panel"))
                  if sample and signals else ds)
    # the case mix is handed over, not kept here: the effect lets go of it once its rows have their own copy
    return effect_from_person_months(pm, program_start, case_mix=person_month_design(
                                         signals_ds, pm, present(ds, list(adjust or ())), signals=signals,
                                         references=references)[:2], slope_change=slope_change,
                                     tenure_df=tenure_df, min_pre_months=min_pre_months, alpha=alpha, n_draws=n_draws,
                                     seed=seed, word=churn_word(getattr(ds, "layout", "subscription")),
                                     sample=sample)


def effect_from_person_months(pm: pd.DataFrame, program_start, *, case_mix: tuple | None = None,
                              slope_change: bool = False, tenure_df: int = 4, min_pre_months: int = MIN_PRE_MONTHS,
                              alpha: float = 0.05, n_draws: int = 1000, seed: int = 0, word: str = "churn",
                              sample: dict | None = None) -> ProgramEffect:
    """:func:`program_effect` on customer-months already at hand.

    Parameters
    ----------
    pm : DataFrame
        Customer-months at risk: ``customer_id``, ``month`` (a month index), ``tenure``, ``churn`` (0/1), as
        :func:`csanalysis.survival.person_months` gives them.
    program_start : date-like
        The month the program started.
    case_mix : tuple (X, meta), optional
        The covariates to adjust for and their description, as :func:`csanalysis.survival.person_month_design`
        returns them (X aligned with ``pm``'s rows); None adjusts for tenure and the trend only.
    slope_change : bool
        Also estimate a change of slope after the start (``slope_hr``).
    tenure_df : int
        Degrees of freedom of the tenure spline of the baseline hazard.
    min_pre_months : int
        Fewer months of data before the start: not estimable, with the reason.
    alpha : float
        1 − the intervals' confidence level.
    n_draws : int
        Parameter vectors drawn from the fit for the churn prevented's interval (and :func:`roi`).
    seed : int
        Seed of the random draws.
    word : str
        What the reasons call a churn ("lapse" for a purchase log).
    sample : dict, optional
        The share of customers fitted (:func:`csanalysis.survival.customer_sample`), carried to the result.

    Returns
    -------
    ProgramEffect
        The hazard ratio and the churn prevented with intervals, or ``estimable=False`` with the reason.
    """
    ps = month_index(program_start)
    start = month_start(ps)
    pre_months = int(pm.loc[pm["month"] < ps, "month"].nunique())
    post_months = int(pm.loc[pm["month"] >= ps, "month"].nunique())
    if pre_months < min_pre_months:
        return ProgramEffect(estimable=False, reason=f"only {pre_months} month(s) of {word} data before the program "
                             f"started ({start:%Y-%m}); at least {min_pre_months} are needed to separate the program "
                             "from the trend, so the effect cannot be estimated", program_start=start,
                             pre_months=pre_months)
    if post_months < 1:
        return ProgramEffect(estimable=False, reason=f"no {word} data after the program start ({start:%Y-%m})",
                             program_start=start, pre_months=pre_months)
    X, meta = case_mix if case_mix is not None else (pd.DataFrame(index=pm.index), [])
    # the adjustment covariates under plain names for the formula (x0, x1 …; their terms in ``meta``)
    xnames = [f"x{i}" for i in range(X.shape[1])]
    d = pm.assign(post=(pm["month"] >= ps).astype(float),  # the rows (ROI and report read post and month)
                  **{n: X.iloc[:, i].to_numpy(dtype=float) for i, n in enumerate(xnames)})
    xs = {n: d[n].to_numpy() for n in xnames}  # the rows' own columns (not a second copy of them)
    del X, case_mix  # (the caller's design: held no longer than needed, see program_effect)
    # a customer-month's covariates depend only on its tenure, calendar month and case mix: the model is fitted
    # on those distinct cells (without the case mix ≈ 1,000 instead of millions of rows; same estimates and
    # cluster-robust errors)
    cell, cells = _cells(tenure=d["tenure"].to_numpy(), month=d["month"].to_numpy(), **xs)
    cells = cells.assign(t=(cells["month"] - ps) / 12.0, post=(cells["month"] >= ps).astype(float))
    cells["post_t"] = cells["post"] * cells["t"]
    spline = _tenure_spline(d["tenure"].to_numpy(), tenure_df)
    rhs = f"{spline} + t + post" + (" + post_t" if slope_change else "") + "".join(f" + {n}" for n in xnames)
    model = _cell_glm(rhs, cells, cell, d["churn"].to_numpy(), pd.factorize(d["customer_id"])[0])
    b, se = model.params["post"], model.bse["post"]
    if not (getattr(model, "converged", True) and np.isfinite([b, se]).all() and 0 < se and abs(b) < MAX_LOG_HR):
        # a fit that runs off to infinity (a hazard ratio of e^10 or more, no spread) is no estimate: say so
        return ProgramEffect(estimable=False, reason=f"the model of monthly {word} did not settle on an estimate (the "
                             f"program's log hazard ratio ran to {b:.3g} with standard error {se:.3g}): these data "
                             "cannot separate the program from tenure and the calendar trend", program_start=start,
                             pre_months=pre_months)
    z = _z(alpha)
    rng = np.random.default_rng(seed)
    draws = rng.multivariate_normal(model.params.to_numpy(), model.cov_params().to_numpy(), size=n_draws)
    names = list(model.params.index)
    # the average over the post-period rows is a weighted average over the post-period cells
    post_cells = np.flatnonzero((cells["post"] == 1).to_numpy())
    X = np.asarray(model.model.exog)  # the model's design, read at the post-period cells (not a copy of them)
    counts = np.asarray(model.model.var_weights)[post_cells]
    share = counts / counts.sum()
    effect_cols = [names.index("post")] + ([names.index("post_t")] if slope_change else [])

    pp = float(_churn_prevented(X, share, effect_cols, model.params.to_numpy()[None, :], rows=post_cells)[0]) * 100
    pp_draws = _churn_prevented(X, share, effect_cols, draws, rows=post_cells) * 100
    eff = ProgramEffect(
        estimable=True, reason="estimated", program_start=start, pre_months=pre_months,
        hr=float(np.exp(b)), hr_lower=float(np.exp(b - z * se)), hr_upper=float(np.exp(b + z * se)),
        pp=pp, pp_lower=float(np.quantile(pp_draws, alpha / 2)), pp_upper=float(np.quantile(pp_draws, 1 - alpha / 2)),
        p_value=float(model.pvalues["post"]),
        slope_hr=float(np.exp(model.params["post_t"])) if slope_change else None,
        adjusted_for=tuple(dict.fromkeys(m[0] for m in meta if m[3] not in TIME_VARYING)),
        signals=tuple(m[3] for m in meta if m[3] in TIME_VARYING), sample=sample,
        model=model, data=d, draws=draws,
    )
    return eff


def _churn_prevented(X: np.ndarray, share: np.ndarray, effect_cols: list[int], params: np.ndarray,
                     rows: np.ndarray | None = None) -> np.ndarray:
    """For each parameter vector (rows of ``params``), the ``share``-weighted average over the rows of ``X`` (the
    post-program cells in the model's terms; ``rows``: those rows of ``X``, None: all) of the churn probability
    with the program's terms (``effect_cols``) removed minus with them:
    Σ share × [(1 − exp(−exp(η − effect))) − (1 − exp(−exp(η)))], η = X·params.

    The vectors go :data:`DRAW_BLOCK` at a time; within a block η (cells × vectors) is the only full-size array,
    written a slice of cells at a time (:func:`_row_slices`, about :data:`SLICE_CELLS` numbers: the slice's
    product and its probabilities stay in the processor's cache, where whole-block passes streamed 400 MB
    through memory about ten times per block at 100k customers) and then averaged in one product. The numbers
    are the plain formula's to the bit (tests/test_impact.py): a product's rows do not depend on how many rows
    it is given (two or more), the block of vectors is the formula's (a product's sums follow BLAS's blocking by
    the number of vectors), one vector is worked whole, and the rest is elementwise."""
    out = np.empty(len(params))
    n = len(X) if rows is None else len(rows)
    # one buffer for every block's η: a fresh array per block (400 MB at 100k customers) was given back to the
    # system at its end and taken again, zeroed page by page, by the next (about half the work's time); a block
    # uses its first n × vectors numbers, laid out as a fresh array's
    buffer = np.empty(n * min(len(params), DRAW_BLOCK))
    for start in range(0, len(params), DRAW_BLOCK):
        theta = params[start:start + DRAW_BLOCK]
        eta = buffer[:n * len(theta)].reshape(n, len(theta))
        with _one_blas_thread(len(theta)):
            for sl in _row_slices(n, len(theta)):
                x = X[sl] if rows is None else X[rows[sl]]
                p = np.matmul(x, theta.T, out=eta[sl])  # a view: η becomes the difference in place
                if len(effect_cols) == 1:  # one term: the product of one column is each element's one product
                    cf = np.multiply(x[:, effect_cols[0], None], theta[None, :, effect_cols[0]])
                    np.subtract(p, cf, out=cf)
                else:
                    cf = p - x[:, effect_cols] @ theta[:, effect_cols].T  # the program's terms removed
                for a in (p, cf):  # 1 − exp(−exp(·)) in place
                    np.exp(a, out=a)
                    np.negative(a, out=a)
                    np.exp(a, out=a)
                    np.subtract(1.0, a, out=a)
                np.subtract(cf, p, out=p)
        out[start:start + len(theta)] = share @ eta
    return out


SLICE_CELLS = 65_536  # numbers (rows × vectors) per slice in _churn_prevented and roi: half a MB, held in cache


def _row_slices(n_rows: int, n_vectors: int) -> list[slice]:
    """Slices of ``n_rows`` rows of about :data:`SLICE_CELLS` rows × ``n_vectors`` numbers each, for a product
    ``X @ theta.T`` taken a slice of rows at a time. Its numbers are the whole product's only while each slice
    has two rows or more and there are two vectors or more (one row or one vector is a matrix–vector product,
    whose sums BLAS blocks by its length): a one-row tail joins the slice before it, and one vector is one
    slice."""
    if n_vectors < 2:
        return [slice(0, n_rows)]
    step = max(2, SLICE_CELLS // n_vectors)
    bounds = list(range(0, n_rows, step))
    if len(bounds) > 1 and n_rows - bounds[-1] == 1:
        bounds.pop()
    return [slice(a, b) for a, b in zip(bounds, bounds[1:] + [n_rows])]


def _one_blas_thread(n_vectors: int):
    """BLAS on one thread while a product is taken by slices (:func:`_row_slices`, two vectors or more): a
    slice's product is too small to share, and a second thread waiting between thousands of them spent more
    processor time than the work (effect and ROI at 100k customers: 27 and 19 CPU s with two threads against
    18 and 9 with one). A matrix product's numbers do not depend on its threads (tests/test_impact.py); one
    vector (the point estimate, taken whole as before) keeps BLAS's threads."""
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas") if n_vectors > 1 else nullcontext()


DRAW_BLOCK = 100  # parameter vectors per block in _churn_prevented (its sums depend on the block: keep it)


def verdict(lower: float, upper: float, null: float) -> str:
    """What an interval says about an effect whose "no effect" value is ``null``: ``"below"`` (the whole interval
    under it), ``"above"``, or ``"unclear"`` (it includes no effect, which the report says plainly)."""
    return "below" if upper < null else "above" if lower > null else "unclear"


MAX_LOG_HR = 10.0  # a program log hazard ratio beyond ±10 (a ratio of 22,000) is a fit that did not converge


class _IRLS(sm.GLM):
    """statsmodels' GLM, whose IRLS lets go of each iteration's weighted least squares when the next begins.

    statsmodels' ``_fit_irls`` keeps each iteration's fit in a ``Bunch``, a dict that is its own ``__dict__``: a
    reference cycle, which holds the iteration's model and its weighted copy of the design until the cyclic
    garbage collector runs. The collector seldom does during a fit (it counts Python objects, not bytes), so
    every iteration's copy stayed: eight iterations × 150 MB at 100k customers (800,000 cells × 19 columns),
    the largest part of the report's peak. Once an iteration's history is recorded (``_update_history``, the
    last use of its result in the loop) the ``Bunch`` is emptied, which breaks the cycle: the copy goes with
    the next iteration. The fit is statsmodels' own, step for step: the same numbers.
    """

    def _update_history(self, tmp_result, mu, history):
        history = super()._update_history(tmp_result, mu, history)
        tmp_result.clear()  # the history keeps the params array itself
        return history

    # statsmodels keeps a scratch array the size of the design (``_tmp_like_exog``) for the Hessian from the model's
    # creation on, through the fit (where the final pseudo-inverse makes the peak); here it is made when the Hessian
    # is computed (once, for the cluster sandwich) and let go after: the same products, 116 MB less at 100k
    @property
    def _tmp_like_exog(self):
        return np.empty_like(self.exog, dtype=float)

    @_tmp_like_exog.setter
    def _tmp_like_exog(self, value):
        pass


def _cell_glm(rhs: str, cells: pd.DataFrame, cell: np.ndarray, churn: np.ndarray, groups: np.ndarray):
    """Binomial GLM with complementary log-log link of the rows' ``churn`` (0/1) on covariates that are constant
    within cells (``cells``, one row per cell; ``cell`` gives each row's cell), with errors clustered by ``groups``.
    ``cells`` gains a column ``churn`` (each cell's share of rows churned) and is the model's data.

    Same estimates and CRV1 covariance as the row-level ``smf.glm(...).fit(cov_type="cluster")``, at the cost of a
    fit on the cells (≈ 1,000 at 1M customers instead of 13M customer-months): the cells' churned counts over
    their rows (``var_weights``) give the row-level likelihood, score and Hessian up to a constant; only the
    cluster sandwich needs the rows, as each customer's summed score (its rows' residuals per cell times the
    cell's design row)."""
    import scipy.sparse as sp

    n_rows = np.bincount(cell, minlength=len(cells)).astype(float)
    churned = np.bincount(cell, weights=churn, minlength=len(cells))
    data = cells  # the model keeps its data: the cells themselves, not a copy of them
    data["churn"] = churned / n_rows
    fam = sm.families.Binomial(link=sm.families.links.CLogLog())
    fit = _IRLS.from_formula("churn ~ " + rhs, data=data, family=fam, var_weights=n_rows).fit()
    X = np.asarray(fit.model.exog)
    mu = np.asarray(fit.fittedvalues)
    factor = 1.0 / (fam.link.deriv(mu) * fam.variance(mu))  # d loglik / d eta of a row = (y − μ) × factor
    resid = (churn - mu[cell]) * factor[cell]
    n_groups = int(groups.max()) + 1
    per_group = sp.csr_matrix((resid, (groups, cell)), shape=(n_groups, len(cells)))  # duplicates are summed
    scores = np.asarray(per_group @ X)
    bread = np.linalg.inv(fit.model.hessian(fit.params.to_numpy()))  # the bread statsmodels' sandwich uses
    n, k = len(cell), X.shape[1]
    cov = bread @ (scores.T @ scores) @ bread.T * (n_groups / (n_groups - 1.0)) * ((n - 1.0) / (n - k))
    # the result reports the row-level cluster-robust covariance (as statsmodels' cov_type="cluster" would)
    res = fit._results  # (the wrapper's attributes are its own: set them on the results it wraps)
    res.cov_params_default = cov
    res.cov_type = "cluster"
    res.cov_kwds = {"description": f"Standard Errors are robust to cluster correlation (CRV1), {n_groups} customers, "
                                   f"{n} customer-months in {len(cells)} cells"}
    res._cache = {}
    return fit


def _cells(**columns: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    """Each row's cell of distinct combinations of the columns (numbers), and the cells (one row each, same
    names, in order of first appearance)."""
    if len(columns) == 2 and all(np.asarray(v).dtype.kind in "iu" for v in columns.values()):
        (a_name, a), (b_name, b) = columns.items()  # two integer columns (tenure, month): one integer key
        low, width = int(b.min()), int(b.max() - b.min()) + 1
        cell, uniques = pd.factorize(a.astype(np.int64) * width + (b - low))
        return cell, pd.DataFrame({a_name: uniques // width, b_name: uniques % width + low})
    if any(pd.isna(v).any() for v in columns.values()):  # (a missing value: groupby's rule for it)
        frame = pd.DataFrame(columns)
        cell = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()
        first = np.unique(cell, return_index=True)[1]  # each cell's first row (cells numbered by first appearance)
        return cell, frame.iloc[first].reset_index(drop=True)
    # the columns' codes folded into one integer key a column at a time (compacted when the next product could
    # overflow), then numbered by first appearance: the cells of groupby(sort=False).ngroup(), without a copy
    # of the rows × columns and their per-column codes at once (2M customer-months × 21 columns at 100k)
    cell = np.zeros(len(next(iter(columns.values()))), dtype=np.int64)
    size = 1
    for values in columns.values():
        codes, uniques = pd.factorize(values)
        if size * len(uniques) >= 2**62:
            cell, kept = pd.factorize(cell)
            size = len(kept)
        cell = cell * len(uniques) + codes
        size *= len(uniques)
    cell, _ = pd.factorize(cell)
    first = np.unique(cell, return_index=True)[1]  # each cell's first row (cells numbered by first appearance)
    return cell, pd.DataFrame({name: values[first] for name, values in columns.items()})


def _tenure_spline(tenure: np.ndarray, df: int) -> str:
    """The cubic B-spline of tenure with knots placed on the customer-months as patsy's ``bs(tenure, df=df,
    degree=3)`` places them (df − 3 inner knots at quantiles, the range as bounds), written out for a fit on cells
    (``repr`` of a float reads back exactly)."""
    q = np.linspace(0, 1, df - 3 + 2)[1:-1]
    knots = tuple(float(k) for k in np.percentile(tenure, 100 * q))
    return (f"bs(tenure, knots={knots!r}, degree=3, lower_bound={float(tenure.min())!r}, "
            f"upper_bound={float(tenure.max())!r})")


def naive_before_after(ds: Dataset, program_start) -> dict:
    """The comparison that misleads: mean monthly churn after vs before (two-proportion z-test), ignoring tenure
    and trend. Shown beside the model to make the point (from person_months' counts per month, the same sums)."""
    g = person_month_counts(ds)
    post = g["month"].to_numpy() >= month_index(program_start)
    churned, at_risk = g["churned"].to_numpy(), g["at_risk"].to_numpy()
    return _naive(np.array([churned[post].sum(), churned[~post].sum()]),
                  np.array([at_risk[post].sum(), at_risk[~post].sum()]))


def naive_from_person_months(pm: pd.DataFrame, program_start) -> dict:
    """:func:`naive_before_after` on customer-months already at hand."""
    ps = month_index(program_start)
    post = pm["month"].to_numpy() >= ps  # (masks, not copies of the rows: 13M customer-months at 1M customers)
    churn = pm["churn"].to_numpy()
    return _naive(np.array([churn[post].sum(), churn[~post].sum()]), np.array([post.sum(), (~post).sum()]))


def _naive(counts: np.ndarray, nobs: np.ndarray) -> dict:
    """The naive comparison from the churns and customer-months at risk after and before the start."""
    from statsmodels.stats.proportion import proportions_ztest

    stat, p = proportions_ztest(counts, nobs)
    return {"pre_rate": counts[1] / nobs[1], "post_rate": counts[0] / nobs[0],
            "difference_pp": 100 * (counts[0] / nobs[0] - counts[1] / nobs[1]), "p_value": float(p)}


def its_series(ds: Dataset, program_start, *, maxlags: int = 3, alpha: float = 0.05) -> dict:
    """Segmented regression of the monthly churn rate (level and slope change at the start) with Newey–West
    errors (``maxlags`` stated, small-sample correction, t critical values), and the counterfactual line: the
    pre-program trend carried past the start.

    Parameters
    ----------
    ds : Dataset
        The loaded data (:func:`csanalysis.load_dataset`).
    program_start : date-like
        The month the program started.
    maxlags : int
        Lags of the Newey–West errors.
    alpha : float
        1 − the intervals' confidence level.

    Returns
    -------
    dict
        ``series`` (the monthly rates with the fitted, counterfactual and pre-trend lines), the level and
        slope changes with their intervals, ``maxlags`` and ``method``.
    """
    mc = monthly_churn(ds)
    ps = month_index(program_start)
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


def _touched(pm: pd.DataFrame, act: pd.DataFrame, window: int, codes: tuple | None = None) -> np.ndarray:
    """1.0 where the row's spell had a contact (``act``: customer_id, month index, n contacts) in the ``window``
    months of the spell before the row's month, else 0.0; aligned with ``pm``'s rows (person_months). ``codes``:
    ``pd.factorize(pm["customer_id"])`` when the caller has it."""
    # integer keys: customer codes × months (string keys made this the slowest part of the report at 1M customers)
    cust, ids = pd.factorize(pm["customer_id"]) if codes is None else codes
    month, spell = pm["month"].to_numpy(), pm["spell"].to_numpy()
    m0 = int(min(month.min(), act["month"].min())) if len(act) else int(month.min())
    width = int(max(month.max(), act["month"].max() if len(act) else 0)) - m0 + 1
    act_cust = pd.Index(ids).get_indexer(act["customer_id"])
    known = act_cust >= 0  # contacts of customers never at risk do not enter
    act_key = pd.Index(act_cust[known].astype(np.int64) * width + (act["month"].to_numpy()[known] - m0))
    pos = act_key.get_indexer(cust.astype(np.int64) * width + (month - m0))
    n = np.where(pos >= 0, act["n"].to_numpy()[known][np.maximum(pos, 0)], 0)
    del pos  # (each array here is as long as the customer-months: 13M at 1M customers; held no longer than needed)
    # rows in (customer, spell, month) order; a spell's rows are consecutive. person_months gives them in that order
    # when the spells are sorted by customer (the codes numbered by first appearance): then the rows are used as
    # they are (lexsort, being stable, would return them unmoved), without the order and three reordered copies
    order = None if _in_order(cust, spell, month) else np.lexsort((month, spell, cust))
    if order is not None:
        n, cust, spell = n[order], cust[order], spell[order]
    r = np.arange(len(n))
    new = np.r_[True, (cust[1:] != cust[:-1]) | (spell[1:] != spell[:-1])]
    first = np.maximum.accumulate(np.where(new, r, 0))  # each row's spell's first row
    del new
    # contacts in the previous `window` months of the spell (lagged: a contact cannot prevent a churn in its own
    # month): C[j] = contacts in rows before j, so rows max(r − window, first) … r − 1 sum to C[r] − C[max(...)]
    before = np.concatenate([[0], np.cumsum(n)])
    del n
    roll = before[r] - before[np.maximum(r - window, first)]
    if order is None:
        return (roll > 0).astype(float)
    touched = np.empty(len(order))
    touched[order] = (roll > 0).astype(float)
    return touched


def _in_order(cust: np.ndarray, spell: np.ndarray, month: np.ndarray) -> bool:
    """Whether the rows are sorted by customer code, spell and month (ties allowed): what
    ``np.lexsort((month, spell, cust))`` would leave as it is."""
    same = np.diff(cust)
    if (same < 0).any():
        return False
    same = same == 0
    step = np.diff(spell)
    if (step[same] < 0).any():
        return False
    same &= step == 0
    del step
    return not (np.diff(month)[same] < 0).any()


TOUCHED_LABEL = "association, not effect: CS teams contact risky accounts first (confounding by risk)"


@dataclass
class TouchedAssociation(TableSummary):
    """Churn of accounts touched by CS (contacted in the previous ``window`` months) against the rest: the hazard
    ratio ``hr`` with its interval, and the raw monthly churn rates of touched and untouched customer-months. An
    association, not an effect (``label``). ``available`` False (no contacts table): no numbers, ``reason``
    says why."""

    available: bool
    reason: str = ""
    window: int | None = None
    hr: float = np.nan
    lower: float = np.nan
    upper: float = np.nan
    rate_touched: float = np.nan
    rate_untouched: float = np.nan
    alpha: float = 0.05
    label: str = TOUCHED_LABEL

    @property
    def summary(self) -> pd.DataFrame:
        """The hazard ratio with its interval and the two churn rates (NaN when not available)."""
        return pd.DataFrame({"window": [self.window], "hr": [self.hr], "lower": [self.lower], "upper": [self.upper],
                             "rate_touched": [self.rate_touched], "rate_untouched": [self.rate_untouched]})

    def conf_int(self) -> pd.DataFrame:
        return self.summary[["lower", "upper"]]

    def metrics(self) -> dict:
        """The association's part of ``metrics.json`` (``touched_association``): ``available``, and with it ``hr``,
        ``lower``, ``upper``, the two rates, ``window`` and ``label``; without it the ``reason``."""
        if not self.available:
            return {"available": False, "reason": self.reason}
        return json_safe({"available": True, "hr": self.hr, "lower": self.lower, "upper": self.upper,
                          "rate_touched": self.rate_touched, "rate_untouched": self.rate_untouched,
                          "window": self.window, "label": self.label})


def touched_association(ds: Dataset, *, window: int = 3, tenure_df: int = 4, alpha: float = 0.05
                        ) -> TouchedAssociation:
    """Churn of accounts contacted by CS in the previous ``window`` months against those not, as a time-varying
    exposure (a contact counts only from the month after it happens). This is an ASSOCIATION: teams contact risky
    accounts first, so touched accounts may churn more or less for reasons that have nothing to do with the contact.

    Parameters
    ----------
    ds : Dataset
        The loaded data (:func:`csanalysis.load_dataset`).
    window : int
        Months after a contact during which an account counts as touched.
    tenure_df : int
        Degrees of freedom of the tenure spline of the baseline hazard.
    alpha : float
        1 − the intervals' confidence level.

    Returns
    -------
    TouchedAssociation
        ``available``; with it the hazard ratio ``hr`` of touched accounts with ``lower`` and ``upper``;
        without it the ``reason``. Its ``metrics()`` is the part of ``metrics.json``.
    """
    if ds.cs_activities is None:
        return TouchedAssociation(False, "no cs_activities table", alpha=alpha)
    pm = person_months(ds)
    act = ds.cs_activities.assign(month=month_index(ds.cs_activities["month"]))
    act = act.groupby(["customer_id", "month"]).size().rename("n").reset_index()
    codes = pd.factorize(pm["customer_id"])
    touched = _touched(pm, act, window, codes)
    cust = codes[0]
    cell, cells = _cells(tenure=pm["tenure"].to_numpy(), touched=touched.astype(np.int64))
    cells = cells.astype({"touched": float})
    spline = _tenure_spline(pm["tenure"].to_numpy(), tenure_df)
    churn = pm["churn"].to_numpy()
    fit = _cell_glm(f"{spline} + touched", cells, cell, churn, cust)
    b, se = fit.params["touched"], fit.bse["touched"]
    z = _z(alpha)
    rates = pd.Series(churn).groupby(touched).mean()
    return TouchedAssociation(True, window=window, hr=float(np.exp(b)), lower=float(np.exp(b - z * se)),
                              upper=float(np.exp(b + z * se)), rate_touched=float(rates.get(1.0, np.nan)),
                              rate_untouched=float(rates.get(0.0, np.nan)), alpha=alpha)


# ------------------------------------------------------------------------------------------------- ROI


def projection_grid(ds: Dataset, effect: ProgramEffect) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The months over which :func:`roi` compares expected survival with and without the program: for every
    spell at risk at some point after the start, its months from the first post-start month at risk to as_of
    (``effect.data``'s rows with their case mix, then the months after its last one at risk with the covariates
    last seen). Returns the rows (sorted by spell and month), each row's spell (0 … spells − 1) and each spell's
    MRR at stake (its MRR in the month before it enters the post period, at least 0)."""
    as_m = ds.as_of_m
    # Projection grid: every spell at risk at some point after the start, from its first post-start month at risk
    # to as_of, whether or not it churned (its expected survival is compared with and without the program). A
    # spell's months at risk carry their own case mix; after its last observed month (it churned) its covariates
    # stay as they were last seen.
    pm = effect.data
    post = pm["post"].to_numpy() == 1
    rows = pm.loc[post].reset_index(drop=True)
    # spells by integer key (customer code × spell): hashing string keys is far slower
    code, ids = pd.factorize(rows["customer_id"].to_numpy())
    spell = rows["spell"].to_numpy().astype(np.int64)
    group = pd.factorize(code.astype(np.int64) * (int(spell.max(initial=0)) + 1) + spell)[0]
    order = np.lexsort((rows["month"].to_numpy(), group))
    rows, group, code = rows.iloc[order].reset_index(drop=True), group[order], code[order]
    head = np.r_[True, group[1:] != group[:-1]]
    tail = np.r_[group[1:] != group[:-1], True]
    # each customer's MRR in the month before its spell enters the post period (its MRR at stake; 0 where it did
    # not pay then), the panel rows looked up in the engine (not the pandas panel: 14M rows at 1M customers)
    from .grouped import panel_at

    before = panel_at(ds, pd.DataFrame({"customer_id": ids[code[head]], "m": rows["month"].to_numpy()[head] - 1}))
    # a purchase log's month summing to below zero (returns outweighing purchases) is no revenue a retained buyer
    # keeps: its stake is 0, as a free month's (a negative stake would count the program's retained buyers as a loss)
    stake = np.maximum(np.nan_to_num(before, nan=0.0), 0.0)
    # the months after a spell's last one at risk up to as_of, with that month's covariates
    last = rows.loc[tail]
    extra = (as_m - last["month"].to_numpy()).clip(min=0)
    rep = np.repeat(np.arange(len(last)), extra)
    k = np.arange(extra.sum()) - np.repeat(np.cumsum(extra) - extra, extra) + 1
    ext = last.iloc[rep].assign(month=last["month"].to_numpy()[rep] + k, tenure=last["tenure"].to_numpy()[rep] + k)
    d = pd.concat([rows, ext], ignore_index=True)
    path = np.r_[np.cumsum(head) - 1, rep]  # each grid row's spell (0 … spells − 1)
    order = np.lexsort((d["month"].to_numpy(), path))
    d, path = d.iloc[order].reset_index(drop=True), path[order]
    return d, path, stake


def roi(ds: Dataset, effect: ProgramEffect, *, gross_margin: float | None = None, costs: pd.DataFrame | None = None,
        horizon: int | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """Monthly and cumulative ROI of the program with intervals from the effect's sampling distribution.

    Retained MRR in month t = Σ over customers at risk in t of MRR × (S_actual − S_counterfactual), where S is
    each customer's expected survival since the program start (or its own start, if later) under the fitted
    hazards with and without the program term, each month with the customer's own case mix
    (:func:`projection_grid`). × gross margin = retained gross profit, against the CS cost. The intervals draw
    every parameter of the model, not the program term alone: the program's term and the level it is measured
    against are estimated together (over 60 generated worlds drawing the program term alone covered the true ROI
    in 83%, drawing all parameters in 93%; tests/test_impact_worlds.py). When the model was fitted on a share of
    customers (``effect.sample``) the retained amounts are scaled up by its inverse. In a purchase log a month
    whose purchases sum to below zero gives an MRR at stake of 0 (as a free month).

    Parameters
    ----------
    ds : Dataset
        The loaded data (:func:`csanalysis.load_dataset`).
    effect : ProgramEffect
        An estimable :func:`program_effect` (its model and draws are used).
    gross_margin : float or None
        Share of revenue kept (None: the Dataset's).
    costs : pandas.DataFrame or None
        CS costs (month, cost; None: the Dataset's ``cs_costs``; neither: ValueError).
    horizon : int or None
        Keep the first ``horizon`` months of the table (None or 0: every month).
    alpha : float
        1 − the intervals' confidence level.

    Returns
    -------
    pandas.DataFrame
        One row per month: date, month, retained_mrr, retained_profit with its interval, cost,
        cumulative_profit, cumulative_cost, cumulative_roi with its interval.
    """
    if not effect.estimable:
        raise ValueError(f"no ROI: {effect.reason}")
    gm = ds.settings.gross_margin if gross_margin is None else gross_margin
    costs = ds.cs_costs if costs is None else costs
    if costs is None:
        raise ValueError("no ROI without the team's cost: give a cs_costs table (month, cost)")
    import scipy.sparse as sp

    model = effect.model
    ps = month_index(effect.program_start)
    d, path, stake = projection_grid(ds, effect)
    d["t"] = (d["month"] - ps) / 12.0
    d["post"] = 1.0
    d["post_t"] = d["t"]
    d["churn"] = 0
    # a churned spell carried on to as_of can pass the longest tenure the model saw: the tenure curve is held at
    # its last fitted value there (a B-spline is not defined beyond its boundary knots)
    seen = effect.data["tenure"]
    d["tenure"] = d["tenure"].clip(seen.min(), seen.max())
    params = model.params
    from patsy import build_design_matrices

    X = np.asarray(build_design_matrices([model.model.data.model_spec], d)[0])  # the grid's rows in the model's terms
    # the program's terms (level, and slope if fitted) switched off for the counterfactual, as in the effect's pp
    effect_cols = [list(params.index).index(c) for c in ("post", "post_t") if c in params.index]
    row_stake = stake[path]
    is_last = np.r_[path[1:] != path[:-1], True]  # each path's last row (rows sorted by path and month)
    n_paths = int(path[-1]) + 1 if len(path) else 0
    month_of, months = pd.factorize(d["month"].to_numpy(), sort=True)
    by_month = sp.csr_matrix((np.ones(len(d)), (month_of, np.arange(len(d)))), shape=(len(months), len(d)))

    def retained_for(theta: np.ndarray) -> pd.DataFrame:
        """Retained MRR per month for each parameter vector (draws × parameters): every parameter is drawn, since
        the program term and the counterfactual level it is measured against are estimated together.

        Survival along each path to each of its months: with the complementary log-log link a month's survival
        is exp(−exp(η)), so a path's is exp(−Λ), Λ the running sum of exp(η) along the path (the running sum
        over the grid less its value at the previous path's last row), with the program's terms and without
        them (the counterfactual: their columns 0). Worked a slice of rows at a time (:func:`_row_slices`,
        in cache), the running sum carried from slice to slice and its value at each path's last row kept:
        the numbers are those of the whole grid at once (tests/test_impact.py), of which one rows × draws array
        remains, the retained MRR of each row (the block of draws keeps its size: a product's sums follow
        BLAS's blocking)."""
        n = len(theta)
        kept = buffer[:len(d) * n].reshape(len(d), n)
        carry = np.zeros((2, n))  # the running sums at the previous slice's last row (with, without the program)
        at_last = np.zeros((2, n_paths + 1, n))  # row p + 1: the running sum at path p's last row (row 0: none)
        with _one_blas_thread(n):
            for sl in _row_slices(len(d), n):
                x = X[sl]
                x_cf = x.copy()
                x_cf[:, effect_cols] = 0.0
                ends = np.flatnonzero(is_last[sl])
                surv = []
                for k, design in enumerate((x, x_cf)):
                    lam = np.exp(design @ theta.T)
                    if sl.start:
                        np.add(carry[k], lam[0], out=lam[0])
                    np.cumsum(lam, axis=0, out=lam)
                    carry[k] = lam[-1]
                    at_last[k, path[sl][ends] + 1] = lam[ends]
                    np.subtract(lam, at_last[k, path[sl]], out=lam)  # Λ along the path
                    np.negative(lam, out=lam)
                    surv.append(np.exp(lam, out=lam))
                np.subtract(surv[0], surv[1], out=kept[sl])
                np.multiply(row_stake[sl, None], kept[sl], out=kept[sl])
        return pd.DataFrame(by_month @ kept, index=months)

    draws = effect.draws[:200]
    step = max(1, 20_000_000 // max(len(d), 1))  # draws per block: the temporaries are rows × draws
    # one buffer for every block's retained MRR (rows × draws), as in _churn_prevented: not a fresh array per block
    buffer = np.empty(len(d) * max(1, min(step, len(draws))))
    point = retained_for(params.to_numpy()[None, :])
    sims = pd.concat([retained_for(draws[i:i + step]) for i in range(0, len(draws), step)], axis=1)
    scale = 1.0 / effect.sample["share"] if effect.sample else 1.0  # a share of customers fitted: their total scaled up
    point, sims = point * scale, sims * scale
    months = point.index.to_numpy()
    cost = costs.assign(month=month_index(costs["month"])).groupby("month")["cost"].sum().reindex(months, fill_value=0.0)
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
    out.insert(0, "date", month_start(out["month"]))
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
    of ``customers`` paying ``mrr`` in total (no new customers; constant rates).

    Parameters
    ----------
    mrr : float
        Total MRR of the base.
    customers : int
        Customers in the base.
    from_rate : float
        Monthly churn today.
    to_rate : float
        Monthly churn aimed at.
    months : int
        Months to value.
    gross_margin : float
        Share of revenue kept.

    Returns
    -------
    dict
        months, retained_mrr_by_month, retained_revenue, retained_gross_profit, customers_kept_at_end.
    """
    t = np.arange(1, months + 1)
    s_from, s_to = (1 - from_rate) ** t, (1 - to_rate) ** t
    retained = mrr * (s_to - s_from)
    return {"months": months, "retained_mrr_by_month": retained.tolist(), "retained_revenue": float(retained.sum()),
            "retained_gross_profit": float(retained.sum() * gross_margin),
            "customers_kept_at_end": float(customers * (s_to[-1] - s_from[-1]))}


def _z(alpha: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(1 - alpha / 2))


__all__ = ["ProgramEffect", "monthly_churn", "program_effect", "effect_from_person_months", "verdict",
           "naive_before_after", "naive_from_person_months", "its_series", "TouchedAssociation", "touched_association",
           "projection_grid", "roi", "payback", "reduction_value", "MIN_PRE_MONTHS", "ADJUST", "MAX_ROWS", "MAX_LOG_HR"]
