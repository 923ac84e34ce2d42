"""csanalysis.stats.ranking against plain computations on small random data with many ties: the weighted AUC
against scikit-learn's roc_auc_score with sample weights, the merged bins against the statistics over every
distinct score, the top share by hand, the top n within groups against one pandas sort of every row."""
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from csanalysis.stats import ranking


def _auc_all_scores(score, y, w):
    """Weighted AUC over every distinct score (no merged bins): the definition."""
    order = np.argsort(score, kind="stable")
    s, yy, ww = score[order], y[order], w[order]
    _, g = np.unique(s, return_inverse=True)
    wp, wn = np.bincount(g, ww * yy), np.bincount(g, ww * (1 - yy))
    below = np.cumsum(wn) - wn
    return (wp * (below + 0.5 * wn)).sum() / (wp.sum() * wn.sum())


def _top_share_all_scores(score, y, w, share):
    order = np.argsort(-score, kind="stable")
    _, g = np.unique(-score[order], return_inverse=True)
    gw, gy = np.bincount(g, w[order]), np.bincount(g, (w * y)[order])
    before = np.cumsum(gw) - gw
    # a score whose rows all weigh nothing has no share (0, not a division by zero)
    frac = np.clip(np.divide(share * gw.sum() - before, gw, out=np.zeros_like(gw), where=gw > 0), 0, 1)
    return (frac * gy).sum(), (frac * gw).sum()


def test_tie_groups_number_equal_scores_in_order():
    score = np.array([0.3, 0.1, 0.3, 0.2, 0.1])
    g, n = ranking.tie_groups(score)
    assert n == 3 and g.tolist() == [2, 0, 2, 1, 0]
    gd, nd = ranking.tie_groups(score, descending=True)
    assert nd == 3 and gd.tolist() == [0, 2, 0, 1, 2]
    assert ranking.tie_groups(np.zeros(0))[1] == 0


@pytest.mark.parametrize("seed", range(20))
def test_weighted_auc_equals_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 300))
    score = np.round(rng.random(n), 1)  # many ties
    y = (rng.random(n) < 0.3).astype(float)
    y[:2] = [0, 1]  # both outcomes present
    w = rng.integers(0, 4, n).astype(float)  # as a bootstrap replicate's counts, zeros included
    w[:2] = 1
    assert ranking.weighted_auc(score, y, w) == pytest.approx(roc_auc_score(y, score, sample_weight=w), rel=1e-12)
    assert ranking.weighted_auc(score, y) == pytest.approx(roc_auc_score(y, score), rel=1e-12)


def test_weighted_auc_undefined_without_both_outcomes():
    assert np.isnan(ranking.weighted_auc(np.array([0.1, 0.2]), np.array([0.0, 0.0])))


@pytest.mark.parametrize("seed", range(10))
def test_merged_bins_match_every_distinct_score(seed):
    """The bins (runs of tied groups without events merged) give the AUC and top share of every distinct score,
    for each replicate of a matrix of weights."""
    rng = np.random.default_rng(200 + seed)
    n = 400
    score = np.round(rng.random(n), 2)  # many ties
    y = (rng.random(n) < 0.1).astype(float)
    W = rng.integers(0, 3, (5, n)).astype(float)  # five replicates of row weights
    b, nb = ranking.rank_bins(score, y)
    assert nb < len(np.unique(score))  # the bins are fewer than the distinct scores
    pos = np.stack([np.bincount(b, w * y, minlength=nb) for w in W])
    neg = np.stack([np.bincount(b, w * (1 - y), minlength=nb) for w in W])
    auc = ranking.binned_auc(pos, neg)
    top_y, top_w = ranking.binned_top_share(pos, neg, 0.1)
    for k, w in enumerate(W):
        assert auc[k] == pytest.approx(_auc_all_scores(score, y, w), rel=1e-12)
        ty, tw = _top_share_all_scores(score, y, w, 0.1)
        assert top_y[k] == pytest.approx(ty, rel=1e-12, abs=1e-12)
        assert top_w[k] == pytest.approx(tw, rel=1e-12)
        assert ranking.top_share(score, y, 0.1, w) == pytest.approx((ty, tw), rel=1e-12, abs=1e-12)


def test_top_share_by_hand():
    # weight 4; the top half is the row at 3 (an event) and half of the two rows tied at 2 (one an event)
    score, y = np.array([3.0, 2.0, 2.0, 1.0]), np.array([1.0, 0.0, 1.0, 0.0])
    assert ranking.top_share(score, y, 0.5) == pytest.approx((1.5, 2.0))
    assert ranking.top_share(score, y, 1.0) == pytest.approx((2.0, 4.0))
    assert ranking.top_share(score, y, 0.0) == pytest.approx((0.0, 0.0))


def _top_n_by_pandas_sort(frame, col, n, by):
    """One pandas sort of every row on (col ↓, mrr ↓, id as text), cumcount per group (groups as text)."""
    d = pd.DataFrame({"r": frame[col].to_numpy(), "mrr": frame["mrr"].to_numpy(),
                      "id": frame["customer_id"].astype(str).to_numpy(), "pos": np.arange(len(frame))})
    for k in by:
        d[k] = frame[k].astype(str).to_numpy()
    d = d.sort_values(["r", "mrr", "id"], ascending=[False, False, True], kind="stable")
    rank = d.groupby(by, sort=False).cumcount() if by else pd.Series(np.arange(len(d)), index=d.index)
    return np.sort(d.loc[rank.to_numpy() < n, "pos"].to_numpy())


@pytest.mark.parametrize("seed", range(30))
def test_top_n_equals_a_pandas_sort_of_every_row(seed):
    rng = np.random.default_rng(seed)
    N = int(rng.integers(1, 400))
    r = rng.integers(0, 6, N) / 3  # many ties
    r[rng.random(N) < 0.1] = np.nan
    mrr = rng.integers(0, 4, N) * 10.0
    mrr[rng.random(N) < 0.1] = np.nan
    team = rng.choice(np.array(["high", "low", "tech", None, np.nan], dtype=object), N)
    ids = rng.choice(np.array(["c1", "c10", "c2", "C3", 7, "7", "é"], dtype=object), N)  # 7 and "7": one text
    f = pd.DataFrame({"customer_id": ids, "m": rng.integers(0, 3, N) + 24000, "touch_model": team, "mrr": mrr, "_r": r})
    for n in (0, 1, 3, 50):
        for by in ([], ["m"], ["m", "touch_model"], ["touch_model"]):
            got = ranking.top_n(f["_r"].to_numpy(), n, [f[k].to_numpy() for k in by], tiebreak=f["mrr"].to_numpy(),
                                ids=f["customer_id"].to_numpy())
            np.testing.assert_array_equal(got, _top_n_by_pandas_sort(f, "_r", n, by), err_msg=f"n={n} by={by}")


def test_top_n_without_tiebreak_keeps_the_row_order():
    score = np.array([1.0, 2.0, 2.0, 2.0, 0.5])
    assert ranking.top_n(score, 2).tolist() == [1, 2]
    # group a holds rows 0, 2, 4 (scores 1, 2, 0.5): rows 2 and 0; group b rows 1 and 3
    assert ranking.top_n(score, 2, [np.array(["a", "b", "a", "b", "a"])]).tolist() == [0, 1, 2, 3]
    assert ranking.top_n(score, 0).tolist() == []


def test_weighted_midranks_are_the_ranks_of_the_repeated_values():
    from scipy.stats import rankdata

    rng = np.random.default_rng(7)
    values = rng.integers(0, 6, size=40)  # many ties
    levels, codes = np.unique(values, return_inverse=True)
    weights = rng.integers(0, 4, size=(5, 40)).astype(float)  # bootstrap-like counts, some rows drawn 0 times
    got = ranking.weighted_midranks(weights, codes, len(levels))
    for b in range(5):
        repeated = np.repeat(values, weights[b].astype(int))
        ranks = rankdata(repeated)  # average ranks of ties
        for i in np.flatnonzero(weights[b] > 0):
            assert got[b, i] == pytest.approx(ranks[repeated == values[i]][0], abs=1e-12)


def test_binned_auc_of_reversed_levels_is_the_auc_of_low_values():
    rng = np.random.default_rng(8)
    score = rng.integers(0, 11, size=300).astype(float)
    y = (rng.random(300) < 0.2 + 0.04 * (10 - score) / 10).astype(float)
    w = rng.integers(1, 4, size=300).astype(float)
    _, g = np.unique(score, return_inverse=True)
    pos, neg = np.bincount(g, w * y), np.bincount(g, w * (1 - y))
    got = ranking.binned_auc(pos[::-1], neg[::-1])
    assert got == pytest.approx(roc_auc_score(y, -score, sample_weight=w), abs=1e-12)
