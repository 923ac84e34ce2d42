"""A purchase log's months whose purchases sum to zero (free items) or below (returns larger than the month's
purchases) are active months with mrr 0 or < 0 (data/README.md). Every consumer counts them as active and keeps
its numbers meaningful; each rule is checked by hand on a tiny log.

The log (grace_months 0: a lapse is one month without a purchase; as_of 2024-06):

    buyer  Jan   Feb   Mar   Apr   May   Jun
    A      100   0     -     -     -     -      lapses in March after a free month
    B      50    -20   -     -     -     -      lapses in March after a month of returns only
    C      80    80    80    80    80    80
    D      30    30    0     30    30    -10
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import csanalysis as cs
from csanalysis import metrics, nps

from conftest import constant_hazard_model

LOG = {
    "A": {1: [100.0], 2: [0.0]},
    "B": {1: [50.0], 2: [30.0, -50.0]},
    "C": {m: [80.0] for m in range(1, 7)},
    "D": {1: [30.0], 2: [30.0], 3: [0.0], 4: [30.0], 5: [30.0], 6: [20.0, -30.0]},
}


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    d = tmp_path_factory.mktemp("zlog")
    rows = [f"{c},2024-{m:02d}-{10 + k:02d},{a}" for c, months in LOG.items() for m, amounts in months.items()
            for k, a in enumerate(amounts)]
    (d / "revenue.csv").write_text("customer_id,date,amount\n" + "\n".join(rows) + "\n")
    # two survey answers in April: baseline month March (C: 80; D: a free month, 0)
    (d / "nps.csv").write_text("customer_id,respondent_id,date,score\nC,c1,2024-04-10,9\nD,d1,2024-04-12,3\n")
    return cs.load_dataset(d, mapping={"layout": "purchase_log",
                                       "settings": {"as_of": "2024-06-30", "grace_months": 0}})


def test_the_panel_holds_the_zero_and_negative_months(ds):
    p = ds.panel.assign(month=ds.panel["month"].dt.strftime("%m")).set_index(["customer_id", "month"])["mrr"]
    assert p[("A", "02")] == 0 and p[("B", "02")] == -20 and p[("D", "03")] == 0 and p[("D", "06")] == -10
    sp = ds.spells.set_index("customer_id")
    assert sp.loc["A", "event"] == 1 and sp.loc["B", "event"] == 1
    assert f"{sp.loc['A', 'end']:%m}" == f"{sp.loc['B', 'end']:%m}" == "03"


def test_churn_summary_counts_lapses_after_zero_and_negative_months(ds):
    """Window February … June (grace 0): lapses A and B in March; at risk: every active month January … May:
    A 2, B 2, C 5, D 5 = 14 (D's free March counts). Counting only months with revenue above zero gave 0 of 11."""
    s = metrics.churn_summary(ds, window=12)
    assert (s.churned, s.customer_months) == (2, 14)
    assert s.monthly.estimate == pytest.approx(2 / 14)


def test_monthly_customer_churn_rate_in_march(ds):
    """Active in February: A, B, C, D (A's free month and B's returns are purchases); lapsed in March: A, B."""
    r = metrics.rates(ds, n_boot=50)
    mar = r[(r["metric"] == "customer_churn_rate") & (r["period"] == pd.Timestamp("2024-03-01"))].iloc[0]
    assert (mar["numerator"], mar["denominator"]) == (2, 4) and mar["estimate"] == pytest.approx(0.5)


def test_mrr_movements_reconcile_and_count_every_lapse(ds):
    """March: A's lapse moves 0, B's moves −20 (the month it left had returns only: revenue rises by 20 when it
    leaves), D's free month is a contraction of 30. The bridge holds exactly: 90 − 30 − (−20) = 80."""
    mv = metrics.mrr_movements(ds).set_index("period")
    mar = mv.loc[pd.Timestamp("2024-03-01")]
    assert mar["starting_mrr"] == 90 and mar["ending_mrr"] == 80
    assert mar["churn"] == -20 and mar["contraction"] == 30 and mar["expansion"] == 0
    assert mar["churned_customers"] == 2  # A's lapse moved no revenue and is still a lapse
    assert mar["customers_start"] == 4 and mar["customers_end"] == 2
    ident = mv["starting_mrr"] + mv["new"] + mv["expansion"] - mv["contraction"] - mv["churn"] + mv["reactivation"]
    assert np.allclose(ident, mv["ending_mrr"])
    jun = mv.loc[pd.Timestamp("2024-06-01")]
    assert jun["contraction"] == 40 and jun["ending_mrr"] == 70  # D: 30 → −10


def test_arpa_is_revenue_per_active_account(ds):
    """June: C 80 and D −10 are active: (80 − 10) ÷ 2 = 35 (the denominator of the churn rate is active accounts,
    so ARPA × margin ÷ churn is per active account)."""
    a = metrics.arpa(ds, n_boot=50)
    assert a.n == 2 and a.estimate == pytest.approx(35.0)


def test_nps_change_needs_a_baseline_above_zero(ds):
    """NPS answers from D (a detractor) in April, baseline March: a free month, mrr 0; from C (a promoter) in
    April, baseline March 80. Horizon 2: baseline + 2 = May (complete by June with grace 0). D stayed: it counts for
    churn but has no revenue change (a change relative to 0 has no meaning); C: 80 → 80, change 0%."""
    al = nps.align(ds, horizons=[2])
    t = al.table.set_index("customer_id")
    assert t.loc["D", "mrr_base"] == 0 and t.loc["D", "churned_2"] == 0
    assert np.isnan(t.loc["D", "mrr_change_2"]) and np.isnan(t.loc["D", "expanded_2"])
    assert t.loc["C", "mrr_change_2"] == 0
    assert al.rows(2, "revenue")["customer_id"].tolist() == ["C"]
    c = al.counts().iloc[0]
    assert (c["used_churn"], c["used_revenue"], c["no_revenue_base"]) == (2, 1, 1)
    co = nps.category_outcomes(al, 2, n_boot=20).set_index("category")
    assert co.loc["detractor", "stayers"] == 1 and np.isnan(co.loc["detractor", "mrr_change"])
    assert co.loc["promoter", "mrr_change"] == 0


def test_roi_stake_of_a_month_below_zero_is_zero():
    """The hand-computed ROI case of tests/test_impact.py (customers a and b with MRR 100 and 50 the month before
    the start, at risk January … March 2024, hazard 5% a month halved by the program) with a third buyer c whose
    month before the start sums to −40 (returns) and a fourth d with a free month (0): neither has revenue the
    program keeps, so the retained MRR stays 150 × (0.95^(k/2) − 0.95^k), not 110 × … ."""
    from types import SimpleNamespace

    import ibis

    from csanalysis import impact

    c, b = np.log(-np.log(0.95)), np.log(0.5)
    Model = constant_hazard_model(c, b)  # the fitted hazard model's linear predictor, the program term included

    jan = 2024 * 12
    pm = pd.DataFrame({"customer_id": list("aaabbccd"), "spell": 1,
                       "month": [jan, jan + 1, jan + 2, jan, jan + 1, jan, jan + 1, jan],
                       "tenure": [5, 6, 7, 9, 10, 5, 6, 5], "post": 1.0, "churn": [0, 0, 0, 0, 1, 0, 0, 0]})
    eff = impact.ProgramEffect(estimable=True, reason="estimated", program_start=pd.Timestamp("2024-01-01"),
                               pre_months=12, model=Model(), data=pm, draws=Model.draws(200))
    panel = pd.DataFrame({"customer_id": list("abcd"), "m": jan - 1, "mrr": [100.0, 50.0, -40.0, 0.0]})  # (engine form)
    ds = SimpleNamespace(settings=SimpleNamespace(gross_margin=0.8), cs_costs=None,
                         as_of_month=pd.Timestamp("2024-03-01"), as_of_m=jan + 2,
                         engine_table=lambda name: ibis.memtable(panel))
    costs = pd.DataFrame({"month": pd.to_datetime(["2024-01-15", "2024-02-01", "2024-03-31"]), "cost": 10.0})
    r = impact.roi(ds, eff, costs=costs)
    assert r["retained_mrr"].tolist() == pytest.approx([150 * (0.95 ** (k / 2) - 0.95 ** k) for k in (1, 2, 3)])


def test_impact_reason_says_lapse_in_a_purchase_log(ds):
    """A reason shown in the report (impact.summary_not_estimable) uses the layout's word."""
    from csanalysis import impact

    eff = impact.program_effect(ds, "2024-03-01")
    assert not eff.estimable and "month(s) of lapse data before the program started" in eff.reason
