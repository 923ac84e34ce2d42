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
