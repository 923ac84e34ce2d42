"""The Dataset's customer-month panel keyed by integers for the NPS analyses: customer ids as integer codes
(:func:`_customer_codes`, and :func:`_codes` for the rows of a table) and (customer, month) lookups by bisection (:class:`_Panel`). Kept as they were in
``nps.py`` until the one integer-keyed account-month lookup (csanalysis/data/keys.py) replaces them (issue 20)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..periods import month_index

__all__ = ["_codes", "_customer_codes", "_Panel"]


def _codes(accounts) -> tuple[np.ndarray, int]:
    """Account ids (compared as strings) → integer codes 0 … K − 1 in order of first appearance, and K."""
    codes, uniq = pd.factorize(pd.Series(accounts).astype(str))
    return codes, len(uniq)


def _customer_codes(ids) -> tuple[np.ndarray, pd.Index]:
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


class _Panel:
    """The Dataset's panel keyed by integers: ``code`` (customer, into ``ids``), ``m`` (month index), ``mrr``,
    ``spell`` and ``tenure`` as arrays, and :meth:`find` for (customer, month) lookups. The customer ids are
    hashed once here; lookups and merges then compare integers instead of rehashing string keys (a string
    MultiIndex reindex per lookup dominated the coverage, bias and alignment)."""

    def __init__(self, ds):
        p = ds.panel
        self.code, self.ids = _customer_codes(p["customer_id"])
        self.m = month_index(p["month"])
        self.mrr = p["mrr"].to_numpy(float)
        self.spell = p["spell"].to_numpy(np.int64)
        self.tenure = p["tenure"].to_numpy(float)
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
        """``values`` (a panel column) at each (code, month index); ``fill`` where the customer did not pay."""
        pos = self.find(code, m)
        if not len(values):
            return np.full(len(pos), fill)
        return np.where(pos >= 0, values[np.maximum(pos, 0)], fill)
