"""Issue 21: above a stated size the two scores fitted in the lifecycle report (07) — the churn-risk score behind the
renewal calendar and the expansion score with its evaluation — are fitted on a seeded engine sample of whole
customers (csanalysis.grouped.model_dataset), every paying account is still scored, and the report says so.
Forced on the demo data with a small ``model_customers``: the sentence in the report, the sample in metrics.json,
the training rows counted from the demo's panel for the sample's customers only, every account paying in the
as_of month scored, the calendar's contracts and ARR those of the full data, and the fits really refitted. The
default (no sample on the demo) is checked by the other notebook tests and by benchmarks.same_outputs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import csanalysis as cs
from csanalysis import grouped, health
from csanalysis.lifecycle import expansion
from csanalysis.periods import month_index
from csanalysis.report import i18n
from csanalysis.report.narrative import fmt_int, fmt_pct
from csanalysis.report.parameters import parameters_of
from csanalysis.report.run import run_report

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
NB = "07_lifecycle"
SIZE = 1_000  # of the demo's 2,935 customers


@pytest.fixture(scope="module")
def demo():
    if not (DEMO / "customers.parquet").is_file():
        pytest.skip("demo data not generated (make demo)")
    return cs.load_dataset(DEMO)


@pytest.fixture(scope="module")
def run(demo, tmp_path_factory):
    res = run_report([NB], data=DEMO, out=tmp_path_factory.mktemp("runs") / "s",
                     params={"model_customers": SIZE, "n_boot": 100}, jobs=1)
    assert res.status == "succeeded"
    folder = res.folder / NB
    return json.loads((folder / "metrics.json").read_text(encoding="utf-8")), (folder / f"{NB}.html").read_text(encoding="utf-8")


def _paying_at(demo, m: int, ids=None) -> set:
    """The accounts paying in month index ``m``, read from the demo's panel (of the customers ``ids``; None: all)."""
    p = demo.panel
    ok = np.asarray(month_index(p["month"])) == m
    got = set(p.loc[ok, "customer_id"].astype(str))
    return got if ids is None else got & set(ids)


def _history_rows(demo, ids, first: int, last: int) -> int:
    """Paid account-months of the customers ``ids`` in scoring months ``first`` … ``last`` (the demo's panel)."""
    p = demo.panel
    m = np.asarray(month_index(p["month"]))
    return int(((m >= first) & (m <= last) & p["customer_id"].astype(str).isin(set(ids)).to_numpy()).sum())


def test_the_default_size_is_the_policy_and_keeps_the_demo_whole(demo):
    p = parameters_of(ROOT / "notebooks" / f"{NB}.ipynb")["model_customers"]
    assert int(p["default"]) == grouped.MODEL_CUSTOMERS and p["type"] == "int"
    assert grouped.model_dataset(demo) is demo


def test_sampled_lifecycle_report(demo, run):
    m, html = run
    ids = grouped.sample_ids(demo, SIZE / 2935, seed=0)
    sample = m["model_sample"]
    assert sample["customers"] == 2935 and sample["drawn"] == len(ids) and sample["seed"] == 0
    assert sample["fraction"] == pytest.approx(SIZE / 2935)
    T = demo.as_of_m
    e = m["expansion"]
    # every account paying in the scoring month is scored (the full data's), not the sample's alone
    assert e["accounts_scored"] == len(_paying_at(demo, T)) > len(_paying_at(demo, T, ids))
    # the final fit's rows: the sample's paid account-months of the scoring months whose windows closed
    first = demo.data_start_m + 2
    last_closed = demo.last_closed_month(e["horizon_months"], demo.settings.grace_months)
    assert e["current_training"]["rows"] == _history_rows(demo, ids, first, last_closed)
    # the candidates come from every paying account; the fit is the one on the sample drawn from a direct load
    sub = grouped.model_dataset(demo, max_customers=SIZE)
    direct = expansion.expansion_propensity(demo, horizon=e["horizon_months"], capacity=e["capacity"],
                                            n_boot=100, model_ds=sub, truth=expansion.load_truth(DEMO))
    assert len(direct.current) == e["accounts_scored"] and set(direct.current["customer_id"].astype(str)) == _paying_at(demo, T)
    assert set(direct.test["customer_id"].astype(str)) <= set(ids)  # judged on the sample's later months
    assert e["auc"]["model"]["estimate"] == pytest.approx(direct.evaluations["model"].auc["estimate"], rel=1e-9)
    full = expansion.expansion_propensity(demo, horizon=e["horizon_months"], capacity=e["capacity"], n_boot=100)
    assert full.train_rows > e["current_training"]["rows"]
    assert not np.allclose(full.model.coef_, direct.model.coef_, rtol=1e-3)  # really refitted
    # the renewal calendar: the same contracts and ARR as with every customer, probabilities from the sample's fit
    risk = health.churn_risk(demo, horizon=3, test_months=0, importance=False)
    cal = health.renewal_summary(health.renewal_calendar(health.risk_list(risk)), seed=0).set_index("window_days")
    for w, got in m["renewal"]["calendar"]["windows"].items():
        assert got["contracts"] == cal.loc[int(w), "contracts"] and got["arr"] == pytest.approx(cal.loc[int(w), "arr"])
    assert any(got["expected_arr_lost"]["estimate"] != pytest.approx(cal.loc[int(w), "expected_arr_lost"], rel=1e-6)
               for w, got in m["renewal"]["calendar"]["windows"].items())
    sentence = i18n.catalogue("en")["lifecycle.model_sample"].format(
        drawn=fmt_int(len(ids)), customers=fmt_int(2935), share=fmt_pct(SIZE / 2935), term_churn="churn")
    assert f"seeded random sample of {fmt_int(len(ids))} of the 2,935 customers (34%)" in sentence
    assert html.count(sentence) == 3  # the summary, the renewal calendar and the expansion section


def test_churn_risk_fits_the_sample_and_scores_every_account(demo):
    sub = grouped.model_dataset(demo, max_customers=SIZE)
    ids = set(sub.customers["customer_id"].astype(str))
    res = health.churn_risk(demo, test_months=0, importance=False, model_ds=sub)
    full = health.churn_risk(demo, test_months=0, importance=False)
    T, first = demo.as_of_m, demo.data_start_m + 2
    assert set(res.current["customer_id"].astype(str)) == _paying_at(demo, T) == set(full.current["customer_id"].astype(str))
    assert res.train_rows == _history_rows(demo, ids, first, demo.last_closed_month(3, demo.settings.grace_months))
    assert res.train_rows < full.train_rows
    # the scoring month's signals are every account's own: the same as without a sample
    cols = ["customer_id", "days_since_login", "utilisation", "mrr", "scorecard_points"]
    assert res.current[cols].equals(full.current[cols])
    assert not np.allclose(res.current["p_model"], full.current["p_model"], rtol=1e-3)
    # model_ds=ds is no sample: the same numbers as without it
    same = health.churn_risk(demo, test_months=0, importance=False, model_ds=demo)
    assert np.array_equal(same.current["p_model"].to_numpy(), full.current["p_model"].to_numpy())
