"""What a notebook writes beside its report: ``metrics.json`` (strict JSON) and CSV tables."""
from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..spreadsheet import write_csv


def _clean(value):
    """JSON-safe: NaN/inf become None (a reason may sit beside it), numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d") if value == value.normalize() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()[:10] if not isinstance(value, dt.datetime) else value.isoformat()
    return value


def write_metrics(output_dir: str | Path, metrics: dict, name: str = "metrics.json") -> Path:
    """Write strict JSON (``allow_nan=False``), keys sorted, so the same inputs give identical files."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(json.dumps(_clean(metrics), indent=2, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")
    return path


def write_table(output_dir: str | Path, df: pd.DataFrame, name: str, *, index: bool = False) -> Path:
    """A CSV table for a spreadsheet: text cells that a spreadsheet would run as a formula are written as text
    (:mod:`csanalysis.spreadsheet`)."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    return write_csv(df, out / f"{name}.csv", index=index)
