"""How a score did on the future: discrimination, lift, capture, precision at capacity and calibration.

:func:`evaluate_score` scores a later window of scoring dates with models fitted only on earlier closed windows
and reports AUC, top-decile lift and capture, precision at capacity and a calibration table, each with a
cluster-bootstrap interval: accounts, which appear at several scoring dates, are resampled whole (``_Boot``, the
replicates of one draw shared between scores so that their differences, :func:`auc_difference`, are paired).
The ranking statistics themselves are :mod:`csanalysis.stats.ranking`'s.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..result import TableSummary
from ..stats.bootstrap import draw_counts, percentile_estimate, percentile_interval, replicate_blocks
from ..stats import ranking
from .capacity import capacity_groups

__all__ = ["Evaluation", "evaluate_score", "gains_curve", "rates_by", "auc_difference"]


# ---------------------------------------------------------------------------- the bootstrap over accounts


@dataclass
class _Boot:
    """Cluster-bootstrap replicates kept per account: ``counts`` (B × accounts) says how often each account is
    drawn in each replicate, ``codes`` maps each row to its account; a row's weight in replicate b is
    ``counts[b, codes[row]]`` (every row of a drawn account counted as often). Weighted sums are sparse products
    (:meth:`matrix`, :meth:`apply`), so the B × rows weight matrix is never built."""

    counts: np.ndarray
    codes: np.ndarray
    _weights: np.ndarray | None = field(default=None, repr=False)  # accounts × B, float64, C order (apply)

    @classmethod
    def draw(cls, groups: np.ndarray, n_boot: int, seed: int) -> "_Boot":
        codes, uniq = pd.factorize(groups)
        k = len(uniq)
        # k accounts drawn with replacement per replicate
        return cls(draw_counts(np.random.default_rng(seed), k, n_boot, np.float32), codes)

    def sample(self) -> "_Boot":
        """The observed sample itself (every account once)."""
        return _Boot(np.ones((1, self.counts.shape[1]), dtype=np.float32), self.codes)

    def block(self, i: int, j: int) -> "_Boot":
        return _Boot(self.counts[i:j], self.codes)

    def rows(self) -> np.ndarray:
        """B × rows weights (small data and tests only)."""
        return self.counts[:, self.codes]

    def matrix(self, cols: np.ndarray, values: np.ndarray, n_cols: int, rows: np.ndarray | None = None):
        """Sparse n_cols × accounts: ``values`` of the rows (or of ``rows``) added up by column and account."""
        from scipy import sparse

        codes = self.codes if rows is None else self.codes[rows]
        S = sparse.csr_matrix((np.asarray(values, dtype=np.float64), (np.asarray(cols), codes)),
                              shape=(n_cols, self.counts.shape[1]))
        # rows with value 0 (not churned, in a churned sum) are stored as explicit zeros and every product pays for
        # them; dropping them leaves the sums unchanged (adding 0.0 changes no sum) and the churned sums cheaper
        S.eliminate_zeros()
        return S

    def ratio_matrix(self, cols: np.ndarray, y: np.ndarray, n_cols: int, rows: np.ndarray | None = None):
        """Sparse sums for a rate per column: Σ y in columns 0 … n_cols − 1, the row count in n_cols … 2·n_cols − 1
        (:meth:`rates` returns them apart)."""
        rows = np.arange(len(self.codes)) if rows is None else np.asarray(rows)
        cols = np.asarray(cols)
        return self.matrix(np.r_[cols, cols + n_cols], np.r_[y, np.ones(len(rows))], 2 * n_cols, rows=np.r_[rows, rows])

    def rates(self, S) -> tuple[np.ndarray, np.ndarray]:
        """B × n_cols weighted Σ y and weighted row counts of a :meth:`ratio_matrix`."""
        sums = self.apply(S)
        n = sums.shape[1] // 2
        return sums[:, :n], sums[:, n:]

    def apply(self, S) -> np.ndarray:
        """B × n_cols: per replicate, the weighted sums of a :meth:`matrix`."""
        if self._weights is None:  # once per block of replicates: each score applies several matrices
            self._weights = np.ascontiguousarray(self.counts.T, dtype=np.float64)
        return np.asarray(S @ self._weights).T


class _Ranked:
    """One score's sparse sums for the bootstrap, built once and applied to each block of replicates: churned and
    other weight per bin of the score order (:func:`csanalysis.stats.ranking.rank_bins`), from which
    :mod:`~csanalysis.stats.ranking` computes the AUC and the top share of each replicate."""

    def __init__(self, score: np.ndarray, y: np.ndarray, boot: _Boot):
        b, n = ranking.rank_bins(score, y)
        self.pos, self.neg = boot.matrix(b, y, n), boot.matrix(b, 1 - y, n)
        self._last = None  # (boot, churned weights, other weights) of the last block of replicates

    def weights(self, boot: _Boot) -> tuple[np.ndarray, np.ndarray]:
        """Replicates × bins churned and other weights; kept for the last ``boot``, as AUC and top share read the
        same block (the products are most of the bootstrap's time)."""
        if self._last is None or self._last[0] is not boot:
            self._last = (boot, boot.apply(self.pos), boot.apply(self.neg))
        return self._last[1], self._last[2]

    def auc(self, boot: _Boot) -> np.ndarray:
        """Weighted AUC (ties count one half) for each replicate of ``boot``."""
        return ranking.binned_auc(*self.weights(boot))

    def top_share(self, boot: _Boot, share: float) -> tuple[np.ndarray, np.ndarray]:
        """Per replicate: churned weight and total weight inside the top ``share`` of total weight by score
        (ties shared pro rata)."""
        return ranking.binned_top_share(*self.weights(boot), share)


# ---------------------------------------------------------------------------- the evaluation


_MEASURES = ("auc", "lift_top_decile", "capture_top_decile", "precision_at_capacity", "observed_rate")


@dataclass(kw_only=True)
class Evaluation(TableSummary):
    """How one score did on the future: discrimination, top-decile lift and capture, precision at capacity and
    calibration, each with a cluster-bootstrap (by account) 95% interval; built by keyword. :attr:`summary` is
    one row per measure, :meth:`conf_int` their intervals."""

    name: str
    auc: dict
    lift_top_decile: dict
    capture_top_decile: dict
    precision_at_capacity: dict
    brier: float
    mean_predicted: float
    observed_rate: dict
    calibration: pd.DataFrame
    n_rows: int
    n_accounts: int
    n_events: int
    n_dates: int
    capacity: int
    auc_boot: np.ndarray = field(repr=False, default=None)

    @property
    def summary(self) -> pd.DataFrame:
        """One row per measure: AUC, top-decile lift and capture, precision at capacity and the observed churn
        rate with their bootstrap intervals (``reason`` when a number is undefined), then the Brier score and the
        mean predicted probability (no interval)."""
        rows = [{"measure": k, **{c: getattr(self, k).get(c) for c in ("estimate", "lower", "upper", "reason")}}
                for k in _MEASURES]
        rows += [{"measure": k, "estimate": getattr(self, k), "lower": np.nan, "upper": np.nan, "reason": None}
                 for k in ("brier", "mean_predicted")]
        out = pd.DataFrame(rows)
        out[["estimate", "lower", "upper"]] = out[["estimate", "lower", "upper"]].astype(float)  # None → NaN
        return out

    def conf_int(self) -> pd.DataFrame:
        """The bootstrap intervals (``lower``, ``upper``) of the measures that have one, by measure."""
        return self.summary.set_index("measure").loc[list(_MEASURES), ["lower", "upper"]]

    def to_dict(self) -> dict:
        return {"name": self.name, "auc": self.auc, "lift_top_decile": self.lift_top_decile,
                "capture_top_decile": self.capture_top_decile, "precision_at_capacity": self.precision_at_capacity,
                "brier": self.brier, "mean_predicted": self.mean_predicted, "observed_rate": self.observed_rate,
                "n_rows": self.n_rows, "n_accounts": self.n_accounts, "n_events": self.n_events,
                "n_dates": self.n_dates, "capacity": self.capacity}

    def row(self) -> dict:
        r = {"score": self.name}
        for k in ("auc", "lift_top_decile", "capture_top_decile", "precision_at_capacity"):
            e = getattr(self, k)
            r[k], r[f"{k} lower"], r[f"{k} upper"] = e["estimate"], e["lower"], e["upper"]
        r["brier"] = self.brier
        r["mean_predicted"] = self.mean_predicted
        return r


def evaluate_score(name: str, prob: np.ndarray, frame: pd.DataFrame, *, capacity: int = 20, capacity_by: str = "team",
                   n_boot: int = 500, seed: int = 0, alpha: float = 0.05, bins: int = 10,
                   rank_score: np.ndarray | None = None, weights: "_Boot | None" = None,
                   outcome: str = "churned") -> Evaluation:
    """Judge predicted probabilities ``prob`` against ``frame['churned']`` (or the 0/1 column ``outcome``; rows of
    closed scoring dates; the calibration table's ``churned`` column counts that outcome).

    ``rank_score`` (default ``prob``) orders the accounts for AUC, lift and the capacity cut (a calibrated
    scorecard is ranked by its points, so calibration ties do not blur it). ``capacity``: the top N accounts of
    each scoring date per ``capacity_by`` (see :func:`risk_list`). ``weights``: the cluster-bootstrap replicates (:class:`_Boot`, shared between scores so
    their differences can be bootstrapped too).

    Parameters
    ----------
    name : str
        The score's name (``scorecard``, ``model``, ``ceiling``).
    prob : ndarray
        The predicted probabilities, one per row of ``frame``.
    frame : DataFrame
        Rows of closed scoring dates: ``customer_id``, ``m``, ``churned`` (and ``mrr`` and the capacity groups'
        columns).
    capacity : int
        Accounts each group can work at each scoring date.
    capacity_by : {"team", "csm", "total"}
        Whose capacity.
    n_boot : int
        Cluster-bootstrap replicates (with ``weights`` None).
    seed : int
        Seed of the bootstrap (with ``weights`` None).
    alpha : float
        1 − the intervals' confidence level.
    bins : int
        Bins of the calibration table (equal counts).
    rank_score : ndarray, optional
        The ordering for AUC, lift and the capacity cut (None: ``prob``).
    weights : _Boot, optional
        Bootstrap replicates shared with the other scores (None: drawn here).
    outcome : str
        The 0/1 column of ``frame`` the probabilities predict.

    Returns
    -------
    Evaluation
        The measures with their intervals and the calibration table.
    """
    prob = np.asarray(prob, dtype=float)
    rank = prob if rank_score is None else np.asarray(rank_score, dtype=float)
    ok = np.isfinite(prob) & np.isfinite(rank)
    if not ok.all():
        raise ValueError(f"score {name!r}: {int((~ok).sum())} rows without a score")
    y = frame[outcome].to_numpy().astype(float)
    groups = frame["customer_id"].to_numpy()
    boot = _Boot.draw(groups, n_boot, seed) if weights is None else weights
    ranked = _Ranked(rank, y, boot)
    one = boot.sample()
    auc = ranked.auc(one)[0]
    pos1, w1 = ranked.top_share(one, 0.1)
    rate1 = y.mean()
    top1 = pos1 / w1
    cap1 = pos1 / max(y.sum(), 1e-12)
    # precision at capacity: the top N of each scoring date (ties broken by MRR at stake)
    sel = ranking.top_n(rank, capacity, [frame[c].to_numpy() for c in ["m", *capacity_groups(frame, capacity_by)]],
                        tiebreak=frame["mrr"].to_numpy(dtype=float) if "mrr" in frame else None,
                        ids=frame["customer_id"].to_numpy())
    ys = y[sel]
    prec = ys.mean() if len(ys) else np.nan
    # calibration table: bins of the predicted probability (equal counts)
    edges = np.unique(np.quantile(prob, np.linspace(0, 1, bins + 1)))
    b = np.clip(np.searchsorted(edges, prob, side="right") - 1, 0, max(len(edges) - 2, 0))
    n_bins = int(b.max()) + 1
    S_rate = boot.ratio_matrix(np.zeros(len(y), dtype=np.int64), y, 1)
    S_prec = boot.ratio_matrix(np.zeros(len(sel), dtype=np.int64), ys, 1, rows=sel)
    S_obs = boot.ratio_matrix(b, y, n_bins)
    # the bootstrap replicates, a block at a time (the temporaries are replicates × distinct scores)
    parts = {k: [] for k in ("auc", "rate", "top", "cap", "prec", "obs")}
    start = 0
    for size in replicate_blocks(boot.counts.shape[0], len(y)):
        Wc = boot.block(start, start + size)
        start += size
        parts["auc"].append(ranked.auc(Wc))
        pos, wtop = ranked.top_share(Wc, 0.1)
        (wy,), (wall,) = (a.T for a in Wc.rates(S_rate))
        (pp,), (pn,) = (a.T for a in Wc.rates(S_prec))
        ob_y, ob_n = Wc.rates(S_obs)
        with np.errstate(invalid="ignore", divide="ignore"):
            parts["rate"].append(wy / wall)
            parts["top"].append(pos / wtop)
            parts["cap"].append(pos / wy)
            parts["prec"].append(pp / pn)
            parts["obs"].append(ob_y / ob_n)
    auc_b, rateB, topB, capB, precB = (np.concatenate(parts[k]) for k in ("auc", "rate", "top", "cap", "prec"))
    obsB = np.concatenate(parts["obs"], axis=0)
    cal = []
    for k in range(n_bins):
        m = b == k
        lo, hi = percentile_interval(obsB[:, k], alpha, point=y[m].mean()) if m.any() else (np.nan, np.nan)
        cal.append({"bin": k + 1, "rows": int(m.sum()), "churned": int(y[m].sum()),
                    "predicted": float(prob[m].mean()) if m.any() else np.nan,
                    "observed": float(y[m].mean()) if m.any() else np.nan, "lower": lo, "upper": hi})
    lift_b = np.divide(topB, rateB, out=np.full_like(topB, np.nan), where=rateB > 0)  # a resample without churn: none
    return Evaluation(
        name=name, auc=percentile_estimate(auc, auc_b, alpha).brief(),
        lift_top_decile=percentile_estimate(top1[0] / rate1 if rate1 > 0 else np.nan, lift_b, alpha,
                                            reason="no churn in the window").brief(),
        capture_top_decile=percentile_estimate(cap1[0] if y.sum() else np.nan, capB, alpha,
                                              reason="no churn in the window").brief(),
        precision_at_capacity=percentile_estimate(prec, precB, alpha, reason="no account selected").brief(),
        brier=float(np.mean((prob - y) ** 2)), mean_predicted=float(prob.mean()),
        observed_rate=percentile_estimate(rate1, rateB, alpha).brief(), calibration=pd.DataFrame(cal), n_rows=len(y),
        n_accounts=int(pd.Series(groups).nunique()), n_events=int(y.sum()), n_dates=int(frame["m"].nunique()),
        capacity=int(capacity), auc_boot=auc_b)


def gains_curve(score: np.ndarray, y: np.ndarray, points: int = 101) -> pd.DataFrame:
    """Cumulative gains: share of churns captured (``captured``) when working the top ``share`` of accounts by
    ``score`` (ties shared pro rata)."""
    y = np.asarray(y, dtype=float)
    shares = np.linspace(0, 1, points)
    b, n = ranking.rank_bins(np.asarray(score, float), y)
    pos, neg = np.bincount(b, y, minlength=n), np.bincount(b, 1 - y, minlength=n)
    cap = [float(ranking.binned_top_share(pos, neg, q)[0] / max(y.sum(), 1e-12)) for q in shares]
    return pd.DataFrame({"share": shares, "captured": cap})


def rates_by(frame: pd.DataFrame, col: str, *, n_boot: int = 500, seed: int = 0, alpha: float = 0.05,
             order=None) -> pd.DataFrame:
    """Churn within the horizon by the values of ``col`` (e.g. the scorecard band), with cluster-bootstrap
    intervals (accounts resampled whole).

    Parameters
    ----------
    frame : DataFrame
        Scored rows of closed windows: ``customer_id``, ``churned`` and ``col``.
    col : str
        The column to group by.
    n_boot : int
        Bootstrap replicates.
    seed : int
        Seed of the bootstrap's random generator.
    alpha : float
        1 − the intervals' confidence level.
    order : list, optional
        The values of ``col`` in the order to report (None: in order of first appearance).

    Returns
    -------
    DataFrame
        One row per value of ``col``: rows, churned, the churn rate and its interval.
    """
    y = frame["churned"].to_numpy().astype(float)
    codes, levels = pd.factorize(frame[col].astype(str))
    draws = _Boot.draw(frame["customer_id"].to_numpy(), n_boot, seed)
    churned, rows_b = draws.rates(draws.ratio_matrix(codes, y, len(levels)))
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = churned / rows_b
    rows = []
    for k, lv in enumerate(levels):
        m = codes == k
        r = y[m].mean()
        lo, hi = percentile_interval(boot[:, k], alpha, point=r)
        rows.append({col: lv, "rows": int(m.sum()), "churned": int(y[m].sum()), "rate": r, "lower": lo, "upper": hi})
    out = pd.DataFrame(rows)
    if order is not None:
        out = out.set_index(col).reindex([o for o in order if o in set(levels)]).reset_index()
    return out


def auc_difference(a: Evaluation, b: Evaluation, alpha: float = 0.05) -> dict:
    """AUC of ``a`` minus AUC of ``b`` on the same rows, with the paired cluster-bootstrap interval (the two
    evaluations must share their bootstrap weights)."""
    d = a.auc["estimate"] - b.auc["estimate"]
    return percentile_estimate(d, a.auc_boot - b.auc_boot, alpha).brief()
