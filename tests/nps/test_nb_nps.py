"""The NPS-and-revenue notebook (03) through the runner: on a generated world with defaults, with another
horizon, segment and primary test in Japanese, and on data without any survey (reasons instead of numbers)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from csanalysis.data import synth
from csanalysis.report.run import run_report

NB = "03_nps_revenue"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("nb_nps") / "d"
    synth.write_demo(out, n_customers=3000, months=36, seed=0)
    return out


def _metrics(res):
    return json.loads((res.folder / NB / "metrics.json").read_text(encoding="utf-8"))


def test_defaults_render_with_the_primary_test_in_the_summary(world, tmp_path):
    res = run_report([NB], data=world, out=tmp_path / "r", params={"n_boot": 300})
    m = _metrics(res)
    assert m["available"] and m["horizons"] == [6, 12] and m["segment"] == "plan"
    p = m["primary_test"]
    assert p["spec"] == "churn_6m_detractor_vs_promoter" and p["significant"] is True
    assert p["lower"] > 1 and p["lower"] <= p["estimate"] <= p["upper"] and p["mde"] > 1
    assert -100 <= m["nps"]["lower"] <= m["nps"]["estimate"] <= m["nps"]["upper"] <= 100
    for k in ("6m", "12m"):
        for cat in ("detractor", "passive", "promoter"):
            c = m["categories"][k][cat]
            assert c["churn_rate"]["lower"] <= c["churn_rate"]["estimate"] <= c["churn_rate"]["upper"]
            assert c["mrr_change_pct"]["lower"] <= c["mrr_change_pct"]["estimate"] <= c["mrr_change_pct"]["upper"]
    roles = [c["role"] for c in m["comparisons"]]
    assert roles.count("primary") == 1 and roles.count("exploratory") == len(roles) - 1
    assert m["alignment"]["6m"]["window_incomplete"] > 0  # the last survey's windows are not complete yet
    assert len(m["headline"]) == 2 and "1." in m["headline"][1]["value"]
    html = (res.folder / NB / f"{NB}.html").read_text(encoding="utf-8")
    assert "Summary" in html and "times as often" in html and "associations, not effects" in html
    assert (res.folder / NB / "outcomes_by_category_6m.csv").is_file() and (res.folder / NB / "comparisons.csv").is_file()


def test_other_horizon_segment_and_primary_in_japanese(world, tmp_path):
    res = run_report([NB], data=world, out=tmp_path / "r", lang="ja",
                     params={"horizons": [3, 9], "segment": "touch_model", "survey_period": "year",
                             "primary_test": "revenue_9m_promoter_vs_detractor", "n_boot": 300})
    m = _metrics(res)
    assert m["horizons"] == [3, 9] and m["segment"] == "touch_model" and m["period"] == "year"
    p = m["primary_test"]
    assert p["outcome"] == "revenue" and p["horizon"] == 9 and p["measure"] == "difference_pp"
    assert p["lower"] <= p["estimate"] <= p["upper"]
    assert set(m["categories"]) == {"3m", "9m"}
    html = (res.folder / NB / f"{NB}.html").read_text(encoding="utf-8")
    assert "サマリー" in html and "Summary" not in html and "相関（関連）であって効果ではありません" in html


def test_no_survey_data_says_so(tmp_path):
    fix = Path(__file__).parents[1] / "fixtures" / "cohort10"
    res = run_report([NB], data=fix, as_of="2024-06-15", out=tmp_path / "r")
    m = _metrics(res)
    assert m["available"] is False and m["nps"]["estimate"] is None and "no NPS" in m["nps"]["reason"]
    assert m["primary_test"]["estimate"] is None and m["primary_test"]["reason"]
    html = (res.folder / NB / f"{NB}.html").read_text(encoding="utf-8")
    assert "needs NPS survey responses" in html
