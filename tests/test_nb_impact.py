"""The impact notebook (05) through the runner: on generated data with a planted program, and on data whose
pre-program period is too short (the report says the effect cannot be estimated instead of printing a number)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from csanalysis.data import synth
from csanalysis.report.run import run_report

NB = "05_cs_impact"


def test_planted_program_and_japanese(tmp_path):
    data = synth.write_demo(tmp_path / "d", n_customers=4000, months=30, seed=8)
    start = data.truth["program_start"]
    res = run_report([NB], data=tmp_path / "d", out=tmp_path / "r", lang="ja",
                     params={"program_start": start, "gross_margin": 0.7, "plan_months": 6})
    m = json.loads((res.folder / NB / "metrics.json").read_text())
    assert m["estimable"] and m["hazard_ratio"]["lower"] <= m["hazard_ratio"]["estimate"] <= m["hazard_ratio"]["upper"]
    assert m["planning"]["months"] == 6 and m["cumulative_roi"]["estimate"] is not None
    html = (res.folder / NB / f"{NB}.html").read_text()
    assert "関連であって効果ではありません" in html and "Summary" not in html


def test_too_short_pre_period_says_so(tmp_path):
    fix = Path(__file__).parent / "fixtures" / "cohort10"
    res = run_report([NB], data=fix, as_of="2024-06-15", out=tmp_path / "r", params={"program_start": "2024-02-01"})
    m = json.loads((res.folder / NB / "metrics.json").read_text())
    assert m["estimable"] is False and m["hazard_ratio"]["estimate"] is None
    assert "cannot be estimated" in m["hazard_ratio"]["reason"]
    html = (res.folder / NB / f"{NB}.html").read_text()
    assert "cannot be estimated" in html
