"""Bad input gets a clear error naming the file, table, column, offending values and the row count; every error
is reported (not only the first); rows after as_of are cut and counted; totals reconcile."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import csanalysis as cs
from csanalysis.data import DataValidationError, MappingError

CUSTOMERS = "customer_id,signup_date,plan\nA,2024-01-01,Basic\nB,2024-01-15,Pro\nC,2024-02-01,Pro\n"
REVENUE = ("customer_id,date,amount\nA,2024-01-01,100\nA,2024-02-01,100\nA,2024-03-01,100\n"
           "B,2024-01-15,200\nB,2024-02-15,200\nC,2024-02-01,50\nC,2024-03-01,50\n")


def _folder(tmp_path: Path, **files: str) -> Path:
    d = tmp_path / "src"
    d.mkdir(exist_ok=True)
    contents = {"customers.csv": CUSTOMERS, "revenue.csv": REVENUE}
    contents.update({k.replace("__", "."): v for k, v in files.items()})
    for name, text in contents.items():
        if text is not None:
            (d / name).write_text(text, encoding="utf-8")
    return d


def _errors(path, **kw):
    with pytest.raises(DataValidationError) as err:
        cs.load_dataset(path, **kw)
    return err.value.report.errors


def _one(errors, table, column):
    hits = [f for f in errors if f.table == table and f.column == column]
    assert hits, f"no error for {table}.{column}: {[str(f) for f in errors]}"
    return hits[0]


def test_missing_required_column(tmp_path):
    f = _one(_errors(_folder(tmp_path, revenue__csv="customer_id,date\nA,2024-01-01\n")), "revenue", "amount")
    assert "missing" in f.message and f.n_rows == 1 and f.file.endswith("revenue.csv")


def test_unparseable_dates_are_counted_not_guessed(tmp_path):
    rev = REVENUE + "A,2024-13-01,5\nB,yesterday,5\nC,31/01/2024,5\n"
    f = _one(_errors(_folder(tmp_path, revenue__csv=rev)), "revenue", "date")
    assert f.n_rows == 3 and "3 of 10 rows" in f.message
    assert set(f.examples) == {"2024-13-01", "yesterday", "31/01/2024"}
    assert "revenue.csv" in str(f)


def test_custom_date_format_counts_impossible_dates(tmp_path):
    d = _folder(tmp_path, customers__csv="customer_id,signup_date\nA,01/01/2024\nB,31/02/2024\nC,15/01/2024\n",
                revenue__csv="customer_id,date,amount\nA,01/01/2024,10\nC,15/01/2024,10\n")
    mapping = {"tables": {"customers": {"date_format": "%d/%m/%Y"}, "revenue": {"date_format": "%d/%m/%Y"}}}
    f = _one(_errors(d, mapping=mapping), "customers", "signup_date")
    assert f.n_rows == 1 and f.examples == ["31/02/2024"]


def test_score_outside_range_or_not_integer(tmp_path):
    nps = "customer_id,date,score\nA,2024-01-10,9\nA,2024-02-10,11\nB,2024-01-20,7.5\nC,2024-02-10,-1\n"
    errors = [f for f in _errors(_folder(tmp_path, nps__csv=nps)) if f.table == "nps" and f.column == "score"]
    whole = next(f for f in errors if "whole" in f.message)
    outside = next(f for f in errors if "outside 0–10" in f.message)
    assert whole.n_rows == 1 and whole.examples == ["7.5"]
    assert outside.n_rows == 2 and set(outside.examples) == {"11", "-1"}


def test_negative_monthly_mrr_from_a_credit_note(tmp_path):
    rev = REVENUE + "C,2024-03-20,-80\n"
    f = _one(_errors(_folder(tmp_path, revenue__csv=rev), as_of="2024-03-31"), "revenue", "amount")
    assert f.n_rows == 1 and "negative MRR" in f.message and "C 2024-03" in f.examples[0]


def test_duplicate_customer_id(tmp_path):
    f = _one(_errors(_folder(tmp_path, customers__csv=CUSTOMERS + "A,2024-03-01,Pro\n")), "customers", "customer_id")
    assert "more than once" in f.message and f.n_rows == 2 and f.examples == ["A"]


def test_rows_for_unknown_customers(tmp_path):
    errors = _errors(_folder(tmp_path, revenue__csv=REVENUE + "Z,2024-02-01,10\nY,2024-02-01,10\n",
                             nps__csv="customer_id,date,score\nZ,2024-02-01,9\n"))
    rev = _one(errors, "revenue", "customer_id")
    assert rev.n_rows == 2 and set(rev.examples) == {"Z", "Y"}
    assert _one(errors, "nps", "customer_id").n_rows == 1


def test_revenue_before_signup(tmp_path):
    f = _one(_errors(_folder(tmp_path, revenue__csv=REVENUE + "C,2024-01-05,10\n")), "revenue", "date")
    assert f.n_rows == 1 and "before the customer's signup_date" in f.message


def test_empty_required_table(tmp_path):
    errors = _errors(_folder(tmp_path, revenue__csv="customer_id,date,amount\n"))
    f = next(f for f in errors if f.table == "revenue")
    assert "empty" in f.message and f.n_rows == 0


def test_file_not_utf8(tmp_path):
    d = _folder(tmp_path)
    (d / "customers.csv").write_bytes("customer_id,signup_date,plan\nA,2024-01-01,Bäsic\n".encode("latin-1"))
    f = next(f for f in _errors(d) if f.table == "customers")
    assert "not UTF-8" in f.message and f.file.endswith("customers.csv")


def test_file_not_csv_or_parquet(tmp_path):
    d = _folder(tmp_path, revenue__csv=None)
    (d / "revenue.xlsx").write_bytes(b"PK\x03\x04 not really")
    f = next(f for f in _errors(d) if f.table == "revenue")
    assert "not a CSV or Parquet" in f.message and "revenue.xlsx" in f.file


def test_mapping_names_a_column_that_does_not_exist(tmp_path):
    mapping = {"tables": {"revenue": {"columns": {"amount": "Net Amount"}}}}
    f = _one(_errors(_folder(tmp_path), mapping=mapping), "revenue", "Net Amount")
    assert "no such column" in f.message


def test_more_than_one_currency(tmp_path):
    rev = "customer_id,date,amount,currency\nA,2024-01-01,100,USD\nA,2024-02-01,100,USD\nB,2024-01-15,200,EUR\n"
    f = _one(_errors(_folder(tmp_path, revenue__csv=rev)), "revenue", "currency")
    assert f.n_rows == 3 and any("EUR: 1 rows" in e for e in f.examples)


def test_every_error_is_reported_not_only_the_first(tmp_path):
    d = _folder(tmp_path, customers__csv=CUSTOMERS + "A,not-a-date,Pro\n",
                revenue__csv="customer_id,date,amount\nA,2024-01-01,ten\nB,2024-99-01,5\n")
    errors = _errors(d)
    assert {(f.table, f.column) for f in errors} >= {("customers", "signup_date"), ("revenue", "amount"), ("revenue", "date")}


def test_rows_after_as_of_are_cut_and_counted_and_totals_reconcile(tmp_path):
    rev = REVENUE + "A,2024-04-01,100\nB,2024-05-01,70\n"
    ds = cs.load_dataset(_folder(tmp_path, revenue__csv=rev), as_of="2024-03-31")
    assert ds.report.ok
    assert ds.report.counts["revenue"] == {"read": 9, "used": 7, "cut_after_as_of": 2}
    note = next(f for f in ds.report.findings if f.level == "note" and f.table == "revenue")
    assert note.n_rows == 2
    r = ds.report.reconciliation
    assert r["recurring revenue in the source"] == pytest.approx(800.0)
    assert r["MRR in the panel (months up to as_of)"] + r["MRR spread into months after as_of"] == pytest.approx(800.0)
    assert ds.panel["month"].max() == pd.Timestamp("2024-03-01")


def test_suspicious_but_legal_data_are_warnings_with_counts(tmp_path):
    d = _folder(tmp_path, customers__csv=CUSTOMERS + "D,2024-01-01,Basic\n",
                nps__csv="customer_id,date,score\nB,2024-03-20,9\nA,2024-02-10,10\n",
                usage__csv="customer_id,date,logins\nA,2024-01-03,5\nA,2024-03-04,4\n")
    ds = cs.load_dataset(d, as_of="2024-03-31")
    warnings = {f.table: f for f in ds.report.warnings}
    assert warnings["customers"].n_rows == 1 and warnings["customers"].examples == ["D"]  # no revenue
    assert warnings["nps"].n_rows == 1 and warnings["nps"].examples == ["B"]  # B churned in March
    assert warnings["usage"].n_rows == 1  # a gap of a month without usage rows


def test_parquet_input_is_checked_the_same_way(tmp_path):
    d = tmp_path / "pq"
    d.mkdir()
    pd.DataFrame({"customer_id": ["A", "B"], "signup_date": pd.to_datetime(["2024-01-01", "2024-01-01"])}).to_parquet(d / "customers.parquet")
    pd.DataFrame({"customer_id": ["A", "A", "Q"], "date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-01"]),
                  "amount": [10.0, 10.0, 5.0]}).to_parquet(d / "revenue.parquet")
    f = _one(_errors(d), "revenue", "customer_id")
    assert f.n_rows == 1 and f.examples == ["Q"] and f.file.endswith("revenue.parquet")


def test_parquet_text_is_trimmed_and_blanks_found_as_in_csv(tmp_path):
    """A Parquet table whose text has no white space at an edge is read as it is (a view, not a copy); where some
    value has, every value is trimmed as in a CSV file, and a blank required value is an error either way."""
    def write(folder, customers, revenue):
        folder.mkdir()
        pd.DataFrame(customers).to_parquet(folder / "customers.parquet")
        pd.DataFrame(revenue).to_parquet(folder / "revenue.parquet")
        return folder

    signup = pd.to_datetime(["2024-01-01", "2024-01-15", "2024-02-01"])
    dates = pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-15", "2024-02-01"])
    clean = write(tmp_path / "clean", {"customer_id": ["A", "B", "C"], "signup_date": signup, "plan": ["Basic", "Pro", ""]},
                  {"customer_id": ["A", "A", "B", "C"], "date": dates, "amount": [100.0, 100.0, 200.0, 50.0]})
    spaced = write(tmp_path / "spaced", {"customer_id": [" A", "B\t", "C"], "signup_date": signup, "plan": ["Basic ", "Pro", " "]},
                   {"customer_id": ["A ", "A", " B", "C"], "date": dates, "amount": [100.0, 100.0, 200.0, 50.0]})
    a, b = (cs.load_dataset(d, as_of="2024-02-29") for d in (clean, spaced))
    pd.testing.assert_frame_equal(a.customers, b.customers)
    assert a.customers["plan"].tolist() == ["Basic", "Pro", None]  # empty text is missing, as in CSV
    pd.testing.assert_frame_equal(a.panel, b.panel)
    blank = write(tmp_path / "blank", {"customer_id": ["A", "B", "C"], "signup_date": signup},
                  {"customer_id": ["A", "", "B", " "], "date": dates, "amount": [100.0, 100.0, 200.0, 50.0]})
    f = _one(_errors(blank, as_of="2024-02-29"), "revenue", "customer_id")
    assert f.message == "required values are empty" and f.n_rows == 2


def test_two_loads_on_one_backend_keep_their_own_files(tmp_path):
    """A table read from Parquet may stay a view of the file: a second load on the same backend reads its own
    files under other names, and the first Dataset's lazy tables still come from the first folder."""
    import ibis

    con = ibis.duckdb.connect()
    folders = []
    for k, n in enumerate((1, 3)):
        d = tmp_path / f"d{k}"
        d.mkdir()
        pd.DataFrame({"customer_id": ["A"], "signup_date": pd.to_datetime(["2024-01-01"])}).to_parquet(d / "customers.parquet")
        pd.DataFrame({"customer_id": ["A"], "date": pd.to_datetime(["2024-01-01"]), "amount": [10.0]}).to_parquet(d / "revenue.parquet")
        pd.DataFrame({"customer_id": ["A"], "date": pd.to_datetime(["2024-01-05"]), "logins": [n]}).to_parquet(d / "usage.parquet")
        folders.append(d)
    first = cs.load_dataset(folders[0], as_of="2024-01-31", backend=con)
    cs.load_dataset(folders[1], as_of="2024-01-31", backend=con).materialise()
    assert first.usage["logins"].tolist() == [1]


def test_usage_gaps_are_the_same_with_or_without_one_row_per_month_first():
    """The gap check reduces usage to customer-months first only when there are several rows a month; the
    window over the rows as they are finds the same months after a gap, each once."""
    import ibis

    from csanalysis.data.load import _gap_rows

    cm = ibis.memtable(pd.DataFrame({"customer_id": list("AAAAAAABBBCDDD"),
                                     "m": [1, 1, 1, 3, 3, 4, 7, 5, 5, 6, 2, 1, 10, 10]}))
    rows = [sorted(map(tuple, _gap_rows(cm, distinct=d).execute().to_numpy().tolist())) for d in (True, False)]
    assert rows[0] == rows[1] == [("A", 3), ("A", 7), ("D", 10)]


def test_optional_tables_may_be_absent(tmp_path):
    ds = cs.load_dataset(_folder(tmp_path), as_of="2024-03-31")
    assert ds.nps is None and ds.usage is None and not ds.has("nps")


def test_mapping_file_errors_are_clear(tmp_path):
    bad = tmp_path / "m.yaml"
    bad.write_text("tables:\n  invoices:\n    file: x.csv\n")
    with pytest.raises(MappingError, match="unknown table 'invoices'"):
        cs.load_dataset(_folder(tmp_path), mapping=bad)
    bad.write_text("settings:\n  grace: 2\n")
    with pytest.raises(MappingError, match="unknown setting"):
        cs.load_dataset(_folder(tmp_path), mapping=bad)
    with pytest.raises(MappingError, match="grace_months"):
        cs.load_dataset(_folder(tmp_path), grace_months=-1)
