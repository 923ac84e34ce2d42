"""The renewal calendar (csanalysis/health/renewals.py): a hand-built risk list checked row by row and sum by sum,
and the calendar of a generated data set against the risk list and the customers' renewal dates in pandas."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from csanalysis import health
from csanalysis.health import CALENDAR_COLUMNS, LIST_COLUMNS, calendar_metrics, renewal_calendar, renewal_summary

SCORING = dt.date(2024, 12, 31)


def _list(rows) -> pd.DataFrame:
    """A risk list in the layout of LIST_COLUMNS: (customer, days to renewal or None, MRR, probability, on_list)."""
    df = pd.DataFrame(rows, columns=["customer_id", "days_to_renewal", "mrr", "churn_probability", "on_list"])
    df["scoring_date"] = SCORING
    df["renewal_date"] = [SCORING + dt.timedelta(days=int(d)) if d == d and d is not None else None
                          for d in df["days_to_renewal"]]
    df["days_to_renewal"] = df["days_to_renewal"].astype(float)
    df["arr"] = 12 * df["mrr"]
    df["arr_at_risk"] = df["arr"] * df["churn_probability"]
    for c, v in (("rank", 0), ("touch_model", "low"), ("rank_in_team", 0), ("csm_owner", "Ann"), ("horizon_months", 3),
                 ("score_source", "model"), ("scorecard_points", 70.0), ("scorecard_band", "good"), ("reasons", ""),
                 ("new_on_list", pd.NA)):
        df[c] = v
    return df[list(LIST_COLUMNS)]


ROWS = [("A", 0, 100.0, 0.5, 1), ("B", 30, 200.0, 0.1, 0), ("C", 31, 50.0, 1.0, 1), ("D", 90, 300.0, 0.0, 0),
        ("E", 91, 100.0, 0.2, 0), ("F", 180, 1000.0, 0.05, 1), ("G", 181, 400.0, 0.9, 1), ("H", -5, 100.0, 0.3, 0),
        ("I", None, 100.0, 0.3, 0), ("J", 30, 500.0, 0.2, 0)]


def test_calendar_rows_windows_and_order():
    cal = renewal_calendar(_list(ROWS))
    assert list(cal.columns) == list(CALENDAR_COLUMNS)
    # renewal date order, then ARR (J's 6,000 before B's 2,400 on day 30); G (181 days), H (overdue), I (no date) out
    assert cal["customer_id"].tolist() == ["A", "J", "B", "C", "D", "E", "F"]
    assert cal["window_days"].tolist() == [30, 30, 30, 90, 90, 180, 180]
    assert cal["days_to_renewal"].tolist() == [0, 30, 30, 31, 90, 91, 180]
    assert cal["on_risk_list"].tolist() == [1, 0, 0, 1, 0, 0, 1]
    assert cal["arr"].tolist() == [1200, 6000, 2400, 600, 3600, 1200, 12000]
    assert (cal.attrs["overdue"], cal.attrs["no_renewal_date"]) == (1, 1)


def test_summary_sums_by_hand_and_degenerate_ranges():
    cal = renewal_calendar(_list(ROWS))
    s = renewal_summary(cal, n_sim=20000, seed=1).set_index("window_days")
    # within 30 days: A, J, B: ARR 1,200 + 6,000 + 2,400; expected churns 0.5 + 0.2 + 0.1; ARR lost 600 + 1,200 + 240
    assert (s.loc[30, "contracts"], s.loc[30, "arr"]) == (3, 9600)
    assert s.loc[30, "expected_churns"] == pytest.approx(0.8) and s.loc[30, "expected_arr_lost"] == pytest.approx(2040)
    # within 90: + C (600, p = 1) and D (3,600, p = 0); within 180: + E (1,200 × 0.2) and F (12,000 × 0.05)
    assert (s.loc[90, "contracts"], s.loc[90, "arr"]) == (5, 13800)
    assert s.loc[90, "expected_arr_lost"] == pytest.approx(2040 + 600)
    assert (s.loc[180, "contracts"], s.loc[180, "arr"]) == (7, 27000)
    assert s.loc[180, "expected_arr_lost"] == pytest.approx(2040 + 600 + 240 + 600)
    assert s.loc[180, "expected_churns"] == pytest.approx(0.8 + 1 + 0.2 + 0.05)
    # the range of the ARR lost within 30 days, by hand: P(0) = .5 × .8 × .9 = .36, so the 2.5% quantile is 0; the
    # cumulative probability is .72 at 1,200 (A), .76 at 2,400 (B), .80 at 3,600 (A + B), .89 at 6,000 (J), .98 at
    # 7,200 (A + J): the 97.5% quantile is 7,200 (20,000 draws put it well inside that step)
    assert (s.loc[30, "expected_arr_lost_low"], s.loc[30, "expected_arr_lost_high"]) == (0, 7200)
    # certain outcomes (p 0 or 1) give a range of width 0 at the expectation
    sure = renewal_calendar(_list([("C", 10, 50.0, 1.0, 1), ("D", 20, 300.0, 0.0, 0)]))
    t = renewal_summary(sure).set_index("window_days")
    assert (t.loc[30, "expected_arr_lost"], t.loc[30, "expected_arr_lost_low"], t.loc[30, "expected_arr_lost_high"]) == (600, 600, 600)
    # the simulated mean agrees with the expectation (one set of outcomes, many draws)
    rng_mean = renewal_summary(cal, n_sim=200000, seed=2, alpha=0.5).set_index("window_days")
    assert rng_mean.loc[180, "expected_arr_lost_low"] <= 3480 <= rng_mean.loc[180, "expected_arr_lost_high"]


def test_summary_in_blocks_equals_one_draw(monkeypatch):
    """The simulation drawn in blocks of replicates (memory) gives exactly the numbers of one n_sim × accounts draw,
    computed here the plain way (the blocks continue one stream of uniforms)."""
    from csanalysis.health import renewals

    rng = np.random.default_rng(5)
    n = 300
    rows = [(f"c{i:03d}", int(d), float(m), float(p), 0) for i, (d, m, p) in
            enumerate(zip(rng.integers(0, 181, n), rng.uniform(10, 900, n), rng.uniform(0, 0.6, n)))]
    rows += [("x1", 20, 100.0, np.nan, 0), ("x2", 100, 70.0, np.nan, 1)]  # no probability: not simulated
    cal = renewal_calendar(_list(rows))
    n_sim, seed, alpha = 997, 3, 0.05

    def plain():  # the computation before blocks: one draw of n_sim × accounts
        p = pd.to_numeric(cal["churn_probability"], errors="coerce").to_numpy(dtype=float)
        arr, days, known = cal["arr"].to_numpy(dtype=float), cal["days_to_renewal"].to_numpy(dtype=float), ~np.isnan(p)
        churned = np.random.default_rng(seed).random((n_sim, len(cal))) < np.where(known, p, 0.0)[None, :]
        out = {}
        for x in (30, 90, 180):
            s = (days <= x) & known
            out[x] = (np.quantile(churned[:, s].sum(axis=1), [alpha / 2, 1 - alpha / 2]),
                      np.quantile(churned[:, s].astype(float) @ arr[s], [alpha / 2, 1 - alpha / 2]))
        return out

    want = plain()
    for cells in (len(cal) * 64, len(cal) * 200, len(cal) * 1000, 1):  # blocks of 64 (the last one shorter), 192, one block
        monkeypatch.setattr(renewals, "_SIM_CELLS", cells)
        got = renewal_summary(cal, n_sim=n_sim, seed=seed, alpha=alpha).set_index("window_days")
        for x, (c, lost) in want.items():
            assert (got.loc[x, "expected_churns_low"], got.loc[x, "expected_churns_high"]) == tuple(c)
            assert (got.loc[x, "expected_arr_lost_low"], got.loc[x, "expected_arr_lost_high"]) == tuple(lost)


def test_metrics_and_bad_input():
    cal = renewal_calendar(_list(ROWS))
    m = calendar_metrics(cal, renewal_summary(cal))["renewals"]
    assert set(m["windows"]) == {"30", "90", "180"} and m["overdue"] == 1 and m["no_renewal_date"] == 1
    e = m["windows"]["30"]["expected_arr_lost"]
    assert e["estimate"] == pytest.approx(2040) and e["lower"] <= e["estimate"] <= e["upper"]
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['days_to_renewal'\]"):
        renewal_calendar(_list(ROWS).drop(columns="days_to_renewal"))
    with pytest.raises(ValueError, match="windows=.*increasing"):
        renewal_calendar(_list(ROWS), windows=(90, 30))
    none = renewal_calendar(_list([("A", None, 100.0, np.nan, 0)]))
    assert len(none) == 0
    ms = calendar_metrics(none, renewal_summary(none))["renewals"]["windows"]["30"]
    assert ms["contracts"] == 0 and ms["expected_arr_lost"]["estimate"] is None and ms["expected_arr_lost"]["reason"]


def test_calendar_of_generated_data_against_the_customers(tmp_path):
    import csanalysis as cs
    from csanalysis.data import synth

    synth.write_demo(tmp_path / "d", n_customers=1500, months=30, seed=5)
    ds = cs.load_dataset(tmp_path / "d")
    res = health.churn_risk(ds, n_boot=20, test_months=1)
    lst = health.risk_list(res)
    cal = renewal_calendar(lst)
    # independently: the accounts paying at the scoring date (the list) whose customers.renewal_date (no history in
    # the demo) lies 0-180 days after the scoring date
    scoring = pd.Timestamp(res.scoring_date)
    ren = ds.customers.set_index("customer_id")["renewal_date"].reindex(lst["customer_id"])
    days = (ren - scoring).dt.days
    want = set(lst["customer_id"][((days >= 0) & (days <= 180)).to_numpy()])
    assert set(cal["customer_id"]) == want and len(want) > 20
    by_id = lst.set_index("customer_id")
    got = cal.set_index("customer_id")
    assert (got["days_to_renewal"] == days.set_axis(lst["customer_id"]).reindex(got.index)).all()
    assert np.allclose(got["arr"], 12 * by_id.loc[got.index, "mrr"])
    assert np.allclose(got["churn_probability"], by_id.loc[got.index, "churn_probability"])
    assert ((got["window_days"] == 30) == (got["days_to_renewal"] <= 30)).all()
    s = renewal_summary(cal).set_index("window_days")
    assert s.loc[180, "arr"] == pytest.approx(got["arr"].sum())
    assert s.loc[180, "expected_arr_lost"] == pytest.approx((got["arr"] * got["churn_probability"]).sum())
