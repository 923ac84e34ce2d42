"""Adoption (csanalysis/lifecycle/adoption.py): utilisation per month and the stall rule by hand on a tiny fixture
(a seat change inside the window, a month without usage rows, a churned account, a new account, a utilisation
exactly at the threshold, an account without seats), the curves against an independent pandas computation on the
demo, and the planted curves (truth.json ``adoption``) recovered within the intervals on generated data."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import csanalysis as cs
from csanalysis.lifecycle import adoption as ad

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"
MONTHS = ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06"]
# account: (signup, seats at signup, touch model, MRR, paid months (indices into MONTHS), active users by month
# index (None: no usage row that month), features used)
ACCOUNTS = {
    "A": ("2024-01-05", 10, "high", 100, range(6), [2, 3, 4, 2, 2, 1], 3),  # stalled: 0.2, 0.2, 0.1
    "B": ("2024-01-10", 10, "low", 200, range(6), [5, 5, 5, 2, 2, 1], 4),  # 4 seats from 15 May: 0.2, 0.5, 0.25
    "C": ("2024-02-01", 5, "tech", 50, range(1, 6), [None, 3, 3, 1, None, 1], 2),  # May without rows: 0.2, 0, 0.2
    "D": ("2024-01-01", 8, "tech", 80, range(5), [1, 1, 1, 1, 1, None], 1),  # churned in June: never listed
    "E": ("2024-05-02", 10, "tech", 90, range(4, 6), [None] * 4 + [1, 1], 1),  # paying 2 of the 3 months: short
    "F": ("2024-01-03", 10, "low", 300, range(6), [5, 5, 5, 2, 2, 3], 5),  # June 3/10 = 0.3, not below 0.3
    "G": ("2024-01-04", 0, "high", 120, range(6), [1] * 6, 1),  # 0 seats: no utilisation, not judged
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("adoption") / "d"
    d.mkdir()
    cust, rev, use = [], [], []
    for cid, (signup, seats, touch, mrr, paid, au, fu) in ACCOUNTS.items():
        cust.append((cid, signup, touch, seats, f"csm {cid}", "Pro"))
        for i in paid:
            rev.append((cid, f"{MONTHS[i]}-20", mrr))
        for i, a in enumerate(au):
            if a is not None:  # two weekly rows in the month: the month's active users are their maximum
                use.append((cid, f"{MONTHS[i]}-08", a - 1 if a > 0 else 0, fu))
                use.append((cid, f"{MONTHS[i]}-15", a, fu))
    pd.DataFrame(cust, columns=["customer_id", "signup_date", "touch_model", "seats", "csm_owner", "plan"]).to_csv(
        d / "customers.csv", index=False)
    pd.DataFrame(rev, columns=["customer_id", "date", "amount"]).to_csv(d / "revenue.csv", index=False)
    pd.DataFrame(use, columns=["customer_id", "date", "active_users", "features_used"]).to_csv(d / "usage.csv", index=False)
    pd.DataFrame([("B", "seats", "4", "2024-05-15")], columns=["customer_id", "attribute", "value", "valid_from"]).to_csv(
        d / "customer_attributes.csv", index=False)
    return cs.load_dataset(d, as_of="2024-06-30")


def _util(ds, cid):
    f = ad.adoption_months(ds).frame
    return f[f["customer_id"] == cid].sort_values("m")["utilisation"].round(6).tolist()


def test_utilisation_per_month_by_hand(tiny):
    assert _util(tiny, "A") == [0.2, 0.3, 0.4, 0.2, 0.2, 0.1]
    assert _util(tiny, "B") == [0.5, 0.5, 0.5, 0.2, 0.5, 0.25]  # 4 seats in force from May (changed 15 May)
    assert _util(tiny, "C") == [0.6, 0.6, 0.2, 0.0, 0.2]  # May without usage rows: 0 active users
    assert all(np.isnan(_util(tiny, "G")))  # 0 seats in force: no utilisation
    f = ad.adoption_months(tiny).frame
    a = f[f["customer_id"] == "A"].sort_values("m")
    assert a["k"].tolist() == list(range(6)) and a["features_used"].tolist() == [3.0] * 6
    c = f[f["customer_id"] == "C"].sort_values("m")
    assert c["k"].tolist() == list(range(5)) and c["features_used"].tolist() == [2.0, 2.0, 2.0, 0.0, 2.0]


def test_stall_rule_by_hand(tiny):
    am = ad.adoption_months(tiny)
    st = ad.stalled_accounts(tiny, am, threshold=0.3, months=3)
    assert list(st.columns) == list(ad.STALLED_COLUMNS)
    assert st["customer_id"].tolist() == ["A", "C"]  # by MRR: A 100, C 50
    assert st["rank"].tolist() == [1, 2]
    assert st["mrr"].tolist() == [100.0, 50.0] and st["arr"].tolist() == [1200.0, 600.0]
    assert st["utilisation_history"].tolist() == ["20%; 20%; 10%", "20%; 0%; 20%"]
    assert st["utilisation_trend"].round(6).tolist() == [-0.05, 0.0]  # least-squares slope over x = −1, 0, 1
    assert st["utilisation_start"].tolist() == [0.2, 0.2]
    assert st["seats"].tolist() == [10.0, 5.0] and st["active_users"].tolist() == [1.0, 1.0]
    assert st["touch_model"].tolist() == ["high", "tech"] and st["csm_owner"].tolist() == ["csm A", "csm C"]
    assert st["months_since_start"].tolist() == [5, 4]
    assert str(st["scoring_date"].iloc[0]) == "2024-06-30"
    assert st.attrs["paying"] == 6 and st.attrs["judged"] == 4 and st.attrs["not_judged"] == 1 and st.attrs["short"] == 1
    # B would be stalled on its seats at signup (0.2, 0.2, 0.1): the seat change in May counts from May
    # a 2-month window: F's April and May (0.2, 0.2) but June 0.3 is not below 0.3; two months ending in June
    st2 = ad.stalled_accounts(tiny, am, threshold=0.3, months=2)
    assert sorted(st2["customer_id"]) == ["A", "C", "E"]  # E now paid in each month of the window
    st4 = ad.stalled_accounts(tiny, am, threshold=0.31, months=1)
    assert sorted(st4["customer_id"]) == ["A", "B", "C", "E", "F"]  # June: A .1, B .25, C .2, E .1, F .3 < .31


def test_stall_rule_errors_and_pseudonyms(tiny):
    am = ad.adoption_months(tiny)
    with pytest.raises(ValueError, match="threshold"):
        ad.stalled_accounts(tiny, am, threshold=0)
    with pytest.raises(ValueError, match="months"):
        ad.stalled_accounts(tiny, am, months=0)
    st = ad.stalled_accounts(tiny, am, pseudonymise=True)
    assert len(st) == 2 and not set(st["customer_id"]) & {"A", "C"}
    assert st["customer_id"].str.startswith("P-").all()


def test_curves_by_hand(tiny):
    am = ad.adoption_months(tiny)
    c = ad.adoption_curves(am, "utilisation", min_accounts=1).table.set_index("k")
    # k = 0: A .2 (Jan), B .5, C .6 (Feb), D 1/8, E .1 (May), F .5 (G none) → sorted .1, .125, .2, .5, .5, .6
    assert c.loc[0, "accounts"] == 6
    assert c.loc[0, "median"] == pytest.approx((0.2 + 0.5) / 2)
    assert c.loc[0, "q1"] == pytest.approx(0.125 + 0.25 * (0.2 - 0.125))  # position 1.25 of 0 … 5
    assert c.loc[0, "q3"] == pytest.approx(0.5)
    # n = 6: the 2.5% quantile of Binomial(6, ½) is 1 → the 1st and 6th values
    assert (c.loc[0, "lower"], c.loc[0, "upper"]) == (0.1, 0.6)
    assert ad.median_interval(np.array([20, 100]))[0].tolist() == [6, 40]  # binom.ppf(0.025, n, ½)
    from scipy.stats import binom

    n = np.array([1, 2, 5, 6, 9, 10, 17, 20, 21, 50, 99, 100, 101, 1000, 4321, 40000])
    for alpha in (0.05, 0.1, 0.01):
        want = np.maximum(binom.ppf(alpha / 2, n, 0.5).astype(int), 1)
        assert ad.median_interval(n, alpha)[0].tolist() == want.tolist()
    c3 = ad.adoption_curves(am, "utilisation", min_accounts=6).table
    assert c3["k"].tolist() == [0, 1]  # only k = 0 and 1 have 6 accounts with a value (E pays two months)
    none = ad.adoption_curves(am, "utilisation", min_accounts=50)
    assert none.reason is not None and not len(none.table)


def test_no_usage_says_why(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    pd.DataFrame([("A", "2024-01-01", 5)], columns=["customer_id", "signup_date", "seats"]).to_csv(d / "customers.csv", index=False)
    pd.DataFrame([("A", "2024-01-01", 10), ("A", "2024-02-01", 10)], columns=["customer_id", "date", "amount"]).to_csv(
        d / "revenue.csv", index=False)
    ds = cs.load_dataset(d, as_of="2024-02-29")
    r = ad.adoption(ds)
    assert r.curves_["utilisation"]["all"].reason == "the data have no usage table"
    assert r.stalled_.attrs["reason"] == "the data have no usage table" and not len(r.stalled_)
    m = r.metrics()
    assert m["utilisation"]["month_3"]["estimate"] is None and m["utilisation"]["month_3"]["reason"]


def test_blank_seats_leave_utilisation_out(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    pd.DataFrame([("A", "2024-01-01", 5), ("B", "2024-01-01", None)], columns=["customer_id", "signup_date", "seats"]).to_csv(
        d / "customers.csv", index=False)
    pd.DataFrame([(c, f"2024-0{m}-10", 10) for c in "AB" for m in (1, 2)], columns=["customer_id", "date", "amount"]).to_csv(
        d / "revenue.csv", index=False)
    pd.DataFrame([(c, f"2024-0{m}-10", 1, 2) for c in "AB" for m in (1, 2)],
                 columns=["customer_id", "date", "active_users", "features_used"]).to_csv(d / "usage.csv", index=False)
    am = ad.adoption_months(cs.load_dataset(d, as_of="2024-02-29"))
    assert am.reason["utilisation"].key == "adoption.reason.bad_seats" and "'B'" in am.reason["utilisation"]
    assert am.reason["features_used"] is None and am.frame["features_used"].tolist() == [2.0] * 4


def _demo():
    if not (DEMO / ".complete").exists():
        pytest.skip("the demo data are not written (make demo)")
    return cs.load_dataset(DEMO)


def test_demo_curves_equal_plain_pandas():
    """The curves and the stalled list against a plain pandas computation (merge on customer and month, groupby)."""
    ds = _demo()
    r = ad.adoption(ds, segment="plan")
    p = ds.panel.copy()
    u = ds.usage[["customer_id", "month", "active_users", "features_used"]]
    x = p.merge(u, on=["customer_id", "month"], how="left")
    lo, hi = u["month"].min(), u["month"].max()
    inside = (x["month"] >= lo) & (x["month"] <= hi)
    for col in ("active_users", "features_used"):
        x[col] = x[col].where(~inside, x[col].fillna(0.0))
    x["seats"] = x["customer_id"].map(ds.customers.set_index("customer_id")["seats"].astype(float))
    h = ds.attributes
    if h is not None and (h["attribute"] == "seats").any():  # a seat history: the latest row by the month's last day
        h = h[h["attribute"] == "seats"].assign(valid_from=lambda d: pd.to_datetime(d["valid_from"]),
                                                  v=lambda d: pd.to_numeric(d["value"]))
        q = x.assign(_end=x["month"] + pd.offsets.MonthEnd(0), _i=np.arange(len(x))).sort_values("_end")
        j = pd.merge_asof(q, h.sort_values("valid_from")[["customer_id", "valid_from", "v"]], left_on="_end",
                          right_on="valid_from", by="customer_id").sort_values("_i")
        x["seats"] = np.where(j["v"].notna(), j["v"], x["seats"])
    x["utilisation"] = (x["active_users"] / x["seats"]).where(x["seats"] > 0)
    full = x.copy()
    x = x[(x["spell_month"] <= ad.MAX_MONTHS)].sort_values("month").drop_duplicates(["customer_id", "spell_month"], keep="last")
    x["touch_model"] = x["customer_id"].map(ds.customers.set_index("customer_id")["touch_model"])
    for measure in ad.MEASURES:
        g = x.dropna(subset=[measure]).groupby(["touch_model", "spell_month"])[measure]
        want = pd.DataFrame({"accounts": g.size(), "median": g.median(), "q1": g.quantile(0.25), "q3": g.quantile(0.75)})
        want = want[want["accounts"] >= ad.MIN_ACCOUNTS]
        got = r.curves_[measure]["touch_model"].table.set_index(["group", "k"])
        assert len(got) == len(want) > 0
        for c in want.columns:
            np.testing.assert_allclose(got[c].to_numpy(dtype=float), want[c].to_numpy(dtype=float), rtol=1e-12)
    # the stalled list: paying in each of the last 3 months, utilisation below 0.3 in each
    last = ds.as_of_month
    w = full[full["month"] > last - pd.DateOffset(months=3)]
    agg = w.groupby("customer_id").agg(n=("month", "size"), below=("utilisation", lambda s: bool((s < 0.3).all())),
                                       now=("month", "max"))
    want_ids = sorted(agg.index[(agg["n"] == 3) & agg["below"] & (agg["now"] == last)])
    assert sorted(r.stalled_["customer_id"]) == want_ids and len(want_ids) > 10
    assert r.stalled_["mrr"].is_monotonic_decreasing


def test_planted_curves_recovered():
    """truth.json ``adoption``: per touch model and month since start, the median of the true distributions;
    the estimated median's 95% interval covers it in at least 90% of the months shown (75 months; the intervals
    hold jointly only approximately), utilisation rises from month 0 to month 12 in every touch model, and
    high touch adopts more than tech touch at month 6."""
    ds = _demo()
    truth = json.loads((DEMO / "truth.json").read_text())
    if "adoption" not in truth:
        pytest.fail("truth.json has no 'adoption' key: regenerate the demo data (csanalysis demo-data)")
    t = truth["adoption"]
    r = ad.adoption(ds)
    for measure, key in (("utilisation", "median_utilisation"), ("features_used", "median_features_used")):
        tab = r.curves_[measure]["touch_model"].table
        true = np.array([t[key][g][k] for g, k in zip(tab["group"], tab["k"])], dtype=float)
        covered = (tab["lower"].to_numpy() <= true + 1e-9) & (true <= tab["upper"].to_numpy() + 1e-9)
        assert len(tab) >= 60 and covered.mean() >= 0.9, (measure, tab[~covered])
    for g in ("tech", "low", "high"):
        assert t["median_utilisation"][g][12] > t["median_utilisation"][g][0] + 0.1
    u = r.curves_["utilisation"]["touch_model"].table.set_index(["group", "k"])
    assert u.loc[("high", 6), "lower"] > u.loc[("tech", 6), "upper"]


def test_result_keeps_the_months_availability_not_their_rows(tiny):
    # the report holds the result to its end: the account-months are not kept on it (issue 21), the rest is
    am = ad.adoption_months(tiny)
    res = ad.adoption(tiny)
    assert len(am.frame) > 0 and len(res.months_.frame) == 0
    assert list(res.months_.frame.columns) == list(am.frame.columns)
    assert (res.months_.reason, res.months_.coverage, res.months_.seats_source) == (am.reason, am.coverage, am.seats_source)
    pd.testing.assert_index_equal(res.months_.accounts, am.accounts)
    assert res.metrics()["seats_source"] == am.seats_source


@pytest.mark.parametrize("where", ["demo", "tiny"])
def test_panel_read_from_the_engine_gives_the_same_months_curves_and_list(where, tiny):
    """While the pandas panel is pending, adoption reads the panel's rows from the engine and does not build it: the
    same account-months (values, dtypes, order), curves and stalled list as from the pandas panel."""
    # (a Dataset of its own, its panel pending)
    fresh = _demo() if where == "demo" else cs.load_dataset(Path(tiny.source), as_of="2024-06-30")
    assert "panel" in fresh.pending()
    engine_am, engine = ad.adoption_months(fresh), ad.adoption(fresh, segment="plan")
    assert "panel" in fresh.pending()  # not built
    fresh.panel  # noqa: B018 - now built: the pandas path
    pd.testing.assert_frame_equal(engine_am.frame, ad.adoption_months(fresh).frame, check_exact=True)
    pandas_ = ad.adoption(fresh, segment="plan")
    pd.testing.assert_frame_equal(engine.stalled_, pandas_.stalled_, check_exact=True)
    pd.testing.assert_frame_equal(engine.curves_table(), pandas_.curves_table(), check_exact=True)
