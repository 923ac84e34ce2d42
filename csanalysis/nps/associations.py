"""How NPS goes with what accounts did afterwards, with percentile bootstrap intervals over accounts: churn
and revenue change per NPS category, score–revenue correlations, and NPS against another satisfaction
measure (AUC for churn, R² for revenue). Associations, not effects."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from ..reasons import Reason
from ..stats.bootstrap import account_sums, count_weights, percentile_interval, replicate_sums
from ..stats.ranking import binned_auc, weighted_midranks
from ..data.keys import codes as account_codes
from .alignment import Alignment
from .survey import CATEGORIES

__all__ = ["category_outcomes", "correlation", "compare_measures"]


# ------------------------------------------------------------------------------------------------ outcomes per category


def category_outcomes(al: Alignment, k: int, *, alpha: float = 0.05, n_boot: int = 1000, seed: int | None = 0) -> pd.DataFrame:
    """Churn and revenue change per NPS category at horizon ``k``.

    Per category: responses, accounts, churn rate (share of responses whose account churned within k months), and
    among stayers the mean MRR change (percent) and the shares that expanded and contracted (stayers whose baseline
    revenue is zero or below have no change: left out of these three). Intervals: percentile bootstrap over
    accounts (all responses of an account resampled together), one set of resamples for every category and
    measure.

    Parameters
    ----------
    al : Alignment
        The aligned responses (:func:`align`).
    k : int
        The horizon in months (one of ``al.horizons``).
    alpha : float
        Significance level: 0.05 gives 95% intervals.
    n_boot : int
        Bootstrap resamples.
    seed : int or None
        Seed of the bootstrap's random generator.

    Returns
    -------
    DataFrame
        One row per category: ``category``, ``responses``, ``accounts``, ``stayers``, and ``churn_rate``,
        ``mrr_change``, ``expansion_share``, ``contraction_share`` each with ``_lower`` and ``_upper``;
        ``attrs`` holds ``horizon`` and ``n_boot``.
    """
    t = al.rows(k)
    cats = list(CATEGORIES)
    if not len(t):
        return pd.DataFrame({"category": cats, "responses": 0, "accounts": 0, "stayers": 0})
    codes, K = account_codes(t["customer_id"])
    ind = np.stack([(t["category"].to_numpy() == c).astype(float) for c in cats], axis=1)  # n × 3
    ch = t[f"churned_{k}"].to_numpy(float)
    stay = 1.0 - ch
    chg = np.nan_to_num(t[f"mrr_change_{k}"].to_numpy(float))
    ex = np.nan_to_num(t[f"expanded_{k}"].to_numpy(float))
    co = np.nan_to_num(t[f"contracted_{k}"].to_numpy(float))
    rev = t[f"mrr_change_{k}"].notna().to_numpy(float)  # stayers with a revenue base above zero (Alignment)
    cols = np.concatenate([ind, ind * ch[:, None], ind * stay[:, None], ind * chg[:, None], ind * ex[:, None],
                           ind * co[:, None], ind * rev[:, None]], axis=1)
    S = account_sums(codes, K, cols)
    tot = S.sum(axis=0)
    # blocks of replicates × accounts bounded by the engine's BLOCK_CELLS alone (the product is replicates ×
    # columns): a few tall products instead of hundreds of 4-row ones, which a threaded BLAS runs far slower
    Bm = replicate_sums(count_weights(np.random.default_rng(seed), K, int(n_boot)), S)[0]
    rows = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for j, c in enumerate(cats):
            n, nch, nst = tot[j], tot[3 + j], tot[6 + j]
            rec = {"category": c, "responses": int(n), "accounts": int(pd.Series(codes[ind[:, j] > 0]).nunique()),
                   "stayers": int(nst)}
            for name, num, den in (("churn_rate", 3, 0), ("mrr_change", 9, 18), ("expansion_share", 12, 18),
                                   ("contraction_share", 15, 18)):
                d = tot[den + j]
                rec[name] = tot[num + j] / d if d > 0 else np.nan
                rb = Bm[:, num + j] / Bm[:, den + j]
                rec[f"{name}_lower"], rec[f"{name}_upper"] = (
                    percentile_interval(rb, alpha, finite=True, min_replicates=10) if d > 0 else (np.nan, np.nan))
            rows.append(rec)
    out = pd.DataFrame(rows)
    out.attrs.update(horizon=k, n_boot=int(n_boot))
    return out


# ------------------------------------------------------------------------------------------------ correlation


def _wcorr(W: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Weighted Pearson correlation per row of observation weights ``W`` (replicates × n)."""
    sw = W.sum(axis=1)
    mx, my = (W @ x) / sw, (W @ y) / sw
    cxy = (W @ (x * y)) / sw - mx * my
    vx, vy = (W @ (x * x)) / sw - mx ** 2, (W @ (y * y)) / sw - my ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return cxy / np.sqrt(vx * vy)


def correlation(al: Alignment, k: int, *, alpha: float = 0.05, n_boot: int = 1000, seed: int | None = 0) -> pd.DataFrame:
    """Pearson and Spearman correlation of the 0–10 score with the MRR change over the next ``k`` months (accounts
    that stayed), with percentile bootstrap intervals over accounts (ranks recomputed in every resample for
    Spearman).

    Parameters
    ----------
    al : Alignment
        The aligned responses (:func:`align`).
    k : int
        The horizon in months (one of ``al.horizons``).
    alpha : float
        Significance level: 0.05 gives 95% intervals.
    n_boot : int
        Bootstrap resamples.
    seed : int or None
        Seed of the bootstrap's random generator.

    Returns
    -------
    DataFrame
        One row per method (``pearson``, ``spearman``): ``estimate``, ``lower``, ``upper``, ``n``, ``accounts`` and
        ``reason`` (why the estimate is missing, else None).
    """
    t = al.rows(k, "revenue")
    rows = []
    if len(t) < 3 or t["score"].nunique() < 2 or t[f"mrr_change_{k}"].nunique() < 2:
        for m in ("pearson", "spearman"):
            rows.append({"method": m, "estimate": np.nan, "lower": np.nan, "upper": np.nan, "n": len(t),
                         "accounts": t["customer_id"].nunique(),
                         "reason": Reason("fewer than three responses with a complete window, or no variation",
                                          "nps.reason.correlation")})
        return pd.DataFrame(rows)
    x = t["score"].to_numpy(float)
    y = t[f"mrr_change_{k}"].to_numpy(float)
    codes, K = account_codes(t["customer_id"])
    xc, xu = pd.factorize(x, sort=True)
    yc, yu = pd.factorize(y, sort=True)
    one = np.ones((1, len(x)))
    est_p = float(_wcorr(one, x, y)[0])
    est_s = float(_wcorr(one, weighted_midranks(one, xc, len(xu))[0], weighted_midranks(one, yc, len(yu))[0])[0])
    # The bootstrap works on the distinct (score, MRR change) pairs, not on the responses: every response with
    # the same pair has the same ranks in every resample, so a resample is fully described by the weight of each
    # pair = Σ over accounts of (times the account is drawn) × (its responses with that pair), one sparse product
    # per block of resamples. That is the same arithmetic as weighting every response (the terms are only
    # grouped), at a cost in pairs (thousands) instead of responses, and nothing is replicates × responses.
    from scipy import sparse

    pc, pu = pd.factorize(xc.astype(np.int64) * len(yu) + yc, sort=True)
    P = len(pu)
    pxc, pyc = pu // len(yu), pu % len(yu)  # score and MRR-change codes of each pair
    px, py = np.asarray(xu, float)[pxc], np.asarray(yu, float)[pyc]
    M = sparse.csr_matrix((np.ones(len(x)), (pc, codes)), shape=(P, K))  # pairs × accounts: responses
    bp, bs = [], []
    rng = np.random.default_rng(seed)
    # blocks bound the draws (replicates × accounts) and the pair arrays
    for Wa in count_weights(rng, K, int(n_boot), width=K + 4 * P):  # replicates × accounts
        W = np.ascontiguousarray((M @ Wa.T).T)  # replicates × pairs: weight of each pair
        bp.append(_wcorr(W, px, py))
        rx, ry = weighted_midranks(W, pxc, len(xu)), weighted_midranks(W, pyc, len(yu))
        # weighted Pearson of the ranks, row by row
        sw = W.sum(axis=1, keepdims=True)
        mx, my = (W * rx).sum(1, keepdims=True) / sw, (W * ry).sum(1, keepdims=True) / sw
        cov = (W * (rx - mx) * (ry - my)).sum(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            bs.append(cov / np.sqrt((W * (rx - mx) ** 2).sum(1) * (W * (ry - my) ** 2).sum(1)))
    for m, est, b in (("pearson", est_p, np.concatenate(bp)), ("spearman", est_s, np.concatenate(bs))):
        lo, hi = percentile_interval(b, alpha, finite=True, min_replicates=10)
        rows.append({"method": m, "estimate": est, "lower": lo, "upper": hi, "n": len(t), "accounts": K, "reason": None})
    out = pd.DataFrame(rows)
    out.attrs.update(horizon=k, n_boot=int(n_boot))
    return out


# ------------------------------------------------------------------------------------------------ NPS against another measure


def compare_measures(al: Alignment, k: int, other: str = "csat", *, alpha: float = 0.05, n_boot: int = 1000,
                     seed: int | None = 0) -> pd.DataFrame:
    """Does the NPS score predict better than another satisfaction measure (``other``, e.g. ``csat``)?

    On the same responses (both answered; rows missing either are counted in ``dropped``):

    * churn within ``k`` months: AUC of the score (low scores flag churners; 0.5 = no better than chance);
    * MRR change among stayers: R² of a straight-line fit on the score (= squared Pearson correlation).

    Percentile bootstrap intervals over accounts use the same resamples for both measures, so the difference is
    paired.

    Parameters
    ----------
    al : Alignment
        The aligned responses (:func:`align`).
    k : int
        The horizon in months (one of ``al.horizons``).
    other : str
        The column of the other measure in ``al.table``.
    alpha : float
        Significance level: 0.05 gives 95% intervals.
    n_boot : int
        Bootstrap resamples.
    seed : int or None
        Seed of the bootstrap's random generator.

    Returns
    -------
    DataFrame
        One row per metric (``auc_churn``, ``r2_revenue``): ``horizon``, ``n``, ``dropped``, ``accounts``, the
        values ``nps``, ``other`` and ``difference`` (NPS − other) each with ``_lower`` and ``_upper``, and
        ``reason``; empty when ``other`` is not in the table.
    """
    if other not in al.table.columns:
        return pd.DataFrame()
    rows = []
    for metric, t in (("auc_churn", al.rows(k)), ("r2_revenue", al.rows(k, "revenue"))):
        n0 = len(t)
        t = t[t["score"].notna() & t[other].notna()]
        rec = {"metric": metric, "horizon": k, "n": len(t), "dropped": n0 - len(t), "accounts": t["customer_id"].nunique()}
        y = (t[f"churned_{k}"] if metric == "auc_churn" else t[f"mrr_change_{k}"]).to_numpy(float)
        ok = len(t) >= 10 and (np.unique(y).size > 1) and t["score"].nunique() > 1 and t[other].nunique() > 1
        if not ok:
            rec.update({f"{m}{s}": np.nan for m in ("nps", "other", "difference") for s in ("", "_lower", "_upper")})
            rec["reason"] = Reason(f"too few responses, no {al.word()}/no variation, or a constant measure",
                                   "nps.reason.measure")
            rows.append(rec)
            continue
        codes, K = account_codes(t["customer_id"])
        rng = np.random.default_rng(seed)
        sums = {}  # per measure: its per-account sums, which every resample weights
        for name, col in (("nps", "score"), ("other", other)):
            x = t[col].to_numpy(float)
            xc, xu = pd.factorize(x, sort=True)
            if metric == "auc_churn":
                onehot = np.zeros((len(x), len(xu)))
                onehot[np.arange(len(x)), xc] = 1.0
                sums[name] = (account_sums(codes, K, onehot * y[:, None]),
                              account_sums(codes, K, onehot * (1 - y)[:, None]))
            else:
                sums[name] = account_sums(codes, K, np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=1))
        vals = {name: [] for name in sums}
        # the estimate (all weights 1), then blocks of resamples, each used by both measures (a paired
        # bootstrap) and then dropped: the replicates × accounts weights are never all held at once
        for W in itertools.chain([np.ones((1, K))], count_weights(rng, K, int(n_boot))):
            for name, S in sums.items():
                if metric == "auc_churn":
                    # a low score predicting churn: the levels from the highest down
                    vals[name].append(binned_auc((W @ S[0])[:, ::-1], (W @ S[1])[:, ::-1]))
                else:
                    M = W @ S
                    n_, sx, sy, sxx, syy, sxy = (M[:, i] for i in range(6))
                    cxy, vx, vy = sxy / n_ - sx * sy / n_ ** 2, sxx / n_ - (sx / n_) ** 2, syy / n_ - (sy / n_) ** 2
                    with np.errstate(divide="ignore", invalid="ignore"):
                        vals[name].append(cxy ** 2 / (vx * vy))
        res = {name: np.concatenate(v) for name, v in vals.items()}
        res["difference"] = res["nps"] - res["other"]
        for name, v in res.items():
            rec[name] = float(v[0])
            rec[f"{name}_lower"], rec[f"{name}_upper"] = percentile_interval(v[1:], alpha, finite=True,
                                                                             min_replicates=10)
        rec["reason"] = None
        rows.append(rec)
    out = pd.DataFrame(rows)
    out.attrs.update(other=other, horizon=k, n_boot=int(n_boot))
    return out
