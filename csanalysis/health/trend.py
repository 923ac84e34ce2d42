"""Health over time: the band mix per scoring month, the accounts that declined, and the signals that moved.

**Band shares per scoring month.** Each past month-end *T* (the last ``months`` scoring months up to the
report's, from the third month of data on, as :func:`csanalysis.health.churn_risk` begins its history) is scored
as the report scores its own date: the signals read data up to the end of *T* only
(:func:`csanalysis.health.signals`) and the scorecard in force (the run's scorecard file) gives each paying
account its points and band. For each month and band:

* the share of accounts, with a Wilson interval (k accounts of the n paying in *T*);
* the share of MRR, Σ MRR in the band ÷ Σ MRR, a ratio estimate whose interval is the linearised (sandwich)
  one: Var = n/(n−1) · Σ mᵢ² (yᵢ − R)² / (Σ mᵢ)², with mᵢ the account's MRR, yᵢ = 1 in the band and R the share
  (the same as a weighted least-squares mean of yᵢ with weights mᵢ and HC1 errors). The intervals describe the
  month-to-month noise of a book of this size; they are not a survey's sampling error.

**The declined list.** The current list is compared with the previous one: the archived list of the previous
run when there is one (:func:`csanalysis.health.latest_archived`, or the ``previous_list`` given), else the list
the same machinery gives at the previous scoring month (:func:`csanalysis.health.churn_risk` at *T* − 1 with
the models in force then, ranked as the current list). An account on both lists has **declined** when its
scorecard band worsened (good → average or poor, average → poor) or its risk rank rose by at least
``min_rank_shift`` of the list: its rank as a share of the accounts ranked (1 % = among the riskiest
hundredth) fell by that much (lists of different sizes compare by this share, not by the raw rank).

**The signals that changed.** For each declined account, the signals at the previous list's scoring month (read
from the data up to that month's end, as then) are set against today's, and each move for the worse beyond its
threshold (:data:`CHANGE_RULES`) is named in words (messages ``health.trend.change.<signal>``): logins fell by
a quarter or more, fewer active users (by one and a fifth or more), two or more features fewer, no login for
14 days or more longer, a failed payment appeared, the NPS category dropped, MRR fell by 5 % or more, fewer
seats, the renewal came within 90 days.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from ..data import Dataset
from ..estimate import Estimate
from ..grouped import customer_parts
from ..periods import month_index, month_label
from ..result import TableSummary
from ..stats.proportion import wilson
from .analysis import PART_CUSTOMERS, churn_risk
from .risklist import risk_list
from .scorecard import Scorecard
from .signals import ATTRIBUTES, TOUCH_MODELS, reference_date, scoring_month, signals, signals_by_part

__all__ = ["BANDS", "CHANGE_RULES", "DECLINED_COLUMNS", "BandHistory", "Declined", "HealthTrend", "band_history",
           "changed_signals", "declined_accounts", "declined_layout", "health_trend", "ratio_share"]

BANDS = ("good", "average", "poor")
BAND_RANK = {"good": 0, "average": 1, "poor": 2}  # larger is worse
TREND_MONTHS = 12  # scoring months shown by default
MIN_RANK_SHIFT = 0.10  # a rise of a tenth of the list counts as a worse rank
NPS_RANK = {"promoter": 2, "passive": 1, "none": 1, "detractor": 0}  # a first answer as detractor is a drop
RENEWAL_DAYS = 90

# signal → (message key, the test of a move for the worse given before and after arrays); thresholds in the docstring
CHANGE_RULES: dict[str, tuple[str, Callable]] = {
    "logins": ("health.trend.change.logins", lambda b, a: (b > 0) & (a <= 0.75 * b) & (b - a >= 1)),
    "active_users": ("health.trend.change.active_users", lambda b, a: (b - a >= 1) & (a <= 0.8 * b)),
    "features_used": ("health.trend.change.features_used", lambda b, a: b - a >= 2),
    "days_since_login": ("health.trend.change.days_since_login", lambda b, a: (a - b >= 14) & (a >= 14)),
    "failed_payments": ("health.trend.change.failed_payments", lambda b, a: a > b),
    "nps_category": ("health.trend.change.nps_category", None),  # ordered categories (NPS_RANK)
    "mrr": ("health.trend.change.mrr", lambda b, a: (b > 0) & (a <= 0.95 * b)),
    "seats": ("health.trend.change.seats", lambda b, a: a < b),
    "days_to_renewal": ("health.trend.change.renewal", lambda b, a: (b > RENEWAL_DAYS) & (a <= RENEWAL_DAYS) & (a >= 0)),
}

CHANGE_TEMPLATES = {
    "health.trend.change.logins": "logins fell from {before} to {after} a month",
    "health.trend.change.active_users": "active users fell from {before} to {after}",
    "health.trend.change.features_used": "features used fell from {before} to {after}",
    "health.trend.change.days_since_login": "no login for {after} days (was {before})",
    "health.trend.change.failed_payments": "failed payment(s) appeared: {after} in the last 3 months (was {before})",
    "health.trend.change.nps_category": "NPS category dropped from {before} to {after}",
    "health.trend.change.mrr": "MRR fell from {before} to {after}",
    "health.trend.change.seats": "seats fell from {before} to {after}",
    "health.trend.change.renewal": "renewal now within {after} days (was {before})",
    "health.trend.change.none": "no single signal moved beyond its threshold",
    "health.trend.change.unknown": "the signals of the previous date are not in the data",
    "health.trend.change.separator": "; ",
}

# The CSV layout of the declined list (declined_list.csv), in this order.
DECLINED_COLUMNS = {
    "scoring_date": "reference date of the current list",
    "previous_date": "reference date of the list it is compared with",
    "rank": "rank by risk in the current list (1 = highest risk)",
    "previous_rank": "rank by risk in the previous list",
    "top_share": "rank ÷ accounts ranked in the current list (1% = among the riskiest hundredth)",
    "previous_top_share": "the same in the previous list",
    "touch_model": "high, low or tech touch",
    "customer_id": "account identifier (a keyed pseudonym when pseudonymised)",
    "csm_owner": "customer-success manager",
    "scorecard_band": "scorecard band now",
    "previous_band": "scorecard band in the previous list",
    "band_worsened": "1 when the band worsened (good → average or poor, average → poor), else 0",
    "rank_worsened": "1 when the rank rose by at least the threshold share of the list, else 0",
    "churn_probability": "churn probability now (empty when ranked by scorecard points)",
    "previous_probability": "churn probability in the previous list",
    "mrr": "monthly recurring revenue in the scoring month",
    "on_list": "1 when within the team's capacity on the current list, else 0",
    "changed_signals": "the signals that moved for the worse since the previous list, in words",
}

SOURCES = ("archive", "previous_month")
SHOWN = ("rank", "previous_rank", "customer_id", "touch_model", "scorecard_band", "previous_band", "mrr",
         "changed_signals")  # the report's columns (Declined.shown)


def _default_translate(key: str, **values) -> str:
    return CHANGE_TEMPLATES[key].format(**values) if values else CHANGE_TEMPLATES[key]


def _num(v) -> str:
    return f"{v:,.0f}"


# ============================================================================ band shares


def ratio_share(weights: np.ndarray, inside: np.ndarray, alpha: float = 0.05) -> tuple[float, float, float]:
    """Share R = Σ wᵢyᵢ / Σ wᵢ of the weight inside (``inside``: 0/1) with its linearised 1 − ``alpha`` interval
    (see the module docstring), clipped to [0, 1] (never past the share itself); NaN when the total weight is not
    positive or n < 2."""
    from scipy.stats import norm

    w, y = np.asarray(weights, dtype=float), np.asarray(inside, dtype=float)
    n, total = len(w), float(w.sum())
    if n < 2 or not total > 0:
        return (math.nan,) * 3
    r = float((w * y).sum() / total)
    se = math.sqrt(n / (n - 1) * float(((w * (y - r)) ** 2).sum())) / total
    z = float(norm.ppf(1 - alpha / 2))
    # kept within [0, 1] and around the share (a purchase log's month may sum to zero or below: R can leave [0, 1])
    return r, min(r, max(0.0, r - z * se)), max(r, min(1.0, r + z * se))


@dataclass
class BandHistory(TableSummary):
    """Band shares of accounts and MRR per scoring month (:func:`band_history`). :attr:`summary` is ``table``
    (:meth:`print_summary`, ``_repr_html_``), :meth:`conf_int` the Wilson intervals of one share."""

    table: pd.DataFrame  # one row per month and band (see band_history)
    scored: pd.DataFrame = field(repr=False)  # the latest month's accounts: customer_id, m, scoring_date, mrr, points, band
    alpha: float = 0.05
    reason: str | None = None  # why there is no history (no scoring month)
    code: str | None = None  # the reason's message code (health.trend.why.<code>)

    def why(self, translate: Callable | None = None) -> str | None:
        if self.reason is None or translate is None or self.code is None:
            return self.reason
        return translate(f"health.trend.why.{self.code}")

    @property
    def summary(self) -> pd.DataFrame:
        """One row per month and band: accounts and MRR with their shares and Wilson intervals (``table``)."""
        return self.table

    def conf_int(self, share: str = "account_share") -> pd.DataFrame:
        """The intervals (``lower``, ``upper``) of ``share`` (``account_share`` or ``mrr_share``) by month and band."""
        if share not in ("account_share", "mrr_share"):
            raise ValueError(f"share={share!r}: use 'account_share' or 'mrr_share'")
        t = self.table.set_index(["month", "band"]).reindex(columns=[f"{share}_lower", f"{share}_upper"])
        return t.set_axis(["lower", "upper"], axis=1).astype(float)

    @property
    def share_columns(self) -> list[str]:
        """The share columns of :meth:`wide` (each with its ``lower`` and ``upper``)."""
        return [f"{b}_{what}" for b in BANDS for what in ("accounts", "mrr")]

    @property
    def months(self) -> list[str]:
        return sorted(self.table["month"].unique()) if len(self.table) else []

    def wide(self) -> pd.DataFrame:
        """One row per scoring month: accounts paying, then per band the share of accounts and of MRR with their
        ``lower``/``upper`` columns (``<band>_accounts``, ``<band>_accounts lower`` …, ``<band>_mrr`` …)."""
        t = self.table
        out = t.groupby("month", sort=True)[["accounts_total", "mrr_total"]].first()
        for b in BANDS:
            s = t[t["band"] == b].set_index("month")
            for what, col in (("accounts", "account_share"), ("mrr", "mrr_share")):
                out[f"{b}_{what}"] = s[col]
                out[f"{b}_{what} lower"] = s[f"{col}_lower"]
                out[f"{b}_{what} upper"] = s[f"{col}_upper"]
        return out.reset_index()

    def metrics(self) -> dict:
        """The latest month's shares and the first month's, each with its interval (``metrics.json``)."""
        if not len(self.table):
            return {"months": [], "reason": self.reason}

        def at(month):
            rows = self.table[self.table["month"] == month].set_index("band")
            return {b: {"accounts": int(rows.at[b, "accounts"]),
                        "account_share": _est(rows.at[b, "account_share"], rows.at[b, "account_share_lower"],
                                              rows.at[b, "account_share_upper"]),
                        "mrr_share": _est(rows.at[b, "mrr_share"], rows.at[b, "mrr_share_lower"],
                                          rows.at[b, "mrr_share_upper"])} for b in BANDS}

        ms = self.months
        return {"months": [ms[0], ms[-1]], "latest": at(ms[-1]), "first": at(ms[0]), "reason": None}


def _est(e, lo, hi) -> dict:
    """A band share of ``metrics.json``: the full null when the share is undefined (no MRR), bounds and all."""
    if e is None or not np.isfinite(e):
        return Estimate.missing("no MRR in the month").to_dict(details=())
    return Estimate("", float(e), lo, hi).brief()


def band_history(ds: Dataset, scorecard=None, *, until=None, months: int = TREND_MONTHS,
                 alpha: float = 0.05, max_rows: int = 2_000_000, history=None,
                 part_customers: int | None = None) -> BandHistory:
    """Share of accounts and of MRR in each scorecard band at each of the last ``months`` scoring months up to
    the scoring month of ``until`` (a scoring date; default the as_of month), see the module docstring.

    ``table``: one row per month and band: ``month`` (YYYY-MM), ``scoring_date``, ``band``, ``accounts``,
    ``accounts_total``, ``account_share`` with ``account_share_lower``/``_upper`` (Wilson), ``mrr``, ``mrr_total``,
    ``mrr_share`` with ``mrr_share_lower``/``_upper``. ``scored``: the accounts of the latest month with their
    points and band. The signals are read ``max_rows`` account-months at a time (whole months), and with
    ``part_customers`` a part of the customers at a time (:func:`csanalysis.grouped.customer_parts`; a month's
    shares then sum its accounts of every part, in another order: the same numbers to rounding).

    Parameters
    ----------
    ds : Dataset
        The loaded data.
    scorecard : Scorecard, path or None
        The scorecard (None: the default one).
    until : date-like, optional
        The last scoring date (None: the as_of month's).
    months : int
        Scoring months to show.
    alpha : float
        1 − the Wilson intervals' confidence level.
    max_rows : int
        Account-months of signals read at a time.
    history : SignalHistory, optional
        The rows a churn-risk analysis read (``ChurnRisk.history``): its signals and points of these months are
        used instead of reading them again when they are the same rows (the same Dataset and scorecard, months
        covered, every account); the same numbers either way.
    part_customers : int, optional
        Customers read at a time (None: every customer at once).

    Returns
    -------
    BandHistory
        ``table`` and ``scored`` as described above.
    """
    if months < 1:
        raise ValueError(f"months={months}: show at least one scoring month")
    sc = scorecard if isinstance(scorecard, Scorecard) else Scorecard.from_yaml(scorecard)
    T = scoring_month(ds, until)
    first = max(ds.data_start_m + 2, T - months + 1)
    cols = ["customer_id", "m", "scoring_date", "mrr", "scorecard_points", "scorecard_band"]
    if first > T:
        return BandHistory(pd.DataFrame(columns=["month", "band"]), pd.DataFrame(columns=cols), alpha,
                           "the data hold fewer than three months up to the scoring date", "short_history")
    per_month, scored = {}, []  # month → its (band, MRR) arrays, one pair per part
    for frame, pts in _scored(ds, sc, np.arange(first, T + 1), max_rows, history, part_customers):
        part = frame[["customer_id", "m", "scoring_date", "mrr"]].assign(scorecard_points=pts, scorecard_band=sc.band(pts))
        del frame
        for m, g in part.groupby("m", sort=True):
            per_month.setdefault(int(m), []).append((g["scorecard_band"].to_numpy(), g["mrr"].to_numpy(dtype=float)))
        if (part["m"] == T).any():
            scored.append(part[part["m"] == T])
    rows = []
    for m in sorted(per_month):
        arrays = per_month[m]
        band, mrr = (arrays[0] if len(arrays) == 1 else
                     (np.concatenate([a[0] for a in arrays]), np.concatenate([a[1] for a in arrays])))
        rows += _shares(m, band, mrr, alpha)
    scored = (None if not scored else scored[0] if len(scored) == 1
              else pd.concat(scored).sort_values("customer_id", kind="stable"))
    if not rows:
        return BandHistory(pd.DataFrame(columns=["month", "band"]), pd.DataFrame(columns=cols), alpha,
                           "no account is paying in these months", "no_accounts")
    if scored is None:
        scored = pd.DataFrame(columns=cols)
    return BandHistory(pd.DataFrame(rows), scored.reset_index(drop=True), alpha)


def _shares(m: int, band: np.ndarray, mrr: np.ndarray, alpha: float) -> list[dict]:
    """The table rows of one scoring month (see :func:`band_history`)."""
    n, total, out = len(band), float(mrr.sum()), []
    for b in BANDS:
        inside = band == b
        k = int(inside.sum())
        lo, hi = wilson(k, n, alpha, exact_ends=True)
        r, rlo, rhi = ratio_share(mrr, inside, alpha)
        out.append({"month": month_label(m), "scoring_date": reference_date(m).date(), "band": b,
                    "accounts": k, "accounts_total": n, "account_share": k / n if n else math.nan,
                    "account_share_lower": float(lo), "account_share_upper": float(hi), "mrr": float(mrr[inside].sum()),
                    "mrr_total": total, "mrr_share": r, "mrr_share_lower": rlo, "mrr_share_upper": rhi})
    return out


def _scored(ds: Dataset, sc: Scorecard, months: np.ndarray, max_rows: int, history=None,
            part_customers: int | None = None):
    """The signals of ``months`` (every account) and their scorecard points, in runs of whole months: from
    ``history`` when it holds these rows, else read :func:`_month_chunks` at a time (of each part of the
    customers, :func:`csanalysis.grouped.customer_parts`, with ``part_customers``)."""
    kept = _history_rows(history, ds, months[-1], sc) if history is not None else None
    if kept is not None and len(kept[0]) and kept[0]["m"].iloc[0] <= months[0]:
        frame, pts = kept
        lo = int(np.searchsorted(frame["m"].to_numpy(), months[0], side="left"))
        yield frame.iloc[lo:], pts[lo:]
        return
    parts = [ds] if part_customers is None else customer_parts(ds, max_customers=part_customers)
    for part in parts:
        for chunk in _month_chunks(part, months, max_rows):
            frame = signals(part, chunk, attributes=())
            yield frame, sc.points(frame)


def _history_rows(history, ds: Dataset, T: int, sc: Scorecard):
    """``history.rows`` up to ``T`` for signals read without the model's own attributes: None when the scorecard
    reads a column that only the history's frame has (a reading without them would fail, as it should)."""
    own = set(history.attributes) - {"touch_model", "csm_owner", *ATTRIBUTES}
    if any(ms.name in own | {"churned", "closed"} for ms in sc.measures):
        return None
    return history.rows(ds, T, scorecard=sc)


def _month_chunks(ds: Dataset, months: np.ndarray, max_rows: int) -> list[np.ndarray]:
    """Consecutive runs of ``months`` whose paying account-months add up to at most ``max_rows`` (one month at
    least), so the signal frames stay small on large data (all months at once hold every signal of every
    account-month)."""
    per = pd.Series(month_index(ds.panel["month"])).value_counts().reindex(months, fill_value=0).to_numpy()
    chunks, start, size = [], 0, 0
    for i, n in enumerate(per):
        if i > start and size + n > max_rows:
            chunks.append(months[start:i])
            start, size = i, 0
        size += n
    chunks.append(months[start:])
    return chunks


# ============================================================================ the declined list


@dataclass
class Declined(TableSummary):
    """Accounts whose band or risk rank worsened since the previous list (:func:`declined_accounts`).
    :attr:`summary` is ``table`` (:meth:`print_summary`, ``_repr_html_``)."""

    table: pd.DataFrame  # the layout of DECLINED_COLUMNS, in current rank order
    source: str | None  # archive (the previous run's list) or previous_month (computed); None without one
    previous_date: pd.Timestamp | None
    compared: int = 0  # accounts on both lists
    min_rank_shift: float = MIN_RANK_SHIFT
    reason: str | None = None  # why there is no comparison
    code: str | None = None  # the reason's message code (health.trend.why.<code>)

    @property
    def summary(self) -> pd.DataFrame:
        """The declined accounts in current rank order (``table``, the layout of :data:`DECLINED_COLUMNS`)."""
        return self.table

    def why(self, translate: Callable | None = None) -> str | None:
        if self.reason is None or translate is None or self.code is None:
            return self.reason
        return translate(f"health.trend.why.{self.code}")

    def shown(self, top: int = 10, translate: Callable | None = None) -> pd.DataFrame:
        """The first ``top`` rows for the report: ranks, account, team, bands (``health.band.<band>``), MRR and the
        changed signals; teams and bands in words when ``translate`` is given (``health.touch.<team>``)."""
        t = self.table.head(top)[list(SHOWN)]
        if translate is None:
            return t.reset_index(drop=True)
        team = t["touch_model"].fillna("unknown")
        return t.assign(scorecard_band=t["scorecard_band"].map(lambda b: translate(f"health.band.{b}")),
                        previous_band=t["previous_band"].map(lambda b: translate(f"health.band.{b}")),
                        touch_model=team.map(lambda v: translate(f"health.touch.{v}")
                                             if v in (*TOUCH_MODELS, "unknown") else v)).reset_index(drop=True)

    def metrics(self) -> dict:
        t = self.table
        count = lambda c: int(t[c].sum()) if len(t) else 0  # noqa: E731
        return {"source": self.source,
                "previous_date": None if self.previous_date is None else str(self.previous_date.date()),
                "compared": self.compared, "declined": int(len(t)), "band_worsened": count("band_worsened"),
                "rank_worsened": count("rank_worsened"), "declined_on_list": count("on_list"),
                "min_rank_shift": self.min_rank_shift, "reason": self.reason}


def changed_signals(before: pd.DataFrame, after: pd.DataFrame, *, translate: Callable | None = None) -> list[str]:
    """For rows aligned one to one, the signals that moved for the worse (:data:`CHANGE_RULES`) in words joined by
    ``health.trend.change.separator`` ('; ' in English); ``health.trend.change.none`` when none did,
    ``health.trend.change.unknown`` where the earlier row has no signals."""
    tr = translate or _default_translate
    n = len(after)
    texts: list[list[str]] = [[] for _ in range(n)]
    known = before["customer_id"].notna().to_numpy() if "customer_id" in before else np.ones(n, bool)
    for sig, (key, test) in CHANGE_RULES.items():
        if sig not in before.columns or sig not in after.columns:
            continue
        if sig == "nps_category":
            b = before[sig].astype(object).to_numpy()
            a = after[sig].astype(object).to_numpy()
            rb = np.array([NPS_RANK.get(v, np.nan) if isinstance(v, str) else np.nan for v in b], dtype=float)
            ra = np.array([NPS_RANK.get(v, np.nan) if isinstance(v, str) else np.nan for v in a], dtype=float)
            hit = ra < rb  # NaN compares False
            name = (lambda v: tr(f"health.nps.{v}")) if translate is not None else (lambda v: v)
            for i in np.flatnonzero(hit):
                texts[i].append(tr(key, before=name(b[i]), after=name(a[i])))
            continue
        b = pd.to_numeric(before[sig], errors="coerce").to_numpy(dtype=float)
        a = pd.to_numeric(after[sig], errors="coerce").to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            hit = test(b, a) & np.isfinite(a) & np.isfinite(b)
        for i in np.flatnonzero(hit):
            texts[i].append(tr(key, before=_num(b[i]), after=_num(a[i])))
    sep = tr("health.trend.change.separator")
    return [sep.join(t) if t else tr("health.trend.change.unknown" if not known[i] else "health.trend.change.none")
            for i, t in enumerate(texts)]


def declined_accounts(current: pd.DataFrame, previous: pd.DataFrame, *, source: str,
                      current_signals: pd.DataFrame | None = None, previous_signals: pd.DataFrame | None = None,
                      min_rank_shift: float = MIN_RANK_SHIFT, translate: Callable | None = None) -> Declined:
    """Compare two risk lists (the layout of :data:`csanalysis.health.LIST_COLUMNS`, every ranked account):
    the accounts on both whose band or rank worsened (module docstring). ``current_signals`` and
    ``previous_signals``: the signals (:func:`csanalysis.health.signals` columns) of the accounts at each list's
    scoring month, with ``customer_id`` as the lists write it; without them ``changed_signals`` is empty.

    Parameters
    ----------
    current, previous : DataFrame
        The two risk lists (every ranked account).
    source : str
        Where ``previous`` came from: ``"archive"`` (the previous run's list) or ``"previous_month"`` (computed).
    current_signals, previous_signals : DataFrame, optional
        The signals of the accounts at each list's scoring month.
    min_rank_shift : float
        Smallest rise in risk rank, as a share of the list, that counts as a worse rank.
    translate : callable, optional
        The report's translator for the changed signals (None: English).

    Returns
    -------
    Declined
        The accounts whose band or rank worsened and their changed signals.
    """
    if source not in SOURCES:
        raise ValueError(f"source={source!r}: use one of {SOURCES}")
    if not 0 <= min_rank_shift <= 1:
        raise ValueError(f"min_rank_shift={min_rank_shift}: a share of the list between 0 and 1")
    for name, lst in (("current", current), ("previous", previous)):
        need = {"customer_id", "rank", "scorecard_band", "scoring_date"} - set(lst.columns)
        if need:
            raise ValueError(f"{name} list: missing column(s) {sorted(need)}; expected the layout of LIST_COLUMNS")
    empty = pd.DataFrame(columns=list(DECLINED_COLUMNS))
    prev_date = pd.Timestamp(previous["scoring_date"].iloc[0]) if len(previous) else None
    if not len(current) or prev_date is None:
        return Declined(empty, source, prev_date, 0, min_rank_shift, "one of the lists holds no account", "empty")
    now_date = pd.Timestamp(current["scoring_date"].iloc[0])
    if prev_date >= now_date:
        return Declined(empty, source, prev_date, 0, min_rank_shift,
                        f"the previous list ({prev_date.date()}) is not earlier than this one ({now_date.date()})",
                        "not_earlier")
    cur = current.assign(customer_id=current["customer_id"].astype(str),
                         top_share=current["rank"] / len(current))
    prev = previous.assign(customer_id=previous["customer_id"].astype(str),
                           top_share=previous["rank"] / len(previous))
    dup = prev["customer_id"].duplicated()
    if dup.any():
        raise ValueError(f"previous list: account(s) listed twice: {sorted(prev.loc[dup, 'customer_id'])[:5]}")
    keep = {"rank": "previous_rank", "top_share": "previous_top_share", "scorecard_band": "previous_band",
            "churn_probability": "previous_probability"}
    prev = prev[["customer_id", *[c for c in keep if c in prev.columns]]].rename(columns=keep)
    both = cur.merge(prev, on="customer_id", how="inner", validate="one_to_one")
    b_now = both["scorecard_band"].map(BAND_RANK).to_numpy(dtype=float)
    b_then = both["previous_band"].map(BAND_RANK).to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        band_worse = b_now > b_then
    rank_worse = (both["previous_top_share"] - both["top_share"]).to_numpy() >= min_rank_shift - 1e-12
    out = both[band_worse | rank_worse].copy()
    out["band_worsened"] = band_worse[band_worse | rank_worse].astype(int)
    out["rank_worsened"] = rank_worse[band_worse | rank_worse].astype(int)
    out["previous_date"] = prev_date.date()
    if "previous_probability" not in out.columns:
        out["previous_probability"] = np.nan
    if "on_list" not in out.columns:
        out["on_list"] = 0
    if "csm_owner" not in out.columns:
        out["csm_owner"] = None
    if "touch_model" not in out.columns:
        out["touch_model"] = None
    out = out.sort_values("rank", kind="stable").reset_index(drop=True)
    if current_signals is not None and previous_signals is not None and len(out):
        ids = out[["customer_id"]]
        after = ids.merge(_by_id(current_signals), on="customer_id", how="left")
        before = ids.merge(_by_id(previous_signals).rename(columns={"customer_id": "_id"}),
                           left_on="customer_id", right_on="_id", how="left").drop(columns=["customer_id"])
        before = before.rename(columns={"_id": "customer_id"})
        out["changed_signals"] = changed_signals(before, after, translate=translate)
    else:
        out["changed_signals"] = ""
    return Declined(out[list(DECLINED_COLUMNS)], source, prev_date, int(len(both)), min_rank_shift)


def _by_id(sig: pd.DataFrame) -> pd.DataFrame:
    s = sig.assign(customer_id=sig["customer_id"].astype(str))
    return s.drop_duplicates("customer_id", keep="last")


# ============================================================================ the whole section


@dataclass
class HealthTrend:
    """Band shares per scoring month and the declined list (:func:`health_trend`)."""

    history: BandHistory
    declined: Declined
    previous_list: pd.DataFrame | None = field(repr=False, default=None)

    def metrics(self) -> dict:
        return {"band_history": self.history.metrics(), "declined": self.declined.metrics()}


def health_trend(ds: Dataset, result, lst: pd.DataFrame, *, previous: pd.DataFrame | None = None,
                 by: str = "model", rank_by: str = "probability", pseudonymise: bool = False,
                 months: int = TREND_MONTHS, min_rank_shift: float = MIN_RANK_SHIFT,
                 translate: Callable | None = None, alpha: float = 0.05) -> HealthTrend:
    """The churn-risk report's health over time for a :class:`csanalysis.health.ChurnRisk` ``result`` and its list
    ``lst`` (:func:`csanalysis.health.risk_list`): :func:`band_history` up to its scoring month, and the declined
    list against ``previous`` (the archived list of the previous run, read with
    :func:`csanalysis.health.read_list`) or, without one, against the list of the previous scoring month ranked
    the same way (``by``, ``rank_by``, the result's horizon, capacity, scorecard and model settings).
    ``pseudonymise``: the lists hold keyed pseudonyms of the Dataset's ids. The signals of the previous month's
    list, of the band history and of the previous month come from the rows the analysis read
    (``result.history``, taken off the result here) where they are the same rows, else from the data.

    Parameters
    ----------
    ds : Dataset
        The loaded data.
    result : ChurnRisk
        The churn-risk analysis.
    lst : DataFrame
        Its risk list.
    previous : DataFrame, optional
        The archived list of the previous run (None: recompute the previous scoring month's).
    by, rank_by : str
        How the lists rank (as :func:`csanalysis.health.risk_list`).
    pseudonymise : bool
        The lists hold keyed pseudonyms.
    months : int
        Scoring months of the band history.
    min_rank_shift : float
        Smallest rise in risk rank, as a share of the list, that counts as a worse rank.
    translate : callable, optional
        The report's translator (None: English).
    alpha : float
        1 − the intervals' confidence level.

    Returns
    -------
    HealthTrend
        The band history and the declined accounts.
    """
    # the rows the analysis read (None when it drew a sample or did not keep them): read here, not held past here
    held, result.history = result.history, None
    # a result fitted on a sample (large data) read every account a part at a time: so does the trend
    parts = result.part_customers if result.sample is not None else None
    history = band_history(ds, result.scorecard, until=result.scoring_date, months=months, alpha=alpha, history=held,
                           part_customers=parts)
    raw = result.current["customer_id"]
    if pseudonymise:
        from ..data.pseudonym import pseudonymise_ids

        to_list = dict(zip(raw.astype(str), pseudonymise_ids(raw.to_numpy())))
    else:
        to_list = None

    def listed_ids(sig: pd.DataFrame) -> pd.DataFrame:
        if to_list is None:
            return sig.assign(customer_id=sig["customer_id"].astype(str))
        from ..data.pseudonym import pseudonymise_ids

        return sig.assign(customer_id=pseudonymise_ids(sig["customer_id"].to_numpy()))

    source = "archive" if previous is not None else "previous_month"
    T = result.scoring_month
    if previous is None:
        if T - 1 < ds.data_start_m:
            return HealthTrend(history, Declined(pd.DataFrame(columns=list(DECLINED_COLUMNS)), None, None, 0,
                                                 min_rank_shift, "the data start in the scoring month: there is no "
                                                 "previous month to compare with", "no_previous"))
        model = result.model
        prev_res = churn_risk(ds, scoring_date=reference_date(T - 1), horizon=result.horizon, capacity=result.capacity,
                              capacity_by=result.capacity_by, scorecard=result.scorecard,
                              calibration=(result.calibrated_scorecard.method if result.calibrated_scorecard is not None
                                           else "logistic"),
                              test_months=0, C=model.C if model is not None else 0.05,
                              attributes=model.attributes if model is not None else None, seed=result.seed,
                              alpha=result.alpha, importance=False,  # only its list is used: no importance table
                              history=held, model_ds=result.model_ds,
                              part_customers=result.part_customers or PART_CUSTOMERS)
        previous = risk_list(prev_res, by=by, rank_by=rank_by, pseudonymise=pseudonymise, translate=translate)
    need = sorted({"customer_id", "rank", "scorecard_band", "scoring_date"} - set(previous.columns))
    if need:  # a list given by hand in another layout: the section says so, the report goes on
        return HealthTrend(history, Declined(pd.DataFrame(columns=list(DECLINED_COLUMNS)), source, None, 0,
                                             min_rank_shift, f"the previous list lacks the column(s) {need}",
                                             "previous_columns"), previous)
    cur_sig = listed_ids(result.current)
    prev_sig = None
    if len(previous):
        m_prev = month_index(previous["scoring_date"].iloc[0])
        if ds.data_start_m <= m_prev < T:
            if to_list is None:
                want = set(previous["customer_id"].astype(str))
                accounts = [c for c in raw.unique() if str(c) in want]
            else:  # pseudonyms: the Dataset's ids whose pseudonyms are on the previous list
                want = set(previous["customer_id"].astype(str))
                accounts = [c for c in raw.unique() if to_list[str(c)] in want]
            kept = held.rows(ds, m_prev, scorecard=result.scorecard) if held is not None else None
            if kept is not None and len(kept[0]) and kept[0]["m"].iloc[-1] == m_prev:
                at = kept[0][kept[0]["m"].to_numpy() == m_prev]
                sig = at[at["customer_id"].isin(accounts).to_numpy()].drop(columns=["churned", "closed"])
            elif source == "previous_month" and prev_res.sample is not None:  # the signals it scored
                sig = prev_res.current[prev_res.current["customer_id"].isin(accounts).to_numpy()]
            else:
                sig = signals_by_part(ds, [m_prev], accounts=accounts, attributes=(), part_customers=parts)
            prev_sig = listed_ids(sig)
    dec = declined_accounts(lst, previous, source=source, current_signals=cur_sig, previous_signals=prev_sig,
                            min_rank_shift=min_rank_shift, translate=translate)
    if prev_sig is None and len(dec.table):
        dec.table["changed_signals"] = (translate or _default_translate)("health.trend.change.unknown")
    return HealthTrend(history, dec, previous)


def declined_layout(translate: Callable | None = None) -> pd.DataFrame:
    """The CSV layout of the declined list: column name and meaning (``health.trend.layout.<column>``)."""
    return pd.DataFrame({"column": list(DECLINED_COLUMNS),
                         "meaning": [translate(f"health.trend.layout.{c}") if translate else d
                                     for c, d in DECLINED_COLUMNS.items()]})

