"""Churn causes, competing-risks curves and dunning (csanalysis/causes.py): hand computations on a tiny export, the
Aalen–Johansen estimate against R and lifelines, the causes adding up to 1 − Kaplan–Meier, and the planted truth of
the demo generator recovered."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import AalenJohansenFitter, CoxPHFitter, KaplanMeierFitter

import csanalysis as cs
from csanalysis import causes
from csanalysis.data.validation import DataValidationError

R_DIR = Path(__file__).parent / "data" / "r_causes"
AS_OF = "2024-06-30"
MONTHS = ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06"]
# customer: (paid months, MRR, payment attempts (date, status), cancellation_reason)
WORLD = {
    "A": (3, 300.0, [("2024-01-05", "succeeded"), ("2024-02-05", "succeeded"), ("2024-03-05", "succeeded"),
                     ("2024-04-05", "failed")], None),
    "B": (3, 100.0, [("2024-01-05", "succeeded"), ("2024-02-05", "succeeded"), ("2024-03-05", "failed"),
                     ("2024-03-09", "succeeded")], None),
    "C": (4, 100.0, [(f"{m}-05", "succeeded") for m in MONTHS[:4]], None),
    "D": (3, 100.0, [("2024-01-05", "succeeded"), ("2024-02-01", "failed")], None),
    "E": (2, 50.0, [("2024-01-05", "succeeded"), ("2024-02-05", "succeeded")], "Card declined"),
    "F": (3, 100.0, [("2024-01-05", "succeeded"), ("2024-02-05", "succeeded"), ("2024-03-05", "succeeded"),
                     ("2024-04-03", "failed")], "Too expensive"),
    "G": (6, 100.0, [(f"{m}-20", "succeeded") for m in MONTHS[:5]] + [("2024-06-20", "failed")], None),
    "H": (6, 100.0, [(f"{m}-10", "succeeded") for m in MONTHS if m != "2024-05"]
          + [("2024-05-10", "failed"), ("2024-05-13", "succeeded")], None),
}


def _write(folder: Path, world=WORLD, *, reasons: bool = True, payments: bool = True, status=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cust, rev, pay = [], [], []
    for cid, (n, mrr, attempts, reason) in world.items():
        row = {"customer_id": cid, "signup_date": "2024-01-01", "plan": "Basic" if cid in "ACEG" else "Pro"}
        if reasons:
            row["cancellation_reason"] = reason
        cust.append(row)
        rev += [{"customer_id": cid, "date": f"{m}-01", "amount": mrr} for m in MONTHS[:n]]
        pay += [{"customer_id": cid, "date": d, "status": status or s} for d, s in attempts]
    pd.DataFrame(cust).to_csv(folder / "customers.csv", index=False)
    pd.DataFrame(rev).to_csv(folder / "revenue.csv", index=False)
    if payments:
        pd.DataFrame(pay).to_csv(folder / "payments.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return cs.load_dataset(_write(tmp_path_factory.mktemp("causes") / "d"), as_of=AS_OF)


def _causes(cc):
    return cc.churns.set_index("customer_id")["cause"].to_dict()


def test_causes_by_hand(tiny):
    cc = causes.classify_churns(tiny)
    assert cc.estimable and cc.sources == ("payments", "cancellation_reason")
    assert _causes(cc) == {"A": "payment_failure", "B": "voluntary", "C": "voluntary", "D": "voluntary",
                           "E": "payment_failure", "F": "voluntary"}
    ch = cc.churns.set_index("customer_id")
    assert ch.loc["E", "basis"] == "reason" and ch.loc["F", "reason"] == "Too expensive" and ch.loc["A", "basis"] == "payments"
    assert str(ch.loc["A", "month"])[:7] == "2024-04" and ch.loc["A", "mrr"] == 300.0
    # D's failure (1 Feb) is outside 60 days before the end of its churn month (30 Apr), inside 120
    assert _causes(causes.classify_churns(tiny, window_days=120))["D"] == "payment_failure"
    # two failed attempts needed: A failed once; the reasons still decide E and F
    two = _causes(causes.classify_churns(tiny, min_failed=2))
    assert two["A"] == "voluntary" and two["E"] == "payment_failure" and two["F"] == "voluntary"


def test_reason_rule():
    assert causes.cause_of_reason(" Card-Declined ") == "payment_failure"
    assert causes.cause_of_reason("payment failure") == "payment_failure"
    assert causes.cause_of_reason("too expensive") == "voluntary"
    assert causes.cause_of_reason("") is None and causes.cause_of_reason(None) is None
    assert causes.cause_of_reason(float("nan")) is None


def test_shares_by_hand(tiny):
    cc = causes.classify_churns(tiny)
    row = causes.cause_shares(cc, n_boot=200).iloc[0]
    assert (row["churns"], row["payment_failure"]) == (6, 2) and row["share"] == pytest.approx(2 / 6)
    from statsmodels.stats.proportion import proportion_confint
    lo, hi = proportion_confint(2, 6, method="wilson")
    assert (row["lower"], row["upper"]) == pytest.approx((lo, hi))
    assert row["mrr_share"] == pytest.approx((300 + 50) / (300 + 100 + 100 + 100 + 50 + 100))
    assert row["mrr_lower"] <= row["mrr_share"] <= row["mrr_upper"]
    by = causes.cause_shares(cc, tiny, by="plan", n_boot=50).set_index("group")
    assert by.loc["Basic", ["churns", "payment_failure"]].tolist() == [3, 2]  # A, C, E
    assert by.loc["Pro", ["churns", "payment_failure"]].tolist() == [3, 0]  # B, D, F
    months = causes.cause_shares(cc, per_month=True, n_boot=50).set_index("group")
    assert months.loc["2024-04", "churns"] == 4 and months.loc["2024-03", "payment_failure"] == 1  # A, B, D, F; E


def test_dunning_by_hand(tiny):
    rec = causes.dunning_recovery(tiny, n_boot=200).table.set_index("days")
    # failed: A 5 Apr (never), B 5 Mar (+4 days), D 1 Feb (never), F 3 Apr (never), G 20 Jun (never), H 10 May (+3)
    # G is within 14 and 30 days of as_of (30 Jun): judged only for 7 days
    assert rec.loc[7, ["failed", "recovered"]].tolist() == [6, 2]
    assert rec.loc[14, ["failed", "recovered"]].tolist() == [5, 2]
    assert rec.loc[30, ["failed", "recovered"]].tolist() == [5, 2]
    assert rec.loc[7, "share"] == pytest.approx(1 / 3)
    assert (rec["lower"] <= rec["share"]).all() and (rec["share"] <= rec["upper"]).all()


def test_billing_list_by_hand(tiny, tmp_path):
    lst = causes.billing_list(tiny)
    assert lst["customer_id"].tolist() == ["G"]
    assert lst.iloc[0][["mrr", "failed_since", "failed_attempts", "days_since_last_attempt"]].tolist() == [100.0, "2024-06-20", 1, 10]
    hidden = causes.billing_list(tiny, pseudonymise=True)
    assert hidden["customer_id"].iloc[0].startswith("P-") and hidden["customer_id"].iloc[0] != "G"


def test_billing_list_csv_is_spreadsheet_safe(tmp_path):
    world = {"=HYPERLINK(1)": WORLD["G"], "C": WORLD["C"]}
    ds = cs.load_dataset(_write(tmp_path / "d", world), as_of=AS_OF)
    from csanalysis.report import write_table

    path = write_table(tmp_path, causes.billing_list(ds), "billing_list")
    assert "'=HYPERLINK(1)" in path.read_text(encoding="utf-8")


def test_not_estimable_without_payments_or_reasons(tmp_path):
    ds = cs.load_dataset(_write(tmp_path / "d", reasons=False, payments=False), as_of=AS_OF)
    cc = causes.classify_churns(ds)
    assert not cc.estimable and "no payments table" in cc.reason
    assert causes.cumulative_incidence(cc) is None
    rec = causes.dunning_recovery(ds)
    assert rec.estimate(7).reason == "no payments table"
    assert causes.recovery_scenario(ds, cc, rec).kept.reason
    # reasons alone: the churns with a reason have a cause, the others none
    ds = cs.load_dataset(_write(tmp_path / "r", payments=False), as_of=AS_OF)
    cc = causes.classify_churns(ds)
    assert cc.estimable and cc.sources == ("cancellation_reason",)
    assert _causes(cc)["E"] == "payment_failure" and _causes(cc)["A"] is None
    assert causes.cause_shares(cc, n_boot=20).iloc[0]["churns"] == 2


def test_bad_status_is_a_clear_error(tmp_path):
    with pytest.raises(DataValidationError) as err:
        cs.load_dataset(_write(tmp_path / "d", status="pending"), as_of=AS_OF)
    text = str(err.value)
    n = sum(len(w[2]) for w in WORLD.values())
    assert "payments" in text and "status" in text and "pending" in text and f"{n} rows" in text


# ------------------------------------------------------------------------------------ Aalen–Johansen


def _competing():
    d = pd.read_csv(R_DIR / "competing.csv")
    return d, d["cause"].where(d["cause"] != "censored")


@pytest.mark.parametrize("design", ["no_entry", "entry"])
def test_aalen_johansen_matches_r_on_tied_months(design):
    d, cause = _competing()
    ref = pd.read_csv(R_DIR / "reference.csv")
    ref = ref[ref["design"] == design]
    aj = causes.aalen_johansen(d["T"], cause, d["entry"] if design == "entry" else None).table.set_index("t")
    for k in causes.CAUSES:
        r = ref[ref["cause"] == k].set_index("time")["cif"]
        mine = aj[f"cif_{k}"].reindex(range(25)).ffill().fillna(0.0)
        np.testing.assert_allclose(mine.to_numpy(), r.reindex(range(25)).to_numpy(), atol=1e-12)


def test_causes_add_up_to_one_minus_km():
    d, cause = _competing()
    for entry in (None, d["entry"]):
        aj = causes.aalen_johansen(d["T"], cause, entry).table.set_index("t")
        km = KaplanMeierFitter().fit(d["T"], cause.notna(), entry=entry).survival_function_.iloc[:, 0]
        total = aj["cif_payment_failure"] + aj["cif_voluntary"]
        np.testing.assert_allclose(total.to_numpy(), 1 - km.reindex(aj.index).to_numpy(), atol=1e-12)
        np.testing.assert_allclose(aj["km"].to_numpy(), km.reindex(aj.index).to_numpy(), atol=1e-12)


def test_aalen_johansen_matches_lifelines_without_ties():
    rng = np.random.default_rng(5)
    n = 400
    T = rng.exponential(10, n)
    c = np.where(rng.random(n) < 0.7, np.where(rng.random(n) < 0.3, "payment_failure", "voluntary"), None)
    mine = causes.aalen_johansen(T, c).table.set_index("t")
    ev = np.select([c == "payment_failure", c == "voluntary"], [1, 2], 0)
    ajf = AalenJohansenFitter(calculate_variance=True).fit(T, ev, event_of_interest=1)
    theirs = ajf.cumulative_density_.iloc[:, 0]
    np.testing.assert_allclose(mine["cif_payment_failure"].reindex(theirs.index).to_numpy(), theirs.to_numpy(), atol=1e-12)
    var = ajf.variance_.to_numpy()
    ok = np.isfinite(var)
    np.testing.assert_allclose(mine["var_payment_failure"].reindex(theirs.index).to_numpy()[ok], var[ok], rtol=1e-8, atol=1e-14)
    # lifelines 0.30.3 names its bounds the other way round: the column labelled "upper" holds
    # exp(−exp(log(−log F) + z·se)), the lower bound (_bounds in aalen_johansen_fitter.py)
    ci = ajf.confidence_interval_
    lo = ci.filter(like="upper").iloc[:, 0].to_numpy()
    hi = ci.filter(like="lower").iloc[:, 0].to_numpy()
    assert (lo <= theirs.to_numpy() + 1e-15)[np.isfinite(lo)].all()
    both = np.isfinite(lo) & np.isfinite(hi) & (theirs.to_numpy() > 0)
    np.testing.assert_allclose(mine["lower_payment_failure"].reindex(theirs.index).to_numpy()[both], lo[both], rtol=1e-8)
    np.testing.assert_allclose(mine["upper_payment_failure"].reindex(theirs.index).to_numpy()[both], hi[both], rtol=1e-8)


def test_months_factor():
    h, H = 0.03, 12
    closed = sum((1 - (1 - h) ** (H - j + 1)) / h for j in range(1, H + 1))
    assert causes._months_factor(h, H) == pytest.approx(closed)
    assert causes._months_factor(0.0, H) == pytest.approx(H * (H + 1) / 2)


# ------------------------------------------------------------------------------------ the generated world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from conftest import generated_world

    return generated_world(tmp_path_factory, "causes_world", n_customers=8000, seed=11)


def test_truth_recovered(world):
    demo, ds = world
    truth = demo.truth
    cc = causes.classify_churns(ds)
    row = causes.cause_shares(cc, n_boot=100).iloc[0]
    share = truth["churn_causes"]["payment_failure_share"]
    assert row["lower"] <= share <= row["upper"], (row["lower"], share, row["upper"])
    rec = causes.dunning_recovery(ds, n_boot=200).table.set_index("days")
    for d in (7, 14, 30):
        t = truth["dunning_recovery"][str(d)]
        assert rec.loc[d, "lower"] <= t <= rec.loc[d, "upper"], (d, rec.loc[d].to_dict(), t)
    assert rec.loc[7, "share"] < rec.loc[14, "share"] < rec.loc[30, "share"]  # the planted delays show
    # the Aalen–Johansen curves add up to 1 − KM of any churn here too
    ci = causes.cumulative_incidence(cc).table.set_index("t")
    f = cc.first
    km = KaplanMeierFitter().fit(f["T"], f["E"], entry=f["entry"]).survival_function_.iloc[:, 0]
    np.testing.assert_allclose((ci["cif_payment_failure"] + ci["cif_voluntary"]).to_numpy(),
                               1 - km.reindex(ci.index).to_numpy(), atol=1e-12)


def test_cause_specific_cox_equals_lifelines(world):
    _, ds = world
    cc = causes.classify_churns(ds)
    res = causes.cause_specific_cox(ds, cc, ["plan"], "payment_failure", references={"plan": "Pro"})
    f = cc.first.merge(ds.customers[["customer_id", "plan"]], on="customer_id")
    df = pd.DataFrame({"T": f["T"], "E": ((f["E"] == 1) & (f["cause"] == "payment_failure")).astype(int),
                       "entry": f["entry"], "Basic": (f["plan"] == "Basic").astype(float),
                       "Enterprise": (f["plan"] == "Enterprise").astype(float)})
    df = df[df["T"] > 0]
    # no Enterprise customer of this world churned for a payment failure: its hazard ratio is not estimable (lifelines'
    # plain fit runs off to 4e-8), and Basic's is the fit on the other customers (the extended maximum likelihood)
    assert df.loc[df["Enterprise"] == 1, "E"].sum() == 0
    direct = CoxPHFitter().fit(df[df["Enterprise"] == 0].drop(columns="Enterprise"), "T", "E",
                               entry_col="entry").summary
    hrs = res.hazard_ratios.set_index("level")
    hr = hrs["hr"]
    assert hr["Basic"] == pytest.approx(direct.loc["Basic", "exp(coef)"], rel=1e-6)
    assert hrs.loc["Basic", "lower"] == pytest.approx(direct.loc["Basic", "exp(coef) lower 95%"], rel=1e-6)
    assert np.isnan(hr["Enterprise"]) and hrs.loc["Enterprise", "not_estimable"] == "zero"
    assert res.separation["groups"] == [{"levels": {"plan": "Enterprise"}, "customers": int(df["Enterprise"].sum())}]
    # the generator's payment failures are twice as common on Basic (6% vs 3% of attempts)
    assert hr["Basic"] > 1


def test_dunning_is_planted_on_its_own_stream(monkeypatch):
    """The dunning hook moves only payment dates, inside their month: with the hook switched off every other table,
    the churn probabilities and the earlier truth keys are the same, and payments keep their months, statuses and
    amounts. Each retry that succeeds follows its failure by 0–27 days in the same month."""
    from csanalysis.data import synth

    with_hook = synth.generate(n_customers=600, months=18, seed=5)
    monkeypatch.setattr(synth, "_plant_dunning", lambda tables, churn_prob, seed: {})
    without = synth.generate(n_customers=600, months=18, seed=5)
    for name, df in without.tables.items():
        if name != "payments":
            pd.testing.assert_frame_equal(df, with_hook.tables[name])
    pd.testing.assert_frame_equal(without.churn_prob, with_hook.churn_prob)
    assert {k: v for k, v in with_hook.truth.items() if k in without.truth} == without.truth
    assert set(with_hook.truth) - set(without.truth) == {"churn_causes", "dunning_recovery"}

    def monthly(p):
        return (p.assign(m=p["date"].dt.to_period("M")).sort_values(["customer_id", "m", "status"], kind="stable")
                [["customer_id", "m", "status", "amount"]].reset_index(drop=True))
    pd.testing.assert_frame_equal(monthly(without.tables["payments"]), monthly(with_hook.tables["payments"]))
    pay = with_hook.tables["payments"].assign(m=lambda p: p["date"].dt.to_period("M"))
    failed = pay[pay["status"] == "failed"][["customer_id", "m", "date"]]
    ok = pay[pay["status"] == "succeeded"][["customer_id", "m", "date"]]
    pairs = failed.merge(ok, on=["customer_id", "m"], suffixes=("_f", "_s"))
    delay = (pairs["date_s"] - pairs["date_f"]).dt.days
    assert len(pairs) and delay.between(0, 27).all() and delay.mean() > 2


# ------------------------------------------------------------------- monotone likelihood (tests/data/r_cox_separation)

SEP_DIR = Path(__file__).parent / "data" / "r_cox_separation"
SEP_TERMS = {"plan_Enterprise": "plan=Enterprise", "plan_Pro": "plan=Pro", "touch_model_high": "touch_model=high",
             "touch_model_low": "touch_model=low", "log2_seats": "log2(seats)",
             "acquisition_channel_outbound": "acquisition_channel=outbound",
             "acquisition_channel_partner": "acquisition_channel=partner"}


def _r_reference(design="stratified"):
    r = pd.read_csv(SEP_DIR / "reference.csv")
    return r[r["design"] == design].assign(term=lambda d: d["term"].map(SEP_TERMS)).set_index("term")


def _check_finite_against_r(hrs):
    """The finite hazard ratios, their intervals and p-values are R's extended maximum likelihood estimates
    (coxph stratified along the direction, touch_model=high left out; the same as coxph on the customers other than
    Pro/high, where R marks touch_model=high aliased)."""
    from scipy.stats import norm

    r = _r_reference()
    assert_frame = pd.testing.assert_series_equal
    assert_frame(_r_reference("without_group")["coef"], r["coef"], rtol=1e-9)
    h = hrs.set_index("term")
    finite = [t for t in r.index if t != "plan=Enterprise"]  # R's plan_Enterprise here is Enterprise + high
    z = norm.ppf(0.975)
    for t in finite:
        b, se, p = r.loc[t, ["coef", "se", "p"]]
        assert np.log(h.loc[t, "hr"]) == pytest.approx(b, rel=1e-5, abs=1e-7), t
        assert h.loc[t, "lower"] == pytest.approx(np.exp(b - z * se), rel=1e-5), t
        assert h.loc[t, "upper"] == pytest.approx(np.exp(b + z * se), rel=1e-5), t
        assert h.loc[t, "p"] == pytest.approx(p, rel=1e-4), t
    out = h.loc[["plan=Enterprise", "touch_model=high"]]
    assert out[["hr", "lower", "upper", "p"]].isna().all().all()
    assert out["not_estimable"].tolist() == ["infinite", "zero"]
    assert h.drop(index=out.index)["not_estimable"].isna().all()


def test_cox_fit_under_monotone_likelihood_equals_r():
    """The committed design of the demo's payment-failure model (tests/data/r_cox_separation/README.md)."""
    d = pd.read_csv(SEP_DIR / "demo_payment_failure.csv").rename(columns=SEP_TERMS)
    meta = [(t.split("=")[0] if "=" in t else "seats", t.split("=")[-1], "ref", t) for t in SEP_TERMS.values()]
    hrs, _, sep, keep = causes.cox_fit(d, meta, entry="entry")
    assert sep.separated and len(sep.directions) == 1
    assert keep.sum() == len(d) - 343
    _check_finite_against_r(hrs)


def test_demo_payment_failure_model_is_separated():
    """06's payment-failure model on the demo: plan=Enterprise and touch_model=high are not estimable (every
    Enterprise customer is high-touch and no Pro high-touch customer left for a payment failure), the others are
    R's; the voluntary model is the plain fit, with no separation."""
    demo = Path(__file__).resolve().parents[1] / "data" / "demo"
    if not (demo / "customers.csv").exists() and not any(demo.glob("customers.*")):
        pytest.skip("the demo data are not written (make demo)")
    ds = cs.load_dataset(demo)
    cc = causes.classify_churns(ds)
    covs = ["plan", "touch_model", "seats", "acquisition_channel"]
    res = causes.cause_specific_cox(ds, cc, covs, "payment_failure")
    sep = res.separation
    assert [t["term"] for t in sep["not_estimable"]] == ["plan=Enterprise", "touch_model=high"]
    assert [t["hazard_ratio"] for t in sep["not_estimable"]] == ["infinite", "zero"]
    assert sep["groups"] == [{"levels": {"plan": "Pro", "touch_model": "high"}, "customers": 343}]
    assert (sep["customers_left_out"], sep["customers_kept"]) == (343, 2499) and res.n == 2499
    _check_finite_against_r(res.hazard_ratios)
    vol = causes.cause_specific_cox(ds, cc, covs, "voluntary")
    assert vol.separation is None and "not_estimable" not in vol.hazard_ratios.columns
    assert vol.hazard_ratios["hr"].notna().all()


def test_cox_fit_with_a_level_dropped_whole_equals_r():
    """tests/data/r_cox_separation/dropped_level.csv (the front-page world's case, small): no Pro customer has an
    event, every Enterprise customer is high-touch and every other high-touch customer is Pro. Stratified along the
    direction (plan_Enterprise − plan_Pro − touch_model_high) the customers kept have plan_Pro = 0 and
    touch_model_high = plan_Enterprise, so the complement of the direction alone still holds a direction in which
    the stratified fit is flat (its information matrix singular: lifelines' ConvergenceError). The fit leaves it out
    too; the three terms are not estimable and the other two are R's coxph on the customers kept (R marks plan_Pro
    and touch_model_high aliased)."""
    from scipy.stats import norm

    from csanalysis.stats.separation import estimable_basis

    d = pd.read_csv(SEP_DIR / "dropped_level.csv")
    terms = ["plan_Enterprise", "plan_Pro", "touch_model_high", "touch_model_low", "x"]
    meta = [(t, "1", "0", t) for t in terms]
    hrs, _, sep, keep = causes.cox_fit(d, meta, entry="entry")
    apart = (d["plan_Pro"] == 1) | ((d["touch_model_high"] == 1) & (d["plan_Enterprise"] == 0))
    assert d.loc[apart, "E"].sum() == 0 and keep.tolist() == (~apart).tolist()
    assert len(sep.directions) == 1 and sep.infinite.tolist() == [True, True, True, False, False]
    # the root cause: the directions' complement has 4 dimensions, the fit in it only 3 that vary among those kept
    assert estimable_basis(sep.directions, 5).shape[1] == 4 and sep.basis.shape[1] == 3
    flat = np.array([[0, 1, 0, 0, 0], [1, 0, -1, 0, 0]], dtype=float)  # e_Pro and e_Enterprise − e_high
    np.testing.assert_allclose(flat @ sep.basis, 0, atol=1e-10)
    assert not sep.undetermined.any()  # the flat directions' terms are the direction's own
    h = hrs.set_index("term")
    assert h.loc[terms[:3], ["hr", "lower", "upper", "p"]].isna().all().all()
    assert h.loc[terms[:3], "not_estimable"].tolist() == ["infinite", "zero", "zero"]
    r = pd.read_csv(SEP_DIR / "reference_dropped.csv")
    for design in ("stratified", "without_group"):
        ref = r[r["design"] == design].set_index("term")
        assert ref.loc[["plan_Pro", "touch_model_high"], "coef"].isna().all()  # R: aliased
        z = norm.ppf(0.975)
        for t in ("touch_model_low", "x"):
            b, se, p = ref.loc[t, ["coef", "se", "p"]]
            # lifelines' Newton steps stop at its default precision (1e-7), R's at 1e-9: 5e-6 apart here
            assert np.log(h.loc[t, "hr"]) == pytest.approx(b, abs=1e-5), t
            assert h.loc[t, "lower"] == pytest.approx(np.exp(b - z * se), rel=2e-5), t
            assert h.loc[t, "upper"] == pytest.approx(np.exp(b + z * se), rel=2e-5), t
            assert h.loc[t, "p"] == pytest.approx(p, rel=5e-4), t  # a small p moves more with the same 5e-6
            assert h.loc[t, "not_estimable"] is None


def test_undetermined_terms_have_their_own_sentences():
    """A term that does not run off but that the finite fit leaves free (``undetermined``) is named as not
    estimable, in its own sentence after the monotone-likelihood one, in both languages, with no raw value."""
    from types import SimpleNamespace

    from csanalysis.report import i18n

    hrs = pd.DataFrame({"covariate": ["plan", "acquisition_channel", "seats"], "level": ["Pro", "partner", "seats"],
                        "reference": ["Basic", "inbound", "per doubling of seats"],
                        "term": ["plan=Pro", "acquisition_channel=partner", "log2(seats)"],
                        "hr": [np.nan, np.nan, 0.8], "lower": [np.nan, np.nan, 0.6], "upper": [np.nan, np.nan, 1.1],
                        "p": [np.nan, np.nan, 0.2], "not_estimable": ["zero", "undetermined", None],
                        "sentence": ["", "", ""]})
    sep = {"not_estimable": [{"covariate": "plan", "level": "Pro", "reference": "Basic", "term": "plan=Pro",
                              "hazard_ratio": "zero"},
                             {"covariate": "acquisition_channel", "level": "partner", "reference": "inbound",
                              "term": "acquisition_channel=partner", "hazard_ratio": "undetermined"}],
           "customers_left_out": 12, "customers_kept": 1234, "groups": [{"levels": {"plan": "Pro"}, "customers": 12}]}
    res = SimpleNamespace(hazard_ratios=hrs, separation=sep)
    try:
        for lang in ("en", "ja"):
            i18n.set_language(lang)
            notes = causes.separation_text(res, i18n.tr, lambda a: i18n.tr(f"attr.{a}"))
            assert [k for k, _ in notes] == ["causes.hr_separation", "causes.hr_separation_undetermined"]
            (_, first), (_, second) = notes
            assert "partner" not in first["terms"] and "Pro" in first["terms"]
            assert "partner" in second["terms"] and "Pro" not in second["terms"] and second["kept"] == "1,234"
            sentences = causes.hr_sentences(res, i18n.tr)
            assert sentences[1] == i18n.tr("causes.hr_not_estimable_undetermined", covariate=i18n.tr("attr.acquisition_channel"),
                                           level="partner", reference="inbound")
            for text in [*sentences, *(i18n.tr(k, **v) for k, v in notes)]:
                assert "{" not in text and not re.search(r"\b(?:nan|None|inf)\b", text), text
    finally:
        i18n.set_language("en")
