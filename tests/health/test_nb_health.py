"""The churn-risk notebook (04) through the runner with non-default parameters: another scoring date, capacity per
CSM, Japanese, a kept list followed up by a later run; the CSV list in its documented layout."""
from __future__ import annotations

from pathlib import Path

import json

import pandas as pd

from csanalysis import health
from csanalysis.health import trend as health_trend
from csanalysis.report.run import run_report

NB = "04_churn_risk"
DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"  # absolute: notebook runs change the cwd


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
    # health over time (issue 19): no earlier list kept, so compared with the previous month's; in Japanese
    trend = m["health_trend"]
    assert trend["declined"]["source"] == "previous_month" and trend["declined"]["previous_date"] == "2024-05-31"
    assert trend["band_history"]["months"] == ["2023-07", "2024-06"]
    declined = pd.read_csv(first.folder / NB / "declined_list.csv", dtype={"customer_id": str})
    assert list(declined.columns) == list(health_trend.DECLINED_COLUMNS) and len(declined) == trend["declined"]["declined"]
    assert "ヘルスの推移" in html and "前月末に作ったリスト" in html

    second = run_report([NB], data=DEMO, out=tmp_path / "r", params={"capacity": 4,
                                                                       "capacity_by": "csm", "horizon_months": 2})
    m2 = json.loads((second.folder / NB / "metrics.json").read_text())
    fu = m2["follow_up"]
    assert fu["scoring_date"] == "2024-06-30" and fu["listed"] == len(on)
    assert 0 <= fu["churned"] <= fu["listed"] and m2["list"]["new_on_list"] is not None
    html2 = (second.folder / NB / f"{NB}.html").read_text()
    assert f"List of 2024-06-30: {fu['listed']} accounts; {fu['churned']} churned" in html2
    # the declined list compares with the kept list of the previous run (2024-06-30), not the previous month
    d2 = m2["health_trend"]["declined"]
    assert d2["source"] == "archive" and d2["previous_date"] == "2024-06-30" and d2["reason"] is None
    assert "Compared with the list of the previous run (2024-06-30)" in html2 and "Accounts whose health declined" in html2
