"""Hostile but realistic input (issue 18): never a silently wrong number. Each case read today's code as a
different number or date (or crashed); now it is refused with a message naming the table, column, values, rows
and the mapping option that reads it, or read correctly through that documented option."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import csanalysis as cs
from csanalysis.data import DataValidationError, MappingError
from csanalysis.data.mapping import read_yaml

CUSTOMERS = "customer_id,signup_date,plan\nA,2024-01-01,Basic\nB,2024-01-15,Pro\nC,2024-02-01,Pro\n"
REVENUE = ("customer_id,date,amount\nA,2024-01-01,100\nA,2024-02-01,100\nA,2024-03-01,100\n"
           "B,2024-01-15,200\nB,2024-02-15,200\nC,2024-02-01,50\nC,2024-03-01,50\n")


def _folder(tmp_path: Path, revenue: str = REVENUE, customers: str = CUSTOMERS, mapping: str | None = None,
            encoding: str = "utf-8") -> Path:
    d = tmp_path / "src"
    d.mkdir(exist_ok=True)
    (d / "customers.csv").write_text(customers, encoding="utf-8")
    (d / "revenue.csv").write_bytes(revenue.encode(encoding))
    if mapping is not None:
        (d / "csanalysis.yaml").write_text(mapping, encoding="utf-8")
    return d


def _errors(path, **kw):
    with pytest.raises(DataValidationError) as err:
        cs.load_dataset(path, **kw)
    return err.value.report.errors


def _amount_error(errors):
    (f,) = [f for f in errors if f.table == "revenue" and f.column == "amount"]
    return f


def _mrr(ds) -> dict:
    return ds.panel.groupby("customer_id")["mrr"].sum().to_dict()


# ------------------------------------------------------------------------------- non-finite amounts


@pytest.mark.parametrize("bad", ["NaN", "nan", "inf", "-inf", "Infinity", "-Infinity"])
def test_non_finite_amounts_in_text_are_invalid_values(tmp_path, bad):
    f = _amount_error(_errors(_folder(tmp_path, REVENUE.replace("C,2024-03-01,50", f"C,2024-03-01,{bad}"))))
    assert f.n_rows == 1 and f.examples == [bad] and "NaN and infinities" in f.message


def test_non_finite_amounts_in_parquet_are_invalid_values(tmp_path):
    d = _folder(tmp_path)
    (d / "revenue.csv").unlink()
    rev = pd.read_csv(pd.io.common.StringIO(REVENUE))
    rev["amount"] = rev["amount"].astype(float)
    rev.loc[[1, 4], "amount"] = [np.nan, np.inf]
    rev.to_parquet(d / "revenue.parquet")  # pandas' NaN is written as a missing value, inf as a float
    errors = [f for f in _errors(d) if f.table == "revenue" and f.column == "amount"]
    assert sorted((f.n_rows, "NaN and infinities" in f.message, "required values are empty" in f.message) for f in errors) == [
        (1, False, True), (1, True, False)]


# ------------------------------------------------------------------------------- decimal commas


EU = "customer_id;date;amount\nA;2024-01-01;1040,0\nA;2024-02-01;1.234,56\nB;2024-01-15;200\nC;2024-02-01;50,5\n"


def test_a_decimal_comma_is_never_stripped_as_a_thousands_separator(tmp_path):
    f = _amount_error(_errors(_folder(tmp_path, EU)))
    assert f.n_rows == 3 and "decimal: ','" in f.message
    assert set(f.examples) == {"1040,0", "1.234,56", "50,5"}


def test_decimal_comma_and_dot_thousands_read_through_the_mapping(tmp_path):
    mapping = "tables:\n  revenue:\n    decimal: ','\n    thousands: '.'\n"
    ds = cs.load_dataset(_folder(tmp_path, EU, mapping=mapping), as_of="2024-03-31")
    assert _mrr(ds) == pytest.approx({"A": 1040.0 + 1234.56, "B": 200.0, "C": 50.5})


def test_thousands_commas_need_the_option_and_then_read_exactly(tmp_path):
    us = "customer_id,date,amount\nA,2024-01-01,\"1,200.50\"\nB,2024-01-15,\"12,000\"\nC,2024-02-01,50\n"
    f = _amount_error(_errors(_folder(tmp_path, us)))
    assert f.n_rows == 2 and "thousands: ','" in f.message
    ds = cs.load_dataset(_folder(tmp_path, us, mapping="tables:\n  revenue:\n    thousands: ','\n"), as_of="2024-03-31")
    assert _mrr(ds) == pytest.approx({"A": 1200.5, "B": 12000.0, "C": 50.0})
    # a separator out of place is not a number even with the option
    odd = us.replace('"12,000"', '"1,20,00"')
    f = _amount_error(_errors(_folder(tmp_path, odd, mapping="tables:\n  revenue:\n    thousands: ','\n")))
    assert f.examples == ["1,20,00"]


def test_decimal_and_thousands_options_are_checked(tmp_path):
    with pytest.raises(MappingError, match="thousands and decimal are both"):
        cs.load_dataset(_folder(tmp_path, mapping="tables:\n  revenue:\n    decimal: ','\n    thousands: ','\n"))
    with pytest.raises(MappingError, match="decimal must be one of"):
        cs.load_dataset(_folder(tmp_path, mapping="tables:\n  revenue:\n    decimal: ';'\n"))


# ------------------------------------------------------------------------------- dates


def test_a_date_with_trailing_text_is_rejected_not_cut(tmp_path):
    errors = _errors(_folder(tmp_path, REVENUE.replace("B,2024-02-15,200", "B,2024-02-15XYZ,200")))
    (f,) = [f for f in errors if f.table == "revenue" and f.column == "date"]
    assert f.n_rows == 1 and f.examples == ["2024-02-15XYZ"]


def test_timestamps_still_read_as_their_date(tmp_path):
    rev = REVENUE.replace("B,2024-02-15,200", "B,2024-02-15 13:45:00,200").replace("C,2024-02-01,50", "C,2024-02-01T00:00:00Z,50")
    ds = cs.load_dataset(_folder(tmp_path, rev), as_of="2024-03-31")
    assert _mrr(ds)["B"] == 400.0 and _mrr(ds)["C"] == 100.0


def test_one_stray_future_date_is_an_error_not_a_new_as_of(tmp_path):
    errors = _errors(_folder(tmp_path, REVENUE + "C,2204-02-29,50\n"))
    (f,) = [f for f in errors if f.table == "revenue" and f.column == "date"]
    assert f.n_rows == 1 and f.examples == ["C: 2204-02-29"] and "after today" in f.message
    # with an explicit as_of the row is cut like any other after it, and the data are read
    ds = cs.load_dataset(_folder(tmp_path, REVENUE + "C,2204-02-29,50\n"), as_of="2024-03-31")
    assert ds.report.counts["revenue"]["cut_after_as_of"] == 1 and len(ds.panel) == 7


def test_an_explicit_as_of_far_after_the_data_is_a_warning(tmp_path):
    ds = cs.load_dataset(_folder(tmp_path), as_of="2025-06-30")
    (w,) = [f for f in ds.report.warnings if "after the last revenue row" in f.message]
    assert "15 months" in w.message


@pytest.mark.parametrize("as_of", ["1900-01-31", "9999-12-31", "2024-02-30", "yesterday"])
def test_an_as_of_outside_the_dates_held_is_exit_2(tmp_path, as_of):
    with pytest.raises(MappingError, match="as_of"):
        cs.load_dataset(_folder(tmp_path), as_of=as_of)


# ------------------------------------------------------------------------------- headers, magnitudes


def test_a_repeated_column_header_is_an_error_naming_it(tmp_path):
    rev = "customer_id,date,amount,amount\n" + "\n".join(l + ",7" for l in REVENUE.splitlines()[1:]) + "\n"
    errors = _errors(_folder(tmp_path, rev))
    (f,) = [f for f in errors if f.table == "revenue"]
    assert f.column == "amount" and "'amount' (2 times)" in f.message


def test_an_implausible_amount_is_a_warning_and_an_unholdable_one_an_error(tmp_path):
    ds = cs.load_dataset(_folder(tmp_path, REVENUE.replace("C,2024-03-01,50", "C,2024-03-01,1000000")), as_of="2024-03-31")
    (w,) = [f for f in ds.report.warnings if f.table == "revenue" and f.column == "amount"]
    assert w.n_rows == 1 and w.examples == [1e6]
    for huge in ("1e15", "1e300"):
        f = _amount_error(_errors(_folder(tmp_path, REVENUE.replace("C,2024-03-01,50", f"C,2024-03-01,{huge}"))))
        assert f.n_rows == 1 and "up to the cent" in f.message


# ------------------------------------------------------------------------------- Japanese exports


JP_REVENUE = "顧客ID,請求日,金額\nA,2024年1月1日,\"￥1,000\"\nA,2024年2月1日,\"１，０００円\"\nB,2024年1月15日,２００\nC,令和6年2月1日,50\n"
JP_MAPPING = """tables:
  revenue:
    encoding: cp932
    columns: {customer_id: 顧客ID, date: 請求日, amount: 金額}
    date_format: "%Y年%m月%d日"
    thousands: ","
    full_width: true
    currency_marks: ["￥", "円"]
"""


def test_a_shift_jis_export_needs_its_encoding_and_says_so(tmp_path):
    d = _folder(tmp_path, JP_REVENUE, encoding="cp932")
    errors = _errors(d)
    (f,) = [f for f in errors if f.table == "revenue"]
    assert "encoding: cp932" in f.message


def test_a_japanese_export_reads_through_its_documented_options(tmp_path):
    d = _folder(tmp_path, JP_REVENUE.replace("令和6年2月1日", "2024年2月1日"), mapping=JP_MAPPING, encoding="cp932")
    ds = cs.load_dataset(d, as_of="2024-03-31")
    assert _mrr(ds) == pytest.approx({"A": 2000.0, "B": 200.0, "C": 50.0})


def test_japanese_era_dates_need_their_format_and_then_read(tmp_path):
    d = _folder(tmp_path, JP_REVENUE, mapping=JP_MAPPING, encoding="cp932")
    errors = _errors(d)
    (f,) = [f for f in errors if f.table == "revenue" and f.column == "請求日"]
    assert f.examples == ["令和6年2月1日"] and "%E年%m月%d日" in f.message
    era = JP_REVENUE.replace("2024年1月1日", "令和6年1月1日").replace("2024年2月1日", "令和6年2月1日").replace(
        "2024年1月15日", "令和6年1月15日")
    d = _folder(tmp_path, era, mapping=JP_MAPPING.replace("%Y年%m月%d日", "%E年%m月%d日"), encoding="cp932")
    ds = cs.load_dataset(d, as_of="2024-03-31")
    assert ds.panel.groupby("customer_id")["month"].min().dt.strftime("%Y-%m").to_dict() == {"A": "2024-01", "B": "2024-01", "C": "2024-02"}


def test_full_width_digits_and_yen_signs_are_refused_without_their_options(tmp_path):
    rev = "customer_id,date,amount\nA,2024-01-01,１０００\nB,2024-01-15,¥200\nC,2024-02-01,50\n"
    f = _amount_error(_errors(_folder(tmp_path, rev)))
    assert f.n_rows == 2 and ("full_width: true" in f.message or "currency_marks" in f.message)


# ------------------------------------------------------------------------------- mappings and YAML


@pytest.mark.parametrize("text, key", [
    ("layout: [x]\n", "layout"),
    ("tables:\n  revenue:\n    columns: [customer_id]\n", "columns"),
    ("settings:\n  grace_months: true\n", "grace_months"),
    ("settings:\n  as_of: 2024-02-30\n", "as_of"),
    ("tables: [revenue]\n", "tables"),
    ("tables:\n  revenue: [x]\n", "revenue"),
    ("settings:\n  gross_margin: high\n", "gross_margin"),
])
def test_wrong_types_in_a_mapping_are_exit_2_naming_the_key(tmp_path, text, key):
    with pytest.raises(MappingError, match=key):
        cs.load_dataset(_folder(tmp_path, mapping=text))


def test_yaml_aliases_and_oversized_files_are_refused():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
    with pytest.raises(MappingError, match="anchors and aliases"):
        read_yaml(bomb, "mapping")
    with pytest.raises(MappingError, match="larger than"):
        read_yaml("a: " + "x" * (2 << 20), "mapping")
    with pytest.raises(MappingError, match="not UTF-8"):
        read_yaml("a: ü".encode("latin-1"), "mapping")
    assert read_yaml("as_of: 2024-02-29", "m") == {"as_of": "2024-02-29"}  # dates stay text


def test_a_mapping_file_may_not_leave_the_data_folder_unless_it_says_so(tmp_path):
    outside = tmp_path / "elsewhere.csv"
    outside.write_text(REVENUE)
    d = _folder(tmp_path, mapping="tables:\n  revenue:\n    file: ../elsewhere.csv\n")
    (f,) = [f for f in _errors(d) if f.table == "revenue"]
    assert "outside the data folder" in f.message and "allow_outside_folder" in f.message
    (d / "csanalysis.yaml").write_text("tables:\n  revenue:\n    file: ../elsewhere.csv\n    allow_outside_folder: true\n")
    assert len(cs.load_dataset(d, as_of="2024-03-31").panel) == 7


def test_the_cli_turns_bad_yaml_and_parameters_into_exit_2(tmp_path):
    import subprocess
    import sys

    d = _folder(tmp_path)
    params = tmp_path / "p.yaml"
    params.write_bytes(b"\xff\xfe not yaml")
    r = subprocess.run([sys.executable, "-m", "csanalysis.cli", "report", "00", "--data", str(d), "--params", str(params),
                        "--out", str(tmp_path / "r")], capture_output=True, text=True)
    said = " ".join(re.sub(r"[│╭╮╰╯─]", " ", r.stderr).split())  # typer draws a box around the message
    assert r.returncode == 2 and "is not UTF-8 text" in said and "Traceback" not in r.stderr
    (d / "csanalysis.yaml").write_text("layout: [x]\n")
    r = subprocess.run([sys.executable, "-m", "csanalysis.cli", "validate", "--data", str(d)], capture_output=True, text=True)
    assert r.returncode == 2 and "layout" in r.stderr and "Traceback" not in r.stderr


def test_a_scorecard_that_is_not_a_mapping_says_so(tmp_path):
    from csanalysis import health

    p = tmp_path / "card.yaml"
    p.write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match="must be a mapping"):
        health.Scorecard.from_yaml(p)
