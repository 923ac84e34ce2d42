"""A CRM snapshot through the report runner: the reports that need calendar history are left out with the
reason (named, they are refused with exit 2), and the survival report runs with its history-only sections
saying why they are left out; its numbers are lifelines' on the file's own two columns."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from lifelines import KaplanMeierFitter

from csanalysis.report import i18n
from csanalysis.report import parameters
from csanalysis.report.run import ParameterError, run_report

from test_snapshot_survival import MAPPING, _export

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def telco(tmp_path_factory):
    d = tmp_path_factory.mktemp("telco")
    df = _export(n=800, seed=5)
    df.to_csv(d / "telco_export.csv", index=False)
    (d / "mapping.yaml").write_text(MAPPING)
    return d, df


def test_reports_that_need_history_are_left_out_with_the_reason(telco, tmp_path, monkeypatch):
    d, df = telco
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    for nb in ("00_data_overview", "01_cohort_retention", "05_cs_impact"):
        shutil.copy(ROOT / "notebooks" / f"{nb}.ipynb", nbdir)
    monkeypatch.setattr(parameters, "notebooks_dir", lambda: nbdir)
    out = tmp_path / "reports"
    with pytest.raises(ParameterError, match="01_cohort_retention is left out on the snapshot layout"):
        run_report(["01"], data=d, mapping=str(d / "mapping.yaml"), out=out)
    res = run_report(data=d, mapping=str(d / "mapping.yaml"), out=out, lang="ja")
    ja = i18n.catalogue("ja")["layout.snapshot.no_history"]
    assert res.notebooks["01_cohort_retention"] == {"status": "left out", "reason": ja}
    assert res.notebooks["05_cs_impact"]["status"] == "left out" and res.notebooks["00_data_overview"]["status"] == "succeeded"
    assert not (res.folder / "01_cohort_retention").exists()
    # the overview lists what the layout supports, with the reasons, and describes the snapshot
    m00 = json.loads((res.folder / "00_data_overview" / "metrics.json").read_text(encoding="utf-8"))
    support = {r["report"]: r for r in m00["layout_support"]}
    assert support["00_data_overview"]["runs"] and support["02_churn_survival"]["runs"]
    assert not support["01_cohort_retention"]["runs"] and support["01_cohort_retention"]["left_out_because"] == ja
    assert not support["03_nps_revenue"]["runs"] and not support["05_cs_impact"]["runs"]
    assert m00["snapshot"]["active"] == int((df["Churn"] == "No").sum()) and m00["snapshot"]["churned"] == int((df["Churn"] == "Yes").sum())
    assert m00["snapshot"]["tenure_max"] == int(df["tenure"].max()) and m00["snapshot"]["tenure_min"] == 0
    html00 = (res.folder / "00_data_overview" / "00_data_overview.html").read_text(encoding="utf-8")
    assert i18n.catalogue("ja")["overview.supports_heading"] in html00
    assert ja in (out / "index.html").read_text(encoding="utf-8")


def test_survival_report_on_a_snapshot_equals_lifelines_and_says_what_is_left_out(telco, tmp_path):
    d, df = telco
    nb = "02_churn_survival"
    res = run_report([nb], data=d, mapping=str(d / "mapping.yaml"), out=tmp_path / "r",
                     params={"covariates": ["plan"], "n_boot": 50})
    m = json.loads((res.folder / nb / "metrics.json").read_text())
    ref = KaplanMeierFitter().fit(df["tenure"], (df["Churn"] == "Yes").astype(int))
    assert m["s12_overall"]["estimate"] == pytest.approx(float(ref.survival_function_at_times(12).iloc[0]), abs=1e-9)
    med = ref.median_survival_time_
    assert (m["median_lifetime_months"]["estimate"] == med) if np.isfinite(med) else m["median_lifetime_months"]["reason"] == "not reached"
    assert m["sbg"] is None and m["time_varying_hazard_ratios"] == []
    assert m["ltv"]["naive"]["estimate"] is None and "no calendar history" in m["ltv"]["naive"]["reason"]
    html = (res.folder / nb / f"{nb}.html").read_text(encoding="utf-8")
    en = i18n.catalogue("en")
    assert html.count(en["layout.snapshot.no_history"].split(",")[0]) >= 2  # time-varying drivers and projection
    assert en["definition.churn_snapshot"].split(":")[0] in html


def test_a_segment_or_covariate_the_data_lack_is_said_not_fatal(telco, tmp_path):
    """A new user's first run keeps the defaults: a segment the export does not have gives the curves for all
    customers and a sentence naming the attributes that can split them; covariates it lacks are named."""
    d, df = telco
    nb = "02_churn_survival"
    res = run_report([nb], data=d, mapping=str(d / "mapping.yaml"), out=tmp_path / "r",
                     params={"segment": "region", "covariates": ["plan", "MonthlyCharges"], "n_boot": 20})
    m = json.loads((res.folder / nb / "metrics.json").read_text())
    assert m["segment"] is None and list(m["s12_by_segment"]) == ["All customers"]
    html = (res.folder / nb / f"{nb}.html").read_text(encoding="utf-8")
    assert "region is not an attribute of these data" in html and "a segment may be one of: plan" in html
    assert "Not in these data, so not in the model: MonthlyCharges." in html
    assert [h["covariate"] for h in m["hazard_ratios"]] == ["plan", "plan"]
