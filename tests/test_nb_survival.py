"""The survival notebook (02) through the runner: the proportional-hazards check with its size and Schoenfeld
plots, every spell of reactivated customers with cluster-bootstrap bands, and one set of reference levels for the
fixed and the time-varying Cox models; on generated data (in Japanese, with references given as a parameter) and
on the ten-customer fixture, where the new sections say why they cannot be shown."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from csanalysis.data import synth
from csanalysis.report import i18n
from csanalysis.report.run import run_report

NB = "02_churn_survival"
FIX = Path(__file__).parent / "fixtures" / "cohort10"


def test_generated_world_in_japanese_with_given_references(tmp_path):
    synth.write_demo(tmp_path / "d", n_customers=3000, months=36, seed=0)
    res = run_report([NB], data=tmp_path / "d", out=tmp_path / "r", lang="ja",
                     params={"references": ["plan:Pro", "touch_model:low"], "n_boot": 100})
    assert res.status == "succeeded"
    m = json.loads((res.folder / NB / "metrics.json").read_text())
    # the given references, the most common channel, in both Cox models
    assert m["references"] == {"plan": "Pro", "touch_model": "low", "acquisition_channel": "inbound"}
    for table in ("hazard_ratios", "time_varying_hazard_ratios"):
        used = {(r["covariate"], r["reference"]) for r in m[table] if r["covariate"] in m["references"]}
        assert used == set(m["references"].items()), table
    # the PH check: every term with the ratio implied early and late, and their quotient
    terms = m["ph_check"]["terms"]
    assert len(terms) == len(m["hazard_ratios"]) and m["ph_check"]["events"] > 100
    for t in terms:
        assert t["hr_ratio_24_vs_3_months"] == pytest.approx(t["hr_at_24_months"] / t["hr_at_3_months"])
        assert t["violation"] == (t in m["ph_check"]["violations"])
    # every spell: first and second spells shown with cluster-bootstrap intervals
    sp = m["spells"]
    assert sp["reactivated_customers"] >= 20 and sp["n_boot"] == 100
    for g in ("1", "2"):
        e = sp["s12_by_spell"][g]
        assert e["lower"] <= e["estimate"] <= e["upper"] and e["reason"] is None, g
    html = (res.folder / NB / f"{NB}.html").read_text(encoding="utf-8")
    ja = i18n.catalogue("ja")
    for key in ("survival.ph_heading", "survival.spells_heading", "survival.spells_title"):
        assert ja[key] in html, key
    assert html.count("<img") >= 6  # KM, spells, forest, Schoenfeld, time-varying forest, projection
    assert (res.folder / NB / "survival_by_spell.csv").is_file() and (res.folder / NB / "proportional_hazards_check.csv").is_file()


def test_tiny_fixture_says_why_the_new_sections_are_empty(tmp_path):
    res = run_report([NB], data=FIX, as_of="2024-06-15", out=tmp_path / "r")
    m = json.loads((res.folder / NB / "metrics.json").read_text())
    assert m["ph_check"]["terms"] == [] and m["ph_check"]["events"] == 4 and "at least 10" in m["ph_check"]["reason"]
    assert m["spells"]["reactivated_customers"] == 1
    assert m["spells"]["s12_by_spell"]["2"]["estimate"] is None and "only 1 spell" in m["spells"]["s12_by_spell"]["2"]["reason"]
    assert m["references"] == {"plan": "Basic"}
    html = (res.folder / NB / f"{NB}.html").read_text(encoding="utf-8")
    assert "Too few customers came back after churning" in html and "was not run: only 4 churn events" in html


def test_a_violation_is_named_with_its_size_and_refitted_stratified(tmp_path):
    """In a world where only attributes fixed at signup act (and the onboarding effect, which makes accounts differ
    within a level of an attribute), customers differ within a level, so an attribute's ratio changes over tenure
    as the riskier leave (touch model "high" against "tech" in an earlier draw
    of this world; which attribute crosses the test's threshold depends on the draw): the report names the
    strongest violation with its early and late ratio, draws it, and refits stratified on its attribute."""
    synth.write_demo(tmp_path / "d", n_customers=12000, months=24, seed=21,
                     effects={"failed_payment": False, "nps_churn": False, "usage": False, "program": False})
    res = run_report([NB], data=tmp_path / "d", out=tmp_path / "r", params={"n_boot": 50})
    m = json.loads((res.folder / NB / "metrics.json").read_text())
    v = {t["term"]: t for t in m["ph_check"]["violations"]}
    assert v, m["ph_check"]
    term, t = min(v.items(), key=lambda kv: kv[1]["p"])
    assert t["p"] < 0.05 and abs(t["hr_ratio_24_vs_3_months"] - 1) > 0.1, t
    html = (res.folder / NB / f"{NB}.html").read_text(encoding="utf-8")
    label = t["covariate"].replace("_", " ")
    assert "Proportional hazards do not hold for" in html and f"{label}: " in html
    assert f"Refitted with a separate baseline hazard for each value of {label}" in html
