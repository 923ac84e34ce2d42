"""The confidence interval of a proportion: the Wilson score interval, the project's one way to put an interval
on k successes in n trials (churned customers of those at risk, accounts in a band, respondents of those asked).

With p̂ = k/n and z = z₁₋α/₂ (the standard normal quantile),

    lower, upper = (p̂ + z²/2n ∓ z·√(p̂(1 − p̂)/n + z²/4n²)) ÷ (1 + z²/n)

(Wilson 1927; Brown, Cai & DasGupta 2001, who recommend it over the normal interval for small n or p̂ near 0
or 1). The numbers are statsmodels' ``proportion_confint(k, n, alpha, method="wilson")``, computed by it, so
they agree bit for bit; statsmodels clips them to [0, 1].

Edge cases, the same for every caller:

* n = 0: no interval, NaN (without a division warning). A caller that wants a number there decides so at its
  own call site.
* k missing (NaN): NaN.
* k = 0 or k = n: the formula leaves rounding noise at the end (a lower bound of 2.8e-17 instead of 0).
  ``exact_ends=True`` writes the exact 0 and 1; the default keeps statsmodels' numbers as they are.
"""
from __future__ import annotations

import numpy as np

__all__ = ["wilson"]


def wilson(k, n, alpha: float = 0.05, *, exact_ends: bool = False):
    """The Wilson score interval of a proportion: k successes in n trials, at confidence 1 − ``alpha``.

    Parameters
    ----------
    k, n : scalar or array_like
        Successes and trials, broadcast against each other. ``k`` may be NaN (missing): its interval is NaN.
    alpha : float
        1 − the confidence level, in (0, 1).
    exact_ends : bool
        When True, the lower bound is exactly 0 where k = 0 and the upper exactly 1 where k = n (the formula
        leaves rounding noise there); when False, statsmodels' numbers unchanged.

    Returns
    -------
    (lower, upper)
        Float arrays of the broadcast shape of ``k`` and ``n``; Python floats when both are scalars. NaN where
        n = 0 or k is NaN.

    Raises
    ------
    ValueError
        ``alpha`` outside (0, 1); ``n`` negative or NaN; ``k`` negative or above ``n``.
    """
    from statsmodels.stats.proportion import proportion_confint

    if not 0 < alpha < 1:
        raise ValueError(f"wilson: alpha must lie in (0, 1); got {alpha!r}")
    scalar = np.ndim(k) == 0 and np.ndim(n) == 0
    k, n = np.broadcast_arrays(np.asarray(k, dtype=float), np.asarray(n, dtype=float))
    bad = ~(n >= 0)
    if bad.any():
        raise ValueError(f"wilson: n (trials) must be 0 or more; got {n[bad][:5].tolist()} at positions "
                         f"{np.argwhere(bad)[:5].tolist()}")
    bad = (k < 0) | (k > n)
    if bad.any():
        raise ValueError(f"wilson: k (successes) must lie between 0 and n; got k={k[bad][:5].tolist()}, "
                         f"n={n[bad][:5].tolist()} at positions {np.argwhere(bad)[:5].tolist()}")
    lo, hi = np.full(k.shape, np.nan), np.full(k.shape, np.nan)
    ok = n > 0
    if ok.any():
        lo[ok], hi[ok] = proportion_confint(k[ok], n[ok], alpha=alpha, method="wilson")
    if exact_ends:
        lo[ok & (k == 0)], hi[ok & (k == n)] = 0.0, 1.0
    if scalar:
        return float(lo), float(hi)
    return lo, hi
