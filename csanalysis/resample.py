"""Resampling shared by the analyses' bootstraps over accounts."""
from __future__ import annotations

import numpy as np


def draw_counts(rng: np.random.Generator, k: int, b: int) -> np.ndarray:
    """``b`` × ``k`` counts: how often each of ``k`` accounts is drawn when ``k`` accounts are drawn with
    replacement, in each of ``b`` resamples (a multinomial; one bincount, far faster than ``rng.multinomial``)."""
    draws = rng.integers(0, k, size=(b, k)) + (np.arange(b) * k)[:, None]
    return np.bincount(draws.ravel(), minlength=b * k).reshape(b, k)
