"""The front page in a real browser (headless Chromium, network off) after two runs of the demo into one reports
folder: one card per headline figure with the values of the runs' own metrics.json files, the change and its noise
verdict recomputed here, a trend picture with a point for each run, the freshness warning, no console errors.
Screenshots of the front page (ja and en) and of two reports (en, ja) are kept as test artifacts in
reports/test-artifacts/ (git-ignored; the path is printed)."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from conftest import open_page

from csanalysis.data import synth
from csanalysis.report.index import write_index
from csanalysis.report.run import run_report

ARTIFACTS = Path(__file__).resolve().parents[1] / "reports" / "test-artifacts"
# every report that feeds a card (the survival report feeds none: left out to keep the test short)
# raw machine values a reader should not meet: 5+ decimals, scientific notation, NaN/None/True/False
RAW = re.compile(r"\d\.\d{5,}|\b\d(?:\.\d+)?e[-+]\d\d\b|\b(?:nan|NaN|NaT|None|True|False|inf)\b")
CARD_REPORTS = ["00_data_overview", "01_cohort_retention", "03_nps_revenue", "04_churn_risk", "05_cs_impact",
                "06_why_customers_leave", "08_forecast"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The demo (a smaller draw of the generator) run twice: in English at the end of November, in Japanese at the
    end of the data (December)."""
    base = tmp_path_factory.mktemp("front")
    synth.write_demo(base / "demo", n_customers=1500, months=30, seed=11)
    out = base / "reports"
    first = run_report(CARD_REPORTS, data=base / "demo", as_of=_month_before(base / "demo"), out=out,
                       run_id="20250101-000000-aaaa", jobs=2)
    second = run_report(CARD_REPORTS, data=base / "demo", out=out, lang="ja", run_id="20250201-000000-bbbb", jobs=2)
    return out, first, second


def _month_before(data: Path) -> str:
    """The last day of the month before the demo's own analysis date (its csanalysis.yaml)."""
    import pandas as pd
    import yaml

    as_of = pd.Timestamp(yaml.safe_load((data / "csanalysis.yaml").read_text())["settings"]["as_of"])
    return str((as_of.to_period("M") - 1).to_timestamp(how="end").date())


def _open(browser, url: str, shot: Path, kinds=("error", "warning"), width: int = 1200):
    return open_page(browser, url, shot, kinds, width)


def _metrics(run, nb: str) -> dict:
    return json.loads((run.folder / nb / "metrics.json").read_text(encoding="utf-8"))


def _beyond(a: dict, b: dict) -> bool:
    """The noise rule, written out again: se from the interval's width, |Δ| > 1.96 √(se_a² + se_b²)."""
    se = [(x["upper"] - x["lower"]) / (2 * 1.959964) for x in (a, b)]
    return abs(a["estimate"] - b["estimate"]) > 1.959964 * math.sqrt(se[0] ** 2 + se[1] ** 2)


def _cards(page) -> dict:
    return page.eval_on_selector_all(".figure", """els => Object.fromEntries(els.map(e => [e.dataset.figure, {
        value: e.querySelector('.value')?.innerText ?? null,
        ci: e.querySelector('.ci')?.innerText ?? null,
        change: e.querySelector('.change')?.innerText ?? null,
        noise: e.querySelector('.change')?.dataset.noise ?? null,
        missing: e.querySelector('.missing')?.innerText ?? null,
        svgs: e.querySelectorAll('svg.trend').length,
        points: e.querySelectorAll('svg.trend circle.pt').length,
        visible: e.getBoundingClientRect().height > 0}]))""")


def test_front_page_after_two_runs(browser, two_runs):
    out, first, second = two_runs
    print(f"\nscreenshots: {ARTIFACTS}")
    ctx, page, errors, requests = _open(browser, (out / "index.html").as_uri(), ARTIFACTS / "front-index-ja.png")
    try:
        assert not errors, errors
        assert all(u.startswith(("file:", "data:", "about:")) for u in requests), requests
        assert page.eval_on_selector("html", "e => e.lang") == "ja"  # the newest run's language
        text = page.inner_text("body")
        assert "主要指標" in text and "データの鮮度" in text
        assert not RAW.search(text), RAW.findall(text)  # readable numbers, no machine values
        assert page.eval_on_selector_all("script", "els => els.length") == 0
        cards = _cards(page)
        assert page.eval_on_selector_all(".card", "els => els.length") == 8
        assert set(cards) == {"mrr", "paying_customers", "monthly_churn", "nrr", "grr", "nps", "risk_accounts",
                              "risk_arr", "roi", "payment_failure_share", "billing_mrr", "churn_themes",
                              "forecast_mrr_12m"}
        for key, c in cards.items():
            assert c["visible"] and c["missing"] is None and c["value"], (key, c)
            assert c["svgs"] == 1 and c["points"] == 2, (key, c)  # a point for each run
            assert c["noise"] in ("beyond", "within", "exact"), (key, c)
        # the values of the newest run's metrics.json, the change from the first run's, the noise rule
        m1, m0 = _metrics(second, "01_cohort_retention"), _metrics(first, "01_cohort_retention")
        churn1, churn0 = m1["monthly_churn"], m0["monthly_churn"]
        assert cards["monthly_churn"]["value"] == f"{100 * churn1['estimate']:.2f}%"
        assert cards["monthly_churn"]["ci"] == f"95% 区間 {100 * churn1['lower']:.2f}%〜{100 * churn1['upper']:.2f}%"
        d = 100 * (churn1["estimate"] - churn0["estimate"])
        assert f"{abs(d):.2f} ポイント" in cards["monthly_churn"]["change"]
        assert cards["monthly_churn"]["noise"] == ("beyond" if _beyond(churn1, churn0) else "within")
        assert cards["nrr"]["noise"] == ("beyond" if _beyond(m1["nrr_12m"], m0["nrr_12m"]) else "within")
        assert cards["mrr"]["value"] == f"{m1['mrr']:,.0f}" and cards["mrr"]["noise"] == "exact"
        assert cards["paying_customers"]["value"] == f"{m1['paying_customers']:,}"
        nps = _metrics(second, "03_nps_revenue")["nps"]
        assert cards["nps"]["value"] == f"{nps['estimate']:,.0f}"
        risk = _metrics(second, "04_churn_risk")["list"]
        assert cards["risk_accounts"]["value"] == f"{risk['size']:,}" and cards["risk_arr"]["value"] == f"{risk['arr']:,.0f}"
        roi = _metrics(second, "05_cs_impact")["cumulative_roi"]
        assert cards["roi"]["value"] == f"{100 * roi['estimate']:.0f}%"
        # the demo's data end long before today: the page says the data are late, and which tables lag
        assert page.is_visible(".warning.stale")
        assert page.eval_on_selector_all("table.dates tbody tr", "els => els.length") >= 5
        # links to every report of both runs, and they open
        links = page.eval_on_selector_all("a", "els => els.map(e => e.getAttribute('href'))")
        for run in (first, second):
            for nb in CARD_REPORTS:
                assert f"{run.run_id}/{nb}/{nb}.html" in links
                assert (out / run.run_id / nb / f"{nb}.html").is_file()
    finally:
        ctx.close()

    write_index(out, lang="en")
    ctx, page, errors, requests = _open(browser, (out / "index.html").as_uri(), ARTIFACTS / "front-index-en.png")
    try:
        assert not errors, errors
        text = page.inner_text("body")
        assert "Headline figures" in text and "Data freshness" in text and "The data are late" in text
        assert not RAW.search(text), RAW.findall(text)
        cards = _cards(page)
        assert cards["monthly_churn"]["ci"] == f"95% interval {100 * churn1['lower']:.2f}% to {100 * churn1['upper']:.2f}%"
        assert cards["monthly_churn"]["change"].endswith(("beyond run-to-run noise", "within run-to-run noise"))
        assert all(c["points"] == 2 for c in cards.values())
    finally:
        ctx.close()


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_reports_screenshotted(browser, two_runs, lang):
    """One report of each language, opened and kept as a screenshot."""
    out, first, second = two_runs
    run = first if lang == "en" else second
    nb = "01_cohort_retention"
    ctx, page, errors, requests = _open(browser, (run.folder / nb / f"{nb}.html").as_uri(),
                                        ARTIFACTS / f"front-report-{lang}-{nb}.png", kinds=("error",))
    try:
        assert not errors, errors
        assert all(u.startswith(("file:", "data:", "about:")) for u in requests), requests
        assert ("Summary" if lang == "en" else "サマリー") in page.inner_text("body")
    finally:
        ctx.close()
    assert (ARTIFACTS / f"front-report-{lang}-{nb}.png").stat().st_size > 10_000


def test_manifest_records_each_tables_dates(two_runs):
    """The run's manifest holds each table's first and last date as the data hold them up to the analysis date
    (read here from the demo's Parquet files with pandas), its layout and the expected schedule."""
    import pandas as pd

    out, first, second = two_runs
    data = Path(second.manifest["data"])
    for run in (first, second):
        man = json.loads((run.folder / "manifest.json").read_text(encoding="utf-8"))
        assert man["layout"] == "subscription" and man["schedule"] == "monthly"
        as_of = pd.Timestamp(man["as_of"])
        expected = {}
        for name in ("revenue", "usage", "nps", "payments", "cs_activities", "cs_costs"):
            df = pd.read_parquet(data / f"{name}.parquet")
            col = "month" if name == "cs_costs" else "date"
            d = pd.to_datetime(df[col])
            d = d[d <= as_of]
            expected[name] = {"first": f"{d.min():%Y-%m-%d}", "last": f"{d.max():%Y-%m-%d}"}
        assert man["data_dates"] == expected
