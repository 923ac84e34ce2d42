"""Notebooks 00 and 01 on a purchase log through the real runner (papermill → HTML): the reports say lapse where
a subscription report says churn (both languages), the overview shows the gaps between purchases (checked
against a plain pandas count from the raw rows), and revenue retention starts at 100% in every cohort."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csanalysis.report.run import run_report

from conftest import purchase_log


def _log(folder: Path, buyers: int = 120) -> Path:
    """Purchases on random days of ``buyers`` buyers, 2023-01 … 2024-06, some of them free items."""
    rng = np.random.default_rng(11)
    rows = purchase_log(rng, buyers, "2023-01-02", 480, "2024-06-30",
                        amount=lambda r, i: 0.0 if r.random() < 0.1 else round(float(r.gamma(2, 30)), 2),
                        gap=lambda r, i: r.integers(15, 150))
    folder.mkdir()
    pd.DataFrame(rows, columns=["Buyer", "OrderDate", "Total"]).to_csv(folder / "orders.csv", index=False)
    (folder / "mapping.yaml").write_text(
        "layout: purchase_log\ntables:\n  revenue:\n    file: orders.csv\n"
        "    columns: {customer_id: Buyer, date: OrderDate, amount: Total}\n"
        "settings:\n  as_of: 2024-06-30\n  grace_months: 1\n")
    return folder


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    return _log(tmp_path_factory.mktemp("plog") / "log")


def test_purchase_log_reports_say_lapse_and_show_the_gaps(log, tmp_path):
    res = run_report(["00", "01"], data=log, mapping=log / "mapping.yaml", out=tmp_path, run_id="p1",
                     params={"n_boot": 30, "basis": "revenue"})
    over, coh = res.folder / "00_data_overview", res.folder / "01_cohort_retention"
    html00 = (over / "00_data_overview.html").read_text(encoding="utf-8")
    html01 = (coh / "01_cohort_retention.html").read_text(encoding="utf-8")
    # the words: lapse where a subscription report says churn
    assert "Lapse definition in force" in html00 and "a churn here is a <strong>lapse</strong>" in html00
    assert "no purchase for 2 month(s) in a row" in html00  # 1 + grace_months = 2
    assert "This is a purchase log" in html01 and "Monthly customer lapse over the last" in html01
    assert "Customer lapse rate (month)" in html01
    assert "Lapse definition" in html01  # the runner's definitions section
    assert "{term_" not in html00 + html01
    for subscription_words in ("Churn definition in force", "Monthly customer churn over", "Customer churn rate",
                               "never churned since the start"):
        assert subscription_words not in html00 + html01, subscription_words
    # the gaps between purchase months, counted from the raw rows with plain pandas
    raw = pd.read_csv(log / "orders.csv", parse_dates=["OrderDate"])
    months = (raw["OrderDate"].dt.year * 12 + raw["OrderDate"].dt.month - 1).groupby(raw["Buyer"]).unique()
    gaps = np.concatenate([np.diff(np.sort(m)) for m in months])
    m00 = json.loads((over / "metrics.json").read_text(encoding="utf-8"))
    assert m00["layout"] == "purchase_log" and m00["customers"] == raw["Buyer"].nunique() == 120
    # the overview says which reports the layout supports: all of them
    assert [r["report"] for r in m00["layout_support"]][:2] == ["00_data_overview", "01_cohort_retention"]
    assert all(r["runs"] and r["left_out_because"] is None for r in m00["layout_support"])
    assert "What these data can answer" in html00 and "purchase log (transactions only)" in html00
    g = m00["purchase_gaps"]
    assert g["returns"] == len(gaps)
    assert g["share_within_1_month"] == pytest.approx(np.mean(gaps <= 1))
    assert g["share_within_3_months"] == pytest.approx(np.mean(gaps <= 3))
    grace = int(np.min([d for d in range(1, gaps.max() + 1) if np.mean(gaps <= d) >= 0.9])) - 1
    assert g["grace_months_covering_90pct"] == grace
    assert "Months between purchases" in html00 and f"A grace period of <strong>{grace}</strong> month(s)" in html00
    table = pd.read_csv(over / "purchase_gaps.csv")
    assert table["returns"].sum() == len(gaps)
    # revenue retention relative to the first period: 100% in every cohort's period 0
    cells = pd.read_csv(coh / "retention_cells.csv")
    assert "before_window" in cells.columns and not cells["before_window"].any()
    first = cells[cells["period"] == 0]
    assert len(first) >= 12 and np.allclose(first["retention"], 1.0, rtol=0, atol=1e-12)
    matrix = pd.read_csv(coh / "retention_matrix.csv")
    assert matrix.columns[:4].tolist() == ["cohort", "cohort_size", "small_cohort", "before_window"]
    m01 = json.loads((coh / "metrics.json").read_text(encoding="utf-8"))
    assert m01["layout"] == "purchase_log" and m01["cohorts_before_window"] == []


def test_purchase_log_report_in_japanese_says_ridatsu(log, tmp_path):
    res = run_report(["01"], data=log, mapping=log / "mapping.yaml", out=tmp_path, run_id="p2", lang="ja",
                     params={"n_boot": 30})
    html = (res.folder / "01_cohort_retention" / "01_cohort_retention.html").read_text(encoding="utf-8")
    assert "このデータは購入履歴です" in html and "月次顧客離脱率" in html and "月次顧客解約率" not in html


def test_the_definitions_block_sets_lapse_in_bold_not_as_asterisks(log):
    import csanalysis as cs
    from csanalysis.report import extras, i18n

    ds = cs.load_dataset(log, mapping=log / "mapping.yaml")
    i18n.set_language("en")
    try:
        block = extras.definitions_html(ds)
    finally:
        i18n.set_layout("subscription")
    assert "<strong>lapse</strong>" in block and "**" not in block
