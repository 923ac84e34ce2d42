"""Load once per report run: the aggregated Dataset is cached by a key of the inputs and settings.

The report runner loads the data once (:func:`prime`), stores the Dataset here (Parquet tables + JSON settings and
validation report) and names the cache folder in the run context it hands its notebooks
(:class:`csanalysis.data.context.RunContext`); :func:`csanalysis.load_dataset` given that context then reads the
cache instead of re-aggregating when the key matches (the same file contents, the same mapping content, the same
settings, the same package version).
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from .context import RunContext, run_context
from .dataset import Lazy
from .mapping import Settings
from .validation import Finding, ValidationReport

FRAMES = ("customers", "panel", "spells", "usage", "nps", "payments", "cs_activities", "cs_costs", "attributes",
          "payment_attempts", "tickets")


def fingerprint(path: str | Path) -> str:
    """A hash of the data source's files: their names and contents (not sizes or times, which ``cp -p``, ``tar``
    and ``rsync -a`` restore on an edited file)."""
    h = hashlib.sha256()
    p = Path(path)
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    for f in files:
        h.update(str(f.relative_to(p) if p.is_dir() else f.name).encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def source_fingerprint(source: str | Path, context: RunContext | None = None) -> str:
    """The source's :func:`fingerprint`; inside a report run, the one the runner computed at its start and put in
    the run ``context`` (the kernels read the run's cache, not the files, so they need not read every file again)."""
    return (context.fingerprint_of(source) if context is not None else None) or fingerprint(source)


FORMAT = 3  # what a cached load holds; 2: validation findings carry their catalogue key and values; 3: payment_attempts and tickets


def cache_key(source: Any, mapping: Any, settings: dict, context: RunContext | None = None) -> str | None:
    """Key of a load: the content of the source's files (their fingerprint from the run ``context`` when it has
    it), the mapping's content and the settings.

    Parameters
    ----------
    source : path
        The data folder or file.
    mapping : path, dict or None
        The column mapping (a file's content or the mapping itself).
    settings : dict
        The load settings.
    context : RunContext, optional
        The run whose fingerprints of the source may be reused.

    Returns
    -------
    str or None
        The key, or None when the source is not a path that exists.
    """
    from .. import __version__

    p = Path(str(source))
    if not p.exists():
        return None
    h = hashlib.sha256()
    h.update(source_fingerprint(p, context).encode())
    if mapping is not None and Path(str(mapping)).is_file():
        h.update(Path(str(mapping)).read_bytes())
    elif mapping is not None:
        h.update(json.dumps(mapping, sort_keys=True, default=str).encode())
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    h.update(__version__.encode())
    h.update(f"format {FORMAT}".encode())
    return h.hexdigest()[:24]


def save(ds, folder: Path) -> Path:
    """Write a Dataset's aggregated tables and metadata (atomically: temp folder, then rename)."""
    folder = Path(folder)
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}-{secrets.token_hex(4)}")
    tmp.mkdir(parents=True, exist_ok=True)
    for name in FRAMES:
        value = ds.__dict__.get(name)
        if type(value) is Lazy and _write_from_engine(ds, value, tmp / f"{name}.parquet"):
            continue
        # a table still pending is built for writing only, not kept on ``ds``: the runner holds one table at a
        # time, not all of them in pandas while the notebooks run (memory)
        df = value.build() if type(value) is Lazy else value
        if df is not None:
            df.to_parquet(tmp / f"{name}.parquet", index=False)
        del df
    meta = {
        "source": ds.source, "layout": ds.layout, "settings": ds.settings.to_dict(),
        "as_of_month": str(ds.as_of_month.date()), "report": ds.report.to_dict(),
        "date_ranges": ds.date_ranges(), "pseudonymised": ds.pseudonymised,
        "attribute_kinds": ds.attribute_kinds,
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str), encoding="utf-8")
    try:
        os.replace(tmp, folder)
    except OSError:  # another run cached the same key meanwhile: identical content
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _write_from_engine(ds, value: Lazy, path: Path) -> bool:
    """Write a pending table straight from DuckDB (``COPY … TO … (FORMAT PARQUET)``) when it has an engine form
    (data/direct.py) that reads back as exactly the frame its pandas build would write; False when it has none
    and the table must be built in pandas (building them in pandas was most of a large run's time before its
    notebooks start).

    Only for DuckDB with its default settings: the order of the rows written relies on the COPY keeping the
    query's ORDER BY (``preserve_insertion_order``) and on text comparing by code point as in pandas (no
    ``default_collation``). A Dataset whose tables were read into pandas (pseudonymised ids, a cached run)
    has nothing pending and is written from pandas."""
    con = ds.con
    if value.engine is None or getattr(con, "name", None) != "duckdb":
        return False
    settings = con.raw_sql("SELECT current_setting('preserve_insertion_order'), "
                           "current_setting('default_collation')").fetchall()
    if settings != [(True, "")]:
        return False
    import duckdb

    try:
        direct = value.engine()
        if direct is None:
            return False
        con.raw_sql(_copy_sql(con, *direct, path)).fetchall()
    except duckdb.Error:
        # a value the pandas route handles differently, e.g. a month outside datetime64[ns] (DuckDB refuses
        # the cast, pandas wraps it): the pandas route decides, as before
        return False
    return True


def _copy_sql(con, expr, keys: tuple[str, ...], path: Path) -> str:
    """DuckDB's ``COPY (…) TO path (FORMAT PARQUET)`` of ``expr`` sorted by ``keys`` (ascending, nulls last, as
    pandas sorts). Every column is cast to its Ibis type: DuckDB computes some in a wider type than Ibis
    declares (a sum of integers is a 128-bit integer, written to Parquet as a double), and Ibis leaves out a
    cast to the type it already assumes; the pandas route gets the declared type from Ibis."""
    import sqlglot as sg
    from ibis.backends.sql.datatypes import DuckDBType

    def q(name: str) -> str:
        return sg.to_identifier(name, quoted=True).sql("duckdb")

    cols = ", ".join(f"CAST({q(c)} AS {DuckDBType.to_string(t)}) AS {q(c)}" for c, t in expr.schema().items())
    order = ", ".join(f"{q(k)} ASC NULLS LAST" for k in keys)
    target = str(path).replace("'", "''")
    return f"COPY (SELECT {cols} FROM ({con.compile(expr)}) ORDER BY {order}) TO '{target}' (FORMAT PARQUET)"


def load(folder: Path):
    from .dataset import Dataset

    folder = Path(folder)
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    # each table is read when an analysis first reads it (a cohort notebook never reads the usage or NPS tables)
    frames = {n: Lazy(partial(pd.read_parquet, folder / f"{n}.parquet")) if (folder / f"{n}.parquet").is_file()
              else None for n in FRAMES}
    rep = meta["report"]
    report = ValidationReport(rep["source"], [Finding(**{**f, "examples": f["examples"]}) for f in rep["findings"]],
                              rep["counts"], rep["reconciliation"])
    settings = Settings(**{k: v for k, v in meta["settings"].items()})
    ds = Dataset(source=meta["source"], layout=meta["layout"], settings=settings, report=report,
                 as_of_month=pd.Timestamp(meta["as_of_month"]), pseudonymised=meta.get("pseudonymised", False),
                 attribute_kinds=meta.get("attribute_kinds"), **frames)
    ds._date_ranges = {k: tuple(v) for k, v in meta["date_ranges"].items()}
    ds.cache_key = folder.name
    _engine_from_files(ds, folder)
    return ds


def _engine_from_files(ds, folder: Path) -> None:
    """The panel and spells in their engine form (:meth:`Dataset.engine_table`) as DuckDB queries over the cached
    Parquet files, instead of registering the pandas frames: the same rows and types, without building the frames
    (turning a large pandas panel into an in-memory table is slow)."""
    import ibis

    from .spells import month_index as m

    if not all((folder / f"{n}.parquet").is_file() for n in ("panel", "spells")):
        return
    from .load import engine_connection

    con = engine_connection()
    p = con.read_parquet(folder / "panel.parquet")
    s = con.read_parquet(folder / "spells.parquet")
    ds.engine["panel"] = p.select("customer_id", m=m(p.month), mrr=p.mrr, spell=p.spell, tenure=p.tenure,
                                  spell_month=p.spell_month)
    start = m(s.start)
    ds.engine["spells"] = s.select("customer_id", spell=s.spell, start_m=start, first_m=(start + s.entry).cast("int32"),
                                   last_m=m(s.last_paid), duration=s.duration, event=s.event.cast("int8"), entry=s.entry)


def lookup(source, mapping, settings: dict, context: RunContext | None = None):
    """The cached Dataset for these inputs when the cache of the run ``context`` has it, else None (always None
    without a run's cache folder).

    Parameters
    ----------
    source, mapping, settings, context
        As in :func:`cache_key`.

    Returns
    -------
    Dataset or None
        The cached Dataset, or None.
    """
    root = context.cache_dir if context is not None else None
    if not root:
        return None
    key = cache_key(source, mapping, settings, context)
    if key and (Path(root) / key / "meta.json").is_file():
        with open(Path(root) / key / "hits.log", "a", encoding="utf-8") as fh:  # one line per reader (tests, audits)
            fh.write(f"{os.getpid()}\n")
        return load(Path(root) / key)
    return None


def prune(root: Path, keep_keys: set[str], max_age_hours: float = 24.0) -> None:
    """Remove cache entries older than ``max_age_hours`` other than ``keep_keys`` (a run started meanwhile may
    still read a recent entry; a miss only costs a fresh load)."""
    import shutil
    import time

    root = Path(root)
    if root.is_dir():
        for entry in root.iterdir():
            if entry.is_dir() and entry.name not in keep_keys and time.time() - entry.stat().st_mtime > max_age_hours * 3600:
                shutil.rmtree(entry, ignore_errors=True)


def prime(source: Path, mapping: str | None, as_of: str | None, context: RunContext) -> tuple[Any, str]:
    """A report run's one load: load, validate and aggregate ``source`` (failing fast on bad data, before any
    notebook runs), store it in the context's cache folder unless it was read from there, and keep only the
    cached form (the loaded engine and tables are released while the notebooks run); entries of earlier runs
    are pruned (:func:`prune`).

    Parameters
    ----------
    source : the resolved data source.
    mapping : the mapping file's resolved path, or None.
    as_of : the analysis date as the user gave it, or None.
    context : the run's context (its ``cache_dir``, the source's ``fingerprint``, ``pseudonymise``).

    Returns
    -------
    tuple
        The Dataset (read from the cache) and its cache key.
    """
    from . import load as loader

    context = run_context(context)
    root = Path(context.cache_dir)
    key = cache_key(source, mapping, loader.cache_settings(as_of=as_of, pseudonymise=context.pseudonymise), context)
    ds = loader.load_dataset(source, mapping=mapping, as_of=as_of, context=context)  # a hit: the same inputs ran before
    if ds.cache_key is None:
        ds.date_ranges()
        save(ds, root / key)
        ds = load(root / key)
    prune(root, {key})
    return ds, key


__all__ = ["cache_key", "fingerprint", "source_fingerprint", "save", "load", "lookup", "prime", "prune"]
