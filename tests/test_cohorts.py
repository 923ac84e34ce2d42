"""Cohort retention, asserted cell by cell on a hand-computed fixture (tests/fixtures/cohort10/README.md)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from statsmodels.stats.proportion import proportion_confint

import csanalysis as cs
from csanalysis import cohorts as co

FIX = Path(__file__).parent / "fixtures" / "cohort10"
nan = np.nan


@pytest.fixture(scope="module")
def ds():
    return cs.load_dataset(FIX, as_of="2024-06-15")


# Expected cells, computed by hand from the fixture (cohorts 2024-01: A–E, 2024-02: F–H, 2024-03: I–J).
# Observable: Jan cohort k ≤ 4, Feb k ≤ 3, Mar k ≤ 2 (panel ends May 2024).
EXPECTED = {
    ("logo", "active"): [[1, 4 / 5, 3 / 5, 4 / 5, 4 / 5], [1, 2 / 3, 2 / 3, 2 / 3, nan], [1, 1 / 2, 1 / 2, nan, nan]],
    ("logo", "unbroken"): [[1, 4 / 5, 3 / 5, 3 / 5, 3 / 5], [1, 2 / 3, 2 / 3, 2 / 3, nan], [1, 1 / 2, 1 / 2, nan, nan]],
    # starting MRR: Jan cohort 100+100+200+100+50 = 550; Feb: F's first full month (Mar) 100 + G 100 + H 80 = 280;
    # Mar: 100 + 60 = 160
    ("revenue", "active"): [[550 / 550, 470 / 550, 370 / 550, 420 / 550, 420 / 550],
                            [230 / 280, 200 / 280, 200 / 280, 200 / 280, nan], [1, 100 / 160, 100 / 160, nan, nan]],
    ("revenue", "unbroken"): [[1, 470 / 550, 370 / 550, 370 / 550, 370 / 550],
                              [230 / 280, 200 / 280, 200 / 280, 200 / 280, nan], [1, 100 / 160, 100 / 160, nan, nan]],
    # capped at starting MRR: B's 150 counts 100
    ("gross_revenue", "active"): [[1, 420 / 550, 320 / 550, 370 / 550, 370 / 550],
                                  [230 / 280, 200 / 280, 200 / 280, 200 / 280, nan], [1, 100 / 160, 100 / 160, nan, nan]],
    ("gross_revenue", "unbroken"): [[1, 420 / 550, 320 / 550, 320 / 550, 320 / 550],
                                    [230 / 280, 200 / 280, 200 / 280, 200 / 280, nan], [1, 100 / 160, 100 / 160, nan, nan]],
}


@pytest.mark.parametrize("basis,definition", list(EXPECTED))
def test_matrix_cell_by_cell(ds, basis, definition):
    m = co.retention_matrix(ds, basis=basis, definition=definition)
    assert list(m.index) == ["2024-01", "2024-02", "2024-03"]
    assert m["cohort_size"].tolist() == [5, 3, 2]
    assert [c for c in m.columns if c != "cohort_size"] == [0, 1, 2, 3, 4]
    got = m[[0, 1, 2, 3, 4]].to_numpy(dtype=float)
    np.testing.assert_allclose(got, np.array(EXPECTED[basis, definition], dtype=float), rtol=0, atol=1e-12)


def test_logo_intervals_are_wilson_and_small_cohorts_flagged(ds):
    r = co.cohort_retention(ds, min_cohort_size=3)
    lo, hi = proportion_confint(3, 5, alpha=0.05, method="wilson")
    assert r.lower.loc["2024-01", 2] == pytest.approx(lo) and r.upper.loc["2024-01", 2] == pytest.approx(hi)
    assert r.small.tolist() == [False, False, True]
    long = r.long()
    assert len(long) == 5 + 4 + 3 and not long["retention"].isna().any()  # unobservable cells are absent
    row = long[(long.cohort == "2024-03") & (long.period == 1)].iloc[0]
    assert row.active_customers == 1 and row.small_cohort


def test_revenue_bootstrap_interval_brackets_estimate(ds):
    r = co.cohort_retention(ds, basis="revenue", n_boot=300)
    est, lo, hi = (r.matrix[[1, 2]].to_numpy(), r.lower[[1, 2]].to_numpy(), r.upper[[1, 2]].to_numpy())
    assert np.all(lo <= est + 1e-12) and np.all(est <= hi + 1e-12)
    assert (hi - lo)[0, 0] > 0  # the Jan cohort's customers differ, so the bootstrap spreads


def test_quarterly_offsets_are_tenure_not_calendar(ds):
    m = co.retention_matrix(ds, period="quarter")
    # one complete quarterly cohort (Q1: all ten); its period 0 (tenure months 0–2) ends in May for March starters
    assert m.index.tolist() == ["2024-Q1"] and m["cohort_size"].tolist() == [10]
    assert m[0].tolist() == [1.0] and m.columns.tolist() == ["cohort_size", 0]


def test_by_segment_gives_one_matrix_per_value(ds):
    m = co.retention_matrix(ds, by="plan")
    basic = m.loc["Basic"]  # A, D, E | H | I
    assert basic["cohort_size"].tolist() == [3, 1, 1]
    np.testing.assert_allclose(basic.loc["2024-01", [0, 1, 2, 3, 4]].to_numpy(float), [1, 2 / 3, 1 / 3, 2 / 3, 2 / 3])
    curve = co.pooled_curve(ds, by="plan", n_boot=50)
    assert set(curve["plan"]) == {"Basic", "Pro"}


def test_pooled_unbroken_curve_equals_kaplan_meier_on_first_spells(ds):
    """Chained cohort retention is Kaplan–Meier: a spell still paying at as_of is at risk only up to its last
    observed month, so lifelines gets censored durations of duration − 1."""
    curve = co.pooled_curve(ds, n_boot=20)
    first = ds.spells[ds.spells.spell == 1]
    t = first["duration"] - (1 - first["event"])
    km = KaplanMeierFitter().fit(t, first["event"])
    expected = km.survival_function_at_times(curve["period"]).to_numpy()
    np.testing.assert_allclose(curve["retention"].to_numpy(), expected, atol=1e-12)
    # by hand: k1 = 7/10 (E, H, J have one-month first spells); k2: all three cohorts are observed, 7 customers
    # unbroken at month 1 (A–D, F, G, I), 6 still at month 2 (D churned): 7/10 × 6/7; k3: Jan and Feb only,
    # 5 at month 2 (A–C, F, G) all still there: × 5/5; k4: Jan only, 3 of 3
    assert curve["retention"].iloc[1] == pytest.approx(7 / 10)
    assert curve["retention"].iloc[2] == pytest.approx(7 / 10 * 6 / 7)
    assert curve["retention"].iloc[4] == pytest.approx(0.6)


def test_weighted_average_is_labelled_biased(ds):
    curve = co.pooled_curve(ds, method="weighted", definition="active", n_boot=20)
    assert "biased" in curve["method"].iloc[0]
    # k=4: only the Jan cohort is observed → its cell
    assert curve.loc[curve.period == 4, "retention"].item() == pytest.approx(4 / 5)


def test_bad_options_are_refused(ds):
    with pytest.raises(ValueError, match="period"):
        co.retention_matrix(ds, period="week")
    with pytest.raises(ValueError, match="basis"):
        co.retention_matrix(ds, basis="users")  # "seats" is a basis now (tests/test_cohort_seats.py)
    with pytest.raises(ValueError, match="not a customer attribute"):
        co.retention_matrix(ds, by="colour")


def test_fiscal_year_cohorts_start_in_the_configured_month():
    """Fiscal years starting in February: A–E (January 2024) belong to FY2023 (Feb 2023–Jan 2024); F–J (Feb–Mar
    2024) to FY2024, which is still open at as_of and so not shown; FY2023's period 0 (tenure months 0–11) ends
    after as_of, so it is blank, not zero."""
    ds = cs.load_dataset(FIX, as_of="2024-06-15", fiscal_year_start=2)
    m = co.retention_matrix(ds, period="fiscal_year")
    assert list(m.index) == ["FY2023 (from 2023-02)"] and m["cohort_size"].tolist() == [5]
    assert m[0].isna().all()


def test_logo_counts_from_the_engine_match_pandas_counts_on_generated_data(tmp_path):
    """Logo matrices are counted in the engine (the pandas panel is not built for them). On 1,500 generated
    customers their active counts equal a plain pandas count from the panel and spells (cohort = first spell's
    start period, k = tenure // period length, distinct customers; unbroken: first-spell duration > k·L), and a
    Dataset rebuilt from pandas frames (a report run's cache) gives the same matrix."""
    from csanalysis.data import cache, synth

    synth.write_demo(tmp_path / "d", n_customers=1500, months=30, seed=5)
    ds = cs.load_dataset(tmp_path / "d")
    got = {(p, d): co.cohort_retention(ds, period=p, definition=d, by="plan", n_boot=0)
           for p in ("month", "quarter") for d in ("active", "unbroken")}
    assert {"panel", "spells"} <= set(ds.pending())
    first = ds.spells[ds.spells["spell"] == 1].set_index("customer_id")
    start = first["start"].dt.year * 12 + first["start"].dt.month - 1
    plan = ds.customers.set_index("customer_id")["plan"]
    for (p, d), r in got.items():
        L = {"month": 1, "quarter": 3}[p]
        cohort = start - start % L if L == 3 else start
        if d == "active":
            cells = ds.panel.assign(cohort=ds.panel["customer_id"].map(cohort), k=ds.panel["tenure"] // L)
            counts = cells.drop_duplicates(["customer_id", "k"]).groupby(
                [cells["customer_id"].map(plan), "cohort", "k"]).size()
        else:
            rows = [(plan[c], cohort[c], k) for c, dur in first["duration"].items() for k in range(int(dur)) if dur > k * L]
            counts = pd.DataFrame(rows, columns=["plan", "cohort", "k"]).groupby(["plan", "cohort", "k"]).size()
        checked = 0
        for (seg, label), row in r.active.iterrows():
            y, m = (int(label[:4]), int(label[-1]) * 3 - 3) if p == "quarter" else (int(label[:4]), int(label[5:7]) - 1)
            for k, v in row.dropna().items():
                assert v == counts.get((seg, y * 12 + m, k), 0), (p, d, seg, label, k)
                checked += 1
        assert checked > 100
    again = cache.load(cache.save(ds, tmp_path / "c"))
    pd.testing.assert_frame_equal(co.cohort_retention(again, period="quarter", by="plan", n_boot=0).matrix,
                                  got[("quarter", "active")].matrix)


@pytest.mark.parametrize("basis,method", [("logo", "chained"), ("revenue", "chained"), ("gross_revenue", "weighted")])
def test_pooled_bootstrap_in_blocks_of_replicates_draws_the_same_replicates(ds, basis, method, monkeypatch):
    """The replicates' weights are drawn in blocks to bound memory at large N; blocks of a few replicates give
    the same band as one block of all of them (the same generator stream)."""
    from csanalysis.stats import bootstrap

    whole = co.pooled_curve(ds, basis=basis, method=method, n_boot=50, seed=7)
    assert len(bootstrap.replicate_blocks(50, 10)) == 1
    monkeypatch.setattr(bootstrap, "BLOCK_CELLS", 30)  # 3 replicates of the 10 customers per block
    assert bootstrap.replicate_blocks(50, 10) == [3] * 16 + [2]
    blocked = co.pooled_curve(ds, basis=basis, method=method, n_boot=50, seed=7)
    pd.testing.assert_frame_equal(blocked, whole, rtol=1e-12)
    assert (whole["upper"] > whole["lower"]).any()  # the band is not degenerate


def test_revenue_matrix_bootstrap_in_blocks_of_replicates_draws_the_same_replicates(ds, monkeypatch):
    """The revenue matrix's replicates are drawn in blocks too (one generator for every cohort, in cohort order):
    blocks of a few replicates give the intervals of one block."""
    from csanalysis.stats import bootstrap

    whole = co.cohort_retention(ds, basis="revenue", n_boot=50, seed=3)
    monkeypatch.setattr(bootstrap, "BLOCK_CELLS", 8)  # a few replicates per block for every cohort
    blocked = co.cohort_retention(ds, basis="revenue", n_boot=50, seed=3)
    pd.testing.assert_frame_equal(blocked.lower, whole.lower, rtol=1e-12)
    pd.testing.assert_frame_equal(blocked.upper, whole.upper, rtol=1e-12)
    assert (whole.upper > whole.lower).to_numpy().any()


def test_logo_bootstrap_band_over_groups_matches_greenwood_on_the_demo():
    """The logo bootstrap resamples groups of interchangeable customers (same cohort and months active); its
    band must still be the customer bootstrap's: on the demo's first spells it agrees with Kaplan–Meier's
    Greenwood interval (lifelines), which the chained unbroken curve equals."""
    demo = cs.load_dataset(Path(__file__).resolve().parents[1] / "data" / "demo")
    curve = co.pooled_curve(demo, n_boot=2000, seed=1)
    first = demo.spells[demo.spells.spell == 1]
    km = KaplanMeierFitter().fit(first["duration"] - (1 - first["event"]), first["event"])
    ci = km.confidence_interval_survival_function_.reindex(curve["period"], method="ffill")
    inner = curve["period"].between(1, 24).to_numpy()
    width_boot = (curve["upper"] - curve["lower"]).to_numpy()[inner]
    width_gw = (ci.iloc[:, 1] - ci.iloc[:, 0]).to_numpy()[inner]
    assert np.all(np.abs(width_boot / width_gw - 1) < 0.15), np.c_[width_boot, width_gw]
    # (the demo's customers who started before the data window make the chained curve differ from this plain
    # Kaplan–Meier by about 0.02, so the band is compared around each one's own estimate)
    below = (curve["retention"] - curve["lower"]).to_numpy()[inner]
    below_gw = (km.survival_function_at_times(curve["period"]).to_numpy() - ci.iloc[:, 0].to_numpy())[inner]
    assert np.all(np.abs(below / below_gw - 1) < 0.2), np.c_[below, below_gw]


def test_cohorts_that_began_before_the_data_window_are_flagged(tmp_path):
    """x and y signed up in November 2023, the revenue starts in January 2024 (the data window): their cohort
    holds only customers who survived to January, so it is flagged everywhere (matrix result, long table, CSV
    table, heatmap label) and never the headline cell. By hand: 2023-11 (x, y) active at k = 2 (Jan) 2/2, then
    x only: 1/2 at k = 3, 4, 5; 2024-01 (z) 1 at k = 0 … 3."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from csanalysis import plots

    d = tmp_path / "d"
    d.mkdir()
    (d / "customers.csv").write_text("customer_id,signup_date\nx,2023-11-01\ny,2023-11-01\nz,2024-01-01\n")
    months = ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]
    rows = [f"x,{m},10" for m in months] + ["y,2024-01-01,10"] + [f"z,{m},10" for m in months]
    (d / "revenue.csv").write_text("customer_id,date,amount\n" + "\n".join(rows) + "\n")
    ds = cs.load_dataset(d, as_of="2024-04-30")
    assert ds.spells.set_index("customer_id")["entry"].to_dict() == {"x": 2, "y": 2, "z": 0}
    r = co.cohort_retention(ds, min_cohort_size=1)
    assert r.before_window.to_dict() == {"2023-11": True, "2024-01": False}
    np.testing.assert_allclose(r.matrix.loc["2023-11", [0, 1, 2, 3, 4, 5]].to_numpy(float), [nan, nan, 1, .5, .5, .5])
    long = r.long()
    assert set(long.loc[long.cohort == "2023-11", "before_window"]) == {True}
    assert set(long.loc[long.cohort == "2024-01", "before_window"]) == {False}
    table = r.table()
    assert table.columns[:3].tolist() == ["cohort_size", "small_cohort", "before_window"]
    assert table["before_window"].tolist() == [True, False]
    # the headline is the newest cohort observed that long that did not begin before the window: at 3 months
    # both are observed (2024-01's k = 3 is April), at 5 months only the flagged 2023-11
    assert r.headline_cell(3)["cohort"] == "2024-01"
    assert r.headline_cell(5) is None  # only the flagged cohort is observed 5 months after its start
    ax = plots.plot_retention_heatmap(r, before_window_marker="*", before_window_label="began before the data")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["2023-11* (n=2)", "2024-01 (n=1)"]
    assert any("began before the data" in t.get_text() for t in ax.texts)
    plt.close(ax.figure)
    # by segment and on the revenue basis the flag is kept
    assert co.cohort_retention(ds, basis="revenue", n_boot=10).before_window.tolist() == [True, False]


def test_demo_left_truncated_customers_make_their_cohorts_flagged():
    demo = cs.load_dataset(Path(__file__).resolve().parents[1] / "data" / "demo")
    r = co.cohort_retention(demo, by="plan")
    first = demo.spells[demo.spells.spell == 1]
    early = first.loc[first["entry"] > 0, "start"].dt.strftime("%Y-%m")
    plan = demo.customers.set_index("customer_id")["plan"]
    expected = set(zip(first.loc[first["entry"] > 0, "customer_id"].map(plan), early))
    flagged = set(r.before_window[r.before_window].index)
    assert len(expected) > 10 and flagged == expected
    assert not r.before_window[~r.before_window.index.get_level_values("cohort").isin(early)].any()
