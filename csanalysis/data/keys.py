"""Account-month lookups keyed by integers: number the customer ids once, then find (account, month) and
(account, spell) by integer position instead of hashing string keys again on every lookup.

A (customer_id, month) MultiIndex reindex hashes every string id on each lookup; at 100k customers that dominated
the churn-risk signals and the NPS coverage, bias and alignment. Everything here numbers the ids once and then
compares integers. The contracts (orderings and dtypes are part of them: callers' numbers depend on them):

* :class:`AccountMonths` (rows given as customer ids and month indices): the ids numbered in order of first
  appearance, compared as they are (not as strings). A table is spread into a dense accounts × months array over
  the months the rows can ask for (:meth:`~AccountMonths.cells`, :meth:`~AccountMonths.present`), each row reads
  its cell by position (:meth:`~AccountMonths.at`), and :meth:`~AccountMonths.latest` is an as-of join (the
  latest table row at or before each row's month, as ``pandas.merge_asof``).
* :func:`spell_rows`: position in the spells table of each row's (account, spell), with an
  :class:`AccountMonths` for the accounts; −1 where there is none.
* :func:`codes`: the rows of a table → integer codes 0 … K − 1 in order of first appearance, the ids compared as
  strings (``astype(str)``, so 10 and "10" are one account), and K.
* :func:`customer_codes`: customer ids → integer codes and the distinct ids as strings *sorted* (code i is
  ``ids[i]``: the order a groupby on the string ids gives), with a fast path for ids that come sorted.
* :func:`panel_rows`: the engine panel's rows of given customers as integer arrays (``row``: the position of the
  customer in the ids given), in the pandas panel's order, without building the pandas panel: for analyses that
  need every customer-month of many customers (a bootstrap over customers) at a million customers.
* :class:`IntegerPanel`: the Dataset's customer-month panel keyed by integers (customers by
  :func:`customer_codes`, months by :func:`csanalysis.periods.month_index`), with
  :meth:`~IntegerPanel.find` (the panel row of each (customer, month), −1 where the customer did not pay) by
  bisection over one sorted integer key.

:func:`codes` and :class:`AccountMonths` both number in first-appearance order but differ in how ids compare
(strings vs. as given); :func:`customer_codes` numbers in string order. They are kept apart so that no caller's
ordering changes (the tests in tests/data/test_keys.py check each against the pandas operation it replaces).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..periods import month_index

__all__ = ["AccountMonths", "IntegerPanel", "codes", "customer_codes", "panel_rows", "spell_rows"]


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
        rows' :meth:`accounts` when the caller has them.

        Parameters
        ----------
        ids : array-like
            The table's account ids.
        m : array-like of int
            The table's month indices.
        values : array-like or DataFrame
            The values to place (a DataFrame: several columns at once).
        fill : scalar
            The value of cells without rows (and, with ``how="one"``, of missing values).
        how : {"sum", "one"}
            Sum the rows of a cell, or place the one value of a unique (id, month).
        acc : ndarray, optional
            The rows' :meth:`accounts`.

        Returns
        -------
        ndarray or dict of ndarray
            Accounts × months (one array per column when ``values`` is a DataFrame).
        """
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
        ``pandas.merge_asof`` after a stable sort.

        Parameters
        ----------
        ids : array-like
            The table's account ids.
        m : array-like of int
            The table's month indices.
        values : array-like
            The table's values.
        lag : int
            Months before each row's month to read at.

        Returns
        -------
        ndarray
            One value per row of the keys.
        """
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


def spell_rows(keys: AccountMonths, spell: np.ndarray, spells: pd.DataFrame) -> np.ndarray:
    """Position in ``spells`` (a table with customer_id and spell, as ``Dataset.spells``) of each row's (account,
    ``spell``), the rows being those of ``keys``; −1 where there is none or the spell is NaN. The key is the
    account number of ``keys`` and the spell number as one integer, so the string ids are not hashed again (a
    (customer_id, spell) MultiIndex reindex hashed every row's id)."""
    spell = np.asarray(spell, dtype=float)
    acc = keys.accounts(spells["customer_id"])
    s = spells["spell"].to_numpy()
    n = int(max(s.max(initial=0), np.nanmax(spell, initial=0))) + 1
    mine = acc >= 0
    table = pd.Index(acc[mine] * n + s[mine]).get_indexer(
        np.where(np.isnan(spell), -1, keys.code * n + np.nan_to_num(spell, nan=0).astype(np.int64)))
    out = np.full(len(spell), -1, dtype=np.int64)
    out[table >= 0] = np.flatnonzero(mine)[table[table >= 0]]
    return out


def codes(accounts) -> tuple[np.ndarray, int]:
    """Account ids (compared as strings) → integer codes 0 … K − 1 in order of first appearance, and K."""
    code, uniq = pd.factorize(pd.Series(accounts).astype(str))
    return code, len(uniq)


def customer_codes(ids) -> tuple[np.ndarray, pd.Index]:
    """Customer ids → integer codes and the ids as strings, sorted (code i is ``ids[i]``, so code order is the
    string order a groupby on the ids would give). The ids are compared as strings (``astype(str)``), as the
    survey's ids are."""
    arr = np.asarray(ids, dtype=object)
    if len(arr) > 1 and pd.api.types.infer_dtype(arr, skipna=False) == "string":
        # the panel comes sorted by customer: then the codes are run numbers (two comparisons of neighbours
        # instead of hashing every id)
        if (arr[1:] >= arr[:-1]).all():
            new = np.r_[True, arr[1:] != arr[:-1]]
            return np.cumsum(new) - 1, pd.Index(arr[new], dtype=object)
    raw, uniq = pd.factorize(arr, use_na_sentinel=False)
    code, names = pd.factorize(pd.Index(uniq, dtype=object).astype(str), sort=True)
    return code[raw], pd.Index(names, dtype=object)


def panel_rows(ds, ids, columns=("tenure", "mrr"), *, first_spell: bool = False, spells=(), frame: bool = False):
    """The panel rows of the customers ``ids`` from the engine panel (:meth:`Dataset.engine_table`), as arrays.

    Parameters
    ----------
    ds : Dataset
        The loaded data.
    ids : array of str
        The customers (distinct; compared as text).
    columns : sequence of str
        Panel columns to return besides ``row`` and ``m`` (of ``customer_id, m, mrr, spell, tenure, spell_month``).
    first_spell : bool
        Only the rows of each customer's first spell.
    spells : sequence of str
        Columns of the engine spells to attach to each row by its (customer, spell) (``last_m``, ``event`` …);
        a row without its spell is an inconsistent Dataset (ValueError).
    frame : bool
        Return the same columns as a DataFrame (converted column by column from the engine's result, so the rows
        are never held twice) instead of a dict of arrays.

    Returns
    -------
    dict of str to ndarray, or DataFrame
        ``row`` (int32: the customer's position in ``ids``), ``m`` (int32 month index) and each column (int32, or
        float64 for ``mrr``), one element per panel row of those customers, ordered by customer and month: the
        order of the pandas panel (sorted by customer and month), so sums over rows add in the same order. Only
        the integer keys and the columns asked for cross from the engine, never the text ids of the rows.
    """
    import ibis

    p = ds.engine_table("panel")
    if first_spell:
        p = p.filter(p.spell == 1)
    if len(ids) >= 2**31:
        raise ValueError("panel_rows numbers customers in int32: at most 2**31 − 1 of them")
    key = ibis.memtable(pd.DataFrame({"customer_id": pd.Index(np.asarray(ids, dtype=object)).astype(str),
                                      "row": np.arange(len(ids), dtype=np.int32)}))
    typed = lambda c, col: col.cast("float64" if c == "mrr" else "int32")  # noqa: E731
    wanted = {"customer_id": p.customer_id, "m": p.m, **{c: p[c] for c in columns if c != "m"}}
    if spells:
        # the spells' columns joined to the panel first (a flat table), then the ids: a sample's panel and spells
        # are both restricted by the same engine table, which one join chain over all three cannot reference
        s = ds.engine_table("spells")
        s = s.select(_customer=s.customer_id, _spell=s.spell, **{f"_s_{c}": s[c] for c in spells})
        j0 = p.left_join(s, [p.customer_id == s._customer, p.spell == s._spell])
        p = j0.select(**wanted, **{f"_s_{c}": s[f"_s_{c}"] for c in spells}, _found=s._spell.notnull())
    j = p.join(key, p.customer_id.cast("string") == key.customer_id)
    cols = {"row": key.row.cast("int32"), "m": p.m.cast("int32"), **{c: typed(c, p[c]) for c in columns if c != "m"}}
    if spells:
        cols.update({c: typed(c, p[f"_s_{c}"]) for c in spells})
        cols["_found"] = p._found
    t = j.select(**cols).order_by(["row", "m"]).to_pyarrow()
    if spells and not t.column("_found").to_numpy(zero_copy_only=False).all():
        raise ValueError("panel rows without a matching spell: the Dataset is inconsistent")
    if frame:  # each column's Arrow buffers released as it is converted: not the whole table twice
        return (t.drop_columns(["_found"]) if spells else t).to_pandas(split_blocks=True, self_destruct=True)
    out = {}
    for c in cols:
        if c == "_found":
            continue
        out[c] = np.ascontiguousarray(t.column(c).to_numpy(zero_copy_only=False))
        t = t.drop_columns([c])  # each column released once copied out
    return out


class IntegerPanel:
    """The Dataset's panel keyed by integers: ``code`` (customer, into ``ids``), ``m`` (month index), ``mrr``,
    ``spell`` and ``tenure`` as arrays, and :meth:`find` for (customer, month) lookups. The customer ids are
    hashed once here; lookups and merges then compare integers instead of rehashing string keys (a string
    MultiIndex reindex per lookup dominated the coverage, bias and alignment)."""

    def __init__(self, ds=None, *, arrays: dict | None = None):
        """From the Dataset's pandas panel, or (``arrays``) from ``code``, ``ids``, ``m``, ``mrr``, ``spell`` and
        ``tenure`` already keyed so (``ids`` the customers as text, sorted: csanalysis.grouped.integer_panel reads
        them from the engine)."""
        if arrays is None:
            p = ds.panel
            self.code, self.ids = customer_codes(p["customer_id"])
            self.m = month_index(p["month"])
            self.mrr = p["mrr"].to_numpy(float)
            self.spell = p["spell"].to_numpy(np.int64)
            self.tenure = p["tenure"].to_numpy(float)
        else:
            self.code, self.ids = np.asarray(arrays["code"], dtype=np.int64), pd.Index(arrays["ids"], dtype=object)
            self.m = np.asarray(arrays["m"], dtype=np.int64)
            self.mrr = np.asarray(arrays["mrr"], dtype=float)
            self.spell = np.asarray(arrays["spell"], dtype=np.int64)
            self.tenure = np.asarray(arrays["tenure"], dtype=float)
        self.lo = int(self.m.min()) if len(self.m) else 0
        self.span = int(self.m.max()) - self.lo + 1 if len(self.m) else 1
        self._index = None

    def codes(self, ids) -> np.ndarray:
        """Code of each customer id (compared as strings; −1 for a customer not in the panel)."""
        return self.ids.get_indexer(pd.Index(np.asarray(ids, dtype=object)).astype(str))

    def find(self, code: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Panel row of each (code, month index), −1 where the customer did not pay that month."""
        if self._index is None:
            # (customer, month) as one sorted integer key, searched by bisection: no hash table over the panel
            # (the panel usually comes sorted by customer and month, and then nothing is copied)
            keys = self.code.astype(np.int64) * self.span + (self.m - self.lo)
            order = None if np.all(keys[1:] > keys[:-1]) else np.argsort(keys, kind="stable")
            keys = keys if order is None else keys[order]
            if np.any(keys[1:] == keys[:-1]):  # one panel row per customer and month, as the reindex required
                raise ValueError("the panel has more than one row for a customer and month")
            self._index = (keys, order)
        keys, order = self._index
        code, m = np.asarray(code, dtype=np.int64), np.asarray(m, dtype=np.int64)
        if not len(keys):
            return np.full(len(code), -1)
        q = code * self.span + (m - self.lo)
        i = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
        ok = (code >= 0) & (m >= self.lo) & (m < self.lo + self.span) & (keys[i] == q)
        return np.where(ok, i if order is None else order[i], -1)

    def at(self, values: np.ndarray, code: np.ndarray, m: np.ndarray, fill=np.nan) -> np.ndarray:
        """``values`` (a panel column) at each (code, month index); ``fill`` where the customer did not pay.

        Parameters
        ----------
        values : ndarray
            A panel column, one value per panel row.
        code : ndarray of int
            The customers' integer codes (:meth:`codes`).
        m : ndarray of int
            The month indices.
        fill : scalar
            The value where the customer did not pay in the month.

        Returns
        -------
        ndarray
            One value per (code, month).
        """
        pos = self.find(code, m)
        if not len(values):
            return np.full(len(pos), fill)
        return np.where(pos >= 0, values[np.maximum(pos, 0)], fill)
