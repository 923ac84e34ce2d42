"""What a notebook writes beside its report: ``metrics.json`` (strict JSON) and CSV tables; and the files it asks the
report runner to keep outside the run once the run is published (:func:`keep_on_publish`)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd

from ..estimate import json_safe
from ..spreadsheet import write_csv


def write_metrics(output_dir: str | Path, metrics: dict, name: str = "metrics.json") -> Path:
    """Write strict JSON (``allow_nan=False``), keys sorted, so the same inputs give identical files; every value
    through :func:`csanalysis.estimate.json_safe` (the contract of ``metrics.json``: :mod:`csanalysis.estimate`)."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(json.dumps(json_safe(metrics), indent=2, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")
    return path


def write_table(output_dir: str | Path, df: pd.DataFrame, name: str, *, index: bool = False) -> Path:
    """A CSV table for a spreadsheet: text cells that a spreadsheet would run as a formula are written as text
    (:mod:`csanalysis.spreadsheet`).

    Parameters
    ----------
    output_dir : path
        The notebook's output folder.
    df : DataFrame
        The table.
    name : str
        The file's name without ``.csv``.
    index : bool
        Write the index too.

    Returns
    -------
    Path
        The CSV file written.
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    return write_csv(df, out / f"{name}.csv", index=index)


PUBLISH_COPIES = "publish_copies.json"  # in a notebook's output folder: files to copy out when the run is published


def keep_on_publish(output_dir: str | Path, name: str, dest: str | Path | None) -> Path | None:
    """Ask the report runner to copy ``output_dir/name`` to ``dest`` when, and only when, the run is published
    (every notebook succeeded); a failed or killed run copies nothing, so what later runs read (a kept risk list)
    is always a published run's. ``dest`` None: nothing to keep. Outside a report run nothing is copied."""
    if dest is None:
        return None
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    req = out / PUBLISH_COPIES
    entry = {"file": name, "to": str(Path(dest).resolve())}
    entries = json.loads(req.read_text(encoding="utf-8")) if req.is_file() else []
    entries = [e for e in entries if e["to"] != entry["to"]] + [entry]  # a notebook run again asks once
    req.write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
    return Path(dest)


def publish_copies(output_dir: str | Path) -> list[Path]:
    """Carry out a notebook's :func:`keep_on_publish` requests (the runner calls this under its lock, once the run
    succeeded): each file is copied next to its destination and moved into place (a reader never sees half a file);
    the request is then removed from the run folder."""
    out = Path(output_dir)
    req = out / PUBLISH_COPIES
    if not req.is_file():
        return []
    done = []
    for entry in json.loads(req.read_text(encoding="utf-8")):
        dest = Path(entry["to"])
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(f".{dest.name}.part")
        shutil.copyfile(out / entry["file"], part)
        os.replace(part, dest)
        done.append(dest)
    req.unlink()
    return done
