"""The Net Promoter Score of a sample of scores, with honest intervals.

This module stands alone (as ``statsmodels.stats.proportion`` does): scores, counts and account ids
in, numbers out; it knows nothing of a ``Dataset``. The analyses of NPS against revenue build on it.

* **Scores** are integers 0–10 ("How likely are you to recommend us?"). **Promoters** answer 9–10,
  **passives** 7–8, **detractors** 0–6. **NPS** = 100 · (share of promoters − share of detractors), in −100…100.
* **Intervals** (``method=``):

  - ``"wald"``: Var(NPS) = 100² · (p + d − (p − d)²) / n, normal interval, clipped to [−100, 100]. It is too
    narrow for small samples and for extreme scores (it even has width 0 when everybody is a promoter).
  - ``"adjusted_wald"`` (Rocks 2016, "Interval estimation for the Net Promoter Score", *The American
    Statistician*): add ¾ to the promoter count, ¾ to the detractor count and 3 to n, then the Wald formula on
    the adjusted shares. The reported NPS stays the raw one; the interval is centred on the adjusted NPS.
  - ``"auto"``: ``adjusted_wald`` when n < 50 or |NPS| > 80, else ``wald``; the result says which and why.
  - ``accounts=``: several respondents of one account are not independent answers. The interval is then a
    percentile bootstrap over accounts (accounts resampled with replacement, all their respondents kept), and
    the result says so. This overrides ``method``.

Everything that works on many samples at once (``nps_interval``, ``nps_by``, the bootstraps) is vectorised
with numpy: counts in, arrays of intervals out; bootstrap replicates are rows of a multinomial count matrix.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..estimate import json_safe
from ..result import TableSummary
from ..stats.bootstrap import group_weights, interchangeable, percentile_interval
from ..stats.pvalue import fmt_p

__all__ = ["METHODS", "AUTO_MIN_N", "AUTO_MAX_ABS_NPS", "nps_interval", "NPSResult", "net_promoter_score",
           "NPSDifference", "nps_difference", "account_loyalty", "nps_by"]

METHODS = ("wald", "adjusted_wald", "auto")
AUTO_MIN_N = 50  # below this, auto uses the adjusted-Wald interval
AUTO_MAX_ABS_NPS = 80  # beyond this, auto uses the adjusted-Wald interval


# ------------------------------------------------------------------------------------------------ the bootstrap over accounts


def _boot_nps(rng, B: int, *per_sample_counts) -> np.ndarray:
    """Bootstrap NPS replicates over accounts, vectorised: for each sample, ``(P_k, D_k, N_k)`` per account
    (the same accounts, in the same order, for every sample: a paired bootstrap when there are two).
    Returns an array B × (number of samples).

    An NPS only sees each account's promoters minus detractors and responses, so accounts with the same values in
    every sample are interchangeable: the resamples draw how many accounts come from each such group (one
    multinomial over a few dozen groups, :func:`csanalysis.stats.bootstrap.group_weights`), which has the
    distribution of drawing the accounts themselves (tests/nps/test_nps_statistic.py) at a fraction of the cost
    (1000 × 1M account draws per NPS at a million accounts)."""
    cols = np.column_stack([c for P, D, N in per_sample_counts for c in (P - D, N)])  # accounts × 2 per sample
    out = np.full((B, len(per_sample_counts)), np.nan)
    if not len(cols):
        return out
    first, sizes = interchangeable(cols)
    X = cols[first]
    start = 0
    for W in group_weights(rng, sizes, B):
        S = W @ X
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start:start + len(W)] = 100.0 * S[:, 0::2] / S[:, 1::2]
        start += len(W)
    return out


# ------------------------------------------------------------------------------------------------ validation


def _as_scores(scores, name: str = "scores") -> np.ndarray:
    """Validated integer scores 0–10 as an int array; ValueError naming the count of bad values."""
    s = pd.Series(np.asarray(scores, dtype=object).ravel() if not isinstance(scores, pd.Series) else scores.to_numpy(object))
    if len(s) == 0:
        raise ValueError(f"{name}: no scores given; the NPS needs at least one answer")
    missing = s.isna().to_numpy()
    num = pd.to_numeric(s.where(~missing), errors="coerce").to_numpy(float)
    non_numeric = ~missing & np.isnan(num)
    with np.errstate(invalid="ignore"):
        bad_value = ~missing & ~non_numeric & ((num < 0) | (num > 10) | (num != np.round(num)))
    problems = []
    if missing.any():
        problems.append(f"{int(missing.sum())} missing (NaN/None) value{'s' if missing.sum() != 1 else ''}"
                        " — drop them before computing the NPS")
    bad = non_numeric | bad_value
    if bad.any():
        examples = ", ".join(repr(v) for v in s[bad].unique()[:5])
        problems.append(f"{int(bad.sum())} value{'s' if bad.sum() != 1 else ''} out of range or not integers "
                        f"0–10 (e.g. {examples})")
    if problems:
        raise ValueError(f"{name}: {len(s)} values, of which " + "; ".join(problems)
                         + ". NPS scores must be integers 0–10.")
    return num.astype(np.int64)


def _check_method(method: str, allowed=METHODS) -> None:
    if method not in allowed:
        raise ValueError(f"method={method!r}: use one of {list(allowed)}")


def _check_alpha(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha!r}: must be between 0 and 1 (0.05 for a 95% interval)")
    return float(norm.ppf(1 - alpha / 2))


def _as_accounts(accounts, n: int, name: str = "accounts") -> np.ndarray:
    """Account ids → integer codes 0..K-1 (ValueError on length mismatch or missing ids)."""
    a = pd.Series(np.asarray(accounts, dtype=object).ravel() if not isinstance(accounts, pd.Series) else accounts.to_numpy(object))
    if len(a) != n:
        raise ValueError(f"{name}: {len(a)} account ids for {n} scores; give one account id per score")
    missing = int(a.isna().sum())
    if missing:
        raise ValueError(f"{name}: {missing} missing account id{'s' if missing != 1 else ''}; every respondent "
                         "needs an account for the account bootstrap")
    codes, _ = pd.factorize(a)
    return codes


# ------------------------------------------------------------------------------------------------ core arithmetic


def _classes(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return scores >= 9, scores <= 6


def _wald(P, D, N):
    """Wald centre, SE (on the 0–100 scale) from counts (arrays)."""
    P, D, N = (np.asarray(x, dtype=float) for x in (P, D, N))
    p, d = P / N, D / N
    centre = 100.0 * (p - d)
    se = 100.0 * np.sqrt(np.maximum(p + d - (p - d) ** 2, 0.0) / N)
    return centre, se


def nps_interval(promoters, detractors, n, method: str = "wald", *, alpha: float = 0.05) -> dict:
    """Vectorised NPS intervals from counts, for many samples at once.

    Parameters
    ----------
    promoters, detractors, n : int or array-like
        Counts per sample: promoters (scores 9–10), detractors (0–6) and all respondents (scalars or arrays that
        broadcast to one shape; ``n`` > 0 and promoters + detractors ≤ n).
    method : {"wald", "adjusted_wald", "auto"}
        The interval (see the module docstring); ``"auto"`` decides per sample.
    alpha : float
        Significance level: 0.05 gives 95% intervals.

    Returns
    -------
    dict of arrays
        ``nps`` (raw, −100…100), ``centre`` (the interval's centre), ``se``, ``lower``, ``upper`` and ``method``
        (the method used per element; ``auto`` resolved).
    """
    _check_method(method)
    z = _check_alpha(alpha)
    P, D, N = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (promoters, detractors, n)))
    if np.any(N <= 0):
        raise ValueError("n must be positive for every sample")
    if np.any((P < 0) | (D < 0) | (P + D > N)):
        raise ValueError("counts must satisfy 0 ≤ promoters, detractors and promoters + detractors ≤ n")
    raw = 100.0 * (P - D) / N
    c_w, se_w = _wald(P, D, N)
    c_a, se_a = _wald(P + 0.75, D + 0.75, N + 3.0)
    if method == "wald":
        use_adj = np.zeros(N.shape, dtype=bool)
    elif method == "adjusted_wald":
        use_adj = np.ones(N.shape, dtype=bool)
    else:
        use_adj = (N < AUTO_MIN_N) | (np.abs(raw) > AUTO_MAX_ABS_NPS)
    centre = np.where(use_adj, c_a, c_w)
    se = np.where(use_adj, se_a, se_w)
    return {"nps": raw, "centre": centre, "se": se,
            "lower": np.clip(centre - z * se, -100.0, 100.0), "upper": np.clip(centre + z * se, -100.0, 100.0),
            "method": np.where(use_adj, "adjusted_wald", "wald")}


def _auto_reason(n: int, nps: float) -> str:
    why = []
    if n < AUTO_MIN_N:
        why.append(f"the sample is small (n = {n} < {AUTO_MIN_N})")
    if abs(nps) > AUTO_MAX_ABS_NPS:
        why.append(f"the score is extreme (|NPS| = {abs(nps):.0f} > {AUTO_MAX_ABS_NPS})")
    if why:
        return ("adjusted-Wald interval (Rocks 2016: ¾ added to promoters and detractors, 3 to n) because "
                + " and ".join(why) + ", where the plain Wald interval is too narrow")
    return (f"Wald interval: the sample is large enough (n = {n} ≥ {AUTO_MIN_N}) and the score is not extreme "
            f"(|NPS| = {abs(nps):.0f} ≤ {AUTO_MAX_ABS_NPS}), where it covers as promised")


def _account_counts(pro: np.ndarray, det: np.ndarray, codes: np.ndarray):
    K = int(codes.max()) + 1
    return (np.bincount(codes, weights=pro, minlength=K), np.bincount(codes, weights=det, minlength=K),
            np.bincount(codes, minlength=K).astype(float))


# ------------------------------------------------------------------------------------------------ results


def _fmt(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "?"
    s = f"{x:.0f}"
    return "0" if s == "-0" else s


def _range(lo: float, hi: float) -> str:
    sep = "–" if (lo is not None and lo >= -0.5) else " to "
    return f"{_fmt(lo)}{sep}{_fmt(hi)}"


def _level(alpha: float) -> str:
    return f"{100 * (1 - alpha):g}%"


@dataclass(kw_only=True)
class NPSResult(TableSummary):
    """The NPS of one sample with its interval (all on the −100…100 scale; shares are 0–1); built by keyword.
    :attr:`summary` is its one-row table (:meth:`print_summary`), :meth:`conf_int` the interval; in a notebook
    it shows as a short labelled table (``_repr_html_``)."""

    nps: float
    lower: float
    upper: float
    se: float
    n: int
    promoters: float  # share 0–1
    passives: float
    detractors: float
    n_promoters: int
    n_passives: int
    n_detractors: int
    method_: str  # "wald", "adjusted_wald" or "account_bootstrap"
    method_reason_: str
    alpha: float = 0.05
    n_accounts: int | None = None
    n_boot: int | None = None
    boot_: np.ndarray | None = field(default=None, repr=False)  # bootstrap replicates (account bootstrap)

    @property
    def counts(self) -> dict:
        return {"promoters": self.n_promoters, "passives": self.n_passives, "detractors": self.n_detractors}

    @property
    def summary(self) -> pd.DataFrame:
        """One row: the NPS with its interval and SE, the confidence level, the shares and counts, the method."""
        return pd.DataFrame([{k: v for k, v in self.to_dict().items() if k != "method_reason"}])

    def conf_int(self) -> pd.DataFrame:
        """The (1 − ``alpha``) interval of the NPS (``lower``, ``upper``; one row, ``nps``)."""
        return pd.DataFrame({"lower": [self.lower], "upper": [self.upper]}, index=pd.Index(["nps"], name="estimate"))

    def to_dict(self) -> dict:
        d = {"nps": self.nps, "lower": self.lower, "upper": self.upper, "se": self.se,
             "confidence": 1 - self.alpha, "n": self.n,
             "promoters": self.promoters, "passives": self.passives, "detractors": self.detractors,
             "n_promoters": self.n_promoters, "n_passives": self.n_passives, "n_detractors": self.n_detractors,
             "method": self.method_, "method_reason": self.method_reason_,
             "n_accounts": self.n_accounts, "n_boot": self.n_boot}
        return json_safe(d)

    def __str__(self) -> str:
        return f"NPS {_fmt(self.nps)} ({_level(self.alpha)} CI {_range(self.lower, self.upper)}), n = {self.n}"

    def _repr_html_(self) -> str:
        rows = [("NPS", _fmt(self.nps)), (f"{_level(self.alpha)} interval", _range(self.lower, self.upper)),
                ("respondents", f"{self.n:,}"),
                ("promoters / passives / detractors",
                 f"{self.promoters:.0%} / {self.passives:.0%} / {self.detractors:.0%}"),
                ("method", self.method_reason_)]
        if self.n_accounts is not None:
            rows.insert(3, ("accounts", f"{self.n_accounts:,}"))
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
                       f"{html.escape(str(v))}</td></tr>" for k, v in rows)
        return f"<table class='csanalysis-nps'>{body}</table>"


def net_promoter_score(scores, method: str = "wald", *, alpha: float = 0.05, accounts=None, n_boot: int = 2000,
                       seed: int | None = 0) -> NPSResult:
    """NPS of ``scores`` (integers 0–10) with a confidence interval.

    Parameters
    ----------
    scores : array-like
        Answers 0–10, one per respondent (ValueError naming the bad values otherwise).
    method : {"wald", "adjusted_wald", "auto"}
        ``"adjusted_wald"`` is Rocks 2016; ``"auto"`` uses adjusted-Wald when n < 50 or |NPS| > 80, else Wald
        (see the module docstring). Not used with ``accounts``.
    alpha : float
        Significance level: 0.05 gives a 95% interval.
    accounts : array-like, optional
        One account id per score. The interval is then a percentile bootstrap over accounts, because answers from
        the same account are not independent.
    n_boot : int
        Bootstrap resamples (with ``accounts``; at least 100).
    seed : int or None
        Seed of the bootstrap's random generator.

    Returns
    -------
    NPSResult
        The NPS with its interval, shares and counts; ``method_`` and ``method_reason_`` say what was done.
    """
    _check_method(method)
    z = _check_alpha(alpha)
    s = _as_scores(scores)
    pro, det = _classes(s)
    n, P, D = len(s), int(pro.sum()), int(det.sum())
    base = dict(n=n, promoters=P / n, passives=(n - P - D) / n, detractors=D / n,
                n_promoters=P, n_passives=n - P - D, n_detractors=D, alpha=alpha)
    raw = 100.0 * (P - D) / n
    if accounts is None:
        r = nps_interval(P, D, n, method, alpha=alpha)
        used = str(r["method"])
        if method == "auto":
            reason = _auto_reason(n, raw)
        elif used == "wald":
            reason = "Wald interval (normal approximation; too narrow for small samples or extreme scores)"
        else:
            reason = "adjusted-Wald interval (Rocks 2016: ¾ added to promoters and detractors, 3 to n)"
        return NPSResult(nps=raw, lower=float(r["lower"]), upper=float(r["upper"]), se=float(r["se"]),
                         method_=used, method_reason_=reason, **base)

    if int(n_boot) < 100:
        raise ValueError(f"n_boot={n_boot}: use at least 100 bootstrap resamples (1000+ for a 95% interval)")
    codes = _as_accounts(accounts, n)
    counts = _account_counts(pro.astype(float), det.astype(float), codes)
    K = len(counts[0])
    boot = _boot_nps(np.random.default_rng(seed), int(n_boot), counts)[:, 0]
    lo, hi = percentile_interval(boot, alpha)
    reason = (f"percentile bootstrap over {K:,} accounts ({int(n_boot):,} resamples of whole accounts), because "
              f"the {n:,} respondents are clustered in accounts and answers from one account are not independent")
    if method != "wald":
        reason += f"; method={method!r} applies to independent respondents and was not used"
    if K < 20:
        reason += f"; with only {K} accounts the bootstrap interval is rough (tends to be too narrow)"
    return NPSResult(nps=raw, lower=lo, upper=hi, se=float(np.std(boot, ddof=1)), method_="account_bootstrap",
                     method_reason_=reason, n_accounts=K, n_boot=int(n_boot), boot_=boot, **base)


# ------------------------------------------------------------------------------------------------ differences


@dataclass(kw_only=True)
class NPSDifference(TableSummary):
    """Difference NPS(a) − NPS(b) with its interval and a two-sided p-value (H0: no difference); built by
    keyword. :attr:`summary` is its one-row table (:meth:`print_summary`, ``_repr_html_``), :meth:`conf_int` the
    interval."""

    estimate: float
    lower: float
    upper: float
    se: float
    p_value: float
    method: str
    alpha: float = 0.05
    n_a: int = 0
    n_b: int = 0
    nps_a: float = float("nan")
    nps_b: float = float("nan")
    n_accounts: int | None = None

    @property
    def summary(self) -> pd.DataFrame:
        """One row: the difference with its interval, SE and p-value, the confidence level, each sample's size and
        NPS (the method, a sentence, is in :meth:`to_dict`)."""
        return pd.DataFrame([{k: v for k, v in self.to_dict().items() if k != "method"}])

    def conf_int(self) -> pd.DataFrame:
        """The (1 − ``alpha``) interval of the difference (``lower``, ``upper``; one row, ``difference``)."""
        return pd.DataFrame({"lower": [self.lower], "upper": [self.upper]},
                            index=pd.Index(["difference"], name="estimate"))

    def to_dict(self) -> dict:
        return json_safe({
            "estimate": self.estimate, "lower": self.lower, "upper": self.upper, "se": self.se,
            "p_value": self.p_value, "method": self.method, "confidence": 1 - self.alpha, "n_a": self.n_a,
            "n_b": self.n_b, "nps_a": self.nps_a, "nps_b": self.nps_b, "n_accounts": self.n_accounts})

    def __str__(self) -> str:
        p = fmt_p(self.p_value, label=True)
        return (f"NPS difference {self.estimate:+.0f} points ({_level(self.alpha)} CI {_range(self.lower, self.upper)}), "
                f"{p}")


def nps_difference(a, b, *, paired_accounts=None, method: str = "wald", alpha: float = 0.05, n_boot: int = 2000,
                   seed: int | None = 0) -> NPSDifference:
    """NPS(a) − NPS(b) for two samples of scores 0–10.

    * **Independent groups** (default): SE = √(SE_a² + SE_b²) from each group's interval method
      (``method="wald"``; ``"adjusted_wald"`` uses each group's adjusted centre and SE, ``"auto"`` chooses per
      group), normal interval and two-sided p-value from z = difference / SE.
    * **Same accounts in both** (``paired_accounts=(accounts_a, accounts_b)``, one account id per score):
      a paired percentile bootstrap over the accounts present in both samples — each resample draws accounts
      with replacement and keeps all their answers in *both* samples, so the correlation within an account is
      respected. Respondents of accounts in only one sample are left out (the method text says how many). The
      p-value is the two-sided bootstrap p-value 2·min(P*(Δ ≤ 0), P*(Δ ≥ 0)) (with +1 smoothing, never 0).

    Parameters
    ----------
    a, b : array-like
        The two samples of scores 0–10.
    paired_accounts : tuple of two array-likes, optional
        ``(accounts_a, accounts_b)``: the account id of each score of ``a`` and of ``b``, for the paired bootstrap.
    method : {"wald", "adjusted_wald", "auto"}
        Each group's interval method (independent groups).
    alpha : float
        Significance level: 0.05 gives a 95% interval.
    n_boot : int
        Bootstrap resamples (paired; at least 100).
    seed : int or None
        Seed of the bootstrap's random generator.

    Returns
    -------
    NPSDifference
        The difference with its interval, SE, p-value and the method used.
    """
    _check_method(method)
    z = _check_alpha(alpha)
    sa, sb = _as_scores(a, "a"), _as_scores(b, "b")
    if paired_accounts is None:
        ra = net_promoter_score(sa, method, alpha=alpha)
        rb = net_promoter_score(sb, method, alpha=alpha)
        ca = float(nps_interval(ra.n_promoters, ra.n_detractors, ra.n, method, alpha=alpha)["centre"])
        cb = float(nps_interval(rb.n_promoters, rb.n_detractors, rb.n, method, alpha=alpha)["centre"])
        est, se = ra.nps - rb.nps, math.hypot(ra.se, rb.se)
        centre = ca - cb
        if se > 0:
            p = float(2 * norm.sf(abs(centre) / se))
        else:
            p = float("nan")
        used = (f"independent groups: SE = √(SE_a² + SE_b²) with {ra.method_} (a) and {rb.method_} (b) SEs, "
                "normal interval and p-value")
        return NPSDifference(estimate=est, lower=max(centre - z * se, -200.0), upper=min(centre + z * se, 200.0),
                             se=se, p_value=p, method=used, alpha=alpha, n_a=ra.n, n_b=rb.n, nps_a=ra.nps,
                             nps_b=rb.nps)

    try:
        acc_a, acc_b = paired_accounts
    except (TypeError, ValueError):
        raise ValueError("paired_accounts: give a pair (accounts_a, accounts_b), one account id per score of a "
                         "and of b") from None
    if int(n_boot) < 100:
        raise ValueError(f"n_boot={n_boot}: use at least 100 bootstrap resamples (1000+ for a 95% interval)")
    ia = pd.Series(np.asarray(acc_a, dtype=object).ravel())
    ib = pd.Series(np.asarray(acc_b, dtype=object).ravel())
    _as_accounts(ia, len(sa), "paired_accounts[0]")
    _as_accounts(ib, len(sb), "paired_accounts[1]")
    common = pd.Index(pd.unique(ia)).intersection(pd.Index(pd.unique(ib)))
    if len(common) < 2:
        raise ValueError(f"paired_accounts: {len(common)} account(s) answered in both samples; a paired bootstrap "
                         "needs at least 2 (use the independent comparison instead)")
    keep_a, keep_b = ia.isin(common).to_numpy(), ib.isin(common).to_numpy()
    code_a, code_b = common.get_indexer(ia[keep_a]), common.get_indexer(ib[keep_b])
    sa, sb = sa[keep_a], sb[keep_b]
    pa, da = _classes(sa)
    pb, db = _classes(sb)
    K = len(common)
    cnt_a = tuple(np.bincount(code_a, weights=w, minlength=K) for w in (pa.astype(float), da.astype(float),
                                                                        np.ones(len(sa))))
    cnt_b = tuple(np.bincount(code_b, weights=w, minlength=K) for w in (pb.astype(float), db.astype(float),
                                                                        np.ones(len(sb))))
    nps_a = 100.0 * (pa.sum() - da.sum()) / len(sa)
    nps_b = 100.0 * (pb.sum() - db.sum()) / len(sb)
    boot = _boot_nps(np.random.default_rng(seed), int(n_boot), cnt_a, cnt_b)
    diff = boot[:, 0] - boot[:, 1]
    lo, hi = percentile_interval(diff, alpha)
    B = len(diff)
    p = min(1.0, 2 * min((np.sum(diff <= 0) + 1) / (B + 1), (np.sum(diff >= 0) + 1) / (B + 1)))
    dropped_a, dropped_b = int((~keep_a).sum()), int((~keep_b).sum())
    used = f"paired percentile bootstrap over {K:,} accounts present in both samples ({B:,} resamples)"
    if dropped_a or dropped_b:
        used += (f"; left out {dropped_a} answer(s) of a and {dropped_b} of b from accounts that answered in only "
                 "one sample")
    return NPSDifference(estimate=float(nps_a - nps_b), lower=lo, upper=hi, se=float(np.std(diff, ddof=1)),
                         p_value=float(p), method=used, alpha=alpha, n_a=len(sa), n_b=len(sb), nps_a=float(nps_a),
                         nps_b=float(nps_b), n_accounts=K)


# ------------------------------------------------------------------------------------------------ tables


def _require(df: pd.DataFrame, cols) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"column(s) {missing} not in the data; columns: {list(df.columns)}")


def account_loyalty(df: pd.DataFrame, account_col: str = "customer_id", score_col: str = "score") -> pd.DataFrame:
    """Loyalty per account from its respondents' scores.

    One row per account with ``respondents`` (number of answers), ``promoters``, ``passives``, ``detractors``
    (counts), ``nps`` = the **account NPS** = 100 · (promoters − detractors) / respondents (in −100…100; an
    account with one respondent scores −100, 0 or 100) and ``mean_score`` (mean of the 0–10 scores).
    Every answer counts once: an account with several answers from one person is weighted by answers.
    """
    _require(df, [account_col, score_col])
    s = _as_scores(df[score_col], score_col)
    acc = df[account_col]
    if acc.isna().any():
        raise ValueError(f"{account_col}: {int(acc.isna().sum())} missing account id(s)")
    t = pd.DataFrame({account_col: acc.to_numpy(), "_s": s, "_p": s >= 9, "_d": s <= 6})
    g = t.groupby(account_col, sort=True)
    out = pd.DataFrame({"respondents": g.size(), "promoters": g["_p"].sum(), "detractors": g["_d"].sum(),
                        "mean_score": g["_s"].mean()})
    out["passives"] = out["respondents"] - out["promoters"] - out["detractors"]
    out["nps"] = 100.0 * (out["promoters"] - out["detractors"]) / out["respondents"]
    out = out.reset_index()
    return out[[account_col, "respondents", "nps", "mean_score", "promoters", "passives", "detractors"]]


def nps_by(df: pd.DataFrame, by, score_col: str = "score", account_col: str | None = None, method: str = "auto", *,
           alpha: float = 0.05, n_boot: int = 2000, seed: int | None = 0) -> pd.DataFrame:
    """NPS per group (a period or segment column, or a list of columns) with intervals.

    Analytic intervals are computed for all groups at once; with ``account_col`` each group gets its own
    bootstrap over its accounts (one matrix per group). Rows with a missing group form their own group.

    Parameters
    ----------
    df : DataFrame
        One row per response.
    by : str or list of str
        The grouping column(s).
    score_col : str
        The column of scores 0–10.
    account_col : str, optional
        The account id column: each group's interval is then a bootstrap over its accounts.
    method : {"wald", "adjusted_wald", "auto"}
        The analytic interval (without ``account_col``); ``auto`` decides per group.
    alpha : float
        Significance level: 0.05 gives 95% intervals.
    n_boot : int
        Bootstrap resamples per group (with ``account_col``).
    seed : int or None
        Seed of the bootstrap's random generator (one generator for all groups, in group order).

    Returns
    -------
    DataFrame
        One row per group: ``group`` (the value of ``by``; a tuple for several columns), ``n``, ``nps``,
        ``lower``, ``upper``, ``se``, ``promoters``, ``passives``, ``detractors`` (shares 0–1) and ``method``
        (``wald``, ``adjusted_wald`` or ``account_bootstrap``); ``attrs["by"]`` is ``by``.
    """
    _check_method(method)
    cols = [by] if isinstance(by, str) else list(by)
    _require(df, cols + [score_col] + ([account_col] if account_col else []))
    s = _as_scores(df[score_col], score_col)
    t = df[cols].copy()
    t["_p"], t["_d"] = s >= 9, s <= 6
    g = t.groupby(cols if len(cols) > 1 else cols[0], sort=True, dropna=False, observed=True)
    agg = pd.DataFrame({"n": g.size(), "P": g["_p"].sum(), "D": g["_d"].sum()})
    r = nps_interval(agg["P"].to_numpy(), agg["D"].to_numpy(), agg["n"].to_numpy(), method, alpha=alpha)
    out = pd.DataFrame({"group": list(agg.index), "n": agg["n"].to_numpy(), "nps": r["nps"], "lower": r["lower"],
                        "upper": r["upper"], "se": r["se"], "promoters": agg["P"].to_numpy() / agg["n"].to_numpy(),
                        "passives": (agg["n"] - agg["P"] - agg["D"]).to_numpy() / agg["n"].to_numpy(),
                        "detractors": agg["D"].to_numpy() / agg["n"].to_numpy(), "method": r["method"]})
    if account_col:
        if df[account_col].isna().any():
            raise ValueError(f"{account_col}: {int(df[account_col].isna().sum())} missing account id(s)")
        rng = np.random.default_rng(seed)
        gid = g.ngroup().to_numpy()  # group number per row, in the order of ``out``
        order = np.argsort(gid, kind="stable")
        accounts = df[account_col].to_numpy()
        for i, idx in enumerate(np.split(order, np.cumsum(np.bincount(gid, minlength=len(out)))[:-1])):
            codes, _ = pd.factorize(accounts[idx])
            counts = _account_counts(t["_p"].to_numpy()[idx].astype(float), t["_d"].to_numpy()[idx].astype(float),
                                     codes)
            boot = _boot_nps(rng, int(n_boot), counts)[:, 0]
            out.loc[i, ["lower", "upper"]] = percentile_interval(boot, alpha)
            out.loc[i, "se"] = float(np.std(boot, ddof=1)) if len(boot) > 1 else np.nan
            out.loc[i, "method"] = "account_bootstrap"
    out.attrs["by"] = by
    return out
