"""The shared account-bootstrap draws (csanalysis.resample)."""
from __future__ import annotations

import numpy as np

from csanalysis.resample import draw_counts


def test_draw_counts_equal_one_bincount_over_all_resamples():
    """Counting each resample's draws on its own gives the counts of one bincount over offset bins (the earlier
    formula), for integer and float output: the same draws, so no bootstrap result moves."""
    for k, b in ((1, 3), (7, 1), (50, 40), (1000, 3)):
        draws = np.random.default_rng(11).integers(0, k, size=(b, k)) + (np.arange(b) * k)[:, None]
        expected = np.bincount(draws.ravel(), minlength=b * k).reshape(b, k)
        got = draw_counts(np.random.default_rng(11), k, b)
        assert got.dtype == np.int64 and (got == expected).all()
        as_float = draw_counts(np.random.default_rng(11), k, b, float)
        assert as_float.dtype == np.float64 and (as_float == expected).all()
        assert (got.sum(axis=1) == k).all()
