"""The bootstrap over accounts: whole accounts resampled with replacement ``n_boot`` times, and the percentile
interval read off the replicates.

An account (a customer) brings all its rows (spells, months, responses, landmark rows) into every resample it is
drawn in, so a replicate is described by one weight per account: how often the account was drawn. A statistic
built from per-account sums ``X`` (accounts × m) has the replicate sums ``W @ X`` for a block ``W`` of weights
(replicates × accounts); nothing replicates × rows is ever built.

The weights, in blocks of replicates (each a generator of ``b × k`` arrays, ``b`` summing to ``n_boot``):

* :func:`count_weights`: ``k`` accounts drawn with replacement in each replicate (the multinomial counts, drawn
  as ``rng.integers`` and counted: :func:`draw_counts`). This is the plain resample: drawing account ids with
  ``rng.choice(ids, size=k)`` once per replicate takes the same accounts from the same generator.
* :func:`group_weights`: the grouped shortcut. Accounts a statistic sees alike (:func:`interchangeable`) are
  drawn as one multinomial over their groups (:func:`draw_group_counts`), which has the distribution of
  drawing the accounts for a fraction of the draws. With every group of size one it is the account multinomial
  drawn with ``rng.multinomial`` (the same distribution as :func:`count_weights`, other draws).
* :func:`poisson_weights`: independent Poisson(1) weights per account and replicate (the Poisson bootstrap, in
  which the resample's size varies; :mod:`csanalysis.metrics`).

Then :func:`account_sums` (the per-account sums ``X`` of the rows' values), :func:`replicate_sums` (``W @ X``
over the blocks, for a dense or sparse ``X``) and :func:`percentile_interval` (the ``alpha/2`` and
``1 − alpha/2`` quantiles of the replicates in which the statistic is defined).

Blocks have one size: at most :data:`BLOCK_CELLS` numbers of replicates × ``width`` at a time
(:func:`replicate_blocks`), where ``width`` is the number of accounts or of the columns of a wider temporary the
caller builds per replicate. Blocks only bound memory: for every draw type here, drawing the blocks one after
another from one generator gives the draws of drawing all at once (tests/stats/test_bootstrap.py). Sums of
non-integer values can differ in their last bit with the split (BLAS orders a product's additions by its shape),
so an analysis keeps its ``width`` to keep its numbers.

The generator is the caller's (``np.random.default_rng(seed)``): an analysis draws its blocks in a fixed order,
so one seed gives one set of intervals.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from ..estimate import Estimate

__all__ = ["BLOCK_CELLS", "replicate_blocks", "draw_counts", "count_weights", "interchangeable", "draw_group_counts",
           "group_weights", "poisson_weights", "account_sums", "replicate_sums", "percentile_interval", "percentile_estimate"]

BLOCK_CELLS = 4_000_000  # replicates × width of bootstrap weights (or of what is built from them) held at once


def replicate_blocks(n_boot: int, width: int, cells: int | None = None) -> list[int]:
    """Sizes of successive blocks of ``n_boot`` replicates, each at most ``cells`` (default :data:`BLOCK_CELLS`)
    numbers of replicates × ``width`` (at least one replicate per block)."""
    step = max(1, (BLOCK_CELLS if cells is None else cells) // max(width, 1))
    return [min(step, n_boot - s) for s in range(0, n_boot, step)]


def draw_counts(rng: np.random.Generator, k: int, b: int, dtype=np.int64) -> np.ndarray:
    """``b`` × ``k`` counts, as ``dtype``: how often each of ``k`` accounts is drawn when ``k`` accounts are drawn
    with replacement, in each of ``b`` resamples (``rng.integers`` counted with bincounts: the multinomial, far
    faster than ``rng.multinomial``). The integer draws are taken a block at a time (:func:`replicate_blocks`),
    so only the output is ``b`` × ``k``; the draws are those of one call for all ``b``.

    Parameters
    ----------
    rng : numpy.random.Generator
        The random generator.
    k : int
        Accounts.
    b : int
        Resamples.
    dtype : numpy dtype
        The counts' type.

    Returns
    -------
    ndarray
        ``b`` × ``k`` counts; each row sums to ``k``.
    """
    out = np.empty((b, k), dtype=dtype)
    if k == 0:
        return out
    start = 0
    for size in replicate_blocks(b, k):
        draws = rng.integers(0, k, size=(size, k))
        for i in range(size):  # one bincount per resample stays in cache (one over b·k offset bins does not)
            out[start + i] = np.bincount(draws[i], minlength=k)
        start += size
    return out


def count_weights(rng: np.random.Generator, k: int, n_boot: int, *, width: int | None = None,
                  dtype=np.float64) -> Iterator[np.ndarray]:
    """Blocks of account-bootstrap weights (replicates × ``k``, as ``dtype``): how often each account is drawn
    when ``k`` accounts are drawn with replacement (:func:`draw_counts`). Blocks of at most :data:`BLOCK_CELLS`
    replicates × ``width`` (default ``k``: pass the width of the caller's own per-replicate temporaries when it
    is larger).

    Parameters
    ----------
    rng : numpy.random.Generator
        The random generator.
    k : int
        Accounts.
    n_boot : int
        Replicates in all.
    width : int, optional
        Columns of the caller's per-replicate temporaries (None: ``k``).
    dtype : numpy dtype
        The weights' type.

    Yields
    ------
    ndarray
        Replicates × ``k`` weights, one block at a time.
    """
    for b in replicate_blocks(n_boot, k if width is None else width):
        yield draw_counts(rng, k, b, dtype)


def interchangeable(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Groups of identical rows (units a statistic sees alike): the index of each group's first row and the group
    sizes. Resampling ``n`` units with replacement and adding up each group's counts is the same as drawing the
    group counts from one multinomial (``n`` draws, probabilities size ÷ n: :func:`draw_group_counts`), so a
    bootstrap over units can draw per group instead: the same distribution for a fraction of the draws.

    Rows are compared as bytes and the groups come in the byte order of their rows, each with its first row: for
    unsigned bytes (packed bits) exactly ``np.unique(rows, axis=0, return_index=True, return_counts=True)``, by
    one stable sort over 8-byte words (``np.unique`` sorts the rows as records, far slower). For floats, −0.0 and
    0.0 fall in different groups, which is still a valid grouping (its rows are identical)."""
    rows = np.ascontiguousarray(rows)
    n = len(rows)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    b = rows.view(np.uint8).reshape(n, -1)
    if b.shape[1] % 8:
        b = np.concatenate([b, np.zeros((n, 8 - b.shape[1] % 8), np.uint8)], axis=1)
    words = b.view(">u8")  # big-endian words: their order is the bytes' order
    order = np.lexsort(words.T[::-1])  # stable: each group starts at its first row
    w = words[order]
    new = np.r_[True, (w[1:] != w[:-1]).any(axis=1)]
    return order[new], np.diff(np.r_[np.flatnonzero(new), n])


def draw_group_counts(rng: np.random.Generator, sizes: np.ndarray, b: int) -> np.ndarray:
    """``b`` × groups float counts: how many of the ``sizes.sum()`` units drawn with replacement fall in each group
    of interchangeable units (``sizes`` units each), in each of ``b`` resamples."""
    n = int(np.sum(sizes))
    return rng.multinomial(n, np.asarray(sizes, dtype=float) / n, size=b).astype(np.float64)


def group_weights(rng: np.random.Generator, sizes: np.ndarray, n_boot: int, *,
                  width: int | None = None) -> Iterator[np.ndarray]:
    """Blocks of bootstrap weights per group of interchangeable accounts (replicates × groups, floats): how many
    of the ``sizes.sum()`` accounts drawn with replacement fall in each group (:func:`draw_group_counts`; no
    group: zero columns). Blocks of at most :data:`BLOCK_CELLS` replicates × ``width`` (default: the groups).

    Parameters
    ----------
    rng : numpy.random.Generator
        The random generator.
    sizes : ndarray of int
        Accounts in each group.
    n_boot : int
        Replicates in all.
    width : int, optional
        Columns of the caller's per-replicate temporaries (None: the groups).

    Yields
    ------
    ndarray
        Replicates × groups weights, one block at a time.
    """
    sizes = np.asarray(sizes)
    for b in replicate_blocks(n_boot, len(sizes) if width is None else width):
        yield draw_group_counts(rng, sizes, b) if len(sizes) else np.zeros((b, 0))


def poisson_weights(rng: np.random.Generator, k: int, n_boot: int, *,
                    width: int | None = None) -> Iterator[np.ndarray]:
    """Blocks of Poisson-bootstrap weights (replicates × ``k``, floats): an independent Poisson(1) count per
    account and replicate (each account drawn about once; the resample's size varies). Blocks of at most
    :data:`BLOCK_CELLS` replicates × ``width`` (default ``k``).

    Parameters
    ----------
    rng : numpy.random.Generator
        The random generator.
    k : int
        Accounts.
    n_boot : int
        Replicates in all.
    width : int, optional
        Columns of the caller's per-replicate temporaries (None: ``k``).

    Yields
    ------
    ndarray
        Replicates × ``k`` Poisson(1) weights, one block at a time.
    """
    for b in replicate_blocks(n_boot, k if width is None else width):
        yield rng.poisson(1.0, size=(b, k)).astype(np.float64)


def account_sums(codes: np.ndarray, k: int, values: np.ndarray) -> np.ndarray:
    """``k`` × m: per account (``codes``, 0 … k − 1 per row), the sum of each column of ``values`` (rows × m; a
    vector gives a vector of ``k``). One bincount per column: the sums of ``np.add.at``, in the same order."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        return np.bincount(codes, weights=values, minlength=k).astype(np.float64)
    out = np.empty((k, values.shape[1]))
    for j in range(values.shape[1]):
        out[:, j] = np.bincount(codes, weights=values[:, j], minlength=k)
    return out


def replicate_sums(blocks: Iterable[np.ndarray], *mats) -> list[np.ndarray]:
    """Each replicate's weighted sums: for each per-account matrix ``X`` (accounts × m, dense or scipy sparse;
    or a vector of accounts) the products ``W @ X`` of every block ``W`` of weights, stacked (replicates × m, in
    C order whatever the product's layout)."""
    from scipy import sparse

    parts = [[] for _ in mats]
    for W in blocks:
        for part, X in zip(parts, mats):
            part.append(np.asarray(X.T @ W.T).T if sparse.issparse(X) else W @ X)
    return [np.ascontiguousarray(np.concatenate(p)) if p else np.zeros((0,) + tuple(X.shape[1:]))
            for p, X in zip(parts, mats)]


def percentile_interval(replicates, alpha: float = 0.05, *, point=None, finite: bool = False,
                        min_replicates: int = 1, method: str = "linear"):
    """The percentile interval: the ``alpha/2`` and ``1 − alpha/2`` quantiles (numpy's ``method``) of the
    replicates in which the statistic is defined, that is not NaN (with ``finite``, not infinite either).

    ``replicates``: a vector (one statistic) or replicates × statistics (one interval per column). Fewer than
    ``min_replicates`` defined replicates give NaN bounds. With ``point`` (the estimate, a number or one per
    column) the interval is widened to include it: with few accounts every replicate can fall on one side.
    Returns ``(lower, upper)``: floats for a vector, arrays for a matrix.

    Parameters
    ----------
    replicates : array-like
        A vector, or replicates × statistics.
    alpha : float
        1 − the interval's confidence level.
    point : float or array-like, optional
        The estimate(s) the interval must include.
    finite : bool
        Also leave out infinite replicates.
    min_replicates : int
        Fewest defined replicates for a bound.
    method : str
        numpy's quantile method.

    Returns
    -------
    tuple
        ``(lower, upper)``: floats for a vector, arrays for a matrix.
    """
    boot = np.asarray(replicates, dtype=float)
    q = [alpha / 2, 1 - alpha / 2]
    need = max(int(min_replicates), 1)
    if boot.ndim == 1:
        ok = boot[np.isfinite(boot)] if finite else boot[~np.isnan(boot)]
        lo, hi = np.quantile(ok, q, method=method) if len(ok) >= need else (np.nan, np.nan)
        if point is not None:
            lo, hi = np.minimum(lo, point), np.maximum(hi, point)
        return float(lo), float(hi)
    if finite:
        boot = np.where(np.isfinite(boot), boot, np.nan)
    lo, hi = np.full(boot.shape[1], np.nan), np.full(boot.shape[1], np.nan)
    cols = (~np.isnan(boot)).sum(axis=0) >= need
    if cols.any():
        lo[cols], hi[cols] = np.nanquantile(boot[:, cols], q, axis=0, method=method)
    if point is not None:
        lo, hi = np.minimum(lo, point), np.maximum(hi, point)
    return lo, hi


def percentile_estimate(point, replicates, alpha: float = 0.05, *, reason: str | None = None,
                        min_replicates: int = 10) -> Estimate:
    """``point`` with its percentile interval over the finite ``replicates``, widened to include it
    (:func:`percentile_interval`). Undefined, with ``reason`` (default "not defined"), when the point is not finite;
    without bounds, noting "too few bootstrap samples", when fewer than ``min_replicates`` replicates are finite.

    Parameters
    ----------
    point : float
        The estimate.
    replicates : array-like
        The bootstrap replicates of the statistic.
    alpha : float
        1 − the interval's confidence level.
    reason : str, optional
        Why there is no number when ``point`` is not finite.
    min_replicates : int
        Fewest finite replicates for an interval.

    Returns
    -------
    Estimate
        The point with its interval, or undefined with the reason.
    """
    if not np.isfinite(point):
        return Estimate.missing(reason or "not defined")
    lo, hi = percentile_interval(replicates, alpha, finite=True, min_replicates=min_replicates, point=point)
    if np.isnan(lo):
        return Estimate("", float(point), np.nan, np.nan, note="too few bootstrap samples")
    return Estimate("", float(point), lo, hi)
