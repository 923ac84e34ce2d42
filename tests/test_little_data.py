"""Too little data for an analysis (issue 18): one customer, or all revenue in one month. Every report is
published and the sections that cannot be computed say what they need (before: a ValueError from the log-rank
test, a ZeroDivisionError from the concordance, an IndexError archiving an empty risk list)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from csanalysis.report import i18n
from csanalysis.report.run import run_report

CASES = {
    "one_customer": ("customer_id,signup_date,plan\nA,2024-01-01,Basic\n",
                     "customer_id,date,amount\nA,2024-01-01,100\nA,2024-02-01,100\nA,2024-03-01,100\n"),
    "one_month": ("customer_id,signup_date,plan\nA,2024-01-01,Basic\nB,2024-01-05,Pro\nC,2024-01-09,Pro\n",
                  "customer_id,date,amount\nA,2024-01-01,100\nB,2024-01-05,100\nC,2024-01-09,50\n"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_report_is_published_and_says_what_it_needs(tmp_path, case):
    customers, revenue = CASES[case]
    d = tmp_path / case
    d.mkdir()
    (d / "customers.csv").write_text(customers)
    (d / "revenue.csv").write_text(revenue)
    res = run_report(data=d, as_of="2024-03-31", out=tmp_path / "r", jobs=2)
    assert res.status == "succeeded" and all(v["status"] == "succeeded" for v in res.notebooks.values())
    html = (res.folder / "02_churn_survival" / "02_churn_survival.html").read_text(encoding="utf-8")
    en = i18n.catalogue("en")
    m = json.loads((res.folder / "02_churn_survival" / "metrics.json").read_text())
    if case == "one_customer":
        assert en["survival.logrank_one_group"].split("{")[0] in html and m["logrank"]["p_value"] is None
        assert en["survival.cox_skipped"].split(":")[0] in html
    else:
        assert en["survival.c_undefined"].split(" (")[0] in html
    risk = json.loads((res.folder / "04_churn_risk" / "metrics.json").read_text())
    assert risk is not None
