"""Load once: the aggregated Dataset is cached by a key of the inputs and settings.

One entry format, two places:

* **a report run's cache** (``reports/.cache``): the runner loads the data once (:func:`prime`), stores the
  Dataset here (Parquet tables + JSON settings and validation report) and names the cache folder in the run
  context it hands its notebooks (:class:`csanalysis.data.context.RunContext`); :func:`csanalysis.load_dataset`
  given that context then reads the cache instead of re-aggregating when the key matches.
* **the user's load cache** (:func:`user_cache_dir`: ``$CSANALYSIS_CACHE_DIR``, else
  ``$XDG_CACHE_HOME/csanalysis/loads``, else ``~/.cache/csanalysis/loads``; created with mode 700, since an entry
  holds customer data): :func:`csanalysis.load_dataset` without a run's cache (a session, a script, another
  process) keeps each load of a folder or file there (:func:`keep`) and reads it back the next time the same
  inputs are loaded (:func:`reuse`); ``load_dataset(..., cache=False)`` bypasses it. To stay cheap on a cold
  load, an entry holds the customers, panel and spells; each optional table (usage, NPS, payments, …) is added
  to the entry by the first process that builds it. Entries unused for 30 days go, and the least recently used
  go while the folder holds more than ``$CSANALYSIS_CACHE_MAX_BYTES`` (4 GiB by default; :func:`prune_user`).
  ``CSANALYSIS_LOAD_CACHE=0`` turns the default off (``cache=`` a folder still uses that folder).

The key (:func:`cache_key`): the content of the source's files (not their sizes or times), the mapping's content,
the settings (as_of and the other arguments; the pseudonymisation key's id; today's date when no as_of is given,
since the last complete month and the rows dated after today depend on it), the package's version, the loader's
code and :data:`FORMAT`. An entry is written to a temporary folder and renamed into place, and its meta.json lists
each file's size: a partial or damaged entry is removed and the load done again.
"""
from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import math
import os
import secrets
import shutil
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .context import RunContext, run_context
from .dataset import Lazy
from .mapping import Settings
from .validation import Finding, ValidationReport

FRAMES = ("customers", "panel", "spells", "usage", "nps", "payments", "cs_activities", "cs_costs", "attributes",
          "payment_attempts", "tickets", "invoices")


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


FORMAT = 5  # what a cached load holds; 2: validation findings carry their catalogue key and values; 3: payment_attempts
# and tickets; 4: the tables present, the files' sizes, the report's examples with their types (shown exactly); 5: the
# annual invoices (data/invoices.py)
CORE = ("customers", "panel", "spells")  # always in an entry; the optional tables may be added later
CACHE_DIR_ENV = "CSANALYSIS_CACHE_DIR"
ENABLED_ENV = "CSANALYSIS_LOAD_CACHE"  # 0 / false / no / off: load_dataset's default is not to use the user's cache
MAX_BYTES_ENV = "CSANALYSIS_CACHE_MAX_BYTES"
DEFAULT_MAX_BYTES = 4 << 30
MAX_AGE_DAYS = 30.0


def user_cache_dir() -> Path:
    """The user's load cache: ``$CSANALYSIS_CACHE_DIR``, else ``$XDG_CACHE_HOME/csanalysis/loads``, else
    ``~/.cache/csanalysis/loads``."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "csanalysis" / "loads"


def user_cache_enabled() -> bool:
    """Whether :func:`csanalysis.load_dataset` uses the user's load cache by default (``$CSANALYSIS_LOAD_CACHE``
    not 0, false, no or off)."""
    return os.environ.get(ENABLED_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def _code_id() -> str:
    """A hash of the loader's code (csanalysis/data/*.py and periods.py): an edited loader never reads an entry
    that the code before the edit wrote (the version alone does not change between commits)."""
    global _CODE_ID
    if _CODE_ID is None:
        here = Path(__file__).resolve().parent
        h = hashlib.sha256()
        for f in sorted([*here.glob("*.py"), here.parent / "periods.py"]):
            h.update(f.name.encode())
            h.update(f.read_bytes())
        _CODE_ID = h.hexdigest()[:16]
    return _CODE_ID


_CODE_ID: str | None = None


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
    h.update(_code_id().encode())
    h.update(f"format {FORMAT}".encode())
    return h.hexdigest()[:24]


def save(ds, folder: Path, *, optional: bool = True, exact: bool = False) -> Path | None:
    """Write a Dataset's aggregated tables and metadata (atomically: temp folder, then rename).

    Parameters
    ----------
    ds : Dataset
        The loaded data.
    folder : path
        The entry's folder (its name is the cache key).
    optional : bool
        Also build and write the optional tables still pending (a report run's cache, whose notebooks read them
        all); False: the core tables (:data:`CORE`) and the tables already built only, the others being added
        later by whoever builds them (the user's load cache, where a cold load should not pay for them).
    exact : bool
        Write nothing (return None) unless the validation report reads back exactly as it is (every example of
        a type the entry keeps: text, numbers, dates, timestamps without a time zone).

    Returns
    -------
    path or None
        The entry's folder (None: not written, see ``exact``).
    """
    folder = Path(folder)
    report, is_exact = _report_meta(ds.report)
    if exact and not is_exact:
        return None
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}-{secrets.token_hex(4)}")
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        present, units = [], {}
        for name in FRAMES:
            value = ds.__dict__.get(name)
            if value is None:
                continue
            present.append(name)
            if type(value) is Lazy and not optional and name not in CORE:
                continue
            if type(value) is Lazy:
                seconds = _write_from_engine(ds, value, tmp / f"{name}.parquet")
                if seconds is not None:
                    units[name] = seconds
                    continue
            # a table still pending is built for writing only, not kept on ``ds``: the runner holds one table at a
            # time, not all of them in pandas while the notebooks run (memory)
            df = value.build() if type(value) is Lazy else value
            if df is not None:
                df.to_parquet(tmp / f"{name}.parquet", index=False)
                units[name] = _seconds(df)
            del df
        meta = {
            "format": FORMAT, "source": ds.source, "layout": ds.layout, "settings": ds.settings.to_dict(),
            "as_of_month": str(ds.as_of_month.date()), "report": report,
            "date_ranges": ds.date_ranges(), "pseudonymised": ds.pseudonymised,
            "attribute_kinds": ds.attribute_kinds, "frames": present, "seconds": units,
            "files": {f.name: f.stat().st_size for f in sorted(tmp.glob("*.parquet"))},
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str), encoding="utf-8")  # last
    except BaseException:  # nothing half-written stays behind (an interrupted write leaves only the temp folder)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        os.replace(tmp, folder)
    except OSError:  # another run cached the same key meanwhile: identical content
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


class _NotKept(Exception):
    """A validation example of a type the entry does not keep exactly."""


def _enc(e):
    """An example of a finding as JSON that reads back as the same value of the same type (:func:`_dec`)."""
    if e is None or isinstance(e, (bool, str)) or type(e) is int:
        return e
    if type(e) is float:
        return e if math.isfinite(e) else {"float": repr(e)}
    if isinstance(e, pd.Timestamp) and e.tz is None and type(e) is pd.Timestamp:
        return {"timestamp": e.isoformat()}
    if type(e) is dt.datetime and e.tzinfo is None:
        return {"datetime": e.isoformat()}
    if type(e) is dt.date:
        return {"date": e.isoformat()}
    if isinstance(e, np.generic) and e.dtype.kind in "biuf":
        return {"numpy": e.dtype.str, "value": _enc(e.item())}
    if type(e) is decimal.Decimal:
        return {"decimal": str(e)}
    raise _NotKept(type(e).__name__)


def _dec(v):
    if not isinstance(v, dict):
        return v
    if "float" in v:
        return float(v["float"])
    if "timestamp" in v:
        return pd.Timestamp(v["timestamp"])
    if "datetime" in v:
        return dt.datetime.fromisoformat(v["datetime"])
    if "date" in v:
        return dt.date.fromisoformat(v["date"])
    if "numpy" in v:
        return np.dtype(v["numpy"]).type(_dec(v["value"]))
    return decimal.Decimal(v["decimal"])


def _report_meta(report: ValidationReport) -> tuple[dict, bool]:
    """The validation report as an entry keeps it, and whether it reads back exactly (the same text, the same
    findings with examples of the same types and ids; else the examples are kept as text, as before format 4)."""
    out = report.to_dict()
    try:
        for f, d in zip(report.findings, out["findings"]):
            d["examples_typed"] = [_enc(e) for e in f.examples]
            d["ids"] = [str(i) for i in f.ids]
        back = _report_from_meta(json.loads(json.dumps(out, default=str)))
    except _NotKept:
        for d in out["findings"]:
            d.pop("examples_typed", None)
        return out, False

    def shown(r: ValidationReport):
        return (r.to_text(), json.dumps(r.to_dict(), default=str),
                [([type(e) for e in f.examples], [repr(e) for e in f.examples], list(f.ids)) for f in r.findings])

    return out, shown(back) == shown(report)


_FINDING_FIELDS = ("level", "table", "message", "column", "n_rows", "file", "key", "values")


def _report_from_meta(rep: dict) -> ValidationReport:
    findings = [Finding(**{k: f.get(k) for k in _FINDING_FIELDS if k in f},
                        examples=[_dec(e) for e in f["examples_typed"]] if "examples_typed" in f else f["examples"],
                        ids=list(f.get("ids", []))) for f in rep["findings"]]
    for f in findings:
        f.values = f.values or {}
    return ValidationReport(rep["source"], findings, rep["counts"], rep["reconciliation"])


def _seconds(df: pd.DataFrame) -> list[str]:
    """The columns of a frame in whole seconds (``datetime64[s]``, as dates come from the engine): Parquet has no
    such unit and gives them back in milliseconds, so a cached table is cast back (the same frame, dtypes too)."""
    return [str(c) for c, t in df.dtypes.items() if str(t) == "datetime64[s]"]


def _write_from_engine(ds, value: Lazy, path: Path) -> list[str] | None:
    """Write a pending table straight from DuckDB (``COPY … TO … (FORMAT PARQUET)``) when it has an engine form
    (data/direct.py) that reads back as exactly the frame its pandas build would write; False when it has none
    and the table must be built in pandas (building them in pandas was most of a large run's time before its
    notebooks start).

    Only for DuckDB with its default settings: the order of the rows written relies on the COPY keeping the
    query's ORDER BY (``preserve_insertion_order``) and on text comparing by code point as in pandas (no
    ``default_collation``). A Dataset whose tables were read into pandas (pseudonymised ids, a cached run)
    has nothing pending and is written from pandas.

    Returns the columns whose pandas form is in whole seconds (:func:`_seconds`), or None when not written."""
    con = ds.con
    if value.engine is None or getattr(con, "name", None) != "duckdb":
        return None
    settings = con.raw_sql("SELECT current_setting('preserve_insertion_order'), "
                           "current_setting('default_collation')").fetchall()
    if settings != [(True, "")]:
        return None
    import duckdb

    try:
        direct = value.engine()
        if direct is None:
            return None
        con.raw_sql(_copy_sql(con, *direct, path)).fetchall()
    except duckdb.Error:
        # a value the pandas route handles differently, e.g. a month outside datetime64[ns] (DuckDB refuses
        # the cast, pandas wraps it): the pandas route decides, as before
        return None
    # a date is datetime64[s] in pandas, written as a millisecond timestamp (data/direct.py as_pandas_read)
    return [c for c, t in direct[0].schema().items() if t.is_timestamp() and t.scale == 3]


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


def load(folder: Path, reload: "Reload | None" = None, meta: dict | None = None):
    """The Dataset of a cache entry, each table read when an analysis first reads it.

    ``reload`` (the user's load cache, :func:`reuse`): the fresh load of the same inputs, done only if something
    not in the entry is read: an optional table no process has built yet (then added to the entry), or the raw
    tables (``ds.tables``). Without it (a report run's cache) the entry holds every table and ``ds.tables`` is
    empty."""
    from .dataset import Dataset

    folder = Path(folder)
    meta = meta if meta is not None else json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    present = meta.get("frames")
    frames = {}
    for n in FRAMES:
        path = folder / f"{n}.parquet"
        if (n not in present) if present is not None else not path.is_file():
            frames[n] = None
        elif path.is_file():
            # each table is read when an analysis first reads it (a cohort notebook never reads the usage or NPS tables)
            frames[n] = Lazy(partial(_read, path, reload, meta.get("seconds", {}).get(n, [])))
        else:
            frames[n] = Lazy(partial(_fill, folder, n, reload))
    report = _report_from_meta(meta["report"])
    settings = Settings(**{k: v for k, v in meta["settings"].items()})
    pseudonymised = meta.get("pseudonymised", False)
    ds = Dataset(source=meta["source"], layout=meta["layout"], settings=settings, report=report,
                 as_of_month=pd.Timestamp(meta["as_of_month"]), pseudonymised=pseudonymised,
                 attribute_kinds=meta.get("attribute_kinds"), **frames)
    ds._date_ranges = {k: tuple(v) for k, v in meta["date_ranges"].items()}
    ds.cache_key = folder.name
    if reload is not None and not pseudonymised:
        ds.tables = _RawTables(reload)
    _engine_from_files(ds, folder)
    return ds


class Reload:
    """The fresh load (``load_dataset(..., cache=False)``) behind a Dataset read from the user's load cache, done
    once, when first needed."""

    def __init__(self, load):
        self._load, self._ds = load, None

    def dataset(self):
        if self._ds is None:
            self._ds = self._load()
        return self._ds


class _RawTables(Mapping):
    """``ds.tables`` of a Dataset read from the user's load cache: the validated raw tables of the fresh load,
    loaded when first read (a Dataset loaded directly has them; an analysis that reads them gets the same)."""

    def __init__(self, reload: Reload):
        self._reload = reload

    def _tables(self) -> dict:
        return self._reload.dataset().tables

    def __getitem__(self, name):
        return self._tables()[name]

    def __iter__(self):
        return iter(self._tables())

    def __len__(self):
        return len(self._tables())


def _read(path: Path, reload: Reload | None, seconds: list[str] = (), only=None) -> pd.DataFrame:
    """A table of an entry (its ``seconds`` columns cast back: :func:`_seconds`); an optional table of the user's
    cache that cannot be read is built again. ``only``: customer ids (text) whose rows alone are read, filtered
    while the file is scanned (a sample's table: grouped.sample_dataset), in the file's order."""
    try:
        if only is None:
            df = pd.read_parquet(path)
        else:
            import pyarrow as pa
            import pyarrow.dataset as pads
            import pyarrow.parquet as pq

            kind = pq.read_schema(path).field("customer_id").type
            ids = pa.array(list(only), pa.string()).cast(kind)
            df = pq.read_table(path, filters=pads.field("customer_id").isin(ids)).to_pandas()
        written = _pandas_seconds(path)
        cast = {c: "datetime64[s]" for c in (*seconds, *written)
                if c in df.columns and str(df[c].dtype) != "datetime64[s]"}
        return df.astype(cast) if cast else df
    except Exception:  # noqa: BLE001 - damaged or removed meanwhile: the fresh load decides (or raises)
        if reload is None or path.stem in CORE:
            raise
        df = _fill(path.parent, path.stem, reload)
        return df if only is None else df[df["customer_id"].astype(str).isin(set(only))].reset_index(drop=True)


def parquet_file(value: Lazy) -> Path | None:
    """The Parquet file a pending table of a cache entry reads whole (:func:`_read` without ``only``), or None
    (another kind of pending table, or one read for a sample's customers only)."""
    build = value.build
    if isinstance(build, partial) and build.func is _read and build.keywords.get("only") is None:
        path = Path(build.args[0])
        return path if path.is_file() else None
    return None


def read_columns(value: Lazy, columns) -> pd.DataFrame | None:
    """Only ``columns`` (those the file has) of a pending table of a cache entry that reads a Parquet file whole
    (:func:`parquet_file`), as :func:`_read` gives them (its ``seconds`` columns cast back), without building the
    other columns; None for another kind of pending table."""
    path = parquet_file(value)
    if path is None:
        return None
    import pyarrow.parquet as pq

    names = pq.read_schema(path).names
    df = pd.read_parquet(path, columns=[c for c in columns if c in names])
    args = value.build.args
    seconds = value.build.keywords.get("seconds", args[2] if len(args) > 2 else ())
    cast = {c: "datetime64[s]" for c in (*seconds, *_pandas_seconds(path))
            if c in df.columns and str(df[c].dtype) != "datetime64[s]"}
    return df.astype(cast) if cast else df


def _pandas_seconds(path: Path) -> list[str]:
    """The columns that pandas wrote in whole seconds (its metadata in the Parquet file: :func:`_seconds`)."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).pandas_metadata or {}
    return [c["name"] for c in meta.get("columns", []) if c.get("numpy_type") == "datetime64[s]" and c.get("name")]


def _fill(folder: Path, name: str, reload: Reload | None) -> pd.DataFrame:
    """An optional table not in the entry yet: built by the fresh load of the same inputs and added to the entry."""
    if reload is None:
        raise FileNotFoundError(f"the cache entry {folder} has no {name}.parquet")
    df = getattr(reload.dataset(), name)
    _add(df, folder / f"{name}.parquet")
    return df


def _kept(build, path: Path) -> pd.DataFrame:
    """An optional table of a fresh load, built when first read and added to the load's entry in the user's cache."""
    df = build()
    _add(df, path)
    return df


def _add(df: pd.DataFrame | None, path: Path) -> None:
    """Write a table into an existing entry (temp file, then rename; nothing when another process added it or the
    entry is gone)."""
    if df is None or path.exists():
        return
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}-{secrets.token_hex(4)}")
    try:
        df.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


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
    if key and (Path(root) / key).is_dir() and _intact(Path(root) / key) is None:
        shutil.rmtree(Path(root) / key, ignore_errors=True)  # partial or damaged: loaded and written again
    if key and (Path(root) / key / "meta.json").is_file():
        with open(Path(root) / key / "hits.log", "a", encoding="utf-8") as fh:  # one line per reader (tests, audits)
            fh.write(f"{os.getpid()}\n")
        return load(Path(root) / key)
    return None


def _intact(folder: Path) -> dict | None:
    """The entry's meta when the entry is whole (meta.json readable, of this :data:`FORMAT`, each file it lists
    of its size and ending as a Parquet file ends), else None."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            return None
        for name, size in meta["files"].items():
            p = folder / name
            if p.stat().st_size != size:
                return None
            with open(p, "rb") as fh:
                fh.seek(-4, os.SEEK_END)
                if fh.read(4) != b"PAR1":
                    return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return meta


def reuse(root: Path, key: str, reload: Reload):
    """The user's cached load of ``key`` (:func:`load` with ``reload``), or None when there is none; a partial or
    damaged entry is removed (the caller loads again and :func:`keep` writes a new one)."""
    folder = Path(root) / key
    try:
        if not folder.is_dir():
            return None
        meta = _intact(folder)
        if meta is None:
            shutil.rmtree(folder, ignore_errors=True)
            return None
        os.utime(folder / "meta.json")  # its last use, for pruning
    except OSError:
        return None
    return load(folder, reload=reload, meta=meta)


def keep(ds, root: Path, key: str) -> Path | None:
    """Keep a fresh load in the user's load cache under ``key``: the core tables now, each optional table when this
    process first builds it; then prune (:func:`prune_user`). Nothing is kept when the folder cannot be written or
    the report would not read back exactly (the load itself never fails for the cache)."""
    root = Path(root)
    try:
        if not root.is_dir():
            root.mkdir(parents=True, exist_ok=True)
            os.chmod(root, 0o700)  # the entries hold customer data
        folder = save(ds, root / key, optional=False, exact=True)
    except OSError:
        return None
    if folder is None:
        return None
    for name in FRAMES:
        value = ds.__dict__.get(name)
        if type(value) is Lazy and name not in CORE:
            object.__setattr__(ds, name, Lazy(partial(_kept, value.build, folder / f"{name}.parquet"), value.engine))
    prune_user(root, {key})
    return folder


def prune_user(root: Path, keep_keys: set[str]) -> None:
    """Bound the user's load cache: remove entries unused for :data:`MAX_AGE_DAYS`, then the least recently used
    while the folder holds more than ``$CSANALYSIS_CACHE_MAX_BYTES`` (default :data:`DEFAULT_MAX_BYTES`), and temp
    folders of writes interrupted over an hour ago (never read: only a renamed folder is an entry)."""
    import time

    root = Path(root)
    limit = int(os.environ.get(MAX_BYTES_ENV) or DEFAULT_MAX_BYTES)
    now = time.time()
    entries = []
    try:
        for e in root.iterdir():
            if not e.is_dir():
                continue
            if ".tmp" in e.name:
                if now - e.stat().st_mtime > 3600:
                    shutil.rmtree(e, ignore_errors=True)
                continue
            m = e / "meta.json"
            used = (m if m.is_file() else e).stat().st_mtime
            entries.append((used, sum(f.stat().st_size for f in e.iterdir() if f.is_file()), e))
    except OSError:
        return
    total = sum(size for _, size, _ in entries)
    for used, size, e in sorted(entries, key=lambda x: x[0]):
        if e.name not in keep_keys and (now - used > MAX_AGE_DAYS * 86400 or total > limit):
            shutil.rmtree(e, ignore_errors=True)
            total -= size


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


__all__ = ["cache_key", "fingerprint", "source_fingerprint", "save", "load", "lookup", "prime", "prune", "user_cache_dir",
           "reuse", "keep", "prune_user", "Reload"]
