"""Data overview: what was loaded, over which dates, how it reconciles, and who the customers are."""
from __future__ import annotations

import pandas as pd

from .data import Dataset
from .data import attributes
from .data.schema import TABLES

SEGMENTS = ("plan", "touch_model", "industry", "region", "acquisition_channel")
_CANONICAL = tuple(TABLES["customers"].optional)  # the canonical customer columns


def table_sizes(ds: Dataset) -> pd.DataFrame:
    """Rows read, used and cut per raw table, and the date range each covers."""
    rows = []
    ranges = ds.date_ranges()
    for name, c in ds.report.counts.items():
        first, last = ranges.get(name, (None, None))
        rows.append({"table": name, "rows read": c.get("read", 0), "rows used": c.get("used", 0),
                     "rows cut (after as_of)": c.get("cut_after_as_of", 0),
                     "first date": pd.Timestamp(first) if first is not None else pd.NaT,
                     "last date": pd.Timestamp(last) if last is not None else pd.NaT})
    df = pd.DataFrame(rows)
    for c in ("first date", "last date"):
        df[c] = pd.to_datetime(df[c]).dt.strftime("%Y-%m-%d")
    return df


def reconciliation(ds: Dataset, labels: dict | None = None) -> pd.DataFrame:
    """MRR totals that reconcile with the source; ``labels`` translates the item names."""
    items = list(ds.report.reconciliation)
    return pd.DataFrame({"item": [(labels or {}).get(i, i) for i in items], "amount": list(ds.report.reconciliation.values())})


def findings(ds: Dataset) -> pd.DataFrame:
    cols = ["level", "table", "column", "message", "n_rows", "examples"]
    return pd.DataFrame([{k: v for k, v in f.to_dict().items() if k in cols} for f in ds.report.findings], columns=cols)


def segment_counts(ds: Dataset) -> dict[str, pd.Series]:
    """Customers by each segment attribute present, largest first: the canonical segments (:data:`SEGMENTS`),
    then the export's own categorical attributes that can be a segment (two to ``attributes.MAX_LEVELS``
    levels)."""
    out = {}
    kinds = attributes.kinds(ds)
    own = [a for a, k in kinds.items() if k == attributes.CATEGORICAL and a not in _CANONICAL]
    for col in [c for c in SEGMENTS if c in kinds] + own:
        counts = ds.customers[col].fillna(attributes.MISSING).value_counts()
        if col in SEGMENTS or 1 < len(counts) <= attributes.MAX_LEVELS:
            out[col] = counts
    return out


def attribute_table(ds: Dataset, translate=None) -> pd.DataFrame:
    """The attributes found (:func:`csanalysis.data.attributes.overview`): name, kind, missing share, levels, most
    common levels, a numeric attribute's median and range, and a note; ``translate(key)`` gives the kinds'
    (``overview.kind.<kind>``) and notes' (``overview.note.<note>``) words in the report's language."""
    t = attributes.overview(ds)
    tr = translate or (lambda key: key.split(".", 2)[2])
    t["kind"] = [tr(f"overview.kind.{k}") for k in t["kind"]]
    t["note"] = [tr(f"overview.note.{n}") if n else "" for n in t["note"]]
    t["most common"] = t["most common"].fillna("")
    return t


def as_share_table(counts: pd.Series, name: str) -> pd.DataFrame:
    return pd.DataFrame({name.replace("_", " "): counts.index.astype(str), "customers": counts.to_numpy(),
                         "share": counts.to_numpy() / counts.sum()})


def headline(ds: Dataset) -> dict:
    mrr = ds.mrr_by_month()
    last = mrr.iloc[-1] if len(mrr) else None
    active_now = int((ds.panel["month"] == ds.as_of_month).sum())
    return {
        "customers": int(len(ds.customers)),
        "paying_customers_as_of": active_now,
        "mrr_as_of": float(last["mrr"]) if last is not None and last["month"] == ds.as_of_month else 0.0,
        "first_month": str(mrr["month"].min().date()) if len(mrr) else None,
        "last_month": str(ds.as_of_month.date()),
        "spells": int(len(ds.spells)),
        "churn_events": int(ds.spells["event"].sum()),
        "reactivations": int((ds.spells["spell"] > 1).sum()),
        "left_truncated_customers": int((ds.spells["entry"] > 0).sum()),
        "warnings": len(ds.report.warnings),
    }
