"""Ranking: groups of tied scores, the weighted AUC and top share, and the top n rows within groups.

With row weights wᵢ ≥ 0 (e.g. how often a bootstrap replicate draws the row's account) and outcomes yᵢ
(1 = the event, e.g. churned; a row with 0 < yᵢ < 1 counts as yᵢ of an event and 1 − yᵢ of a non-event):

* **AUC**: the probability that an event row scores above a non-event row, ties counting one half,
  Σᵢⱼ wᵢyᵢ · wⱼ(1 − yⱼ) · ([sᵢ > sⱼ] + ½[sᵢ = sⱼ]) ÷ (Σ wᵢyᵢ · Σ wⱼ(1 − yⱼ)); for 0/1 outcomes this is
  ``sklearn.metrics.roc_auc_score(y, s, sample_weight=w)``.
* **Top share** q: the rows taken from the highest score down until they hold a share q of the total weight,
  a group of tied scores straddling the cut taken pro rata; returned as the event weight and the total weight
  taken (their ratio is the event rate in the top share, the event weight over all events the capture).
* **Top n within groups**: the n rows with the highest score in each group, ties broken by a second value
  (descending) and then by an identifier compared as text.
* **Weighted mid-ranks**: each row's rank among the weighted rows (a row of weight w counts as w copies), ties
  sharing the mean of their ranks: with integer weights, ``scipy.stats.rankdata`` of the repeated values.

Both the AUC and the top share depend on the data only through the event and non-event weight of each group
of tied scores, in score order (:func:`tie_groups`). :func:`rank_bins` merges each run of tied groups without
events into one bin, which changes neither statistic (a merged bin's event weight is zero; its non-event weight
enters only through the running total), so a bootstrap that reweights the rows many times works on about twice
as many bins as the events have distinct scores: :func:`binned_auc` and :func:`binned_top_share` take the
weights per bin, one row per replicate. :func:`weighted_auc` and :func:`top_share` are the same statistics for
one set of weights.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["tie_groups", "rank_bins", "binned_auc", "binned_top_share", "weighted_auc", "top_share", "top_n",
           "weighted_midranks"]


def tie_groups(score: np.ndarray, descending: bool = False) -> tuple[np.ndarray, int]:
    """Each row's group of equal scores, numbered in score order (ascending, or ``descending``); and the number
    of groups."""
    order = np.argsort(-score if descending else score, kind="stable")
    s = score[order]
    gid = np.cumsum(np.r_[True, s[1:] != s[:-1]]) - 1 if len(s) else np.zeros(0, dtype=np.int64)
    g = np.empty(len(s), dtype=np.int64)
    g[order] = gid
    return g, int(gid[-1]) + 1 if len(s) else 0


def rank_bins(score: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, int]:
    """Each row's bin of the ascending score order, and the number of bins: each group of tied scores holding
    an event (``y > 0``) is its own bin, each run of groups without events between them one bin (see the module
    docstring: the AUC and the top share of the bins equal those of the tied groups)."""
    g, G = tie_groups(score)
    has_y = np.zeros(G, dtype=bool)
    has_y[g[y > 0]] = True
    # a new bin starts at every group with events and at the group after it
    starts = has_y | np.r_[False, has_y[:-1]]
    if G:
        starts[0] = True
    b = (np.cumsum(starts) - 1)[g]
    return b, int(starts.sum())


def binned_auc(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Weighted AUC (ties count one half) from the event weight ``pos`` and non-event weight ``neg`` of each bin
    in ascending score order (the last axis; earlier axes, e.g. bootstrap replicates, are kept). NaN without
    events or without non-events."""
    below = np.cumsum(neg, axis=-1) - neg
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * (below + 0.5 * neg)).sum(axis=-1) / (pos.sum(axis=-1) * neg.sum(axis=-1))


def binned_top_share(pos: np.ndarray, neg: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
    """Event weight and total weight inside the top ``share`` of the total weight by score (ties shared pro
    rata), from the weights of each bin in ascending score order (the last axis, as :func:`binned_auc`)."""
    gy = pos[..., ::-1]
    gw = gy + neg[..., ::-1]
    before = np.cumsum(gw, axis=-1) - gw
    target = share * gw.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.nan_to_num(np.clip((target - before) / gw, 0, 1))
    return (frac * gy).sum(axis=-1), (frac * gw).sum(axis=-1)


def _bin_weights(score, y, weights) -> tuple[np.ndarray, np.ndarray]:
    score, y = np.asarray(score, dtype=float), np.asarray(y, dtype=float)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    b, n = rank_bins(score, y)
    return np.bincount(b, w * y, minlength=n), np.bincount(b, w * (1 - y), minlength=n)


def weighted_auc(score: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Weighted AUC of ``score`` for the outcomes ``y`` (row ``weights``, default 1; ties count one half)."""
    return float(binned_auc(*_bin_weights(score, y, weights)))


def top_share(score: np.ndarray, y: np.ndarray, share: float,
              weights: np.ndarray | None = None) -> tuple[float, float]:
    """Event weight and total weight inside the top ``share`` of the total weight by ``score`` (row ``weights``,
    default 1; ties shared pro rata).

    Parameters
    ----------
    score : ndarray
        The ranking score (higher: ranked first).
    y : ndarray
        The events (0/1, or event weights).
    share : float
        The top share of the total weight (0–1).
    weights : ndarray, optional
        Row weights (None: 1 each).

    Returns
    -------
    tuple of float
        (event weight, total weight) inside the top share.
    """
    pos, w = binned_top_share(*_bin_weights(score, y, weights), share)
    return float(pos), float(w)


def _text_codes(x) -> np.ndarray:
    """Group codes of the values as text (equal texts, one group), converting the distinct values rather than
    every row."""
    x = np.asarray(x)
    if x.dtype.kind in "iub":  # distinct integers are distinct texts
        return pd.factorize(x)[0]
    code, values = pd.factorize(x)
    if (code < 0).any():  # None and NaN are one missing code but different texts
        return pd.factorize(x.astype(str))[0]
    return pd.factorize(np.asarray(values, dtype=object).astype(str))[0][code]


def top_n(score: np.ndarray, n: int, groups: Sequence[np.ndarray] | None = None, *,
          tiebreak: np.ndarray | None = None, ids: np.ndarray | None = None) -> np.ndarray:
    """Positions (ascending) of the top ``n`` rows by ``score`` within each group.

    Parameters
    ----------
    score : the rows' scores, highest first; missing values last (as a pandas sort puts them).
    n : rows taken per group (none when n ≤ 0).
    groups : arrays whose values, compared as text, together form the groups (None or empty: one group).
    tiebreak : breaks ties of ``score``, highest first (missing last); default: no tie-break.
    ids : breaks the remaining ties, compared as text in ascending order; default: the row order.

    Returns
    -------
    The chosen rows' positions, sorted.

    The rows are first sorted by group and score only; rows below the n-th of their group cannot be chosen,
    so the ties are broken among the rest only (the text comparison of the ids is the slow part).
    """
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    r = np.asarray(score, dtype=float)
    g = np.zeros(len(r), dtype=np.int64)
    for values in groups or ():
        c = _text_codes(values)
        g = g * (int(c.max(initial=0)) + 1) + c
    order = np.lexsort([-r, g])  # by group, then score descending (NaN last)

    def within(order):  # each sorted row's place in its group, and the group's first place
        gs = g[order]
        first = np.maximum.accumulate(np.where(np.r_[True, gs[1:] != gs[:-1]], np.arange(len(order)), 0))
        return np.arange(len(order)) - first, first

    place, first = within(order)
    nth = first + n - 1  # the n-th row of each row's group (past the group's end when it has fewer)
    ends = np.r_[first[1:] != first[:-1], True]
    size = np.zeros(len(order), dtype=np.int64)
    size[first[ends]] = place[ends] + 1
    have = size[first] >= n
    thr = np.full(len(order), np.nan)
    thr[have] = r[order[nth[have]]]
    # rows tied with the n-th (or all rows of a group with fewer than n, or whose n-th value is missing) remain
    cand = np.sort(order[np.isnan(thr) | (r[order] >= thr)])
    second = np.asarray(tiebreak, dtype=float)[cand] if tiebreak is not None else np.zeros(len(cand))
    if ids is None:
        id_rank = cand
    else:
        id_rank = np.unique(np.asarray(ids)[cand].astype(str).astype(object), return_inverse=True)[1]
    order = cand[np.lexsort([id_rank, -second, -r[cand], g[cand]])]
    return np.sort(order[within(order)[0] < n])


def weighted_midranks(weights: np.ndarray, codes: np.ndarray, levels: int) -> np.ndarray:
    """Mid-rank of each row under each set of row weights (``weights``: replicates × rows), the values given as
    codes 0..``levels``−1 of their sorted distinct values: replicates × rows."""
    from scipy import sparse

    onehot = sparse.csr_matrix((np.ones(len(codes)), (np.arange(len(codes)), codes)), shape=(len(codes), levels))
    cnt = np.asarray((onehot.T @ weights.T).T)  # replicates × levels (sparse: O(B·n), not O(B·n·levels))
    below = np.cumsum(cnt, axis=1) - cnt
    mid = below + (cnt + 1.0) / 2.0
    return mid[:, codes]
