"""The loader's embedded DuckDB is bounded: a memory limit and a spill folder of its own (load.engine_connection)."""
from __future__ import annotations

import gc
from pathlib import Path

import pandas as pd
import pytest

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


def test_cached_tables_larger_than_the_limit_move_to_disk(monkeypatch):
    """A load's cached table may exceed the engine's memory limit (the monthly MRR at 10M customers is 158M rows,
    about 4 GB, under a 2 GB limit): the engine's database is a file in its spill folder, where DuckDB moves it.
    (At 10M the grouping alone stopped with "Out of Memory Error" in memory and ran with the file: RESULTS.md.)"""
    monkeypatch.setenv(load.ENGINE_MEMORY_ENV, "30MB")
    con = load.engine_connection()
    spill = Path(_setting(con, "temp_directory"))
    assert Path(con.con.sql("SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
                .fetchall()[0][0]).parent == spill  # the engine's own file, removed with the spill folder
    con.raw_sql("CREATE VIEW big AS SELECT i, 'customer-' || (i // 12)::VARCHAR AS customer_id, i * 0.5 AS mrr "
                "FROM range(4000000) t(i)")  # about 120 MB as a table: four times the limit
    cached = con.table("big").cache()
    assert cached.count().execute() == 4_000_000
    assert float(cached.mrr.sum().execute()) == 0.5 * 4_000_000 * 3_999_999 / 2
    del con, cached
    gc.collect()
    assert not spill.exists()


def test_a_load_builds_under_the_load_limit_and_leaves_the_default(monkeypatch):
    """The monthly MRR of ten million customers needs more than 2 GB to group (benchmarks/RESULTS.md): the loader
    builds its tables under LOAD_ENGINE_MEMORY, then sets the default back; a limit the user set holds throughout."""
    seen = []
    build = load._Builder.build

    def recording(self):
        seen.append(_setting(self.src.con, "memory_limit"))
        return build(self)

    monkeypatch.setattr(load._Builder, "build", recording)
    monkeypatch.delenv(load.ENGINE_MEMORY_ENV, raising=False)
    ds = cs.load_dataset("data/demo")
    assert seen[-1] == "2.7 GiB"  # 3GB in DuckDB's units
    assert _setting(ds.con, "memory_limit") == "1.8 GiB"
    monkeypatch.setenv(load.ENGINE_MEMORY_ENV, "40MB")
    ds = cs.load_dataset("data/demo")
    assert seen[-1] == "38.1 MiB" and _setting(ds.con, "memory_limit") == "38.1 MiB"
