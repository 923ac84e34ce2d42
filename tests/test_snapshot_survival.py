"""A CRM snapshot (tenure + churned flag) gives the survival numbers the standard tools give on its own columns.

The reference for every number is lifelines fitted directly on the file's two columns, T = tenure and
E = churned (what R's ``survfit(Surv(tenure, churned))`` fits), never our own spells: a generated export with
heavy ties (whole months), tenure-0 rows of both kinds, three segments and a longest tenure reached by churned
and still-active rows alike.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test, pairwise_logrank_test
from lifelines.utils import median_survival_times, restricted_mean_survival_time

import csanalysis as cs
from csanalysis import overview
from csanalysis import survival as sv

MAPPING = (Path(__file__).parent / "data" / "r_snapshot" / "mapping.yaml").read_text(encoding="utf-8")  # telco_export.csv
SEGMENTS = {"Month-to-month": 0.06, "One year": 0.02, "Two year": 0.008}
MAX_TENURE = 72


def _export(n: int = 1500, seed: int = 3) -> pd.DataFrame:
    """A telco-like snapshot: monthly hazard by contract, enrolment spread over six years, tenure capped at 72."""
    rng = np.random.default_rng(seed)
    contract = rng.choice(list(SEGMENTS), size=n, p=[0.5, 0.25, 0.25])
    life = rng.geometric(np.array([SEGMENTS[c] for c in contract])) - 1  # months completed before leaving (0, 1, …)
    since = rng.integers(0, MAX_TENURE + 1, size=n)  # months since signup at the snapshot
    churned = life < since
    tenure = np.where(churned, life, since)
    # the longest tenure is reached by both kinds of row; tenure 0 by both kinds
    tenure[:3], churned[:3] = MAX_TENURE, [True, False, False]
    tenure[3:7], churned[3:7] = 0, [True, True, False, False]
    return pd.DataFrame({"customerID": [f"{i:04d}-X" for i in range(n)], "tenure": tenure,
                         "Churn": np.where(churned, "Yes", "No"), "Contract": contract})


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    d = tmp_path_factory.mktemp("telco")
    df = _export()
    df.to_csv(d / "telco_export.csv", index=False)
    (d / "mapping.yaml").write_text(MAPPING)
    ds = cs.load_dataset(d, mapping=d / "mapping.yaml")
    return df.assign(E=(df["Churn"] == "Yes").astype(int)), ds


def _direct(df: pd.DataFrame, **kw) -> KaplanMeierFitter:
    return KaplanMeierFitter(**kw).fit(df["tenure"], df["E"])


def test_the_export_has_the_cases_that_matter(snap):
    df, _ = snap
    assert ((df["tenure"] == 0) & (df["E"] == 1)).any() and ((df["tenure"] == 0) & (df["E"] == 0)).any()
    top = df[df["tenure"] == df["tenure"].max()]
    assert set(top["E"]) == {0, 1}
    assert df.groupby("Contract")["tenure"].nunique().min() > 30  # ties everywhere: whole months


def test_every_row_is_one_spell_with_T_tenure_and_E_churned(snap):
    df, ds = snap
    d = sv.survival_data(ds).set_index("customer_id").loc[df["customerID"]]
    np.testing.assert_array_equal(d["T"].to_numpy(), df["tenure"].to_numpy())
    np.testing.assert_array_equal(d["E"].to_numpy(), df["E"].to_numpy())
    assert (d["entry"] == 0).all()


def test_no_churn_after_as_of_and_the_paying_accounts_are_the_active_rows(snap):
    df, ds = snap
    assert ds.as_of_month == pd.Timestamp("2024-06-01")
    assert (ds.spells["end"].dropna() <= ds.as_of_month).all()
    paying = set(ds.panel.loc[ds.panel["month"] == ds.as_of_month, "customer_id"])
    assert paying == set(df.loc[df["E"] == 0, "customerID"])
    assert overview.headline(ds)["paying_customers_as_of"] == int((df["E"] == 0).sum())
    assert overview.headline(ds)["churn_events"] == int(df["E"].sum())


def test_tenure_zero_rows_are_valid_and_counted_in_a_note(snap):
    df, ds = snap
    notes = [f for f in ds.report.findings if f.table == "snapshot" and f.column == "tenure_months"]
    assert len(notes) == 1 and notes[0].level == "note" and notes[0].n_rows == int((df["tenure"] == 0).sum())


@pytest.mark.parametrize("by", [None, "plan"])
def test_kaplan_meier_curve_band_and_risk_sets_equal_lifelines(snap, by):
    df, ds = snap
    fits = sv.km_fits(ds, by=by)
    groups = {"All customers": df} if by is None else dict(list(df.groupby("Contract")))
    assert set(fits) == set(groups)
    for name, g in groups.items():
        ref, ours = _direct(g), fits[name]
        np.testing.assert_allclose(ours.survival_function_.to_numpy(), ref.survival_function_.to_numpy(), rtol=0, atol=1e-9)
        np.testing.assert_allclose(ours.confidence_interval_.to_numpy(), ref.confidence_interval_.to_numpy(), rtol=0, atol=1e-9)
        np.testing.assert_array_equal(ours.timeline, ref.timeline)
        np.testing.assert_array_equal(ours.event_table["at_risk"].to_numpy(), ref.event_table["at_risk"].to_numpy())
        # the curve never drops to zero: the longest tenure has still-active rows
        assert ours.survival_function_.iloc[-1, 0] > 0 or name != "All customers"


def test_survival_table_and_median_or_not_reached_equal_lifelines(snap):
    df, ds = snap
    tab = sv.survival_table(ds, times=(6, 12, 24), by="plan").set_index("group")
    reached = 0
    for name, g in df.groupby("Contract"):
        ref = _direct(g)
        ci = ref.confidence_interval_survival_function_
        for t in (6, 12, 24):
            assert tab.loc[name, f"S({t})"] == pytest.approx(float(ref.survival_function_at_times(t).iloc[0]), abs=1e-9)
            lo, hi = ci.loc[ci.index[ci.index <= t].max()]
            assert tab.loc[name, f"S({t}) lower"] == pytest.approx(lo, abs=1e-9)
            assert tab.loc[name, f"S({t}) upper"] == pytest.approx(hi, abs=1e-9)
        med = ref.median_survival_time_
        if np.isfinite(med):
            reached += 1
            assert tab.loc[name, "median"] == med
            m_lo, m_hi = median_survival_times(ci).iloc[0]
            assert tab.loc[name, "median lower"] == m_lo
            assert (tab.loc[name, "median upper"] is None or np.isnan(tab.loc[name, "median upper"])) == (not np.isfinite(m_hi))
        else:
            assert tab.loc[name, "median text"] == "not reached" and pd.isna(tab.loc[name, "median"])
    assert 0 < reached < 3  # the fixture has both kinds of segment
    overall = sv.survival_table(ds, times=(12,)).iloc[0]
    assert overall["median text"] == "not reached" or np.isfinite(_direct(df).median_survival_time_)


def test_logrank_and_pairwise_equal_lifelines(snap):
    df, ds = snap
    res = sv.logrank(ds, by="plan")
    ref = multivariate_logrank_test(df["tenure"], df["Contract"], df["E"])
    assert res.statistic == pytest.approx(ref.test_statistic, rel=1e-9)
    assert res.p_value == pytest.approx(ref.p_value, rel=1e-6, abs=1e-300)
    pw = pairwise_logrank_test(df["tenure"], df["Contract"], df["E"]).summary
    got = res.pairwise.set_index(["group_a", "group_b"])
    for (a, b), r in pw.iterrows():
        assert got.loc[(a, b), "statistic"] == pytest.approx(r["test_statistic"], rel=1e-9)


def _rmst_se_by_hand(T, E, entry, h) -> float:
    """Klein & Moeschberger (4.5), with the risk set at t = {entry < t ≤ T} (entry 0 counts at t = 0)."""
    T, E, entry = (np.asarray(a, float) for a in (T, E, entry))
    times = np.unique(T[E == 1])
    s, surv = 1.0, []
    for t in times:
        n = np.sum(((entry < t) | (entry == 0)) & (T >= t))
        s *= 1 - np.sum((T == t) & (E == 1)) / n
        surv.append(s)
    knots = np.concatenate([[0.0], times[times < h], [h]])
    steps = np.concatenate([[1.0], np.array(surv)[times < h]])

    def area_from(t):  # ∫_t^h S(u) du for the step function
        lo = np.clip(knots[:-1], t, h)
        hi = np.clip(knots[1:], t, h)
        return float(np.sum(steps * (hi - lo)))

    var = 0.0
    for t in times[times <= h]:
        n = np.sum(((entry < t) | (entry == 0)) & (T >= t))
        d = np.sum((T == t) & (E == 1))
        if n > d:
            var += area_from(t) ** 2 * d / (n * (n - d))
    return float(np.sqrt(var))


def test_rmst_and_its_interval_equal_lifelines_and_the_hand_formula(snap):
    df, ds = snap
    out = sv.rmst(ds, 24, by="plan").set_index("group")
    for name, g in df.groupby("Contract"):
        ref = _direct(g)
        assert out.loc[name, "rmst"] == pytest.approx(restricted_mean_survival_time(ref, t=24), rel=1e-9)
        se = _rmst_se_by_hand(g["tenure"], g["E"], np.zeros(len(g)), 24)
        assert out.loc[name, "se"] == pytest.approx(se, rel=1e-9)
        assert out.loc[name, "lower"] == pytest.approx(max(out.loc[name, "rmst"] - 1.959963984540054 * se, 0), rel=1e-9)


def test_rmst_standard_error_with_late_entry_uses_the_truncated_risk_set():
    """A small case by hand: customers entering observation late are not at risk at their entry month."""
    T = np.array([2, 3, 3, 4, 5, 5, 6, 2, 4, 6])
    E = np.array([1, 0, 1, 1, 0, 1, 1, 1, 0, 1])
    entry = np.array([0, 0, 1, 2, 0, 3, 4, 1, 3, 0])
    kmf = KaplanMeierFitter().fit(T, E, entry=entry)
    se = sv._rmst_se(kmf, 5)
    by_hand = _rmst_se_by_hand(T, E, entry, 5)
    assert se == pytest.approx(by_hand, rel=1e-12)
    # the risk set at t = 3 is {entry < 3 ≤ T}: 5 customers, not the 7 that counting entrants at 3 would give
    assert int(np.sum((entry < 3) & (T >= 3))) == 5 and int(np.sum((entry <= 3) & (T >= 3))) == 7
    # the interval is wider than with the entrants counted (the error the issue found)
    assert se > 0.5  # 0.423 with the entrants counted


def test_cox_hazard_ratios_equal_lifelines_with_efron_ties(snap):
    df, ds = snap
    res = sv.cox_drivers(ds, ["plan"], ph_check=False)
    ref_level = res.references["plan"]
    X = pd.get_dummies(df["Contract"]).astype(float).drop(columns=ref_level)
    X.columns = [f"plan={c}" for c in X.columns]
    cph = CoxPHFitter().fit(pd.concat([df[["tenure", "E"]], X], axis=1), "tenure", "E")
    assert res.n == len(df) and res.events == int(df["E"].sum())
    got = res.hazard_ratios.set_index("term")
    for term in X.columns:
        assert got.loc[term, "hr"] == pytest.approx(cph.hazard_ratios_[term], rel=1e-6)
        assert got.loc[term, "lower"] == pytest.approx(cph.summary.loc[term, "exp(coef) lower 95%"], rel=1e-6)
        assert got.loc[term, "upper"] == pytest.approx(cph.summary.loc[term, "exp(coef) upper 95%"], rel=1e-6)


def test_negative_tenure_is_an_error_naming_rows(tmp_path):
    df = _export(n=50)
    df.loc[[5, 9], "tenure"] = -1
    df.to_csv(tmp_path / "telco_export.csv", index=False)
    (tmp_path / "mapping.yaml").write_text(MAPPING)
    with pytest.raises(cs.DataValidationError) as err:
        cs.load_dataset(tmp_path, mapping=tmp_path / "mapping.yaml")
    f = [f for f in err.value.report.errors if f.column == "tenure_months"]
    assert len(f) == 1 and f[0].n_rows == 2 and f[0].examples == [-1]


def test_discrete_curves_of_the_bootstrap_and_ltv_count_churns_at_zero(snap):
    """The whole-month Kaplan–Meier of the cluster bootstrap (spell bands) and of the LTV equal lifelines',
    churns at 0 included (S(0) < 1 on a snapshot)."""
    df, ds = snap
    ref = _direct(df)
    d = sv.survival_data(ds)
    curves = sv.cluster_bootstrap_km(d["T"], d["E"], d["entry"], d["customer_id"], np.full(len(d), "g"), 24, n_boot=5)
    np.testing.assert_allclose(curves["survival"], ref.survival_function_at_times(np.arange(1, 25)).to_numpy(), atol=1e-12)
    np.testing.assert_array_equal(curves["at_risk"], [int(((df["tenure"] >= t)).sum()) for t in range(1, 25)])
    S = sv._km_discrete(d["T"].to_numpy(), d["E"].to_numpy(), d["entry"].to_numpy(), 24, np.ones((1, len(d))))
    np.testing.assert_allclose(S[0], ref.survival_function_at_times(np.arange(0, 24)).to_numpy(), atol=1e-12)
    assert S[0, 0] == pytest.approx(1 - ((df["tenure"] == 0) & (df["E"] == 1)).sum() / len(df))


# ---------------------------------------------------------------- against R (reference values computed once)

R_DIR = Path(__file__).parent / "data" / "r_snapshot"


@pytest.fixture(scope="module")
def r_case(tmp_path_factory):
    d = tmp_path_factory.mktemp("r_telco")
    (d / "telco_export.csv").write_bytes((R_DIR / "telco_like.csv").read_bytes())
    (d / "mapping.yaml").write_text(MAPPING)
    ref = pd.read_csv(R_DIR / "reference.csv")
    return cs.load_dataset(d, mapping=d / "mapping.yaml"), ref


def _r(ref, quantity, group, time=None):
    m = (ref["quantity"] == quantity) & (ref["group"] == group)
    if time is not None:
        m &= ref["time"] == time
    (v,) = ref.loc[m, "value"]
    return float(v)


def test_snapshot_survival_equals_r_survfit_survdiff_and_coxph(r_case):
    """R 4.2.2, survival 3.5.3 (tests/data/r_snapshot/make_reference.R): survfit(Surv(tenure, churned),
    conf.type = "log-log"), its rmean and se(rmean) at 24 months and median, survdiff and coxph (Efron)."""
    ds, ref = r_case
    overall = sv.survival_table(ds, times=(6, 12, 24, 48)).iloc[0]
    by = sv.survival_table(ds, times=(6, 12, 24), by="plan").set_index("group")
    for t in (6, 12, 24, 48):
        for col, q in (("", "surv"), (" lower", "lower"), (" upper", "upper")):
            assert overall[f"S({t}){col}"] == pytest.approx(_r(ref, q, "all", t), abs=1e-9), (t, q)
    for g in by.index:
        for t in (6, 12, 24):
            for col, q in (("", "surv"), (" lower", "lower"), (" upper", "upper")):
                assert by.loc[g, f"S({t}){col}"] == pytest.approx(_r(ref, q, g, t), abs=1e-9), (g, t, q)
        r_med = _r(ref, "median", g)
        assert (by.loc[g, "median"] == r_med) if np.isfinite(r_med) else pd.isna(by.loc[g, "median"])
    assert overall["median"] == _r(ref, "median", "all")
    kmf = sv.km_fits(ds)["All customers"]
    at_risk = kmf.event_table["at_risk"]
    for t in (0, 6, 12, 24, 48, 71):
        assert int(at_risk.loc[at_risk.index >= t].iloc[0]) == _r(ref, "n_risk", "all", t)
    rm = sv.rmst(ds, 24).iloc[0]
    assert rm["rmst"] == pytest.approx(_r(ref, "rmean", "all", 24), rel=1e-9)
    assert rm["se"] == pytest.approx(_r(ref, "se_rmean", "all", 24), rel=1e-9)
    rmb = sv.rmst(ds, 24, by="plan").set_index("group")
    for g in rmb.index:
        assert rmb.loc[g, "rmst"] == pytest.approx(_r(ref, "rmean", g, 24), rel=1e-9)
        assert rmb.loc[g, "se"] == pytest.approx(_r(ref, "se_rmean", g, 24), rel=1e-9)
    assert sv.logrank(ds, by="plan").statistic == pytest.approx(_r(ref, "logrank_chisq", "all"), rel=1e-9)
    cox = sv.cox_drivers(ds, ["plan"], references={"plan": "Month-to-month"}, ph_check=False)
    hr = cox.hazard_ratios.set_index("term")
    se = cox.model.summary["se(coef)"]
    # lifelines stops its Newton steps at its default precision (1e-7), R's coxph at its own: 3e-6 apart here;
    # driven to precision 1e-12 the same design agrees with R to 1e-8, so the difference is the stopping rule
    tight = CoxPHFitter().fit(_design_frame(ds),
                              "T", "E", fit_options={"precision": 1e-12})
    for term in hr.index:
        assert np.log(hr.loc[term, "hr"]) == pytest.approx(_r(ref, "cox_coef", term), rel=1e-5)
        assert se[term] == pytest.approx(_r(ref, "cox_se", term), rel=1e-5)
        assert tight.params_[term] == pytest.approx(_r(ref, "cox_coef", term), rel=1e-8)
        assert tight.standard_errors_[term] == pytest.approx(_r(ref, "cox_se", term), rel=1e-8)


def _design_frame(ds) -> pd.DataFrame:
    d = sv.survival_data(ds, by="plan")
    X = pd.get_dummies(d["group"]).astype(float).drop(columns="Month-to-month")
    X.columns = [f"plan={c}" for c in X.columns]
    return pd.concat([d[["T", "E"]], X], axis=1)


def test_rmst_with_late_entry_equals_r():
    """survfit(Surv(entry, T, E)): the risk set entry < t ≤ T, for the estimate and its standard error."""
    le = pd.read_csv(R_DIR / "late_entry.csv")
    ref = pd.read_csv(R_DIR / "reference.csv")
    kmf = KaplanMeierFitter().fit(le["T"], le["E"], entry=le["entry"])
    assert restricted_mean_survival_time(kmf, t=24) == pytest.approx(_r(ref, "rmean", "late_entry", 24), rel=1e-9)
    assert sv._rmst_se(kmf, 24) == pytest.approx(_r(ref, "se_rmean", "late_entry", 24), rel=1e-9)


def test_a_free_active_account_loads_and_a_negative_mrr_is_an_error(tmp_path):
    """A snapshot's mrr of 0 is a free customer, still a customer (paying at as_of in the layout's sense); below 0
    is an error naming the rows."""
    mapping = MAPPING.replace("plan: Contract}", "plan: Contract, mrr: MonthlyCharges}")
    df = _export(n=40).assign(MonthlyCharges=20.0)
    df.loc[df.index[df["Churn"] == "No"][:2], "MonthlyCharges"] = 0.0
    df.to_csv(tmp_path / "telco_export.csv", index=False)
    (tmp_path / "mapping.yaml").write_text(mapping)
    ds = cs.load_dataset(tmp_path, mapping=tmp_path / "mapping.yaml")
    now = ds.panel[ds.panel["month"] == ds.as_of_month]
    assert len(now) == int((df["Churn"] == "No").sum()) and (now["mrr"] == 0).sum() == 2
    df.loc[5, "MonthlyCharges"] = -3.0
    df.to_csv(tmp_path / "telco_export.csv", index=False)
    with pytest.raises(cs.DataValidationError) as err:
        cs.load_dataset(tmp_path, mapping=tmp_path / "mapping.yaml")
    (f,) = [f for f in err.value.report.errors if f.column == "mrr"]
    assert f.n_rows == 1 and f.examples == [-3.0]
