"""Adjusting p-values for multiple tests: Holm's step-down correction, the project's one way to test a family of
hypotheses together (pairwise log-rank tests, exploratory NPS comparisons, comment themes).

With the m p-values of the family sorted, p₍₁₎ ≤ … ≤ p₍ₘ₎, the adjusted values are

    p̃₍ᵢ₎ = min(1, max_{j ≤ i} (m − j + 1) · p₍ⱼ₎)

(Holm 1979), which controls the family-wise error rate at α when a hypothesis is rejected for p̃ < α. These
are the numbers of statsmodels' ``multipletests(p, method="holm")[1]``, bit for bit (tested); written here
because ``multipletests`` runs a garbage collection on every call, which made a test that corrects the themes
of 200 simulated worlds seven times slower.

A missing p-value (NaN: a test that could not be computed) is left out of the family and stays NaN, so m counts
the p-values present; ``n`` sets a larger family (R's ``p.adjust(p, n=…)``), e.g. to count the missing tests
as statsmodels does when it is given NaN.
"""
from __future__ import annotations

import numpy as np

__all__ = ["holm"]


def holm(p, n: int | None = None) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the order of ``p``.

    Parameters
    ----------
    p : array_like
        P-values in [0, 1]; NaN marks a missing test, left out of the family and returned as NaN.
    n : int, optional
        The number of tests in the family, at least the number of p-values present; by default that number.
        ``n = len(p)`` counts the missing tests too: the numbers ``multipletests`` gives when handed the NaN.

    Returns
    -------
    numpy.ndarray
        The adjusted p-values (float), the shape of ``p``.

    Raises
    ------
    ValueError
        A p-value outside [0, 1] (infinite included), or ``n`` smaller than the number of p-values present.
    """
    p = np.asarray(p, dtype=float)
    present = ~np.isnan(p)
    bad = present & ~((p >= 0) & (p <= 1))
    if bad.any():
        raise ValueError(f"holm: p-values must lie in [0, 1]; got {p[bad][:5].tolist()} at positions "
                         f"{np.argwhere(bad)[:5].tolist()}")
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(present)
    m = idx.size if n is None else int(n)
    if m < idx.size:
        raise ValueError(f"holm: n = {n} tests is fewer than the {idx.size} p-values present")
    if idx.size:
        flat = p.ravel()
        order = idx[np.argsort(flat[idx], kind="stable")]
        adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(idx.size)) * flat[order]))
        out.ravel()[order] = adj
    return out
