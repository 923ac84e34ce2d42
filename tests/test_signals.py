"""AccountMonths (position lookups by account and month) against the pandas operations it replaces, on random
tables with repeated cells, months before the window and unknown accounts (the ranking's merged bins are tested
in tests/stats/test_ranking.py)."""
import numpy as np
import pandas as pd
import pytest

from csanalysis.data.signals import AccountMonths


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




def test_cells_with_the_callers_account_numbers():
    rng = np.random.default_rng(7)
    ids, m, v = _ids(rng, 300, 10), rng.integers(0, 12, 300), rng.normal(size=300)
    keys = AccountMonths(_ids(rng, 60, 8), rng.integers(3, 12, 60), back=2)
    np.testing.assert_array_equal(keys.cells(ids, m, v, acc=keys.accounts(ids)), keys.cells(ids, m, v))
