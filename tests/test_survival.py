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


# ------------------------------------------------------------------ reference levels shared by every model


def test_reference_levels_one_rule_given_or_most_common_customer_level(ds):
    # cohort10: 5 Basic and 5 Pro customers, a tie broken alphabetically
    assert sv.reference_levels(ds, ["plan"]) == {"plan": "Basic"}
    assert sv.reference_levels(ds, ["plan"], ["plan:Pro"]) == {"plan": "Pro"}
    assert sv.reference_levels(ds, ["plan"], {"plan": "Pro"}) == {"plan": "Pro"}
    with pytest.raises(ValueError, match="not one of its levels"):
        sv.reference_levels(ds, ["plan"], ["plan:Gold"])
    r = sv.cox_drivers(ds, ["plan"], references=["plan:Pro"])
    assert r.references == {"plan": "Pro"} and r.hazard_ratios[["level", "reference"]].values.tolist() == [["Basic", "Pro"]]


# ------------------------------------------------------------------ proportional-hazards check with its size


def _world(n, hazard, seed):
    """Customers with attributes x (a/b) and z (u/v), monthly churn probability ``hazard(x, z, month)``, followed
    24 months from one start (no left truncation), as the two tables the survival functions read."""
    from types import SimpleNamespace

    rng = np.random.default_rng(seed)
    x = np.where(np.arange(n) % 2 == 0, "a", "b")
    z = np.where(rng.random(n) < 0.5, "u", "v")
    dur, ev = np.full(n, 25), np.zeros(n, int)  # censored after 24 observed months: T = 24
    alive = np.ones(n, bool)
    for m in range(1, 25):
        churn = alive & (rng.random(n) < hazard(x, z, m))
        dur[churn], ev[churn] = m, 1
        alive &= ~churn
    ids = [f"c{i}" for i in range(n)]
    spells = pd.DataFrame({"customer_id": ids, "spell": 1, "duration": dur, "event": ev, "entry": 0,
                           "start": pd.Timestamp("2023-01-01")})
    return SimpleNamespace(spells=spells, customers=pd.DataFrame({"customer_id": ids, "x": x, "z": z}))


def test_ph_check_names_a_planted_violation_with_its_size():
    """x=b triples the churn rate in months 1–6 and has no effect after (a ratio that changes with tenure); z=v
    multiplies it by 1.5 at every tenure (proportional). The check must flag x=b only, with the early ratio well
    above the late one, and pick it for the Schoenfeld plot."""
    def hazard(x, z, m):
        return 0.03 * np.where((x == "b") & (m <= 6), 3.0, 1.0) * np.where(z == "v", 1.5, 1.0)

    r = sv.cox_drivers(_world(8000, hazard, seed=5), ["x", "z"], references={"x": "a", "z": "u"})
    ph = r.ph_test.set_index("term")
    assert list(r.ph_violations["term"]) == ["x=b"]
    xb, zv = ph.loc["x=b"], ph.loc["z=v"]
    assert xb["p"] < 1e-6 and xb["hr_at_3_months"] > 2.0 and xb["hr_at_24_months"] < 1.3
    assert xb["hr_ratio_24_vs_3_months"] < 0.5
    assert not zv["violation"] and 0.8 < zv["hr_ratio_24_vs_3_months"] < 1.25
    assert 1.25 < zv["hr_at_3_months"] < 1.8 and 1.25 < zv["hr_at_24_months"] < 1.8
    # residuals: one row per churn event, β(t) averaging β̂ (the Schoenfeld residuals sum to zero at the MLE)
    assert len(r.ph_residuals) == r.events
    assert r.ph_residuals["z=v"].mean() == pytest.approx(np.log(zv["hr"]), abs=1e-6)
    points, smooth = sv.schoenfeld_curves(r)
    assert set(smooth["term"]) == {"x=b"} and len(points) == min(3000, r.events)
    s = smooth.sort_values("rank")["beta_t"].to_numpy()
    assert s[: len(s) // 5].mean() - s[-len(s) // 5:].mean() > np.log(2)  # the trend falls from ~log 3 towards 0
    # without a violation the plot shows the top drifts
    # without a violation the plot shows the terms with the largest drift
    flat = sv.cox_drivers(_world(4000, lambda x, z, m: 0.03 * np.where(z == "v", 1.5, 1.0), seed=6), ["x", "z"],
                          references={"x": "a", "z": "u"})
    assert flat.ph_violations.empty
    _, top = sv.schoenfeld_curves(flat, n_top=1)
    assert list(top["term"].unique()) == [flat.ph_largest_drift["term"]]


def test_ph_check_beyond_the_cap_runs_on_a_stated_sample(monkeypatch):
    """Beyond PH_MAX_SPELLS spells the check refits on a seeded random sample of that many (lifelines' residuals
    cost grows with the square of the spells); the hazard ratios still use every spell. On the planted world the
    3,000-spell sample still finds x=b's drift, and z=v's estimated drift stays small (at the 5% level a single
    sample may still flag it)."""
    def hazard(x, z, m):
        return 0.03 * np.where((x == "b") & (m <= 6), 3.0, 1.0) * np.where(z == "v", 1.5, 1.0)

    world = _world(8000, hazard, seed=5)
    full = sv.cox_drivers(world, ["x", "z"], references={"x": "a", "z": "u"})
    monkeypatch.setattr(sv, "PH_MAX_SPELLS", 3000)
    r = sv.cox_drivers(world, ["x", "z"], references={"x": "a", "z": "u"})
    assert full.ph_sample is None and r.ph_sample == (3000, 8000)
    assert r.ph_test["checked_on"].iloc[0] == "all spells (random sample of 3000 of 8000 spells)" and not r.ph_truncated
    pd.testing.assert_frame_equal(r.hazard_ratios, full.hazard_ratios)  # the model: every spell
    assert r.ph_events < full.ph_events and len(r.ph_residuals) == r.ph_events
    ph = r.ph_test.set_index("term")
    assert "x=b" in set(r.ph_violations["term"]) and ph.loc["x=b", "hr_at_3_months"] > 2.0
    assert ph.loc["x=b", "hr_ratio_24_vs_3_months"] < 0.5 and 0.8 < ph.loc["z=v", "hr_ratio_24_vs_3_months"] < 1.25
    again = sv.cox_drivers(world, ["x", "z"], references={"x": "a", "z": "u"})
    pd.testing.assert_frame_equal(again.ph_test, r.ph_test)  # seeded: the same sample every run


def test_ph_check_reports_why_it_did_not_run(ds):
    r = sv.cox_drivers(ds, ["plan"])  # four churn events among first spells observed from their start
    assert r.ph_test is None and r.ph_events == 4 and "at least 10" in r.ph_reason
    with pytest.raises(ValueError, match="at least 10"):
        sv.schoenfeld_curves(r)


# ------------------------------------------------------------------ every spell, cluster bootstrap by customer


def test_every_spell_by_hand_on_the_fixture(ds):
    res = sv.spell_survival(ds, times=[1, 2], n_boot=50)
    c = res.curves.set_index(["group", "t"])
    # first spells: month 1, 3 of 10 gone; month 2, 1 of 7 (as in test_survival_table_by_hand)
    assert c.loc[("1", 1), "survival"] == pytest.approx(0.7) and c.loc[("1", 2), "survival"] == pytest.approx(0.6)
    assert c.loc[("1", 1), "at_risk"] == 10 and c.loc[("1", 2), "at_risk"] == 7
    # E's second spell (Apr–May, still paying): at risk in month 1, no churn
    assert c.loc[("2", 1), "survival"] == 1.0 and c.loc[("2", 1), "at_risk"] == 1
    assert res.reactivated_customers == 1 and res.enough == []
    assert "only 1 spell(s) numbered 2" in res.reason("2")
    t = res.table.set_index("group")
    assert t.loc["1", "S(1) lower"] <= 0.7 <= t.loc["1", "S(1) upper"]


def test_cluster_bootstrap_point_estimate_is_lifelines_km_with_left_truncation():
    from lifelines import KaplanMeierFitter

    rng = np.random.default_rng(1)
    n = 3000
    entry = np.where(rng.random(n) < 0.3, rng.integers(1, 10, n), 0)
    T = entry + rng.geometric(0.06, n)
    E = (rng.random(n) < 0.8).astype(int)
    cl = np.arange(n) // 2
    out = sv.cluster_bootstrap_km(T, E, entry, cl, np.full(n, "g"), 30, n_boot=20)
    km = KaplanMeierFitter().fit(T, E, entry=entry)
    np.testing.assert_allclose(out["survival"], km.survival_function_at_times(out["t"]).to_numpy(), atol=1e-12)
    assert (out["lower"] <= out["survival"]).all() and (out["survival"] <= out["upper"]).all()


def test_cluster_bootstrap_resamples_customers_not_spells():
    """Give every customer two identical spells: the KM is unchanged, and so is the cluster-bootstrap band
    (a customer's weight moves both spells), while Greenwood, which treats the spells as independent, shrinks
    by about √2. With one spell per customer the bootstrap band matches Greenwood's width."""
    from lifelines import KaplanMeierFitter

    rng = np.random.default_rng(2)
    n = 2000
    T = np.minimum(rng.geometric(0.05, n), 24)
    E = (T < 24).astype(int)
    cl = np.arange(n)
    g1 = np.full(n, "1")
    one = sv.cluster_bootstrap_km(T, E, np.zeros(n, int), cl, g1, 24, n_boot=300, seed=4)
    two = sv.cluster_bootstrap_km(np.r_[T, T], np.r_[E, E], np.zeros(2 * n, int), np.r_[cl, cl], np.r_[g1, g1], 24,
                                  n_boot=300, seed=4)
    np.testing.assert_allclose(two[["survival", "lower", "upper"]], one[["survival", "lower", "upper"]], atol=1e-12)
    gw1 = KaplanMeierFitter().fit(T, E).confidence_interval_survival_function_.loc[12].to_numpy()
    gw2 = KaplanMeierFitter().fit(np.r_[T, T], np.r_[E, E]).confidence_interval_survival_function_.loc[12].to_numpy()
    boot = one.set_index("t").loc[12]
    width = boot["upper"] - boot["lower"]
    assert width == pytest.approx(gw1[1] - gw1[0], rel=0.2)
    assert (gw2[1] - gw2[0]) == pytest.approx((gw1[1] - gw1[0]) / np.sqrt(2), rel=0.05)
    assert (gw2[1] - gw2[0]) < 0.8 * width


def test_stratified_refit_drops_the_violating_attribute_and_keeps_the_others():
    def hazard(x, z, m):
        return 0.03 * np.where((x == "b") & (m <= 6), 3.0, 1.0) * np.where(z == "v", 1.5, 1.0)

    w = _world(8000, hazard, seed=5)
    r = sv.cox_drivers(w, ["x", "z"], strata=["x"], references={"z": "u"})
    assert list(r.hazard_ratios["term"]) == ["z=v"] and r.references == {"z": "u"}
    row = r.hazard_ratios.iloc[0]
    assert row["lower"] <= 1.5 <= row["upper"] and r.ph_violations.empty


def test_hazard_ratio_sentences_in_the_report_language(report_defaults):
    """In the subscription layout's words ("churn"), whatever layout an earlier test or report run left set."""
    import pandas as pd

    i18n = report_defaults
    hr = pd.DataFrame([
        {"covariate": "plan", "level": "Basic", "reference": "Pro", "term": "plan=Basic", "hr": 1.8, "lower": 1.6,
         "upper": 2.0, "sentence": "x"},
        {"covariate": "nps_detractor", "level": "detractor", "reference": "promoter", "term": "nps_detractor",
         "hr": 0.5, "lower": 0.4, "upper": 0.625, "sentence": "x"},
        {"covariate": "region_code", "level": "EU", "reference": "US", "term": "region_code=EU", "hr": 1.0,
         "lower": 0.9, "upper": 1.1, "sentence": "x"}])
    try:
        i18n.set_language("en")
        en = sv.hr_sentences(hr, i18n.tr)
        i18n.set_language("ja")
        ja = sv.hr_sentences(hr, i18n.tr)
    finally:
        i18n.set_language("en")
    assert en[0] == "Customers with plan Basic churn 1.80× as fast as Pro (95% CI 1.60–2.00)"  # a ratio: 2 decimals
    assert en[1] == ("Customers with latest NPS detractor churn 2.0× more slowly than promoter "
                     "(hazard ratio 0.50, 95% CI 0.40–0.62)")
    assert en[2].startswith("Customers with region code EU churn 1.00× as fast as US")
    assert ja[0] == "プランがBasicの顧客は、Proの顧客の 1.80 倍の速さで解約します（95% 信頼区間 1.60〜2.00）"
    assert "批判者" in ja[1] and "推奨者" in ja[1] and not any(w in " ".join(ja) for w in ("churn", "Customers"))
    assert sv.hr_sentences(hr) == ["x", "x", "x"]  # without a translator: the English column


def test_merged_start_stop_rows_by_hand():
    """Consecutive months of one customer with the same covariates become one interval; a change of covariate,
    a gap, another customer or an event ends the run."""
    df = pd.DataFrame({"id": ["a"] * 5 + ["b"] * 3, "start": [0, 1, 2, 3, 4, 0, 1, 3], "stop": [1, 2, 3, 4, 5, 1, 2, 4],
                       "event": [0, 0, 0, 0, 1, 0, 0, 0], "x": [0, 0, 1, 1, 1, 1, 1, 1]})
    out = sv._merge_constant_runs(df)
    assert out.to_dict("list") == {"id": ["a", "a", "b", "b"], "start": [0, 2, 0, 3], "stop": [2, 5, 2, 4],
                                   "event": [0, 1, 0, 0], "x": [0, 1, 1, 1]}


def test_merge_skips_the_sort_of_rows_already_sorted_with_the_same_result(monkeypatch):
    """Rows sorted by customer and start (as person_months gives them) are not sorted again, and merge exactly as
    the same rows shuffled (which are sorted); rows grouped by customer but not in id order are still sorted."""
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"id": np.repeat([f"c{i:03d}" for i in range(30)], 10), "start": np.tile(np.arange(10), 30)})
    df["stop"] = df["start"] + 1
    df["event"] = ((df["start"] == 9) & (rng.random(len(df)) < 0.5)).astype(np.int8)
    df["x"] = (rng.random(len(df)) < 0.2).astype(np.int8)
    df["z"] = np.repeat(rng.random(30), 10)
    forced = sv._merge_constant_runs(df.sample(frac=1, random_state=0))
    calls = []
    real = pd.DataFrame.sort_values
    monkeypatch.setattr(pd.DataFrame, "sort_values", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    fast = sv._merge_constant_runs(df)
    assert not calls and len(fast) < len(df)
    pd.testing.assert_frame_equal(fast, forced)
    regrouped = pd.concat([df[df["id"] >= "c015"], df[df["id"] < "c015"]])
    pd.testing.assert_frame_equal(sv._merge_constant_runs(regrouped), forced)
    assert calls


def test_time_varying_fit_on_merged_rows_equals_the_fit_on_customer_months(monkeypatch):
    """The merged rows give the same partial likelihood: hazard ratios, intervals and p-values as the fit on one
    row per customer-month (demo data)."""
    ds = cs.load_dataset(Path(__file__).resolve().parents[1] / "data" / "demo")
    merged = sv.time_varying_drivers(ds, ["plan"])
    rows = {}
    real = sv._merge_constant_runs
    monkeypatch.setattr(sv, "_merge_constant_runs", lambda df: rows.setdefault("n", (len(df), len(real(df)))) and df)
    unmerged = sv.time_varying_drivers(ds, ["plan"])
    assert rows["n"][1] < rows["n"][0] / 2  # fewer than half the rows
    pd.testing.assert_frame_equal(merged.hazard_ratios, unmerged.hazard_ratios, rtol=1e-7)
    assert merged.model.log_likelihood_ == pytest.approx(unmerged.model.log_likelihood_, rel=1e-10)
    assert (merged.n, merged.events) == (unmerged.n, unmerged.events)


def test_time_varying_sample_is_drawn_before_the_signals_with_the_same_rows_and_fit(monkeypatch):
    """Above max_rows the customers are drawn before the signals are looked up: each row's signals are the same
    computed on the sample as on every row, and the fit is the one on the drawn customers' whole histories."""
    from csanalysis.data.signals import monthly_signals

    ds = cs.load_dataset(Path(__file__).resolve().parents[1] / "data" / "demo")
    pm = sv.person_months(ds, spells="first")
    codes, ids = pd.factorize(pm["customer_id"])
    share = 30_000 / len(pm)
    drawn = (np.random.default_rng(0).random(len(ids)) < share)[codes]
    sub = monthly_signals(ds, pm[drawn])
    pd.testing.assert_frame_equal(sub, monthly_signals(ds, pm)[drawn])
    sampled = sv.time_varying_drivers(ds, ["plan"], max_rows=30_000)
    assert sampled.n == pm.loc[drawn, "customer_id"].nunique() < len(ids)
    assert f"{pm.loc[drawn, 'customer_id'].nunique():,} of {len(ids):,}" in sampled.design
    monkeypatch.setattr(sv, "person_months", lambda ds, spells: pm[drawn])
    whole = sv.time_varying_drivers(ds, ["plan"])
    pd.testing.assert_frame_equal(sampled.hazard_ratios, whole.hazard_ratios)


def test_strata_coded_per_customer_equal_the_mapped_strings(monkeypatch):
    """The strata column of a stratified fit, coded per customer, holds the strings mapping every row gave (also
    for a customer whose attribute is missing, and numbers as their text)."""
    from lifelines import CoxPHFitter

    ds = cs.load_dataset(Path(__file__).resolve().parents[1] / "data" / "demo")
    cust = ds.customers.copy()
    cust.loc[cust.index[:40], "touch_model"] = None
    ds.customers = cust
    real = CoxPHFitter.fit
    d = sv.survival_data(ds)
    for s in ("touch_model", "seats"):
        seen = {}
        monkeypatch.setattr(CoxPHFitter, "fit", lambda self, df, *a, **k: seen.setdefault("df", df) is None or real(self, df, *a, **k))
        sv.cox_drivers(ds, ["plan", "touch_model", "seats"], strata=[s], ph_check=False)
        df = seen["df"]
        want = d.loc[df.index, "customer_id"].map(ds.customers.set_index("customer_id")[s]).astype(str)
        pd.testing.assert_series_equal(df[s], want, check_names=False)
    assert df["seats"].str.fullmatch("[0-9]+").all()


def test_several_strata_as_one_numbered_column_give_the_same_fit():
    """Several strata are passed to lifelines as one integer column numbering their combinations (its .loc on a
    MultiIndex is slow): the fit is exactly lifelines' fit on the attribute columns themselves."""
    from lifelines import CoxPHFitter

    ds = cs.load_dataset(Path(__file__).resolve().parents[1] / "data" / "demo")
    refs = sv.reference_levels(ds, ["seats", "acquisition_channel"])
    res = sv.cox_drivers(ds, ["seats", "acquisition_channel"], strata=["plan", "touch_model"], references=refs)
    assert res.model.strata == "plan × touch_model"
    d = sv.survival_data(ds)
    X, _ = sv.covariate_design(d, ["seats", "acquisition_channel"], ds.customers, refs)
    df = pd.concat([d[["T", "E", "entry"]], X], axis=1)
    df = df[df["T"] > 0]
    for s in ("plan", "touch_model"):
        df[s] = d.loc[df.index, "customer_id"].map(ds.customers.set_index("customer_id")[s]).astype(str)
    entry = "entry" if (df["entry"] > 0).any() else None
    want = CoxPHFitter().fit(df if entry else df.drop(columns="entry"), "T", "E", entry_col=entry,
                             strata=["plan", "touch_model"], batch_mode=True)
    pd.testing.assert_frame_equal(res.model.summary, want.summary, check_exact=True)
    assert res.model.log_likelihood_ == want.log_likelihood_
    assert res.ph_test is not None and len(res.ph_test) == len(res.hazard_ratios)


def test_naive_nps_first_wave_is_each_customers_first_survey_month(monkeypatch):
    """naive_nps_cox codes each customer's first survey month: the same columns as with a groupby head."""
    from lifelines import CoxPHFitter

    ds = cs.load_dataset(Path(__file__).resolve().parents[1] / "data" / "demo")
    seen = {}
    real = CoxPHFitter.fit
    monkeypatch.setattr(CoxPHFitter, "fit", lambda self, df, *a, **k: seen.setdefault("df", df) is None or real(self, df, *a, **k))
    sv.naive_nps_cox(ds)
    waves = ds.nps.assign(m=pd.to_datetime(ds.nps["date"]).dt.to_period("M")).groupby(["customer_id", "m"])["score"].mean()
    first = waves.groupby(level=0).head(1).droplevel(1)
    ms = np.round(first)
    cat = pd.Series(np.select([ms <= 6, ms <= 8], ["detractor", "passive"], "promoter"), index=first.index)
    d = sv.survival_data(ds)
    c = d["customer_id"].map(cat).fillna("none")[d["T"] > 0]
    for level in ("detractor", "passive", "none"):
        np.testing.assert_array_equal(seen["df"][f"nps_{level}"].to_numpy(), (c == level).astype(float).to_numpy())
    assert seen["df"]["nps_detractor"].sum() > 0


def test_concordance_is_computed_when_first_read(ds):
    """CoxResult.concordance is lifelines' concordance of the fit, computed only when read (a binary-tree pass
    over every pair of spells); a given value (NaN for the time-varying model) is kept as it is."""
    res = sv.cox_drivers(ds, ["plan"], ph_check=False)
    assert not hasattr(res.model, "_concordance_index_") and res.c_index is None
    c = res.concordance
    assert hasattr(res.model, "_concordance_index_")
    assert c == float(res.model.concordance_index_) and res.to_dict()["concordance"] == c and 0 < c < 1
    cox = sv.CoxResult(model=None, hazard_ratios=res.hazard_ratios, c_index=float("nan"), n=1, events=0, ph_test=None)
    assert np.isnan(cox.concordance)


def test_design_codes_each_customer_once_and_spreads_to_its_rows():
    """The design is coded per distinct customer and spread to the rows: repeated customers get their own values
    (in row order, whatever the index), a customer absent from the attributes is "(missing)", seats go to log2."""
    customers = pd.DataFrame({"customer_id": ["a", "b", "c"], "plan": ["Pro", "Basic", None], "seats": [1, 8, 0]})
    d = pd.DataFrame({"customer_id": ["b", "a", "b", "c", "a", "b"]}, index=[10, 11, 12, 13, 14, 15])
    X, meta = sv.covariate_design(d, ["plan", "seats"], customers, {"plan": "Pro"})
    assert list(X.index) == [10, 11, 12, 13, 14, 15]
    assert X.to_dict("list") == {"plan=(missing)": [0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
                                 "plan=Basic": [1.0, 0.0, 1.0, 0.0, 0.0, 1.0],
                                 "log2(seats)": [3.0, 0.0, 3.0, 0.0, 0.0, 3.0]}
    assert [m[3] for m in meta] == ["plan=(missing)", "plan=Basic", "log2(seats)"]
    with pytest.raises(ValueError, match="3 missing values"):  # counted over rows: b appears three times
        sv.covariate_design(d, ["seats"], customers.assign(seats=[1.0, np.nan, 2.0]), {})


def test_km_discrete_by_hand_for_each_row_of_weights():
    """The LTV curves (one sparse product for all replicates) by hand: at risk in month j when entry < j ≤ T,
    weighted by each row of whole-number weights; S(0) = 1."""
    T, E, entry = np.array([1, 2, 2, 3, 1]), np.array([1, 0, 1, 1, 0]), np.array([0, 0, 1, 0, 0])
    W = np.array([[1, 1, 1, 1, 1], [2, 0, 1, 0, 3]])
    S = sv._km_discrete(T, E, entry, 3, W)
    # row 1: month 1: 4 at risk, 1 churns; month 2: 3 at risk (the third enters), 1 churns
    # row 2: month 1: 2 + 3 at risk, 2 churn; month 2: only the third (weight 1), who churns
    np.testing.assert_allclose(S, [[1, 3 / 4, 3 / 4 * 2 / 3], [1, 3 / 5, 0]], rtol=1e-15)
    assert S.flags["C_CONTIGUOUS"]


def test_cluster_bootstrap_band_equals_a_plain_resample_of_customers():
    """The vectorised cluster bootstrap against the textbook one: per replicate, draw the customers with
    rng.choice (the engine's generator, same seed), stack every spell of each drawn customer (twice if drawn
    twice), fit lifelines' Kaplan–Meier per group; the 2.5% and 97.5% percentiles of those curves (widened to
    the estimate) are the band."""
    from lifelines import KaplanMeierFitter

    rng = np.random.default_rng(7)
    n_c = 30
    cust = np.r_[np.arange(n_c), np.arange(0, n_c, 2)]  # every customer a spell "1", every other one a spell "2"
    group = np.r_[np.full(n_c, "1"), np.full(n_c // 2, "2")]
    entry = np.where(rng.random(len(cust)) < 0.3, rng.integers(1, 4, len(cust)), 0)
    T = entry + rng.integers(1, 9, len(cust))
    E = (rng.random(len(cust)) < 0.7).astype(int)
    ids = np.array([f"c{i:02d}" for i in cust])  # sorted like the engine's customer codes
    H, B = 10, 40
    out = sv.cluster_bootstrap_km(T, E, entry, ids, group, H, n_boot=B, alpha=0.05, seed=3)
    plain = np.random.default_rng(3)
    curves = {"1": [], "2": []}
    t = np.arange(1, H + 1)
    for _ in range(B):
        drawn = plain.choice(n_c, size=n_c, replace=True)
        rows = np.concatenate([np.flatnonzero(cust == c) for c in drawn])
        for g in curves:
            r = rows[group[rows] == g]
            km = KaplanMeierFitter().fit(T[r], E[r], entry=entry[r])
            curves[g].append(km.survival_function_at_times(t).to_numpy())
    for g, reps in curves.items():
        got = out[out["group"] == g]
        point = got["survival"].to_numpy()
        lo, hi = np.percentile(np.array(reps), [2.5, 97.5], axis=0)
        np.testing.assert_allclose(got["lower"], np.minimum(lo, point), atol=1e-12, err_msg=g)
        np.testing.assert_allclose(got["upper"], np.maximum(hi, point), atol=1e-12, err_msg=g)
        assert (got["upper"] - got["lower"]).max() > 0.1


def test_survival_bootstraps_in_blocks_draw_the_same_replicates(ds, monkeypatch):
    """The cluster bootstrap and the survival LTV draw their replicates a block at a time; blocks of one or two
    replicates give the bands of one block."""
    from csanalysis.stats import bootstrap

    d = sv.survival_data(ds, spells="all")
    args = (d["T"], d["E"], d["entry"], d["customer_id"], d["group"], 6)
    whole_km = sv.cluster_bootstrap_km(*args, n_boot=30, seed=2)
    whole_ltv = sv.lifetime_value(ds, horizon=6, n_boot=30, seed=2)
    monkeypatch.setattr(bootstrap, "BLOCK_CELLS", 15)  # 1-2 replicates of the 10 customers per block
    assert len(bootstrap.replicate_blocks(30, 10)) == 30
    pd.testing.assert_frame_equal(sv.cluster_bootstrap_km(*args, n_boot=30, seed=2), whole_km)
    pd.testing.assert_frame_equal(sv.lifetime_value(ds, horizon=6, n_boot=30, seed=2), whole_ltv)
    assert (whole_km["upper"] > whole_km["lower"]).any()
    assert (whole_ltv["upper"] > whole_ltv["lower"]).iloc[0]
