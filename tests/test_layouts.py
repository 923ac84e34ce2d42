"""Exports that do not look like ours load through a mapping file; spells and panels asserted by hand."""
from __future__ import annotations

from pathlib import Path

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
    """Usage, payments and CS activities are aggregated only when read (a cohort stage does not pay for them);
    their checks still run at load: a gap of more than a month in usage is reported then, counted by hand."""
    import shutil

    shutil.copytree(FIX / "cohort10", tmp_path / "d")
    (tmp_path / "d" / "usage.csv").write_text(
        "customer_id,date,logins\n"
        "A,2024-01-05,3\nA,2024-01-20,2\nA,2024-04-02,1\n"  # A: January, then April (one gap)
        "B,2024-01-03,1\nB,2024-02-03,1\nB,2024-03-03,0\n")  # B: no gap
    (tmp_path / "d" / "payments.csv").write_text("customer_id,date,status\nA,2024-01-01,failed\nA,2024-01-02,succeeded\n")
    ds = cs.load_dataset(tmp_path / "d", as_of="2024-06-30")
    assert ds.pending() == ["customers", "panel", "spells", "usage", "payments"] and ds.has("usage") and not ds.has("cs_activities")
    gap = [f for f in ds.report.findings if f.table == "usage" and "gaps" in f.message]
    assert len(gap) == 1 and gap[0].n_rows == 1 and gap[0].examples == ["A"]
    cohort = co.retention_matrix(ds)
    assert ds.pending() == ["customers", "panel", "spells", "usage", "payments"] and len(cohort)  # counted in the engine
    u = ds.usage
    assert ds.pending() == ["customers", "panel", "spells", "payments"]
    assert u.set_index(["customer_id", "month"])["logins"].to_dict() == {
        ("A", pd.Timestamp("2024-01-01")): 5, ("A", pd.Timestamp("2024-04-01")): 1,
        ("B", pd.Timestamp("2024-01-01")): 1, ("B", pd.Timestamp("2024-02-01")): 1, ("B", pd.Timestamp("2024-03-01")): 0}
    assert ds.payments[["failed", "succeeded"]].sum().tolist() == [1, 1] and ds.pending() == ["customers", "panel", "spells"]
    assert len(ds.panel) and ds.pending() == ["customers", "spells"]  # the pandas panel on first read
