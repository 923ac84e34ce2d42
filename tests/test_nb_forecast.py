"""The forecast notebook (08) through the runner: on generated data in Japanese (its numbers are the module's with
the same parameters, its metrics pass their schema, the page is Japanese), and on a purchase log."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import csanalysis as cs
from csanalysis import forecast
from csanalysis.data import synth
from csanalysis.report.run import run_report

NB = "08_forecast"
FIX = Path(__file__).parent / "fixtures"
FAST = {"n_sims": 50, "backtest_sims": 20, "backtest_origins": 4}


def test_generated_world_in_japanese(tmp_path):
    synth.write_demo(tmp_path / "d", n_customers=800, months=30, seed=4)
    res = run_report([NB], data=tmp_path / "d", out=tmp_path / "r", lang="ja", params={**FAST, "target_churn": 0.01})
    out = res.folder / NB
    m = json.loads((out / "metrics.json").read_text())
    ds = cs.load_dataset(tmp_path / "d")
    f = forecast.forecast(ds, n_sims=50, target_churn=0.01)
    assert m["mrr"]["12m"]["estimate"] == pytest.approx(f.at(12).estimate)
    assert m["mrr"]["12m"]["lower"] == pytest.approx(f.at(12).lower)
    assert m["mrr_now"] == pytest.approx(f.mrr_now_) and m["scenario"]["target_churn"] == 0.01
    assert m["backtest"]["n_origins"] == 4 and m["backtest"]["1m"]["origins"] == 4
    html = (out / f"{NB}.html").read_text(encoding="utf-8")
    assert "来年の売上" in html and "Summary" not in html and "80% の幅" in html


def test_purchase_log(tmp_path):
    fix = FIX / "purchase_log"
    res = run_report([NB], data=fix, mapping=fix / "mapping.yaml", out=tmp_path / "r", params=FAST)
    m = json.loads((res.folder / NB / "metrics.json").read_text())
    assert m["mrr_now"] > 0 and m["mrr"]["3m"]["estimate"] is not None


def test_nobody_paying_now_says_so(tmp_path):
    """All revenue in January, the analysis at the end of March: no customer pays in the last month, so there is
    nothing to forecast from; the report is published and says why (issue 18's little-data rule)."""
    d = tmp_path / "one_month"
    d.mkdir()
    (d / "customers.csv").write_text("customer_id,signup_date,plan\nA,2024-01-01,Basic\nB,2024-01-05,Pro\n")
    (d / "revenue.csv").write_text("customer_id,date,amount\nA,2024-01-01,100\nB,2024-01-05,100\n")
    res = run_report([NB], data=d, as_of="2024-03-31", out=tmp_path / "r", params=FAST)
    m = json.loads((res.folder / NB / "metrics.json").read_text())
    assert m["customers_now"] == 0 and m["mrr"]["12m"]["estimate"] is None
    assert "nothing to forecast from" in m["mrr"]["12m"]["reason"]
    assert "No forecast" in (res.folder / NB / f"{NB}.html").read_text(encoding="utf-8")
