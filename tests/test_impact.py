"""Impact of customer-success work: the program effect against the generator's planted truth, the naive
before/after comparison fooled by an ageing base, the too-short pre-period, and the money by hand."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csanalysis import impact
from conftest import constant_hazard_model, generated_world, purchase_log


@pytest.fixture(scope="module")
def program_world(tmp_path_factory):
    return generated_world(tmp_path_factory, "program", n_customers=20000, months=36, seed=3)


@pytest.fixture(scope="module")
def null_world(tmp_path_factory):
    return generated_world(tmp_path_factory, "nullprogram", n_customers=20000, months=36, seed=4, null_world=True)


def test_effect_covers_the_planted_hazard_ratio_and_percentage_points(program_world):
    data, ds = program_world
    eff = impact.program_effect(ds, data.truth["program_start"], n_draws=400)
    assert eff.estimable
    assert eff.hr_lower <= data.truth["program_hr"] <= eff.hr_upper, (eff.hr, eff.hr_lower, eff.hr_upper)
    assert eff.pp_lower <= data.truth["program_effect_pp"] <= eff.pp_upper, (eff.pp, eff.pp_lower, eff.pp_upper)
    assert np.log(eff.hr_upper) - np.log(eff.hr_lower) < 0.35  # about ±16% at 20k customers


def test_naive_before_after_is_fooled_by_an_ageing_base_and_the_model_is_not(null_world):
    """No program effect is planted, but churn falls as the base ages: the naive comparison finds a
    'significant' fall; the hazard model with tenure and trend finds nothing."""
    data, ds = null_world
    naive = impact.naive_before_after(ds, data.truth["program_start"])
    assert naive["post_rate"] < naive["pre_rate"] and naive["p_value"] < 0.05
    eff = impact.program_effect(ds, data.truth["program_start"], n_draws=200)
    assert eff.hr_lower <= 1.0 <= eff.hr_upper, (eff.hr, eff.hr_lower, eff.hr_upper)


def test_too_short_pre_period_is_not_estimated(program_world):
    data, ds = program_world
    early = (pd.Timestamp(data.truth["start"]) + pd.DateOffset(months=3)).strftime("%Y-%m-%d")
    eff = impact.program_effect(ds, early)
    assert not eff.estimable and "cannot be estimated" in eff.reason and np.isnan(eff.hr)
    with pytest.raises(ValueError, match="no ROI"):
        impact.roi(ds, eff)


def test_reduction_value_by_hand():
    """2.4% → 0.84% a month on 100,000 of MRR: month 1 keeps 100,000 × (0.9916 − 0.976) = 1,560; month 2
    100,000 × (0.9916² − 0.976²) = 3,069.456; over 12 months the geometric sums q(1 − q¹²)/(1 − q)."""
    v = impact.reduction_value(100_000, 1_000, 0.024, 0.0084, months=12, gross_margin=0.75)
    assert v["retained_mrr_by_month"][0] == pytest.approx(1560.0)
    assert v["retained_mrr_by_month"][1] == pytest.approx(3069.456)
    geo = lambda q: q * (1 - q ** 12) / (1 - q)  # noqa: E731
    total = 100_000 * (geo(0.9916) - geo(0.976))
    assert v["retained_revenue"] == pytest.approx(total) and v["retained_gross_profit"] == pytest.approx(0.75 * total)
    assert v["customers_kept_at_end"] == pytest.approx(1_000 * (0.9916 ** 12 - 0.976 ** 12))


def test_payback_by_hand():
    dates = pd.date_range("2024-01-01", periods=4, freq="MS")
    table = pd.DataFrame({"date": dates, "cumulative_profit": [10.0, 40.0, 90.0, 160.0],
                          "cumulative_cost": [50.0, 100.0, 150.0, 200.0]})
    assert impact.payback(table) == {"reached": False, "month": None, "months_after_start": None, "text": "not reached"}
    table["cumulative_profit"] = [10.0, 40.0, 150.0, 260.0]  # covers the cost in the third month
    p = impact.payback(table)
    assert p["reached"] and p["month"] == "2024-03-01" and p["months_after_start"] == 3


def test_roi_has_intervals_and_counts_the_cost(program_world):
    data, ds = program_world
    eff = impact.program_effect(ds, data.truth["program_start"], n_draws=200)
    r = impact.roi(ds, eff, gross_margin=0.8)
    assert (r["retained_profit_lower"] <= r["retained_profit"] + 1e-9).all()
    assert (r["retained_profit"] <= r["retained_profit_upper"] + 1e-9).all()
    assert r["retained_profit"].iloc[-1] > 0  # the planted program keeps customers
    assert np.allclose(r["cumulative_cost"], r["cost"].cumsum())
    assert np.allclose(r["retained_profit"], 0.8 * r["retained_mrr"])


def test_demo_data_interval_covers_the_planted_effect_in_both_units():
    """Done when, on the bundled demo data (seed 0, 3,000 customers, 36 months): the hazard-ratio and
    percentage-point intervals cover the planted program effect. Stated widths at this size: the HR interval
    spans less than 0.6 on the log scale (about ×1.8 from end to end) and the pp interval less than 1.5 points;
    at 3,000 customers the effect (HR 0.75) is not yet distinguishable from none, which the report says."""
    import json

    import csanalysis as cs

    demo = Path(__file__).resolve().parents[1] / "data" / "demo"
    truth = json.loads((demo / "truth.json").read_text())
    ds = cs.load_dataset(demo)
    eff = impact.program_effect(ds, truth["program_start"], n_draws=1000)
    assert eff.hr_lower <= truth["program_hr"] <= eff.hr_upper, (eff.hr, eff.hr_lower, eff.hr_upper)
    assert eff.pp_lower <= truth["program_effect_pp"] <= eff.pp_upper, (eff.pp, eff.pp_lower, eff.pp_upper)
    assert np.log(eff.hr_upper / eff.hr_lower) < 0.6 and eff.pp_upper - eff.pp_lower < 1.5


def _two_customers(Model, **columns):
    """The constructed ROI case: customers a (MRR 100) and b (MRR 50 the month before the start), at risk from
    January 2024 (a three months, b two: it churns in February; as_of March), with ``columns`` added to their
    customer-months; returns the effect (every draw equal to the estimate) and the dataset stand-in."""
    from types import SimpleNamespace

    import ibis

    jan = 2024 * 12
    pm = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "b"], "spell": 1, "month": [jan, jan + 1, jan + 2, jan, jan + 1],
                       "tenure": [5, 6, 7, 9, 10], "post": 1.0, "churn": [0, 0, 0, 0, 1], **columns})
    eff = impact.ProgramEffect(estimable=True, reason="estimated", program_start=pd.Timestamp("2024-01-01"),
                               pre_months=12, model=Model(), data=pm, draws=Model.draws(200))
    # the panel as the engine holds it (Dataset.engine_table: month indices), which roi's MRR at stake reads
    panel = pd.DataFrame({"customer_id": ["a", "b"], "m": jan - 1, "mrr": [100.0, 50.0]})
    ds = SimpleNamespace(settings=SimpleNamespace(gross_margin=0.8), cs_costs=None,
                         as_of_month=pd.Timestamp("2024-03-01"), as_of_m=jan + 2,
                         engine_table=lambda name: ibis.memtable(panel))
    return eff, ds


def test_roi_by_hand_on_a_constructed_case():
    """Two customers (MRR 100 and 50 the month before the start), at risk for three months from January 2024
    (as_of March). Without the program each churns 5% a month; the program halves the hazard, so it churns
    1 − 0.95^0.5 a month. Retained MRR in month k = 150 × (0.95^(k/2) − 0.95^k); × gross margin 0.8 against
    a cost of 10 a month."""
    c, b = np.log(-np.log(0.95)), np.log(0.5)
    # the fitted hazard model's linear predictor, the program term included
    eff, ds = _two_customers(constant_hazard_model(c, b))
    costs = pd.DataFrame({"month": pd.to_datetime(["2024-01-15", "2024-02-01", "2024-03-31"]), "cost": 10.0})
    r = impact.roi(ds, eff, costs=costs)
    kept = [150 * (0.95 ** (k / 2) - 0.95 ** k) for k in (1, 2, 3)]
    assert r["retained_mrr"].tolist() == pytest.approx(kept)
    assert r["retained_profit"].tolist() == pytest.approx([0.8 * v for v in kept])
    cum = np.cumsum([0.8 * v for v in kept])
    assert r["cumulative_roi"].tolist() == pytest.approx(list((cum - [10, 20, 30]) / [10, 20, 30]))
    # every draw equals the estimate: the simulation interval collapses onto it
    assert r["cumulative_roi_lower"].tolist() == pytest.approx(r["cumulative_roi"].tolist())
    assert cum[-1] < 30 and impact.payback(r)["reached"] is False  # 16.9 of profit against 30 of cost


def test_a_fit_that_runs_off_to_infinity_is_not_an_estimate(tmp_path):
    """A purchase log whose lapse model does not converge (log hazard ratio 6e14 here) is said to be not estimable,
    never reported as 'lapse inf times as fast (95% interval inf–inf)'."""
    import csanalysis as cs
    from csanalysis import impact

    rng = np.random.default_rng(11)
    rows = purchase_log(rng, 300, "2022-01-02", 700, "2024-06-30",
                        amount=lambda r, i: 0.0 if r.random() < 0.08 else round(float(r.gamma(2, 30)), 2),
                        gap=lambda r, i: r.integers(15, 200))
    pd.DataFrame(rows, columns=["customer_id", "date", "amount"]).to_csv(tmp_path / "revenue.csv", index=False)
    ds = cs.load_dataset(tmp_path, mapping={"layout": "purchase_log"}, as_of="2024-06-30", grace_months=2)
    e = impact.program_effect(ds, "2023-07-01")
    assert not e.estimable and "did not settle on an estimate" in e.reason and np.isnan(e.hr)
    # the same data with a start the model can separate still gives an estimate with a finite interval
    ok = impact.program_effect(ds, "2023-01-01")
    assert not ok.estimable or (np.isfinite([ok.hr_lower, ok.hr_upper]).all() and ok.hr_lower < ok.hr < ok.hr_upper)


def test_roi_by_hand_with_each_customer_own_case_mix():
    """The same constructed case with a case mix: customer a has a risk factor (x0 = 1: its hazard without the
    program × 2, planted as e^g with g = log 2), b has none. b churns in February; in March it is carried on with
    the covariates last seen. Retained MRR in month k = 100 × (s_a^(k/2) − s_a^k) + 50 × (0.95^(k/2) − 0.95^k),
    s_a = 0.95^2 (a monthly survival of exp(−2·h) for twice the cumulative hazard h = −log 0.95)."""
    c, b, g = np.log(-np.log(0.95)), np.log(0.5), np.log(2.0)
    eff, ds = _two_customers(constant_hazard_model(c, b, x0=g), x0=[1.0, 1, 1, 0, 0])
    costs = pd.DataFrame({"month": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]), "cost": 10.0})
    r = impact.roi(ds, eff, costs=costs)
    sa = 0.95 ** 2
    kept = [100 * (sa ** (k / 2) - sa ** k) + 50 * (0.95 ** (k / 2) - 0.95 ** k) for k in (1, 2, 3)]
    assert r["retained_mrr"].tolist() == pytest.approx(kept)
    # a sample of customers fitted: the retained amounts are scaled up by the inverse of the share
    eff.sample = {"share": 0.25, "drawn": 2, "customers": 8}
    assert impact.roi(ds, eff, costs=costs)["retained_mrr"].tolist() == pytest.approx([4 * v for v in kept])


def test_verdict_and_frequencies():
    from csanalysis.report import per_customers

    assert impact.verdict(0.6, 0.9, 1.0) == "below" and impact.verdict(0.6, 1.1, 1.0) == "unclear"
    assert impact.verdict(1.1, 1.4, 1.0) == "above" and impact.verdict(-0.5, 0.2, 0.0) == "unclear"
    assert per_customers(0.0038, -0.0017, 0.011) == ("1,000", ["3.8", "-1.7", "11"])
    assert per_customers(0.021, 0.018, 0.024) == ("100", ["2.1", "1.8", "2.4"])


@pytest.mark.parametrize("effect_cols", [[3], [3, 4]])
def test_churn_prevented_equals_the_plain_formula_to_the_bit(monkeypatch, effect_cols):
    """The churn prevented per parameter vector, worked in blocks of vectors and slices of cells in place, is the
    plain formula's (blocks of 100 vectors at once, as the effect computed it) bit for bit; slices of 7 cells here
    (14 for the last block of 50 vectors), and the point estimate (one vector) whole."""
    from csanalysis.impact import DRAW_BLOCK, _churn_prevented

    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(1000), rng.normal(size=(1000, 2)), np.ones(1000), rng.uniform(0, 2, 1000)])
    share = rng.uniform(size=1000)
    share /= share.sum()
    draws = rng.normal([-3.5, 0.2, -0.1, -0.3, -0.05], 0.1, size=(250, 5))

    def plain(params):
        eta = X @ params.T
        removed = eta - X[:, effect_cols] @ params[..., effect_cols].T
        return share @ ((1 - np.exp(-np.exp(removed))) - (1 - np.exp(-np.exp(eta))))

    want = np.concatenate([plain(draws[i:i + DRAW_BLOCK]) for i in range(0, len(draws), DRAW_BLOCK)])
    monkeypatch.setattr(impact, "SLICE_CELLS", 7 * DRAW_BLOCK)
    got = _churn_prevented(X, share, effect_cols, draws)
    assert np.array_equal(got, want)
    assert _churn_prevented(X, share, effect_cols, draws[:1])[0] == plain(draws[:1])[0]
    # and it is the churn prevented: a program that lowers the hazard (negative terms) prevents churn on average
    assert got.mean() > 0


def test_row_slices_cover_the_rows_with_no_single_row_and_one_vector_whole(monkeypatch):
    """A product taken a slice of rows at a time has the whole product's numbers only with two rows or more per
    slice and two vectors or more: the slices cover every row once, a one-row tail joins the slice before it, and
    one vector is one slice."""
    from csanalysis.impact import _row_slices

    monkeypatch.setattr(impact, "SLICE_CELLS", 30)
    for n_rows in (1, 2, 3, 10, 11, 12, 31):
        for n_vectors in (1, 2, 3, 10, 100):
            slices = _row_slices(n_rows, n_vectors)
            rows = np.concatenate([np.arange(n_rows)[s] for s in slices])
            assert np.array_equal(rows, np.arange(n_rows))
            assert n_vectors > 1 or len(slices) == 1
            assert n_rows < 2 or all(s.stop - s.start >= 2 for s in slices)
    assert [(s.start, s.stop) for s in _row_slices(11, 3)] == [(0, 11)]
    assert [(s.start, s.stop) for s in _row_slices(21, 3)] == [(0, 10), (10, 21)]
    # and the product by slices on one BLAS thread is the whole product on BLAS's threads, bit for bit (this
    # machine's BLAS)
    rng = np.random.default_rng(5)
    X, theta = rng.normal(size=(40_099, 19)), rng.normal(size=(17, 19))
    monkeypatch.setattr(impact, "SLICE_CELLS", 17 * 64)
    with impact._one_blas_thread(len(theta)):
        parts = np.vstack([X[s] @ theta.T for s in _row_slices(len(X), len(theta))])
    assert np.array_equal(parts, X @ theta.T)


@pytest.mark.parametrize("slice_cells", [2 * 200, 3 * 200, impact.SLICE_CELLS])
def test_roi_by_slices_of_rows_is_the_whole_grid_to_the_bit(monkeypatch, program_world, slice_cells):
    """The ROI's survival along each path, worked a slice of rows at a time with the running sums carried over,
    gives the numbers of the whole grid at once (one slice) bit for bit, and the constructed case by hand."""
    data, ds = program_world
    eff = impact.program_effect(ds, data.truth["program_start"], n_draws=200)
    monkeypatch.setattr(impact, "SLICE_CELLS", 10**15)  # one slice: the whole grid at once
    whole = impact.roi(ds, eff, gross_margin=0.8)
    monkeypatch.setattr(impact, "SLICE_CELLS", slice_cells)
    pd.testing.assert_frame_equal(impact.roi(ds, eff, gross_margin=0.8), whole, check_exact=True)
    test_roi_by_hand_with_each_customer_own_case_mix()


@pytest.mark.parametrize("cached", [False, True])
def test_a_share_of_customers_reads_their_usage_and_payments_alone_with_the_same_effect(monkeypatch, tmp_path,
                                                                                        cached):
    """With more customer-months than ``max_rows`` the effect is fitted on a share of customers, whose signals
    read the usage and payments of those customers alone (grouped.customer_tables; a report run's cache reads
    them filtered, and the whole tables are never built in pandas): the same effect, bit for bit, as with the
    whole tables, on the loader's Dataset and on a report run's cached one."""
    import csanalysis as cs
    from csanalysis import grouped
    from csanalysis.data import RunContext, cache

    demo = (Path(__file__).resolve().parents[1] / "data" / "demo").resolve()
    if cached:
        ctx = RunContext(cache_dir=str(tmp_path / ".cache"), source=str(demo), fingerprint=cache.fingerprint(demo))
        cache.prime(demo, None, None, ctx)
        load = lambda: cs.load_dataset(str(demo), context=str(ctx.write(tmp_path / "run_context.json")))  # noqa: E731
    else:
        load = lambda: cs.load_dataset(demo)  # noqa: E731
    ds = load()
    got = impact.program_effect(ds, "2023-07-01", max_rows=20_000, n_draws=300)
    assert got.sample and got.sample["share"] < 0.5 and got.estimable
    if cached:
        assert {"usage", "payments"} <= set(ds.pending())  # read for the share alone, never whole
    sub = grouped.customer_tables(ds, got.data["customer_id"].unique())
    ids = set(got.data["customer_id"].astype(str))
    for name in ("usage", "payments"):
        full = getattr(load(), name)
        want = full[full["customer_id"].astype(str).isin(ids)].reset_index(drop=True)
        assert 0 < len(want) < len(full)
        pd.testing.assert_frame_equal(getattr(sub, name).reset_index(drop=True), want, obj=name)
    # the whole tables (customer_tables left out): the same numbers
    monkeypatch.setattr(grouped, "customer_tables", lambda ds, ids, names=None: ds)
    whole = impact.program_effect(load(), "2023-07-01", max_rows=20_000, n_draws=300)
    assert whole.sample == got.sample
    for key in ("hr", "hr_lower", "hr_upper", "pp", "pp_lower", "pp_upper", "p_value"):
        assert getattr(got, key) == getattr(whole, key), key
    assert np.array_equal(got.draws, whole.draws)
