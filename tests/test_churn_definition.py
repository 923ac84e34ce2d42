"""The one churn definition at its edges: churn in the as_of month, censoring, grace periods, reactivation,
customers who started before the data window, mid-month as_of, the default as_of and data_start."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import csanalysis as cs


def _load(tmp_path: Path, months: dict[str, list[str]], signup: dict[str, str] | None = None, **kw):
    """``months``: customer → paid months ('2024-01'); 100 MRR in each."""
    d = tmp_path / "src"
    d.mkdir(exist_ok=True)
    signup = signup or {}
    cust = pd.DataFrame({"customer_id": list(months), "signup_date": [signup.get(c, months[c][0] + "-01") for c in months]})
    cust.to_csv(d / "customers.csv", index=False)
    rows = [(c, m + "-01", 100) for c, ms in months.items() for m in ms]
    pd.DataFrame(rows, columns=["customer_id", "date", "amount"]).to_csv(d / "revenue.csv", index=False)
    return cs.load_dataset(d, **kw)


def _spell(ds, customer, spell=1) -> dict:
    r = ds.spells[(ds.spells.customer_id == customer) & (ds.spells.spell == spell)].iloc[0]
    return {"start": f"{r.start:%Y-%m}", "last_paid": f"{r.last_paid:%Y-%m}",
            "end": None if pd.isna(r.end) else f"{r.end:%Y-%m}", "duration": int(r.duration), "event": int(r.event),
            "entry": int(r.entry)}


def test_churn_in_the_as_of_month_and_censoring(tmp_path):
    ds = _load(tmp_path, {"A": ["2024-01", "2024-02", "2024-03", "2024-04"], "B": ["2024-01", "2024-02", "2024-03"],
                          "C": ["2024-02", "2024-03", "2024-04"]}, as_of="2024-04-30")
    # B's last paid month is March: it churned in April, the as_of month (observed)
    assert _spell(ds, "B") == {"start": "2024-01", "last_paid": "2024-03", "end": "2024-04", "duration": 3, "event": 1, "entry": 0}
    # A pays in the as_of month: censored
    assert _spell(ds, "A") == {"start": "2024-01", "last_paid": "2024-04", "end": None, "duration": 4, "event": 0, "entry": 0}
    assert _spell(ds, "C")["event"] == 0 and _spell(ds, "C")["duration"] == 3


@pytest.mark.parametrize("grace,expected", [
    (0, [("2024-01", "2024-02", "2024-03", 2, 1), ("2024-04", "2024-06", None, 3, 0)]),  # the gap is a churn
    (1, [("2024-01", "2024-06", None, 6, 0)]),  # a one-month gap is within the grace period: one spell
    (2, [("2024-01", "2024-06", None, 6, 0)]),
])
def test_grace_periods_and_reactivation(tmp_path, grace, expected):
    ds = _load(tmp_path, {"A": ["2024-01", "2024-02", "2024-04", "2024-05", "2024-06"]}, as_of="2024-06-30",
               grace_months=grace)
    got = [(f"{r.start:%Y-%m}", f"{r.last_paid:%Y-%m}", None if pd.isna(r.end) else f"{r.end:%Y-%m}", r.duration, r.event)
           for r in ds.spells.itertuples()]
    assert got == expected
    panel = ds.panel[ds.panel.customer_id == "A"]
    assert panel["spell"].tolist() == ([1, 1, 2, 2, 2] if grace == 0 else [1] * 5)
    assert panel["tenure"].tolist() == [0, 1, 3, 4, 5]
    assert panel["spell_month"].tolist() == ([0, 1, 0, 1, 2] if grace == 0 else [0, 1, 3, 4, 5])


def test_grace_censors_the_last_g_months(tmp_path):
    ds = _load(tmp_path, {"A": ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05"], "B": ["2024-01", "2024-02", "2024-03", "2024-04"],
                          "C": ["2024-01", "2024-02", "2024-03"]}, as_of="2024-06-30", grace_months=1)
    # last paid May (as_of − 1) with g = 1: censored; last paid April: churned in May (nothing in May or June)
    assert _spell(ds, "A")["event"] == 0
    assert _spell(ds, "B")["event"] == 1 and _spell(ds, "B")["end"] == "2024-05"
    assert _spell(ds, "C")["event"] == 1 and _spell(ds, "C")["end"] == "2024-04"


def test_customer_who_started_before_the_data_window(tmp_path):
    ds = _load(tmp_path, {"A": ["2024-01", "2024-02"], "B": ["2024-01", "2024-02", "2024-03"]},
               signup={"A": "2023-07-15"}, as_of="2024-03-31")
    assert _spell(ds, "A") == {"start": "2023-07", "last_paid": "2024-02", "end": "2024-03", "duration": 8, "event": 1, "entry": 6}
    assert ds.panel.loc[ds.panel.customer_id == "A", "tenure"].tolist() == [6, 7]
    assert _spell(ds, "B")["entry"] == 0
    # with an explicit earlier data_start, A's first paid month is not the window start: no truncation assumed
    ds2 = _load(tmp_path, {"A": ["2024-01", "2024-02"], "B": ["2024-01", "2024-02", "2024-03"]},
                signup={"A": "2023-07-15"}, as_of="2024-03-31", data_start="2023-06-01")
    assert _spell(ds2, "A")["entry"] == 0 and _spell(ds2, "A")["start"] == "2024-01"


def test_mid_month_as_of_ends_the_panel_at_the_previous_month_end(tmp_path):
    ds = _load(tmp_path, {"A": ["2024-01", "2024-02", "2024-03"], "B": ["2024-01", "2024-02"]}, as_of="2024-03-15")
    assert ds.as_of_month == pd.Timestamp("2024-02-01")
    assert ds.panel["month"].max() == pd.Timestamp("2024-02-01")
    assert _spell(ds, "A")["event"] == 0 and _spell(ds, "B")["event"] == 0  # February is the last observed month
    assert ds.report.counts["revenue"]["cut_after_as_of"] == 0  # A's 2024-03-01 invoice is before as_of …
    assert ds.report.reconciliation["MRR spread into months after as_of"] == pytest.approx(100.0)  # … but after the panel


def test_default_as_of_is_the_end_of_the_last_complete_month(tmp_path):
    ds = _load(tmp_path, {"A": ["2024-01", "2024-02", "2024-03"]})
    assert str(ds.as_of) == "2024-02-29"  # 2024-03-01 is the latest date: March is not complete
    d = tmp_path / "src"
    (d / "revenue.csv").write_text("customer_id,date,amount\nA,2024-01-01,100\nA,2024-03-31,100\n")
    assert str(cs.load_dataset(d).as_of) == "2024-03-31"
