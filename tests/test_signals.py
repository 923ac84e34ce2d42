"""AccountMonths (position lookups by account and month) against the pandas operations it replaces, on random
tables with repeated cells, months before the window and unknown accounts; and _Ranked's merged bins against
the statistics computed over every distinct score."""
import numpy as np
import pandas as pd
import pytest

from csanalysis.data.signals import AccountMonths
from csanalysis.health import _Boot, _Ranked


def _ids(rng, n, k):
    return np.array([f"c{i}" for i in rng.integers(0, k, n)], dtype=object)


@pytest.mark.parametrize("seed", range(40))
def test_latest_equals_merge_asof(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 80))
    ids, m, v = _ids(rng, n, 6), rng.integers(0, 14, n), rng.normal(size=n)  # repeated (id, month) cells
    rid, rm = _ids(rng, 50, 7), rng.integers(4, 14, 50)  # c6 has no table rows; months 0–3 precede the window
    lag = int(rng.integers(0, 3))
    keys = AccountMonths(rid, rm, back=int(rng.integers(0, 3)))
    got = keys.latest(ids, m, v, lag=lag)
    left = pd.DataFrame({"customer_id": rid, "m": rm - lag, "i": np.arange(50)}).sort_values("m", kind="stable")
    right = pd.DataFrame({"customer_id": ids, "m": m, "v": v}).sort_values("m", kind="stable")
    want = pd.merge_asof(left, right, on="m", by="customer_id", direction="backward").sort_values("i")["v"]
    np.testing.assert_array_equal(got, want.to_numpy())


@pytest.mark.parametrize("seed", range(20))
def test_cells_equal_groupby_and_reindex(seed):
    rng = np.random.default_rng(100 + seed)
    ids, m = _ids(rng, 200, 8), rng.integers(0, 12, 200)
    v = np.where(rng.random(200) < 0.1, np.nan, rng.integers(0, 5, 200).astype(float))
    rid, rm = _ids(rng, 60, 9), rng.integers(3, 12, 60)
    keys = AccountMonths(rid, rm, back=3)
    sums = pd.Series(v).groupby([ids, m]).sum()  # missing values count as zero
    uniq = pd.DataFrame({"id": ids, "m": m, "v": v}).drop_duplicates(["id", "m"]).set_index(["id", "m"])["v"]
    one = keys.cells(uniq.index.get_level_values(0), uniq.index.get_level_values(1), uniq.to_numpy(), how="one")
    s = keys.cells(ids, m, v, how="sum")
    have = keys.present(ids, m)
    for lag in range(4):
        key = pd.MultiIndex.from_arrays([rid, rm - lag])
        np.testing.assert_array_equal(keys.at(s, lag), sums.reindex(key).fillna(0).to_numpy())
        np.testing.assert_array_equal(keys.at(one, lag), uniq.reindex(key).fillna(0).to_numpy())
        np.testing.assert_array_equal(keys.at(have, lag, fill=False), sums.reindex(key).notna().to_numpy())
    # several columns of one table at once: the same arrays as one column at a time
    both = keys.cells(ids, m, pd.DataFrame({"v": v, "w": 2 * v}), how="sum")
    np.testing.assert_array_equal(both["v"], s)
    np.testing.assert_array_equal(both["w"], keys.cells(ids, m, 2 * v, how="sum"))
    with pytest.raises(ValueError, match="how="):
        keys.cells(ids, m, v, how="mean")


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
    # a score whose accounts all left the resample weighs nothing: its share is 0 (not a division by zero)
    frac = np.clip(np.divide(share * gw.sum() - before, gw, out=np.zeros_like(gw), where=gw > 0), 0, 1)
    return (frac * gy).sum(), (frac * gw).sum()


@pytest.mark.parametrize("seed", range(10))
def test_ranked_bins_match_every_distinct_score(seed):
    rng = np.random.default_rng(200 + seed)
    n = 400
    score = np.round(rng.random(n), 2)  # many ties
    y = (rng.random(n) < 0.1).astype(float)
    boot = _Boot.draw(_ids(rng, n, 60), 5, seed)
    r = _Ranked(score, y, boot)
    assert r.pos.shape[0] < len(np.unique(score))  # the bins are fewer than the distinct scores
    auc = r.auc(boot)
    top_y, top_w = r.top_share(boot, 0.1)
    for b in range(5):
        w = boot.counts[b, boot.codes].astype(float)
        assert auc[b] == pytest.approx(_auc_all_scores(score, y, w), rel=1e-12)
        ty, tw = _top_share_all_scores(score, y, w, 0.1)
        assert top_y[b] == pytest.approx(ty, rel=1e-12, abs=1e-12)
        assert top_w[b] == pytest.approx(tw, rel=1e-12)


def test_cells_with_the_callers_account_numbers():
    rng = np.random.default_rng(7)
    ids, m, v = _ids(rng, 300, 10), rng.integers(0, 12, 300), rng.normal(size=300)
    keys = AccountMonths(_ids(rng, 60, 8), rng.integers(3, 12, 60), back=2)
    np.testing.assert_array_equal(keys.cells(ids, m, v, acc=keys.accounts(ids)), keys.cells(ids, m, v))
