"""The cohort retention notebook (01) through the real runner (papermill → HTML): defaults, quarterly cohorts, a
segment and Japanese on the hand-built cohort10 fixture (tests/fixtures/cohort10/README.md), the revenue basis on
small generated data, and data without churn (LTV undefined, with the reason). Numbers in metrics.json are
checked against hand counts and against counts taken directly from the Dataset's spells and panel."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

import csanalysis as cs
from csanalysis import cohorts as co
from csanalysis.data import synth
from csanalysis.report.run import run_report

FIX = Path(__file__).parent / "fixtures" / "cohort10"
NB = "01_cohort_retention"
REQUIRED = ("customers", "paying_customers", "mrr", "logo_retention", "nrr_12m", "grr_12m", "monthly_churn",
            "annual_churn", "quick_ratio", "ltv", "headline")


def _strict(c):
    pytest.fail(f"{c} in metrics.json")


def _run(out: Path, data=FIX, *, params=None, lang="en", as_of="2024-06-15"):
    res = run_report([NB], data=data, as_of=as_of, out=out, params={"n_boot": 40, **(params or {})}, lang=lang,
                     run_id="r1")
    folder = res.folder / NB
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"), parse_constant=_strict)
    return folder, metrics, (folder / f"{NB}.html").read_text(encoding="utf-8")


def _estimates(d, path=""):
    """Every {estimate, lower, upper} object in metrics.json, by dotted path."""
    if isinstance(d, dict):
        if {"estimate", "lower", "upper"} <= set(d):
            yield path, d
        for k, v in d.items():
            yield from _estimates(v, f"{path}.{k}")


def _check_metrics(m):
    assert all(k in m for k in REQUIRED), [k for k in REQUIRED if k not in m]
    assert set(m["logo_retention"]) == {"1", "3", "6", "12"}
    assert m["headline"] and all(isinstance(h["label"], str) and isinstance(h["value"], str) for h in m["headline"])
    found = dict(_estimates(m))
    assert len(found) >= 10
    for path, e in found.items():
        if e["estimate"] is None:
            assert e.get("reason"), f"{path}: undefined without a reason"
        elif e["lower"] is not None and e["upper"] is not None:
            assert e["lower"] - 1e-12 <= e["estimate"] <= e["upper"] + 1e-12, (path, e)


def _section(html: str, heading: str) -> str:
    """The HTML between a section's h2 heading (not its table-of-contents link) and the next h2."""
    start = re.search(r'<h2 id="[^"]*">' + re.escape(heading), html).end()
    nxt = html.find("<h2", start)
    return html[start:nxt if nxt > 0 else len(html)]


def _text(html: str) -> str:
    return re.sub(r"<img[^>]*>", "", html)


def _clean_html(html: str):
    text = _text(html)
    for code in ("cohort_retention(", "write_metrics(", "import ", "plt.show", "load_dataset"):
        assert code not in text, code
    assert "Traceback" not in text
    assert not re.search(r"\bnan\b", re.sub(r"<[^>]+>", " ", text), flags=re.I)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("default"))


def test_defaults_on_the_fixture_match_hand_counts(default_run):
    folder, m, html = default_run
    _check_metrics(m)
    assert m["period"] == "month" and m["basis"] == "logo" and m["definition"] == "active" and m["segment"] is None
    # 10 customers; paying in May 2024 (the panel's last month): A 100, B 150, C 120, E 50, F 100, G 100, I 100
    assert (m["customers"], m["paying_customers"], m["mrr"]) == (10, 7, pytest.approx(720.0))
    # never churned since the start, pooled: month 1: E, H, J had one-month first spells → 7/10; month 3: D churned
    # in month 2 (7 → 6), nobody in month 3 (Jan and Feb cohorts) → 7/10 × 6/7 × 5/5 = 0.6
    lr = m["logo_retention"]
    assert lr["1"]["estimate"] == pytest.approx(7 / 10) and lr["3"]["estimate"] == pytest.approx(0.6)
    assert lr["1"]["lower"] < 0.7 < lr["1"]["upper"]
    assert lr["6"]["estimate"] is None and "no cohort" in lr["6"]["reason"] and lr["12"]["estimate"] is None
    # monthly churn Feb–May 2024: E (Feb), D and H (Mar), J (Apr) = 4 churns; at risk = customers paying the month
    # before: Jan 5 (A–E), Feb 7 (A–D, F–H), Mar 7 (A–C, F, G, I, J), Apr 7 (A–C, E, F, G, I) = 26
    mc = m["monthly_churn"]
    lo, hi = proportion_confint(4, 26, method="wilson")
    assert (mc["estimate"], mc["lower"], mc["upper"]) == (pytest.approx(4 / 26), pytest.approx(lo), pytest.approx(hi))
    assert m["annual_churn"]["estimate"] == pytest.approx(1 - (1 - 4 / 26) ** 12)
    assert m["churn_window"]["churned"] == 4 and m["churn_window"]["customer_months_at_risk"] == 26
    # NRR/GRR need 12 months of history: undefined with a reason; LTV defined (churn was observed), no CAC column
    assert m["nrr_12m"]["estimate"] is None and m["nrr_12m"]["reason"]
    assert m["ltv"]["ltv_revenue"]["estimate"] == pytest.approx(720 / 7 / (4 / 26))
    assert m["ltv"]["ltv_to_cac"]["estimate"] is None and "acquisition_cost" in m["ltv"]["ltv_to_cac"]["reason"]
    # the matrices as CSV: active logo retention of the January cohort (A–E) in month 1 = A–D paying = 4/5
    mat = pd.read_csv(folder / "retention_matrix.csv", index_col=0)
    assert mat.loc["2024-01", "cohort_size"] == 5 and mat.loc["2024-01", "1"] == pytest.approx(4 / 5)
    assert np.isnan(mat.loc["2024-03", "3"])  # not observable yet: blank, never zero
    for name in ("retention_cells", "pooled_curve", "mrr_movements", "rates", "churn", "ltv"):
        assert (folder / f"{name}.csv").is_file(), name
    mov = pd.read_csv(folder / "mrr_movements.csv")
    assert mov.set_index("period").loc["2024-03-01", ["new", "expansion", "churn"]].tolist() == [160, 50, 180]
    # the HTML: summary in words with intervals, the heatmap image with its grey key explained, no code
    heatmap = _section(html, "Retention by cohort")
    assert heatmap.count("<img") == 1 and "Grey rows are cohorts of fewer than 30 customers" in heatmap
    assert "15.38% (6.15–33.53%)" in html and "compounded" in html and "0.83%" in html and "0.87%" in html
    assert html.count("<img") == 3  # heatmap, pooled curve, MRR movements
    _clean_html(html)


def test_quarterly_cohorts(tmp_path):
    folder, m, html = _run(tmp_path, params={"period": "quarter"})
    _check_metrics(m)
    assert m["period"] == "quarter"
    # quarterly offsets are tenure: period 1 = months 3–5 of each customer's life; for the March starters that
    # ends in August, after as_of: period 1 cannot be observed yet (missing, with the reason)
    assert m["logo_retention"]["1"]["estimate"] is None and m["logo_retention"]["1"]["reason"]
    mat = pd.read_csv(folder / "retention_matrix.csv", index_col=0)
    assert mat.index.tolist() == ["2024-Q1"] and mat.loc["2024-Q1", "cohort_size"] == 10
    assert mat.loc["2024-Q1", "0"] == pytest.approx(1.0) and "1" not in mat.columns
    assert "started in the same quarter" in html and "Quarters since start" not in _text(html)  # axis text is in the image
    assert "<img" in _section(html, "Retention by cohort")
    _clean_html(html)


def test_segment_gives_one_heatmap_and_curve_per_plan(tmp_path):
    folder, m, html = _run(tmp_path, params={"segment": "plan"})
    _check_metrics(m)
    assert m["segment"] == "plan" and set(m["logo_retention_12m_by_segment"]) == {"Basic", "Pro"}
    assert html.count("<img") == 4  # a heatmap per plan (Basic, Pro), the curves by plan, movements
    cells = pd.read_csv(folder / "retention_cells.csv")
    assert set(cells["plan"]) == {"Basic", "Pro"} and cells["small_cohort"].all()
    curve = pd.read_csv(folder / "pooled_curve.csv").set_index(["plan", "period"])["retention"]
    # month 1, never churned: Basic A, D, I of A, D, E, H, I = 3/5; Pro B, C, F, G of B, C, F, G, J = 4/5
    assert curve[("Basic", 1)] == pytest.approx(3 / 5) and curve[("Pro", 1)] == pytest.approx(4 / 5)
    _clean_html(html)


def test_japanese_report_matches_the_english_numbers(tmp_path, default_run):
    _, m_en, _ = default_run
    folder, m, html = _run(tmp_path, lang="ja")
    _check_metrics(m)
    assert m["logo_retention"] == m_en["logo_retention"] and m["monthly_churn"] == m_en["monthly_churn"]
    assert "コホート別継続率" in html and "<img" in _section(html, "コホート別継続率")
    headings = [re.sub(r"<[^>]+>|¶", "", h).strip() for h in re.findall(r"<h[1-3][^>]*>(.*?)</h[1-3]>", html, flags=re.S)]
    for h in headings:
        assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", h), f"heading without Japanese: {h!r}"
    for english in ("Retention by cohort", "Summary", "Pooled retention curve", "Subscription metrics", "not defined"):
        assert english not in _text(html)
    assert all(re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", h["label"]) for h in m["headline"])
    _clean_html(html)


def test_revenue_basis_on_generated_data_against_spells_and_panel(tmp_path):
    data = tmp_path / "gen"
    synth.write_demo(data, n_customers=800, months=24, seed=3)
    folder, m, html = _run(tmp_path / "r", data, as_of=None,
                           params={"basis": "revenue", "definition": "unbroken", "gross_margin": 0.6, "min_cohort_size": 20})
    _check_metrics(m)
    ds = cs.load_dataset(data)
    # MRR and paying customers straight from the panel's as_of month
    last = ds.panel[ds.panel["month"] == ds.as_of_month]
    assert m["mrr"] == pytest.approx(last["mrr"].sum()) and m["paying_customers"] == last["customer_id"].nunique()
    # churn over the last 12 months straight from the spells (events ending in the window) and the panel
    # (customer-months paying in the month before each window month)
    first, end = ds.as_of_month - pd.DateOffset(months=11), ds.as_of_month
    sp = ds.spells
    churned = int(((sp["event"] == 1) & (sp["end"] >= first) & (sp["end"] <= end)).sum())
    at_risk = int(ds.panel["month"].between(first - pd.DateOffset(months=1), end - pd.DateOffset(months=1)).sum())
    assert m["churn_window"]["churned"] == churned > 0 and m["churn_window"]["customer_months_at_risk"] == at_risk
    assert m["monthly_churn"]["estimate"] == pytest.approx(churned / at_risk)
    # LTV formulas with the gross_margin parameter: ARPA ÷ churn, × 0.6
    ltv = m["ltv"]
    assert ltv["inputs"]["gross_margin"] == 0.6
    assert ltv["ltv_revenue"]["estimate"] == pytest.approx(ltv["inputs"]["arpa"]["estimate"] / (churned / at_risk))
    assert ltv["ltv_gross_margin"]["estimate"] == pytest.approx(0.6 * ltv["ltv_revenue"]["estimate"])
    assert m["nrr_12m"]["estimate"] is not None and m["headline_cohort"]["basis"] == "revenue"
    assert (folder / "pooled_curve_revenue.csv").is_file() and html.count("<img") == 5  # + the revenue curve, seat heatmap
    assert m["seats_from"] == "signup" and (folder / "seat_retention_matrix.csv").is_file()  # seats at signup only
    assert "of their starting MRR after" in html and "× 60% ÷" in html
    _clean_html(html)


def test_no_churn_leaves_ltv_undefined_with_the_reason(tmp_path):
    d = tmp_path / "calm"
    d.mkdir()
    (d / "customers.csv").write_text("customer_id,signup_date\nA,2024-01-01\nB,2024-01-01\nC,2024-02-01\n")
    rows = [f"{c},2024-0{mo}-01,{a}" for c, a, months in (("A", 100, range(1, 5)), ("B", 50, range(1, 5)),
                                                        ("C", 80, range(2, 5))) for mo in months]
    (d / "revenue.csv").write_text("customer_id,date,amount\n" + "\n".join(rows) + "\n")
    _, m, html = _run(tmp_path / "r", d, as_of="2024-04-30")
    _check_metrics(m)
    assert m["monthly_churn"]["estimate"] == 0.0 and m["churn_window"]["customer_months_at_risk"] == 2 + 3 + 3
    assert m["ltv"]["ltv_gross_margin"]["estimate"] is None and "no churn" in m["ltv"]["ltv_gross_margin"]["reason"]
    assert "Lifetime value (ARPA × gross margin ÷ monthly churn) is undefined: no churn was observed" in html
    assert m["logo_retention"]["1"]["estimate"] == pytest.approx(1.0)
    _clean_html(html)


def test_chained_curve_ignores_the_unobserved_month_before_a_left_truncated_start(tmp_path):
    """Regression (cohorts._pooled): B started two months before the data window; its month before the window is
    unknown, so its first observed month must not enter a chained step as a gain from zero (it did: step 2 was
    (100 + 100) ÷ 100 = 2, and gross revenue was NaN throughout); nor can B enter a revenue average without a
    starting MRR. Everyone pays 100 every month, so every basis retains 100% throughout."""
    (tmp_path / "customers.csv").write_text("customer_id,signup_date\nA,2024-01-01\nB,2023-11-01\n")
    (tmp_path / "revenue.csv").write_text("customer_id,date,amount\n" + "\n".join(
        f"{c},2024-0{mo}-01,100" for c in "AB" for mo in range(1, 5)) + "\n")
    ds = cs.load_dataset(tmp_path, as_of="2024-04-30")
    for basis in ("logo", "revenue", "gross_revenue"):
        for definition in ("active", "unbroken"):
            for method in ("chained", "weighted"):  # weighted revenue: B has no starting MRR, so it is left out
                r = co.pooled_curve(ds, basis=basis, definition=definition, method=method, n_boot=5)["retention"]
                np.testing.assert_allclose(r.dropna(), 1.0, err_msg=f"{basis}/{definition}/{method}")
                # A is observed through period 3; later only B (left out of weighted revenue: undefined there)
                assert r.iloc[:4].notna().all() and (r.notna().all() or method == "weighted")


def test_no_complete_cohort_gives_an_empty_matrix_not_an_error():
    """Regression (cohorts._matrix): with as_of 2024-06-15 the 2024 yearly cohort is still forming; the matrix is
    empty (it raised IndexError), and the notebook says so instead of drawing a heatmap."""
    ds = cs.load_dataset(FIX, as_of="2024-06-15")
    for basis in ("logo", "revenue", "gross_revenue"):
        res = co.cohort_retention(ds, period="year", basis=basis, by="plan", n_boot=5)
        assert len(res.matrix) == 0 and res.headline_cell(12) is None and len(res.long()) == 0
