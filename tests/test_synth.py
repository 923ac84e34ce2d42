"""The demo-data generator: deterministic, valid under the data model, and its planted truth is recovered."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import csanalysis as cs
from csanalysis import survival as sv
from csanalysis.data import synth


def _hash(tables: dict) -> dict:
    return {k: int(pd.util.hash_pandas_object(v, index=False).sum()) for k, v in tables.items()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "d"
    data = synth.write_demo(out, n_customers=1500, months=24, seed=11)
    return out, data, cs.load_dataset(out)


def test_deterministic_by_content_hash():
    a, b = synth.generate(400, months=12, seed=5), synth.generate(400, months=12, seed=5)
    c = synth.generate(400, months=12, seed=6)
    assert _hash(a.tables) == _hash(b.tables)
    assert a.truth == b.truth
    assert _hash(a.tables) != _hash(c.tables)


def test_tables_follow_the_data_model_and_load_cleanly(demo):
    out, data, ds = demo
    t = data.tables
    assert set(t) == {"customers", "revenue", "usage", "nps", "payments", "cs_activities", "cs_costs"}
    assert t["customers"]["customer_id"].is_unique
    assert t["nps"]["score"].between(0, 10).all() and t["nps"]["score"].dtype.kind == "i"
    for name in ("revenue", "usage", "nps", "payments", "cs_activities"):
        assert t[name]["customer_id"].isin(t["customers"]["customer_id"]).all(), name
    rev = t["revenue"].merge(t["customers"][["customer_id", "signup_date"]])
    assert (rev["date"] >= rev["signup_date"]).all()
    assert t["revenue"]["currency"].nunique() == 1
    assert ds.report.ok and not ds.report.errors
    assert ds.report.reconciliation["difference (rounding to cents)"] == pytest.approx(0, abs=0.01)
    assert (ds.panel["mrr"] > 0).all()  # spread MRR never negative (credit notes net out)
    assert str(ds.as_of) == data.truth["as_of"]  # the folder's csanalysis.yaml carries as_of


def test_churn_month_has_no_revenue_and_credit_notes_net_out(demo):
    out, data, ds = demo
    ended = ds.spells[ds.spells["event"] == 1][["customer_id", "end"]]
    paid = ds.panel.merge(ended, left_on=["customer_id", "month"], right_on=["customer_id", "end"])
    assert paid.empty
    credits = data.tables["revenue"][data.tables["revenue"]["amount"] < 0]
    assert len(credits) > 0  # annual customers who left mid-term
    who = credits["customer_id"].iloc[0]
    month = credits["period_start"].iloc[0]
    assert not ((ds.panel["customer_id"] == who) & (ds.panel["month"] >= month)).any() or \
        (ds.spells[(ds.spells.customer_id == who)]["spell"] > 1).any()


def test_truth_is_documented_json_and_switchable():
    d = synth.generate(300, months=12, seed=1, null_world=True)
    json.dumps(d.truth)
    hr = d.truth["hazard_ratios"]
    for key in ("failed_payment", "nps_detractor", "nps_passive", "falling_usage", "program"):
        assert hr[key] == 1.0
    assert hr["plan"]["Basic"] != 1.0  # baseline attributes stay in the null world
    assert d.truth["program_effect_pp"] == pytest.approx(0.0)
    only = synth.generate(300, months=12, seed=1, effects={"plan": False})
    assert only.truth["hazard_ratios"]["plan"] == {"Basic": 1.0, "Enterprise": 1.0}
    with pytest.raises(ValueError, match="unknown effect"):
        synth.generate(10, effects={"colour": True})
    for key in ("s12", "monthly_churn_rate", "nps_mrr_change_12m_pp", "program_hr", "as_of"):
        assert key in d.truth
    assert set(d.churn_prob.columns) == {"customer_id", "month", "p", "p_no_program"}


def _score_login_corr(tmp_path, null_world: bool) -> tuple[float, int]:
    out = tmp_path / f"nw{null_world}"
    synth.write_demo(out, n_customers=4000, months=24, seed=2, null_world=null_world)
    ds = cs.load_dataset(out)
    nps = ds.nps.assign(month=pd.to_datetime(ds.nps["date"]).dt.to_period("M").dt.to_timestamp())
    j = nps.merge(ds.usage[["customer_id", "month", "logins", "active_users"]], on=["customer_id", "month"])
    # engagement shows in the share of seats in use; compare scores with it
    seats = ds.customers.set_index("customer_id")["seats"]
    x = np.log1p(j["logins"]) - np.log(j["customer_id"].map(seats))
    return float(np.corrcoef(j["score"], x)[0, 1]), len(j)


def test_null_world_makes_nps_independent_of_usage(tmp_path):
    r_null, n = _score_login_corr(tmp_path, True)
    r_full, _ = _score_login_corr(tmp_path, False)
    assert n > 3000
    assert abs(r_null) < 3 / np.sqrt(n)  # no relation beyond noise
    assert r_full > 0.1  # the planted link exists outside the null world


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    out = tmp_path_factory.mktemp("large") / "d"
    data = synth.write_demo(out, n_customers=20000, months=24, seed=12)
    return out, data, cs.load_dataset(out)


def test_planted_churn_rate_and_s12_are_recovered(large):
    """Realised churn ÷ at risk matches the mean true probability; KM S(12) intervals cover the planted S(12)
    overall and per plan, and are narrow (n = 20,000)."""
    out, data, ds = large
    cp = data.churn_prob
    from csanalysis.impact import monthly_churn

    mc = monthly_churn(ds)
    realised = mc["churned"].sum() / mc["at_risk"].sum()
    assert realised == pytest.approx(data.truth["monthly_churn_rate"]["overall"], abs=0.001)
    assert len(cp) == mc["at_risk"].sum()  # one true probability per at-risk customer-month
    row = sv.survival_table(ds, times=[12]).iloc[0]
    assert row["S(12) lower"] <= data.truth["s12"]["overall"] <= row["S(12) upper"]
    assert row["S(12) upper"] - row["S(12) lower"] < 0.02
    for r in sv.survival_table(ds, times=[12], by="plan").itertuples():
        lo, hi = getattr(r, "_5"), getattr(r, "_6")  # S(12) lower, S(12) upper
        assert lo <= data.truth["s12"]["plan"][r.group] <= hi, r.group
        assert hi - lo < 0.05
