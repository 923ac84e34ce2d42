"""A report run's cache writes the pending tables straight from the engine (data/direct.py, cache.save): each
file must read back as exactly the frame the pandas route writes (columns, row order, dtypes, values), and a
table the engine form cannot promise that for must go the pandas way."""
from __future__ import annotations

import types

import ibis
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import csanalysis as cs
from csanalysis.data import RunContext, cache, direct, synth
from csanalysis.data.dataset import Lazy
from csanalysis.periods import month_start

ENGINE_TABLES = ("customers", "panel", "spells", "usage", "payments", "cs_activities")


@pytest.fixture(scope="module")
def awkward_source(tmp_path_factory):
    """Generated data with ids that sort differently by bytes, case or locale, and nulls in optional customer
    columns and usage measures."""
    out = tmp_path_factory.mktemp("direct") / "d"
    synth.write_demo(out, n_customers=300, months=24, seed=4)
    rng = np.random.default_rng(2)
    ids = pd.read_parquet(out / "customers.parquet")["customer_id"]
    prefixes = np.array(["é", "a", "B", "Z", "ä", "_", "10", "9", "ａ", "b ", "日本", "A-"])
    new_id = dict(zip(ids, [p + i for p, i in zip(rng.choice(prefixes, len(ids)), ids)]))
    for f in out.glob("*.parquet"):
        df = pd.read_parquet(f)
        if "customer_id" in df.columns:
            df["customer_id"] = df["customer_id"].map(new_id)
        if f.stem == "customers":
            for col, frac in (("seats", 0.2), ("renewal_date", 0.2), ("plan", 0.1), ("acquisition_cost", 0.1)):
                df.loc[df.sample(frac=frac, random_state=len(col)).index, col] = None
        if f.stem == "usage":
            df.loc[df.sample(frac=0.05, random_state=1).index, "logins"] = np.nan
        df.to_parquet(f, index=False)
    return out


def _tables(folder):
    return {f.stem: f for f in sorted(folder.glob("*.parquet"))}


def test_engine_route_reads_back_as_the_pandas_route(awkward_source, tmp_path):
    engine_ds = cs.load_dataset(awkward_source)
    pandas_ds = cs.load_dataset(awkward_source)
    for name in ENGINE_TABLES:  # the same Dataset with every table forced the pandas way
        pandas_ds.__dict__[name].engine = None
    a, b = _tables(cache.save(engine_ds, tmp_path / "engine")), _tables(cache.save(pandas_ds, tmp_path / "pandas"))
    assert a.keys() == b.keys() and set(ENGINE_TABLES) <= set(a)
    for name in ENGINE_TABLES:  # the engine wrote these (pandas would have added its metadata)
        assert b"pandas" not in (pq.read_schema(a[name]).metadata or {}), name
    for name in a:
        pd.testing.assert_frame_equal(pd.read_parquet(a[name]), pd.read_parquet(b[name]), check_exact=True,
                                      check_dtype=True, check_index_type=True, obj=name)
    # and the frames analyses get from the cache are the ones they get from a fresh load
    again = cache.load(tmp_path / "engine")
    for name in ENGINE_TABLES:  # dtypes too: dates come back in whole seconds, as pandas has them (cache._seconds)
        pd.testing.assert_frame_equal(getattr(again, name), getattr(pandas_ds, name), obj=name)


def test_cached_engine_tables_equal_the_registered_frames(awkward_source, tmp_path):
    """A Dataset read from the cache gives its panel and spells to engine analyses as DuckDB queries over the
    cached Parquet files; they hold what registering its pandas frames gives (spells.panel_from_pandas /
    spells_from_pandas): the same columns, types and rows."""
    from csanalysis.data import spells as sp

    again = cache.load(cache.save(cs.load_dataset(awkward_source), tmp_path / "c"))
    for name, convert, keys in (("panel", sp.panel_from_pandas, ["customer_id", "m"]),
                                ("spells", sp.spells_from_pandas, ["customer_id", "spell"])):
        got = again.engine_table(name).execute().sort_values(keys).reset_index(drop=True)
        expected = convert(getattr(again, name)).sort_values(keys).reset_index(drop=True)
        assert len(got) > 0 and list(got.columns) == list(expected.columns), name
        assert got.dtypes.to_dict() == expected.dtypes.to_dict(), name
        pd.testing.assert_frame_equal(got, expected, check_exact=True, obj=name)


def test_pseudonymised_dataset_is_written_from_pandas(awkward_source, tmp_path, monkeypatch):
    monkeypatch.setenv("CSANALYSIS_PSEUDONYM_KEY", "test-key")
    ds = cs.load_dataset(awkward_source, context=RunContext(pseudonymise=True))
    folder = cache.save(ds, tmp_path / "p")
    panel = pd.read_parquet(folder / "panel.parquet")
    assert panel["customer_id"].str.startswith("P-").all()
    pd.testing.assert_frame_equal(panel, ds.panel)


def _panel(**changes):
    rows = {"customer_id": ["b", "a", "a"], "m": [24290, 24291, 24290], "mrr": [10.0, 5.0, np.nan],
            "spell": [1, 1, 1], "tenure": [0, 1, 0], "spell_month": [0, 1, 0]}
    df = pd.DataFrame({**rows, **changes})
    return ibis.memtable(df.astype({"m": "int32", "spell": "int32", "tenure": "int32", "spell_month": "int32"}))


def _spells(**changes):
    rows = {"customer_id": ["b", "a"], "spell": [1, 1], "start_m": [24290, 24280], "first_m": [24290, 24285],
            "last_m": [24292, 24291], "duration": [3, 12], "event": [1, 0], "entry": [0, 5]}
    return ibis.memtable(pd.DataFrame({**rows, **changes}).astype({"event": "int8"}))


@pytest.mark.parametrize("changes", [{"mrr": [10.0, 0.0, np.nan]}, {"spell": [1, 0, 1]}, {"tenure": [0, -1, 0]},
                                     {"spell_month": [0, 1, -2]}, {"m": [24290, 24290, 24290]},
                                     {"m": [24290, 10, 10]},  # over MAX_MONTH_BITS months apart
                                     {"customer_id": ["b", None, "a"]}])
def test_panel_that_breaks_the_schema_goes_the_pandas_way(changes):
    assert direct.panel(_panel()) is not None
    assert direct.panel(_panel(**changes)) is None


def test_purchase_log_panel_may_hold_months_summing_to_zero_or_less():
    """A purchase log's panel schema has no rule on mrr (a month with purchases is active whatever they sum to);
    its other rules are the subscription panel's."""
    for mrr in ([10.0, 0.0, np.nan], [10.0, -5.0, 0.0]):
        assert direct.panel(_panel(mrr=mrr), layout="purchase_log") is not None
        assert direct.panel(_panel(mrr=mrr)) is None
    assert direct.panel(_panel(spell=[1, 0, 1]), layout="purchase_log") is None
    assert direct.panel(_panel(m=[24290, 24290, 24290]), layout="purchase_log") is None


def test_purchase_log_engine_route_reads_back_as_the_pandas_route(tmp_path):
    """A purchase log with free items (months summing to 0) and a month of returns (below 0): the engine writes
    its panel (the purchase-log schema), and the files equal the pandas route's."""
    d = tmp_path / "log"
    d.mkdir()
    (d / "revenue.csv").write_text("customer_id,date,amount\na,2024-01-10,0\na,2024-02-05,20\nb,2024-01-15,0\n"
                                   "c,2024-02-01,30\nc,2024-02-20,-30\nc,2024-03-03,10\nc,2024-03-04,-25\n"
                                   "d,2024-03-10,40\n")
    mapping = {"layout": "purchase_log", "settings": {"as_of": "2024-04-30"}}
    engine_ds = cs.load_dataset(d, mapping=mapping)
    pandas_ds = cs.load_dataset(d, mapping=mapping)
    for name in ("customers", "panel", "spells"):
        pandas_ds.__dict__[name].engine = None
    a, b = _tables(cache.save(engine_ds, tmp_path / "engine")), _tables(cache.save(pandas_ds, tmp_path / "pandas"))
    assert b"pandas" not in (pq.read_schema(a["panel"]).metadata or {})
    for name in ("customers", "panel", "spells"):
        pd.testing.assert_frame_equal(pd.read_parquet(a[name]), pd.read_parquet(b[name]), check_exact=True, obj=name)
    assert sorted(pd.read_parquet(a["panel"])["mrr"]) == [-15.0, 0.0, 0.0, 0.0, 20.0, 40.0]


def test_panel_months_unique_over_a_long_span_go_the_engine_way():
    assert direct.panel(_panel(m=[24290, 10, 24290])) is not None


@pytest.mark.parametrize("changes", [{"event": [1, 2]}, {"entry": [0, 12]}, {"duration": [3, 0]}, {"duration": [-1, 12]},
                                     {"spell": [1, 0]}, {"customer_id": ["a", "a"]}, {"entry": [0, -1]}])
def test_spells_that_break_the_schema_go_the_pandas_way(changes):
    assert direct.spells(_spells()) is not None
    assert direct.spells(_spells(**changes)) is None


def test_a_month_outside_datetime64_ns_goes_the_pandas_way(tmp_path):
    """pandas wraps such a month silently and DuckDB refuses it: the pandas route decides, as before."""
    con = ibis.duckdb.connect()
    ok = pd.DataFrame({"customer_id": ["a", "b"], "m": np.array([24290, 24291], dtype="int32"), "n": [1, 2]})
    far = ok.assign(m=np.array([2300 * 12, 24291], dtype="int32"))

    def lazy(df):
        def build():
            out = df.sort_values(["customer_id", "m"]).reset_index(drop=True)
            out.insert(1, "month", month_start(out.pop("m")))
            return out
        return Lazy(build, lambda: direct.monthly(con.create_table("t", df, overwrite=True)))

    ds = types.SimpleNamespace(con=con)
    assert cache._write_from_engine(ds, lazy(ok), tmp_path / "ok.parquet") is not None  # written (no seconds columns)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "ok.parquet"), lazy(ok).build())
    assert cache._write_from_engine(ds, lazy(far), tmp_path / "far.parquet") is None


def _rules(s) -> dict:
    """A pandera schema's rules, as plain data."""
    cols = {c: (str(col.dtype), col.nullable, sorted((ch.name, str(ch.statistics)) for ch in col.checks))
            for c, col in s.columns.items()}
    return {"columns": cols, "checks": sorted(ch.error for ch in s.checks), "unique": s.unique, "strict": s.strict}


def test_engine_twins_cover_the_schemas_rules():
    """direct.panel / direct.spells count the pandera schemas' rules in the engine (the tests above break each
    one). They are written out by hand, so this pins the rules they were written for: a rule added to
    PANEL_SCHEMA or SPELLS_SCHEMA fails here until its engine twin (and a test above) is added."""
    from csanalysis.data import schema

    ge = "greater_than_or_equal_to"
    assert _rules(schema.PANEL_SCHEMA) == {
        "columns": {"customer_id": ("str", False, []), "month": ("datetime64[ns]", False, []),
                    "mrr": ("float64", True, [("greater_than", "{'min_value': 0}")]),
                    "spell": ("int64", False, [(ge, "{'min_value': 1}")]),
                    "tenure": ("int64", False, [(ge, "{'min_value': 0}")]),
                    "spell_month": ("int64", False, [(ge, "{'min_value': 0}")])},
        "checks": [], "unique": ["customer_id", "month"], "strict": True}
    purchase = _rules(schema.PANEL_SCHEMA)
    purchase["columns"]["mrr"] = ("float64", True, [])  # no rule on mrr in a purchase log
    assert _rules(schema.PURCHASE_PANEL_SCHEMA) == purchase
    assert schema.panel_schema_name("purchase_log") == "PURCHASE_PANEL_SCHEMA"
    assert schema.panel_schema_name("subscription") == "PANEL_SCHEMA"
    assert _rules(schema.SPELLS_SCHEMA) == {
        "columns": {"customer_id": ("str", False, []), "spell": ("int64", False, [(ge, "{'min_value': 1}")]),
                    "start": ("datetime64[ns]", False, []), "last_paid": ("datetime64[ns]", False, []),
                    "end": ("datetime64[ns]", True, []), "duration": ("int64", False, [(ge, "{'min_value': 0}")]),
                    "event": ("int64", False, [("isin", "{'allowed_values': [0, 1]}")]),
                    "entry": ("int64", False, [(ge, "{'min_value': 0}")])},
        "checks": ["end is set exactly for events", "entry < duration", "no paid month only for a churn at 0"], "unique": ["customer_id", "spell"],
        "strict": True}


def test_a_churn_at_zero_with_no_paid_month_is_a_valid_spell():
    """A snapshot's churned row with tenure 0: duration 0 and an event (the pandas schema accepts it too)."""
    assert direct.spells(_spells(duration=[0, 12], start_m=[24293, 24280], last_m=[24292, 24291])) is not None
