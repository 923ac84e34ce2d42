"""Resampling shared by the analyses' bootstraps over accounts."""
from __future__ import annotations

import numpy as np


def draw_counts(rng: np.random.Generator, k: int, b: int, dtype=np.int64) -> np.ndarray:
    """``b`` × ``k`` counts: how often each of ``k`` accounts is drawn when ``k`` accounts are drawn with
    replacement, in each of ``b`` resamples (a multinomial; bincounts, far faster than ``rng.multinomial``),
    as ``dtype``."""
    draws = rng.integers(0, k, size=(b, k))
    out = np.empty((b, k), dtype=dtype)
    for i in range(b):  # one bincount per resample stays in cache: 1.3× faster than one over b·k offset bins
        out[i] = np.bincount(draws[i], minlength=k)
    return out


BLOCK_CELLS = 4_000_000  # replicates × accounts of bootstrap weights held in memory at once


def replicate_blocks(b: int, k: int, cells: int | None = None) -> list[int]:
    """Sizes of successive blocks of ``b`` replicates whose weights over ``k`` accounts stay within ``cells``
    numbers (drawing the blocks one after another from one generator gives the same draws as drawing all at once)."""
    step = max(1, (BLOCK_CELLS if cells is None else cells) // max(k, 1))
    return [min(step, b - s) for s in range(0, b, step)]
