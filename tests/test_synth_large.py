"""The large-world writer (synth.write_large): blocks of accounts appended to one Parquet file per table."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import csanalysis as cs
from csanalysis.data import synth


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    out = tmp_path_factory.mktemp("large") / "w"
    seen = []
    truth = synth.write_large(out, n_customers=2500, months=24, seed=4, block_size=1000,
                              progress=lambda k, n: seen.append((k, n)))
    return out, truth, seen


def test_blocks_written_in_order_with_unique_ids(large):
    out, truth, seen = large
    assert seen == [(1000, 2500), (2000, 2500), (2500, 2500)]
    c = pd.read_parquet(out / "customers.parquet")
    assert c["customer_id"].is_unique and c["customer_id"].is_monotonic_increasing
    nums = c["customer_id"].str[1:].astype(int)
    assert nums.min() >= 1 and nums.max() <= 2500 and (c["customer_id"].str.len() == 7).all()
    # every block has accounts in the file (block b holds accounts 1000·b + 1 … 1000·(b + 1))
    assert set((nums - 1) // 1000) == {0, 1, 2}
    for name in ("revenue", "usage", "nps", "payments", "cs_activities"):
        t = pd.read_parquet(out / f"{name}.parquet")
        assert t["customer_id"].isin(c["customer_id"]).all(), name
        key = t["customer_id"] + "|" + t["date"].astype(str)
        assert key.is_monotonic_increasing, name  # sorted by customer and date across the blocks
    assert not (out / "churn_prob.parquet").exists()
    assert truth["blocks"] == 3 and truth["n_customers"] == 2500 and "s12" not in truth
    assert json.loads((out / "truth.json").read_text()) == truth
    assert truth["as_of"] == "2023-12-31" and truth["hazard_ratios"]["failed_payment"] == pytest.approx(2.0)


def test_blocks_have_their_own_streams_and_the_world_is_reproducible(large, tmp_path):
    a = synth.generate(1000, months=24, seed=4, usage_freq="monthly", block=synth.Block(0, 0, 6))
    b = synth.generate(1000, months=24, seed=4, usage_freq="monthly", block=synth.Block(1, 1000, 6))
    assert a.tables["customers"]["customer_id"].iloc[0] == "C000001"
    assert b.tables["customers"]["customer_id"].iloc[0] == "C001001"
    assert not np.array_equal(a.tables["customers"]["seats"].to_numpy()[:50], b.tables["customers"]["seats"].to_numpy()[:50])
    out, _, _ = large
    c = pd.read_parquet(out / "customers.parquet")
    pd.testing.assert_frame_equal(c[c["customer_id"] <= "C001000"].reset_index(drop=True), a.tables["customers"])
    synth.write_large(tmp_path / "again", n_customers=2500, months=24, seed=4, block_size=1000, jobs=2)  # the same files
    for name in ("customers", "revenue", "usage", "nps", "payments", "cs_activities", "cs_costs"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / f"{name}.parquet"), pd.read_parquet(tmp_path / "again" / f"{name}.parquet"))


def test_cs_costs_count_the_whole_world(large):
    out, _, _ = large
    rev = pd.read_parquet(out / "revenue.parquet")
    rec = rev[rev["kind"] == "recurring"]
    active = rec.groupby(rec["date"].dt.to_period("M"))["customer_id"].nunique()
    costs = pd.read_parquet(out / "cs_costs.parquet")
    expect = [6000.0 * int(np.ceil(active.get(m.to_period("M"), 0) / 500)) for m in costs["month"]]
    assert len(costs) == 6 and costs["cost"].tolist() == expect  # program months 18 … 23
    assert (costs["cost"] > 6000).all()  # more than 500 customers: the blocks' counts are added up


def test_large_world_loads_and_validates(large):
    out, _, _ = large
    ds = cs.load_dataset(out)
    assert ds.report.ok
    assert len(ds.customers) == len(pd.read_parquet(out / "customers.parquet"))
    assert ds.spells["event"].sum() > 0 and (ds.spells["spell"] > 1).any()  # churns and reactivations
