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


def interchangeable(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Groups of identical rows (units a statistic sees alike): the index of each group's first row and the group
    sizes. Resampling ``n`` units with replacement and adding up each group's counts is the same as drawing the
    group counts from one multinomial (``n`` draws, probabilities size ÷ n: :func:`draw_group_counts`), so a
    bootstrap over units can draw per group instead: the same distribution for a fraction of the draws.

    Rows are compared as bytes and the groups come in the byte order of their rows, each with its first row: for
    unsigned bytes (packed bits) exactly ``np.unique(rows, axis=0, return_index=True, return_counts=True)``, 18×
    faster at a million rows (unique sorts the rows as records; here one stable sort over 8-byte words). For
    floats, −0.0 and 0.0 fall in different groups, which is still a valid grouping (its rows are identical)."""
    rows = np.ascontiguousarray(rows)
    n = len(rows)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    b = rows.view(np.uint8).reshape(n, -1)
    if b.shape[1] % 8:
        b = np.concatenate([b, np.zeros((n, 8 - b.shape[1] % 8), np.uint8)], axis=1)
    words = b.view(">u8")  # big-endian words: their order is the bytes' order
    order = np.lexsort(words.T[::-1])  # stable: each group starts at its first row
    w = words[order]
    new = np.r_[True, (w[1:] != w[:-1]).any(axis=1)]
    return order[new], np.diff(np.r_[np.flatnonzero(new), n])


def draw_group_counts(rng: np.random.Generator, sizes: np.ndarray, b: int) -> np.ndarray:
    """``b`` × groups float counts: how many of the ``sizes.sum()`` units drawn with replacement fall in each group
    of interchangeable units (``sizes`` units each), in each of ``b`` resamples."""
    n = int(np.sum(sizes))
    return rng.multinomial(n, np.asarray(sizes, dtype=float) / n, size=b).astype(np.float64)


BLOCK_CELLS = 4_000_000  # replicates × accounts of bootstrap weights held in memory at once


def replicate_blocks(b: int, k: int, cells: int | None = None) -> list[int]:
    """Sizes of successive blocks of ``b`` replicates whose weights over ``k`` accounts stay within ``cells``
    numbers (drawing the blocks one after another from one generator gives the same draws as drawing all at once)."""
    step = max(1, (BLOCK_CELLS if cells is None else cells) // max(k, 1))
    return [min(step, b - s) for s in range(0, b, step)]
