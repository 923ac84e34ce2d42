"""The front page's numbers (csanalysis.report.front) on hand-made run folders: the change since the previous run,
the noise rule computed by hand, figures a run does not hold, the trend, the data freshness; and its HTML
(csanalysis.report.index): cards in both languages, missing figures said plainly, user strings escaped."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from csanalysis.report import front
from csanalysis.report.index import render, write_index
from csanalysis.report.run import ParameterError, run_report

DEMO_DATA = "/data/demo"


def est(e, lo=None, hi=None, reason=None):
    return {"estimate": e, "lower": lo, "upper": hi, "reason": reason}


def cohort(mrr=100_000.0, paying=500, churn=est(0.020, 0.018, 0.022), nrr=est(0.99, 0.96, 1.02),
           grr=est(0.92, 0.90, 0.94)):
    return {"as_of": "2025-01-31", "headline": [], "mrr": mrr, "paying_customers": paying, "monthly_churn": churn,
            "nrr_12m": nrr, "grr_12m": grr}


def make_run(out: Path, run_id: str, *, published: str, as_of: str = "2025-01-31", data: str = DEMO_DATA,
             notebooks: dict | None = None, started: str | None = None, data_dates: dict | None = None,
             lang: str = "en", schedule: str | None = None, layout: str = "subscription") -> Path:
    """A published run folder: ``notebooks`` maps a report to its metrics dict, to None (succeeded, no
    metrics.json) or to ("left out", reason)."""
    folder = out / run_id
    folder.mkdir(parents=True)
    entries = {}
    for nb, metrics in (notebooks or {}).items():
        if isinstance(metrics, tuple):
            entries[nb] = {"status": "left out", "reason": metrics[1]}
            continue
        entries[nb] = {"status": "succeeded", "parameters": {}, "seconds": 1.5}
        (folder / nb).mkdir()
        (folder / nb / f"{nb}.html").write_text("<html></html>", encoding="utf-8")
        if metrics is not None:
            (folder / nb / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    manifest = {"run_id": run_id, "started": started or f"{published[:10]}T08:00:00+00:00", "data": data,
                "data_fingerprint": "abc123", "as_of": as_of, "lang": lang, "layout": layout, "status": "succeeded",
                "notebooks": entries, "published": published}
    if data_dates is not None:
        manifest["data_dates"] = data_dates
    if schedule is not None:
        manifest["schedule"] = schedule
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def figure(page: front.FrontPage, key: str) -> front.FigureData:
    return next(fd for c in page.cards for fd in c.figures if fd.figure.key == key)


# ---- the noise rule, by hand -------------------------------------------------------------------------------------

def test_noise_rule_by_hand():
    """se = width / (2 × 1.959964); beyond when |Δ| > 1.959964 × √(se₀² + se₁²). Two intervals of width 0.004:
    se = 0.0010204, threshold 1.959964 × √2 × 0.0010204 = 0.0028284 (= 0.004/√2)."""
    prev = front.Value(0.020, 0.018, 0.022)
    assert prev.se == pytest.approx(0.004 / 3.919928, rel=1e-6)
    # Δ = 0.004: beyond (the intervals just touch)
    assert front.noise(front.Value(0.024, 0.022, 0.026), prev) == "beyond"
    # Δ = 0.003: the intervals overlap (0.021–0.022) yet the change is beyond noise: 0.003 > 0.0028284
    assert front.noise(front.Value(0.023, 0.021, 0.025), prev) == "beyond"
    # Δ = 0.0028: just inside the threshold 0.0028284
    assert front.noise(front.Value(0.0228, 0.0208, 0.0248), prev) == "within"
    assert front.noise(front.Value(0.0172, 0.0152, 0.0192), prev) == "within"  # a fall, same size
    assert front.noise(front.Value(0.0170, 0.0150, 0.0190), prev) == "beyond"  # a fall of 0.003
    # unequal widths: se 0.001 and 0.003 → threshold 1.959964 × √(1e-6 + 9e-6) = 0.0061980
    a = front.Value(0.5, 0.5 - 1.959964 * 0.001, 0.5 + 1.959964 * 0.001)
    assert front.noise(front.Value(0.5062, 0.5062 - 1.959964 * 0.003, 0.5062 + 1.959964 * 0.003), a) == "beyond"
    assert front.noise(front.Value(0.5061, 0.5061 - 1.959964 * 0.003, 0.5061 + 1.959964 * 0.003), a) == "within"
    assert 1.959964 * math.sqrt(1e-6 + 9e-6) == pytest.approx(0.0061980, abs=1e-7)
    # counts change exactly; a missing interval leaves the verdict unknown; a missing value has none
    assert front.noise(front.Value(510, exact=True), front.Value(500, exact=True)) == "exact"
    assert front.noise(front.Value(0.02), prev) == "unknown"
    assert front.noise(front.Value(None, missing="index.missing.not_run"), prev) is None


# ---- cards from metrics.json files -------------------------------------------------------------------------------

def test_change_since_previous_run_and_trend_over_kept_runs(tmp_path):
    make_run(tmp_path, "r1", published="2025-01-05T00:00:00+00:00", as_of="2024-11-30",
             notebooks={"01_cohort_retention": cohort(mrr=90_000.0, paying=480, churn=est(0.020, 0.018, 0.022))})
    make_run(tmp_path, "r2", published="2025-02-05T00:00:00+00:00", as_of="2024-12-31",
             notebooks={"01_cohort_retention": cohort(mrr=95_000.0, paying=490, churn=est(0.021, 0.019, 0.023))})
    make_run(tmp_path, "r3", published="2025-03-05T00:00:00+00:00", as_of="2025-01-31",
             notebooks={"01_cohort_retention": cohort(mrr=100_000.0, paying=500, churn=est(0.025, 0.023, 0.027))})
    page = front.gather(tmp_path)
    assert [r.run_id for r in page.runs] == ["r3", "r2", "r1"]
    mrr = figure(page, "mrr")
    assert mrr.current == front.Value(100_000.0, exact=True)
    assert mrr.change == 5_000.0 and mrr.noise == "exact" and mrr.previous_run.run_id == "r2"
    assert [v.estimate for _, v in mrr.trend] == [90_000.0, 95_000.0, 100_000.0]  # oldest first
    churn = figure(page, "monthly_churn")
    assert churn.change == pytest.approx(0.004) and churn.noise == "beyond"
    assert (churn.current.lower, churn.current.upper) == (0.023, 0.027)
    assert figure(page, "paying_customers").change == 10
    # NRR unchanged: Δ = 0, within noise
    assert figure(page, "nrr").change == 0 and figure(page, "nrr").noise == "within"
    html = render(page, "en")
    card = re.search(r'<div class="figure" data-figure="monthly_churn">.*?</svg></div>', html).group(0)
    assert "2.50%" in card and "95% interval 2.30% to 2.70%" in card
    assert "+0.40 pp since the run of 2024-12-31" in card and "beyond run-to-run noise" in card
    assert card.count('<circle class="pt"') == 3 and '<polyline class="line"' in card
    mrr_card = re.search(r'data-figure="mrr">.*?</svg></div>', html).group(0)
    assert "100,000" in mrr_card and "+5,000" in mrr_card and "the change is exact" in mrr_card


def test_first_run_has_no_change(tmp_path):
    make_run(tmp_path, "r1", published="2025-01-05T00:00:00+00:00", notebooks={"01_cohort_retention": cohort()})
    page = front.gather(tmp_path)
    churn = figure(page, "monthly_churn")
    assert churn.previous is None and churn.change is None and churn.noise is None
    html = render(page, "en")
    assert "No earlier run on the same data to compare with" in html
    assert html.count('<circle class="pt"') == 5  # one dot per figure of the cohort report


def test_runs_on_another_source_are_listed_but_not_compared(tmp_path):
    make_run(tmp_path, "r1", published="2025-01-05T00:00:00+00:00",
             notebooks={"01_cohort_retention": cohort(mrr=90_000.0)})
    make_run(tmp_path, "other", published="2025-02-05T00:00:00+00:00", data="/data/other",
             notebooks={"01_cohort_retention": cohort(mrr=5.0)})
    make_run(tmp_path, "r3", published="2025-03-05T00:00:00+00:00",
             notebooks={"01_cohort_retention": cohort(mrr=100_000.0)})
    page = front.gather(tmp_path)
    assert [r.run_id for r in page.compared] == ["r3", "r1"]
    assert figure(page, "mrr").change == 10_000.0 and figure(page, "mrr").previous_run.run_id == "r1"
    html = render(page, "en")
    assert 'id="run-other"' in html and "Runs on another data source (1) are listed but not compared." in html


def test_missing_figures_say_why(tmp_path):
    """No NPS table (report left out), a report not run, a report without metrics.json, a figure not estimable and
    a figure the report does not record: each card says so instead of breaking."""
    make_run(tmp_path, "r1", published="2025-01-05T00:00:00+00:00", notebooks={
        "01_cohort_retention": cohort(churn=est(None, reason="no customer-months at risk")),
        "03_nps_revenue": ("left out", "the data hold no NPS survey table"),
        "04_churn_risk": None,
        "05_cs_impact": {"as_of": "2025-01-31", "headline": [], "estimable": False},
    })
    page = front.gather(tmp_path)
    assert figure(page, "nps").current == front.Value(None, missing="index.missing.left_out",
                                                      detail="the data hold no NPS survey table")
    assert figure(page, "risk_accounts").current.missing == "index.missing.no_metrics"
    assert figure(page, "roi").current.missing == "index.missing.not_recorded"
    assert figure(page, "monthly_churn").current == front.Value(
        None, missing="index.missing.not_estimable", detail="no customer-months at risk")
    assert figure(page, "mrr").current.present
    for lang, words in (("en", ["Not available for this data: the report was left out.",
                                "Reason: the data hold no NPS survey table", "Not estimable in this run.",
                                "Reason: no customer-months at risk", "the report wrote no figures",
                                "Not recorded by this run&#x27;s report."]),
                        ("ja", ["このデータでは算出できません", "この実行では推定できません。", "理由：no customer-months at risk"])):
        html = render(page, lang)
        for w in words:
            assert w in html, (lang, w)
        nps = re.search(r'data-figure="nps">.*?</div>', html).group(0)
        assert "<svg" not in nps  # no trend without a value
    # a report not in the run at all (a run of a subset of notebooks)
    make_run(tmp_path, "r2", published="2025-02-05T00:00:00+00:00", notebooks={"00_data_overview": {
        "as_of": "2025-01-31", "headline": [], "mrr_as_of": 123.0, "paying_customers_as_of": 7}})
    page = front.gather(tmp_path)
    assert figure(page, "nps").current.missing == "index.missing.not_run"
    # MRR falls back to the data overview's figure when the cohort report did not run
    assert figure(page, "mrr").current == front.Value(123.0, exact=True)
    assert figure(page, "paying_customers").current == front.Value(7.0, exact=True)
    churn = figure(page, "monthly_churn")
    assert churn.change is None and churn.previous is not None
    assert "Not in the previous run" not in render(page, "en")  # the current value is missing: no change line
    # a figure present now but missing before: no change, said plainly
    make_run(tmp_path, "r3", published="2025-03-05T00:00:00+00:00", notebooks={"03_nps_revenue": {
        "as_of": "2025-01-31", "headline": [], "nps": est(-18.0, -23.0, -14.0)}})
    page = front.gather(tmp_path)
    assert figure(page, "nps").change is None
    assert "Not in the previous run (2025-01-31): no change to show" in render(page, "en")


def test_reasons_and_table_names_are_escaped(tmp_path):
    make_run(tmp_path, "r1", published="2025-01-05T00:00:00+00:00",
             notebooks={"03_nps_revenue": ("left out", "<script>alert(1)</script> & more")},
             data_dates={"<b>odd</b>": {"first": "2024-01-01", "last": "2025-01-30"}})
    html = render(front.gather(tmp_path), "en")
    assert "<script>" not in html and "<b>odd</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html and "&lt;b&gt;odd&lt;/b&gt;" in html


# ---- freshness -----------------------------------------------------------------------------------------------------

DATES = {"revenue": {"first": "2022-01-01", "last": "2025-01-30"},
         "nps": {"first": "2022-04-01", "last": "2024-11-10"},
         "cs_costs": {"first": "2023-07-01", "last": "2025-01-01"}}  # month-stamped: covers January


def test_freshness_on_schedule_and_a_table_behind():
    """Monthly: P + G = 1 month + 15 days. Limit for tables: 2025-01-31 − 1 month − 15 days = 2024-12-16 (the NPS
    table, ending 2024-11-10, is behind). Limit for the run made 2025-02-20: 2025-01-05; newest data 2025-01-31 (the
    month-stamped costs cover January) → on schedule, 20 days old."""
    f = front.freshness({"as_of": "2025-01-31", "started": "2025-02-20T09:00:00+00:00", "data_dates": DATES})
    tables = {t.name: t for t in f.tables}
    assert tables["cs_costs"].last.isoformat() == "2025-01-31" and tables["cs_costs"].lag_days == 0
    assert tables["revenue"].lag_days == 1 and not tables["revenue"].behind
    assert tables["nps"].behind and tables["nps"].lag_days == 82
    assert f.newest.isoformat() == "2025-01-31" and f.age_days == 20 and f.stale is False
    assert f.limit_days == 46  # 2025-02-20 back to 2025-01-05


def test_freshness_late_data_warn():
    # run made 2025-04-01: limit 2025-03-01 − 15 days = 2025-02-14; newest 2025-01-31 → late, 60 days old
    f = front.freshness({"as_of": "2025-01-31", "started": "2025-04-01T09:00:00+00:00", "data_dates": DATES})
    assert f.stale is True and f.age_days == 60
    # exactly at the limit is on time: a run made 2025-03-15 has the limit 2025-02-15 − 15 days = 2025-01-31
    assert front.freshness({"as_of": "2025-01-31", "started": "2025-03-15T00:00:00+00:00",
                            "data_dates": DATES}).stale is False  # limit 2025-01-31
    assert front.freshness({"as_of": "2025-01-31", "started": "2025-03-16T00:00:00+00:00",
                            "data_dates": DATES}).stale is True  # limit 2025-02-01
    # weekly: 7 + 3 days; the same data 20 days old are late
    f = front.freshness({"as_of": "2025-01-31", "started": "2025-02-20T09:00:00+00:00", "data_dates": DATES,
                         "schedule": "weekly"})
    assert f.schedule == "weekly" and f.stale is True and f.limit_days == 10
    with pytest.raises(ValueError, match="hourly"):
        front.freshness({"as_of": "2025-01-31"}, "hourly")


def test_freshness_on_the_page(tmp_path):
    make_run(tmp_path, "r1", published="2025-04-01T10:00:00+00:00", started="2025-04-01T09:00:00+00:00",
             notebooks={"01_cohort_retention": cohort()}, data_dates=DATES)
    html = render(front.gather(tmp_path), "en")
    assert ('The data are late: the newest data (2025-01-31) are 60 days older than this run (2025-04-01), while a '
            'monthly schedule expects at most 46 days.') in html
    assert "Tables ending well before the analysis date 2025-01-31: NPS survey." in html
    assert re.search(r'<tr class="behind"><td>NPS survey</td><td>2022-04-01</td><td>2024-11-10</td><td class="num">82</td>', html)
    ja = render(front.gather(tmp_path), "ja")
    assert "データが古くなっています" in ja and "NPS 調査" in ja
    # weekly set for the page: the limit changes
    write_index(tmp_path, schedule="weekly")
    assert "weekly schedule expects at most 10 days" in (tmp_path / "index.html").read_text(encoding="utf-8")


def test_a_run_without_dates_says_so(tmp_path):
    make_run(tmp_path, "r1", published="2025-01-05T00:00:00+00:00", notebooks={"01_cohort_retention": cohort()})
    page = front.gather(tmp_path)
    assert page.freshness.tables is None and page.freshness.stale is None
    assert "This run did not record its tables&#x27; dates" in render(page, "en")


# ---- the page ------------------------------------------------------------------------------------------------------

def test_page_language_links_status_and_failed_runs(tmp_path):
    make_run(tmp_path, "r1", published="2025-01-05T00:00:00+00:00", notebooks={"01_cohort_retention": cohort()})
    make_run(tmp_path, "r2", published="2025-02-05T00:00:00+00:00", lang="ja",
             notebooks={"01_cohort_retention": cohort(), "03_nps_revenue": ("left out", "no NPS")})
    failed = tmp_path / "failed" / "r3"
    failed.mkdir(parents=True)
    (failed / "manifest.json").write_text(json.dumps({"run_id": "r3", "finished": "2025-02-06T00:00:00+00:00",
                                                      "status": "failed"}), encoding="utf-8")
    path = write_index(tmp_path)  # the newest run's language
    html = path.read_text(encoding="utf-8")
    assert '<html lang="ja">' in html and "主要指標" in html and "月次の顧客解約率" in html
    assert "その後の実行が失敗し" in html and "r3" in html
    assert 'href="r2/01_cohort_retention/01_cohort_retention.html"' in html
    assert 'href="r1/01_cohort_retention/01_cohort_retention.html"' in html
    assert "対象外：no NPS" in html
    en = write_index(tmp_path, lang="en").read_text(encoding="utf-8")
    assert '<html lang="en">' in en and "Headline figures" in en and "Monthly customer churn" in en
    assert "Newest run r2: analysis date 2025-01-31, made on 2025-02-05, succeeded." in en
    assert "A later run failed and published nothing: r3." in en
    assert "<script" not in en  # no script: works offline
    # a purchase log says lapse
    make_run(tmp_path, "r4", published="2025-03-05T00:00:00+00:00", layout="purchase_log",
             notebooks={"01_cohort_retention": cohort()})
    assert "Monthly customer lapse" in write_index(tmp_path, lang="en").read_text(encoding="utf-8")
    # a failed run older than the newest published one is not a warning
    assert "A later run failed" not in write_index(tmp_path, lang="en").read_text(encoding="utf-8")


def test_empty_reports_folder(tmp_path):
    assert "No published runs yet." in write_index(tmp_path, lang="en").read_text(encoding="utf-8")


def test_runner_refuses_an_unknown_schedule(tmp_path):
    with pytest.raises(ParameterError, match="--schedule 'hourly'"):
        run_report(data=tmp_path, out=tmp_path / "reports", schedule="hourly")
    assert set(front.SCHEDULES) == {"daily", "weekly", "monthly", "quarterly"}


def test_cli_index_writes_the_page_in_the_language_asked(tmp_path):
    from typer.testing import CliRunner

    from csanalysis.cli import app

    make_run(tmp_path, "r1", published="2025-01-05T00:00:00+00:00", notebooks={"01_cohort_retention": cohort()},
             data_dates=DATES, started="2025-02-20T09:00:00+00:00")
    runner = CliRunner()
    res = runner.invoke(app, ["index", "--out", str(tmp_path), "--lang", "ja"])
    assert res.exit_code == 0, res.output
    assert "主要指標" in (tmp_path / "index.html").read_text(encoding="utf-8")
    res = runner.invoke(app, ["index", "--out", str(tmp_path), "--lang", "en", "--schedule", "weekly"])
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert res.exit_code == 0 and "Headline figures" in page and "The data are late" in page  # 20 days > 7 + 3
    for args, word in ((["--lang", "fr"], "--lang 'fr'"), (["--schedule", "hourly"], "--schedule 'hourly'")):
        res = runner.invoke(app, ["index", "--out", str(tmp_path), *args])
        assert res.exit_code == 2 and word in res.output, res.output
    res = runner.invoke(app, ["index", "--out", str(tmp_path / "none")])
    assert res.exit_code == 2 and "--out" in res.output and not (tmp_path / "none").exists()
