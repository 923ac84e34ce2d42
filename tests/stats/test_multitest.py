"""Holm's correction (csanalysis.stats.multitest.holm) against statsmodels' multipletests, on random p-values
with ties and NaNs, and its documented edges."""
import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from csanalysis.stats.multitest import holm


def test_holm_equals_multipletests():
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.005, 0.5])
    ok = ~np.isnan(p)
    got = holm(p)
    assert np.isnan(got[2])
    np.testing.assert_array_equal(got[ok], multipletests(p[ok], method="holm")[1])
    # by hand: sorted 0.005, 0.01, 0.03, 0.04, 0.5 times 5, 4, 3, 2, 1, running maximum, capped at 1
    np.testing.assert_allclose(got[ok], [0.04, 0.09, 0.09, 0.025, 0.5])


@pytest.mark.parametrize("seed", range(20))
def test_holm_random_with_ties_and_nans(seed):
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 60))
    p = rng.uniform(0, 1, size) ** 3
    p[rng.random(size) < 0.3] = rng.choice([0.0, 0.01, 0.2, 1.0])  # ties, and the edges 0 and 1
    p[rng.random(size) < 0.2] = np.nan
    ok = ~np.isnan(p)
    got = holm(p)
    assert np.isnan(got[~ok]).all()
    if ok.any():
        np.testing.assert_array_equal(got[ok], multipletests(p[ok], method="holm")[1])
        # n = len(p): the missing tests counted in the family, as multipletests counts NaN it is given
        with np.errstate(invalid="ignore"):
            want = multipletests(p, method="holm")[1]
        np.testing.assert_array_equal(holm(p, n=size), want)


def test_holm_edges():
    assert holm([]).shape == (0,)
    assert np.isnan(holm([np.nan, np.nan])).all()
    assert holm([0.3]).tolist() == [0.3]
    np.testing.assert_array_equal(holm(np.array([[0.01, 0.02], [0.5, np.nan]])),
                                  np.array([[0.03, 0.04], [0.5, np.nan]]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.1, 1.5])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([np.inf])
    with pytest.raises(ValueError, match="fewer"):
        holm([0.1, 0.2], n=1)
