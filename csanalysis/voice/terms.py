"""Distinguishing words: weighted log-odds ratios with an informative Dirichlet prior (Monroe, Colaresi and
Quinn 2008, "Fightin' Words", *Political Analysis* 16(4), section 3.5).

For word *w* with counts y_w^a in group a (of n^a tokens) and y_w^b in group b (n^b tokens), and a Dirichlet prior
with pseudo-counts α_w summing to α_0 (informative: α_w = α_0 · the word's share of both groups' tokens),

    δ_w = log[(y_w^a + α_w) / (n^a + α_0 − y_w^a − α_w)] − log[(y_w^b + α_w) / (n^b + α_0 − y_w^b − α_w)],
    Var(δ_w) ≈ 1/(y_w^a + α_w) + 1/(y_w^b + α_w),        z_w = δ_w / √Var(δ_w).

A positive z says the word is more typical of group a. The prior shrinks rare words towards zero, so a word seen
twice does not top the list by chance. ``prior_scale`` is α_0 (default: a tenth of the pooled count, so the prior
weighs a tenth as much as the data; the background frequencies are the two groups pooled, as no outside corpus is
given). Counts are token occurrences; a
word counts at most once per text with ``per_text=True`` (default), so one long text cannot dominate.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

__all__ = ["PRIOR_SHARE", "log_odds", "log_odds_counts"]

PRIOR_SHARE = 0.1  # default α_0 as a share of the pooled count


def log_odds_counts(y_a, y_b, prior=None, *, prior_scale: float | None = None) -> pd.DataFrame:
    """δ, its variance and z for aligned count vectors ``y_a`` and ``y_b`` (pandas Series indexed by word, or
    arrays); ``prior``: the pseudo-counts α_w (default: α_0 · pooled share, α_0 = ``prior_scale`` or the pooled
    total)."""
    idx = y_a.index if isinstance(y_a, pd.Series) else None
    ya, yb = np.asarray(y_a, float), np.asarray(y_b, float)
    pooled = ya + yb
    if prior is None:
        a0 = PRIOR_SHARE * float(pooled.sum()) if prior_scale is None else float(prior_scale)
        alpha = a0 * pooled / pooled.sum() if pooled.sum() > 0 else np.zeros_like(pooled)
    else:
        alpha = np.asarray(prior, float)
        a0 = float(alpha.sum())
    na, nb = ya.sum(), yb.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (np.log((ya + alpha) / (na + a0 - ya - alpha)) - np.log((yb + alpha) / (nb + a0 - yb - alpha)))
        var = 1.0 / (ya + alpha) + 1.0 / (yb + alpha)
        z = delta / np.sqrt(var)
    return pd.DataFrame({"count_a": ya.astype(np.int64), "count_b": yb.astype(np.int64), "prior": alpha,
                         "delta": delta, "variance": var, "z": z}, index=idx)


def log_odds(tokens_a, tokens_b, *, prior_scale: float | None = None, min_count: int = 5,
             per_text: bool = True) -> pd.DataFrame:
    """Weighted log-odds of every word between two groups of tokenized texts (each a list of token sequences),
    sorted by z (most typical of group a first); words with fewer than ``min_count`` counts in both groups
    together are left out of the table (they still shape the totals)."""
    def count(texts):
        c = Counter()
        for toks in texts:
            c.update(set(toks) if per_text else toks)
        return c

    ca, cb = count(tokens_a), count(tokens_b)
    words = sorted(set(ca) | set(cb))
    ya = pd.Series([ca.get(w, 0) for w in words], index=pd.Index(words, name="word"), dtype=float)
    yb = pd.Series([cb.get(w, 0) for w in words], index=ya.index, dtype=float)
    out = log_odds_counts(ya, yb, prior_scale=prior_scale)
    out = out[(out["count_a"] + out["count_b"]) >= min_count]
    return out.sort_values(["z", "count_a"], ascending=[False, False], kind="stable").reset_index()
