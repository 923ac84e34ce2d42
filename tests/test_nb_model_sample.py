"""Issue 21: above a stated size the per-customer models of the survival (02), NPS (03), churn-risk (04), why-they-leave
(06) and lifecycle (07) reports are fitted on a seeded sample of whole customers drawn in the engine
(csanalysis.grouped.model_dataset), every account a list ranks is still scored, and the report says so.
Forced on the demo data with a small ``model_customers``: the sentence in the report (English; Japanese for 02 and
04), the sample in metrics.json, the Cox model's customers equal to the sample's, the fits equal to those of the
same sample drawn from a direct load, the training rows counted from the demo's panel for the sample's customers,
every account paying in the scoring month scored, and the figures on all customers unchanged. The default (no
sample on the demo) is checked by every other notebook test and by benchmarks.same_outputs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import csanalysis as cs
from csanalysis import grouped, health, nps, survival
from csanalysis.lifecycle import expansion
from csanalysis.periods import month_index
from csanalysis.report import i18n
from csanalysis.report.narrative import fmt_int, fmt_pct
from csanalysis.report.parameters import parameters_of
from csanalysis.report.run import run_report

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
NBS = ("02_churn_survival", "03_nps_revenue")
RISK = "04_churn_risk"
LIFECYCLE = "07_lifecycle"
SIZE = 1_000  # of the demo's 2,935 customers


@pytest.fixture(scope="module")
def demo():
    if not (DEMO / "customers.parquet").is_file():
        pytest.skip("demo data not generated (make demo)")
    return cs.load_dataset(DEMO)


@pytest.fixture(scope="module")
def runs(demo, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    sampled = run_report(list(NBS), data=DEMO, out=out / "s", params={"model_customers": SIZE, "n_boot": 200}, jobs=1)
    full = run_report(list(NBS), data=DEMO, out=out / "f", params={"n_boot": 200}, jobs=1)
    assert sampled.status == "succeeded" and full.status == "succeeded"
    return sampled.folder, full.folder


def _cox_customers(demo, ids=None) -> int:
    """The first spells the Cox model fits, counted from the demo's spells: T = duration − (1 − event) > 0 (a spell
    censored at 0 adds nothing to the partial likelihood), of the customers ``ids`` (None: all)."""
    sp = demo.spells[demo.spells["spell"] == 1]
    if ids is not None:
        sp = sp[sp["customer_id"].astype(str).isin(set(ids))]
    return int(((sp["duration"] - (1 - sp["event"])) > 0).sum())


def _metrics(folder, nb):
    return json.loads((folder / nb / "metrics.json").read_text(encoding="utf-8"))


def test_the_default_size_is_the_policy_and_keeps_the_demo_whole(demo):
    for nb in (*NBS, RISK, "06_why_customers_leave", LIFECYCLE):
        p = parameters_of(ROOT / "notebooks" / f"{nb}.ipynb")["model_customers"]
        assert int(p["default"]) == grouped.MODEL_CUSTOMERS and p["type"] == "int", nb
    assert grouped.model_dataset(demo) is demo


def test_sampled_survival_report(demo, runs):
    s, f = runs
    ids = grouped.sample_ids(demo, SIZE / 2935, seed=0)
    m, full = _metrics(s, NBS[0]), _metrics(f, NBS[0])
    assert full["model_sample"] is None and full["cox_n"] == _cox_customers(demo) > 2_800
    sample = m["model_sample"]
    assert sample["customers"] == 2935 and sample["drawn"] == len(ids) and sample["seed"] == 0
    assert sample["fraction"] == pytest.approx(SIZE / 2935)
    assert m["cox_n"] == _cox_customers(demo, ids) < full["cox_n"]  # the Cox model's customers are the sample's
    assert len(ids) - 60 < m["cox_n"] < len(ids)
    # the fit equals lifelines' on the same customers drawn from a direct load (not the run's cache)
    sub = grouped.model_dataset(demo, max_customers=SIZE)
    covs = ["plan", "touch_model", "seats", "acquisition_channel"]
    direct = survival.cox_drivers(sub, covs, references=m["references"])
    assert direct.n == m["cox_n"]
    got = {r["term"]: r["hr"] for r in m["hazard_ratios"]}
    assert got == pytest.approx(dict(zip(direct.hazard_ratios["term"], direct.hazard_ratios["hr"])), rel=1e-9)
    assert got != pytest.approx({r["term"]: r["hr"] for r in full["hazard_ratios"]}, rel=1e-3)  # really refitted
    # the time-varying model reads the sample too; the curves, tables and LTV all customers
    assert m["time_varying_hazard_ratios"] and m["time_varying_hazard_ratios"] != full["time_varying_hazard_ratios"]
    for key in ("s12_overall", "s12_by_segment", "logrank", "ltv", "spells", "sbg", "references"):
        assert m[key] == full[key], key
    sentence = i18n.catalogue("en")["survival.model_sample"].format(
        drawn=fmt_int(len(ids)), customers=fmt_int(2935), share=fmt_pct(SIZE / 2935), term_churn="churn")
    html = (s / NBS[0] / f"{NBS[0]}.html").read_text(encoding="utf-8")
    assert f"seeded random sample of {fmt_int(len(ids))} of the 2,935 customers (34%)" in sentence
    assert html.count(sentence) == 2  # the summary and the Cox section
    assert "seeded random sample" not in (f / NBS[0] / f"{NBS[0]}.html").read_text(encoding="utf-8")


def test_sampled_nps_report(demo, runs):
    s, f = runs
    ids = set(grouped.sample_ids(demo, SIZE / 2935, seed=0))
    m, full = _metrics(s, NBS[1]), _metrics(f, NBS[1])
    assert full["model_sample"] is None and m["model_sample"]["drawn"] == len(ids)
    # NPS, its change and the coverage: all customers, as without a sample
    for key in ("nps", "nps_change", "coverage"):
        assert m[key] == full[key], key
    # the alignment and its models: the answers of the sample only (counted from the demo's answers directly)
    r = demo.nps[demo.nps["customer_id"].astype(str).isin(ids)]
    res = nps.nps_revenue(demo, [6, 12], segment="plan", n_boot=200, model_ds=grouped.model_dataset(demo, max_customers=SIZE))
    assert res.sample == m["model_sample"]
    assert len(res.alignment.table) == len(r) and set(res.alignment.table["customer_id"]) <= ids
    assert m["alignment"] == json.loads(json.dumps(res.metrics()["alignment"]))
    assert m["effects"] == json.loads(json.dumps(res.metrics()["effects"]))
    assert m["effects"]["6m"]["churn_rows"] < full["effects"]["6m"]["churn_rows"]
    sentence = i18n.catalogue("en")["nps.model_sample"].format(
        drawn=fmt_int(len(ids)), customers=fmt_int(2935), share=fmt_pct(SIZE / 2935), term_churn="churn")
    html = (s / NBS[1] / f"{NBS[1]}.html").read_text(encoding="utf-8")
    assert html.count(sentence) == 2  # the summary and the alignment section


def test_sampled_survival_report_in_japanese(demo, tmp_path):
    res = run_report([NBS[0]], data=DEMO, out=tmp_path / "r", lang="ja", params={"model_customers": SIZE, "n_boot": 100},
                     jobs=1)
    m = _metrics(res.folder, NBS[0])
    drawn = m["model_sample"]["drawn"]
    ids = grouped.sample_ids(demo, SIZE / 2935, seed=0)
    assert drawn == len(ids) and m["cox_n"] == _cox_customers(demo, ids)
    html = (res.folder / NBS[0] / f"{NBS[0]}.html").read_text(encoding="utf-8")
    assert f"顧客 2,935 社からデータエンジン内で顧客単位に無作為抽出した {fmt_int(drawn)} 社（34%" in html


def test_sampled_churn_risk_report_still_lists_every_account(demo, tmp_path):
    """04 with a small ``model_customers``: the model and its evaluation are fitted on the sample's account-months
    only (counted from the demo's panel), the report says so in both languages, and the list still ranks every
    account paying at the scoring date (counted from the panel), with the signals and the band history of a run
    without a sample."""
    sampled = run_report([RISK], data=DEMO, out=tmp_path / "s", params={"model_customers": SIZE}, jobs=1)
    full = run_report([RISK], data=DEMO, out=tmp_path / "f", jobs=1)
    ja = run_report([RISK], data=DEMO, out=tmp_path / "j", lang="ja", params={"model_customers": SIZE}, jobs=1)
    assert sampled.status == full.status == ja.status == "succeeded"
    m, f = _metrics(sampled.folder, RISK), _metrics(full.folder, RISK)
    ids = set(grouped.sample_ids(demo, SIZE / 2935, seed=0))
    assert f["model_sample"] is None
    assert m["model_sample"]["drawn"] == len(ids) and m["model_sample"]["customers"] == 2935
    # the final fit's rows: the sample's account-months of the scoring months whose windows closed by the as_of month
    pm = month_index(demo.panel["month"])
    as_of, first = demo.as_of_m, month_index(demo.data_start) + 2
    closed = (pm >= first) & (pm <= as_of - 3 - demo.settings.grace_months)
    mine = demo.panel["customer_id"].astype(str).isin(ids)
    assert m["current_training"]["rows"] == int((closed & mine).sum()) < f["current_training"]["rows"]
    assert f["current_training"]["rows"] == int(closed.sum())
    assert m["auc"]["model"] != f["auc"]["model"]  # really refitted
    # every account paying at the scoring date is on the ranked list, with the same signals and bands
    paying = set(demo.panel.loc[pm == as_of, "customer_id"].astype(str))
    lists = [pd.read_csv(r.folder / RISK / "risk_list.csv", dtype={"customer_id": str}) for r in (sampled, full)]
    assert set(lists[0]["customer_id"]) == paying and len(lists[0]) == len(paying) == m["accounts_scored"]
    a, b = (x.set_index("customer_id").sort_index() for x in lists)
    pd.testing.assert_series_equal(a["scorecard_band"], b["scorecard_band"])
    pd.testing.assert_series_equal(a["mrr"], b["mrr"])
    assert m["health_trend"]["band_history"] == f["health_trend"]["band_history"]
    en = i18n.catalogue("en")["health.model_sample"].format(
        drawn=fmt_int(len(ids)), customers=fmt_int(2935), share=fmt_pct(SIZE / 2935), term_churn="churn")
    assert "seeded random sample of" in en
    assert (sampled.folder / RISK / f"{RISK}.html").read_text(encoding="utf-8").count(en) == 1
    assert "seeded random sample" not in (full.folder / RISK / f"{RISK}.html").read_text(encoding="utf-8")
    html_ja = (ja.folder / RISK / f"{RISK}.html").read_text(encoding="utf-8")
    assert f"顧客 2,935 社からデータエンジン内で顧客単位に無作為抽出した {fmt_int(len(ids))} 社（34%" in html_ja

def test_sampled_causes_report(demo, tmp_path):
    """06's cause-specific Cox models on the engine sample: the sample in metrics.json and in the report (en), the
    hazard ratios those of a direct fit on the sampled customers' first spells (each churn with the cause the full
    data gave it), and every other figure (shares, curves, recovery, billing list, texts) that of all customers."""
    from csanalysis import causes
    from csanalysis.data.attributes import present

    nb = "06_why_customers_leave"
    assert int(parameters_of(ROOT / "notebooks" / f"{nb}.ipynb")["model_customers"]["default"]) == grouped.MODEL_CUSTOMERS
    s = run_report([nb], data=DEMO, out=tmp_path / "s", params={"model_customers": SIZE, "n_boot": 50}, jobs=1)
    f = run_report([nb], data=DEMO, out=tmp_path / "f", params={"n_boot": 50}, jobs=1)
    assert s.status == "succeeded" and f.status == "succeeded"
    m, full = _metrics(s.folder, nb), _metrics(f.folder, nb)
    ids = grouped.sample_ids(demo, SIZE / 2935, seed=0)
    assert full["model_sample"] is None
    assert m["model_sample"]["drawn"] == len(ids) and m["model_sample"]["customers"] == 2935
    # the fits: on the sample's first spells, with the causes classified on all customers
    cc = causes.classify_churns(demo)
    covs = present(demo, ["plan", "touch_model", "seats", "acquisition_channel"])
    refs = survival.reference_levels(demo, covs, [])
    sub = grouped.model_dataset(demo, max_customers=SIZE)
    for k in causes.CAUSES:
        direct = causes.cause_specific_cox(sub, cc, covs, k, references=refs)
        first = cc.first[cc.first["customer_id"].isin(set(ids))]
        # under monotone likelihood (the sample's payment-failure model, as the demo's) the customers in a group
        # without a churn of the cause are left out and the not-estimable terms have no ratio (causes.cox_fit)
        sep = direct.separation
        assert (m.get("hazard_ratios_not_estimable", {}).get(k)) == sep
        assert direct.n == int((first["T"] > 0).sum()) - (sep["customers_left_out"] if sep else 0) < len(ids)
        assert direct.events == int(((first["E"] == 1) & (first["cause"] == k)).sum())
        got = {r["term"]: r["hr"] for r in m["hazard_ratios"][k]}
        want = dict(zip(direct.hazard_ratios["term"], direct.hazard_ratios["hr"]))
        assert {t for t, v in got.items() if v is None} == {t for t, v in want.items() if v != v}
        got = {t: v for t, v in got.items() if v is not None}
        assert got == pytest.approx({t: want[t] for t in got}, rel=1e-9)
        whole = {r["term"]: r["hr"] for r in full["hazard_ratios"][k] if r["hr"] is not None}
        assert {t: got[t] for t in whole if t in got} != pytest.approx({t: whole[t] for t in whole if t in got}, rel=1e-3)
    for key in ("churns", "churns_by_cause", "payment_failure_share", "payment_failure_mrr_share", "by_segment",
                "cumulative_incidence", "recovery", "billing_list", "scenario", "voice"):
        assert m[key] == full[key], key
    sentence = i18n.catalogue("en")["causes.model_sample"].format(
        drawn=fmt_int(len(ids)), customers=fmt_int(2935), share=fmt_pct(SIZE / 2935), term_churn="churn")
    assert (s.folder / nb / f"{nb}.html").read_text(encoding="utf-8").count(sentence) == 1
    assert "seeded random sample" not in (f.folder / nb / f"{nb}.html").read_text(encoding="utf-8")


# ---------------------------------------------------------------- 07: the churn-risk and expansion scores


@pytest.fixture(scope="module")
def lifecycle_run(demo, tmp_path_factory):
    res = run_report([LIFECYCLE], data=DEMO, out=tmp_path_factory.mktemp("runs") / "s",
                     params={"model_customers": SIZE, "n_boot": 100}, jobs=1)
    assert res.status == "succeeded"
    folder = res.folder / LIFECYCLE
    return json.loads((folder / "metrics.json").read_text(encoding="utf-8")), (folder / f"{LIFECYCLE}.html").read_text(encoding="utf-8")


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


def test_sampled_lifecycle_report(demo, lifecycle_run):
    m, html = lifecycle_run
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
