"""Survival estimates against the generator's planted truth: fixed-covariate Cox (in a world without
time-varying effects), the time-varying Cox model, and the bias of the naive fixed NPS model."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from csanalysis import survival as sv
from csanalysis.report.run import run_report
from conftest import generated_world

FIXED = ["plan", "touch_model", "seats", "acquisition_channel"]
# planted HRs are against Pro / low touch / inbound (truth.json "references"); our default references are the most
# common level among customers (Basic / tech / inbound), so the planted ratio for a level is
# planted[level] ÷ planted[reference]
PLAN = {"Basic": 1.6, "Pro": 1.0, "Enterprise": 0.6}
TOUCH = {"tech": 1.3, "low": 1.0, "high": 0.8}
CHANNEL = {"inbound": 1.0, "outbound": 1.3, "partner": 0.9}


def _planted(truth: dict) -> dict:
    h = truth["hazard_ratios"]
    plan = {"Basic": h["plan"]["Basic"], "Pro": 1.0, "Enterprise": h["plan"]["Enterprise"]}
    touch = {"tech": h["touch_model"]["tech"], "low": 1.0, "high": h["touch_model"]["high"]}
    chan = {"inbound": 1.0, "outbound": h["acquisition_channel"]["outbound"], "partner": h["acquisition_channel"]["partner"]}
    return {"plan": plan, "touch_model": touch, "acquisition_channel": chan, "seats": h["log2_seats"]}


def _check_baseline(res, truth, max_width: float):
    planted = _planted(truth)
    hr = res.hazard_ratios
    for r in hr.itertuples():
        if r.covariate in ("plan", "touch_model", "acquisition_channel"):
            want = planted[r.covariate][r.level] / planted[r.covariate][r.reference]
        elif r.covariate == "seats":
            want = planted["seats"]
        else:
            continue
        assert r.lower <= want <= r.upper, (r.covariate, r.level, r.hr, r.lower, r.upper, want)
        assert np.log(r.upper) - np.log(r.lower) < max_width, (r.covariate, r.level)


@pytest.fixture(scope="module")
def fixed_world(tmp_path_factory):
    """Only the attributes fixed at signup act on churn (time-varying effects and the program switched off; so is
    the onboarding effect, which follows an event after signup, the onboarding session, by the landmark)."""
    return generated_world(tmp_path_factory, "fixedworld", n_customers=12000, months=24, seed=21,
                           effects={"failed_payment": False, "nps_churn": False, "usage": False, "program": False,
                                    "onboarding": False})


@pytest.fixture(scope="module")
def full_world(tmp_path_factory):
    """Every effect the time-varying model has terms for; the onboarding effect (churn after the landmark by whether
    the session was held by then) is switched off: the model has no onboarding term (notebook 07's landmark model
    estimates it, tests/lifecycle/test_onboarding.py)."""
    return generated_world(tmp_path_factory, "fullworld", n_customers=20000, months=24, seed=12,
                           effects={"onboarding": False})


def test_fixed_cox_covers_planted_baseline_ratios(fixed_world):
    data, ds = fixed_world
    res = sv.cox_drivers(ds, FIXED)
    _check_baseline(res, data.truth, max_width=0.75)  # log-scale width: HR intervals within ×2.1
    # with the generator's own references, each interval covers the planted ratio itself
    refs = data.truth["references"]
    given = sv.cox_drivers(ds, FIXED, references=refs, ph_check=False)
    assert given.references == {k: refs[k] for k in ("plan", "touch_model", "acquisition_channel")}
    h = data.truth["hazard_ratios"]
    hr = given.hazard_ratios.set_index(["covariate", "level"])
    for (cov, level), want in {("plan", "Basic"): h["plan"]["Basic"], ("plan", "Enterprise"): h["plan"]["Enterprise"],
                               ("touch_model", "tech"): h["touch_model"]["tech"], ("touch_model", "high"): h["touch_model"]["high"],
                               ("acquisition_channel", "outbound"): h["acquisition_channel"]["outbound"],
                               ("acquisition_channel", "partner"): h["acquisition_channel"]["partner"]}.items():
        r = hr.loc[(cov, level)]
        assert r["reference"] == refs[cov] and r["lower"] <= want <= r["upper"], (cov, level, r["hr"], want)


def _references_used(res) -> dict:
    hr = res.hazard_ratios
    cat = hr[hr["covariate"].isin(["plan", "touch_model", "acquisition_channel"])]
    return cat.groupby("covariate")["reference"].agg(lambda r: set(r)).to_dict()


def test_time_varying_model_covers_planted_effects(full_world):
    """Twelve intervals checked together: each at 99.5% (Bonferroni for a joint 95%), since at 95% each, one miss
    in twelve is expected by chance."""
    data, ds = full_world
    res = sv.time_varying_drivers(ds, FIXED, alpha=0.005)
    h = data.truth["hazard_ratios"]
    want = {("failed payment", "in the month"): h["failed_payment"], ("latest NPS", "detractor"): h["nps_detractor"],
            ("latest NPS", "passive"): h["nps_passive"], ("latest NPS", "no response yet"): 1.0,
            ("usage", "falling"): h["falling_usage"]}
    hr = res.hazard_ratios.set_index(["covariate", "level"])
    for key, v in want.items():
        r = hr.loc[key]
        assert r["lower"] <= v <= r["upper"], (key, r["hr"], r["lower"], r["upper"], v)
        assert np.log(r["upper"]) - np.log(r["lower"]) < 0.55, key
    _check_baseline(res, data.truth, max_width=0.9)
    assert "time-varying" in res.design
    # one reference level per attribute, the same in the fixed and the time-varying model (customer-months
    # would make "low" touch the most common level; customers make it "tech")
    fixed = sv.cox_drivers(ds, FIXED, ph_check=False)
    assert res.references == fixed.references == {"plan": "Basic", "touch_model": "tech", "acquisition_channel": "inbound"}
    assert _references_used(res) == _references_used(fixed) == {k: {v} for k, v in fixed.references.items()}
    refs = data.truth["references"]
    both = [sv.time_varying_drivers(ds, FIXED, references=refs), sv.cox_drivers(ds, FIXED, references=refs, ph_check=False)]
    assert _references_used(both[0]) == _references_used(both[1]) == {
        "plan": {"Pro"}, "touch_model": {"low"}, "acquisition_channel": {"inbound"}}


@pytest.fixture(scope="module")
def big_world(tmp_path_factory):
    return generated_world(tmp_path_factory, "bigworld", n_customers=50000, months=24, seed=13)


def test_naive_fixed_nps_model_is_biased_and_time_varying_is_not(big_world):
    """Treating the first NPS answer as known at signup gives the respondents their survival to the survey
    for free (immortal time): the detractor ratio is pulled towards 1 and 'no response' looks deadly.
    50,000 customers, so that the bias is larger than the naive interval's half-width."""
    data, ds = big_world
    naive = sv.naive_nps_cox(ds).hazard_ratios.set_index("level")
    tv = sv.time_varying_drivers(ds, FIXED).hazard_ratios.set_index(["covariate", "level"])
    det = data.truth["hazard_ratios"]["nps_detractor"]
    assert not (naive.loc["detractor", "lower"] <= det <= naive.loc["detractor", "upper"])  # misses the truth
    assert tv.loc[("latest NPS", "detractor"), "lower"] <= det <= tv.loc[("latest NPS", "detractor"), "upper"]
    assert naive.loc["none", "lower"] > 2.0  # an artefact: non-response has no planted effect
    assert tv.loc[("latest NPS", "no response yet"), "lower"] <= 1.0 <= tv.loc[("latest NPS", "no response yet"), "upper"]


def test_notebook_renders_on_the_snapshot_layout(tmp_path):
    fix = Path(__file__).parent / "fixtures" / "snapshot"
    res = run_report(["02_churn_survival"], data=fix, mapping=str(fix / "mapping.yaml"), out=tmp_path / "r",
                     params={"segment": "plan", "covariates": ["plan"]})
    m = json.loads((res.folder / "02_churn_survival" / "metrics.json").read_text())
    assert m["s12_overall"]["estimate"] is None or 0 <= m["s12_overall"]["estimate"] <= 1
    assert res.status == "succeeded"


def test_rmst_standard_error_matches_the_sample_mean_without_censoring():
    """Without censoring the KM RMST is the mean of min(T, h), and its standard error is the sample's SD ÷ √n
    (up to the (n − 1)/n factor of the plug-in variance)."""
    from lifelines import KaplanMeierFitter

    rng = np.random.default_rng(3)
    t = np.ceil(rng.exponential(15, size=2000))
    kmf = KaplanMeierFitter().fit(t, np.ones_like(t))
    clipped = np.minimum(t, 24)
    assert sv._rmst_se(kmf, 24) == pytest.approx(clipped.std(ddof=0) / np.sqrt(len(t)), rel=1e-6)


def test_time_varying_sampling_rule_at_large_n(full_world):
    """Above ``max_rows`` customer-months, a random share of whole customers is fitted (this path used to crash:
    lifelines' time-varying fitter has no robust variance for weights): the design says so and the intervals
    still cover the planted effects."""
    data, ds = full_world
    res = sv.time_varying_drivers(ds, FIXED, max_rows=120_000, alpha=0.005)
    assert "sampling rule: a random" in res.design
    assert 0.3 * ds.spells["customer_id"].nunique() < res.n < 0.7 * ds.spells["customer_id"].nunique()
    h = data.truth["hazard_ratios"]
    hr = res.hazard_ratios.set_index(["covariate", "level"])
    for key, v in {("failed payment", "in the month"): h["failed_payment"], ("latest NPS", "detractor"): h["nps_detractor"],
                   ("usage", "falling"): h["falling_usage"]}.items():
        assert hr.loc[key, "lower"] <= v <= hr.loc[key, "upper"], (key, hr.loc[key, "hr"], v)
