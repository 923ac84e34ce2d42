"""The loader's embedded DuckDB is bounded: a memory limit and a spill folder of its own (load.engine_connection)."""
from __future__ import annotations

import gc
from pathlib import Path

import pandas as pd

import csanalysis as cs
from csanalysis.data import load


def _setting(con, name: str) -> str:
    return con.con.sql(f"SELECT current_setting('{name}')").fetchall()[0][0]


def test_default_limit_and_own_spill_folder_removed_with_the_connection(monkeypatch):
    monkeypatch.delenv(load.ENGINE_MEMORY_ENV, raising=False)
    con = load.engine_connection()
    spill = Path(_setting(con, "temp_directory"))
    assert spill.is_dir() and spill.name.startswith("csanalysis-duckdb-")
    assert _setting(con, "memory_limit") == "1.8 GiB"  # 2GB in DuckDB's units (1000³ bytes)
    other = load.engine_connection()
    assert Path(_setting(other, "temp_directory")) != spill  # two loads never share spill files
    del con
    gc.collect()
    assert not spill.exists()


def test_limit_from_the_environment_and_a_load_under_it_gives_the_same_tables(monkeypatch):
    base = cs.load_dataset("data/demo")
    monkeypatch.setenv(load.ENGINE_MEMORY_ENV, "40MB")
    ds = cs.load_dataset("data/demo")
    assert _setting(ds.con, "memory_limit") == "38.1 MiB"
    pd.testing.assert_frame_equal(ds.panel, base.panel)
    pd.testing.assert_frame_equal(ds.spells, base.spells)


def test_median_equals_the_engines_median():
    import ibis
    import numpy as np

    con = ibis.duckdb.connect()
    rng = np.random.default_rng(7)
    for i in range(60):  # odd and even counts, ties, whole and fractional values
        n = int(rng.integers(1, 300))
        x = [rng.normal(100, 50, n), np.round(rng.uniform(0, 1000, n), 2), rng.integers(1, 6, n) * 12.5][i % 3]
        t = con.create_table(f"t{i}", pd.DataFrame({"amount": x.astype(float)}))
        assert load._median(t.amount.abs()) == t.amount.abs().median().execute()  # exactly, bit for bit
    empty = con.create_table("empty", pd.DataFrame({"amount": np.array([], float)}))
    assert load._median(empty.amount) is None


def test_large_amount_warning_quotes_the_median_pandas_computes(tmp_path):
    import shutil

    folder = tmp_path / "d"
    shutil.copytree("data/demo", folder)
    rev = pd.read_parquet(folder / "revenue.parquet")
    rev.loc[5, "amount"] = 5e7  # a unit slip
    rev.to_parquet(folder / "revenue.parquet", index=False)
    ds = cs.load_dataset(folder)
    [w] = [f for f in ds.report.findings if getattr(f, "key", None) == "finding.large_amounts"]
    a = rev["amount"].abs()
    median = a[a > 0].median()
    assert w.values["median"] == f"{median:,.2f}" and w.n_rows == int((a > 1000 * median).sum())
