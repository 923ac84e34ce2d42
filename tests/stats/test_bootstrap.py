"""The bootstrap over accounts (csanalysis.stats.bootstrap): its fast paths against a plain resample of account ids,
its blocks against one draw of everything, its percentile interval against numpy's quantiles."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from csanalysis.stats import bootstrap as bs
from csanalysis.stats.bootstrap import (account_sums, count_weights, draw_counts, group_weights, interchangeable,
                                        percentile_interval, poisson_weights, replicate_blocks, replicate_sums)

# a tiny panel: 7 accounts with 1-3 rows each, a 0/1 outcome and a non-integer value per row
ROWS = pd.DataFrame({
    "account": ["a", "a", "b", "c", "c", "c", "d", "e", "e", "f", "g", "g"],
    "churned": [1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1, 1],
    "mrr": [10.5, 3.25, 7.0, 1.1, 2.2, 3.3, 9.99, 4.0, 0.01, 12.5, 6.6, 0.7],
})


def _plain(rng: np.random.Generator, ids: np.ndarray, n_boot: int) -> tuple[np.ndarray, np.ndarray]:
    """The textbook bootstrap: per replicate, draw len(ids) account ids with rng.choice, stack the drawn accounts'
    rows (an account drawn twice brings its rows twice) and compute the churn rate per row and the mean MRR."""
    churn, mrr = [], []
    for _ in range(n_boot):
        drawn = rng.choice(ids, size=len(ids), replace=True)
        rows = pd.concat([ROWS[ROWS["account"] == a] for a in drawn])
        churn.append(rows["churned"].sum() / len(rows))
        mrr.append(rows["mrr"].sum() / len(rows))
    return np.array(churn), np.array(mrr)


def _engine(rng: np.random.Generator, codes: np.ndarray, K: int, n_boot: int) -> tuple[np.ndarray, np.ndarray]:
    """The same statistics from per-account sums weighted by the engine's count weights."""
    X = account_sums(codes, K, np.column_stack([ROWS["churned"], ROWS["mrr"], np.ones(len(ROWS))]))
    (S,) = replicate_sums(count_weights(rng, K, n_boot), X)
    return S[:, 0] / S[:, 2], S[:, 1] / S[:, 2]


@pytest.mark.parametrize("cells", [bs.BLOCK_CELLS, 7 * 3])  # one block, and blocks of 3 replicates
def test_count_weights_and_interval_equal_a_plain_resample_of_account_ids(cells, monkeypatch):
    """The engine's weights resample the same accounts as rng.choice over the account ids (same generator, same
    seed), so the replicate statistics equal the plain loop's: exactly for the churn rate (integer sums), to
    rounding for the mean MRR (the rows are added in another order); and the percentile interval is numpy's
    percentile of the plain replicates."""
    monkeypatch.setattr(bs, "BLOCK_CELLS", cells)
    codes, ids = pd.factorize(ROWS["account"])
    K, B = len(ids), 60
    assert len(replicate_blocks(B, K)) == (20 if cells == 21 else 1)
    churn, mrr = _engine(np.random.default_rng(3), codes, K, B)
    plain_churn, plain_mrr = _plain(np.random.default_rng(3), np.asarray(ids), B)
    np.testing.assert_array_equal(churn, plain_churn)
    np.testing.assert_allclose(mrr, plain_mrr, rtol=1e-13)
    assert len(np.unique(churn)) > 10  # the resamples differ
    lo, hi = percentile_interval(churn, 0.1)
    assert (lo, hi) == tuple(np.percentile(plain_churn, [5, 95]))
    assert lo < churn.mean() < hi


def test_count_weights_count_the_account_draws():
    """Each block row counts how often each account is drawn: k draws per replicate, integer counts, and the
    same counts rng.choice's ids give."""
    rng, plain = np.random.default_rng(8), np.random.default_rng(8)
    blocks = list(count_weights(rng, 5, 9, dtype=np.int64))
    W = np.concatenate(blocks)
    assert W.shape == (9, 5) and W.dtype == np.int64 and (W.sum(axis=1) == 5).all()
    expected = np.stack([np.bincount(plain.choice(5, size=5), minlength=5) for _ in range(9)])
    np.testing.assert_array_equal(W, expected)


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


def test_account_draw_counts_are_a_multinomial():
    c = draw_counts(np.random.default_rng(3), 50, 4000)
    assert c.shape == (4000, 50) and (c.sum(axis=1) == 50).all()
    # each account's count is Binomial(50, 1/50): mean 1, variance 0.98, P(0) = 0.98^50 = 0.364
    assert abs(c.mean() - 1) < 0.01 and abs(c.var() - 0.98) < 0.03 and abs((c == 0).mean() - 0.98 ** 50) < 0.01
    assert (draw_counts(np.random.default_rng(3), 50, 4000) == c).all()


def test_blocks_draw_what_one_call_draws(monkeypatch):
    """Every weight type, drawn in blocks of a few replicates (BLOCK_CELLS small), equals the weights of one block
    of all replicates: the generator's stream continues from block to block. Then the generator stands at the
    same place (the next draw is the same)."""
    sizes = np.array([3, 1, 5, 2, 1])
    draws = {
        "counts": lambda rng: list(count_weights(rng, 13, 50)),
        "counts, wider temporaries": lambda rng: list(count_weights(rng, 13, 50, width=40, dtype=np.float32)),
        "draw_counts": lambda rng: [draw_counts(rng, 13, 50)],
        "groups": lambda rng: list(group_weights(rng, sizes, 50)),
        "accounts as groups": lambda rng: list(group_weights(rng, np.ones(13), 50)),
        "poisson": lambda rng: list(poisson_weights(rng, 13, 50)),
    }
    whole = {}
    for name, draw in draws.items():
        rng = np.random.default_rng(4)
        blocks = draw(rng)
        assert len(blocks) == 1, name
        whole[name] = (blocks[0], rng.random())
    monkeypatch.setattr(bs, "BLOCK_CELLS", 40)  # 3 replicates of 13 accounts, 1 of width 40, 8 of 5 groups
    for name, draw in draws.items():
        rng = np.random.default_rng(4)
        blocks = draw(rng)
        W = np.concatenate(blocks)
        if name != "draw_counts":  # one array, its integer draws taken in blocks inside
            assert len(blocks) > 5 and max(len(b) for b in blocks) * min(b.shape[1] for b in blocks) <= 40, name
        assert W.dtype == whole[name][0].dtype, name
        np.testing.assert_array_equal(W, whole[name][0], err_msg=name)
        assert rng.random() == whole[name][1], name


def test_replicate_blocks_bound_the_cells():
    assert replicate_blocks(50, 10, cells=30) == [3] * 16 + [2]
    assert replicate_blocks(50, 10) == [50]
    assert replicate_blocks(5, 10**9) == [1] * 5  # at least one replicate per block
    assert replicate_blocks(0, 10) == []
    assert replicate_blocks(7, 0) == [7]


def test_no_account_gives_empty_weights():
    """Zero accounts (or groups): n_boot replicates of zero columns, nothing drawn; their sums are zeros."""
    for blocks in (count_weights(np.random.default_rng(0), 0, 6), group_weights(np.random.default_rng(0), [], 6),
                   poisson_weights(np.random.default_rng(0), 0, 6)):
        W = np.concatenate(list(blocks))
        assert W.shape == (6, 0)
        (S,) = replicate_sums([W], np.zeros((0, 2)))
        assert (S == 0).all() and S.shape == (6, 2)


def test_grouped_draws_have_the_distribution_of_the_account_draws():
    """The grouped shortcut: accounts with the same per-account sums drawn as one multinomial over their groups.
    A statistic of the grouped weights has the mean and spread of the same statistic of the account weights
    (20,000 replicates each: within 4 Monte Carlo standard errors); with every group one account, the groups'
    weights are rng.multinomial's account counts, replicate by replicate."""
    X = np.array([[1, 2], [0, 1], [1, 2], [0, 1], [0, 1], [2, 3], [1, 2], [0, 1], [0, 2], [0, 1]], dtype=float)
    first, sizes = interchangeable(X)
    assert sizes.sum() == len(X) and len(first) == 4
    B = 20_000
    (acc,) = replicate_sums(count_weights(np.random.default_rng(1), len(X), B), X)
    (grp,) = replicate_sums(group_weights(np.random.default_rng(2), sizes, B), X[first])
    a, g = acc[:, 0] / acc[:, 1], grp[:, 0] / grp[:, 1]
    se = a.std() / np.sqrt(B)
    assert abs(a.mean() - g.mean()) < 4 * np.sqrt(2) * se
    assert abs(g.std() / a.std() - 1) < 0.03  # the sd's relative Monte Carlo error is about 1/sqrt(2B) = 0.5%
    # every group a single account: rng.multinomial over the accounts, one replicate after another
    W = np.concatenate(list(group_weights(np.random.default_rng(6), np.ones(7), 30)))
    plain = np.random.default_rng(6)
    np.testing.assert_array_equal(W, np.stack([plain.multinomial(7, np.full(7, 1 / 7)) for _ in range(30)]))


def test_poisson_weights_are_one_poisson_count_per_account_and_replicate():
    W = np.concatenate(list(poisson_weights(np.random.default_rng(9), 4, 25)))
    plain = np.random.default_rng(9)
    np.testing.assert_array_equal(W, np.stack([plain.poisson(1.0, size=4) for _ in range(25)]))
    assert W.dtype == np.float64


def test_account_sums_equal_numpy_add_at():
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 9, 200)
    values = rng.normal(size=(200, 3))
    expected = np.zeros((10, 3))
    np.add.at(expected, codes, values)
    np.testing.assert_array_equal(account_sums(codes, 10, values), expected)
    np.testing.assert_array_equal(account_sums(codes, 10, values[:, 0]), expected[:, 0])
    assert (account_sums(codes, 10, values)[9] == 0).all()  # an account without rows sums to zero


def test_replicate_sums_dense_sparse_and_vectors():
    rng = np.random.default_rng(5)
    X = rng.integers(0, 4, (30, 3)).astype(float)
    blocks = list(count_weights(np.random.default_rng(2), 30, 12))
    dense, sp, vec = replicate_sums(blocks, X, sparse.csr_matrix(X), X[:, 1])
    W = np.concatenate(blocks)
    np.testing.assert_array_equal(dense, W @ X)
    np.testing.assert_array_equal(sp, W @ X)
    np.testing.assert_array_equal(vec, W @ X[:, 1])
    assert [a.shape for a in replicate_sums([], X, X[:, 0])] == [(0, 3), (0,)]


def test_percentile_interval_equals_numpy_quantiles_of_the_defined_replicates():
    """NaN replicates (statistic undefined) are left out; infinite ones too with ``finite``; too few defined
    replicates give NaN; ``point`` widens the interval to include the estimate; a matrix gives one interval per
    column, each equal to the vector's."""
    rng = np.random.default_rng(3)
    b = rng.normal(size=200)
    b[:15] = np.nan
    b[15:30] = np.inf  # more than the upper 5%: the upper bound is infinite (inverted_cdf picks a replicate)
    defined = b[~np.isnan(b)]
    with np.errstate(invalid="ignore"):  # linear interpolation between two infinite replicates: inf − inf
        np.testing.assert_array_equal(percentile_interval(b, 0.1), np.quantile(defined, [0.05, 0.95]))
    lo, hi = percentile_interval(b, 0.1, method="inverted_cdf")
    assert (lo, hi) == tuple(np.quantile(defined, [0.05, 0.95], method="inverted_cdf")) and hi == np.inf
    fin = b[np.isfinite(b)]
    assert percentile_interval(b, 0.1, finite=True) == tuple(np.quantile(fin, [0.05, 0.95]))
    assert percentile_interval(b, 0.1, method="inverted_cdf", finite=True) == tuple(
        np.quantile(fin, [0.05, 0.95], method="inverted_cdf"))
    assert percentile_interval(b, 0.1, finite=True, point=10.0) == (np.quantile(fin, 0.05), 10.0)
    assert np.isnan(percentile_interval(b[:39], min_replicates=10, finite=True)).all()  # 9 finite replicates
    assert percentile_interval(b[:40], min_replicates=10, finite=True) == tuple(np.quantile(b[30:40], [0.025, 0.975]))
    assert np.isnan(percentile_interval(np.full(5, np.nan))).all()
    assert np.isnan(percentile_interval(np.zeros(0))).all()

    M = rng.normal(size=(300, 4))
    M[rng.random(M.shape) < 0.2] = np.nan
    M[:, 3] = np.nan  # a statistic no replicate defines
    M[:3, 2] = np.inf
    pts = np.array([0.0, 5.0, 0.0, 0.0])
    lo, hi = percentile_interval(M, 0.05, point=pts)
    for j in range(3):
        assert (lo[j], hi[j]) == percentile_interval(M[:, j], 0.05, point=pts[j])
    assert np.isnan([lo[3], hi[3]]).all() and hi[1] == 5.0
    np.testing.assert_array_equal(lo[:3], np.minimum(np.nanquantile(M[:, :3], 0.025, axis=0), pts[:3]))
    np.testing.assert_array_equal(hi[:3], np.maximum(np.nanquantile(M[:, :3], 0.975, axis=0), pts[:3]))
    lo_f, hi_f = percentile_interval(M, 0.05, finite=True)
    assert (lo_f[2], hi_f[2]) == percentile_interval(M[3:, 2], 0.05)


def test_interchangeable_groups_equal_numpy_unique_rows():
    """Packed bits (the logo curve's rows): the same groups, first rows and sizes as np.unique over rows; floats:
    every group holds identical rows, distinct groups differ, sizes add up."""
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


def test_percentile_estimate_is_the_point_with_the_widened_interval_or_says_why_not():
    from csanalysis.stats.bootstrap import percentile_estimate

    rng = np.random.default_rng(3)
    boot = rng.normal(0.5, 0.1, 400)
    e = percentile_estimate(0.52, boot, 0.05).brief()
    assert e == {"estimate": 0.52, "lower": float(np.quantile(boot, 0.025)), "upper": float(np.quantile(boot, 0.975)),
                 "reason": None}
    # the point outside the replicates: the interval is widened to include it
    assert percentile_estimate(2.0, boot, 0.05).brief()["upper"] == 2.0
    # infinite and NaN replicates are left out; fewer than 10 finite ones give no bounds
    few = np.r_[boot[:9], np.inf, np.nan]
    assert percentile_estimate(0.5, few, 0.05).brief() == {"estimate": 0.5, "lower": None, "upper": None,
                                                           "reason": "too few bootstrap samples"}
    assert percentile_estimate(np.nan, boot, reason="no churn in the window").brief() == {
        "estimate": None, "lower": None, "upper": None, "reason": "no churn in the window"}
    assert percentile_estimate(np.inf, boot).brief()["reason"] == "not defined"
