"""Projecting contractual retention with the shifted-beta-geometric (sBG) model.

Reference: P. S. Fader and B. G. S. Hardie, "How to Project Customer Retention", *Journal of Interactive
Marketing* 21(1), 2007, 76–90; and "Customer-Base Valuation in a Contractual Setting: The Perils of Ignoring
Heterogeneity", *Marketing Science* 29(1), 2010, 85–93 (discounted expected residual lifetime).

**Model.** Each customer renews at the end of every period with her own probability 1 − θ and leaves for good
otherwise; θ varies over customers as Beta(α, β). For the lifetime T (the period in which a customer churns,
T = 1, 2, …)::

    P(T = t) = B(α + 1, β + t − 1) / B(α, β)                    (churn in period t)
    S(t)     = P(T > t) = B(α, β + t) / B(α, β),  S(0) = 1       (still active at the end of period t)
    r_t      = S(t) / S(t − 1) = (β + t − 1) / (α + β + t − 1)   (retention rate, rising with t: sorting)

**Data.** A cohort is ``alive`` = the numbers still active at the end of periods 0, 1, …, T (``alive[0]`` is
the starting count). ``alive[t−1] − alive[t]`` customers churned in period t and contribute log P(T = t); the
``alive[T]`` survivors are right-censored and contribute log S(T). Several cohorts of different ages give ONE
censored likelihood, each cohort with its own churn counts and its own survivors censored at its own last
period (:func:`fit_sbg_cohorts`).

**Estimation.** Maximum likelihood on (log α, log β) with the analytic gradient and Hessian (digamma and
trigamma of the ``betaln`` terms): scipy's L-BFGS-B (|log α|, |log β| ≤ 25) with a gradient tolerance of 1e-10
on the per-customer log-likelihood, then Newton polishing. ``cov_`` is the inverse observed information;
intervals for α, β and S(t) are formed on the log (for S: logit) scale and back-transformed. The parametric
bootstrap draws (log α, log β) from their asymptotic normal. No interior maximum (e.g. no sign of
heterogeneity: α, β → ∞) gives a RuntimeWarning and ``converged_ = False``.

**Residual value** (Fader & Hardie 2010). For a customer who has made n renewals (active n + 1 periods),
the discounted expected residual lifetime — the expected number of further payments at the starts of periods
n + 1, n + 2, …, the first undiscounted — is::

    DERL(d | α, β, n) = Σ_{t>n} S(t)/S(n) · (1 + d)^{−(t−n−1)}
                      = B(α, β + n + 1)/B(α, β + n) · ₂F₁(1, β + n + 1; α + β + n + 1; 1/(1 + d)).

Typical use::

    fit = fit_sbg([1000, 869, 743, 653, 593, 551, 517, 491])   # high-end customers, years 0–7
    fit.print_summary(); fit.survival(range(13)); fit.derl(0.10, renewals_so_far=2)
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from .estimate import Estimate

__all__ = ["SBGFit", "SBGBacktest", "fit_sbg", "fit_sbg_cohorts", "fit_sbg_counts", "sbg_newton_step", "sbg_loglik",
           "backtest_sbg", "cohort_alive"]


# ---------------------------------------------------------------------------------------------- validation

def _counts(alive, name: str, *, min_len: int) -> np.ndarray:
    """``alive`` as a validated int64 array; ValueError naming the offending position and value."""
    if isinstance(alive, pd.DataFrame):
        raise ValueError(f"{name} must be one sequence of counts, got a DataFrame (use fit_sbg_cohorts)")
    raw = alive.to_numpy() if isinstance(alive, pd.Series) else alive
    try:
        x = np.asarray(raw, dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a sequence of numbers of customers still active: {e}") from None
    if x.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {x.shape}")
    if len(x) < min_len:
        need = "period 0 and at least 2 later periods" if min_len >= 3 else "period 0 and at least period 1"
        raise ValueError(f"{name} has {len(x)} value(s): fewer than 2 periods; the sBG needs {need} "
                         f"({min_len} values)")
    for i, v in enumerate(x):
        if not np.isfinite(v):
            raise ValueError(f"{name}[{i}] = {v} is not a finite count")
        if v < 0:
            raise ValueError(f"{name}[{i}] = {v:g} is negative")
        if v != round(v):
            raise ValueError(f"{name}[{i}] = {v:g} is not a whole number of customers")
        if i and v > x[i - 1]:
            raise ValueError(f"{name}[{i}] = {v:g} exceeds {name}[{i - 1}] = {x[i - 1]:g}: the number still "
                             "active must be non-increasing")
    if x[0] == 0:
        raise ValueError(f"{name}[0] = 0: the starting count must be positive")
    return x.astype(np.int64)


def _cohort_items(cohorts) -> list[tuple[object, object]]:
    """(label, alive) pairs from a mapping, a list, or a DataFrame (one row per cohort, trailing NaN)."""
    if isinstance(cohorts, pd.DataFrame):
        items = []
        for key, row in cohorts.iterrows():
            v = row.to_numpy(dtype=float)
            seen = np.flatnonzero(~np.isnan(v))
            n = seen[-1] + 1 if len(seen) else 0
            if np.isnan(v[:n]).any():
                i = int(np.flatnonzero(np.isnan(v[:n]))[0])
                raise ValueError(f"cohort {key!r}[{i}] is missing before later observed periods")
            items.append((key, v[:n]))
        return items
    if isinstance(cohorts, Mapping):
        return list(cohorts.items())
    if isinstance(cohorts, (str, bytes)) or not hasattr(cohorts, "__iter__"):
        raise ValueError("cohorts must be a mapping, a list of alive sequences or a DataFrame")
    return list(enumerate(cohorts))


def _aggregate(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Churn counts d[t] and right-censored counts c[t], t = 0..T_max (index 0 unused), summed over cohorts."""
    T = max(len(a) for a in arrays) - 1
    d = np.zeros(T + 1)
    c = np.zeros(T + 1)
    for a in arrays:
        d[1:len(a)] += -np.diff(a)
        c[len(a) - 1] += a[-1]
    return d, c


# ---------------------------------------------------------------------------------------------- likelihood

def _loglik(a: float, b: float, d: np.ndarray, c: np.ndarray, *, order: int = 0):
    """log L(α, β) = Σ_t d_t log P(T=t) + Σ_t c_t log S(t); with order ≥ 1 also the gradient (and Hessian)."""
    t = np.arange(1, len(d))
    d, c, N = d[1:], c[1:], d.sum() + c.sum()
    s = a + b + t                                     # x + y for both the P(t) and the S(t) terms
    ll = d @ special.betaln(a + 1, b + t - 1) + c @ special.betaln(a, b + t) - N * special.betaln(a, b)
    if order == 0:
        return ll
    ps, ps1 = special.digamma, special.polygamma
    w = d + c
    g = np.array([
        d.sum() * ps(a + 1) + c.sum() * ps(a) - w @ ps(s) - N * (ps(a) - ps(a + b)),
        d @ ps(b + t - 1) + c @ ps(b + t) - w @ ps(s) - N * (ps(b) - ps(a + b)),
    ])
    if order == 1:
        return ll, g
    tg = lambda x: ps1(1, x)  # noqa: E731  trigamma
    hab = -(w @ tg(s)) + N * tg(a + b)
    H = np.array([
        [d.sum() * tg(a + 1) + c.sum() * tg(a) - w @ tg(s) - N * (tg(a) - tg(a + b)), hab],
        [hab, d @ tg(b + t - 1) + c @ tg(b + t) - w @ tg(s) - N * (tg(b) - tg(a + b))],
    ])
    return ll, g, H


def _log_scale(theta, d, c, order=2):
    """log L and its derivatives with respect to θ = (log α, log β) (chain rule: D H D + diag(D g))."""
    ab = np.exp(theta)
    if order == 0:
        return (_loglik(ab[0], ab[1], d, c),)
    ll, g, H = _loglik(ab[0], ab[1], d, c, order=2)
    gt = ab * g
    return (ll, gt) if order == 1 else (ll, gt, np.outer(ab, ab) * H + np.diag(gt))


def _start(d: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Moment start from the pooled hazards of periods 1 and 2: h1 = α/s, h2 = α/(s + 1), s = α + β."""
    at_risk = d.sum() + c.sum() - np.concatenate([[0.0], np.cumsum(d + c)[:-1]])
    if len(d) > 2 and at_risk[2] > 0:
        h1, h2 = d[1] / at_risk[1], d[2] / at_risk[2]
        if 0 < h2 < h1 < 1:
            s = float(np.clip(h2 / (h1 - h2), 1e-2, 1e4))
            return np.log([h1 * s, (1 - h1) * s])
    return np.zeros(2)


_BOUND = 25.0   # |log α|, |log β| ≤ 25: beyond it the MLE is on the boundary (no interior maximum)


def _maximise(d: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, float, bool]:
    N = d.sum() + c.sum()
    if d.sum() == 0:
        raise ValueError("no customer churned in the observed periods: the sBG maximum likelihood does not exist")
    f = lambda th: -_log_scale(th, d, c, 0)[0] / N                 # noqa: E731 per-customer scale
    jac = lambda th: -_log_scale(th, d, c, 1)[1] / N                # noqa: E731
    res = optimize.minimize(f, _start(d, c), jac=jac, method="L-BFGS-B", bounds=[(-_BOUND, _BOUND)] * 2,
                            options={"gtol": 1e-10, "ftol": 1e-15, "maxiter": 2000})
    th = res.x
    for _ in range(20):                      # Newton polish, only inside a concave region and only uphill
        ll, g, H = _log_scale(th, d, c)
        if not np.all(np.linalg.eigvalsh(H) < 0):
            break
        step = np.linalg.solve(H, -g)
        for _ in range(30):
            new = _log_scale(th + step, d, c, 0)[0]
            if np.isfinite(new) and new >= ll - 1e-12 * abs(ll) and np.all(np.abs(th + step) <= _BOUND):
                break
            step = step / 2
        else:
            break
        th = th + step
        if np.max(np.abs(step)) < 1e-13:
            break
    ll, g, H = _log_scale(th, d, c)
    ok = bool(np.linalg.norm(g) / N < 1e-8 and np.all(np.linalg.eigvalsh(H) < 0) and np.all(np.abs(th) < _BOUND - 1))
    if not ok:
        warnings.warn("sBG fit did not converge to an interior maximum (alpha, beta may be running off to 0 or "
                      f"infinity: the data may show no heterogeneity); log(alpha), log(beta) = {th}",
                      RuntimeWarning, stacklevel=4)
    return th, float(ll), ok


def sbg_loglik(alive, alpha: float, beta: float) -> float:
    """Log-likelihood of one cohort's ``alive`` counts at given (α, β)."""
    return float(_loglik(alpha, beta, *_aggregate([_counts(alive, "alive", min_len=2)])))


# ---------------------------------------------------------------------------------------------- results

def _arr(t, lo: float, what: str):
    x = np.asarray(t, dtype=float)
    if np.any(x < lo) or np.any(~np.isfinite(x)):
        raise ValueError(f"{what} needs t ≥ {lo:g}, got {t!r}")
    return x


def _out(x, like):
    return float(x) if np.ndim(like) == 0 else x


class SBGFit:
    """A fitted sBG model. Attributes: ``alpha_``, ``beta_``, ``loglik_``, ``n_`` (customers), ``periods_``
    (last observed period), ``cov_`` (2×2 covariance of (α, β)), ``cov_log_`` (of (log α, log β)),
    ``cohorts_`` (per cohort: n, periods, still_active), ``converged_``, ``label`` and ``alpha`` (significance
    level of the intervals, as in lifelines)."""

    def __init__(self, theta, loglik, d, c, cohorts: pd.DataFrame, *, alpha=0.05, label=None, converged=True):
        self.alpha, self.label = alpha, label
        self._theta = np.asarray(theta, dtype=float)
        self.alpha_, self.beta_ = (float(v) for v in np.exp(self._theta))
        self.loglik_, self.converged_, self.cohorts_ = loglik, converged, cohorts
        self._d, self._c = d, c
        self.n_ = int(cohorts["n"].sum())
        self.periods_ = int(cohorts["periods"].max())
        H = _log_scale(self._theta, d, c)[2]
        try:
            self.cov_log_ = np.linalg.inv(-H)
        except np.linalg.LinAlgError:
            self.cov_log_ = np.full((2, 2), np.nan)
        D = np.diag([self.alpha_, self.beta_])
        self.cov_ = D @ self.cov_log_ @ D                           # delta method from the log scale

    # -- parameters --------------------------------------------------------------------------------
    def conf_int(self, alpha: float | None = None) -> pd.DataFrame:
        """(1 − alpha) Wald intervals for α and β, built on the log scale and back-transformed."""
        z = stats.norm.ppf(1 - (self.alpha if alpha is None else alpha) / 2)
        se = np.sqrt(np.diag(self.cov_log_))
        return pd.DataFrame({"lower": np.exp(self._theta - z * se), "upper": np.exp(self._theta + z * se)},
                            index=pd.Index(["alpha", "beta"], name="parameter"))

    @property
    def summary(self) -> pd.DataFrame:
        """estimate, se (delta method) and the (1 − alpha) interval for α and β."""
        ci = self.conf_int()
        return pd.DataFrame({"estimate": [self.alpha_, self.beta_], "se": np.sqrt(np.diag(self.cov_)),
                             "lower": ci["lower"].to_numpy(), "upper": ci["upper"].to_numpy()}, index=ci.index)

    def metrics(self, band: pd.DataFrame | None = None, backtest: "SBGBacktest | None" = None) -> dict:
        """The fit's part of ``metrics.json`` (``sbg``): α, β, S(12) and S(24) with their bands (``band``: the
        report's :meth:`survival_interval` table, or None to compute it) and the backtest's error (None: none)."""
        b = (self.survival_interval([12, 24]) if band is None else band).set_index("t")
        s = {f"s{t}": Estimate(f"S({t})", b.loc[t, "survival"], b.loc[t, "lower"], b.loc[t, "upper"]).to_dict(details=())
             for t in (12, 24)}
        return {"alpha": self.alpha_, "beta": self.beta_, **s,
                "backtest_mae_pp": backtest.mae_pp if backtest is not None else None}

    def _header(self) -> list[str]:
        return [f"sBG retention model{f' ({self.label})' if self.label is not None else ''}",
                f"customers = {self.n_}, cohorts = {len(self.cohorts_)}, periods observed = {self.periods_}",
                f"log-likelihood = {self.loglik_:.2f}, converged = {self.converged_}",
                f"intervals: {100 * (1 - self.alpha):g}% (log scale, back-transformed)"]

    def print_summary(self, decimals: int = 3) -> None:
        print("\n".join(self._header()))
        print(self.summary.round(decimals).to_string())

    def _repr_html_(self) -> str:
        return "<p>" + "<br>".join(self._header()) + "</p>" + self.summary.to_html(float_format="{:.3f}".format)

    def __repr__(self) -> str:
        return (f"<SBGFit{f' {self.label!r}' if self.label is not None else ''}: alpha={self.alpha_:.4g}, "
                f"beta={self.beta_:.4g}, loglik={self.loglik_:.2f}, n={self.n_}, periods={self.periods_}>")

    # -- projections -------------------------------------------------------------------------------
    def survival(self, t):
        """S(t) = B(α, β + t)/B(α, β), the share still active at the end of period t (S(0) = 1)."""
        x = _arr(t, 0, "survival")
        a, b = self.alpha_, self.beta_
        return _out(np.exp(special.betaln(a, b + x) - special.betaln(a, b)), t)

    def retention_rate(self, t):
        """r_t = (β + t − 1)/(α + β + t − 1) = S(t)/S(t − 1): share of period t − 1's survivors renewing."""
        x = _arr(t, 1, "retention_rate")
        return _out((self.beta_ + x - 1) / (self.alpha_ + self.beta_ + x - 1), t)

    def churn_probability(self, t):
        """P(T = t) = B(α + 1, β + t − 1)/B(α, β): probability that a new customer churns in period t
        (unconditional; the conditional churn rate among period t − 1's survivors is 1 − r_t)."""
        x = _arr(t, 1, "churn_probability")
        a, b = self.alpha_, self.beta_
        return _out(np.exp(special.betaln(a + 1, b + x - 1) - special.betaln(a, b)), t)

    def derl(self, discount_rate, renewals_so_far=0):
        """Discounted expected residual lifetime of a customer with n renewals (Fader & Hardie 2010):
        B(α, β+n+1)/B(α, β+n) · ₂F₁(1, β+n+1; α+β+n+1; 1/(1+d)). Broadcasts over d and n."""
        d = np.asarray(discount_rate, dtype=float)
        n = np.asarray(renewals_so_far, dtype=float)
        if np.any(d <= 0):
            raise ValueError(f"discount_rate must be > 0, got {discount_rate!r}")
        if np.any(n < 0) or np.any(n != np.round(n)):
            raise ValueError(f"renewals_so_far must be whole numbers ≥ 0, got {renewals_so_far!r}")
        a, b = self.alpha_, self.beta_
        v = (np.exp(special.betaln(a, b + n + 1) - special.betaln(a, b + n))
             * special.hyp2f1(1.0, b + n + 1, a + b + n + 1, 1 / (1 + d)))
        return float(v) if v.ndim == 0 else v

    def projected_alive(self, periods, n: float | None = None) -> pd.Series:
        """Expected number still active, n · S(t), for t = 0..periods (an int) or the given periods;
        n defaults to the fitted customers ``n_``."""
        t = np.arange(periods + 1) if np.ndim(periods) == 0 else np.asarray(periods)
        return pd.Series((self.n_ if n is None else n) * self.survival(t), index=pd.Index(t, name="period"),
                         name="projected alive")

    def survival_interval(self, t, method: str = "delta", *, n_boot: int = 2000, seed=None,
                          alpha: float | None = None) -> pd.DataFrame:
        """(1 − alpha) band for S(t): ``delta`` (delta method on logit S over (log α, log β)) or ``bootstrap``
        (parametric: (log α, log β) drawn from their asymptotic normal, percentiles of S(t)).

        Parameters
        ----------
        t : int or array-like
            Periods (≥ 0).
        method : {"delta", "bootstrap"}
            How the band is built.
        n_boot : int
            Parametric draws (``bootstrap``).
        seed : int, optional
            Seed of the draws (``bootstrap``).
        alpha : float, optional
            1 − the band's confidence level (None: the fit's ``alpha``).

        Returns
        -------
        DataFrame
            t, survival, lower, upper.
        """
        x = np.atleast_1d(_arr(t, 0, "survival_interval"))
        lvl = self.alpha if alpha is None else alpha
        s = np.atleast_1d(self.survival(x))
        a, b = self.alpha_, self.beta_
        if method == "delta":
            ps = special.digamma
            dlog = np.stack([a * (ps(a + b) - ps(a + b + x)),                              # ∂ log S/∂ log α
                             b * (ps(b + x) - ps(b) + ps(a + b) - ps(a + b + x))], axis=1)  # ∂ log S/∂ log β
            with np.errstate(divide="ignore", invalid="ignore"):
                glogit = dlog / (1 - s)[:, None]
                se = np.sqrt(np.einsum("ij,jk,ik->i", glogit, self.cov_log_, glogit))
                z = stats.norm.ppf(1 - lvl / 2)
                lg = special.logit(s)
                lo, hi = special.expit(lg - z * se), special.expit(lg + z * se)
            lo, hi = np.where(x == 0, 1.0, lo), np.where(x == 0, 1.0, hi)
        elif method == "bootstrap":
            th = np.random.default_rng(seed).multivariate_normal(self._theta, self.cov_log_, size=n_boot)
            A, B = np.exp(th[:, :1]), np.exp(th[:, 1:])
            S = np.exp(special.betaln(A, B + x) - special.betaln(A, B))
            lo, hi = np.quantile(S, [lvl / 2, 1 - lvl / 2], axis=0)
        else:
            raise ValueError(f"method={method!r}: use 'delta' or 'bootstrap'")
        return pd.DataFrame({"t": x, "survival": s, "lower": lo, "upper": hi})

    def plot(self, ax=None, actual=None, *, periods: int | None = None, method: str = "delta"):
        """Projected S(t) with its band; ``actual`` (counts or shares from period 0, divided by the first
        value) as points; a dotted line marks the last fitted period. Returns the Axes.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw (None: a new figure).
        actual : array-like, optional
            Observed counts or shares from period 0.
        periods : int, optional
            The last period to project (None: the last fitted period, or of ``actual`` if longer).
        method : {"delta", "bootstrap"}
            The band (:meth:`survival_interval`).

        Returns
        -------
        matplotlib Axes
        """
        import matplotlib.pyplot as plt

        if ax is None:
            ax = plt.subplots(figsize=(6, 4))[1]
        act = None if actual is None else np.asarray(actual, dtype=float) / float(np.asarray(actual)[0])
        last = periods if periods is not None else max(self.periods_, 0 if act is None else len(act) - 1)
        band = self.survival_interval(np.arange(last + 1), method=method)
        name = "sBG projection" if self.label is None else f"sBG projection ({self.label})"
        line, = ax.plot(band["t"], band["survival"], marker=".", label=name)
        ax.fill_between(band["t"], band["lower"], band["upper"], color=line.get_color(), alpha=0.2,
                        label=f"{100 * (1 - self.alpha):g}% band")
        if act is not None:
            ax.plot(np.arange(len(act)), act, "o", color="black", mfc="none", label="Actual")
        ax.axvline(self.periods_, color="grey", ls=":", lw=1)
        ax.set_xlabel("Periods since start")
        ax.set_ylabel("Share still active")
        ax.set_ylim(0, 1.02)
        ax.legend(frameon=False)
        return ax


# ---------------------------------------------------------------------------------------------- fitting

def _fit(items, *, alpha, label, single: bool) -> SBGFit:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha!r} must be a significance level in (0, 1)")
    if not items:
        raise ValueError("no cohorts given")
    arrays = [_counts(v, "alive" if single else f"cohort {k!r}", min_len=3 if single else 2) for k, v in items]
    if max(len(a) for a in arrays) < 3:
        raise ValueError("every cohort has fewer than 2 periods: at least one must reach period 2 to separate "
                         "alpha and beta")
    d, c = _aggregate(arrays)
    theta, ll, ok = _maximise(d, c)
    table = pd.DataFrame({"n": [int(a[0]) for a in arrays], "periods": [len(a) - 1 for a in arrays],
                          "still_active": [int(a[-1]) for a in arrays]},
                         index=pd.Index([k for k, _ in items], name="cohort"))
    return SBGFit(theta, ll, d, c, table, alpha=alpha, label=label, converged=ok)


def fit_sbg(alive, *, alpha: float = 0.05, label=None) -> SBGFit:
    """Fit the sBG to one cohort: ``alive`` = numbers still active at the end of periods 0, 1, …, T (T ≥ 2)."""
    return _fit([("alive", alive)], alpha=alpha, label=label, single=True)


def fit_sbg_cohorts(cohorts, *, alpha: float = 0.05, label=None) -> SBGFit:
    """One sBG fit to several cohorts of different ages, each an ``alive`` sequence from its own period 0.

    ``cohorts``: a mapping label → alive, a list of alive sequences, or a DataFrame with one row per cohort
    and columns = periods (trailing NaN where not yet observed). The likelihood is the product over cohorts of
    each cohort's censored sBG likelihood (its churn counts, and its survivors censored at its last period).
    """
    return _fit(_cohort_items(cohorts), alpha=alpha, label=label, single=False)


def fit_sbg_counts(churned, censored, *, alpha: float = 0.05, label=None) -> SBGFit:
    """One sBG fit from pooled counts: ``churned[t]`` churning in period t and ``censored[t]`` still active when
    last observed, at the end of period t (t = 0 … T, both of one length; ``churned[0]`` must be 0, and
    ``censored[0]``, customers seen in period 0 only, carry no information and are left out). The counts
    may be weights (e.g. each customer's MRR: a weighted likelihood, whose ``cov_`` is then not a sampling
    covariance). The same likelihood as :func:`fit_sbg_cohorts` (a cohort's ``alive`` gives ``churned`` =
    its decreases, ``censored`` = its survivors at its last period)."""
    d = np.asarray(churned, dtype=float)
    c = np.asarray(censored, dtype=float)
    if d.ndim != 1 or d.shape != c.shape or len(d) < 3:
        raise ValueError(f"churned and censored must be two sequences of one length ≥ 3 (periods 0 … T ≥ 2), got "
                         f"shapes {d.shape} and {c.shape}")
    bad = np.flatnonzero(~np.isfinite(d) | ~np.isfinite(c) | (d < 0) | (c < 0))
    if len(bad):
        raise ValueError(f"counts must be finite and ≥ 0: period {int(bad[0])} has churned={d[bad[0]]!r}, "
                         f"censored={c[bad[0]]!r}")
    if d[0] != 0:
        raise ValueError(f"churned[0] = {d[0]!r}: nobody can churn in period 0 (S(0) = 1)")
    c = np.concatenate([[0.0], c[1:]])  # followed only to period 0: S(0) = 1 says nothing about α, β
    theta, ll, ok = _maximise(d, c)
    table = pd.DataFrame({"n": [float(d.sum() + c.sum())], "periods": [len(d) - 1], "still_active": [float(c.sum())]},
                         index=pd.Index(["counts"], name="cohort"))
    return SBGFit(theta, ll, d, c, table, alpha=alpha, label=label, converged=ok)


def sbg_newton_step(churned, censored, alpha: float, beta: float) -> tuple[float, float]:
    """One Newton–Raphson step on (log α, log β) of the counts' log-likelihood (:func:`fit_sbg_counts`) from
    ``alpha``, ``beta``: the one-step estimator, first-order equal to the maximum when started from a consistent
    estimate (a bootstrap resample's from the full data's fit: the one-step bootstrap). Where the log-likelihood
    is not concave at the start, the start is returned."""
    d = np.asarray(churned, dtype=float)
    c = np.concatenate([[0.0], np.asarray(censored, dtype=float)[1:]])
    th = np.log([alpha, beta])
    _, g, H = _log_scale(th, d, c)
    if not np.all(np.linalg.eigvalsh(H) < 0):
        return float(alpha), float(beta)
    new = np.clip(th - np.linalg.solve(H, g), -_BOUND, _BOUND)
    return float(np.exp(new[0])), float(np.exp(new[1]))


# ---------------------------------------------------------------------------------------------- backtest

@dataclass
class SBGBacktest:
    """Hold-out check: ``table`` (period, actual, projected shares, error = projected − actual), ``mae_pp``
    (mean absolute error over the hold-out periods, percentage points) and the ``fit``."""
    table: pd.DataFrame
    mae_pp: float
    fit: SBGFit

    @property
    def summary(self) -> pd.DataFrame:
        """The hold-out periods: period, actual, projected, error (``table``)."""
        return self.table

    def print_summary(self, decimals: int = 3) -> None:
        print(self.summary.round(decimals).to_string(index=False))
        print(f"mean absolute error: {self.mae_pp:.{decimals}f} pp")

    def _repr_html_(self) -> str:
        return self.summary.to_html(index=False, float_format="{:.3f}".format)


def backtest_sbg(alive, fit_periods: int, *, alpha: float = 0.05, label=None) -> SBGBacktest:
    """Fit on periods 0..fit_periods of ``alive`` and compare the projection with the later periods.

    Parameters
    ----------
    alive : sequence of int
        Customers alive at periods 0, 1, 2 … (period 0: the cohort's size).
    fit_periods : int
        The last period fitted (2 to len(alive) − 2); the later ones are held out.
    alpha : float
        1 − the intervals' confidence level.
    label : str or None
        The fit's name.

    Returns
    -------
    SBGBacktest
        The held-out periods with actual and projected shares, their mean absolute error and the fit.
    """
    x = _counts(alive, "alive", min_len=3)
    if not (isinstance(fit_periods, (int, np.integer)) and 2 <= fit_periods < len(x) - 1):
        raise ValueError(f"fit_periods={fit_periods!r} must be an integer from 2 to {len(x) - 2} "
                         f"(alive covers periods 0..{len(x) - 1} and at least one must be held out)")
    fit = fit_sbg(x[:fit_periods + 1], alpha=alpha, label=label)
    t = np.arange(fit_periods + 1, len(x))
    actual, proj = x[t] / x[0], fit.survival(t)
    table = pd.DataFrame({"period": t, "actual": actual, "projected": proj, "error": proj - actual})
    return SBGBacktest(table=table, mae_pp=float(100 * np.mean(np.abs(table["error"]))), fit=fit)


def cohort_alive(ds, *, n_cohorts: int = 12) -> pd.DataFrame:
    """The newest ``n_cohorts`` monthly cohorts that started inside the data window and were observed for at
    least one month after their start, as sBG input: one row per
    cohort, columns = months since start, values = customers never churned since the start (first spells,
    the Dataset's churn definition), NaN where not observed yet."""
    from .cohorts import cohort_retention

    res = cohort_retention(ds, basis="logo", definition="unbroken", min_cohort_size=1, n_boot=0)
    alive = res.active
    alive = alive[alive[0].notna() & (alive[0] > 0)]  # left-truncated cohorts have no period 0 in the data
    if 1 in alive.columns:
        alive = alive[alive[1].notna()]  # a cohort needs one observed month after its start
    return alive.iloc[-n_cohorts:]
