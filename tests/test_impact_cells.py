"""The impact models are fitted on distinct covariate cells (tenure × month, tenure × touched) with the cluster
sandwich built from each customer's summed scores. Checked here against statsmodels' own row-level fit with
``cov_type="cluster"`` (one row per customer-month), and the touched exposure against the groupby/shift
definition, on the bundled demo data."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

import csanalysis as cs
from csanalysis import impact
from csanalysis.periods import month_index
from csanalysis.survival import person_months

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
START = "2023-07-01"


@pytest.fixture(scope="module")
def demo():
    ds = cs.load_dataset(DEMO)
    return ds, person_months(ds)


def _row_level(formula: str, d: pd.DataFrame):
    fam = sm.families.Binomial(link=sm.families.links.CLogLog())
    return smf.glm(formula, data=d, family=fam).fit(cov_type="cluster",
                                                    cov_kwds={"groups": pd.factorize(d["customer_id"])[0]})


@pytest.mark.parametrize("slope_change,adjusted", [(False, False), (True, False), (False, True), (True, True)])
def test_program_effect_equals_the_row_level_cluster_robust_fit(demo, slope_change, adjusted):
    """Without the case mix the cells are tenure × month; with it (attributes at signup and the month's signals,
    the report's default) they are the distinct rows of tenure × month × covariates. Either way the same fit as
    statsmodels' on one row per customer-month, the covariates taken from survival.person_month_design."""
    from csanalysis.survival import person_month_design

    ds, pm = demo
    ps = month_index(pd.Timestamp(START))
    d = pm.assign(t=(pm["month"] - ps) / 12.0, post=(pm["month"] >= ps).astype(float))
    d["post_t"] = d["post"] * d["t"]
    rhs = "bs(tenure, df=4, degree=3) + t + post" + (" + post_t" if slope_change else "")
    kw = {} if adjusted else {"adjust": (), "signals": False}
    if adjusted:
        X, meta, _refs, _skipped = person_month_design(ds, pm, list(impact.ADJUST))
        assert [m[3] for m in meta][:5] == ["failed_payment", "nps_detractor", "nps_passive", "nps_none", "falling_usage"]
        assert X.shape[1] == 5 + 2 + 2 + 1 + 2  # signals; plan, touch model, log2 seats, channel
        d = pd.concat([d, X.set_axis([f"x{i}" for i in range(X.shape[1])], axis=1)], axis=1)
        rhs += "".join(f" + x{i}" for i in range(X.shape[1]))
    ref = _row_level("churn ~ " + rhs, d)
    eff = impact.program_effect(ds, START, slope_change=slope_change, n_draws=50, **kw)
    if not adjusted:
        assert eff.model.nobs < len(d) / 10  # fitted on cells, not rows
    else:
        assert eff.adjusted_for == impact.ADJUST and len(eff.signals) == 5
    np.testing.assert_allclose(eff.model.params.to_numpy(), ref.params.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(eff.model.cov_params().to_numpy(), ref.cov_params().to_numpy(), rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(eff.model.pvalues.to_numpy(), ref.pvalues.to_numpy(), rtol=1e-6)
    b, se = ref.params["post"], ref.bse["post"]
    assert (eff.hr, eff.hr_lower, eff.hr_upper) == pytest.approx(
        (np.exp(b), np.exp(b - 1.959963984540054 * se), np.exp(b + 1.959963984540054 * se)), rel=1e-8)
    # the percentage points: averaged over the post-period rows with the row-level design
    post = d["post"].to_numpy() == 1
    X = np.asarray(ref.model.exog)[post]
    eta = X @ ref.params.to_numpy()
    cols = [list(ref.params.index).index(c) for c in (["post", "post_t"] if slope_change else ["post"])]
    removed = eta - X[:, cols] @ ref.params.to_numpy()[cols]
    pp = 100 * np.mean(np.exp(-np.exp(eta)) - np.exp(-np.exp(removed)))
    assert eff.pp == pytest.approx(pp, rel=1e-8)


def test_touched_association_equals_the_groupby_shift_definition_and_row_level_fit(demo):
    ds, pm = demo
    window = 3
    act = ds.cs_activities.assign(month=month_index(ds.cs_activities["month"]))
    act = act.groupby(["customer_id", "month"]).size().rename("n").reset_index()
    d = pm.merge(act, on=["customer_id", "month"], how="left")
    d["n"] = d["n"].fillna(0)
    d = d.sort_values(["customer_id", "spell", "month"])
    keys = [d["customer_id"], d["spell"]]
    total = d["n"].groupby(keys).shift(1).fillna(0).groupby(keys).cumsum()
    d["touched"] = ((total - total.groupby(keys).shift(window).fillna(0)) > 0).astype(float)
    assert 0.05 < d["touched"].mean() < 0.95  # both exposures occur
    ref = _row_level("churn ~ bs(tenure, df=4, degree=3) + touched", d)
    got = impact.touched_association(ds, window=window)
    b, se = ref.params["touched"], ref.bse["touched"]
    z = 1.959963984540054
    assert (got.hr, got.lower, got.upper) == pytest.approx(
        (np.exp(b), np.exp(b - z * se), np.exp(b + z * se)), rel=1e-8)
    rates = d.groupby("touched")["churn"].mean()
    assert (got.rate_touched, got.rate_untouched) == pytest.approx((rates[1.0], rates[0.0]), rel=1e-12)
    # its part of metrics.json: the same numbers, the window and the warning that it is no effect
    m = got.metrics()
    assert m == {"available": True, "hr": got.hr, "lower": got.lower, "upper": got.upper,
                 "rate_touched": got.rate_touched, "rate_untouched": got.rate_untouched, "window": window,
                 "label": impact.TOUCHED_LABEL}
    assert got.conf_int().iloc[0].tolist() == [got.lower, got.upper]


def test_touched_association_without_contacts_is_unavailable_with_the_reason(demo):
    ds, _ = demo
    got = impact.touched_association(replace(ds, cs_activities=None))
    assert not got.available and np.isnan(got.hr)
    assert got.metrics() == {"available": False, "reason": "no cs_activities table"}


def test_touched_window_counts_only_earlier_months_of_the_same_spell():
    """Hand-made: one customer, two spells. A contact in month m makes months m+1 … m+window 'touched', never m
    itself, and never a month of the next spell."""
    pm = pd.DataFrame({"customer_id": "a", "spell": [1, 1, 1, 1, 1, 2, 2],
                       "month": [10, 11, 12, 13, 14, 15, 16], "tenure": [1, 2, 3, 4, 5, 1, 2],
                       "churn": [0, 0, 0, 0, 1, 0, 0]})
    touched = impact._touched(pm, pd.DataFrame({"customer_id": ["a", "a", "b"], "month": [11, 14, 12], "n": [1, 2, 5]}),
                              window=2)
    assert touched.tolist() == [0, 0, 1, 1, 0, 0, 0]
    # rows out of order give the same answer per row
    shuffled = pm.sample(frac=1.0, random_state=1)
    again = impact._touched(shuffled, pd.DataFrame({"customer_id": ["a", "a"], "month": [11, 14], "n": [1, 2]}), window=2)
    assert pd.Series(again, index=shuffled.index).sort_index().tolist() == [0, 0, 1, 1, 0, 0, 0]


@pytest.mark.parametrize("df", [3, 5])
def test_spline_knots_as_patsy_places_them(demo, df):
    """The written-out spline gives patsy's ``bs(tenure, df=…)`` basis on the customer-months (no inner knot at
    df=3, two at df=5)."""
    import patsy

    _, pm = demo
    tenure = pm["tenure"].to_numpy()
    ours = patsy.dmatrix(impact._tenure_spline(tenure, df), {"tenure": tenure}, return_type="dataframe")
    ref = patsy.dmatrix(f"bs(tenure, df={df}, degree=3)", {"tenure": tenure}, return_type="dataframe")
    np.testing.assert_allclose(ours.to_numpy(), ref.to_numpy(), rtol=1e-12, atol=1e-12)


def test_cell_glm_is_statsmodels_fit_and_keeps_no_iteration_behind():
    """impact._IRLS is statsmodels' GLM step for step (the same params and covariance to the bit as sm.GLM on
    the same cells), and no iteration's weighted least squares (its copy of the design) outlives the fit even
    with the cyclic garbage collector off: they went by reference counting, not waiting for a collection."""
    import gc

    rng = np.random.default_rng(5)
    n = 4000
    X = sm.add_constant(np.column_stack([rng.normal(size=n), rng.integers(0, 2, n)]))
    y = (rng.uniform(size=n) < 1 - np.exp(-np.exp(-2.5 + 0.3 * X[:, 1] - 0.4 * X[:, 2]))).astype(float)
    fam = sm.families.Binomial(link=sm.families.links.CLogLog())
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        want = sm.GLM(y, X, family=fam).fit()  # statsmodels' own leaves its iterations to the collector
        kept = [o for o in gc.get_objects() if type(o).__name__ == "_MinimalWLS"]
        assert kept, "statsmodels' GLM no longer leaves its iterations to the collector: impact._IRLS is not needed"
        del kept
        gc.collect()
        got = impact._IRLS(y, X, family=fam).fit()
        left = [o for o in gc.get_objects() if type(o).__name__ == "_MinimalWLS"]
    finally:
        if was:
            gc.enable()
    assert np.array_equal(got.params, want.params) and np.array_equal(got.cov_params(), want.cov_params())
    assert got.fit_history["iteration"] == want.fit_history["iteration"] > 2
    assert left == []
    # nor does it hold statsmodels' design-sized scratch array for the Hessian, made only when one is computed:
    # the same Hessian to the bit
    assert "_tmp_like_exog" in want.model.__dict__ and "_tmp_like_exog" not in got.model.__dict__
    assert np.array_equal(got.model.hessian(got.params), want.model.hessian(want.params))


def test_cells_are_groupby_ngroup_in_order_of_first_appearance():
    """impact._cells folds the columns' codes into one key: the cells (numbering, values, dtypes) of pandas'
    groupby(sort=False).ngroup() over the columns, also when the codes' product overflows and with -0.0 and
    0.0 alike, and with a missing value (which takes groupby's own path)."""
    def plain(**c):
        frame = pd.DataFrame(c)
        cell = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()
        first = np.unique(cell, return_index=True)[1]
        return cell, frame.iloc[first].reset_index(drop=True)

    rng = np.random.default_rng(1)
    n = 20000
    mixed = dict(tenure=rng.integers(0, 36, n), month=rng.integers(24000, 24036, n),
                 **{f"x{i}": rng.integers(0, 3, n).astype(float) for i in range(4)},
                 x4=np.log2(rng.integers(1, 500, n)).astype(float), x5=np.where(rng.uniform(size=n) < .5, -0.0, 0.0))
    wide = {f"x{i}": rng.integers(0, 1000, n).astype(float) for i in range(8)}  # 1000^8 > 2^62
    missing = dict(tenure=rng.integers(0, 3, n), x0=np.where(rng.uniform(size=n) < .1, np.nan, 1.0))
    for cols in (mixed, wide, missing):
        cell, cells = impact._cells(**cols)
        want_cell, want_cells = plain(**cols)
        assert np.array_equal(cell, want_cell, equal_nan=True)
        pd.testing.assert_frame_equal(cells, want_cells)
    assert 1 < impact._cells(**wide)[0].max() < n


def test_person_month_counts_are_the_rows_counts_and_give_the_naive_comparison(demo):
    """survival.person_month_counts (from the spells) against person_months' rows grouped by month, and the
    naive before/after and the monthly churn (which read it) against the rows themselves."""
    from csanalysis.survival import person_month_counts

    ds, pm = demo
    for spells in ("all", "first"):
        rows = person_months(ds, spells=spells)
        want = rows.groupby("month").agg(at_risk=("churn", "size"), churned=("churn", "sum")).reset_index()
        got = person_month_counts(ds, spells=spells)
        pd.testing.assert_frame_equal(got, want, check_dtype=False, check_exact=True)
        assert got["churned"].sum() == rows["churn"].sum() and got["at_risk"].sum() == len(rows)
    assert impact.naive_before_after(ds, START) == impact.naive_from_person_months(pm, START)
    mc = impact.monthly_churn(ds)
    assert (mc["rate"].to_numpy() == (pm.groupby("month")["churn"].mean()).to_numpy()).all()
