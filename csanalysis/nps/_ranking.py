"""Ranking helpers of the NPS bootstraps: weighted mid-ranks per resample and the weighted AUC of low values.
Kept as they were in ``nps.py`` until csanalysis/stats/ranking.py replaces them (issue 20)."""
from __future__ import annotations

import numpy as np

__all__ = ["_wranks", "_wauc"]


def _wranks(W: np.ndarray, codes: np.ndarray, U: int) -> np.ndarray:
    """Mid-ranks of each observation in each weighted resample (values given as sorted unique codes 0..U−1)."""
    from scipy import sparse

    onehot = sparse.csr_matrix((np.ones(len(codes)), (np.arange(len(codes)), codes)), shape=(len(codes), U))
    cnt = np.asarray((onehot.T @ W.T).T)  # replicates × U: weight at each distinct value (sparse: O(B·n), not O(B·n·U))
    below = np.cumsum(cnt, axis=1) - cnt
    mid = below + (cnt + 1.0) / 2.0
    return mid[:, codes]


def _wauc(C1: np.ndarray, C0: np.ndarray) -> np.ndarray:
    """AUC of *low* values predicting the event, from weighted counts per sorted level (replicates × levels):
    P(value of an event < value of a non-event) + ½ P(tie)."""
    above0 = C0.sum(axis=1, keepdims=True) - np.cumsum(C0, axis=1)  # non-events at higher levels
    num = (C1 * (above0 + 0.5 * C0)).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return num / (C1.sum(axis=1) * C0.sum(axis=1))
