"""The annual invoices of the revenue table: the rows that date a yearly contract's term (renewal rates,
csanalysis/lifecycle/renewal.py).

A Dataset keeps them as a small table of their own (``Dataset.invoices``, built when first read, like the other
optional tables), so that a Dataset read from a report run's cache, which holds no raw rows, still has them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["INVOICE_COLUMNS", "annual_invoices"]

INVOICE_COLUMNS = ("customer_id", "period_start", "period_end")


def annual_invoices(revenue) -> pd.DataFrame:
    """The annual invoices of a revenue table (an Ibis table or a DataFrame with ``customer_id``, ``amount``,
    ``period_start``, ``period_end`` and optionally ``kind``): recurring, amount above 0, a service period of 12
    months (days ÷ 30.4375 rounded, the loader's rule). Columns customer_id, period_start, period_end; empty when
    the table has no service periods."""
    from .load import DAYS_PER_MONTH

    cols = list(INVOICE_COLUMNS)
    if revenue is None or not {"period_start", "period_end"} <= set(revenue.columns):
        return pd.DataFrame(columns=cols)
    if not isinstance(revenue, pd.DataFrame):  # an engine table: filter there, bring only the annual rows
        r = revenue.filter(revenue.period_start.notnull() & revenue.period_end.notnull() & (revenue.amount > 0))
        if "kind" in revenue.columns:
            r = r.filter(r.kind.isnull() | (r.kind == "recurring"))
        revenue = r.select(*cols).execute()
    else:
        keep = revenue["period_start"].notna() & revenue["period_end"].notna() & (revenue["amount"] > 0)
        if "kind" in revenue.columns:
            keep &= revenue["kind"].isna() | (revenue["kind"] == "recurring")
        revenue = revenue.loc[keep, cols]
    start, end = pd.to_datetime(revenue["period_start"]), pd.to_datetime(revenue["period_end"])
    months = np.maximum(np.round(((end - start).dt.days + 1) / DAYS_PER_MONTH), 1)
    out = revenue.loc[(months == 12).to_numpy(), cols].copy()
    out["period_start"], out["period_end"] = pd.to_datetime(out["period_start"]), pd.to_datetime(out["period_end"])
    return out.reset_index(drop=True)
