"""Account-bootstrap helpers of the NPS analyses: per-account sums, multinomial weights over accounts, the NPS
replicates of interchangeable accounts and percentile intervals. Kept as they were in ``nps.py`` until the one
account-bootstrap engine (csanalysis/stats/bootstrap.py) replaces them (issue 20)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..resample import draw_counts, draw_group_counts, interchangeable, replicate_blocks

__all__ = ["_boot_nps", "_percentile", "_codes", "_account_sums", "_boot_weights", "_pct_ci"]


def _boot_nps(rng, B: int, *per_sample_counts) -> np.ndarray:
    """Bootstrap NPS replicates over accounts, vectorised: for each sample, ``(P_k, D_k, N_k)`` per account
    (the same accounts, in the same order, for every sample: a paired bootstrap when there are two).
    Returns an array B × (number of samples).

    An NPS only sees each account's promoters minus detractors and responses, so accounts with the same values in
    every sample are interchangeable: the resamples draw how many accounts come from each such group (one
    multinomial over a few dozen groups, :func:`csanalysis.resample.draw_group_counts`), which has the
    distribution of drawing the accounts themselves (tests/nps/test_nps_statistic.py) at a fraction of the cost
    (1000 × 1M account draws per NPS at a million accounts)."""
    cols = np.column_stack([c for P, D, N in per_sample_counts for c in (P - D, N)])  # accounts × 2 per sample
    out = np.full((B, len(per_sample_counts)), np.nan)
    if not len(cols):
        return out
    first, sizes = interchangeable(cols)
    X = cols[first]
    start = 0
    for b in replicate_blocks(B, len(sizes)):  # blocks only bound memory
        S = draw_group_counts(rng, sizes, b) @ X
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start:start + b] = 100.0 * S[:, 0::2] / S[:, 1::2]
        start += b
    return out


def _percentile(boot: np.ndarray, alpha: float) -> tuple[float, float]:
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _codes(accounts) -> tuple[np.ndarray, int]:
    codes, uniq = pd.factorize(pd.Series(accounts).astype(str))
    return codes, len(uniq)


def _account_sums(codes: np.ndarray, K: int, cols: np.ndarray) -> np.ndarray:
    """K × m matrix: per account, the sum of each column of ``cols`` (n × m)."""
    # one bincount per column: the same sums in the same order as np.add.at(out, codes, cols), several times faster
    out = np.empty((K, cols.shape[1]))
    for j in range(cols.shape[1]):
        out[:, j] = np.bincount(codes, weights=cols[:, j], minlength=K)
    return out


def _boot_weights(rng, K: int, B: int):
    """Yield blocks of account-bootstrap weights (replicates × K), at most ``resample.BLOCK_CELLS`` cells each.
    The counts drawn do not depend on the block size (the generator's stream simply continues from one block to
    the next; tests/nps/test_nps_fast_paths.py), so the blocks bound memory without changing any result."""
    for b in replicate_blocks(B, K):
        yield draw_counts(rng, K, b, float)  # replicates × accounts: how often each account is drawn


def _pct_ci(boot: np.ndarray, alpha: float) -> tuple[float, float]:
    ok = boot[np.isfinite(boot)]
    if len(ok) < 10:
        return float("nan"), float("nan")
    return _percentile(ok, alpha)
