"""csanalysis.data.keys (integer-keyed account-month lookups) against the pandas operations it replaces:
AccountMonths on random tables with repeated cells, months before the window and unknown accounts; spell_rows
against a (customer_id, spell) reindex; customer_codes against a sorted factorize of the string ids; panel_rows
(from the engine) against the pandas panel's rows; and the NPS coverage of a panel in another order equal to the
sorted one (the ranking's merged bins are tested in tests/stats/test_ranking.py)."""
import numpy as np
import pandas as pd
import pytest

from csanalysis import nps
from csanalysis.data.keys import AccountMonths, IntegerPanel, codes, customer_codes, spell_rows
from csanalysis.nps.nonresponse import _coverage

from conftest import generated_world


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


@pytest.mark.parametrize("seed", range(10))
def test_spell_rows_equal_a_string_key_reindex(seed):
    rng = np.random.default_rng(300 + seed)
    spells = pd.DataFrame({"customer_id": _ids(rng, 40, 8), "spell": rng.integers(1, 4, 40)}).drop_duplicates()
    rid = _ids(rng, 70, 10)  # c8, c9 have no spells
    spell = np.where(rng.random(70) < 0.1, np.nan, rng.integers(1, 5, 70).astype(float))  # spell 4 is absent
    got = spell_rows(AccountMonths(rid, rng.integers(0, 12, 70)), spell, spells)
    pos = pd.Series(np.arange(len(spells)), index=pd.MultiIndex.from_frame(spells))
    want = pos.reindex(pd.MultiIndex.from_arrays([rid, spell])).fillna(-1).to_numpy(np.int64)
    np.testing.assert_array_equal(got, want)
    assert (got >= 0).any() and (got < 0).any()


def test_codes_number_string_ids_in_order_of_first_appearance():
    code, k = codes(pd.Series(["b", 10, "a", "10", "b"], dtype=object))
    assert k == 3 and list(code) == [0, 1, 2, 1, 0]  # 10 and "10" are one account, as astype(str) makes them


def test_customer_codes_follow_the_string_order():
    code, ids = customer_codes(pd.Series(["b", 10, "a", 2, "b", "10"], dtype=object))
    assert list(ids) == ["10", "2", "a", "b"]  # 10 and "10" are one customer, as astype(str) makes them
    assert list(ids[code]) == ["b", "10", "a", "2", "b", "10"]
    # sorted string ids (as the panel comes) take the run-number path: the same codes as hashing them
    rng = np.random.default_rng(1)
    for raw in (np.sort(rng.choice(["a", "ab", "b", "B", "é", "10", "9", ""], 200)), np.array(["x"] * 5)):
        code, ids = customer_codes(pd.Series(raw, dtype=object))
        ref_code, ref_ids = pd.factorize(pd.Index(raw, dtype=object), sort=True)
        np.testing.assert_array_equal(code, ref_code)
        assert list(ids) == list(ref_ids) and list(ids[code]) == list(raw)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    data, ds = generated_world(tmp_path_factory, "keys", n_customers=600, months=24, seed=3)
    return ds


def test_integer_panel_find_equals_a_string_key_reindex(world):
    p = world.panel
    pv = IntegerPanel(world)
    m = (p["month"].dt.year * 12 + p["month"].dt.month - 1).to_numpy()
    row = pd.Series(np.arange(len(p)), index=pd.MultiIndex.from_arrays([p["customer_id"].astype(str).to_numpy(), m]))
    rng = np.random.default_rng(5)
    ids = np.r_[rng.choice(pv.ids.to_numpy(), 500), ["no such customer"]]
    qm = rng.integers(m.min() - 2, m.max() + 3, len(ids))
    want = row.reindex(pd.MultiIndex.from_arrays([ids, qm])).fillna(-1).to_numpy(np.int64)
    got = pv.find(pv.codes(ids), qm)
    np.testing.assert_array_equal(got, want)
    assert (got >= 0).any() and (got < 0).any()


def test_coverage_of_an_unsorted_panel_equals_the_sorted_one(world):
    """The coverage is a grouped engine query (nps/nonresponse.py): a panel in another order (a Dataset whose
    engine panel is registered from a shuffled frame) gives the same table (monthly, quarterly and yearly)."""
    import dataclasses

    shuffled = dataclasses.replace(world, panel=world.panel.sample(frac=1.0, random_state=0).reset_index(drop=True),
                                   engine={})
    assert not shuffled.panel["customer_id"].is_monotonic_increasing
    for period in ("month", "quarter", "year"):
        rp = nps.responses(world, period=period)
        a = _coverage(world, rp, period, 0.05)
        b = _coverage(shuffled, rp, period, 0.05)
        assert len(a) > 1
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)


@pytest.mark.parametrize("sampled", [False, True])
def test_panel_rows_equal_the_pandas_panel_rows_of_those_customers(world, sampled):
    """panel_rows (from the engine) gives the pandas panel's rows of the customers asked for, in its order, each
    customer numbered by its position in the ids given (any order, a customer without rows included), with its
    spell's columns; first_spell keeps the first spell's rows only. The same on an engine sample of the customers
    (grouped.sample_dataset: its panel and spells restricted by one engine table, which a single join chain over
    panel, ids and spells could not reference)."""
    from csanalysis import grouped
    from csanalysis.data.keys import panel_rows
    from csanalysis.periods import month_index

    if sampled:
        world = grouped.sample_dataset(world, 0.5, seed=3)
    p, sp = world.panel, world.spells
    rng = np.random.default_rng(2)
    again = p.loc[p["spell"] > 1, "customer_id"].unique()[:20]  # customers with a second spell among them
    ids = pd.unique(np.r_[rng.choice(p["customer_id"].unique(), 200, replace=False), again, ["no such customer"]].astype(object))
    for first in (False, True):
        got = panel_rows(world, ids, ("tenure", "mrr", "spell"), first_spell=first, spells=("last_m", "event"))
        want = p[p["customer_id"].isin(ids) & ((p["spell"] == 1) | (not first))]
        want = want.merge(sp[["customer_id", "spell", "last_paid", "event"]], on=["customer_id", "spell"], how="left")
        pos = pd.Index(ids).get_indexer(want["customer_id"])
        want = want.assign(row=pos).sort_values(["row", "month"], kind="stable")  # the order asked for: by position
        np.testing.assert_array_equal(got["row"], want["row"].to_numpy())
        np.testing.assert_array_equal(got["m"], month_index(want["month"]))
        np.testing.assert_array_equal(got["tenure"], want["tenure"].to_numpy())
        np.testing.assert_array_equal(got["mrr"], want["mrr"].to_numpy())
        np.testing.assert_array_equal(got["spell"], want["spell"].to_numpy())
        np.testing.assert_array_equal(got["last_m"], month_index(want["last_paid"]))
        np.testing.assert_array_equal(got["event"], want["event"].to_numpy(np.int64))
        assert len(got["row"]) > 500 and (got["spell"] > 1).any() != first
