"""Issue 18: a pseudonymised run prints no raw customer id, even for invalid data (exit 3), and never reads a cached
load holding raw ids (or pseudonyms of another key). The risk-list archive side is in test_risk_archive.py."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from csanalysis.data import RunContext, cache, load_dataset, pseudonym
from csanalysis.data.load import cache_settings
from csanalysis.data.validation import Finding, ValidationReport

CLI = str(Path(sys.executable).with_name("csanalysis"))
KEY = "s" * 32


@pytest.fixture()
def bad(tmp_path: Path) -> Path:
    """Revenue dated before its customer's signup and revenue of a customer not in the customers table."""
    d = tmp_path / "bad"
    d.mkdir()
    (d / "customers.csv").write_text("customer_id,signup_date\nACME-0042,2024-03-01\nZETA-7,2024-01-01\n")
    (d / "revenue.csv").write_text("customer_id,date,amount\nACME-0042,2024-01-15,10\nZETA-7,2024-02-01,10\n"
                                   "ORPHAN-9,2024-02-01,10\n")
    return d


def test_invalid_data_report_of_a_pseudonymised_run_quotes_pseudonyms(bad, tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore", pseudonym.KEY_ENV: KEY}
    raw = subprocess.run([CLI, "report", "--data", str(bad), "--out", str(tmp_path / "r")], capture_output=True,
                         text=True, env=env)
    assert raw.returncode == 3 and "ORPHAN-9" in raw.stderr and "ACME-0042" in raw.stderr  # the control
    r = subprocess.run([CLI, "report", "--data", str(bad), "--out", str(tmp_path / "r"), "--pseudonymise"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 3
    acme, orphan = pseudonym.pseudonymise_ids(["ACME-0042", "ORPHAN-9"], KEY.encode())
    assert "ORPHAN-9" not in r.stderr and "ACME-0042" not in r.stderr
    assert orphan in r.stderr  # the orphan finding quotes the id as its pseudonym
    assert f"{acme}: 2024-01-15" in r.stderr  # the dates stay readable beside the pseudonym
    assert not (tmp_path / "r").exists()


def test_pseudonymise_report_replaces_whole_ids_only():
    rep = ValidationReport("x", [
        Finding("error", "revenue", "m", column="date", examples=["A1: 2024-01-01", "A10: 2024-02-01 < 2024-03-01"],
                ids=["A1", "A10"]),
        Finding("error", "customers", "dupes", column="customer_id", examples=["A10", "B-2"]),
        Finding("warning", "revenue", "big", column="amount", examples=[1e9]),
    ])
    pseudonym.pseudonymise_report(rep, KEY.encode())
    a1, a10, b2 = pseudonym.pseudonymise_ids(["A1", "A10", "B-2"], KEY.encode())
    assert rep.findings[0].examples == [f"{a1}: 2024-01-01", f"{a10}: 2024-02-01 < 2024-03-01"]
    assert rep.findings[1].examples == [a10, b2]
    assert rep.findings[2].examples == [1e9]  # no id quoted: left as it is
    assert all(not f.ids for f in rep.findings)


def test_cache_key_tells_raw_pseudonymised_and_other_key_apart(tmp_path, monkeypatch):
    src = Path(__file__).resolve().parents[2] / "data" / "demo"
    monkeypatch.setenv(pseudonym.KEY_ENV, KEY)
    raw = cache.cache_key(src, None, cache_settings(pseudonymise=False))
    hidden = cache.cache_key(src, None, cache_settings(pseudonymise=True))
    monkeypatch.setenv(pseudonym.KEY_ENV, "t" * 32)
    other = cache.cache_key(src, None, cache_settings(pseudonymise=True))
    assert len({raw, hidden, other}) == 3


def test_pseudonymised_load_never_reads_a_raw_cache_entry(tmp_path, monkeypatch):
    d = tmp_path / "good"
    d.mkdir()
    (d / "customers.csv").write_text("customer_id,signup_date\nACME-0042,2024-01-01\nZETA-7,2024-01-01\n")
    (d / "revenue.csv").write_text("customer_id,date,amount\nACME-0042,2024-01-15,10\nZETA-7,2024-02-01,10\n")
    monkeypatch.setenv(pseudonym.KEY_ENV, KEY)
    raw = RunContext(cache_dir=str(tmp_path / "cache"))
    first = load_dataset(d, as_of="2024-03-31", context=raw)
    cache.save(first, tmp_path / "cache" / cache.cache_key(d, None, cache_settings(as_of="2024-03-31")))
    # the context reaches a notebook as the path of its file (the run_context parameter)
    raw_file = raw.write(tmp_path / "raw.json")
    assert load_dataset(d, as_of="2024-03-31", context=str(raw_file)).cache_key is not None  # the raw run reads its entry
    assert load_dataset(d, as_of="2024-03-31").cache_key is None  # no run context (a notebook run by hand): no cache
    hidden = RunContext(cache_dir=str(tmp_path / "cache"), pseudonymise=True).write(tmp_path / "hidden.json")
    ds = load_dataset(d, as_of="2024-03-31", context=str(hidden))
    assert ds.cache_key is None and ds.pseudonymised
    assert pseudonym.looks_pseudonymised(ds.customers["customer_id"])


def test_a_missing_run_context_file_is_a_clear_error(tmp_path):
    """An executed notebook re-run after its run's staging folder is gone says what the file is, rather than
    loading without the run's settings (a pseudonymised run's notebook would show raw ids)."""
    with pytest.raises(FileNotFoundError, match="run_context"):
        load_dataset(tmp_path, context=str(tmp_path / "gone" / "run_context.json"))
