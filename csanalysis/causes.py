"""Why customers leave: payment-failure churn apart from voluntary churn (competing risks), and dunning recovery.

**Cause of a churn.** A churn (the end of a spell: data/README.md, "One churn definition") happens in its *churn
month*, the first month the customer no longer paid. Its cause is

* ``payment_failure`` when the customer's last ``min_failed`` payment attempts (default 1) dated in the
  ``window_days`` (default 60) days up to the end of the churn month all failed and no attempt after them
  succeeded. Sixty days reach back over the last paid month into the churn month, where a card charge for the
  month that was never paid sits; an attempt that failed and was retried successfully inside the window ends in a
  success and does not count. Attempts on the same day count failed first, then succeeded (a same-day retry
  that succeeded recovers the failure);
* ``voluntary`` otherwise (the customer decided to leave, or no attempt failed).

A ``cancellation_reason`` column (``customers``, or ``snapshot`` in that layout) takes precedence when it is filled
for the customer: it applies to the customer's latest churn. Its value, lower-cased with spaces and hyphens as
underscores, is a payment failure when it is one of :data:`PAYMENT_FAILURE_REASONS` (``payment_failure``,
``failed_payment``, ``card_declined``, ``involuntary`` …; a notebook may give its own list); every other value is
voluntary, with the value kept as the churn's ``reason``. Without a ``payments`` table and without
``cancellation_reason`` the causes are not estimable (:attr:`ChurnCauses.reason` says why). In a purchase log a
churn is a lapse (no purchase for a while), with no payment attempts to fail: the analysis does not apply.

**Shares.** The share of churns of each cause has a Wilson interval; the share of churned MRR (the MRR of each
churned spell's last paid month) a percentile interval from the bootstrap over accounts
(:mod:`csanalysis.stats.bootstrap`), overall, per churn month and per segment.

**Cumulative incidence.** With two competing causes, the probability of having churned for cause k by tenure t is
the Aalen–Johansen estimate on the discrete (monthly) times, ties handled exactly:

    CIF_k(t) = Σ_{s ≤ t} S(s−1) · d_k(s) / n(s),    S(t) = Π_{s ≤ t} (1 − d(s)/n(s)),

with n(s) the spells at risk at s (a left-truncated spell after its ``entry``, as lifelines' Kaplan–Meier and the
survival report count it; at the first time, every spell entering then), d(s)
the churns at s and d_k(s) those of cause k: the causes' curves add up to 1 − Kaplan–Meier of any churn. 1 − KM
of one cause, censoring the other, overstates each. The variance is Greenwood-type (Collett 2015, p. 411; the
formula of lifelines' ``AalenJohansenFitter`` and SAS PROC LIFETEST), the band from the log(−log) transform.
lifelines' fitter jitters tied times at random, which every monthly time is: it is not used (tests check this
estimator against it on untied times and against R's ``survfit`` on tied ones). First spells, as the survival
report's curves.

**Cause-specific hazard ratios.** A Cox model per cause on the first spells with the other cause's churns censored
at their churn (:func:`csanalysis.survival.covariate_design` for the attributes): does one plan fail to pay more?

**Dunning.** A failed attempt is *recovered within d days* when the same customer has a succeeded attempt 0 … d
days after it. Only attempts at least d days before ``as_of`` count for d (later ones cannot be judged yet). The
shares have percentile intervals from the bootstrap over accounts (attempts of one account are not independent).
The *billing list*: accounts whose latest attempt (in the ``window_days`` before ``as_of``) failed with no success
since and that paid in the ``as_of`` month or the month before, with the MRR of their last paid month.

**Planning scenario.** If recovery rose by ``uplift`` (a share, 0.05 = 5 points), the MRR kept over the next
``horizon`` months, under a stated assumption: each extra recovered failure keeps the account as a recovered one
does, that is the share q of unrecovered failures (last 12 months) followed by a payment-failure churn in their month
or the next is kept, and a kept account
then leaves only for voluntary reasons, at the voluntary monthly churn rate h. With f failed attempts a month (the
last 12 months' average) and m the mean MRR of a payment-failure churn:

    kept = uplift · f · q · m · Σ_{j=1}^{H} Σ_{i=0}^{H−j} (1 − h)^i

with its percentile interval from the same bootstrap over accounts (f, q, m and h recomputed in each resample).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .data import Dataset
from .data import attributes as attrs_
from .estimate import Estimate
from .periods import month_index, month_start
from .stats.bootstrap import account_sums, count_weights, percentile_interval, replicate_sums
from .stats.proportion import wilson

__all__ = ["PAYMENT_FAILURE", "VOLUNTARY", "CAUSES", "PAYMENT_FAILURE_REASONS", "ChurnCauses", "classify_churns",
           "cause_of_reason", "reason_key", "cause_shares", "share_metrics", "share_estimates", "RecoveryScenario", "CumulativeIncidence", "aalen_johansen", "cumulative_incidence",
           "cause_specific_cox", "cox_fit", "hr_sentences", "separation_text", "DunningRecovery", "dunning_recovery", "billing_list", "recovery_scenario"]

PAYMENT_FAILURE, VOLUNTARY = "payment_failure", "voluntary"
CAUSES = (PAYMENT_FAILURE, VOLUNTARY)
WINDOW_DAYS = 60
MIN_FAILED = 1
PAYMENT_FAILURE_REASONS = frozenset({
    "payment_failure", "payment_failed", "failed_payment", "payment", "non_payment", "nonpayment", "unpaid",
    "card_declined", "card_expired", "declined", "billing_failure", "involuntary", "dunning", "delinquent",
})
NOT_APPLICABLE_LOG = ("a purchase log's churn is a lapse (no purchase for a while): there are no payment attempts "
                      "whose failure could end it")
NO_SOURCE = "no payments table and no cancellation_reason column: the cause of a churn cannot be told"
NO_PAYMENTS = "no payments table"
NO_FAILED = "no failed payment attempt"
NO_RECENT = "no failed attempt or payment-failure churn in the last 12 months"
REASON_KEYS = {NOT_APPLICABLE_LOG: "purchase_log", NO_SOURCE: "no_source", NO_PAYMENTS: "no_payments", NO_FAILED: "no_failed",
               NO_RECENT: "no_recent"}


def reason_key(reason: str | None) -> str | None:
    """The message key (``causes.reason.<key>``) of one of this module's reasons for a missing result."""
    return None if reason is None else f"causes.reason.{REASON_KEYS[reason]}"


def cause_of_reason(value, failure_reasons=PAYMENT_FAILURE_REASONS) -> str | None:
    """The cause a ``cancellation_reason`` value stands for (module docstring); None when blank or missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    key = "_".join(str(value).strip().lower().replace("-", " ").split())
    if not key:
        return None
    return PAYMENT_FAILURE if key in {str(r).lower() for r in failure_reasons} else VOLUNTARY


@dataclass
class ChurnCauses:
    """Every churn with its cause (``churns``: customer_id, spell, month (the churn month), T (tenure in months),
    entry, mrr (last paid month's MRR), cause, basis (``payments`` or ``reason``), reason (the kept
    cancellation_reason)); ``first``: the first spells (T, E, entry, cause where E) for the competing-risks curves.
    ``reason``: why there are no causes (None when there are)."""

    churns: pd.DataFrame
    first: pd.DataFrame
    window_days: int = WINDOW_DAYS
    min_failed: int = MIN_FAILED
    reason: str | None = None
    sources: tuple = ()  # "payments", "cancellation_reason"

    @property
    def estimable(self) -> bool:
        return self.reason is None

    @property
    def summary(self) -> pd.DataFrame:
        return self.churns.groupby("cause").size().rename("churns").reset_index()

    def _repr_html_(self) -> str:
        return self.summary.to_html(index=False)

    def metrics(self) -> dict:
        """The classification's part of ``metrics.json``: whether causes are estimable (and why not), the rule's
        settings, the sources used and the churns by cause and by basis."""
        known = self.churns[self.churns["cause"].notna()] if self.estimable else self.churns.iloc[:0]
        return {"estimable": self.estimable, "reason": self.reason, "window_days": self.window_days,
                "min_failed": self.min_failed, "sources": list(self.sources), "churns": int(len(self.churns)),
                "churns_by_cause": {k: int((known["cause"] == k).sum()) for k in CAUSES},
                "classified_by_reason": int((known["basis"] == "reason").sum())}


def _last_mrr(ds: Dataset, spells: pd.DataFrame) -> np.ndarray:
    """The MRR of each spell's last paid month (NaN when the panel has none, e.g. a snapshot without mrr), looked
    up in the engine (:func:`csanalysis.grouped.panel_at`: the panel's rows stay there)."""
    from .grouped import panel_at

    keys = pd.DataFrame({"customer_id": spells["customer_id"].to_numpy(),
                         "m": np.asarray(month_index(spells["last_paid"]), dtype=np.int64)})
    return panel_at(ds, keys)


def _payment_causes(churns: pd.DataFrame, attempts: pd.DataFrame, window_days: int, min_failed: int) -> np.ndarray:
    """Per churn (rows of ``churns``: customer_id, month): True when its last ``min_failed`` attempts in the window
    all failed (module docstring)."""
    c = churns[["customer_id", "month"]].reset_index(drop=True).rename_axis("row").reset_index()
    anchor = c["month"] + pd.offsets.MonthEnd(0)
    c["hi"] = anchor
    c["lo"] = anchor - pd.Timedelta(days=int(window_days))
    a = attempts.merge(c, on="customer_id", how="inner")
    a = a[(a["date"] > a["lo"]) & (a["date"] <= a["hi"])]
    a = a.assign(ok=(a["status"] == "succeeded").astype(np.int8)).sort_values(["row", "date", "ok"], kind="stable")
    last = a.groupby("row", sort=False).tail(int(min_failed))
    g = last.groupby("row")["ok"].agg(["size", "sum"])
    out = np.zeros(len(c), bool)
    hit = g[(g["size"] >= min_failed) & (g["sum"] == 0)].index.to_numpy()
    out[hit] = True
    return out


def classify_churns(ds: Dataset, *, window_days: int = WINDOW_DAYS, min_failed: int = MIN_FAILED,
                    failure_reasons=PAYMENT_FAILURE_REASONS) -> ChurnCauses:
    """Each churn's cause (module docstring): from ``cancellation_reason`` when filled, else from the payment
    attempts in the ``window_days`` up to the end of the churn month."""
    if int(window_days) < 1 or int(min_failed) < 1:
        raise ValueError(f"window_days={window_days} and min_failed={min_failed} must be at least 1")
    s = ds.spells
    churn = s[s["event"] == 1]
    churns = pd.DataFrame({
        "customer_id": churn["customer_id"].to_numpy(), "spell": churn["spell"].to_numpy(),
        "month": pd.to_datetime(churn["end"]).to_numpy(), "T": churn["duration"].to_numpy(),
        "entry": churn["entry"].to_numpy(), "mrr": _last_mrr(ds, churn),
    })
    has_reason = "cancellation_reason" in ds.customers.columns and ds.customers["cancellation_reason"].notna().any()
    attempts = getattr(ds, "payment_attempts", None)
    sources = tuple(n for n, ok in (("payments", attempts is not None), ("cancellation_reason", has_reason)) if ok)
    first = s[s["spell"] == 1]
    first = pd.DataFrame({"customer_id": first["customer_id"].to_numpy(), "spell": 1,
                          "T": (first["duration"] - (1 - first["event"])).to_numpy(),
                          "E": first["event"].to_numpy(), "entry": first["entry"].to_numpy()})
    reason = NOT_APPLICABLE_LOG if ds.layout == "purchase_log" else (None if sources else NO_SOURCE)
    if reason is not None:
        churns["cause"], churns["basis"], churns["reason"] = None, None, None
        first["cause"] = None
        return ChurnCauses(churns, first, int(window_days), int(min_failed), reason, sources)
    pf = (_payment_causes(churns, attempts, window_days, min_failed) if attempts is not None
          else np.zeros(len(churns), bool))
    cause = np.where(pf, PAYMENT_FAILURE, VOLUNTARY).astype(object)
    basis = np.full(len(churns), "payments" if attempts is not None else "none", dtype=object)
    kept = np.full(len(churns), None, dtype=object)
    if has_reason:
        latest = churns.groupby("customer_id")["spell"].transform("max") == churns["spell"]
        rs = churns["customer_id"].map(ds.customers.set_index("customer_id")["cancellation_reason"])
        rc = rs.map(lambda v: cause_of_reason(v, failure_reasons))
        use = (latest & rc.notna()).to_numpy()
        cause[use] = rc[use].to_numpy()
        basis[use] = "reason"
        kept[use] = rs[use].astype(str).to_numpy()
    if attempts is None:
        # churns without a reason have no cause when there is no payments table to tell
        cause[basis == "none"] = None
    churns["cause"], churns["basis"], churns["reason"] = cause, basis, kept
    fc = churns[churns["spell"] == 1].set_index("customer_id")["cause"]
    first["cause"] = first["customer_id"].map(fc).where(first["E"] == 1)
    return ChurnCauses(churns, first, int(window_days), int(min_failed), None, sources)


# ------------------------------------------------------------------------------------------------ shares


def cause_shares(causes: ChurnCauses, ds: Dataset | None = None, *, by: str | None = None, per_month: bool = False,
                 n_boot: int = 400, alpha: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """The payment-failure share of churns (Wilson interval) and of churned MRR (bootstrap over accounts), one row
    per group: ``All`` (default), each churn month (``per_month``) or each level of attribute ``by`` (needs
    ``ds``). Columns: group, churns, payment_failure, share, lower, upper, mrr, payment_failure_mrr, mrr_share,
    mrr_lower, mrr_upper. Churns without a cause (no payments table and no reason given) are left out."""
    c = causes.churns[causes.churns["cause"].notna()]
    if by is not None:
        group = c["customer_id"].map(attrs_.segment_of(ds, by)).fillna(attrs_.MISSING).astype(str)
    elif per_month:
        group = pd.to_datetime(c["month"]).dt.strftime("%Y-%m")
    else:
        group = pd.Series("All", index=c.index)
    levels = sorted(group.unique())
    gcode = pd.Categorical(group, categories=levels).codes
    pf = (c["cause"] == PAYMENT_FAILURE).to_numpy()
    mrr = np.nan_to_num(c["mrr"].to_numpy(dtype=float))
    k = len(levels)
    codes, uniq = pd.factorize(c["customer_id"])
    n_acc = len(uniq)
    # per account: churned MRR and payment-failure MRR in each group (accounts × 2k)
    vals = np.zeros((len(c), 2 * k))
    vals[np.arange(len(c)), gcode] = mrr
    vals[np.arange(len(c)), k + gcode] = mrr * pf
    X = account_sums(codes, n_acc, vals) if len(c) else np.zeros((0, 2 * k))
    rng = np.random.default_rng(seed)
    (R,) = replicate_sums(count_weights(rng, n_acc, n_boot, width=max(n_acc, 2 * k)), X) if n_acc else (np.zeros((0, 2 * k)),)
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = R[:, k:] / R[:, :k]
    rows = []
    for j, g in enumerate(levels):
        sel = gcode == j
        n, kk = int(sel.sum()), int(pf[sel].sum())
        lo, hi = wilson(kk, n, alpha, exact_ends=True)
        tot, tpf = float(mrr[sel].sum()), float((mrr * pf)[sel].sum())
        ms = tpf / tot if tot > 0 else np.nan
        mlo, mhi = percentile_interval(boot[:, j], alpha, finite=True, min_replicates=10, point=ms) if np.isfinite(ms) else (np.nan, np.nan)
        rows.append({"group": g, "churns": n, "payment_failure": kk, "share": kk / n if n else np.nan,
                     "lower": float(lo), "upper": float(hi), "mrr": tot, "payment_failure_mrr": tpf,
                     "mrr_share": ms, "mrr_lower": mlo, "mrr_upper": mhi})
    return pd.DataFrame(rows, columns=["group", "churns", "payment_failure", "share", "lower", "upper", "mrr",
                                       "payment_failure_mrr", "mrr_share", "mrr_lower", "mrr_upper"])


def share_metrics(table: pd.DataFrame) -> list[dict]:
    """:func:`cause_shares` rows as ``metrics.json`` records: group, churns, payment_failure, share, mrr_share."""
    return [{"group": r["group"], "churns": int(r["churns"]), "payment_failure": int(r["payment_failure"]),
             **{k: e.brief() for k, e in share_estimates(r).items()}} for _, r in table.iterrows()]


def share_estimates(row: pd.Series) -> dict[str, Estimate]:
    """A row of :func:`cause_shares` as ``metrics.json`` estimates: ``share`` (of churns) and ``mrr_share``."""
    why = "no churn with a known cause"
    return {"share": Estimate.of("payment_failure_share", row["share"], row["lower"], row["upper"], reason=why,
                                 n=int(row["churns"]), interval="Wilson"),
            "mrr_share": Estimate.of("payment_failure_mrr_share", row["mrr_share"], row["mrr_lower"], row["mrr_upper"],
                                     reason="no churned MRR", interval="bootstrap over accounts")}


# ------------------------------------------------------------------------------------ cumulative incidence


@dataclass
class CumulativeIncidence:
    """Aalen–Johansen cumulative incidence of each cause by tenure (module docstring). ``table``: t, at_risk,
    churns, then per cause ``cif_<cause>``, ``lower_<cause>``, ``upper_<cause>``, ``var_<cause>``, and ``km`` (the
    Kaplan–Meier survival of any churn)."""

    table: pd.DataFrame
    causes: tuple
    alpha: float = 0.05

    def at(self, t: int, cause: str) -> Estimate:
        """CIF of ``cause`` at tenure ``t`` (the last time at or before it) with its interval."""
        tab = self.table[self.table["t"] <= t]
        if not len(tab) or self.table["t"].max() < t:
            return Estimate.missing(f"no spell followed for {t} months")
        r = tab.iloc[-1]
        return Estimate(f"cif_{cause}_{t}", float(r[f"cif_{cause}"]), float(r[f"lower_{cause}"]),
                        float(r[f"upper_{cause}"]), interval="log(-log) Greenwood-type")

    @property
    def summary(self) -> pd.DataFrame:
        return self.table

    def _repr_html_(self) -> str:
        return self.table.to_html(index=False)

    def metrics(self, times=(6, 12, 24)) -> dict:
        """CIF of each cause at each of ``times`` (months) with its interval: ``{cause: {"12": estimate}}``."""
        return {k: {str(t): self.at(int(t), k).brief() for t in times} for k in self.causes}

    def at_times(self, times=(6, 12, 24)) -> pd.DataFrame:
        """One row per time of ``times`` followed: t, at_risk and each cause's CIF with its bounds."""
        tab = self.table.set_index("t")
        rows = []
        for t in times:
            if tab.index.max() < t:
                continue
            r = tab[tab.index <= t].iloc[-1]
            rows.append({"t": int(t), "at_risk": int(tab.loc[tab.index >= t, "at_risk"].iloc[0]),
                         **{f"{c}_{k}": r[f"{c}_{k}"] for k in self.causes for c in ("cif", "lower", "upper")}})
        return pd.DataFrame(rows)


def aalen_johansen(T, cause, entry=None, *, causes=CAUSES, alpha: float = 0.05) -> CumulativeIncidence:
    """The Aalen–Johansen estimate on discrete times with ties (module docstring). ``T``: time of churn or
    censoring; ``cause``: the cause of a churn, None/NaN for a censored spell; ``entry``: left-truncation time (at
    risk from ``entry`` on, as lifelines' KaplanMeierFitter counts it)."""
    from scipy.stats import norm

    T = np.asarray(T, dtype=float)
    cause = pd.Series(np.asarray(cause, dtype=object)).where(lambda s: s.notna(), None).to_numpy()
    entry = np.zeros_like(T) if entry is None else np.asarray(entry, dtype=float)
    times = np.unique(np.concatenate([T, entry]))
    times = times[times >= 0]
    event = np.array([c is not None for c in cause])
    # at risk at t: entered before t (at the first time: at or before it) and not yet removed before t; lifelines'
    # KaplanMeierFitter counts its product-limit risk sets so (entrants at t join after the churns at t)
    first = entry <= times[0] if len(times) else np.zeros(0, bool)
    n = (np.searchsorted(np.sort(np.where(first, -np.inf, entry)), times, side="left")
         - np.searchsorted(np.sort(T), times, side="left"))
    d = pd.Series(event.astype(float)).groupby(T).sum().reindex(times, fill_value=0).to_numpy()
    n = n.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        S = np.cumprod(np.where(n > 0, 1 - d / np.where(n > 0, n, 1), 1.0))
    lagS = np.r_[1.0, S[:-1]]
    z = float(norm.ppf(1 - alpha / 2))
    out = pd.DataFrame({"t": times, "at_risk": n.astype(int), "churns": d.astype(int)})
    for k in causes:
        dk = pd.Series((cause == k).astype(float)).groupby(T).sum().reindex(times, fill_value=0).to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            inc = np.where(n > 0, lagS * dk / np.where(n > 0, n, 1), 0.0)
            F = np.cumsum(inc)
            a1 = np.where(n > 0, d / (n * (n - d)), 0.0)  # d/(n(n−d)); inf where every spell at risk churns
            a2 = np.where(n > 0, lagS ** 2 * dk * (n - dk) / n ** 3, 0.0)
            a3 = np.where(n > 0, lagS * dk / n ** 2, 0.0)
            var = np.empty(len(times))
            for j in range(len(times)):
                diff = F[j] - F[: j + 1]
                var[j] = np.sum(np.where(a1[: j + 1] > 0, a1[: j + 1] * diff ** 2, 0.0)) + a2[: j + 1].sum() \
                    - 2 * np.sum(a3[: j + 1] * diff)
            se = np.sqrt(var) / (F * np.abs(np.log(F)))
            lo = np.exp(-np.exp(np.log(-np.log(F)) + z * se))
            hi = np.exp(-np.exp(np.log(-np.log(F)) - z * se))
        defined = (F > 0) & (F < 1)
        out[f"cif_{k}"] = F
        out[f"lower_{k}"] = np.where(defined, lo, np.where(F <= 0, 0.0, np.nan))
        out[f"upper_{k}"] = np.where(defined, hi, np.where(F <= 0, 0.0, np.nan))
        out[f"var_{k}"] = var
    out["km"] = S
    return CumulativeIncidence(out, tuple(causes), alpha)


def cumulative_incidence(causes: ChurnCauses, *, alpha: float = 0.05) -> CumulativeIncidence | None:
    """The causes' cumulative incidence over the first spells (None when the causes are not estimable or a churn
    has no cause)."""
    f = causes.first
    if not causes.estimable or (f["E"].astype(bool) & f["cause"].isna()).any():
        return None
    return aalen_johansen(f["T"], f["cause"].where(f["E"] == 1), f["entry"], alpha=alpha)


# ------------------------------------------------------------------------------------ cause-specific Cox


NOT_ESTIMABLE_WAYS = {1.0: "infinite", -1.0: "zero"}  # a not-estimable term's hazard ratio runs off to ∞ or to 0
UNDETERMINED = "undetermined"  # a not-estimable term the finite fit leaves free (CoxSeparation.undetermined)


def _not_estimable(sep) -> list[str | None]:
    """Per term of a model under monotone likelihood, how it is not estimable: ``infinite`` / ``zero`` (the way the
    fit drives its hazard ratio), ``undetermined`` (the stratified fit is flat along it), None when estimable."""
    return [NOT_ESTIMABLE_WAYS[float(sg)] if inf else UNDETERMINED if und else None
            for inf, sg, und in zip(sep.infinite, sep.sign, sep.undetermined)]


def _separation_record(sep, meta, f: pd.DataFrame, customers: pd.DataFrame) -> dict:
    """``metrics.json``'s account of a monotone likelihood (``CoxResult.separation``): the terms that are not
    estimable with the way their hazard ratio runs off (or ``undetermined``), the customers left out of the finite
    fit (a stratum without an event of the cause) and, when the terms that run off are categorical, those
    customers' attribute levels (``groups``: the levels of those terms' attributes, with the customers of each;
    none of them left for this cause)."""
    terms = [{"covariate": cov, "level": level, "reference": ref, "term": name, "hazard_ratio": way}
             for (cov, level, ref, name), way in zip(meta, _not_estimable(sep)) if way]
    run_off = [t for t in terms if t["hazard_ratio"] != UNDETERMINED]  # the terms of the directions
    covs = list(dict.fromkeys(t["covariate"] for t in run_off))
    categorical = all(t["reference"] not in ("per unit", "per doubling", "per doubling of seats") for t in run_off)
    groups = []
    if sep.rows.any() and categorical:
        left = f.loc[sep.rows, ["customer_id"]].merge(customers[["customer_id", *covs]], on="customer_id", how="left")
        left[covs] = left[covs].fillna("(missing)").astype(str)
        for levels, n in left.groupby(covs, sort=True).size().items():
            levels = levels if isinstance(levels, tuple) else (levels,)
            groups.append({"levels": dict(zip(covs, levels)), "customers": int(n)})
    return {"not_estimable": terms, "directions": int(len(sep.directions)), "customers_left_out": int(sep.rows.sum()),
            "customers_kept": int((~sep.rows).sum()), "groups": groups,
            "method": "monotone partial likelihood (Heinze & Schemper 2001) found by linear programming; the other "
                      "terms from the Cox model stratified along the separating directions, their coefficients "
                      "restricted to the complement of the directions and of any direction in which that "
                      "stratified fit is flat (extended maximum likelihood)"}


def cause_specific_cox(ds: Dataset, causes: ChurnCauses, covariates: list[str], cause: str, *,
                       references: dict | None = None, alpha: float = 0.05):
    """A Cox model of the churns of ``cause`` on the first spells, the other cause's churns censored at their churn
    (the cause-specific hazard), with the attributes of :func:`csanalysis.survival.covariate_design`. Returns a
    :class:`csanalysis.survival.CoxResult` (no proportional-hazards check; ``separation`` set under monotone
    likelihood, below), or None with fewer than 10 such churns.

    **Monotone likelihood.** A rare cause can leave a group of customers without a single churn of it, e.g. no
    high-touch Pro customer failing to pay while every Enterprise customer is high-touch: along some direction
    of the terms every churn is then at the top of those still at risk, and the partial likelihood rises without
    end (:func:`csanalysis.stats.separation.find_cox_separation`, checked before every fit). The terms with a
    non-zero component along such a direction are **not estimable**: no hazard ratio, interval or p-value
    (``not_estimable`` says whether the fit drives the ratio to infinity or to 0). The other terms get the finite
    part of the fit the diverging one tends to (the extended maximum likelihood estimate): the Cox model stratified
    by the customers' position along the directions (customers in a stratum without a churn of the cause drop
    out), its coefficients restricted to the complement of the directions
    (:func:`csanalysis.stats.separation.estimable_basis`), which leaves those terms' estimates and errors
    unchanged. Dropping those customers can leave the others with a dependence the full data did not have (e.g.
    every Pro customer dropped, so that plan=Pro is 0 in the fit): the stratified fit is then flat along it, and
    the basis leaves that direction out too (``CoxSeparation.basis``); a term with a component along it that does
    not run off is not estimable either (``not_estimable`` = ``undetermined``). Without monotone likelihood the
    fit is the plain one.

    ``ds`` may be a sample of whole customers of the Dataset ``causes`` were classified on
    (:func:`csanalysis.grouped.model_dataset`, ``ds.sample`` set): the model is then fitted on the first spells of
    the sample's customers only (each churn keeps the cause the full data gave it, which depends on the customer's
    own payments and reason alone)."""
    from . import survival

    fixed, skipped = survival.fitted_covariates(ds, covariates)
    f = causes.first
    if getattr(ds, "sample", None) is not None:
        f = f[f["customer_id"].astype(str).isin(set(ds.spells["customer_id"].astype(str)))].reset_index(drop=True)
    events = int(((f["E"] == 1) & (f["cause"] == cause)).sum())
    if not fixed or events < 10 or not causes.estimable:
        return None
    refs = survival.reference_levels(ds, fixed, references)
    X, meta = survival.covariate_design(f, fixed, ds.customers, refs, attrs_.kinds(ds))
    df = pd.concat([f[["T", "entry"]], X], axis=1)
    df["E"] = ((f["E"] == 1) & (f["cause"] == cause)).astype(int)
    df = df[df["T"] > 0] if not ((f["T"] == 0) & (f["E"] == 1)).any() else df
    entry = "entry" if (df["entry"] > 0).any() else None
    if entry is None:
        df = df.drop(columns="entry")
    hrs, cph, sep, keep = cox_fit(df, meta, entry=entry, alpha=alpha)
    separation = None
    if sep.separated:
        ids = f.loc[df.index, "customer_id"].to_numpy()
        separation = _separation_record(sep, meta, pd.DataFrame({"customer_id": ids}), ds.customers)
    return survival.CoxResult(model=cph, hazard_ratios=hrs, c_index=None, n=int(keep.sum()),
                              events=int(df["E"].to_numpy()[keep].sum()), ph_test=None,
                              ph_reason="not checked for a cause-specific model", references=refs, skipped=skipped,
                              design=f"first spells; churns of cause {cause}, others censored",
                              separation=separation)


def cox_fit(df: pd.DataFrame, meta: list, *, entry: str | None = None, alpha: float = 0.05):
    """The Cox fit of :func:`cause_specific_cox` on its design ``df`` (``T``, ``E``, ``entry`` when named, one
    column per term of ``meta`` from :func:`csanalysis.survival.covariate_design`), checked for monotone
    likelihood first (that function's docstring). Returns the hazard-ratio table (``not_estimable`` column only
    under monotone likelihood), the fitted lifelines model (on the basis of the estimable coefficients when
    separated), the :class:`csanalysis.stats.separation.CoxSeparation` and the rows fitted (boolean)."""
    from lifelines import CoxPHFitter
    from scipy.stats import norm

    from . import survival
    from .stats.separation import find_cox_separation

    terms = [name for *_, name in meta]
    sep = find_cox_separation(df[terms].to_numpy(dtype=float), df["T"].to_numpy(), df["E"].to_numpy(),
                              df[entry].to_numpy() if entry else None)
    ci = 100 * (1 - alpha)
    rows = []
    if not sep.separated:
        cph = CoxPHFitter(alpha=alpha).fit(df, duration_col="T", event_col="E", entry_col=entry, batch_mode=True)
        s = cph.summary
        for cov, level, ref, name in meta:
            hr, lo, hi, p = (float(s.loc[name, col]) for col in ("exp(coef)", "exp(coef) lower %g%%" % ci,
                                                                  "exp(coef) upper %g%%" % ci, "p"))
            rows.append({"covariate": cov, "level": level, "reference": ref, "term": name, "hr": hr, "lower": lo,
                         "upper": hi, "p": p, "sentence": survival._hr_sentence(cov, level, ref, hr, lo, hi, alpha)})
        keep = np.ones(len(df), dtype=bool)
    else:
        keep = ~sep.rows
        Q = sep.basis  # the complement of the directions and of the stratified fit's flat directions
        fit = pd.DataFrame(df[terms].to_numpy(dtype=float)[keep] @ Q, columns=[f"q{i}" for i in range(Q.shape[1])])
        fit["T"], fit["E"] = df["T"].to_numpy()[keep], df["E"].to_numpy()[keep]
        if entry:
            fit["entry"] = df["entry"].to_numpy()[keep]
        strata = pd.factorize(sep.strata[keep])[0]
        if strata.max() > 0:
            fit["stratum"] = strata
        cph, beta, se = None, np.full(len(terms), np.nan), np.full(len(terms), np.nan)
        if Q.shape[1]:  # no column left: every term is not estimable, nothing to fit
            cph = CoxPHFitter(alpha=alpha).fit(fit, duration_col="T", event_col="E", entry_col=entry,
                                               strata=["stratum"] if strata.max() > 0 else None)
            beta = Q @ cph.params_.to_numpy()
            se = np.sqrt(np.diag(Q @ cph.variance_matrix_.to_numpy() @ Q.T))
        z = norm.ppf(1 - alpha / 2)
        why = {"infinite": "the fit drives its hazard ratio towards infinity",
               "zero": "the fit drives its hazard ratio towards 0",
               UNDETERMINED: "it no longer varies apart from the other terms among the customers fitted"}
        for (cov, level, ref, name), b, e, way in zip(meta, beta, se, _not_estimable(sep)):
            if way:
                rows.append({"covariate": cov, "level": level, "reference": ref, "term": name, "hr": np.nan,
                             "lower": np.nan, "upper": np.nan, "p": np.nan, "not_estimable": way,
                             "sentence": f"{cov} {level} against {ref}: not estimable ({why[way]})"})
                continue
            hr, lo, hi, p = np.exp(b), np.exp(b - z * e), np.exp(b + z * e), 2 * norm.sf(abs(b / e))
            rows.append({"covariate": cov, "level": level, "reference": ref, "term": name, "hr": hr, "lower": lo,
                         "upper": hi, "p": p, "not_estimable": None,
                         "sentence": survival._hr_sentence(cov, level, ref, hr, lo, hi, alpha)})
    return pd.DataFrame(rows), cph, sep, keep


def hr_sentences(res, translate) -> list[str]:
    """A cause-specific model's hazard-ratio sentences in the report's language
    (:func:`csanalysis.survival.hr_sentences`), a not-estimable term's saying which way the fit drives its ratio
    (``causes.hr_not_estimable_infinite`` / ``_zero``) or that the fit leaves it free (``_undetermined``)."""
    from . import survival

    hrs = res.hazard_ratios
    out = survival.hr_sentences(hrs, translate)
    if "not_estimable" in hrs.columns:
        for i, r in enumerate(hrs.itertuples(index=False)):
            if r.not_estimable in (*NOT_ESTIMABLE_WAYS.values(), UNDETERMINED):
                cov, level, ref = survival._term_words(r, translate)
                out[i] = translate(f"causes.hr_not_estimable_{r.not_estimable}", covariate=cov, level=level,
                                   reference=ref)
    return out


def separation_text(res, translate, label) -> list[tuple[str, dict]]:
    """The message keys and values of the sentences that explain a model's not-estimable terms (none without
    monotone likelihood): ``causes.hr_separation`` names the customers no churn of the cause came from by their
    attribute levels (``label``: an attribute's name in the report, e.g. ``report.attr_label``),
    ``causes.hr_separation_general`` when they cannot be named so (a numeric term, or no such customers); then
    ``causes.hr_separation_undetermined`` for the terms the finite fit leaves free, if any."""
    from . import survival

    sep = res.separation
    if not sep:
        return []
    hrs = res.hazard_ratios

    def terms(ways):
        out = hrs[hrs["term"].isin([t["term"] for t in sep["not_estimable"] if t["hazard_ratio"] in ways])]
        return translate("causes.separation_or").join(survival.hr_labels(out, translate))

    values = {"terms": terms(NOT_ESTIMABLE_WAYS.values()), "kept": f"{sep['customers_kept']:,}"}
    if not sep["groups"]:
        out = [("causes.hr_separation_general", values)]
    else:
        groups = translate("causes.separation_or").join(
            translate("causes.separation_and").join(translate("causes.separation_level", attribute=label(a), level=v)
                                                    for a, v in g["levels"].items()) for g in sep["groups"])
        out = [("causes.hr_separation", {**values, "groups": groups, "rows": f"{sep['customers_left_out']:,}"})]
    if any(t["hazard_ratio"] == UNDETERMINED for t in sep["not_estimable"]):
        out.append(("causes.hr_separation_undetermined", {"terms": terms([UNDETERMINED]), "kept": values["kept"]}))
    return out


# ------------------------------------------------------------------------------------------------ dunning


@dataclass
class DunningRecovery:
    """Failed attempts recovered within each of ``days`` (module docstring). ``table``: days, failed (attempts old
    enough to judge), recovered, share, lower, upper (bootstrap over accounts)."""

    table: pd.DataFrame
    attempts: pd.DataFrame  # every failed attempt: customer_id, date, delay (days to the next success; NaN: none)
    n_boot: int
    reason: str | None = None

    def estimate(self, d: int) -> Estimate:
        if self.reason is not None:
            return Estimate.missing(self.reason)
        r = self.table.set_index("days").loc[d]
        return Estimate.of(f"recovered_{d}d", r["share"], r["lower"], r["upper"], n=int(r["failed"]),
                           reason=f"no failed attempt at least {d} days before as_of", interval="bootstrap over accounts")

    def metrics(self) -> dict:
        return {f"{d}d": self.estimate(int(d)).brief() for d in self.table["days"]} if len(self.table) else {}


def _failed_with_delay(attempts: pd.DataFrame) -> pd.DataFrame:
    """Each failed attempt with the days to the same customer's next succeeded attempt on or after its day."""
    a = attempts.sort_values(["customer_id", "date"], kind="stable")
    ok = a[a["status"] == "succeeded"][["customer_id", "date"]].rename(columns={"date": "next_ok"})
    failed = a[a["status"] == "failed"][["customer_id", "date"]].reset_index(drop=True)
    if not len(failed):
        return failed.assign(delay=pd.Series(dtype=float))
    m = pd.merge_asof(failed.sort_values("date"), ok.sort_values("next_ok"), left_on="date", right_on="next_ok",
                      by="customer_id", direction="forward", allow_exact_matches=True)
    m["delay"] = (m["next_ok"] - m["date"]).dt.days.astype(float)
    return m.sort_values(["customer_id", "date"], kind="stable").reset_index(drop=True)[["customer_id", "date", "delay"]]


def dunning_recovery(ds: Dataset, days=(7, 14, 30), *, n_boot: int = 400, alpha: float = 0.05,
                     seed: int = 0) -> DunningRecovery:
    """The share of failed attempts recovered within each of ``days`` (module docstring)."""
    days = tuple(int(d) for d in days)
    attempts = getattr(ds, "payment_attempts", None)
    if ds.layout == "purchase_log":
        return DunningRecovery(pd.DataFrame(columns=["days"]), pd.DataFrame(), n_boot, NOT_APPLICABLE_LOG)
    if attempts is None:
        return DunningRecovery(pd.DataFrame(columns=["days"]), pd.DataFrame(), n_boot, NO_PAYMENTS)
    f = _failed_with_delay(attempts)
    if not len(f):
        return DunningRecovery(pd.DataFrame(columns=["days"]), f, n_boot, NO_FAILED)
    as_of = pd.Timestamp(ds.as_of)
    codes, uniq = pd.factorize(f["customer_id"])
    vals = []
    for d in days:
        eligible = (f["date"] <= as_of - pd.Timedelta(days=d)).to_numpy()
        rec = eligible & (f["delay"].to_numpy() <= d)
        vals += [eligible.astype(float), rec.astype(float)]
    X = account_sums(codes, len(uniq), np.column_stack(vals))
    rng = np.random.default_rng(seed)
    (R,) = replicate_sums(count_weights(rng, len(uniq), n_boot, width=max(len(uniq), X.shape[1])), X)
    rows = []
    for j, d in enumerate(days):
        n, k = X[:, 2 * j].sum(), X[:, 2 * j + 1].sum()
        share = k / n if n else np.nan
        with np.errstate(invalid="ignore", divide="ignore"):
            boot = R[:, 2 * j + 1] / R[:, 2 * j]
        lo, hi = percentile_interval(boot, alpha, finite=True, min_replicates=10, point=share) if n else (np.nan, np.nan)
        rows.append({"days": d, "failed": int(n), "recovered": int(k), "share": share, "lower": lo, "upper": hi})
    return DunningRecovery(pd.DataFrame(rows), f, n_boot)


BILLING_COLUMNS = ["customer_id", "mrr", "last_paid_month", "failed_since", "failed_attempts", "last_attempt",
                   "days_since_last_attempt"]


def billing_list(ds: Dataset, *, window_days: int = WINDOW_DAYS, pseudonymise: bool = False) -> pd.DataFrame:
    """Accounts whose latest payment attempt (within ``window_days`` before ``as_of``) failed with no success since,
    and that paid in the ``as_of`` month or the month before: the MRR at stake for the billing team, largest first
    (columns :data:`BILLING_COLUMNS`). ``pseudonymise``: keyed pseudonyms for the ids (data/pseudonym.py)."""
    attempts = getattr(ds, "payment_attempts", None)
    if attempts is None or ds.layout == "purchase_log":
        return pd.DataFrame(columns=BILLING_COLUMNS)
    as_of = pd.Timestamp(ds.as_of)
    a = attempts[attempts["date"] <= as_of].assign(ok=lambda x: (x["status"] == "succeeded").astype(np.int8))
    a = a.sort_values(["customer_id", "date", "ok"], kind="stable")
    last = a.groupby("customer_id").tail(1)
    failing = last[(last["ok"] == 0) & (last["date"] > as_of - pd.Timedelta(days=int(window_days)))]["customer_id"]
    last_ok = a[a["ok"] == 1].groupby("customer_id")["date"].max()
    fa = a[a["customer_id"].isin(failing) & (a["ok"] == 0)]
    fa = fa[fa["date"] > fa["customer_id"].map(last_ok).fillna(pd.Timestamp.min)]
    g = fa.groupby("customer_id")["date"].agg(["min", "max", "size"])
    from .grouped import panel_last

    # each failing account's last paid month and its MRR, read in the engine (the panel's rows stay there)
    lp = panel_last(ds, ids=g.index).set_index("customer_id").reindex(g.index.astype(str))
    recent = (lp["m"] >= ds.as_of_m - 1).to_numpy()
    g, lp = g[recent], lp[recent]
    out = pd.DataFrame({"customer_id": g.index.astype(str), "mrr": lp["mrr"].to_numpy(dtype=float),
                        "last_paid_month": month_start(lp["m"].to_numpy(dtype=np.int64)).dt.strftime("%Y-%m").to_numpy(),
                        "failed_since": g["min"].dt.strftime("%Y-%m-%d").to_numpy(), "failed_attempts": g["size"].to_numpy(),
                        "last_attempt": g["max"].dt.strftime("%Y-%m-%d").to_numpy(),
                        "days_since_last_attempt": (as_of - g["max"]).dt.days.to_numpy()})
    out = out.sort_values(["mrr", "customer_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    if pseudonymise and len(out):
        from .data.pseudonym import pseudonymise_ids

        out["customer_id"] = pseudonymise_ids(out["customer_id"].to_numpy())
    return out[BILLING_COLUMNS]


# ------------------------------------------------------------------------------------------- scenario


@dataclass
class RecoveryScenario:
    """The planning scenario of the module docstring: ``kept`` (MRR kept over ``horizon`` months) and its parts
    (``failed_per_month`` f, ``kept_share`` q, ``mean_mrr`` m, ``voluntary_rate`` h), each an Estimate."""

    uplift: float
    horizon: int
    kept: Estimate
    parts: dict = field(default_factory=dict)

    def metrics(self) -> dict:
        return {"uplift": self.uplift, "horizon_months": self.horizon, "mrr_kept": self.kept.brief(),
                **{k: v.brief() for k, v in self.parts.items()}}


def _months_factor(h, horizon: int):
    """Σ_{j=1}^{H} Σ_{i=0}^{H−j} (1 − h)^i, elementwise in h."""
    h = np.asarray(h, dtype=float)
    s = 1 - h
    return sum(sum(s ** i for i in range(horizon - j + 1)) for j in range(1, horizon + 1))


def recovery_scenario(ds: Dataset, causes: ChurnCauses, recovery: DunningRecovery, *, uplift: float = 0.05,
                      horizon: int = 12, recovery_days: int = 30, n_boot: int = 400, alpha: float = 0.05,
                      seed: int = 0) -> RecoveryScenario:
    """MRR kept over ``horizon`` months if the share of failed attempts recovered within ``recovery_days`` rose
    by ``uplift`` (module docstring: the assumption and the formula)."""
    if not 0 <= uplift <= 1:
        raise ValueError(f"uplift={uplift}: a share between 0 and 1 (0.05 = 5 points)")
    why = recovery.reason or causes.reason
    if why is not None:
        return RecoveryScenario(uplift, horizon, Estimate.missing(why))
    cur = recovery.estimate(recovery_days)
    if cur.defined:
        uplift = float(min(uplift, 1 - cur.estimate))
    as_of_m = int(np.asarray(month_index(pd.Series([pd.Timestamp(ds.as_of_month)])))[0])
    f = recovery.attempts
    fm = np.asarray(month_index(f["date"]))
    last12 = fm > as_of_m - 12
    unrec = ~(f["delay"].to_numpy() <= recovery_days)
    c = causes.churns[causes.churns["cause"].notna()]
    cm = np.asarray(month_index(pd.to_datetime(c["month"])))
    pf = (c["cause"] == PAYMENT_FAILURE).to_numpy()
    # an unrecovered failure is lost when its account's payment-failure churn falls in the attempt's month or the next
    pf_months = set(zip(c["customer_id"][pf], cm[pf]))
    lost = np.array([(cid, m) in pf_months or (cid, m + 1) in pf_months for cid, m in zip(f["customer_id"], fm)], bool)
    # at-risk customer-months: paid months followed by a month that could be observed (before as_of's month),
    # counted per customer in the engine (grouped.panel_months); the panel's customers in its order, that of the
    # spells (both sorted by customer)
    from .grouped import panel_months

    pm = panel_months(ds, as_of_m)
    order = pd.Index(pd.unique(ds.spells["customer_id"].astype(str)))
    pm = pm.iloc[np.argsort(order.get_indexer(pm["customer_id"]), kind="stable")]
    ids = pd.Index(pd.unique(pd.concat([f["customer_id"], c["customer_id"], pm["customer_id"]], ignore_index=True)))
    k = len(ids)
    risk = np.zeros(k)
    risk[ids.get_indexer(pm["customer_id"])] = pm["before"].to_numpy(dtype=float)
    cols = [account_sums(ids.get_indexer(f["customer_id"]), k, last12.astype(float)),          # failed, last 12 months
            account_sums(ids.get_indexer(f["customer_id"]), k, (last12 & unrec).astype(float)),  # unrecovered
            account_sums(ids.get_indexer(f["customer_id"]), k, (last12 & unrec & lost).astype(float)),  # and lost
            account_sums(ids.get_indexer(c["customer_id"]), k, (pf * np.nan_to_num(c["mrr"].to_numpy(float)))),
            account_sums(ids.get_indexer(c["customer_id"]), k, pf.astype(float)),
            account_sums(ids.get_indexer(c["customer_id"]), k, (~pf).astype(float)),           # voluntary churns
            risk]                                                                                # at-risk months
    X = np.column_stack(cols)

    def parts(S):
        S = np.atleast_2d(S)
        with np.errstate(invalid="ignore", divide="ignore"):
            fpm = S[:, 0] / 12
            q = np.minimum(S[:, 2] / S[:, 1], 1.0)
            m = S[:, 3] / S[:, 4]
            h = S[:, 5] / S[:, 6]
        return fpm, q, m, h, uplift * fpm * q * m * _months_factor(h, horizon)

    point = [float(v[0]) for v in parts(X.sum(axis=0))]
    rng = np.random.default_rng(seed)
    (R,) = replicate_sums(count_weights(rng, k, n_boot, width=max(k, X.shape[1])), X)
    reps = parts(R)
    names = ["failed_per_month", "kept_share", "mean_mrr", "voluntary_rate", "kept"]
    est = {}
    for name, pt, rep in zip(names, point, reps):
        if not np.isfinite(pt):
            est[name] = Estimate.missing(NO_RECENT, name)
            continue
        lo, hi = percentile_interval(rep, alpha, finite=True, min_replicates=10, point=pt)
        est[name] = Estimate(name, pt, lo, hi, interval="bootstrap over accounts")
    kept = est.pop("kept")
    return RecoveryScenario(uplift, horizon, kept, est)
