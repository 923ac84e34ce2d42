"""The cohort retention notebook (01) through the real runner: defaults, quarterly cohorts, a segment, Japanese;
metrics.json follows its schema and its numbers match hand counts on the cohort10 fixture."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from csanalysis.report.run import run_report

FIX = Path(__file__).parent / "fixtures" / "cohort10"
NB = "01_cohort_retention"


def _run(tmp_path, name, params=None, lang="en"):
    res = run_report([NB], data=FIX, as_of="2024-06-15", out=tmp_path / name, params={"n_boot": 50, **(params or {})},
                     lang=lang, run_id=f"20240615-{name}")
    folder = res.folder / NB
    metrics = json.loads((folder / "metrics.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    return folder, metrics, (folder / f"{NB}.html").read_text()


def test_defaults_match_hand_counts(tmp_path):
    folder, m, html = _run(tmp_path, "default")
    # pooled unbroken logo retention (tests/test_cohorts.py, by hand): 7/10 after 1 month, 7/10 × 6/7 after 3
    assert m["logo_retention"]["1"]["estimate"] == pytest.approx(7 / 10)
    assert m["logo_retention"]["3"]["estimate"] == pytest.approx(7 / 10 * 6 / 7)
    for e in m["logo_retention"].values():
        assert e["lower"] <= e["estimate"] <= e["upper"]
    # churn over the window: D and H (March) and J (April) churned; E's gap is a churn with grace 0 too
    assert m["monthly_churn"]["estimate"] > 0 and m["monthly_churn"]["lower"] <= m["monthly_churn"]["estimate"]
    assert m["customers"] == 10 and m["headline"]
    assert html.count("<img") >= 3 and "cohort_retention(" not in html and "import " not in html
    assert (folder / "retention_matrix.csv").is_file() and (folder / "mrr_movements.csv").is_file()


def test_quarterly_segment_and_japanese(tmp_path):
    _, mq, html_q = _run(tmp_path, "quarter", {"period": "quarter"})
    assert mq["period"] == "quarter" and "Each row is a cohort (quarter)" in html_q
    # quarterly offsets are tenure: period 1 = months 3–5 of each customer's life. For the January cohort that is
    # April–June, and June is not complete at as_of 2024-06-15: partial periods are excluded, so no period 1 yet
    assert "1" not in mq["logo_retention"]
    _, mm, _ = _run(tmp_path, "monthly")
    fs, ms, html_s = _run(tmp_path, "segment", {"segment": "plan"})
    assert ms["segment"] == "plan" and html_s.count("<img") == 4  # a heatmap per plan (Basic, Pro), curve, movements
    cells = (fs / "retention_cells.csv").read_text().splitlines()
    assert cells[0].startswith("plan,") and {c.split(",")[0] for c in cells[1:]} == {"Basic", "Pro"}
    _, mj, html_j = _run(tmp_path, "ja", lang="ja")
    assert "コホート別継続率" in html_j and "Retention by cohort" not in html_j
    assert mj["logo_retention"] == mm["logo_retention"]
