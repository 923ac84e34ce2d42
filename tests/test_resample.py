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


def test_interchangeable_groups_equal_numpy_unique_rows():
    """Packed bits (the logo curve's rows): the same groups, first rows and sizes as np.unique over rows; floats:
    every group holds identical rows, distinct groups differ, sizes add up."""
    from csanalysis.resample import interchangeable

    rng = np.random.default_rng(5)
    for n, width in ((1, 1), (500, 1), (500, 8), (2000, 13), (3000, 40)):
        bits = (rng.random((n, width)) < 0.3).astype(np.uint8)
        bits[rng.random(n) < 0.4] = 0  # many repeated rows
        _, first, sizes = np.unique(bits, axis=0, return_index=True, return_counts=True)
        got_first, got_sizes = interchangeable(bits)
        np.testing.assert_array_equal(got_first, first)
        np.testing.assert_array_equal(got_sizes, sizes)
    rows = rng.integers(0, 3, (1000, 4)).astype(float) * 0.5
    first, sizes = interchangeable(rows)
    assert sizes.sum() == len(rows) and len(np.unique(rows[first], axis=0)) == len(first)
    for f, size in zip(first, sizes):
        assert (rows == rows[f]).all(axis=1).sum() == size
    assert [len(a) for a in interchangeable(np.zeros((0, 3)))] == [0, 0]
