"""The churn-risk notebook (04) through the runner with non-default parameters: another scoring date, capacity per
CSM, Japanese, a kept list followed up by a later run; the CSV list in its documented layout."""
from __future__ import annotations

from pathlib import Path

import json

import pandas as pd

from csanalysis import health
from csanalysis.report.run import run_report

NB = "04_churn_risk"
DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"  # absolute: notebook runs change the cwd


def test_other_scoring_date_capacity_and_follow_up(tmp_path):
    kept = tmp_path / "r" / "risk_lists"  # the default: beside the run folders
    first = run_report([NB], data=DEMO, out=tmp_path / "r", lang="ja",
                       params={"scoring_date": "2024-06-30", "capacity": 4, "capacity_by": "csm",
                               "horizon_months": 2})
    m = json.loads((first.folder / NB / "metrics.json").read_text())
    assert m["scoring_date"].startswith("2024-06-30") and m["horizon_months"] == 2 and m["capacity"] == 4
    lst = pd.read_csv(first.folder / NB / "risk_list.csv", dtype={"customer_id": str})
    assert list(lst.columns) == list(health.LIST_COLUMNS)
    on = lst[lst["on_list"] == 1]
    assert on.groupby("csm_owner").size().max() == 4 and m["list"]["size"] == len(on)
    assert abs(m["list"]["mrr"] - on["mrr"].sum()) < 1e-6
    for k in ("model", "scorecard", "ceiling"):
        a = m["auc"][k]
        assert a["lower"] <= a["estimate"] <= a["upper"]
    html = (first.folder / NB / f"{NB}.html").read_text()
    assert "サマリー" in html and "Summary" not in html
    assert (kept / "risk_list_2024-06-30.csv").is_file()

    second = run_report([NB], data=DEMO, out=tmp_path / "r", params={"capacity": 4,
                                                                       "capacity_by": "csm", "horizon_months": 2})
    m2 = json.loads((second.folder / NB / "metrics.json").read_text())
    fu = m2["follow_up"]
    assert fu["scoring_date"] == "2024-06-30" and fu["listed"] == len(on)
    assert 0 <= fu["churned"] <= fu["listed"] and m2["list"]["new_on_list"] is not None
    assert f"List of 2024-06-30: {fu['listed']} accounts; {fu['churned']} churned" in (
        second.folder / NB / f"{NB}.html").read_text()
