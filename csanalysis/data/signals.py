"""Customer-month signals known at the start of each month, from data before that month only.

Shared by the time-varying survival model, the impact model and the health scores, so they agree:

* ``failed_payment``: a failed payment attempt in the month (known when the attempt fails, before the month's
  churn is observed);
* ``nps_category``: the account's category at its latest survey before the month (mean score of that survey's
  respondents, rounded half to even; 0–6 detractor, 7–8 passive, 9–10 promoter), or ``none``;
* ``logins`` of the month, and ``falling_usage``: logins last month below 60% of the mean of the two months
  before (months without usage rows count as zero logins).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..periods import month_index

FALLING_RATIO = 0.6


class AccountMonths:
    """(account, month) lookups for many rows at once, by position instead of by string key.

    The rows' accounts are numbered once (one hash of the ids). A table is spread into a dense accounts × months
    array over the months the rows can ask for (:meth:`cells`), and each row reads its cell by position
    (:meth:`at`); :meth:`latest` gives the latest table row at or before each row's month (an as-of join).
    Reindexing a (customer_id, month) MultiIndex hashes the string ids again on every lookup, which dominated the
    churn-risk signals at 100k customers. ``back`` months before the rows' earliest month can be asked for."""

    def __init__(self, customer_id, m, back: int = 0):
        self.code, ids = pd.factorize(np.asarray(customer_id, dtype=object))
        self.ids = pd.Index(ids)
        self.m = np.asarray(m, dtype=np.int64)
        self.lo = int(self.m.min()) - back if len(self.m) else 0
        self.M = int(self.m.max()) - self.lo + 1 if len(self.m) else 1
        self.K = len(self.ids)

    def accounts(self, ids) -> np.ndarray:
        """Account number of each id (−1 for accounts the rows do not have)."""
        return self.ids.get_indexer(np.asarray(ids, dtype=object))

    def per_account(self, values: pd.Series, fill=np.nan) -> np.ndarray:
        """Each row's value of a Series indexed by customer_id (``fill`` where absent)."""
        v = values.reindex(self.ids)
        if fill is not None and not (isinstance(fill, float) and np.isnan(fill)):
            v = v.fillna(fill)
        return v.to_numpy()[self.code]

    def _place(self, ids, m, before: bool = False, acc=None):
        """Account number and column of table rows, and which fall in the window. ``before``: column 0 collects
        the months before the window (for :meth:`latest`), the window's months shift one to the right. ``acc``:
        the rows' :meth:`accounts` when the caller has them (the ids are not hashed again)."""
        a = self.accounts(ids) if acc is None else acc
        j = np.asarray(m, dtype=np.int64) - self.lo
        if before:
            j = np.maximum(j + 1, 0)
        ok = (a >= 0) & (j >= 0) & (j < self.M + before)
        return a, j, ok

    def cells(self, ids, m, values, fill=0.0, how: str = "sum", acc=None):
        """Accounts × months array of a table's ``values``: the ``sum`` of the rows in each cell (missing values
        count as zero, as in a pandas groupby sum), or ``one`` value per cell when (id, month) is unique in the
        table (missing values become ``fill``). ``fill`` in cells without rows. ``values`` may be a DataFrame of
        several columns of the table: then a dict of arrays, the rows placed (their ids hashed) once. ``acc``: the
        rows' :meth:`accounts` when the caller has them."""
        if how not in ("sum", "one"):
            raise ValueError(f"how={how!r}: use sum or one")
        a, j, ok = self._place(ids, m, acc=acc)
        flat = a[ok] * self.M + j[ok]
        if isinstance(values, pd.DataFrame):
            return {c: self._spread(flat, np.asarray(values[c], dtype=float)[ok], fill, how) for c in values.columns}
        return self._spread(flat, np.asarray(values, dtype=float)[ok], fill, how)

    def _spread(self, flat: np.ndarray, v: np.ndarray, fill, how: str) -> np.ndarray:
        if how == "sum":
            out = np.bincount(flat, weights=np.nan_to_num(v, nan=0.0), minlength=self.K * self.M)
            if fill != 0:
                out[np.bincount(flat, minlength=self.K * self.M) == 0] = fill
        else:
            out = np.full(self.K * self.M, fill, dtype=float)
            out[flat] = np.where(np.isnan(v), fill, v)
        return out.reshape(self.K, self.M)

    def present(self, ids, m) -> np.ndarray:
        """Accounts × months booleans: the table has a row in the cell."""
        a, j, ok = self._place(ids, m)
        out = np.zeros(self.K * self.M, dtype=bool)
        out[a[ok] * self.M + j[ok]] = True
        return out.reshape(self.K, self.M)

    def at(self, grid: np.ndarray, lag: int = 0, fill=0.0) -> np.ndarray:
        """Each row's cell of ``grid`` (from :meth:`cells` or :meth:`present`) at its month − ``lag``; ``fill``
        outside the window."""
        j = self.m - lag - self.lo
        ok = (j >= 0) & (j < grid.shape[1])
        out = np.full(len(self.m), fill, dtype=grid.dtype)
        out[ok] = grid[self.code[ok], j[ok]]
        return out

    def latest(self, ids, m, values, lag: int = 0) -> np.ndarray:
        """As-of lookup: for each row, ``values`` of the latest table row of the same account dated (month index
        ``m``) at or before the row's month − ``lag``; NaN (NaT for dates, None for objects) where there is none.
        Of several table rows in the same account and month the last in table order counts, as in
        ``pandas.merge_asof`` after a stable sort."""
        values = np.asarray(values)
        mm = np.asarray(m, dtype=np.int64)
        a, j, ok = self._place(ids, mm + lag, before=True)
        cols = self.M + 1
        rows = np.flatnonzero(ok)
        cell = np.full(self.K * cols, -1, dtype=np.int64)
        flat = a[rows] * cols + j[rows]
        cell[flat] = rows
        if np.count_nonzero(cell >= 0) != len(rows):
            # several rows in a cell (the same month, or months before the window), and numpy does not promise
            # which repeated fancy assignment wins: keep the latest month's last row of each cell explicitly
            order = np.argsort(mm[rows], kind="stable")
            rows, flat = rows[order], flat[order]
            _, last = np.unique(flat[::-1], return_index=True)
            keep = rows[::-1][last]
            cell[:] = -1
            cell[a[keep] * cols + j[keep]] = keep
        cell = cell.reshape(self.K, cols)
        col = np.where(cell >= 0, np.arange(cols, dtype=np.int32), -1).astype(np.int32)
        np.maximum.accumulate(col, axis=1, out=col)  # latest filled column at or before each month
        c = col[self.code, self.m - self.lo + 1]
        found = c >= 0
        r = cell[self.code[found], c[found]]
        if values.dtype.kind == "M":
            out = np.full(len(self.m), np.datetime64("NaT"), dtype=values.dtype)
        elif values.dtype.kind in "fiub":
            out = np.full(len(self.m), np.nan, dtype=float)
        else:
            out = np.full(len(self.m), None, dtype=object)
        out[found] = values[r]
        return out


def survey_waves(ds) -> pd.DataFrame | None:
    """One row per account and survey month: the mean score of that month's respondents and its category."""
    if ds.nps is None or not len(ds.nps):
        return None
    waves = ds.nps.assign(m=month_index(ds.nps["date"])).groupby(["customer_id", "m"], sort=False)["score"].mean().reset_index()
    ms = np.round(waves["score"].to_numpy())
    waves["category"] = np.select([ms <= 6, ms <= 8], ["detractor", "passive"], "promoter")
    return waves


def nps_category_at(ds, customer_id: np.ndarray, month: np.ndarray, keys: AccountMonths | None = None,
                    waves: pd.DataFrame | None = None, lag: int = 1) -> np.ndarray:
    """Latest account-level NPS category at or before ``month`` − ``lag`` (month indices; by default strictly
    before ``month``) for each row (``keys``: the rows' :class:`AccountMonths`, and ``waves``:
    :func:`survey_waves`, when the caller has them)."""
    waves = survey_waves(ds) if waves is None else waves
    if waves is None:
        return np.full(len(customer_id), "none", dtype=object)
    keys = keys or AccountMonths(customer_id, month)
    cat = keys.latest(waves["customer_id"], waves["m"], waves["category"].to_numpy(dtype=object), lag=lag)
    return np.where(pd.isna(cat), "none", cat).astype(object)


def falling_usage_at(keys: AccountMonths, logins: np.ndarray, paid: np.ndarray, lag: int = 1):
    """``falling_usage`` read in month ``m`` − ``lag`` + 1 of each row (``m``: the row's month in ``keys``), so
    with the default ``lag`` of each row's own month: logins in month ``m`` − ``lag`` below 60% of the mean of
    the two months before, the customer paying in all three. ``logins``: :meth:`AccountMonths.cells` of the
    usage logins (one per cell), ``paid``: :meth:`AccountMonths.present` of the paying panel rows. One rule for
    :func:`monthly_signals` and the health signals (which read it for the month after the scoring month with the
    grids they already have). Returns the flags (int8) and the logins of month ``m`` − ``lag``."""
    last, before = keys.at(logins, lag), (keys.at(logins, lag + 1), keys.at(logins, lag + 2))
    known = np.all([keys.at(paid, lag + k, fill=False) for k in (0, 1, 2)], axis=0)
    return (known & (last < FALLING_RATIO * (before[0] + before[1]) / 2)).astype(np.int8), last


def monthly_signals(ds, rows: pd.DataFrame, waves: pd.DataFrame | None = None) -> pd.DataFrame:
    """Add signals to ``rows`` (columns customer_id and month as a month index) without changing their order
    (``waves``: :func:`survey_waves`, when the caller has them)."""
    out = rows.copy()
    cid, m = out["customer_id"].to_numpy(), out["month"].to_numpy()
    keys = AccountMonths(cid, m, back=3)
    if ds.payments is not None and "failed" in ds.payments.columns:
        p = ds.payments
        f = keys.cells(p["customer_id"], month_index(p["month"]), p["failed"], how="one")
        out["failed_payment"] = (keys.at(f) > 0).astype(np.int8)
    else:
        out["failed_payment"] = np.int8(0)
    out["nps_category"] = nps_category_at(ds, cid, m, keys, waves)
    if ds.usage is not None and "logins" in ds.usage.columns:
        u = ds.usage
        logins = keys.cells(u["customer_id"], month_index(u["month"]), u["logins"], how="one")
        # usage history must exist: the customer was paying in each of the three months before
        paying = ds.panel["mrr"].notna().to_numpy()  # ids and months only, not a copy of every panel column
        paid = keys.present(ds.panel["customer_id"].to_numpy()[paying], month_index(ds.panel["month"])[paying])
        out["falling_usage"], out["logins_last_month"] = falling_usage_at(keys, logins, paid)
    else:
        out["falling_usage"] = np.int8(0)
    return out
