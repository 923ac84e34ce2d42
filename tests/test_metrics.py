"""Subscription metrics: MRR movements asserted month by month on a hand-computed fixture, reconciliation to the
cent on generated revenue tables, Wilson/bootstrap intervals, churn conversions and LTV by hand."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

import csanalysis as cs
from csanalysis import metrics as mt
from conftest import generated_world

# ------------------------------------------------------------------------------------------- the fixture
#
# Data window Jan–Jun 2024 (as_of 2024-06-30). MRR by customer and month (0 = no payment):
#
#        Jan    Feb    Mar     Apr     May     Jun
#   A    100    100    100     100     100     100    retained (signed up 2023: left-truncated)
#   B    100    100    100     150     150     150    expansion in Apr (+50)
#   C    200    200    120.50  120.50  120.50  120.50 contraction in Mar (−79.50)
#   D     80     80     80       0       0       0    churns in Apr (−80)
#   E     50      0      0      60      60      60    churns in Feb, reactivates in Apr (2-month gap)
#   F      0   1000   1000    1000    1000    1000    new in Feb: annual prepayment 12,000 for Feb 2024–Jan 2025
#   G      0      0   45.16     90      90      90    starts mid-month (15 Mar, prorated 45.16) + one-off fee 500
#   H     70     70      0      70      70      70    one-month gap in Mar (a churn with grace 0, a grace gap with 1)
#   I      0      0      0       0      40       0    new in May, stops in Jun
#   total 600  1550  1445.66  1590.50 1630.50 1590.50
#
# Jan is the opening balance (customers may predate the data), so movement rows start in Feb.

CUSTOMERS = """customer_id,signup_date,plan,acquisition_cost
A,2023-06-01,Pro,300
B,2023-10-01,Basic,500
C,2023-11-15,Pro,
D,2023-12-01,Basic,
E,2024-01-01,Basic,
F,2024-02-01,Enterprise,2000
G,2024-03-15,Basic,400
H,2023-09-01,Basic,
I,2024-05-01,Basic,
"""


def _revenue_rows() -> list[tuple]:
    rows = []
    monthly = {
        "A": {m: "100" for m in range(1, 7)},
        "B": {1: "100", 2: "100", 3: "100", 4: "150", 5: "150", 6: "150"},
        "C": {1: "200", 2: "200", 3: "120.50", 4: "120.50", 5: "120.50", 6: "120.50"},
        "D": {1: "80", 2: "80", 3: "80"},
        "E": {1: "50", 4: "60", 5: "60", 6: "60"},
        "G": {3: "45.16", 4: "90", 5: "90", 6: "90"},
        "H": {1: "70", 2: "70", 4: "70", 5: "70", 6: "70"},
        "I": {5: "40"},
    }
    for cid, months in monthly.items():
        for m, amount in months.items():
            rows.append((cid, f"2024-{m:02d}-15", amount, "", "", "recurring"))
    rows.append(("F", "2024-02-10", "12000", "2024-02-01", "2025-01-31", "recurring"))  # 1,000 MRR × 12
    rows.append(("G", "2024-03-15", "500", "", "", "one_off"))  # setup fee: not MRR
    return rows


def _write(folder: Path, customers: str, rows: list[tuple]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "customers.csv").write_text(customers)
    lines = ["customer_id,date,amount,period_start,period_end,kind"] + [",".join(r) for r in rows]
    (folder / "revenue.csv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return _write(tmp_path_factory.mktemp("metrics8"), CUSTOMERS, _revenue_rows())


@pytest.fixture(scope="module")
def ds0(folder):
    return cs.load_dataset(folder, as_of="2024-06-30", gross_margin=0.75)


@pytest.fixture(scope="module")
def ds1(folder):
    return cs.load_dataset(folder, as_of="2024-06-30", grace_months=1, gross_margin=0.75)


MONTHS = pd.to_datetime(["2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01", "2024-06-01"])
MONEY = ["starting_mrr", "new", "expansion", "contraction", "churn", "reactivation", "ending_mrr"]

# grace 0 — every stop is a churn; Apr: expansion B +50, G +44.84 (its first full month after the prorated
# 45.16); reactivations E 60 and H 70.
EXPECTED_G0 = {
    #                  start     new      exp    contr  churn  react  end
    "2024-02-01": ([600.00, 1000.00, 0.00, 0.00, 50.00, 0.00, 1550.00], (1, 0, 0, 1, 0)),
    "2024-03-01": ([1550.00, 45.16, 0.00, 79.50, 70.00, 0.00, 1445.66], (1, 0, 1, 1, 0)),
    "2024-04-01": ([1445.66, 0.00, 94.84, 0.00, 80.00, 130.00, 1590.50], (0, 2, 0, 1, 2)),
    "2024-05-01": ([1590.50, 40.00, 0.00, 0.00, 0.00, 0.00, 1630.50], (1, 0, 0, 0, 0)),
    "2024-06-01": ([1630.50, 0.00, 0.00, 0.00, 40.00, 0.00, 1590.50], (0, 0, 0, 1, 0)),
}
# grace 1 — H's one-month gap is a grace gap: −70 contraction in Mar, +70 expansion in Apr. E's two-month gap is
# still a churn and a reactivation. I stops in Jun, within the grace period at as_of: provisional contraction.
EXPECTED_G1 = {
    "2024-02-01": ([600.00, 1000.00, 0.00, 0.00, 50.00, 0.00, 1550.00], (1, 0, 0, 1, 0)),
    "2024-03-01": ([1550.00, 45.16, 0.00, 149.50, 0.00, 0.00, 1445.66], (1, 0, 2, 0, 0)),
    "2024-04-01": ([1445.66, 0.00, 164.84, 0.00, 80.00, 60.00, 1590.50], (0, 3, 0, 1, 1)),
    "2024-05-01": ([1590.50, 40.00, 0.00, 0.00, 0.00, 0.00, 1630.50], (1, 0, 0, 0, 0)),
    "2024-06-01": ([1630.50, 0.00, 0.00, 40.00, 0.00, 0.00, 1590.50], (0, 0, 1, 0, 0)),
}
COUNTS = ["new_customers", "expansion_customers", "contraction_customers", "churned_customers", "reactivated_customers"]


@pytest.mark.parametrize("grace,expected", [(0, EXPECTED_G0), (1, EXPECTED_G1)])
def test_movements_month_by_month(ds0, ds1, grace, expected):
    mov = mt.mrr_movements(ds0 if grace == 0 else ds1)
    assert list(mov["period"]) == list(MONTHS)
    for month, (money, counts) in expected.items():
        row = mov.loc[mov["period"] == pd.Timestamp(month)].iloc[0]
        assert [row[c] for c in MONEY] == pytest.approx(money, abs=1e-9), month
        assert tuple(int(row[c]) for c in COUNTS) == counts, month
    # paying customers (MRR > 0) do not depend on the grace period
    assert mov["customers_start"].tolist() == [6, 6, 6, 7, 8]
    assert mov["customers_end"].tolist() == [6, 6, 7, 8, 7]


def test_grace_gap_parts_and_provisional_months(ds0, ds1):
    m0, m1 = mt.mrr_movements(ds0), mt.mrr_movements(ds1)
    assert (m0[["grace_gap_mrr", "grace_return_mrr"]].to_numpy() == 0).all()
    assert not m0["provisional"].any()
    assert m1["grace_gap_mrr"].tolist() == [0, 70.0, 0, 0, 40.0]  # H's gap in Mar; I's stop in Jun
    assert m1["grace_return_mrr"].tolist() == [0, 0, 70.0, 0, 0]  # H back in Apr
    assert m1["grace_gap_customers"].tolist() == [0, 1, 0, 0, 1]
    assert m1["provisional"].tolist() == [False, False, False, False, True]  # Jun: within the grace period


def test_movements_in_cents_reconcile_exactly(ds0):
    mov = mt.mrr_movements(ds0, cents=True)
    assert mov["ending_mrr"].tolist() == [155000, 144566, 159050, 163050, 159050]
    assert mov["expansion"].tolist() == [0, 0, 9484, 0, 0]
    lhs = mov["starting_mrr"] + mov["new"] + mov["expansion"] - mov["contraction"] - mov["churn"] + mov["reactivation"]
    assert (lhs == mov["ending_mrr"]).all()
    assert (mov["starting_mrr"].iloc[1:].to_numpy() == mov["ending_mrr"].iloc[:-1].to_numpy()).all()


def test_quarterly_movements_sum_the_months(ds0):
    q = mt.mrr_movements(ds0, "quarter")
    assert list(q["period"]) == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-04-01")]
    assert q["months"].tolist() == [2, 3] and q["complete"].tolist() == [False, True]  # Jan is the opening month
    assert [q.loc[0, c] for c in MONEY] == pytest.approx([600, 1045.16, 0, 79.50, 120, 0, 1445.66])
    assert [q.loc[1, c] for c in MONEY] == pytest.approx([1445.66, 40, 94.84, 0, 120, 130, 1590.50])
    assert q.loc[1, "churned_customers"] == 2 and q.loc[1, "reactivated_customers"] == 2  # D, I; E, H


# ------------------------------------------------------------------------------------------- rates


def _rate(r: pd.DataFrame, month: str, metric: str) -> pd.Series:
    return r[(r["period"] == pd.Timestamp(month)) & (r["metric"] == metric)].iloc[0]


@pytest.fixture(scope="module")
def rates0(ds0):
    return mt.rates(ds0, n_boot=300, seed=1)


def test_customer_churn_rate_is_wilson_on_hand_counts(rates0):
    # paying at the start: Jan 6 (A B C D E H), Feb 6 (E gone, F in), Mar 6, Apr 7, May 8
    # lost: Feb E, Mar H, Apr D, May none, Jun I
    hand = {"2024-02-01": (1, 6), "2024-03-01": (1, 6), "2024-04-01": (1, 6), "2024-05-01": (0, 7), "2024-06-01": (1, 8)}
    for month, (lost, at_risk) in hand.items():
        row = _rate(rates0, month, "customer_churn_rate")
        lo, hi = proportion_confint(lost, at_risk, alpha=0.05, method="wilson")
        assert (row["numerator"], row["denominator"]) == (lost, at_risk)
        assert row["estimate"] == pytest.approx(lost / at_risk)
        assert (row["lower"], row["upper"]) == (pytest.approx(lo), pytest.approx(hi))


def test_revenue_ratios_by_hand(rates0):
    assert _rate(rates0, "2024-03-01", "gross_mrr_churn_rate")["estimate"] == pytest.approx((70 + 79.50) / 1550)
    assert _rate(rates0, "2024-03-01", "net_mrr_churn_rate")["estimate"] == pytest.approx((70 + 79.50) / 1550)
    assert _rate(rates0, "2024-04-01", "gross_mrr_churn_rate")["estimate"] == pytest.approx(80 / 1445.66)
    # net MRR churn offsets expansion AND reactivation (ChartMogul's standard formula): negative = net expansion
    net_apr = _rate(rates0, "2024-04-01", "net_mrr_churn_rate")
    assert net_apr["estimate"] == pytest.approx((80 - 94.84 - 130) / 1445.66)
    assert net_apr["estimate"] == pytest.approx(1 - (1590.50 - 0) / 1445.66)  # = 1 − (ending − new) ÷ starting
    assert _rate(rates0, "2024-04-01", "quick_ratio")["estimate"] == pytest.approx((94.84 + 130) / 80)
    assert _rate(rates0, "2024-03-01", "quick_ratio")["estimate"] == pytest.approx(45.16 / 149.50)
    may_qr = _rate(rates0, "2024-05-01", "quick_ratio")  # nothing lost in May: undefined, with the reason
    assert np.isnan(may_qr["estimate"]) and "no contraction or churn" in may_qr["note"]
    nrr = _rate(rates0, "2024-06-01", "nrr_12m")
    assert np.isnan(nrr["estimate"]) and "12 months" in nrr["note"]


def test_bootstrap_intervals_bracket_and_are_reproducible(ds0, rates0):
    row = _rate(rates0, "2024-03-01", "gross_mrr_churn_rate")
    assert row["lower"] < row["estimate"] < row["upper"]
    assert 0 <= row["lower"] and row["upper"] <= 1  # a loss share cannot leave [0, 1]
    again = mt.rates(ds0, n_boot=300, seed=1)
    pd.testing.assert_frame_equal(rates0, again)
    other = _rate(mt.rates(ds0, n_boot=300, seed=2), "2024-03-01", "gross_mrr_churn_rate")
    assert (other["lower"], other["upper"]) != (row["lower"], row["upper"])


def test_nrr_and_grr_over_twelve_months(tmp_path):
    # X steady 100; Y 100 → 150 from Jul; Z 200 then churns in Feb; V 100, churns, back at 80 in Dec;
    # W new in Mar at 500 (not in the Jan 2024 base). At Jan 2025: NRR = (100+150+0+80)/500, GRR = (100+100+0+80)/500
    rows = []
    months = pd.date_range("2024-01-01", "2025-01-01", freq="MS")
    for d in months:
        rows.append(("X", f"{d:%Y-%m}-05", "100", "", "", "recurring"))
        rows.append(("Y", f"{d:%Y-%m}-05", "150" if d >= pd.Timestamp("2024-07-01") else "100", "", "", "recurring"))
        if d >= pd.Timestamp("2024-03-01"):
            rows.append(("W", f"{d:%Y-%m}-05", "500", "", "", "recurring"))
        if d == months[0] or d >= pd.Timestamp("2024-12-01"):
            rows.append(("V", f"{d:%Y-%m}-05", "100" if d == months[0] else "80", "", "", "recurring"))
    rows.append(("Z", "2024-01-05", "200", "", "", "recurring"))
    cust = "customer_id,signup_date\nX,2024-01-01\nY,2024-01-01\nZ,2024-01-01\nV,2024-01-01\nW,2024-03-01\n"
    ds = cs.load_dataset(_write(tmp_path, cust, rows), as_of="2025-01-31")
    r = mt.rates(ds, n_boot=300)
    nrr, grr = _rate(r, "2025-01-01", "nrr_12m"), _rate(r, "2025-01-01", "grr_12m")
    assert nrr["estimate"] == pytest.approx(330 / 500) and grr["estimate"] == pytest.approx(280 / 500)
    assert (nrr["numerator"], nrr["denominator"]) == (330, 500)
    # every replicate is a weighted ratio of per-customer ratios in [0, 1.5] (GRR: [0, 1])
    assert 0 <= nrr["lower"] <= nrr["estimate"] <= nrr["upper"] <= 1.5
    assert 0 <= grr["lower"] <= grr["estimate"] <= grr["upper"] <= 1
    assert np.isnan(_rate(r, "2024-12-01", "nrr_12m")["estimate"])  # needs Dec 2023


# ------------------------------------------------------------------------------------------- churn and LTV


def test_annual_monthly_conversions():
    assert mt.monthly_from_annual(0.10) == pytest.approx(0.0087416, abs=1e-7)  # 0.874% compounded
    assert 0.10 / 12 == pytest.approx(0.0083333, abs=1e-7)  # 0.833% straight: not the same thing
    assert mt.annual_from_monthly(0.01) == pytest.approx(1 - 0.99 ** 12)  # 11.36%, not 12%
    assert mt.annual_from_monthly(mt.monthly_from_annual(0.10)) == pytest.approx(0.10)
    np.testing.assert_allclose(mt.annual_from_monthly(np.array([0.0, 1.0])), [0.0, 1.0])
    with pytest.raises(ValueError):
        mt.monthly_from_annual(1.5)


def test_churn_summary_pooled_wilson(ds0, ds1):
    s = mt.churn_summary(ds0)
    # window Feb–Jun (the data start in Jan): churn events E, H, D, I = 4; at risk = payers Jan–May 6+6+6+7+8 = 33
    assert (s.churned, s.customer_months) == (4, 33)
    assert s.first_month == pd.Timestamp("2024-02-01") and s.last_month == pd.Timestamp("2024-06-01")
    lo, hi = proportion_confint(4, 33, alpha=0.05, method="wilson")
    assert (s.monthly.estimate, s.monthly.lower, s.monthly.upper) == (pytest.approx(4 / 33), pytest.approx(lo), pytest.approx(hi))
    assert s.annual.estimate == pytest.approx(1 - (29 / 33) ** 12)
    assert s.annual.upper == pytest.approx(1 - (1 - hi) ** 12)
    assert s.annual_straight == pytest.approx(12 * 4 / 33) and s.gap == pytest.approx(12 * 4 / 33 - (1 - (29 / 33) ** 12))
    assert "constant monthly" in s.to_dict()["assumption"]
    # grace 1: the window ends in May (June's stops are not observable yet); H is not a churn:
    # E (Feb) and D (Apr) over payers Jan–Apr 6+6+6+7 = 25
    s1 = mt.churn_summary(ds1)
    assert (s1.churned, s1.customer_months, s1.last_month) == (2, 25, pd.Timestamp("2024-05-01"))


def test_ltv_formulas_by_hand(ds0):
    res = mt.ltv(ds0, n_boot=300)
    arpa = 1590.50 / 7  # Jun payers: A B C E F G H
    churn = 4 / 33
    cac = (300 + 500 + 2000 + 400) / 4  # customers with an acquisition_cost
    ltv_gm = arpa * 0.75 / churn
    t = res.table.set_index("metric")
    assert res.arpa.estimate == pytest.approx(arpa) and res.cac.estimate == pytest.approx(cac)
    assert t.loc["ltv_revenue", "estimate"] == pytest.approx(arpa / churn)
    assert t.loc["ltv_gross_margin", "estimate"] == pytest.approx(ltv_gm)
    assert t.loc["ltv_net_of_cac", "estimate"] == pytest.approx(ltv_gm - cac)
    assert t.loc["ltv_to_cac", "estimate"] == pytest.approx(ltv_gm / cac)
    assert t.loc["cac_payback_months", "estimate"] == pytest.approx(cac / (arpa * 0.75))
    assert t.loc["ltv_revenue", "formula"] == "ARPA ÷ monthly churn"
    assert t.loc["cac_payback_months", "formula"].startswith("CAC ÷ (ARPA × gross margin")
    lo = t.loc["ltv_gross_margin", "lower"]
    assert 0 < lo < ltv_gm
    assert np.isnan(t.loc["ltv_gross_margin", "upper"]) or t.loc["ltv_gross_margin", "upper"] > ltv_gm
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["ltv_revenue"]["estimate"] == pytest.approx(arpa / churn)


def test_arpa_bootstrap(ds0):
    a = mt.arpa(ds0, n_boot=300)
    assert a.estimate == pytest.approx(1590.50 / 7) and a.n == 7
    assert 60 <= a.lower < a.estimate < a.upper <= 1000  # within the range of the accounts' MRR
    mar = mt.arpa(ds0, "2024-03-01", n_boot=50)
    assert mar.estimate == pytest.approx(1445.66 / 6)


def test_ltv_undefined_without_churn(tmp_path):
    rows = [(c, f"2024-{m:02d}-10", amt, "", "", "recurring") for c, amt in (("P", "100"), ("Q", "250")) for m in range(1, 7)]
    ds = cs.load_dataset(_write(tmp_path, "customer_id,signup_date\nP,2024-01-01\nQ,2024-01-01\n", rows),
                         as_of="2024-06-30")
    res = mt.ltv(ds, n_boot=100)
    t = res.table.set_index("metric")
    for m in ("ltv_revenue", "ltv_gross_margin"):
        assert np.isnan(t.loc[m, "estimate"]) and "no churn observed" in t.loc[m, "note"]
    d = res.to_dict()
    assert d["ltv_revenue"]["estimate"] is None and "no churn observed" in d["ltv_revenue"]["reason"]
    assert d["cac_payback_months"]["estimate"] is None and "acquisition_cost" in d["cac_payback_months"]["reason"]
    assert res.arpa.estimate == pytest.approx(175.0)
    s = mt.churn_summary(ds)
    assert s.monthly.estimate == 0 and s.annual.estimate == 0 and s.customer_months == 10
    summary = mt.metrics_summary(ds, n_boot=50)
    text = json.dumps(summary, allow_nan=False)  # strict JSON: no NaN anywhere
    assert "NaN" not in text and summary["ltv"]["ltv_revenue"]["estimate"] is None


def test_metrics_summary_is_strict_json(ds1):
    summary = mt.metrics_summary(ds1, n_boot=50)
    json.dumps(summary, allow_nan=False)
    assert summary["mrr"] == pytest.approx(1590.50) and summary["paying_customers"] == 7
    assert summary["latest_complete_month_rates"]["month"] == "2024-05-01"  # June is provisional under grace 1
    assert "contraction" in summary["definitions"]["grace_gaps"]


# ------------------------------------------------------------------------------------------- reconciliation


invoices = st.lists(
    st.tuples(
        st.integers(0, 5),  # customer
        st.integers(0, 11),  # month of 2024
        st.integers(1, 28),  # day
        st.integers(1, 9_999_999),  # amount in cents
        st.sampled_from([0, 0, 0, 1, 3]),  # service period in months (0 = none)
    ),
    min_size=1, max_size=30,
)


@settings(max_examples=12, deadline=None)
@given(rows=invoices)
def test_reconciliation_to_the_cent(rows):
    with tempfile.TemporaryDirectory() as tmp:
        revenue = []
        for c, m, day, cents, period in rows:
            date = pd.Timestamp(year=2024, month=m + 1, day=day)
            amount = f"{cents // 100}.{cents % 100:02d}"
            if period:
                start = date.replace(day=1)
                end = start + pd.DateOffset(months=period) - pd.Timedelta(days=1)
                revenue.append((f"c{c}", f"{date:%Y-%m-%d}", amount, f"{start:%Y-%m-%d}", f"{end:%Y-%m-%d}", "recurring"))
            else:
                revenue.append((f"c{c}", f"{date:%Y-%m-%d}", amount, "", "", "recurring"))
        cust = "customer_id,signup_date\n" + "".join(f"c{k},2023-06-01\n" for k in range(6))
        folder = _write(Path(tmp), cust, revenue)
        for grace in (0, 1):
            ds = cs.load_dataset(folder, as_of="2024-12-31", grace_months=grace)
            mov = mt.mrr_movements(ds, cents=True)
            lhs = (mov["starting_mrr"] + mov["new"] + mov["expansion"] - mov["contraction"] - mov["churn"]
                   + mov["reactivation"])
            assert (lhs == mov["ending_mrr"]).all()
            # independent checks against the panel and the spells
            panel = ds.panel.assign(c=np.rint(ds.panel["mrr"] * 100).astype("int64"))
            by_month = panel.groupby("month")["c"].sum()
            expect_end = by_month.reindex(mov["period"], fill_value=0).to_numpy()
            assert (mov["ending_mrr"].to_numpy() == expect_end).all()
            ended = ds.spells[ds.spells["event"] == 1]
            churn_c = ended.merge(panel, left_on=["customer_id", "last_paid"], right_on=["customer_id", "month"])
            expect_churn = churn_c.groupby("end")["c"].sum().reindex(mov["period"], fill_value=0).to_numpy()
            assert (mov["churn"].to_numpy() == expect_churn).all()
            react = ds.spells[ds.spells["spell"] > 1].groupby("start").size()
            assert (mov["reactivated_customers"].to_numpy() == react.reindex(mov["period"], fill_value=0).to_numpy()).all()
            if grace == 0:
                assert (mov["grace_gap_mrr"] == 0).all() and (mov["grace_return_mrr"] == 0).all()
            else:
                assert (mov["grace_gap_mrr"] <= mov["contraction"]).all()
                assert (mov["grace_return_mrr"] <= mov["expansion"]).all()
            r = mt.rates(ds, n_boot=20)
            ccr = r[r["metric"] == "customer_churn_rate"]["estimate"].dropna()
            assert ((ccr >= 0) & (ccr <= 1)).all()


# ------------------------------------------------------------------------------------------- demo data (planted truth)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return generated_world(tmp_path_factory, "demo_metrics", n_customers=3000, months=36, seed=7)


def test_demo_movements_reconcile_to_the_cent(demo):
    _, ds = demo
    for freq in ("month", "quarter"):
        mov = mt.mrr_movements(ds, freq, cents=True)
        lhs = mov["starting_mrr"] + mov["new"] + mov["expansion"] - mov["contraction"] - mov["churn"] + mov["reactivation"]
        assert (lhs == mov["ending_mrr"]).all(), freq
        assert (mov["starting_mrr"].iloc[1:].to_numpy() == mov["ending_mrr"].iloc[:-1].to_numpy()).all()
    # independent: ending MRR per month straight from the panel, and reactivations from the spells table
    mov = mt.mrr_movements(ds, cents=True)
    by_month = ds.panel.assign(c=np.rint(ds.panel["mrr"] * 100).astype("int64")).groupby("month")["c"].sum()
    assert (mov["ending_mrr"].to_numpy() == by_month.reindex(mov["period"]).to_numpy()).all()
    react = ds.spells[ds.spells["spell"] > 1].groupby("start").size().reindex(mov["period"], fill_value=0)
    assert (mov["reactivated_customers"].to_numpy() == react.to_numpy()).all()
    assert mov["reactivation"].sum() > 0 and mov["contraction"].sum() > 0 and mov["expansion"].sum() > 0


def test_demo_monthly_churn_interval_covers_planted_rate(demo):
    """The pooled monthly churn rate over the last 12 observable months: its Wilson interval covers the generator's
    mean true churn probability over the same customer-months, and is narrower than 0.6 percentage points."""
    data, ds = demo
    s = mt.churn_summary(ds, window=12)
    cp = data.churn_prob
    months = pd.to_datetime(cp["month"]) if not np.issubdtype(cp["month"].dtype, np.integer) else cp["month"].map(mt._month)
    inside = (months >= s.first_month) & (months <= s.last_month)
    truth = float(cp.loc[inside, "p"].mean())
    assert int(inside.sum()) == s.customer_months  # the same customer-months at risk as the generator's
    assert s.monthly.lower <= truth <= s.monthly.upper, (s.monthly, truth)
    assert s.monthly.upper - s.monthly.lower < 0.006
    assert s.annual.lower <= mt.annual_from_monthly(truth) <= s.annual.upper
    # the per-month rates (Wilson) and the impact module's monthly series count the same churns
    from csanalysis.impact import monthly_churn

    r = mt.rates(ds, n_boot=20)
    ccr = r[r["metric"] == "customer_churn_rate"].set_index("period")
    mc = monthly_churn(ds).set_index("date")
    common = ccr.index.intersection(mc.index)
    assert len(common) >= 12
    assert (ccr.loc[common, "numerator"].to_numpy() == mc.loc[common, "churned"].to_numpy()).all()


@pytest.mark.parametrize("grace", [0, 3])
def test_engine_movements_agree_with_the_customer_grid(demo, grace, tmp_path):
    """MRR movements are one grouped query in the engine; the rates and their bootstrap use the per-customer
    grid built in numpy from the pandas panel. Both follow the module's rules, so their totals and customer
    counts agree exactly, for months and quarters; the query runs without bringing the panel into pandas, and
    on a Dataset rebuilt from pandas frames (a report run's cache) it gives the same table."""
    from csanalysis.data import cache

    ds = cs.load_dataset(demo[1].source, grace_months=grace)
    engine = {f: mt.mrr_movements(ds, f, cents=True) for f in ("month", "quarter")}
    assert {"panel", "spells"} <= set(ds.pending())  # the movements were computed in the engine
    for f, mov in engine.items():
        g = mt._grid(ds)
        pr = mt._periods(g.m0, g.as_m, f, ds.settings.fiscal_year_start)
        pc = mt._per_customer(g, pr)
        for k in (*mt.MOVEMENTS, "grace_gap", "grace_return"):
            col = k if k in mt.MOVEMENTS else k + "_mrr"
            assert (mov[col].to_numpy() == np.rint(np.asarray(pc[k].sum(axis=0)).ravel()).astype(np.int64)).all(), (f, k)
            assert (mov[mt.COUNT_NAMES[k]].to_numpy() == np.asarray((pc[k] != 0).sum(axis=0)).ravel()).all(), (f, k)
        assert (mov["customers_start"].to_numpy() == np.asarray((pc["start"] != 0).sum(axis=0)).ravel()).all()
    if grace:  # with 3 months' grace the demo has gaps that return (reactivations after 2–3 months)
        assert engine["month"]["grace_gap_mrr"].sum() > 0 and engine["month"]["grace_return_mrr"].sum() > 0
    again = cache.load(cache.save(ds, tmp_path / "c"))
    assert set(again.engine) == {"panel", "spells"}  # DuckDB over the cached Parquet files
    pd.testing.assert_frame_equal(mt.mrr_movements(again, "quarter", cents=True), engine["quarter"])
    again.engine.clear()  # the pandas frames registered as in-memory tables (as for pseudonymised Datasets)
    pd.testing.assert_frame_equal(mt.mrr_movements(again, "quarter", cents=True), engine["quarter"])


def test_customer_grid_is_built_once_per_dataset(folder):
    """rates, the churn summary, LTV and the MRR bridge share one grid per Dataset; replacing a frame or changing
    the settings rebuilds it (and a rebuilt grid equals a fresh one)."""
    import dataclasses

    ds = cs.load_dataset(folder, as_of="2024-06-30")
    g = mt._grid(ds)
    assert mt._grid(ds) is g
    ds.panel = ds.panel.copy()
    g2 = mt._grid(ds)
    assert g2 is not g and (g2.mrr != g.mrr).nnz == 0 and list(g2.ids) == list(g.ids)
    ds.settings = dataclasses.replace(ds.settings, grace_months=1)
    g3 = mt._grid(ds)
    assert g3 is not g2 and g3.grace == 1
    fresh = mt._build_grid(ds)
    for k in fresh.moves:
        assert (g3.moves[k] != fresh.moves[k]).nnz == 0, k
