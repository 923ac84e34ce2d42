"""Survival curves and tests on hand-made fixtures (durations, censoring, reactivation, left truncation)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import csanalysis as cs
from csanalysis import cohorts as co
from csanalysis import survival as sv

FIX = Path(__file__).parent / "fixtures" / "cohort10"


@pytest.fixture(scope="module")
def ds():
    return cs.load_dataset(FIX, as_of="2024-06-15")


def test_durations_and_censoring(ds):
    d = sv.survival_data(ds).set_index("customer_id")
    # churned: D paid Jan–Feb (T=2), E Jan (1), H Feb (1), J Mar (1); censored at months observed − 1:
    # A paid Jan–May (5 months, at risk through month 4), F Feb–May (4 → 3), I Mar–May (3 → 2)
    assert d.loc[["D", "E", "H", "J"], "T"].tolist() == [2, 1, 1, 1]
    assert d.loc[["D", "E", "H", "J"], "E"].tolist() == [1, 1, 1, 1]
    assert d.loc[["A", "F", "I"], "T"].tolist() == [4, 3, 2]
    assert d.loc[["A", "F", "I"], "E"].tolist() == [0, 0, 0]
    every = sv.survival_data(ds, spells="all")
    e2 = every[(every.customer_id == "E") & (every.spell == 2)].iloc[0]
    assert (e2["T"], e2["E"], e2["group"]) == (1, 0, "2")  # E's second spell: Apr–May, still paying


def test_survival_table_by_hand(ds):
    t = sv.survival_table(ds, times=[1, 2, 4]).iloc[0]
    # month 1: 3 of 10 gone (E, H, J); month 2: D gone of the 7 at risk → 0.7 × 6/7 = 0.6; then no more churn
    assert t["S(1)"] == pytest.approx(0.7) and t["S(2)"] == pytest.approx(0.6) and t["S(4)"] == pytest.approx(0.6)
    assert t["S(1) lower"] < 0.7 < t["S(1) upper"]
    assert t["median"] is None and t["median text"] == "not reached"


def test_km_matches_pooled_cohort_curve(ds):
    km = sv.km_fits(ds)["All customers"]
    curve = co.pooled_curve(ds, n_boot=10)
    np.testing.assert_allclose(km.survival_function_at_times(curve["period"]).to_numpy(), curve["retention"], atol=1e-12)


def test_left_truncation_enters_late_and_logrank_uses_entry(tmp_path):
    """C started in 2023-06 (7 months before the data window): it enters the risk set at month 7, so it cannot
    lower S(t) for t ≤ 7, and the log-rank test switches to statsmodels' survdiff with entry times."""
    (tmp_path / "customers.csv").write_text(
        "customer_id,signup_date,plan\nA,2024-01-01,x\nB,2024-01-01,y\nC,2023-06-01,y\nD,2024-01-01,x\n")
    (tmp_path / "revenue.csv").write_text(
        "customer_id,date,amount\n" + "\n".join(
            [f"A,2024-0{m}-01,10" for m in range(1, 5)] + [f"B,2024-0{m}-01,10" for m in (1, 2)]
            + [f"C,2024-0{m}-01,10" for m in (1, 2)] + ["D,2024-01-01,10"]))
    ds = cs.load_dataset(tmp_path, as_of="2024-04-30")
    d = sv.survival_data(ds).set_index("customer_id")
    assert (d.loc["C", "entry"], d.loc["C", "T"], d.loc["C", "E"]) == (7, 9, 1)
    km = sv.km_fits(ds)["All customers"]
    # at risk at month 1: A, B, D (C not yet observed) → D churns: 2/3; month 2: A, B → B churns: 1/3
    assert km.survival_function_at_times(1).item() == pytest.approx(2 / 3)
    assert km.survival_function_at_times(2).item() == pytest.approx(1 / 3)
    assert "survdiff" in sv.logrank(ds, "plan").method


def test_logrank_pairwise_holm_and_rmst(ds):
    r = sv.logrank(ds, "plan")
    assert 0 < r.p_value < 1 and r.degrees_of_freedom == 1
    assert r.pairwise["p_holm"].iloc[0] == pytest.approx(r.pairwise["p_value"].iloc[0])  # one pair: no correction
    rm = sv.rmst(ds, 4, by="plan").set_index("group")
    # Basic (A, D, E, H, I): S = 1, 3/5 after month 1 (E, H), 3/5·2/3 after month 2 (D of A, D, I) → RMST to 4
    s1, s2 = 3 / 5, 3 / 5 * 2 / 3
    assert rm.loc["Basic", "rmst"] == pytest.approx(1 + s1 + s2 + s2)
    assert rm.loc["Pro", "lower"] < rm.loc["Pro", "rmst"] < rm.loc["Pro", "upper"]


def test_cox_sentence_and_bad_covariate(ds):
    r = sv.cox_drivers(ds, ["plan"])
    row = r.hazard_ratios.iloc[0]
    assert (row.level, row.reference) == ("Pro", "Basic") or (row.level, row.reference) == ("Basic", "Pro")
    assert row.lower < row.hr < row.upper and "CI" in row.sentence
    with pytest.raises(ValueError, match="not a customer attribute"):
        sv.cox_drivers(ds, ["colour"])
