"""Data overview: what was loaded, over which dates, how it reconciles, and who the customers are.

For a purchase log, :func:`purchase_gaps` gives the distribution of gaps between a customer's consecutive
purchase months, so the grace period (``grace_months``) can be chosen from the data: a customer who buys in
month m and next in month m + d has d − 1 months without a purchase in between, so the return stays in the same
spell (no lapse) when ``grace_months`` ≥ d − 1. :func:`grace_covering` picks the smallest grace period that keeps
a given share of the observed returns inside their spell.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .data import Dataset
from .data import attributes
from .data.schema import TABLES
from .periods import month_index

SEGMENTS = ("plan", "touch_model", "industry", "region", "acquisition_channel")
_CANONICAL = tuple(TABLES["customers"].optional)  # the canonical customer columns


def _word(translate, key: str, fallback: str) -> str:
    """``translate(key)``, or ``fallback`` when the catalogue has no such key (a name of the user's own)."""
    try:
        return translate(key)
    except KeyError:
        return fallback


def table_sizes(ds: Dataset, translate=None) -> pd.DataFrame:
    """Rows read, used and cut per raw table, and the date range each covers; ``translate(key)`` names the tables
    in the report's language (``table.<name>``)."""
    rows = []
    ranges = ds.date_ranges()
    for name, c in ds.report.counts.items():
        first, last = ranges.get(name, (None, None))
        rows.append({"table": _word(translate, f"table.{name}", name) if translate else name,
                     "rows read": c.get("read", 0), "rows used": c.get("used", 0),
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


def findings(ds: Dataset, translate=None) -> pd.DataFrame:
    """The validation findings for reading: a finding about a whole table has an empty column, row count and
    examples (not None or []). With ``translate(key, **values)`` the level (``overview.level.<level>``), the
    table (``table.<name>``) and the message (the finding's ``key`` with its ``values``) are in the report's
    language."""
    cols = ["level", "table", "column", "message", "n_rows", "examples"]
    df = pd.DataFrame([{k: v for k, v in f.to_dict().items() if k in cols} for f in ds.report.findings], columns=cols)
    if translate is not None and len(df):
        df["level"] = [translate(f"overview.level.{f.level}") for f in ds.report.findings]
        df["table"] = [_word(translate, f"table.{f.table}", f.table) for f in ds.report.findings]
        df["message"] = [translate(f.key, **f.values) if f.key else f.message for f in ds.report.findings]
    df["column"] = df["column"].map(lambda v: "" if v is None else v)
    df["n_rows"] = df["n_rows"].map(lambda v: "" if v is None or v != v else f"{int(v):,}")
    df["examples"] = df["examples"].map(lambda v: ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else ("" if v is None else v))
    return df


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
    (``overview.kind.<kind>``) and notes' (``overview.note.<note>``) words and the canonical attributes' labels
    (``attr.<name>``) in the report's language."""
    t = attributes.overview(ds)
    if translate is not None:  # a canonical attribute's label (attr.<name>); the export's own as its file names it
        t["attribute"] = [_word(translate, f"attr.{a}", a) for a in t["attribute"]]
    tr = translate or (lambda key: key.split(".", 2)[2])
    t["kind"] = [tr(f"overview.kind.{k}") for k in t["kind"]]
    t["note"] = [tr(f"overview.note.{n}") if n else "" for n in t["note"]]
    t["most common"] = t["most common"].fillna("")
    return t


def as_share_table(counts: pd.Series, name: str) -> pd.DataFrame:
    return pd.DataFrame({name.replace("_", " "): counts.index.astype(str), "customers": counts.to_numpy(),
                         "share": counts.to_numpy() / counts.sum()})


def snapshot_summary(ds: Dataset) -> dict:
    """A snapshot's customers: still active, churned, and their tenure in months (T of every row); the MRR of the
    active customers when the export has an ``mrr`` column (else None)."""
    from .survival import survival_data

    d = survival_data(ds)
    mrr = ds.panel.loc[ds.panel["month"] == ds.as_of_month, "mrr"]
    return {"active": int((d["E"] == 0).sum()), "churned": int(d["E"].sum()),
            "tenure_min": int(d["T"].min()) if len(d) else None, "tenure_median": float(d["T"].median()) if len(d) else None,
            "tenure_max": int(d["T"].max()) if len(d) else None,
            "mrr_active": float(mrr.sum()) if len(mrr) and mrr.notna().any() else None}


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


def purchase_gaps(ds: Dataset) -> pd.DataFrame:
    """Gaps between consecutive active months of each customer (the panel's months; in a purchase log, months
    with a purchase): one row per gap length ``gap_months`` from 1 (the next month) to the longest, with the number of ``returns``
    that came after that gap, their ``share`` of all returns, the ``cumulative_share`` within that many months,
    and the ``grace_months`` that would keep such a return in its spell (gap − 1). Only returns observed by
    ``as_of`` count: customers who have not come back yet are not in the table."""
    panel = ds.panel
    ids = panel["customer_id"].to_numpy()
    m = month_index(panel["month"])
    order = np.lexsort((m, ids)) if len(ids) else np.arange(0)
    ids, m = ids[order], m[order]
    same = ids[1:] == ids[:-1]
    gaps = (m[1:] - m[:-1])[same]
    counts = pd.Series(gaps, dtype="int64").value_counts()
    counts = counts.reindex(np.arange(1, int(counts.index.max()) + 1 if len(counts) else 1), fill_value=0)
    total = int(counts.sum())
    out = pd.DataFrame({"gap_months": counts.index.to_numpy(dtype="int64"), "returns": counts.to_numpy(dtype="int64")})
    out["share"] = out["returns"] / total if total else np.nan
    out["cumulative_share"] = out["returns"].cumsum() / total if total else np.nan
    out["grace_months"] = out["gap_months"] - 1
    return out


def grace_covering(gaps: pd.DataFrame, share: float = 0.9) -> dict | None:
    """The smallest grace period that keeps at least ``share`` of the observed returns (:func:`purchase_gaps`)
    inside their spell, with the gap it covers and the share it actually covers; None without any return."""
    if not 0 < share <= 1:
        raise ValueError("share must be in (0, 1]")
    if not len(gaps) or not gaps["returns"].sum():
        return None
    row = gaps[gaps["cumulative_share"] >= share - 1e-12].iloc[0]
    return {"grace_months": int(row["grace_months"]), "gap_months": int(row["gap_months"]),
            "share_covered": float(row["cumulative_share"]), "target_share": float(share),
            "returns": int(gaps["returns"].sum())}


def share_within(gaps: pd.DataFrame, months: int) -> float | None:
    """Share of the observed returns (:func:`purchase_gaps`) that came within ``months`` months; None without any."""
    if not len(gaps) or not gaps["returns"].sum():
        return None
    within = gaps.loc[gaps["gap_months"] <= months, "returns"].sum()
    return float(within / gaps["returns"].sum())


def support_table(support: list[dict], translate) -> pd.DataFrame:
    """The reports and whether the layout can answer them (from :func:`csanalysis.report.parameters.layout_support`), in
    words: report title, runs or left out, and why."""
    return pd.DataFrame({
        "report": [translate(r["title"]) if r["title"] else r["report"] for r in support],
        "available": [translate("overview.runs" if r["left_out"] is None else "overview.left_out") for r in support],
        "why": [translate(r["left_out"]) if r["left_out"] else "" for r in support],
    })


def metrics(ds: Dataset, head: dict, *, support: list[dict], translate, snapshot: dict | None = None,
            gaps: pd.DataFrame | None = None, cover: dict | None = None) -> dict:
    """The overview's part of ``metrics.json`` (counts, no estimates): the :func:`headline` counts ``head``,
    ``as_of``, the grace period and the layout; which reports the layout answers (``support``:
    :func:`csanalysis.report.run.layout_support`, each reason in the report's language through ``translate``);
    a snapshot's :func:`snapshot_summary` (None for another layout); and a purchase log's gaps between purchases
    (``gaps``: :func:`purchase_gaps`, ``cover``: :func:`grace_covering` at 90%; None when there are none).

    Parameters
    ----------
    ds : Dataset
        The loaded data (:func:`csanalysis.load_dataset`).
    head : dict
        The :func:`headline` counts.
    support : list of dict
        Which reports the layout answers, with the reasons.
    translate : callable
        The report's message function.
    snapshot : dict or None
        A snapshot's :func:`snapshot_summary` (None for another layout).
    gaps : pandas.DataFrame or None
        A purchase log's :func:`purchase_gaps` (None: none).
    cover : dict or None
        The :func:`grace_covering` of ``gaps`` (None: none).

    Returns
    -------
    dict
        The overview's part of ``metrics.json``.
    """
    return {
        **head,
        "as_of": ds.as_of,
        "grace_months": ds.settings.grace_months,
        "layout": ds.layout,
        "layout_support": [{"report": r["report"], "runs": r["left_out"] is None,
                            "left_out_because": translate(r["left_out"]) if r["left_out"] else None} for r in support],
        "snapshot": snapshot,
        "purchase_gaps": ({"returns": cover["returns"], "grace_months_covering_90pct": cover["grace_months"],
                           "share_covered": cover["share_covered"], "share_within_1_month": share_within(gaps, 1),
                           "share_within_3_months": share_within(gaps, 3)} if cover is not None else None),
    }


__all__ = ["table_sizes", "reconciliation", "findings", "segment_counts", "attribute_table", "as_share_table",
           "snapshot_summary", "headline", "purchase_gaps", "grace_covering", "share_within", "support_table",
           "metrics", "SEGMENTS"]
