"""Issue 21: a load reused across sessions and processes when its inputs are unchanged (the user's load cache,
csanalysis/data/cache.py): the reused Dataset equals the fresh one (every table, dtypes too; the validation report
shown exactly, warnings included; the analyses' numbers), and any change of the inputs loads afresh."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

import csanalysis as cs
from csanalysis import cohorts, metrics
from csanalysis.data import RunContext, cache, pseudonym
from csanalysis.data.dataset import LAZY_TABLES

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
TABLES = ("customers", "panel", "spells", *LAZY_TABLES, "cs_costs", "attributes")


def _small(folder: Path) -> Path:
    """Three customers: one without a paid month (a warning quoting its id), one with an amount far above the
    others (a warning quoting the amount, a float)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "customers.csv").write_text("customer_id,signup_date,plan\nA1,2024-01-03,basic\nB2,2024-02-01,pro\n"
                                          "C3,2024-02-10,basic\n", encoding="utf-8")
    rows = ["customer_id,date,amount"] + [f"A1,2024-{m:02d}-05,10" for m in range(1, 7)] + [
        f"B2,2024-{m:02d}-02,{'20' if m != 4 else '200000'}" for m in range(2, 6)] + [
        f"A1,2024-0{m}-20,11" for m in (2, 3)] + [f"B2,2024-0{m}-20,12" for m in (3, 5)]
    (folder / "revenue.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def _shown(report):
    return (report.to_text(), json.dumps(report.to_dict(), default=str),
            [([type(e) for e in f.examples], [repr(e) for e in f.examples], list(f.ids)) for f in report.findings])


@pytest.fixture
def user_cache(tmp_path, monkeypatch):
    root = tmp_path / "user-cache"
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(root))
    monkeypatch.setenv(cache.ENABLED_ENV, "1")  # off by default in the tests (tests/conftest.py)
    return root


def test_the_tests_never_write_the_real_home_cache():
    # tests/conftest.py points the user's cache at a temporary folder before any test loads
    home = Path.home() / ".cache" / "csanalysis"
    assert os.environ.get(cache.CACHE_DIR_ENV)
    assert not cache.user_cache_dir().resolve().is_relative_to(home.resolve())


def test_a_second_load_reads_the_first_and_equals_it(tmp_path, user_cache):
    src = tmp_path / "demo"
    shutil.copytree(DEMO, src)
    first = cs.load_dataset(src)
    assert first.cache_key is None  # a fresh load ...
    entries = [p for p in user_cache.iterdir() if p.is_dir()]
    assert len(entries) == 1  # ... kept in the user's cache
    assert oct(user_cache.stat().st_mode & 0o777) == "0o700"  # customer data: the user's only
    again = cs.load_dataset(src)
    assert again.cache_key == entries[0].name
    # the optional tables are added to the entry when first built (here by the second process-like reader)
    assert {"customers", "panel", "spells"} <= {p.stem for p in entries[0].glob("*.parquet")}
    assert _shown(again.report) == _shown(first.report)
    assert any(f.level == "warning" for f in again.report.findings)
    for name in TABLES:
        a, b = getattr(first, name), getattr(again, name)
        assert (a is None) == (b is None), name
        if a is not None:
            pd.testing.assert_frame_equal(b, a, obj=name)  # values, order and dtypes
    assert again.settings == first.settings and again.as_of_month == first.as_of_month
    assert again.date_ranges() == first.date_ranges() and again.attribute_kinds == first.attribute_kinds
    # every optional table is now in the entry, and a third load reads them from there
    assert {"usage", "nps", "payments", "cs_activities", "payment_attempts"} <= {p.stem for p in entries[0].glob("*.parquet")}
    third = cs.load_dataset(src)
    for name in TABLES:
        a = getattr(first, name)
        if a is not None:
            pd.testing.assert_frame_equal(getattr(third, name), a, obj=name)
    # the analyses give the same numbers (the engine panel of the entry is queried by the cohort counts)
    fresh = cs.load_dataset(src, cache=False)
    pd.testing.assert_frame_equal(cohorts.cohort_retention(third, basis="logo", n_boot=0).active,
                                  cohorts.cohort_retention(fresh, basis="logo", n_boot=0).active)
    pd.testing.assert_frame_equal(metrics.mrr_movements(third), metrics.mrr_movements(fresh))
    # the raw tables of a reused load come from a fresh load when an analysis reads them
    pd.testing.assert_frame_equal(third.tables["revenue"].execute(), fresh.tables["revenue"].execute())


def test_the_report_with_warnings_is_shown_exactly(tmp_path, user_cache):
    src = _small(tmp_path / "small")
    first = cs.load_dataset(src, as_of="2024-06-30")
    assert [f.level for f in first.report.findings].count("warning") >= 2
    assert any(isinstance(e, float) for f in first.report.findings for e in f.examples)  # not kept as text
    again = cs.load_dataset(src, as_of="2024-06-30")
    assert again.cache_key is not None
    assert _shown(again.report) == _shown(first.report)
    for name in ("customers", "panel", "spells"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(first, name), obj=name)


def test_a_changed_byte_mapping_or_setting_loads_afresh(tmp_path, user_cache):
    src = _small(tmp_path / "small")
    cs.load_dataset(src, as_of="2024-06-30")
    assert cs.load_dataset(src, as_of="2024-06-30").cache_key is not None
    # a setting
    assert cs.load_dataset(src, as_of="2024-05-31").cache_key is None
    assert cs.load_dataset(src, as_of="2024-06-30", grace_months=1).cache_key is None
    assert cs.load_dataset(src, as_of="2024-06-30", raise_on_error=False).cache_key is None
    # a mapping (a file, then its content)
    mapping = tmp_path / "m.yaml"
    mapping.write_text("settings:\n  grace_months: 0\n", encoding="utf-8")
    assert cs.load_dataset(src, mapping=mapping, as_of="2024-06-30").cache_key is None
    assert cs.load_dataset(src, mapping=mapping, as_of="2024-06-30").cache_key is not None
    mapping.write_text("settings:\n  grace_months: 1\n", encoding="utf-8")
    changed = cs.load_dataset(src, mapping=mapping, as_of="2024-06-30")
    assert changed.cache_key is None and changed.settings.grace_months == 1
    # one byte of a file, its size and modification time unchanged (the key reads the content, not the times)
    rev = src / "revenue.csv"
    st = rev.stat()
    before = cs.load_dataset(src, as_of="2024-06-30")
    assert before.cache_key is not None
    rev.write_text(rev.read_text(encoding="utf-8").replace("A1,2024-01-05,10", "A1,2024-01-05,19"), encoding="utf-8")
    os.utime(rev, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert rev.stat().st_size == st.st_size
    after = cs.load_dataset(src, as_of="2024-06-30")
    assert after.cache_key is None
    assert after.panel["mrr"].sum() == pytest.approx(before.panel["mrr"].sum() + 9)
    # the same content under another path: its own entry (the report names the files it read)
    other = tmp_path / "copy"
    shutil.copytree(src, other)
    moved = cs.load_dataset(other, as_of="2024-06-30")
    assert moved.cache_key is None and str(other) in moved.report.source


def test_a_damaged_or_partial_entry_is_loaded_again(tmp_path, user_cache):
    src = _small(tmp_path / "small")
    first = cs.load_dataset(src, as_of="2024-06-30")
    (entry,) = [p for p in user_cache.iterdir() if p.is_dir()]
    panel = entry / "panel.parquet"
    panel.write_bytes(panel.read_bytes()[:-10])  # truncated
    again = cs.load_dataset(src, as_of="2024-06-30")
    assert again.cache_key is None  # not read: loaded afresh and written again
    pd.testing.assert_frame_equal(again.panel, first.panel)
    assert cs.load_dataset(src, as_of="2024-06-30").cache_key == entry.name
    (entry / "meta.json").write_text("{", encoding="utf-8")  # a damaged meta
    assert cs.load_dataset(src, as_of="2024-06-30").cache_key is None
    (entry / "spells.parquet").unlink()  # a missing file
    assert cs.load_dataset(src, as_of="2024-06-30").cache_key is None
    assert cs.load_dataset(src, as_of="2024-06-30").cache_key == entry.name


def test_an_interrupted_write_leaves_no_entry(tmp_path, user_cache, monkeypatch):
    src = _small(tmp_path / "small")

    def killed(df, path, **kw):
        raise KeyboardInterrupt  # the process stopped while writing a table

    monkeypatch.setattr(pd.DataFrame, "to_parquet", killed)
    monkeypatch.setattr(cache, "_write_from_engine", lambda *a: None)  # every table through pandas
    with pytest.raises(KeyboardInterrupt):
        cs.load_dataset(src, as_of="2024-06-30")
    monkeypatch.undo()
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(user_cache))
    monkeypatch.setenv(cache.ENABLED_ENV, "1")
    assert not [p for p in user_cache.iterdir() if p.is_dir()]  # nothing, not even the temporary folder
    # a temporary folder left by a killed process is never read as an entry
    key_dir = user_cache / "0123.tmp999-abcd"
    key_dir.mkdir()
    assert cs.load_dataset(src, as_of="2024-06-30").cache_key is None


def test_the_switch_turns_the_default_off(tmp_path, user_cache, monkeypatch):
    src = _small(tmp_path / "small")
    monkeypatch.setenv(cache.ENABLED_ENV, "0")
    cs.load_dataset(src, as_of="2024-06-30")
    assert not user_cache.exists() or not any(user_cache.iterdir())


def test_cache_false_bypasses_and_a_path_chooses_the_folder(tmp_path, user_cache):
    src = _small(tmp_path / "small")
    assert cs.load_dataset(src, as_of="2024-06-30", cache=False).cache_key is None
    assert not user_cache.exists() or not any(user_cache.iterdir())
    cs.load_dataset(src, as_of="2024-06-30")
    assert cs.load_dataset(src, as_of="2024-06-30", cache=False).cache_key is None  # an entry exists, not read
    elsewhere = tmp_path / "elsewhere"
    cs.load_dataset(src, as_of="2024-06-30", cache=elsewhere)
    assert cs.load_dataset(src, as_of="2024-06-30", cache=elsewhere).cache_key is not None
    assert len([p for p in elsewhere.iterdir() if p.is_dir()]) == 1


def test_raw_and_pseudonymised_loads_never_share_an_entry(tmp_path, user_cache, monkeypatch):
    src = _small(tmp_path / "small")
    monkeypatch.setenv(pseudonym.KEY_ENV, "k" * 32)
    raw = cs.load_dataset(src, as_of="2024-06-30")
    hidden = cs.load_dataset(src, as_of="2024-06-30", context=RunContext(pseudonymise=True))
    assert hidden.cache_key is None and pseudonym.looks_pseudonymised(hidden.customers["customer_id"])
    again = cs.load_dataset(src, as_of="2024-06-30", context=RunContext(pseudonymise=True))
    assert again.cache_key is not None and pseudonym.looks_pseudonymised(again.customers["customer_id"])
    assert not again.tables  # the raw rows carry the real ids
    monkeypatch.setenv(pseudonym.KEY_ENV, "j" * 32)  # another key: another entry
    other = cs.load_dataset(src, as_of="2024-06-30", context=RunContext(pseudonymise=True))
    assert other.cache_key is None
    assert set(cs.load_dataset(src, as_of="2024-06-30").customers["customer_id"]) == set(raw.customers["customer_id"])


def test_pruning_keeps_the_cache_under_its_size(tmp_path, user_cache, monkeypatch):
    a, b = _small(tmp_path / "a"), _small(tmp_path / "b")
    cs.load_dataset(a, as_of="2024-06-30")
    (first,) = [p for p in user_cache.iterdir() if p.is_dir()]
    os.utime(first / "meta.json", (1, 1))  # long unused
    monkeypatch.setenv(cache.MAX_BYTES_ENV, "1")
    cs.load_dataset(b, as_of="2024-06-30")
    left = [p for p in user_cache.iterdir() if p.is_dir()]
    assert len(left) == 1 and left[0] != first  # the new entry stays, the least recently used goes


def test_customer_columns_of_a_cached_load_are_the_frame_s(tmp_path, user_cache):
    """Dataset.customer_columns reads only the asked columns of a cached customers table (the frame stays
    pending) and gives what the whole frame has in them: values, order and dtypes; a column the table lacks is
    left out."""
    src = tmp_path / "demo"
    shutil.copytree(DEMO, src)
    cs.load_dataset(src)
    again = cs.load_dataset(src)
    assert again.cache_key is not None and "customers" in again.pending()
    got = again.customer_columns(["customer_id", "renewal_date", "no_such_column"])
    assert "customers" in again.pending()  # not built by it
    want = again.customers[["customer_id", "renewal_date"]]
    pd.testing.assert_frame_equal(got, want)
    fresh = cs.load_dataset(src, cache=False)
    pd.testing.assert_frame_equal(fresh.customer_columns(["customer_id", "renewal_date"]), want)
