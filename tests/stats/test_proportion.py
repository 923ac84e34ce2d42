"""The Wilson interval (csanalysis.stats.proportion.wilson): against a hand computation from its formula, against
statsmodels, and its documented edges (n = 0, NaN, exact ends, broadcasting, bad input)."""
import math

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from csanalysis.stats.proportion import wilson


def by_hand(k, n, alpha=0.05):
    """Wilson (1927) from its formula, in plain Python: (p + z²/2n ∓ z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n)."""
    from statistics import NormalDist

    z = NormalDist().inv_cdf(1 - alpha / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


@pytest.mark.parametrize("k,n,alpha", [(2, 3, 0.05), (0, 10, 0.05), (10, 10, 0.05), (4, 33, 0.05), (3, 5, 0.01),
                                       (417, 1000, 0.1), (1, 1, 0.05)])
def test_wilson_by_hand(k, n, alpha):
    lo, hi = wilson(k, n, alpha)
    hlo, hhi = by_hand(k, n, alpha)
    assert lo == pytest.approx(hlo, abs=1e-12) and hi == pytest.approx(hhi, abs=1e-12)
    assert isinstance(lo, float) and isinstance(hi, float)  # scalars in, floats out


def test_wilson_2_of_3_by_hand_numbers():
    # 2 of 3 at 95%: z = 1.959964, centre = (2/3 + z²/6)/(1 + z²/3) = 0.5791, half = 0.3715
    lo, hi = wilson(2, 3)
    assert lo == pytest.approx(0.2077, abs=1e-4) and hi == pytest.approx(0.9385, abs=1e-4)


def test_wilson_is_statsmodels_bit_for_bit():
    rng = np.random.default_rng(1)
    n = rng.integers(1, 500, size=2000)
    k = rng.integers(0, n + 1)
    for alpha in (0.05, 0.01, 0.2):
        lo, hi = wilson(k, n, alpha)
        slo, shi = proportion_confint(k, n, alpha=alpha, method="wilson")
        np.testing.assert_array_equal(lo, slo)
        np.testing.assert_array_equal(hi, shi)
    # a pandas Series in, arrays out in its order
    import pandas as pd

    lo, hi = wilson(pd.Series(k[:5], index=list("abcde")), pd.Series(n[:5], index=list("abcde")))
    np.testing.assert_array_equal(lo, proportion_confint(k[:5], n[:5], method="wilson")[0])


def test_wilson_n_zero_and_missing_k_are_nan_without_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division warning at n = 0
        lo, hi = wilson([0, 3, np.nan, 0], [0, 10, 10, 5])
        assert math.isnan(wilson(0, 0)[0]) and math.isnan(wilson(0, 0)[1])
    assert np.isnan(lo[[0, 2]]).all() and np.isnan(hi[[0, 2]]).all()
    assert np.isfinite(lo[[1, 3]]).all() and np.isfinite(hi[[1, 3]]).all()


def test_wilson_at_n_zero_a_caller_floors_the_trials_itself():
    # cohorts.py keeps its edge at the call site: trials floored at 1, so 0 of 0 reads as 0 of 1
    lo, hi = wilson(np.array([0.0, 2.0]), np.maximum(np.array([0, 4]), 1))
    assert (lo[0], hi[0]) == wilson(0, 1)
    assert hi[0] == pytest.approx(by_hand(0, 1)[1])


def test_wilson_exact_ends():
    n = np.arange(1, 400)
    k0, kn = np.zeros_like(n), n
    lo0, hi0 = wilson(k0, n, exact_ends=True)
    lon, hin = wilson(kn, n, exact_ends=True)
    assert (lo0 == 0).all() and (hin == 1).all()
    # only the ends move, and only by rounding noise
    rlo0, rhi0 = wilson(k0, n)
    rlon, rhin = wilson(kn, n)
    np.testing.assert_array_equal(hi0, rhi0)
    np.testing.assert_array_equal(lon, rlon)
    assert np.abs(rlo0).max() < 1e-15 and np.abs(1 - rhin).max() < 1e-15
    assert (rlo0 != 0).any() or (rhin != 1).any()  # the noise the option removes does occur
    # exact ends = the raw bounds pulled to the share (what voice's prevalence did before), for every k of n ≤ 150
    for m in range(1, 151):
        k = np.arange(m + 1)
        lo, hi = wilson(k, m)
        elo, ehi = wilson(k, m, exact_ends=True)
        np.testing.assert_array_equal(elo, np.minimum(lo, k / m))
        np.testing.assert_array_equal(ehi, np.maximum(hi, k / m))


def test_wilson_broadcasts():
    k = np.array([[0, 1, 2], [3, 4, 5]])
    n = np.array([5, 10])[:, None]
    lo, hi = wilson(k, n)
    assert lo.shape == (2, 3)
    assert lo[1, 2] == wilson(5, 10)[0] and hi[0, 1] == wilson(1, 5)[1]


@pytest.mark.parametrize("k,n,msg", [(4, 3, "between 0 and n"), (-1, 3, "between 0 and n"),
                                     (0, -2, "0 or more"), (1, np.nan, "0 or more")])
def test_wilson_bad_input(k, n, msg):
    with pytest.raises(ValueError, match=msg):
        wilson(k, n)


def test_wilson_bad_alpha():
    with pytest.raises(ValueError, match="alpha"):
        wilson(1, 2, alpha=1.5)
