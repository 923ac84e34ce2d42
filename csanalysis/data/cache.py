"""Load once per report run: the aggregated Dataset is cached by a key of the inputs and settings.

The report runner loads the data, stores the Dataset here (Parquet tables + JSON settings and validation
report) and sets ``CSANALYSIS_CACHE_DIR`` for the notebook kernels; :func:`csanalysis.load_dataset` then
reads the cache instead of re-aggregating when the key matches (same files, sizes and modification times,
same mapping content, same settings, same package version).
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

from .dataset import Lazy
from .mapping import Settings
from .validation import Finding, ValidationReport

ENV = "CSANALYSIS_CACHE_DIR"
FRAMES = ("customers", "panel", "spells", "usage", "nps", "payments", "cs_activities", "cs_costs", "attributes")


def cache_key(source: Any, mapping: Any, settings: dict) -> str | None:
    """Key of a load: file names, sizes and mtimes of the source, the mapping's content and the settings."""
    from .. import __version__

    p = Path(str(source))
    if not p.exists():
        return None
    h = hashlib.sha256()
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(p) if p.is_dir() else f.name}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    if mapping is not None and Path(str(mapping)).is_file():
        h.update(Path(str(mapping)).read_bytes())
    elif mapping is not None:
        h.update(json.dumps(mapping, sort_keys=True, default=str).encode())
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    h.update(__version__.encode())
    return h.hexdigest()[:24]


def save(ds, folder: Path) -> Path:
    """Write a Dataset's aggregated tables and metadata (atomically: temp folder, then rename)."""
    folder = Path(folder)
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}-{secrets.token_hex(4)}")
    tmp.mkdir(parents=True, exist_ok=True)
    for name in FRAMES:
        # a table still pending is built for writing only, not kept on ``ds``: the runner holds one table at a
        # time (at 1M customers, all of them in pandas at once were 6.8 GB in the runner while the notebooks ran)
        value = ds.__dict__.get(name)
        df = value.build() if type(value) is Lazy else value
        if df is not None:
            df.to_parquet(tmp / f"{name}.parquet", index=False)
        del df
    meta = {
        "source": ds.source, "layout": ds.layout, "settings": ds.settings.to_dict(),
        "as_of_month": str(ds.as_of_month.date()), "report": ds.report.to_dict(),
        "date_ranges": ds.date_ranges(), "pseudonymised": ds.pseudonymised,
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str), encoding="utf-8")
    try:
        os.replace(tmp, folder)
    except OSError:  # another run cached the same key meanwhile: identical content
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return folder


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
                 as_of_month=pd.Timestamp(meta["as_of_month"]), pseudonymised=meta.get("pseudonymised", False), **frames)
    ds._date_ranges = {k: tuple(v) for k, v in meta["date_ranges"].items()}
    ds.cache_key = folder.name
    return ds


def lookup(source, mapping, settings: dict):
    """The cached Dataset for these inputs when the runner's cache has it, else None."""
    root = os.environ.get(ENV)
    if not root:
        return None
    key = cache_key(source, mapping, settings)
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


__all__ = ["cache_key", "save", "load", "lookup", "prune", "ENV"]
