"""Net Promoter Score with honest intervals.

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
import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from .reasons import Reason
from .resample import draw_counts, draw_group_counts, interchangeable, replicate_blocks

METHODS = ("wald", "adjusted_wald", "auto")
AUTO_MIN_N = 50  # below this, auto uses the adjusted-Wald interval
AUTO_MAX_ABS_NPS = 80  # beyond this, auto uses the adjusted-Wald interval


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
    """Vectorised NPS intervals from counts: ``promoters``, ``detractors`` and ``n`` are counts (scalars or
    arrays of the same shape). Returns a dict of arrays: ``nps`` (raw), ``centre`` (the interval's centre),
    ``se``, ``lower``, ``upper`` and ``method`` (the method used per element; ``auto`` resolved).
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


def _boot_nps(rng, B: int, *per_sample_counts) -> np.ndarray:
    """Bootstrap NPS replicates over accounts, vectorised: for each sample, ``(P_k, D_k, N_k)`` per account
    (the same accounts, in the same order, for every sample: a paired bootstrap when there are two).
    Returns an array B × (number of samples).

    An NPS only sees each account's promoters minus detractors and responses, so accounts with the same values in
    every sample are interchangeable: the resamples draw how many accounts come from each such group (one
    multinomial over a few dozen groups, :func:`csanalysis.resample.draw_group_counts`), which has the
    distribution of drawing the accounts themselves (tests/test_nps.py) at a fraction of the cost (1000 × 1M
    account draws per NPS at a million accounts)."""
    cols = np.column_stack([c for P, D, N in per_sample_counts for c in (P - D, N)])  # accounts × 2 per sample
    out = np.full((B, len(per_sample_counts)), np.nan)
    if not len(cols):
        return out
    first, sizes = interchangeable(cols)
    X = cols[first]
    start = 0
    for b in replicate_blocks(B, len(sizes)):  # blocks only bound memory
        S = draw_group_counts(rng, sizes, b) @ X
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start:start + b] = 100.0 * S[:, 0::2] / S[:, 1::2]
        start += b
    return out


def _percentile(boot: np.ndarray, alpha: float) -> tuple[float, float]:
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


# ------------------------------------------------------------------------------------------------ results


def _json_safe(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


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


@dataclass
class NPSResult:
    """The NPS of one sample with its interval (all on the −100…100 scale; shares are 0–1)."""

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
        return pd.DataFrame([{k: v for k, v in self.to_dict().items() if k != "method_reason"}])

    def to_dict(self) -> dict:
        d = {"nps": self.nps, "lower": self.lower, "upper": self.upper, "se": self.se,
             "confidence": 1 - self.alpha, "n": self.n,
             "promoters": self.promoters, "passives": self.passives, "detractors": self.detractors,
             "n_promoters": self.n_promoters, "n_passives": self.n_passives, "n_detractors": self.n_detractors,
             "method": self.method_, "method_reason": self.method_reason_,
             "n_accounts": self.n_accounts, "n_boot": self.n_boot}
        return {k: _json_safe(v) for k, v in d.items()}

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

    ``method``: ``"wald"``, ``"adjusted_wald"`` (Rocks 2016) or ``"auto"`` (adjusted-Wald when n < 50 or
    |NPS| > 80, else Wald); see the module docstring. With ``accounts`` (one account id per score) the
    interval is a percentile bootstrap over accounts with ``n_boot`` resamples (``seed`` for the random
    generator), because answers from the same account are not independent; ``method`` is then not used.
    The result's ``method_`` and ``method_reason_`` say what was done.
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
    lo, hi = _percentile(boot, alpha)
    reason = (f"percentile bootstrap over {K:,} accounts ({int(n_boot):,} resamples of whole accounts), because "
              f"the {n:,} respondents are clustered in accounts and answers from one account are not independent")
    if method != "wald":
        reason += f"; method={method!r} applies to independent respondents and was not used"
    if K < 20:
        reason += f"; with only {K} accounts the bootstrap interval is rough (tends to be too narrow)"
    return NPSResult(nps=raw, lower=lo, upper=hi, se=float(np.std(boot, ddof=1)), method_="account_bootstrap",
                     method_reason_=reason, n_accounts=K, n_boot=int(n_boot), boot_=boot, **base)


# ------------------------------------------------------------------------------------------------ differences


@dataclass
class NPSDifference:
    """Difference NPS(a) − NPS(b) with its interval and a two-sided p-value (H0: no difference)."""

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

    def to_dict(self) -> dict:
        return {k: _json_safe(v) for k, v in {
            "estimate": self.estimate, "lower": self.lower, "upper": self.upper, "se": self.se,
            "p_value": self.p_value, "method": self.method, "confidence": 1 - self.alpha, "n_a": self.n_a,
            "n_b": self.n_b, "nps_a": self.nps_a, "nps_b": self.nps_b, "n_accounts": self.n_accounts}.items()}

    def __str__(self) -> str:
        from .report.narrative import fmt_p  # the project's one way to write a p-value

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
    lo, hi = _percentile(diff, alpha)
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

    Columns: ``group`` (the value of ``by``; a tuple for several columns), ``n``, ``nps``, ``lower``,
    ``upper``, ``se``, ``promoters``, ``passives``, ``detractors`` (shares 0–1) and ``method`` (per group:
    ``wald`` or ``adjusted_wald`` — ``auto`` decides per group — or ``account_bootstrap`` when ``account_col``
    is given). Analytic intervals are computed for all groups at once; with ``account_col`` each group gets its
    own bootstrap over its accounts (one matrix per group). Rows with a missing group form their own group.
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
            out.loc[i, ["lower", "upper"]] = _percentile(boot, alpha)
            out.loc[i, "se"] = float(np.std(boot, ddof=1)) if len(boot) > 1 else np.nan
            out.loc[i, "method"] = "account_bootstrap"
    out.attrs["by"] = by
    return out


# ================================================================================================ NPS and revenue
#
# Everything below reads the Dataset's monthly panel and spells (the one churn definition, data/README.md): a
# response is aligned with its account's MRR in the last full month before the survey and with what happened
# over the next k months. Nothing here re-derives churn.

CATEGORIES = ("detractor", "passive", "promoter")
OUTCOMES = ("churn", "revenue")
DEFAULT_HORIZONS = (6, 12)
DEFAULT_PRIMARY = "churn_6m_detractor_vs_promoter"
_PRIMARY_RE = r"^(churn|revenue)_(\d+)m_(detractor|passive|promoter)_vs_(detractor|passive|promoter)$"
# exploratory comparisons per outcome (a vs b): churn as a risk ratio a ÷ b, revenue as a difference a − b
PAIRS = {"churn": (("detractor", "promoter"), ("passive", "promoter"), ("detractor", "passive")),
         "revenue": (("promoter", "detractor"), ("promoter", "passive"), ("passive", "detractor"))}
POWER = 0.8  # for the minimum detectable effect


def category(scores) -> np.ndarray:
    """Category of each 0–10 score: ``detractor`` (0–6), ``passive`` (7–8), ``promoter`` (9–10)."""
    s = _as_scores(scores)
    return np.select([s <= 6, s <= 8], ["detractor", "passive"], "promoter").astype(object)


def _midx(ts) -> np.ndarray:
    if isinstance(ts, pd.Series) and ts.dtype.kind == "M" and isinstance(ts.dtype, np.dtype):
        # naive datetime64 column (the panel, usage, survey dates): months since 1970 by a unit cast, far cheaper
        # than the .dt accessors on a million rows; the same numbers (NaT falls back to the accessors below)
        v = ts.to_numpy().astype("datetime64[M]")
        if not np.isnat(v).any():
            return v.astype(np.int64) + 1970 * 12
    ts = pd.to_datetime(pd.Series(ts))
    return (ts.dt.year * 12 + ts.dt.month - 1).to_numpy(np.int64)


def _month_label(m: int) -> str:
    return f"{int(m) // 12}-{int(m) % 12 + 1:02d}"


def _period_label(key: int, period: str) -> str:
    y, m = divmod(int(key), 12)
    return {"month": f"{y}-{m + 1:02d}", "quarter": f"{y}-Q{m // 3 + 1}", "year": f"{y}"}[period]


SURVEY_PERIODS = ("month", "quarter", "year")  # survey periods for NPS over time and coverage


def _check_period(period: str) -> None:
    if period not in SURVEY_PERIODS:
        raise ValueError(f"period={period!r}: use month, quarter or year")


def responses(ds, *, period: str = "quarter", segment: str | None = None) -> pd.DataFrame:
    """The survey responses with ``survey_month`` (month index), ``period`` (key: first month index of the
    calendar period), ``period_label``, ``category`` and, with ``segment``, the account's segment at the survey
    date (the attribute history when there is one, else the value at signup; ``"unknown"`` when missing)."""
    from .data.attributes import check_segment
    from .periods import period_start

    _check_period(period)
    if ds.nps is None or not len(ds.nps):
        raise ValueError("the dataset has no NPS responses (no nps table, or an empty one)")
    r = ds.nps.reset_index(drop=True).copy()
    r["customer_id"] = r["customer_id"].astype(str)
    if "respondent_id" not in r.columns:  # optional (data/README.md): without it each response is its own respondent
        r["respondent_id"] = "response " + pd.Series(np.arange(len(r)), index=r.index).astype(str)
    r["date"] = pd.to_datetime(r["date"])
    r["survey_month"] = _midx(r["date"])
    r["period"] = period_start(r["survey_month"].to_numpy(), period)
    keys, inv = np.unique(r["period"].to_numpy(), return_inverse=True)  # one label per period, not per response
    r["period_label"] = np.array([_period_label(k, period) for k in keys], dtype=object)[inv.ravel()]
    r["category"] = category(r["score"])
    if segment:
        if segment in ds.customers.columns or ds.attributes is None or segment not in set(ds.attributes["attribute"]):
            check_segment(ds, segment, what="segment")  # a categorical attribute of customers (data/attributes.py)
        seg = pd.Series(index=r.index, dtype=object)
        for m, idx in r.groupby("survey_month").groups.items():
            at = ds.attribute_at(segment, _month_start(m))
            if at.index.inferred_type != "string":  # ids compared as strings (renaming 1M string ids took 0.5 s)
                at = at.rename(index=str)
            seg.loc[idx] = r.loc[idx, "customer_id"].map(at).to_numpy()
        r["segment"] = seg.where(seg.notna(), "unknown").astype(str)
    return r


def _month_start(m: int) -> pd.Timestamp:
    from .periods import month_start

    return month_start(m)


def _customer_codes(ids) -> tuple[np.ndarray, pd.Index]:
    """Customer ids → integer codes and the ids as strings, sorted (code i is ``ids[i]``, so code order is the
    string order a groupby on the ids would give). The ids are compared as strings (``astype(str)``), as the
    survey's ids are."""
    arr = np.asarray(ids, dtype=object)
    if len(arr) > 1 and pd.api.types.infer_dtype(arr, skipna=False) == "string":
        # the panel comes sorted by customer: then the codes are run numbers (hashing 13M ids took 8 s at 1M
        # customers; two comparisons of neighbours take well under one)
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
    MultiIndex reindex per lookup dominated the coverage, bias and alignment at 100k customers)."""

    def __init__(self, ds):
        p = ds.panel
        self.code, self.ids = _customer_codes(p["customer_id"])
        self.m = _midx(p["month"])
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


# ------------------------------------------------------------------------------------------------ coverage


def coverage(ds, period: str = "quarter", *, alpha: float = 0.05) -> pd.DataFrame:
    """Survey coverage per period: of the customers paying in at least one month of the period, how many
    answered (``customers``, ``respondent_accounts``, ``share`` with a Wilson interval), what share of the
    period's MRR they hold (``mrr_share``: Σ MRR over the period's months of responding accounts ÷ Σ of all),
    ``responses``, respondents per responding account (``respondents_per_account`` mean, ``max``), responses
    from accounts not paying in the period (``responses_not_paying``) and ``complete`` (the period ended by
    ``as_of``)."""
    return _coverage(ds, responses(ds, period=period), _Panel(ds), period, alpha)


def _coverage(ds, r: pd.DataFrame, pv: _Panel, period: str, alpha: float) -> pd.DataFrame:
    """:func:`coverage` from the responses ``r`` (:func:`responses`) and the integer-keyed panel ``pv``."""
    from statsmodels.stats.proportion import proportion_confint

    from .periods import PERIOD_MONTHS, period_start

    # paying accounts per period: one run per (customer, period) of the panel, which comes sorted by customer
    # and month, so runs are found in one pass (a groupby and a merge over every customer-month took 15 s at
    # 1M customers); an unsorted panel is sorted first
    months = PERIOD_MONTHS[period]
    pstart = period_start(pv.m, period)
    p0 = int(pstart.min()) if len(pstart) else 0
    n_per = (int(pstart.max()) - p0) // months + 1 if len(pstart) else 1
    flat = pv.code.astype(np.int64) * n_per + (pstart - p0) // months
    mrr = np.nan_to_num(pv.mrr)  # a month without MRR adds nothing (as a groupby sum skips NaN)
    if len(flat) > 1 and not np.all(flat[1:] >= flat[:-1]):
        order = np.argsort(flat, kind="stable")
        flat, mrr = flat[order], mrr[order]
    starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]]) if len(flat) else np.zeros(0, dtype=np.int64)
    act_key = flat[starts]  # sorted (code, period) keys of paying accounts
    act_mrr = np.add.reduceat(mrr, starts) if len(starts) else np.zeros(0)
    act_per = p0 + (act_key % n_per) * months
    per_acc = r.groupby(["period", "customer_id"]).agg(responses=("score", "size"),
                                                       respondents=("respondent_id", "nunique")).reset_index()
    code = pv.codes(per_acc["customer_id"])  # −1: never paying, so never matched below
    rp = per_acc["period"].to_numpy(np.int64)
    key = code * n_per + (rp - p0) // months
    in_span = (code >= 0) & (rp >= p0) & (rp < p0 + n_per * months) & ((rp - p0) % months == 0)
    i = np.minimum(np.searchsorted(act_key, key), max(len(act_key) - 1, 0))
    paying = in_span & (act_key[i] == key) if len(act_key) else np.zeros(len(key), dtype=bool)
    answered = np.zeros(len(act_key), dtype=bool)
    answered[i[paying]] = True
    resp_n, resp_people = per_acc["responses"].to_numpy(), per_acc["respondents"].to_numpy()
    as_m = int(_midx([ds.as_of_month])[0])
    rows = []
    for key in np.unique(act_per):
        in_r = rp == key
        if not in_r.any():
            continue
        g = act_per == key
        n, k = int(g.sum()), int((g & answered).sum())
        lo, hi = proportion_confint(k, n, alpha=alpha, method="wilson") if n else (np.nan, np.nan)
        mrr_all, mrr_ans = act_mrr[g].sum(), act_mrr[g & answered].sum()
        people = resp_people[in_r & paying]
        rows.append({"period": _period_label(key, period), "customers": n, "respondent_accounts": k,
                     "share": k / n if n else np.nan, "lower": lo, "upper": hi,
                     "mrr_share": mrr_ans / mrr_all if mrr_all > 0 else np.nan,
                     "responses": int(resp_n[in_r].sum()),
                     "respondents_per_account": float(people.mean()) if k else np.nan,
                     "max_respondents": int(people.max()) if k else 0,
                     "responses_not_paying": int(resp_n[in_r & ~paying].sum()),
                     "complete": bool(key + months - 1 <= as_m), "_key": int(key)})
    out = pd.DataFrame(rows)
    out.attrs["period"] = period
    return out


def response_bias(ds, period: str = "quarter", which: str | int | None = None, *, alpha: float = 0.05) -> pd.DataFrame:
    """Do respondents differ from non-respondents? Among the customers paying in a period (``which``: a period
    label such as ``"2024-Q2"``, a key, or None for the latest period with responses), compare respondents
    with non-respondents in average monthly MRR over the period, tenure (months since the customer's start, at
    the period's first month) and usage (average monthly logins over the period's paid months, when there is a
    usage table). Difference of means (respondents − non-respondents) with a Welch interval and p-value, and
    the ratio of means. One row per measure; ``period`` names the period."""
    r = responses(ds, period=period)
    pv = _Panel(ds)
    return _response_bias(ds, r, pv, _coverage(ds, r, pv, period, 0.05), period, which, alpha)


def _response_bias(ds, r: pd.DataFrame, pv: _Panel, cov: pd.DataFrame, period: str, which, alpha: float) -> pd.DataFrame:
    """:func:`response_bias` from the responses ``r``, the integer-keyed panel ``pv`` and the coverage table."""
    from scipy import stats

    from .periods import period_start

    if not len(cov):
        raise ValueError("no survey period with responses from paying customers")
    if which is None:
        row = cov.iloc[-1]
    else:
        hit = cov[(cov["period"] == which) | (cov["_key"] == which)]
        if not len(hit):
            raise ValueError(f"period {which!r} has no responses; periods: {cov['period'].tolist()}")
        row = hit.iloc[0]
    key = int(row["_key"])
    answered = pv.codes(r.loc[r["period"] == key, "customer_id"].unique())
    sel = period_start(pv.m, period) == key
    pm = pd.DataFrame({"code": pv.code[sel], "m": pv.m[sel], "mrr": pv.mrr[sel], "tenure": pv.tenure[sel]})
    if ds.usage is not None and "logins" in ds.usage.columns:
        um = _midx(ds.usage["month"])
        in_period = period_start(um, period) == key  # only the period's usage rows can match its paid months
        u = pd.DataFrame({"code": pv.codes(ds.usage["customer_id"].to_numpy()[in_period]), "m": um[in_period],
                          "logins": ds.usage["logins"].to_numpy()[in_period]})
        pm = pm.merge(u[u["code"] >= 0], on=["code", "m"], how="left")
        pm["logins"] = pm["logins"].fillna(0.0)  # a paid month without usage rows had no logins
    g = pm.groupby("code")  # sorted codes = sorted ids
    acc = pd.DataFrame({"mrr": g["mrr"].mean(), "tenure": g["tenure"].min()})
    if "logins" in pm.columns:
        acc["logins"] = g["logins"].mean()
    acc["answered"] = acc.index.isin(answered[answered >= 0])
    labels = {"mrr": "average monthly MRR", "tenure": "tenure (months)", "logins": "logins per month"}
    rows = []
    for col in [c for c in ("mrr", "tenure", "logins") if c in acc.columns]:
        a, b = acc.loc[acc["answered"], col].to_numpy(float), acc.loc[~acc["answered"], col].to_numpy(float)
        rec = {"period": row["period"], "measure": col, "label": labels[col], "respondents": len(a),
               "non_respondents": len(b), "mean_respondents": a.mean() if len(a) else np.nan,
               "mean_non_respondents": b.mean() if len(b) else np.nan, "difference": np.nan, "lower": np.nan,
               "upper": np.nan, "p_value": np.nan, "ratio": np.nan, "reason": None}
        if len(a) >= 2 and len(b) >= 2 and (a.var(ddof=1) + b.var(ddof=1)) > 0:
            t = stats.ttest_ind(a, b, equal_var=False)
            ci = t.confidence_interval(1 - alpha)
            rec.update(difference=a.mean() - b.mean(), lower=ci.low, upper=ci.high, p_value=t.pvalue,
                       ratio=a.mean() / b.mean() if b.mean() else np.nan)
        else:
            rec["reason"] = "fewer than two respondents or non-respondents, or no variation"
        rows.append(rec)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ alignment


@dataclass
class Alignment:
    """Responses aligned with their accounts' revenue (see :func:`align`).

    ``table``: one row per response with ``customer_id``, ``respondent_id``, ``date``, ``score``, ``category``,
    ``csat`` (when present), ``segment`` (when asked for), ``survey_month``, ``baseline_month`` (month index of
    the last full month before the survey), ``mrr_base`` and, for each horizon k, ``complete_k`` (the window
    is observable by ``as_of``), ``churned_k`` (1/0; NaN when not complete or without a baseline),
    ``mrr_k`` (MRR in month baseline + k; 0 in a grace gap), ``mrr_change_k`` (stayers: 100 · (mrr_k ÷
    mrr_base − 1), percent), ``expanded_k`` / ``contracted_k`` (stayers: 1/0). The last three are NaN for a
    stayer whose ``mrr_base`` is zero or below (a purchase log's active month of free items or returns): no
    revenue ratio; such responses count for churn and are counted in :meth:`counts` (``no_revenue_base``).
    ``excluded``: responses (and accounts) left out per horizon and reason.
    """

    table: pd.DataFrame
    horizons: tuple
    excluded: pd.DataFrame
    as_of_month: int
    grace_months: int
    definition: str = ""
    layout: str = "subscription"  # the Dataset's layout: a purchase log's churn is a lapse in the reasons' words

    def word(self) -> str:
        """What the reasons call a churn ("lapse" in a purchase log; English, as every reason here)."""
        return _churn_word(self.layout)

    def rows(self, k: int, outcome: str = "churn") -> pd.DataFrame:
        """Responses usable for horizon ``k``: complete windows with a baseline (``outcome="churn"``), or
        stayers among them (``outcome="revenue"``)."""
        if k not in self.horizons:
            raise ValueError(f"horizon {k} was not aligned; horizons: {list(self.horizons)}")
        t = self.table[self.table[f"churned_{k}"].notna()]
        if outcome != "revenue":
            return t
        stay = t[f"churned_{k}"] == 0
        return t[stay & (t["mrr_base"] > 0)] if "mrr_base" in t.columns else t[stay]

    def no_revenue_base(self, k: int) -> pd.DataFrame:
        """Stayers at horizon ``k`` whose baseline month's revenue is zero or below (a purchase log's month of
        free items, or of returns larger than its purchases): used for churn, but without a revenue change (a
        change relative to zero or to a negative amount has no meaning)."""
        t = self.rows(k)
        if "mrr_base" not in t.columns:
            return t.iloc[0:0]
        return t[(t[f"churned_{k}"] == 0) & ~(t["mrr_base"] > 0)]

    def counts(self) -> pd.DataFrame:
        """Per horizon: responses, usable for churn, stayers (usable for revenue), and the exclusions."""
        rows = []
        for k in self.horizons:
            ex = self.excluded[self.excluded["horizon"] == k].set_index("reason")["responses"]
            rows.append({"horizon": k, "responses": len(self.table), "used_churn": len(self.rows(k)),
                         "used_revenue": len(self.rows(k, "revenue")), "accounts": self.rows(k)["customer_id"].nunique(),
                         "no_baseline": int(ex.get("no_baseline", 0)), "window_incomplete": int(ex.get("window_incomplete", 0)),
                         "no_revenue_base": len(self.no_revenue_base(k))})
        return pd.DataFrame(rows)


def align(ds, horizons=DEFAULT_HORIZONS, *, segment: str | None = None, period: str = "quarter") -> Alignment:
    """Align every response with its account: the baseline is the account's MRR in the **last full month
    before the survey** (month s − 1 for a survey in month s); the outcomes are read **k months after the
    baseline** (month s − 1 + k), for each horizon k:

    * ``churned_k``: the spell the account was in at the baseline churned (the Dataset's churn definition,
      ``spells``) in months s … s − 1 + k;
    * among accounts that stayed: MRR change in percent, expansion (MRR higher) and contraction (lower, a
      grace gap counting as 0).

    A response whose account was not paying in the baseline month has no baseline and is left out; a window
    that ends less than ``grace_months`` before the ``as_of`` month cannot be observed yet (a churn there would
    not be known) and is left out too. Both are counted in ``excluded``. Only future revenue is an outcome."""
    hs = tuple(sorted({int(k) for k in horizons}))
    if not hs or min(hs) < 1:
        raise ValueError(f"horizons={horizons!r}: give one or more whole months ≥ 1")
    return _align(ds, hs, responses(ds, period=period, segment=segment), _Panel(ds))


def _align(ds, hs: tuple, r: pd.DataFrame, pv: _Panel) -> Alignment:
    """:func:`align` for the horizons ``hs`` from the responses ``r`` and the integer-keyed panel ``pv``."""
    keep = ["customer_id", "respondent_id", "date", "score", "category", "survey_month", "period", "period_label"]
    keep += [c for c in ("csat", "segment") if c in r.columns]
    t = r[keep].copy()
    cid = t["customer_id"].to_numpy()
    code = pv.codes(cid)
    b = t["survey_month"].to_numpy() - 1
    t["baseline_month"] = b
    t["mrr_base"] = pv.at(pv.mrr, code, b)
    has_base = ~np.isnan(t["mrr_base"].to_numpy())
    sp_no = np.where(has_base, pv.at(pv.spell, code, b, fill=-1), -1)
    # the spell of the baseline month: (customer code, spell number) as one integer key
    s = ds.spells
    s_code, s_no = pv.codes(s["customer_id"].to_numpy()), s["spell"].to_numpy(np.int64)
    s_rows = np.flatnonzero(s_code >= 0)  # spells of customers never paying cannot be a baseline's spell
    numbers = np.concatenate([s_no[s_rows], sp_no[has_base]])
    lo = int(numbers.min()) if len(numbers) else 0
    span = int(numbers.max()) - lo + 1 if len(numbers) else 1
    s_index = pd.Index(s_code[s_rows].astype(np.int64) * span + (s_no[s_rows] - lo))
    hit = s_index.get_indexer(np.where(has_base, code.astype(np.int64) * span + (sp_no - lo), -1))
    pos = np.where(hit >= 0, s_rows[np.maximum(hit, 0)], -1)  # row of ds.spells, −1 without a baseline
    last_m = np.where(pos >= 0, _midx(s["last_paid"])[np.maximum(pos, 0)], -1)
    event = np.where(pos >= 0, s["event"].to_numpy(np.int64)[np.maximum(pos, 0)], 0)
    as_m, grace = int(_midx([ds.as_of_month])[0]), int(ds.settings.grace_months)
    excluded = []
    for k in hs:
        end = b + k
        complete = end + grace <= as_m
        churned = (event == 1) & (last_m + 1 <= end)
        mk = pv.at(pv.mrr, code, end)
        mk[np.isnan(mk)] = 0.0  # not paying in month end (a grace gap or gone): MRR 0
        usable = has_base & complete
        t[f"complete_{k}"] = complete
        t[f"churned_{k}"] = np.where(usable, churned.astype(float), np.nan)
        stay = usable & ~churned
        base = t["mrr_base"].to_numpy()
        # a revenue change is a ratio to the baseline: a baseline of zero or below (a purchase log's month of free
        # items or of returns larger than its purchases) has none; the response still counts for churn
        ratio = stay & (base > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            t[f"mrr_{k}"] = np.where(stay, mk, np.nan)
            t[f"mrr_change_{k}"] = np.where(ratio, 100.0 * (mk / base - 1.0), np.nan)
            t[f"expanded_{k}"] = np.where(ratio, (mk > base).astype(float), np.nan)
            t[f"contracted_{k}"] = np.where(ratio, (mk < base).astype(float), np.nan)
        for reason, mask in (("no_baseline", ~has_base), ("window_incomplete", has_base & ~complete)):
            excluded.append({"horizon": k, "reason": reason, "responses": int(mask.sum()),
                             "accounts": int(pd.Series(cid[mask]).nunique())})
    definition = ("baseline: MRR in the last full month before the survey; outcomes k months later: churn (the "
                  "account's spell at the baseline ended in those k months, by the dataset's churn definition) "
                  "and, among accounts that stayed, the MRR change in percent")
    return Alignment(t, hs, pd.DataFrame(excluded), as_m, grace, definition, getattr(ds, "layout", "subscription"))


def _churn_word(layout: str) -> str:
    from .report.i18n import term

    return term("churn", layout, "en")


# ------------------------------------------------------------------------------------------------ bootstrap helpers


def _codes(accounts) -> tuple[np.ndarray, int]:
    codes, uniq = pd.factorize(pd.Series(accounts).astype(str))
    return codes, len(uniq)


def _account_sums(codes: np.ndarray, K: int, cols: np.ndarray) -> np.ndarray:
    """K × m matrix: per account, the sum of each column of ``cols`` (n × m)."""
    # one bincount per column: the same sums in the same order as np.add.at(out, codes, cols), several times faster
    out = np.empty((K, cols.shape[1]))
    for j in range(cols.shape[1]):
        out[:, j] = np.bincount(codes, weights=cols[:, j], minlength=K)
    return out


def _boot_weights(rng, K: int, B: int):
    """Yield blocks of account-bootstrap weights (replicates × K), at most ``resample.BLOCK_CELLS`` cells each.
    The counts drawn do not depend on the block size (the generator's stream simply continues from one block to
    the next; tests/test_nps_fast_paths.py), so the blocks bound memory without changing any result."""
    for b in replicate_blocks(B, K):
        yield draw_counts(rng, K, b, float)  # replicates × accounts: how often each account is drawn


def _pct_ci(boot: np.ndarray, alpha: float) -> tuple[float, float]:
    ok = boot[np.isfinite(boot)]
    if len(ok) < 10:
        return float("nan"), float("nan")
    return _percentile(ok, alpha)


def _nan_est(reason: str) -> dict:
    return {"estimate": None, "lower": None, "upper": None, "reason": reason}


def _est(estimate, lower, upper, reason=None, **extra) -> dict:
    d = {"estimate": _json_safe(estimate), "lower": _json_safe(lower), "upper": _json_safe(upper),
         "reason": reason}
    if d["estimate"] is None and not reason:
        d["reason"] = "not estimable from these data"
    d.update({k: _json_safe(v) for k, v in extra.items()})
    return d


# ------------------------------------------------------------------------------------------------ outcomes per category


def category_outcomes(al: Alignment, k: int, *, alpha: float = 0.05, n_boot: int = 1000, seed: int | None = 0) -> pd.DataFrame:
    """Per NPS category at horizon ``k``: responses, accounts, churn rate (share of responses whose account
    churned within k months), and among stayers the mean MRR change (percent) and the shares that expanded and
    contracted (stayers whose baseline revenue is zero or below have no change: left out of these three). Intervals: percentile bootstrap over accounts (all responses of an account resampled
    together), one set of resamples for every category and measure."""
    t = al.rows(k)
    cats = list(CATEGORIES)
    if not len(t):
        return pd.DataFrame({"category": cats, "responses": 0, "accounts": 0, "stayers": 0})
    codes, K = _codes(t["customer_id"])
    ind = np.stack([(t["category"].to_numpy() == c).astype(float) for c in cats], axis=1)  # n × 3
    ch = t[f"churned_{k}"].to_numpy(float)
    stay = 1.0 - ch
    chg = np.nan_to_num(t[f"mrr_change_{k}"].to_numpy(float))
    ex = np.nan_to_num(t[f"expanded_{k}"].to_numpy(float))
    co = np.nan_to_num(t[f"contracted_{k}"].to_numpy(float))
    rev = t[f"mrr_change_{k}"].notna().to_numpy(float)  # stayers with a revenue base above zero (Alignment)
    cols = np.concatenate([ind, ind * ch[:, None], ind * stay[:, None], ind * chg[:, None], ind * ex[:, None],
                           ind * co[:, None], ind * rev[:, None]], axis=1)
    S = _account_sums(codes, K, cols)
    tot = S.sum(axis=0)
    boot = []
    # blocks of replicates × accounts bounded by resample.BLOCK_CELLS alone (the product is replicates × columns):
    # a few tall products instead of hundreds of 4-row ones, which a threaded BLAS runs far slower per replicate
    for W in _boot_weights(np.random.default_rng(seed), K, int(n_boot)):
        boot.append(W @ S)
    Bm = np.concatenate(boot) if boot else np.zeros((0, S.shape[1]))
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
                rec[f"{name}_lower"], rec[f"{name}_upper"] = _pct_ci(rb, alpha) if d > 0 else (np.nan, np.nan)
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


def _wranks(W: np.ndarray, codes: np.ndarray, U: int) -> np.ndarray:
    """Mid-ranks of each observation in each weighted resample (values given as sorted unique codes 0..U−1)."""
    from scipy import sparse

    onehot = sparse.csr_matrix((np.ones(len(codes)), (np.arange(len(codes)), codes)), shape=(len(codes), U))
    cnt = np.asarray((onehot.T @ W.T).T)  # replicates × U: weight at each distinct value (sparse: O(B·n), not O(B·n·U))
    below = np.cumsum(cnt, axis=1) - cnt
    mid = below + (cnt + 1.0) / 2.0
    return mid[:, codes]


def correlation(al: Alignment, k: int, *, alpha: float = 0.05, n_boot: int = 1000, seed: int | None = 0) -> pd.DataFrame:
    """Pearson and Spearman correlation of the 0–10 score with the MRR change over the next ``k`` months
    (accounts that stayed), with percentile bootstrap intervals over accounts (ranks recomputed in every
    resample for Spearman)."""
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
    codes, K = _codes(t["customer_id"])
    xc, xu = pd.factorize(x, sort=True)
    yc, yu = pd.factorize(y, sort=True)
    one = np.ones((1, len(x)))
    est_p = float(_wcorr(one, x, y)[0])
    est_s = float(_wcorr(one, _wranks(one, xc, len(xu))[0], _wranks(one, yc, len(yu))[0])[0])
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
    for b in replicate_blocks(int(n_boot), K + 4 * P):
        Wa = draw_counts(rng, K, b, float)  # replicates × accounts
        W = np.ascontiguousarray((M @ Wa.T).T)  # replicates × pairs: weight of each pair
        bp.append(_wcorr(W, px, py))
        rx, ry = _wranks(W, pxc, len(xu)), _wranks(W, pyc, len(yu))
        # weighted Pearson of the ranks, row by row
        sw = W.sum(axis=1, keepdims=True)
        mx, my = (W * rx).sum(1, keepdims=True) / sw, (W * ry).sum(1, keepdims=True) / sw
        cov = (W * (rx - mx) * (ry - my)).sum(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            bs.append(cov / np.sqrt((W * (rx - mx) ** 2).sum(1) * (W * (ry - my) ** 2).sum(1)))
    for m, est, b in (("pearson", est_p, np.concatenate(bp)), ("spearman", est_s, np.concatenate(bs))):
        lo, hi = _pct_ci(b, alpha)
        rows.append({"method": m, "estimate": est, "lower": lo, "upper": hi, "n": len(t), "accounts": K, "reason": None})
    out = pd.DataFrame(rows)
    out.attrs.update(horizon=k, n_boot=int(n_boot))
    return out


# ------------------------------------------------------------------------------------------------ models


def _design(t: pd.DataFrame, y_col: str, controls: list[str], reference: str):
    """Design matrix with category dummies against ``reference`` and controls; rows with a missing value are
    dropped here, explicitly, and counted per column (statsmodels formulas would drop them silently)."""
    need = [y_col, "category"] + controls
    miss = {c: int(t[c].isna().sum()) for c in need if c in t.columns and t[c].isna().any()}
    ok = t[need].notna().all(axis=1)
    if "mrr_base" in controls:
        bad = ok & ~(t["mrr_base"] > 0)
        if bad.any():
            miss["mrr_base ≤ 0"] = int(bad.sum())
        ok &= t["mrr_base"] > 0
    d = t[ok]
    X = pd.DataFrame({"const": 1.0}, index=d.index)
    levels = [c for c in CATEGORIES if c != reference]
    for c in levels:
        X[c] = (d["category"] == c).astype(float)
    for c in controls:
        if c == "mrr_base":
            X["log_mrr_base"] = np.log(d["mrr_base"].astype(float))
        elif c == "segment":
            lv = sorted(d["segment"].astype(str).unique())
            for v in lv[1:]:
                X[f"segment[{v}]"] = (d["segment"].astype(str) == v).astype(float)
        else:
            X[c] = d[c].astype(float)
    X = X.loc[:, (X != 0).any(axis=0) | (X.columns == "const")]
    # row-major values: a frame built column by column hands statsmodels a column-major array, whose products in
    # every IRLS step are slower (a binomial GLM on 160k responses: 0.53 → 0.32 s, the same estimates)
    X = pd.DataFrame(np.ascontiguousarray(X.to_numpy()), index=X.index, columns=X.columns)
    return d, X, d[y_col].astype(float), {"dropped_missing": int((~ok).sum()), "missing_by_column": miss}


def _cov(groups: np.ndarray) -> tuple[str, dict]:
    if pd.Series(groups).duplicated().any():
        return "cluster", {"groups": pd.factorize(pd.Series(groups))[0]}
    return "HC3", {}


@dataclass
class ModelResult:
    """A fitted statsmodels model of one outcome at one horizon, its effects on the business scale, and what
    was dropped. ``effects``: one row per comparison (a vs b) with estimate, lower, upper, p_value, and for
    churn also the predicted probabilities and the risk difference."""

    outcome: str
    horizon: int
    n: int
    accounts: int
    dropped: dict
    cov_type: str
    effects: pd.DataFrame
    result: object = field(default=None, repr=False)
    reason: str | None = None
    r2: float | None = None

    @property
    def summary(self) -> pd.DataFrame:
        if self.result is None:
            return pd.DataFrame()
        r = self.result
        ci = r.conf_int()
        return pd.DataFrame({"coef": r.params, "se": r.bse, "lower": ci[0], "upper": ci[1], "p": r.pvalues})

    def effect(self, a: str, b: str) -> dict:
        e = self.effects[(self.effects["a"] == a) & (self.effects["b"] == b)] if len(self.effects) else self.effects
        if not len(e):
            return {}
        return {k: _json_safe(v) if not isinstance(v, str) else v for k, v in e.iloc[0].to_dict().items()}


def churn_model(al_or_table, k: int, *, controls: list[str] | None = None, pairs=PAIRS["churn"], alpha: float = 0.05) -> ModelResult:
    """Logistic regression (statsmodels GLM, binomial): churned within ``k`` months ~ NPS category (promoter
    reference) [+ controls], errors clustered by account when an account answered more than once, else HC3.
    Effects are read from **predicted probabilities** (each category's average predicted churn, all rows set to
    that category): risk ratio a ÷ b with a delta-method interval on the log scale (and its Wald p-value),
    and risk difference a − b (delta method). Never odds ratios as "× as likely".

    ``al_or_table``: an :class:`Alignment` or a table with ``customer_id``, ``category`` and ``churned_k``."""
    import statsmodels.api as sm

    t = al_or_table.rows(k) if isinstance(al_or_table, Alignment) else al_or_table
    t = t[t[f"churned_{k}"].notna()] if f"churned_{k}" in t.columns else t.iloc[0:0]
    word = al_or_table.word() if isinstance(al_or_table, Alignment) else _churn_word("subscription")
    controls = list(controls or [])
    z = norm.ppf(1 - alpha / 2)
    empty = pd.DataFrame(columns=["a", "b", "p_a", "p_b", "rr", "rr_lower", "rr_upper", "rd", "rd_lower", "rd_upper",
                                  "p_value", "se_log_rr", "n_a", "n_b", "events_a", "events_b", "reason"])
    if not len(t):
        return ModelResult("churn", k, 0, 0, {"dropped_missing": 0}, "", empty,
                           reason=Reason(f"no response has a complete {k}-month window", "nps.reason.no_window", k=k))
    d, X, y, dropped = _design(t, f"churned_{k}", controls, "promoter")
    ev = d.groupby("category")[f"churned_{k}"].agg(["size", "sum"]).reindex(list(CATEGORIES)).fillna(0)
    fit_ok = y.sum() > 0 and y.sum() < len(y) and len(X.columns) > 1
    cov_type, kw = _cov(d["customer_id"].to_numpy())
    res, reason = None, None
    if fit_ok:
        present = [c for c in X.columns if c in CATEGORIES]
        degenerate = [c for c in present + ["promoter"] if ev.loc[c, "size"] > 0 and ev.loc[c, "sum"] in (0, ev.loc[c, "size"])]
        if degenerate:
            reason = (f"no {word} (or only {word}) among the {', '.join(degenerate)} responses within {k} months: "
                      "the logistic model cannot estimate that category")
        else:
            res = sm.GLM(y, X, family=sm.families.Binomial()).fit(cov_type=cov_type, cov_kwds=kw)
    else:
        reason = Reason(f"no {word} (or only {word}) within {k} months among the {len(d)} usable responses",
                        "nps.reason.no_variation", k=k, n=f"{len(d):,}")
    rows = []
    if res is not None:
        beta, V = res.params.to_numpy(), res.cov_params().to_numpy()
        Xv = X.to_numpy()
        P, G = {}, {}
        for c in CATEGORIES:
            if c != "promoter" and c not in X.columns:
                continue
            Xc = Xv.copy()
            for j, name in enumerate(X.columns):
                if name in CATEGORIES:
                    Xc[:, j] = 1.0 if name == c else 0.0
            p = 1.0 / (1.0 + np.exp(-(Xc @ beta)))
            P[c], G[c] = p.mean(), (Xc * (p * (1 - p))[:, None]).mean(axis=0)
        for a, b in pairs:
            if a not in P or b not in P:
                continue
            g_log = G[a] / P[a] - G[b] / P[b]
            se_log = float(np.sqrt(g_log @ V @ g_log))
            g_rd = G[a] - G[b]
            se_rd = float(np.sqrt(g_rd @ V @ g_rd))
            lrr = np.log(P[a] / P[b])
            rows.append({"a": a, "b": b, "p_a": P[a], "p_b": P[b], "rr": P[a] / P[b], "rr_lower": np.exp(lrr - z * se_log),
                         "rr_upper": np.exp(lrr + z * se_log), "rd": P[a] - P[b], "rd_lower": P[a] - P[b] - z * se_rd,
                         "rd_upper": P[a] - P[b] + z * se_rd, "p_value": float(2 * norm.sf(abs(lrr) / se_log)) if se_log > 0 else np.nan,
                         "se_log_rr": se_log, "n_a": int(ev.loc[a, "size"]), "n_b": int(ev.loc[b, "size"]),
                         "events_a": int(ev.loc[a, "sum"]), "events_b": int(ev.loc[b, "sum"]), "reason": None})
    effects = pd.DataFrame(rows) if rows else empty
    cov_text = ("errors clustered by account (several responses per account)" if cov_type == "cluster"
                else "HC3 heteroskedasticity-robust errors")
    return ModelResult("churn", k, len(d), int(d["customer_id"].nunique()), dropped, cov_text, effects, res, reason)


def revenue_model(al_or_table, k: int, *, controls: list[str] | None = ("segment", "mrr_base"), pairs=PAIRS["revenue"],
                  alpha: float = 0.05) -> ModelResult:
    """OLS among accounts that stayed: MRR change over ``k`` months (percent) ~ NPS category (detractor
    reference) + controls (``segment`` when aligned with one, ``mrr_base`` as log baseline MRR for size); HC3
    errors, clustered by account when an account answered more than once. Effects: difference a − b in
    percentage points of MRR change, adjusted for the controls, with its interval and p-value."""
    import statsmodels.api as sm

    t = al_or_table.rows(k, "revenue") if isinstance(al_or_table, Alignment) else al_or_table
    col = f"mrr_change_{k}"
    t = t[t[col].notna()] if col in t.columns else t.iloc[0:0]
    controls = [c for c in (controls or []) if c in t.columns]
    z = norm.ppf(1 - alpha / 2)
    empty = pd.DataFrame(columns=["a", "b", "estimate", "lower", "upper", "p_value", "se", "n_a", "n_b", "reason"])
    if len(t) < 5:
        return ModelResult("revenue", k, len(t), int(t["customer_id"].nunique()) if len(t) else 0,
                           {"dropped_missing": 0}, "", empty,
                           reason=Reason(f"fewer than 5 accounts stayed with a complete {k}-month window",
                                         "nps.reason.few_stayers", k=k))
    d, X, y, dropped = _design(t, col, controls, "detractor")
    cov_type, kw = _cov(d["customer_id"].to_numpy())
    rows, res, reason = [], None, None
    if len(d) <= X.shape[1] + 1 or len(X.columns) < 2:
        reason = Reason("too few responses for the model", "nps.reason.too_few_for_model")
    else:
        res = sm.OLS(y, X).fit(cov_type=cov_type, cov_kwds=kw)
        names = list(X.columns)
        nc = d["category"].value_counts()
        for a, b in pairs:
            if (a != "detractor" and a not in names) or (b != "detractor" and b not in names):
                continue
            L = np.zeros(len(names))
            if a != "detractor":
                L[names.index(a)] += 1
            if b != "detractor":
                L[names.index(b)] -= 1
            est = float(L @ res.params.to_numpy())
            se = float(np.sqrt(L @ res.cov_params().to_numpy() @ L))
            rows.append({"a": a, "b": b, "estimate": est, "lower": est - z * se, "upper": est + z * se,
                         "p_value": float(2 * norm.sf(abs(est) / se)) if se > 0 else np.nan, "se": se,
                         "n_a": int(nc.get(a, 0)), "n_b": int(nc.get(b, 0)), "reason": None})
    cov_text = ("errors clustered by account (several responses per account)" if cov_type == "cluster"
                else "HC3 heteroskedasticity-robust errors")
    return ModelResult("revenue", k, len(d), int(d["customer_id"].nunique()), dropped, cov_text,
                       pd.DataFrame(rows) if rows else empty, res, reason, r2=float(res.rsquared) if res is not None else None)


# ------------------------------------------------------------------------------------------------ NPS against another measure


def _wauc(C1: np.ndarray, C0: np.ndarray) -> np.ndarray:
    """AUC of *low* values predicting the event, from weighted counts per sorted level (replicates × levels):
    P(value of an event < value of a non-event) + ½ P(tie)."""
    above0 = C0.sum(axis=1, keepdims=True) - np.cumsum(C0, axis=1)  # non-events at higher levels
    num = (C1 * (above0 + 0.5 * C0)).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return num / (C1.sum(axis=1) * C0.sum(axis=1))


def compare_measures(al: Alignment, k: int, other: str = "csat", *, alpha: float = 0.05, n_boot: int = 1000,
                     seed: int | None = 0) -> pd.DataFrame:
    """Does the NPS score predict better than another satisfaction measure (``other``, e.g. ``csat``)? On the
    same responses (both answered; rows missing either are counted in ``dropped``):

    * churn within ``k`` months: AUC of the score (low scores flag churners; 0.5 = no better than chance);
    * MRR change among stayers: R² of a straight-line fit on the score (= squared Pearson correlation).

    One row per metric with each measure's value, the difference NPS − other, and percentile bootstrap
    intervals over accounts (the same resamples for both measures, so the difference is paired)."""
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
        codes, K = _codes(t["customer_id"])
        rng = np.random.default_rng(seed)
        sums = {}  # per measure: its per-account sums, which every resample weights
        for name, col in (("nps", "score"), ("other", other)):
            x = t[col].to_numpy(float)
            xc, xu = pd.factorize(x, sort=True)
            if metric == "auc_churn":
                onehot = np.zeros((len(x), len(xu)))
                onehot[np.arange(len(x)), xc] = 1.0
                sums[name] = (_account_sums(codes, K, onehot * y[:, None]),
                              _account_sums(codes, K, onehot * (1 - y)[:, None]))
            else:
                sums[name] = _account_sums(codes, K, np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=1))
        vals = {name: [] for name in sums}
        # the estimate (all weights 1), then blocks of resamples, each used by both measures (a paired
        # bootstrap) and then dropped: the replicates × accounts weights are never all held at once
        for W in itertools.chain([np.ones((1, K))], _boot_weights(rng, K, int(n_boot))):
            for name, S in sums.items():
                if metric == "auc_churn":
                    vals[name].append(_wauc(W @ S[0], W @ S[1]))
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
            rec[f"{name}_lower"], rec[f"{name}_upper"] = _pct_ci(v[1:], alpha)
        rec["reason"] = None
        rows.append(rec)
    out = pd.DataFrame(rows)
    out.attrs.update(other=other, horizon=k, n_boot=int(n_boot))
    return out


# ------------------------------------------------------------------------------------------------ primary test


def parse_primary(spec: str) -> tuple[str, int, str, str]:
    """``"churn_6m_detractor_vs_promoter"`` → ("churn", 6, "detractor", "promoter")."""
    import re

    m = re.match(_PRIMARY_RE, str(spec).strip())
    if not m or m.group(3) == m.group(4):
        raise ValueError(f"primary={spec!r}: write <churn|revenue>_<k>m_<category>_vs_<category>, e.g. "
                         f"{DEFAULT_PRIMARY!r} or 'revenue_12m_promoter_vs_detractor' (two different categories)")
    return m.group(1), int(m.group(2)), m.group(3), m.group(4)


def mde(se: float, *, alpha: float = 0.05, power: float = POWER) -> float:
    """Minimum detectable effect on the scale of ``se`` (two-sided test at ``alpha`` with ``power``):
    (z₁₋α/₂ + z_power) · SE."""
    return float((norm.ppf(1 - alpha / 2) + norm.ppf(power)) * se) if se == se else float("nan")


def holm(p) -> np.ndarray:
    """Holm step-down adjusted p-values (NaN stays NaN)."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p, float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out


def primary_test(table: pd.DataFrame, spec: str = DEFAULT_PRIMARY, *, alpha: float = 0.05, controls=None) -> dict:
    """The pre-declared primary comparison on an aligned table (``Alignment.table`` or a table with
    ``customer_id``, ``category``, ``churned_k`` / ``mrr_change_k``). Churn: risk ratio a ÷ b from the logistic
    model (:func:`churn_model`) with its delta-method interval and Wald p-value; revenue: the adjusted difference
    a − b in points (:func:`revenue_model`). ``significant`` at ``alpha``; ``mde`` the minimum detectable effect
    (80% power) on the same scale, from the observed standard error."""
    outcome, k, a, b = parse_primary(spec)
    base = {"spec": spec, "outcome": outcome, "horizon": k, "a": a, "b": b, "alpha": alpha}
    if outcome == "churn":
        m = churn_model(table, k, pairs=((a, b),), controls=controls, alpha=alpha)
        e = m.effect(a, b)
        if not e:
            return {**base, **_nan_est(m.reason or f"no {a} or no {b} responses with a complete {k}-month window"),
                    "p_value": None, "significant": False, "mde": None, "n": m.n, "accounts": m.accounts,
                    "measure": "risk_ratio"}
        se = e["se_log_rr"]
        return {**base, "measure": "risk_ratio", "estimate": e["rr"], "lower": e["rr_lower"], "upper": e["rr_upper"],
                "reason": None, "p_value": e["p_value"], "significant": bool(e["p_value"] < alpha),
                "mde": float(np.exp(mde(se, alpha=alpha))) if se else None, "p_a": e["p_a"], "p_b": e["p_b"],
                "rd": e["rd"], "rd_lower": e["rd_lower"], "rd_upper": e["rd_upper"], "n": m.n, "accounts": m.accounts,
                "n_a": e["n_a"], "n_b": e["n_b"], "events_a": e["events_a"], "events_b": e["events_b"],
                "cov_type": m.cov_type, "dropped": m.dropped}
    m = revenue_model(table, k, pairs=((a, b),), **({"controls": controls} if controls is not None else {}), alpha=alpha)
    e = m.effect(a, b)
    if not e:
        return {**base, **_nan_est(m.reason or f"no {a} or no {b} stayers with a complete {k}-month window"),
                "p_value": None, "significant": False, "mde": None, "n": m.n, "accounts": m.accounts,
                "measure": "difference_pp"}
    return {**base, "measure": "difference_pp", "estimate": e["estimate"], "lower": e["lower"], "upper": e["upper"],
            "reason": None, "p_value": e["p_value"], "significant": bool(e["p_value"] < alpha),
            "mde": mde(e["se"], alpha=alpha), "n": m.n, "accounts": m.accounts, "n_a": e["n_a"], "n_b": e["n_b"],
            "cov_type": m.cov_type, "dropped": m.dropped}


def comparisons(churn: dict, revenue: dict, primary: dict) -> pd.DataFrame:
    """Every category comparison of the fitted models (``churn`` / ``revenue``: horizon → :class:`ModelResult`)
    in one table. The pre-declared primary comparison is labelled ``primary`` and not adjusted; the others are
    ``exploratory``, Holm-corrected within their family (churn, revenue) across pairs and horizons."""
    rows = []
    for outcome, models in (("churn", churn), ("revenue", revenue)):
        for k, m in models.items():
            for e in m.effects.to_dict(orient="records"):
                est = e["rr"] if outcome == "churn" else e["estimate"]
                lo = e["rr_lower"] if outcome == "churn" else e["lower"]
                hi = e["rr_upper"] if outcome == "churn" else e["upper"]
                is_primary = (outcome, k, e["a"], e["b"]) == (primary.get("outcome"), primary.get("horizon"),
                                                               primary.get("a"), primary.get("b"))
                rows.append({"family": outcome, "horizon": k, "a": e["a"], "b": e["b"],
                             "measure": "risk ratio" if outcome == "churn" else "difference (points)",
                             "estimate": est, "lower": lo, "upper": hi, "p_value": e["p_value"],
                             "role": "primary" if is_primary else "exploratory"})
    out = pd.DataFrame(rows, columns=["family", "horizon", "a", "b", "measure", "estimate", "lower", "upper", "p_value",
                                      "role"])
    out["p_holm"] = np.nan
    for fam in ("churn", "revenue"):
        sel = (out["family"] == fam) & (out["role"] == "exploratory")
        out.loc[sel, "p_holm"] = holm(out.loc[sel, "p_value"].to_numpy(float))
    out.loc[out["role"] == "primary", "p_holm"] = out.loc[out["role"] == "primary", "p_value"]
    return out


# ------------------------------------------------------------------------------------------------ accounts


def account_view(al: Alignment, k: int) -> pd.DataFrame:
    """One row per account with a complete ``k``-month window: its account NPS and mean score over those
    responses (:func:`account_loyalty`), responses, mean baseline MRR and mean MRR change among its stayer
    responses (NaN when it churned after every survey)."""
    t = al.rows(k)
    if not len(t):
        return pd.DataFrame(columns=["customer_id", "respondents", "nps", "mean_score", "mrr_base", "mrr_change"])
    loy = account_loyalty(t, "customer_id", "score")
    g = t.groupby("customer_id")
    extra = pd.DataFrame({"mrr_base": g["mrr_base"].mean(), "mrr_change": g[f"mrr_change_{k}"].mean(),
                          "churned": g[f"churned_{k}"].max()}).reset_index()
    return loy.merge(extra, on="customer_id")


def fitted_line(x, y, *, alpha: float = 0.05, points: int = 50) -> pd.DataFrame:
    """Straight-line OLS fit of ``y`` on ``x`` with HC3 errors: the fitted mean and its confidence band on a grid
    of ``points`` values across the range of ``x`` (columns x, fit, lower, upper); empty below 3 points."""
    import statsmodels.api as sm

    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3 or np.unique(x).size < 2:
        return pd.DataFrame(columns=["x", "fit", "lower", "upper"])
    res = sm.OLS(y, sm.add_constant(x)).fit(cov_type="HC3")
    grid = np.linspace(x.min(), x.max(), points)
    pr = res.get_prediction(sm.add_constant(grid)).summary_frame(alpha=alpha)
    out = pd.DataFrame({"x": grid, "fit": pr["mean"].to_numpy(), "lower": pr["mean_ci_lower"].to_numpy(),
                        "upper": pr["mean_ci_upper"].to_numpy()})
    out.attrs.update(slope=float(res.params[1]), slope_lower=float(res.conf_int(alpha)[1, 0]),
                     slope_upper=float(res.conf_int(alpha)[1, 1]), n=int(len(x)))
    return out


# ------------------------------------------------------------------------------------------------ the whole analysis


@dataclass
class NPSRevenue:
    """NPS against revenue for one dataset (see :func:`nps_revenue`). ``available`` is False (with ``reason``)
    when there are no survey responses; every part is then empty."""

    available: bool
    reason: str | None
    horizons: tuple = ()
    primary_spec: str = DEFAULT_PRIMARY
    period: str = "quarter"
    segment: str | None = None
    alpha: float = 0.05
    latest: NPSResult | None = None
    latest_period: str | None = None
    change: NPSDifference | None = None
    previous_period: str | None = None
    by_period: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_segment: pd.DataFrame = field(default_factory=pd.DataFrame)
    coverage: pd.DataFrame = field(default_factory=pd.DataFrame)
    bias: pd.DataFrame = field(default_factory=pd.DataFrame)
    alignment: Alignment | None = None
    outcomes: dict = field(default_factory=dict)
    churn: dict = field(default_factory=dict)
    revenue: dict = field(default_factory=dict)
    correlation: dict = field(default_factory=dict)
    measures: dict = field(default_factory=dict)
    primary: dict = field(default_factory=dict)
    comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list = field(default_factory=list)

    def metrics(self) -> dict:
        """JSON-ready key figures: every estimate as {estimate, lower, upper, reason}."""
        why = self.reason
        out = {"available": self.available, "reason": why, "horizons": list(self.horizons), "period": self.period,
               "segment": self.segment, "primary_test": {"spec": self.primary_spec, **_nan_est(why or "")}}
        if not self.available:
            out.update({"nps": _nan_est(why), "categories": {}, "correlation": {}, "comparisons": [],
                        "nps_vs_other": {}, "coverage": {}, "alignment": {}})
            return out
        L = self.latest
        out["nps"] = _est(L.nps, L.lower, L.upper, None, n=L.n, method=L.method_, period=self.latest_period,
                          n_accounts=L.n_accounts)
        out["nps_change"] = (_est(self.change.estimate, self.change.lower, self.change.upper, None,
                                  p_value=self.change.p_value, since=self.previous_period)
                             if self.change is not None else _nan_est("only one survey period"))
        cov = self.coverage.iloc[-1] if len(self.coverage) else None
        out["coverage"] = ({"period": cov["period"], "customer_share": _est(cov["share"], cov["lower"], cov["upper"]),
                            "mrr_share": cov["mrr_share"], "respondents_per_account": cov["respondents_per_account"]}
                           if cov is not None else {})
        cats = {}
        for k, co in self.outcomes.items():
            per = {}
            for r in co.to_dict(orient="records"):
                def e(name, r=r):
                    why_c = None if r.get(name) == r.get(name) and r.get(name) is not None else (
                        f"no {r['category']} responses with a complete {k}-month window" if r["responses"] == 0
                        else f"no {r['category']} account stayed {k} months")
                    return _est(r.get(name), r.get(f"{name}_lower"), r.get(f"{name}_upper"), why_c)
                per[r["category"]] = {"responses": r["responses"], "churn_rate": e("churn_rate"),
                                      "mrr_change_pct": e("mrr_change"), "expansion_share": e("expansion_share"),
                                      "contraction_share": e("contraction_share")}
            cats[f"{k}m"] = per
        out["categories"] = cats
        out["correlation"] = {f"{k}m": {r["method"]: _est(r["estimate"], r["lower"], r["upper"], r["reason"], n=r["n"])
                                        for r in c.to_dict(orient="records")} for k, c in self.correlation.items()}
        out["effects"] = {}
        for k in self.horizons:
            ch, rv = self.churn.get(k), self.revenue.get(k)
            d = {}
            if ch is not None:
                e = ch.effect("detractor", "promoter")
                d["churn_risk_ratio_detractor_vs_promoter"] = (_est(e["rr"], e["rr_lower"], e["rr_upper"]) if e
                                                               else _nan_est(ch.reason or "not estimable"))
                d["churn_risk_difference_detractor_vs_promoter"] = (_est(e["rd"], e["rd_lower"], e["rd_upper"]) if e
                                                                    else _nan_est(ch.reason or "not estimable"))
                d["churn_rows"] = ch.n
                d["churn_dropped_missing"] = ch.dropped.get("dropped_missing", 0)
            if rv is not None:
                e = rv.effect("promoter", "detractor")
                d["mrr_change_difference_promoter_vs_detractor_pp"] = (_est(e["estimate"], e["lower"], e["upper"]) if e
                                                                       else _nan_est(rv.reason or "not estimable"))
                d["revenue_rows"] = rv.n
                d["revenue_dropped_missing"] = rv.dropped.get("dropped_missing", 0)
                d["revenue_r2"] = rv.r2
            out["effects"][f"{k}m"] = d
        p = self.primary
        out["primary_test"] = {k: _json_safe(v) for k, v in p.items() if k != "dropped"}
        out["comparisons"] = [{k: _json_safe(v) for k, v in r.items()} for r in self.comparisons.to_dict(orient="records")]
        out["nps_vs_other"] = {}
        for k, m in self.measures.items():
            for r in m.to_dict(orient="records"):
                out["nps_vs_other"][f"{r['metric']}_{k}m"] = {
                    "nps": _est(r["nps"], r["nps_lower"], r["nps_upper"], r["reason"]),
                    "other": _est(r["other"], r["other_lower"], r["other_upper"], r["reason"]),
                    "difference": _est(r["difference"], r["difference_lower"], r["difference_upper"], r["reason"]),
                    "n": r["n"], "dropped": r["dropped"], "measure": m.attrs.get("other")}
        out["alignment"] = {f"{r['horizon']}m": {k: _json_safe(v) for k, v in r.items()}
                            for r in self.alignment.counts().to_dict(orient="records")}
        return out


def nps_revenue(ds, horizons=DEFAULT_HORIZONS, *, primary: str = DEFAULT_PRIMARY, segment: str | None = None,
                period: str = "quarter", other: str = "csat", alpha: float = 0.05, n_boot: int = 1000,
                seed: int | None = 0) -> NPSRevenue:
    """Everything the NPS-and-revenue report shows, computed once.

    NPS of the latest survey period (account bootstrap when accounts answered more than once, else the
    ``auto`` interval) and its change since the previous period; NPS per period and per ``segment`` (latest
    period); coverage and the response-bias check (latest period); the alignment of every response with its
    account (:func:`align`) at each horizon (``horizons`` plus the primary test's); per category the churn rate
    and revenue change with bootstrap intervals; the churn (logistic) and revenue (OLS, segment and size
    controls) models; the pre-declared ``primary`` test with its MDE; every other comparison Holm-corrected and
    exploratory; score–revenue correlations; NPS against ``other`` (AUC, R²)."""
    _check_period(period)
    outcome, kp, a, b = parse_primary(primary)
    hs = tuple(sorted({int(h) for h in horizons} | {kp}))
    base = dict(horizons=hs, primary_spec=primary, period=period, segment=segment, alpha=alpha)
    if ds.nps is None or not len(ds.nps):
        return NPSRevenue(False, "the data have no NPS survey responses (no nps table)", **base)
    notes = []
    if segment and segment not in ds.customers.columns and (ds.attributes is None or segment not in set(ds.attributes["attribute"])):
        notes.append(Reason(f"segment {segment!r} is not a customer attribute: results are not split or adjusted by "
                            "segment", "nps.reason.segment_unknown", segment=segment))
        segment = None
        base["segment"] = None
    elif segment and segment in ds.customers.columns:
        from .data.attributes import check_segment

        try:  # a numeric attribute, or one with too many levels, cannot split the results (data/attributes.py)
            check_segment(ds, segment, what="segment")
        except ValueError as exc:
            notes.append(f"{exc}. Results are not split or adjusted by segment")
            segment = None
            base["segment"] = None
    r = responses(ds, period=period, segment=segment)
    last_key = int(r["period"].max())
    lr = r[r["period"] == last_key]
    multi = lr["customer_id"].duplicated().any()
    latest = net_promoter_score(lr["score"], "auto", alpha=alpha, accounts=lr["customer_id"] if multi else None,
                                n_boot=max(n_boot, 200), seed=seed)
    by_period = nps_by(r, "period_label", account_col="customer_id", alpha=alpha, n_boot=max(n_boot, 200), seed=seed)
    by_segment = (nps_by(lr, "segment", account_col="customer_id", alpha=alpha, n_boot=max(n_boot, 200), seed=seed)
                  if segment else pd.DataFrame())
    change, prev_label = None, None
    keys = sorted(r["period"].unique())
    if len(keys) > 1:
        pr = r[r["period"] == keys[-2]]
        change = nps_difference(lr["score"], pr["score"], method="auto", alpha=alpha)
        prev_label = pr["period_label"].iloc[0]
    # the responses and the integer-keyed panel are built once and shared by the coverage, the bias check and
    # the alignment (each public function would otherwise rebuild both)
    pv = _Panel(ds)
    cov = _coverage(ds, r, pv, period, alpha)
    bias = _response_bias(ds, r, pv, cov, period, None, alpha) if len(cov) else pd.DataFrame()
    al = _align(ds, hs, r, pv)
    outcomes = {k: category_outcomes(al, k, alpha=alpha, n_boot=n_boot, seed=seed) for k in hs}
    ctrl = [c for c in ("segment", "mrr_base") if c in al.table.columns]
    churn = {k: churn_model(al, k, alpha=alpha) for k in hs}
    revenue = {k: revenue_model(al, k, controls=ctrl, alpha=alpha) for k in hs}
    prim = primary_test(al.table, primary, alpha=alpha, controls=ctrl if outcome == "revenue" else None)
    corr = {k: correlation(al, k, alpha=alpha, n_boot=n_boot, seed=seed) for k in hs}
    measures = {k: compare_measures(al, k, other, alpha=alpha, n_boot=n_boot, seed=seed) for k in hs} \
        if other in al.table.columns else {}
    comp = comparisons(churn, revenue, prim)
    return NPSRevenue(True, None, latest=latest, latest_period=lr["period_label"].iloc[0], change=change,
                      previous_period=prev_label, by_period=by_period, by_segment=by_segment, coverage=cov, bias=bias,
                      alignment=al, outcomes=outcomes, churn=churn, revenue=revenue, correlation=corr,
                      measures=measures, primary=prim, comparisons=comp, notes=notes, **base)
