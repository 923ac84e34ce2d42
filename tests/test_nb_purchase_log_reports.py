"""Notebooks 02-05 on a purchase log through the real runner (papermill → HTML), in English and Japanese: the
reports say lapse where a subscription report says churn, no word placeholder ({term_…}) is left unfilled, and
months whose purchases sum to zero (free items) or below zero (returns) do not break any report."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csanalysis.report.run import run_report

from conftest import purchase_log

NOTEBOOKS = ["02_churn_survival", "03_nps_revenue", "04_churn_risk", "05_cs_impact"]
PARAMS = {"n_boot": 20, "test_months": 3, "program_start": "2023-10-01", "capacity_by": "total"}


def _log(folder: Path) -> Path:
    """Purchases on random days of 150 buyers, 2022-07 … 2024-06; about 10% free items and 5% returns (negative
    amounts), so some buyer-months sum to zero or below."""
    rng = np.random.default_rng(23)

    def amount(r, i):
        u = r.random()
        return 0.0 if u < 0.1 else (-round(float(r.gamma(2, 20)), 2) if u < 0.15 else round(float(r.gamma(2, 30)), 2))

    # a quarter of the buyers buy every few weeks (they stay), the others less often
    rows = purchase_log(rng, 150, "2022-07-04", 600, "2024-06-30", amount,
                        gap=lambda r, i: r.integers(10, 40) if i % 4 == 0 else r.integers(15, 120 if i % 3 else 300))
    folder.mkdir()
    orders = pd.DataFrame(rows, columns=["Buyer", "OrderDate", "Total"])
    orders.to_csv(folder / "orders.csv", index=False)
    # a customer list with a plan (the notebooks' default segment): signup at the first purchase
    first = orders.groupby("Buyer", as_index=False)["OrderDate"].min()
    first.assign(Plan=np.where(rng.random(len(first)) < 0.5, "Basic", "Pro")).to_csv(folder / "buyers.csv", index=False)
    # survey answers on random days of buyers' purchase months (so most have a baseline month, some of them
    # summing to zero or below)
    early = orders[pd.to_datetime(orders["OrderDate"]) < pd.Timestamp("2024-05-20")]
    pick = pd.concat([early[early["Total"] <= 0].sample(frac=0.5, random_state=5),
                      early[early["Total"] > 0].sample(n=250, random_state=5)])
    pd.DataFrame({"Buyer": pick["Buyer"].to_numpy(), "respondent_id": [f"r{k}" for k in range(len(pick))],
                  "date": (pd.to_datetime(pick["OrderDate"]) + pd.Timedelta(days=35)).dt.strftime("%Y-%m-%d").to_numpy(),
                  "score": rng.integers(0, 11, len(pick))}).to_csv(folder / "answers.csv", index=False)
    (folder / "mapping.yaml").write_text(
        "layout: purchase_log\ntables:\n  customers:\n    file: buyers.csv\n"
        "    columns: {customer_id: Buyer, signup_date: OrderDate, plan: Plan}\n  revenue:\n    file: orders.csv\n"
        "    columns: {customer_id: Buyer, date: OrderDate, amount: Total}\n"
        "  nps:\n    file: answers.csv\n    columns: {customer_id: Buyer}\n"
        "settings:\n  as_of: 2024-06-30\n  grace_months: 1\n")
    return folder


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    return _log(tmp_path_factory.mktemp("plog2") / "log")


def _text(html: str) -> str:
    """The visible text of a report: tags, scripts and styles removed (figures are embedded images)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_log_has_zero_and_negative_months(log):
    raw = pd.read_csv(log / "orders.csv", parse_dates=["OrderDate"])
    month_sums = raw.groupby(["Buyer", raw["OrderDate"].dt.to_period("M")])["Total"].sum()
    assert (month_sums == 0).sum() >= 10 and (month_sums < 0).sum() >= 10


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_reports_02_to_05_on_a_purchase_log_say_lapse(log, tmp_path, lang):
    res = run_report(["02", "03", "04", "05"], data=log, mapping=log / "mapping.yaml", out=tmp_path, run_id=f"l{lang}",
                     lang=lang, params=PARAMS)
    texts = {nb: _text((res.folder / nb / f"{nb}.html").read_text(encoding="utf-8")) for nb in NOTEBOOKS}
    for nb, text in texts.items():
        assert "{term_" not in text and "term_churn" not in text, nb
        # what is left of "churn": file and column names (02_churn_survival, churn_probability) and the definition
        # of a lapse, which says what it replaces ("a churn here is a lapse", "where a subscription report would
        # say churn")
        if lang == "en":
            rest = re.sub(r"\w*churn_\w+|a churn here is a|would say churn", "", text)
            assert not re.search(r"\b[Cc]hurn", rest), (nb, re.findall(r".{60}\b[Cc]hurn.{60}", rest)[:5])
        else:
            rest = re.sub(r"\w*churn_\w+|ここでの解約は|解約手続き|レポートでいう「解約」", "", text)
            assert "解約" not in rest, (nb, re.findall(r".{30}解約.{30}", rest)[:5])
    # answers whose baseline month summed to zero or below: used for the lapse outcome, not for revenue change
    counts = pd.read_csv(res.folder / "03_nps_revenue" / "alignment_counts.csv")
    assert counts["no_revenue_base"].sum() > 0
    if lang == "en":
        assert "had a baseline month whose revenue summed to zero or less" in texts["03_nps_revenue"]
        assert "Lapse survival: when customers leave" in texts["02_churn_survival"]
        assert "Lapse risk: health scores judged on the future" in texts["04_churn_risk"]
        assert "Monthly lapse before and after the program" in texts["05_cs_impact"]
    else:
        assert "離脱" in texts["02_churn_survival"] and "離脱" in texts["05_cs_impact"]
