"""Exports that do not look like ours load through a mapping file; spells and panels asserted by hand."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import csanalysis as cs
from csanalysis import cohorts as co
from csanalysis import survival as sv

FIX = Path(__file__).parent / "fixtures"


def _load(name: str, **kw):
    return cs.load_dataset(FIX / name, mapping=FIX / name / "mapping.yaml", **kw)


def _rows(df, cols):
    out = []
    for r in df[cols].itertuples(index=False):
        out.append(tuple(f"{v:%Y-%m}" if isinstance(v, pd.Timestamp) else (None if pd.isna(v) else v) for v in r))
    return out


def test_purchase_log_semicolons_day_first_dates_customers_from_first_purchase():
    ds = _load("purchase_log")
    assert ds.customers.set_index("customer_id")["signup_date"].dt.strftime("%Y-%m-%d").to_dict() == {
        "u1": "2024-01-03", "u2": "2024-01-05", "u3": "2024-02-28", "u4": "2024-04-15"}
    # monthly purchase totals are the activity measure
    assert _rows(ds.panel, ["customer_id", "month", "mrr", "spell", "tenure"]) == [
        ("u1", "2024-01", 50.0, 1, 0), ("u1", "2024-02", 30.0, 1, 1), ("u1", "2024-04", 20.0, 2, 3),
        ("u2", "2024-01", 25.0, 1, 0), ("u2", "2024-04", 25.0, 2, 3),
        ("u3", "2024-02", 15.0, 1, 0), ("u3", "2024-03", 5.0, 1, 1), ("u3", "2024-04", 15.0, 1, 2),
        ("u4", "2024-04", 60.0, 1, 0)]
    assert _rows(ds.spells, ["customer_id", "spell", "start", "end", "duration", "event"]) == [
        ("u1", 1, "2024-01", "2024-03", 2, 1), ("u1", 2, "2024-04", None, 1, 0),
        ("u2", 1, "2024-01", "2024-02", 1, 1), ("u2", 2, "2024-04", None, 1, 0),
        ("u3", 1, "2024-02", None, 3, 0), ("u4", 1, "2024-04", None, 1, 0)]
    # activity cohorts: Jan cohort (u1, u2) active in month 1: u1 only
    m = co.retention_matrix(ds)
    assert m.loc["2024-01", 1] == 0.5 and m.loc["2024-01", 3] == 1.0


def test_purchase_log_with_a_grace_period_merges_the_gap():
    ds = _load("purchase_log", grace_months=1)
    assert _rows(ds.spells, ["customer_id", "spell", "duration", "event"]) == [
        ("u1", 1, 4, 0), ("u2", 1, 1, 1), ("u2", 2, 1, 0), ("u3", 1, 3, 0), ("u4", 1, 1, 0)]  # u2's gap is 2 months


def test_snapshot_export_maps_onto_spells():
    """T = tenure and E = churned for every row (data/README.md): an active row paid in the as_of month, its
    tenure-th month; a churned row paid tenure months and churned in the month after (signup + tenure, never
    after as_of)."""
    ds = _load("snapshot")
    assert _rows(ds.spells, ["customer_id", "start", "last_paid", "end", "duration", "event"]) == [
        ("acme", "2023-04", "2024-04", None, 13, 0), ("beta", "2023-06", "2023-08", "2023-09", 3, 1),
        ("core", "2024-03", "2024-03", "2024-04", 1, 1), ("delt", "2023-08", "2024-02", "2024-03", 7, 1),
        ("echo", "2024-02", "2024-04", None, 3, 0)]
    assert sv.survival_data(ds).set_index("customer_id")[["T", "E"]].to_dict("index") == {
        "acme": {"T": 12, "E": 0}, "beta": {"T": 3, "E": 1}, "core": {"T": 1, "E": 1}, "delt": {"T": 7, "E": 1},
        "echo": {"T": 2, "E": 0}}
    assert ds.customers.set_index("customer_id")["plan"].to_dict() == {
        "acme": "Pro", "beta": "Basic", "core": "Basic", "delt": "Pro", "echo": "Basic"}
    assert len(ds.panel) == 13 + 3 + 1 + 7 + 3
    # the same survival functions read it: S(1) = 1 − 1/5 (core churned after its first month)
    t = sv.survival_table(ds, times=[1, 3]).iloc[0]
    assert t["S(1)"] == pytest.approx(4 / 5)
    assert t["S(3)"] == pytest.approx(4 / 5 * 2 / 3)  # at risk at month 3: acme, beta, delt (echo censored at 2)


def test_snapshot_with_an_unknown_status_code_is_an_error(tmp_path):
    d = tmp_path / "snap"
    d.mkdir()
    (d / "crm_export.csv").write_text((FIX / "snapshot" / "crm_export.csv").read_text() + "fox,4,Paused,Pro,2024-01-01\n")
    with pytest.raises(cs.DataValidationError) as err:
        cs.load_dataset(d, mapping=FIX / "snapshot" / "mapping.yaml")
    f = err.value.report.errors[0]
    assert f.column == "Status" and f.n_rows == 1 and f.examples == ["Paused"]


def test_annual_invoices_are_spread_and_credit_notes_net_out():
    ds = _load("annual")
    # K1: 12,000 for Jan 2024 – Jan 2025 (12 months) = 1,000 MRR; the 500 setup fee is not MRR
    # K2: 1,200 for 2024 = 100 MRR; cancelled from April: −900 over Apr–Dec nets those months to zero
    assert _rows(ds.panel, ["customer_id", "month", "mrr"]) == (
        [("K1", f"2024-0{m}", 1000.0) for m in range(1, 7)] + [("K2", f"2024-0{m}", 100.0) for m in range(1, 4)])
    assert _rows(ds.spells, ["customer_id", "end", "duration", "event"]) == [("K1", None, 6, 0), ("K2", "2024-04", 3, 1)]
    r = ds.report.reconciliation
    assert r["one-off revenue (not MRR)"] == pytest.approx(500.0)
    assert r["MRR in the panel (months up to as_of)"] == pytest.approx(6 * 1000 + 3 * 100)
    assert r["MRR spread into months after as_of"] == pytest.approx(6 * 1000)


def test_duckdb_database_file_loads_like_the_folder(tmp_path):
    """A DuckDB file holding the same tables gives the same panel and spells (ibis 12's list_tables fails on
    duckdb 2 connections; the loader reads the catalogue itself)."""
    import duckdb

    db = tmp_path / "export.duckdb"
    con = duckdb.connect(str(db))
    for name in ("customers", "revenue"):
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv_auto('{FIX / 'cohort10' / (name + '.csv')}')")
    con.close()
    a = cs.load_dataset(db, as_of="2024-06-30")
    b = cs.load_dataset(FIX / "cohort10", as_of="2024-06-30")
    pd.testing.assert_frame_equal(a.panel, b.panel)
    pd.testing.assert_frame_equal(a.spells, b.spells)


def test_optional_tables_are_built_on_first_use_and_checked_at_load(tmp_path):
    """Usage, payments (and the payment attempts behind a churn's cause) and CS activities are aggregated only when read (a cohort stage does not pay for them);
    their checks still run at load: a gap of more than a month in usage is reported then, counted by hand."""
    import shutil

    shutil.copytree(FIX / "cohort10", tmp_path / "d")
    (tmp_path / "d" / "usage.csv").write_text(
        "customer_id,date,logins\n"
        "A,2024-01-05,3\nA,2024-01-20,2\nA,2024-04-02,1\n"  # A: January, then April (one gap)
        "B,2024-01-03,1\nB,2024-02-03,1\nB,2024-03-03,0\n")  # B: no gap
    (tmp_path / "d" / "payments.csv").write_text("customer_id,date,status\nA,2024-01-01,failed\nA,2024-01-02,succeeded\n")
    ds = cs.load_dataset(tmp_path / "d", as_of="2024-06-30")
    assert ds.pending() == ["customers", "panel", "spells", "usage", "payments", "payment_attempts", "invoices"] \
        and ds.has("usage") \
        and not ds.has("cs_activities")
    gap = [f for f in ds.report.findings if f.table == "usage" and "gaps" in f.message]
    assert len(gap) == 1 and gap[0].n_rows == 1 and gap[0].examples == ["A"]
    cohort = co.retention_matrix(ds)
    assert ds.pending() == ["customers", "panel", "spells", "usage", "payments", "payment_attempts", "invoices"] \
        and len(cohort)  # counted in the engine
    u = ds.usage
    assert ds.pending() == ["customers", "panel", "spells", "payments", "payment_attempts", "invoices"]
    assert u.set_index(["customer_id", "month"])["logins"].to_dict() == {
        ("A", pd.Timestamp("2024-01-01")): 5, ("A", pd.Timestamp("2024-04-01")): 1,
        ("B", pd.Timestamp("2024-01-01")): 1, ("B", pd.Timestamp("2024-02-01")): 1, ("B", pd.Timestamp("2024-03-01")): 0}
    assert ds.payments[["failed", "succeeded"]].sum().tolist() == [1, 1] \
        and ds.pending() == ["customers", "panel", "spells", "payment_attempts", "invoices"]
    assert len(ds.panel) and ds.pending() == ["customers", "spells", "payment_attempts", "invoices"]  # the pandas panel on first read
    assert ds.payment_attempts["status"].tolist() == ["failed", "succeeded"] \
        and ds.pending() == ["customers", "spells", "invoices"]
    assert len(ds.invoices) == 1 and ds.pending() == ["customers", "spells"]  # the annual invoices (07's renewals)


# --- purchase logs: every purchase row is activity, revenue retention relative to the first period --------------

ZERO_LOG = (
    "customer_id,date,amount\n"
    "a,2024-01-10,0\n"  # a free item is a purchase: a is a customer from January
    "a,2024-02-05,20\n"
    "b,2024-01-15,0\n"  # b only ever took a free item: still a buyer, so a customer
    "c,2024-02-01,30\nc,2024-02-20,-30\n"  # a full refund: February sums to 0, still a month with purchases
    "c,2024-03-03,10\nc,2024-03-04,-25\n"  # returns larger than the month's purchases: reported, kept
    "d,2024-03-10,40\n"
)


def _purchase_log(tmp_path, text: str, as_of: str = "2024-04-30", **settings):
    d = tmp_path / "log"
    d.mkdir(exist_ok=True)
    (d / "revenue.csv").write_text(text)
    return cs.load_dataset(d, mapping={"layout": "purchase_log", "settings": {"as_of": as_of, **settings}})


def test_zero_amount_purchases_are_activity_and_every_buyer_is_a_customer(tmp_path):
    ds = _purchase_log(tmp_path, ZERO_LOG)
    assert ds.customers["customer_id"].tolist() == ["a", "b", "c", "d"]
    # by hand: one row per customer and month with a purchase, mrr = what the month's purchases sum to
    assert _rows(ds.panel, ["customer_id", "month", "mrr", "spell", "tenure"]) == [
        ("a", "2024-01", 0.0, 1, 0), ("a", "2024-02", 20.0, 1, 1), ("b", "2024-01", 0.0, 1, 0),
        ("c", "2024-02", 0.0, 1, 0), ("c", "2024-03", -15.0, 1, 1), ("d", "2024-03", 40.0, 1, 0)]
    # grace 0, as_of April: every last purchase month is March or earlier, so every spell has lapsed
    assert _rows(ds.spells, ["customer_id", "spell", "start", "last_paid", "end", "duration", "event"]) == [
        ("a", 1, "2024-01", "2024-02", "2024-03", 2, 1), ("b", 1, "2024-01", "2024-01", "2024-02", 1, 1),
        ("c", 1, "2024-02", "2024-03", "2024-04", 2, 1), ("d", 1, "2024-03", "2024-03", "2024-04", 1, 1)]
    neg = [f for f in ds.report.warnings if f.table == "revenue" and "less than zero" in f.message]
    assert len(neg) == 1 and neg[0].n_rows == 1 and neg[0].examples == ["c 2024-03: -15.00"]
    assert ds.report.ok
    assert "a churn is a lapse: no purchase for 1 month(s) in a row" in ds.churn_definition()
    # the activity cohorts count them: January (a, b) active in month 1: a only
    m = co.retention_matrix(ds)
    assert m.loc["2024-01", "cohort_size"] == 2 and m.loc["2024-01", 1] == 0.5
    assert m.loc["2024-02", "cohort_size"] == 1 and m.loc["2024-02", 1] == 1.0


def test_subscription_months_of_zero_or_negative_mrr_are_still_not_activity(tmp_path):
    """The subscription rule is unchanged: active means MRR > 0, and a negative month is an error."""
    d = tmp_path / "sub"
    d.mkdir()
    (d / "customers.csv").write_text("customer_id,signup_date\na,2024-01-01\nb,2024-01-01\n")
    (d / "revenue.csv").write_text("customer_id,date,amount\na,2024-01-01,0\na,2024-02-01,10\nb,2024-01-01,10\n")
    ds = cs.load_dataset(d, as_of="2024-03-31")
    assert _rows(ds.panel, ["customer_id", "month", "mrr"]) == [("a", "2024-02", 10.0), ("b", "2024-01", 10.0)]
    assert "active in a month when its MRR is above zero" in ds.churn_definition()
    (d / "revenue.csv").write_text("customer_id,date,amount\na,2024-01-01,10\na,2024-01-02,-20\n")
    with pytest.raises(cs.DataValidationError, match="negative MRR"):
        cs.load_dataset(d, as_of="2024-03-31")


def _random_log(seed: int = 3, n: int = 80) -> str:
    """Purchases on random days (first purchases mid-month), some free, over 2023-01 … 2024-06."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = ["customer_id,date,amount"]
    for i in range(n):
        first = pd.Timestamp("2023-01-01") + pd.Timedelta(days=int(rng.integers(0, 420)))
        first = first.replace(day=max(first.day, 2))  # every first purchase after the 1st of its month
        t = first
        while t <= pd.Timestamp("2024-06-30"):
            amount = 0.0 if rng.random() < 0.1 else round(float(rng.gamma(2.0, 40.0)), 2)
            rows.append(f"c{i:03d},{t:%Y-%m-%d},{amount}")
            t = t + pd.Timedelta(days=int(rng.integers(10, 120)))
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize("period", ["month", "quarter"])
@pytest.mark.parametrize("basis", ["revenue", "gross_revenue"])
def test_purchase_log_revenue_retention_is_relative_to_the_first_period(tmp_path, period, basis):
    """Revenue retention of a cohort at period k = its purchases in period k ÷ its purchases in period 0 (no
    first-full-month rule: period 0 is exactly 100%), against a plain pandas computation from the raw rows."""
    text = _random_log()
    ds = _purchase_log(tmp_path, text, as_of="2024-06-30")
    m = co.retention_matrix(ds, period=period, basis=basis, n_boot=20)
    raw = pd.read_csv(tmp_path / "log" / "revenue.csv", parse_dates=["date"])
    L = {"month": 1, "quarter": 3}[period]
    mi = raw["date"].dt.year * 12 + raw["date"].dt.month - 1
    start = mi.groupby(raw["customer_id"]).transform("min")
    raw = raw.assign(k=(mi - start) // L, cohort=start - start % L)
    per = raw.groupby(["cohort", "customer_id", "k"])["amount"].sum()
    if basis == "gross_revenue":  # each customer's period capped at its period 0
        base = per.xs(0, level="k")
        per = pd.concat([per, base.reindex(per.droplevel("k").index).set_axis(per.index)], axis=1).min(axis=1)
    sums = per.groupby(["cohort", "k"]).sum()
    as_m = 2024 * 12 + 5
    checked = 0
    for label, row in m.iterrows():
        y = int(label[:4])
        c = y * 12 + (int(label[-1]) * 3 - 3 if period == "quarter" else int(label[5:7]) - 1)
        assert row[0] == pytest.approx(1.0, abs=1e-12)
        for k in [p for p in m.columns if p != "cohort_size"]:
            observable = c + L - 1 + k * L + L - 1 <= as_m
            if not observable:
                assert np.isnan(row[k]), (label, k)
                continue
            expected = sums.get((c, k), 0.0) / sums[(c, 0)]
            assert row[k] == pytest.approx(expected, rel=1e-9, abs=1e-12), (label, k)
            checked += 1
    assert checked > (30 if period == "month" else 8)


def test_purchase_log_gaps_between_purchases_by_hand():
    """tests/fixtures/purchase_log: u1 buys in Jan, Feb, Apr (gaps 1, 2); u2 in Jan, Apr (gap 3); u3 in Feb, Mar,
    Apr (gaps 1, 1); u4 once. Five returns: three after 1 month, one after 2, one after 3."""
    from csanalysis import overview as ov

    gaps = ov.purchase_gaps(_load("purchase_log"))
    assert gaps["gap_months"].tolist() == [1, 2, 3] and gaps["returns"].tolist() == [3, 1, 1]
    assert gaps["cumulative_share"].tolist() == pytest.approx([0.6, 0.8, 1.0])
    assert gaps["grace_months"].tolist() == [0, 1, 2]
    # 90% of returns need a gap of 3 months covered: grace 2 (no purchase for 3 months is a lapse)
    assert ov.grace_covering(gaps, 0.9) == {"grace_months": 2, "gap_months": 3, "share_covered": 1.0,
                                            "target_share": 0.9, "returns": 5}
    assert ov.grace_covering(gaps, 0.6)["grace_months"] == 0
    assert ov.grace_covering(gaps, 0.8)["grace_months"] == 1
    # with that grace period every observed return stays in its spell: one spell per customer
    assert (_load("purchase_log", grace_months=2).spells["spell"] == 1).all()


def test_purchase_log_revenue_intervals_leave_out_resamples_without_starting_revenue(tmp_path):
    """p1 spends 10 in January and 10 in February; p2–p4 take a free item in January and spend 5 in February.
    Revenue retention at month 1 = (10 + 3 × 5) ÷ 10 = 2.5. A bootstrap resample without p1 has no starting
    revenue: it is undefined and left out of the interval (an infinite bound otherwise)."""
    text = "customer_id,date,amount\np1,2024-01-05,10\np1,2024-02-05,10\n" + "".join(
        f"p{i},2024-01-06,0\np{i},2024-02-06,5\n" for i in (2, 3, 4))
    ds = _purchase_log(tmp_path, text, as_of="2024-03-31")
    r = co.cohort_retention(ds, basis="revenue", n_boot=200, min_cohort_size=1)
    assert r.matrix.loc["2024-01", 0] == 1.0 and r.matrix.loc["2024-01", 1] == pytest.approx(2.5)
    assert np.isfinite(r.upper.loc["2024-01", 1]) and r.lower.loc["2024-01", 1] <= 2.5 <= r.upper.loc["2024-01", 1]
    curve = co.pooled_curve(ds, basis="revenue", definition="active", n_boot=200)
    assert curve.loc[1, "retention"] == pytest.approx(2.5) and np.isfinite(curve.loc[1, "upper"])
