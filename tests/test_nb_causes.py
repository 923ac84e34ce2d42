"""The churn-causes notebook (06) through the runner: on generated data in Japanese (its numbers are the module's,
its metrics pass their schema, the page is Japanese), and on a purchase log (the report says it does not apply)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

import csanalysis as cs
from csanalysis import causes
from csanalysis.data import synth
from csanalysis.report.run import run_report

NB = "06_why_customers_leave"
FIX = Path(__file__).parent / "fixtures"


def test_generated_world_in_japanese(tmp_path):
    synth.write_demo(tmp_path / "d", n_customers=1500, months=30, seed=4)
    res = run_report([NB], data=tmp_path / "d", out=tmp_path / "r", lang="ja", params={"uplift_pp": 2.0})
    out = res.folder / NB
    m = json.loads((out / "metrics.json").read_text())
    ds = cs.load_dataset(tmp_path / "d")
    cc = causes.classify_churns(ds)
    assert m["estimable"] and m["churns"] == len(cc.churns) and m["sources"] == ["payments"]
    share = (cc.churns["cause"] == "payment_failure").mean()
    assert m["payment_failure_share"]["estimate"] == share
    assert m["scenario"]["uplift"] <= 0.02 + 1e-12 and m["scenario"]["horizon_months"] == 12
    assert set(m["recovery"]) == {"7d", "14d", "30d"} and set(m["cumulative_incidence"]["payment_failure"]) == {"6", "12", "24"}
    lst = pd.read_csv(out / "billing_list.csv", dtype={"customer_id": str})
    assert list(lst.columns) == causes.BILLING_COLUMNS and m["billing_list"]["size"] == len(lst)
    html = (out / f"{NB}.html").read_text(encoding="utf-8")
    assert "顧客が去る理由" in html and "Summary" not in html and "支払い失敗" in html


def test_purchase_log_says_it_does_not_apply(tmp_path):
    fix = FIX / "purchase_log"
    res = run_report([NB], data=fix, mapping=fix / "mapping.yaml", out=tmp_path / "r")
    m = json.loads((res.folder / NB / "metrics.json").read_text())
    assert m["estimable"] is False and m["payment_failure_share"]["estimate"] is None
    assert "purchase log" in m["reason"]
    html = (res.folder / NB / f"{NB}.html").read_text(encoding="utf-8")
    assert "does not apply" in html
