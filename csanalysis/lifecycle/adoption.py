"""Adoption: utilisation and feature breadth by months since start, and the accounts whose adoption stalled.

**Months since start** (``k``): months since the start of the account's current spell (the panel's
``spell_month``: the signup month for a first spell, 0 in the first paid month; a reactivation starts again at 0).

**Utilisation** of a paid account-month = active users ÷ seats in force, where active users is the month's
``active_users`` of the usage table (the monthly maximum, data/README.md) and seats in force come from
:func:`csanalysis.data.attributes.seats_in_force` (the ``customer_attributes`` history, else ``customers.seats``).
When some paid month has no seats in force or a value that is not a whole number ≥ 0, utilisation is left out
with the error of ``seats_in_force`` as its reason (feature breadth stays). It is not capped at 1: more active users than seats in force (overage, or a seat change the export does not
record) shows as a value above 1. **Feature breadth** = the month's ``features_used`` (monthly maximum).

**Months without usage rows.** A paid month of an account with no usage row counts as no use (0 active users, 0
features), the rule of the churn-risk signals, *when the usage table covers that month* (it has rows of some
account in it). A paid month outside the usage table's first … last month is *unmeasured*: its values are missing,
it enters no curve and it breaks a stall (below). A month with 0 seats in force has no utilisation (missing).

**Curves** (:func:`adoption_curves`): per group (a segment's level, a touch model, or all accounts) and month since
start ``k`` = 0 … ``max_months``, over the paid account-months with a value: accounts, the median with its
(1 − ``alpha``) interval, the quartiles (the interquartile band). Each account gives one value per ``k`` (a
reactivated account with two spells at the same ``k``: the later spell's), so the values of a cell are independent
across accounts and the median's interval is the distribution-free order-statistic interval (the ``j``-th and
``l``-th smallest values, ``j`` = the α/2 quantile of Binomial(n, ½), ``l`` = n − j + 1; coverage ≥ 1 − α for any
continuous distribution, conservative with ties), the bootstrap over accounts without its cost. A cell with fewer
than ``min_accounts`` accounts (default :data:`MIN_ACCOUNTS`) is left out: its median would be too uncertain to
read.

**Stalled adoption** (:func:`stalled_accounts`): an account paying in each of the last ``months`` months up to the
``as_of`` month (so paying now; a churned account is never listed) whose utilisation was below ``threshold`` in
each of them (default :data:`THRESHOLD` and :data:`STALL_MONTHS`). Seats in force are taken month by month, so a
seat change inside the window counts from its month. A paid month without usage rows counts as 0 (below); an
unmeasured month or one without seats in force cannot be judged, and the account is not listed (counted as
``not_judged``). The list is sorted by MRR (largest first) in the layout of :data:`STALLED_COLUMNS`, with the ids
replaced by keyed pseudonyms when asked (data/pseudonym.py), as the churn-risk list.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..data import attributes as attrs_
from ..data.keys import IntegerPanel
from ..estimate import Estimate
from ..periods import month_index, month_start
from ..reasons import Reason

__all__ = ["THRESHOLD", "STALL_MONTHS", "MIN_ACCOUNTS", "MAX_MONTHS", "MEASURES", "STALLED_COLUMNS",
           "AdoptionMonths", "adoption_months", "Curves", "adoption_curves", "median_interval", "stalled_accounts",
           "stalled_layout", "Adoption", "adoption"]

THRESHOLD = 0.3  # utilisation below this counts as stalled
STALL_MONTHS = 3  # in each of the last this many months
MIN_ACCOUNTS = 20  # fewest accounts for a curve's month
MAX_MONTHS = 24  # months since start the curves show (0 … MAX_MONTHS)
MEASURES = ("utilisation", "features_used")

# The CSV layout of the stalled-adoption list, in this order (the list rules of the churn-risk list).
STALLED_COLUMNS = {
    "scoring_date": "reference date: the last day of the as_of month (data up to this day)",
    "rank": "rank by MRR (1 = largest MRR)",
    "customer_id": "account identifier (a keyed pseudonym when pseudonymised)",
    "touch_model": "high, low or tech touch",
    "csm_owner": "customer-success manager",
    "mrr": "monthly recurring revenue in the as_of month",
    "arr": "annual recurring revenue (12 × MRR)",
    "seats": "seats in force in the as_of month",
    "active_users": "active users in the as_of month (0 without usage rows)",
    "utilisation": "active users ÷ seats in force in the as_of month",
    "utilisation_start": "utilisation in the first month of the stall window",
    "utilisation_trend": "change of utilisation per month over the stall window (least-squares slope)",
    "utilisation_history": "utilisation in each month of the stall window in %, oldest first, separated by '; '",
    "features_used": "features used in the as_of month",
    "months_since_start": "months since the start of the account's current spell, in the as_of month",
    "stall_months": "months of the stall window (each below the threshold)",
    "threshold": "the utilisation threshold of the rule",
}


@dataclass
class AdoptionMonths:
    """The paid account-months with their adoption measures (one row per panel row): ``customer_id``, ``m``
    (month index), ``k`` (months since start), ``spell``, ``mrr``, ``seats``, ``active_users``, ``utilisation``,
    ``features_used`` (NaN where unmeasured or unavailable), ``measured`` (the usage table covers the month), ``acc``
    (the account's number, into ``accounts``), ``last_at_k`` (the row that counts for its account and k).
    The frame shares the panel's arrays (ids, months, MRR): read it, do not write into it.
    ``reason``: per measure, why it is unavailable for every row (None when available); ``coverage``: the usage
    table's first and last month (month indices) or None."""

    frame: pd.DataFrame
    reason: dict
    coverage: tuple[int, int] | None
    seats_source: str | None
    accounts: pd.Index = field(default_factory=lambda: pd.Index([], dtype=object))  # ids (text) of ``acc`` 0 … K − 1


def adoption_months(ds) -> AdoptionMonths:
    """The measures of every paid account-month (see the module docstring), vectorised: the usage rows are placed
    on the panel by integer (account, month) keys, seats in force looked up once for all rows.

    Parameters
    ----------
    ds : Dataset
        The loaded data.

    Returns
    -------
    AdoptionMonths
    """
    left_out = ds.left_out("history") if hasattr(ds, "left_out") else None
    if left_out is not None:  # a snapshot: no months to follow
        why = Reason("the data hold no history month by month (a snapshot)", left_out)
        frame = pd.DataFrame({c: pd.Series(dtype=t) for c, t in (
            ("customer_id", object), ("m", np.int64), ("k", np.int64), ("spell", np.int64), ("mrr", float),
            ("seats", float), ("active_users", float), ("utilisation", float), ("features_used", float),
            ("measured", bool), ("acc", np.int64), ("last_at_k", bool))})
        return AdoptionMonths(frame, {m: why for m in MEASURES}, None, None)
    p, keys = _panel_columns(ds)
    pm = p["m"]
    n = len(pm)
    reason = {m: None for m in MEASURES}
    u = _usage_rows(ds, keys)
    coverage = None
    au = np.full(n, np.nan)
    fu = np.full(n, np.nan)
    measured = np.zeros(n, bool)
    if u is None:
        reason = {m: Reason("the data have no usage table", "adoption.reason.no_usage") for m in MEASURES}
    elif u["coverage"] is None:
        reason = {m: Reason("the usage table has no rows up to as_of", "adoption.reason.usage_empty") for m in MEASURES}
    else:
        coverage = u["coverage"]
        measured = (pm >= coverage[0]) & (pm <= coverage[1])
        keys = u["keys"]
        pos = keys.find(u["code"], u["m"])  # the usage row's panel row (−1: not paid)
        hit = pos >= 0
        for col, out in (("active_users", au), ("features_used", fu)):
            if col not in u:
                reason["utilisation" if col == "active_users" else col] = Reason(
                    f"the usage table has no '{col}' column", "adoption.reason.no_column", column=col)
                continue
            out[measured] = 0.0  # a covered paid month without a usage row: no use
            v = u.pop(col)
            out[pos[hit]] = np.where(np.isnan(v[hit]), 0.0, v[hit])
            del v
        del keys, pos, hit, u  # the integer panel's arrays (several per panel row) are not needed past here
        if not measured.any():
            reason = {m: reason[m] or Reason("no paid month lies within the usage table's months",
                                              "adoption.reason.no_overlap") for m in MEASURES}
    src = attrs_.seats_source(ds)
    seats = np.full(n, np.nan)
    if src is None:
        reason["utilisation"] = reason["utilisation"] or Reason(
            "the data have no seats (customers.seats or a seats history)", "adoption.reason.no_seats")
    elif n:
        try:
            seats = attrs_.seats_in_force(ds, p["customer_id"], p["month"])
        except ValueError as e:  # blank or broken seats: the other measures stay, utilisation says why
            reason["utilisation"] = reason["utilisation"] or Reason(str(e), "adoption.reason.bad_seats")
    with np.errstate(divide="ignore", invalid="ignore"):
        util = np.where(seats > 0, au / seats, np.nan)
    if reason["utilisation"] is not None:
        util = np.full(n, np.nan)
    if reason["features_used"] is not None:
        fu = np.full(n, np.nan)
    acc, ids = pd.factorize(pd.Series(np.asarray(p["customer_id"], dtype=object)).astype(str))  # accounts numbered once
    k = p["spell_month"].astype(np.int64)
    # one value per account and k (a reactivated account with two spells at the same k: the later month's)
    order = np.lexsort((pm, k, acc))
    last = np.ones(n, bool)
    if n:
        same = (acc[order][1:] == acc[order][:-1]) & (k[order][1:] == k[order][:-1])
        last[order[:-1][same]] = False
    frame = pd.DataFrame({"customer_id": p["customer_id"], "m": pm, "k": k,
                          "spell": p["spell"], "mrr": p["mrr"], "seats": seats,
                          "active_users": au, "utilisation": util, "features_used": fu, "measured": measured,
                          "acc": acc, "last_at_k": last}, copy=False)  # the arrays as they are, not a second copy
    return AdoptionMonths(frame, reason, coverage, src, pd.Index(ids))


def _panel_columns(ds) -> tuple[dict, IntegerPanel | None]:
    """The panel's columns :func:`adoption_months` reads, as arrays in the panel's order (by customer and month):
    ``customer_id``, ``month``, ``m`` (int64), ``mrr`` (float), ``spell`` and ``spell_month`` (int64); and the
    panel's :class:`IntegerPanel` when they were read from the engine (else None: built from the pandas panel).
    From the pandas panel when it is built; while it is still pending, from the engine
    (:func:`~csanalysis.grouped.integer_panel`: the same rows, values and order), so that it is not built for
    adoption alone (at a million customers the pandas panel, a text id per row, is over a GB; issue 21): the rows'
    ids are then the sorted customers' own, one text per customer."""
    if "panel" not in ds.pending():
        p = ds.panel
        return {"customer_id": p["customer_id"].to_numpy(), "month": p["month"].to_numpy(),
                "m": month_index(p["month"]).astype(np.int64), "mrr": p["mrr"].to_numpy(dtype=float),
                "spell": p["spell"].to_numpy(), "spell_month": p["spell_month"].to_numpy()}, None
    from ..grouped import integer_panel

    keys, more = integer_panel(ds, also=("spell_month",))
    return {"customer_id": keys.ids.to_numpy()[keys.code], "month": month_start(keys.m).to_numpy(), "m": keys.m,
            "mrr": keys.mrr, "spell": keys.spell, "spell_month": more["spell_month"].astype(np.int64)}, keys


def _usage_rows(ds, keys: IntegerPanel | None = None) -> dict | None:
    """The usage rows :func:`adoption_months` places on the panel, read in the engine
    (:meth:`Dataset.engine_frame`; the usage table's pandas frame is not built): ``coverage`` (the first and last
    month index of its rows, None when it has none), ``keys`` (the panel's :class:`IntegerPanel`) and, for the
    rows of the panel's customers, ``code`` and ``m`` (their customer code and month index) and ``active_users``
    / ``features_used`` where the table has them (float, NaN where not a number, as ``pd.to_numeric(errors=
    "coerce")`` reads it). Only integer keys and the two measures cross into pandas, never the rows' text ids
    (at a million customers the usage frame took GBs, issue 21). None without a usage table."""
    import ibis

    from ..data.spells import month_index as engine_month_index

    t = ds.engine_frame("usage")
    if t is None:
        return None
    um = engine_month_index(t.month).cast("int64")
    span = t.aggregate(lo=um.min(), hi=um.max(), n=t.count()).execute()
    if not int(span["n"].iloc[0]):
        return {"coverage": None}
    out = {"coverage": (int(span["lo"].iloc[0]), int(span["hi"].iloc[0])),
           "keys": keys if keys is not None else IntegerPanel(ds)}
    ids = ibis.memtable(pd.DataFrame({"customer_id": out["keys"].ids.to_numpy(dtype=object),
                                      "code": np.arange(len(out["keys"].ids), dtype=np.int64)}))
    cols = {}
    for c in ("active_users", "features_used"):
        if c in t.columns:
            v = t[c]
            cols[c] = v.cast("float64") if v.type().is_numeric() else v.cast("string").try_cast("float64")
    rows = t.select(customer_id=t.customer_id.cast("string"), m=um, **cols)
    j = rows.join(ids, rows.customer_id == ids.customer_id)  # (a customer not in the panel has no paid month)
    a = j.select(code=ids.code, m=rows.m, **{c: rows[c] for c in cols}).to_pyarrow()
    for c in ("code", "m", *cols):
        out[c] = np.ascontiguousarray(a.column(c).to_numpy(zero_copy_only=False)).astype(
            np.int64 if c in ("code", "m") else float)
        a = a.drop_columns([c])  # each column released once copied out
    return out


def median_interval(n, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """1-based ranks (j, l) of the order statistics that bound the median's distribution-free interval for ``n``
    values: j = the α/2 quantile of Binomial(n, ½) (at least 1), l = n − j + 1. P(X₍ⱼ₎ ≤ median ≤ X₍ₗ₎) ≥ 1 − α for
    a continuous distribution. The Binomial(n, ½) distribution function is summed in logs here (numpy only: importing
    scipy.stats costs seconds), once per distinct n; tests check it against scipy's ``binom.ppf``."""
    n = np.asarray(n, dtype=np.int64)
    j = np.ones(n.shape, dtype=np.int64)
    for size in np.unique(n):
        if size < 1:
            continue
        k = np.arange(1, size + 1, dtype=float)
        log_comb = np.r_[0.0, np.cumsum(np.log(size - k + 1) - np.log(k))]  # log C(size, 0 … size)
        cdf = np.cumsum(np.exp(log_comb - size * np.log(2.0)))
        ppf = int(np.searchsorted(cdf, alpha / 2 * (1 - 1e-12), side="left"))  # smallest k with cdf(k) ≥ α/2
        j[n == size] = max(ppf, 1)
    return j, n - j + 1


@dataclass
class Curves:
    """Adoption curves of one measure by group and month since start. ``table``: ``group``, ``k``, ``accounts``,
    ``median``, ``lower``, ``upper`` (the median's interval), ``q1``, ``q3``; ``by``: the grouping attribute (None: all
    accounts)."""

    measure: str
    by: str | None
    table: pd.DataFrame
    alpha: float
    min_accounts: int
    reason: str | None = None

    def shown(self, months=(0, 3, 6, 12)) -> pd.DataFrame:
        """The table's rows at the months since start ``months`` (those shown), by group then month."""
        return self.table[self.table["k"].isin(list(months))].reset_index(drop=True)

    def at(self, k: int, group=None) -> Estimate:
        """The median at month ``k`` (of ``group``, or of the only group) as an :class:`Estimate`."""
        t = self.table[self.table["k"] == k]
        if group is not None:
            t = t[t["group"] == group]
        if self.reason is not None:
            return Estimate.missing(self.reason, f"{self.measure}_median_k{k}")
        if not len(t):
            return Estimate.missing(f"fewer than {self.min_accounts} accounts in month {k} since start",
                                    f"{self.measure}_median_k{k}")
        r = t.iloc[0]
        return Estimate(f"{self.measure}_median_k{k}", float(r["median"]), float(r["lower"]), float(r["upper"]),
                        formula="median over accounts", interval="order-statistic (distribution-free)",
                        n=int(r["accounts"]))


def adoption_curves(am: AdoptionMonths, measure: str, groups: pd.Series | None = None, *, by: str | None = None,
                    max_months: int = MAX_MONTHS, min_accounts: int = MIN_ACCOUNTS, alpha: float = 0.05) -> Curves:
    """Median, its interval and the quartiles of ``measure`` per group and month since start (module docstring).

    Parameters
    ----------
    am : AdoptionMonths
        :func:`adoption_months`.
    measure : {"utilisation", "features_used"}
    groups : Series, optional
        Each customer's group (index ``customer_id``); None: all accounts in one group ``"all"``.
    by : str, optional
        The grouping's name (for the result).
    max_months : int
        Last month since start shown.
    min_accounts : int
        Fewest accounts for a month to be shown.
    alpha : float
        1 − the interval's level.

    Returns
    -------
    Curves
    """
    if measure not in MEASURES:
        raise ValueError(f"measure={measure!r}: use one of {list(MEASURES)}")
    if min_accounts < 1 or max_months < 0:
        raise ValueError(f"min_accounts={min_accounts!r} must be ≥ 1 and max_months={max_months!r} ≥ 0")
    cols = ["group", "k", "accounts", "median", "lower", "upper", "q1", "q3"]
    if am.reason[measure] is not None:
        return Curves(measure, by, pd.DataFrame(columns=cols), alpha, min_accounts, am.reason[measure])
    f = am.frame
    v = f[measure].to_numpy(dtype=float)
    k = f["k"].to_numpy()
    keep = ~np.isnan(v) & (k >= 0) & (k <= max_months) & f["last_at_k"].to_numpy()  # one value per account and k
    if groups is None:
        acc_group, glevels = np.zeros(len(am.accounts), np.int64), np.array(["all"], dtype=object)
    else:  # each account's group, numbered once per account (not per row)
        g = pd.Series(groups.to_numpy(dtype=object), index=pd.Index(groups.index).astype(str))
        g = g[~g.index.duplicated()].reindex(am.accounts).fillna(attrs_.MISSING).astype(str)
        acc_group, glevels = pd.factorize(g, sort=True)
    gc = acc_group[f["acc"].to_numpy()[keep]]
    kk, vv = k[keep].astype(np.int64), v[keep]
    by_value = np.argsort(vv, kind="stable")  # by value, then (stably) by cell: numpy's lexsort was twice as slow
    cell = (gc.astype(np.int64) * (max_months + 1) + kk)[by_value]
    order = by_value[np.argsort(cell, kind="stable")]
    vs, ks, gs = vv[order], kk[order], gc[order]
    key = gs.astype(np.int64) * (max_months + 1) + ks
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, np.int64)
    sizes = np.diff(np.r_[starts, len(key)])
    ok = sizes >= min_accounts
    starts, sizes = starts[ok], sizes[ok]
    if not len(starts):
        return Curves(measure, by, pd.DataFrame(columns=cols), alpha, min_accounts,
                      Reason(f"no month since start has {min_accounts} or more accounts with a value",
                             "adoption.reason.too_few", n=min_accounts))

    def q(p):  # linear-interpolated quantile within each cell (numpy's default, as pandas' median and quantile)
        h = (sizes - 1) * p
        lo = np.floor(h).astype(np.int64)
        hi = np.minimum(lo + 1, sizes - 1)
        return vs[starts + lo] + (h - lo) * (vs[starts + hi] - vs[starts + lo])

    j, l_ = median_interval(sizes, alpha)
    table = pd.DataFrame({"group": np.asarray(glevels)[gs[starts]], "k": ks[starts], "accounts": sizes,
                          "median": q(0.5), "lower": vs[starts + j - 1], "upper": vs[starts + l_ - 1],
                          "q1": q(0.25), "q3": q(0.75)})
    return Curves(measure, by, table.reset_index(drop=True), alpha, min_accounts)


def stalled_accounts(ds, am: AdoptionMonths, *, threshold: float = THRESHOLD, months: int = STALL_MONTHS,
                     pseudonymise: bool = False) -> pd.DataFrame:
    """The stalled-adoption list in the layout of :data:`STALLED_COLUMNS`, by MRR (module docstring).

    ``attrs``: ``paying`` (accounts paying in the as_of month), ``judged`` (paying in each month of the window with a
    utilisation in each), ``not_judged`` (paying throughout but some month unmeasured or without seats),
    ``short`` (paying now but not in every month of the window), ``reason`` (None, or why nobody could be judged).

    Parameters
    ----------
    ds : Dataset
    am : AdoptionMonths
        :func:`adoption_months` of ``ds``.
    threshold : float
        Utilisation below this counts (0 < threshold).
    months : int
        The window: the last ``months`` months up to the as_of month (≥ 1).
    pseudonymise : bool
        Replace the ids by keyed pseudonyms.

    Returns
    -------
    DataFrame
    """
    if not (threshold > 0):
        raise ValueError(f"threshold={threshold!r}: a utilisation above 0, e.g. {THRESHOLD}")
    if int(months) != months or months < 1:
        raise ValueError(f"months={months!r}: a whole number of months ≥ 1, e.g. {STALL_MONTHS}")
    months = int(months)
    f = am.frame
    last = ds.as_of_m
    first = last - months + 1
    win = f[(f["m"] >= first) & (f["m"] <= last)]
    cid = win["customer_id"].astype(str).to_numpy()
    codes, ids = pd.factorize(cid)
    cnt = np.bincount(codes, minlength=len(ids))
    now = np.zeros(len(ids), bool)
    now[codes[win["m"].to_numpy() == last]] = True
    full = now & (cnt == months)
    u = win["utilisation"].to_numpy(dtype=float)
    known = np.bincount(codes, weights=~np.isnan(u), minlength=len(ids)) == months
    below = np.bincount(codes, weights=(u < threshold), minlength=len(ids)) == months  # NaN < t is False
    judged = full & known
    stalled = judged & below
    attrs = {"paying": int(now.sum()), "judged": int(judged.sum()), "not_judged": int((full & ~known).sum()),
             "short": int((now & ~full).sum()), "threshold": float(threshold), "months": months,
             "reason": am.reason["utilisation"]}
    if attrs["reason"] is None and not judged.any() and now.any():
        attrs["reason"] = Reason(f"no paying account has a utilisation in each of the last {months} months",
                                 "adoption.reason.none_judged", months=months)
    sel = stalled[codes]
    s = win[sel].assign(_id=cid[sel]).sort_values(["_id", "m"], kind="stable")
    util = s["utilisation"].to_numpy(dtype=float).reshape(-1, months)  # each stalled account: one row per month
    x = np.arange(months) - (months - 1) / 2
    slope = (util @ x) / (x @ x) if months > 1 else np.full(len(util), np.nan)
    cur = s[s["m"] == last]  # the as_of month's rows, in the same account order
    acc = pd.Index(cur["_id"].to_numpy(dtype=object))
    cust = ds.customers.assign(_id=ds.customers["customer_id"].astype(str)).set_index("_id").reindex(acc)
    out = pd.DataFrame({
        "scoring_date": (month_start(last) + pd.offsets.MonthEnd(0)).date(),
        "customer_id": acc.to_numpy(dtype=object),
        "touch_model": cust["touch_model"].to_numpy(dtype=object) if "touch_model" in cust else None,
        "csm_owner": cust["csm_owner"].to_numpy(dtype=object) if "csm_owner" in cust else None,
        "mrr": cur["mrr"].to_numpy(dtype=float), "arr": 12 * cur["mrr"].to_numpy(dtype=float),
        "seats": cur["seats"].to_numpy(dtype=float), "active_users": cur["active_users"].to_numpy(dtype=float),
        "utilisation": cur["utilisation"].to_numpy(dtype=float), "utilisation_start": util[:, 0],
        "utilisation_trend": slope,
        "utilisation_history": ["; ".join(f"{100 * v:.0f}%" for v in row) for row in util],
        "features_used": cur["features_used"].to_numpy(dtype=float),
        "months_since_start": cur["k"].to_numpy(), "stall_months": months, "threshold": float(threshold),
    })
    for c in ("seats", "active_users", "features_used"):  # whole numbers (missing: features not in the data)
        out[c] = out[c].round().astype("Int64")
    out = out.sort_values(["mrr", "customer_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    out.insert(1, "rank", np.arange(1, len(out) + 1))
    if pseudonymise and len(out):
        from ..data.pseudonym import pseudonymise_ids

        out["customer_id"] = pseudonymise_ids(out["customer_id"].to_numpy())
    out = out[list(STALLED_COLUMNS)]
    out.attrs.update(attrs)
    return out


def stalled_layout(translate=None) -> pd.DataFrame:
    """The CSV layout of the stalled list: column name and meaning (``adoption.layout.<column>`` when translated)."""
    return pd.DataFrame({"column": list(STALLED_COLUMNS),
                         "meaning": [translate(f"adoption.layout.{c}") if translate else d
                                     for c, d in STALLED_COLUMNS.items()]})


@dataclass
class Adoption:
    """The adoption section's results: ``months`` (:class:`AdoptionMonths`: the measures' availability, its
    ``frame`` without rows: :func:`adoption_months` gives them), ``curves`` (measure → grouping →
    :class:`Curves`; groupings ``all``, the segment, ``touch_model``), ``stalled`` (the list) and the rule."""

    months_: AdoptionMonths
    curves_: dict
    stalled_: pd.DataFrame
    threshold: float
    stall_months: int
    min_accounts: int
    max_months: int
    alpha: float = 0.05
    groupings: list = field(default_factory=list)

    def curves_table(self) -> pd.DataFrame:
        """Every curve in one long table (for a CSV): ``measure``, ``grouping`` (``all``, the segment,
        ``touch_model``), then the columns of :class:`Curves` ``table``."""
        parts = [c.table.assign(measure=measure, grouping=name) for measure, by in self.curves_.items()
                 for name, c in by.items()]
        cols = ["measure", "grouping", "group", "k", "accounts", "median", "lower", "upper", "q1", "q3"]
        parts = [p for p in parts if len(p)]
        return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)

    def metrics(self) -> dict:
        """The ``metrics["adoption"]`` part: the usage coverage, the median utilisation and breadth of all accounts
        at months 3, 6 and 12 since start (estimates), the stalled list's size and MRR, and the rules."""
        st = self.stalled_
        a = st.attrs
        cov = self.months_.coverage
        out = {
            "usage_months": None if cov is None else {"first": month_start(cov[0]).date(), "last": month_start(cov[1]).date()},
            "seats_source": self.months_.seats_source,
            "reason": {m: self.months_.reason[m] for m in MEASURES},
            "threshold": self.threshold, "stall_months": self.stall_months, "min_accounts": self.min_accounts,
            "max_months": self.max_months,
            "stalled": {"accounts": int(len(st)), "mrr": float(st["mrr"].sum()), "paying": a.get("paying", 0),
                        "judged": a.get("judged", 0), "not_judged": a.get("not_judged", 0),
                        "reason": a.get("reason")},
            "method": ("utilisation = active users / seats in force per paid month (no usage row in a month the usage "
                       "table covers = 0); medians per month since the start of the current spell with a distribution-"
                       "free order-statistic 95% interval and the interquartile band; months with fewer than "
                       f"{self.min_accounts} accounts left out; stalled = paying in each of the last "
                       f"{self.stall_months} months with utilisation below {self.threshold:g} in each"),
        }
        for measure in MEASURES:
            c = self.curves_[measure]["all"]
            out[measure] = {f"month_{k}": c.at(k, "all").brief() for k in (3, 6, 12)}
        return out


def adoption(ds, *, segment: str | None = None, threshold: float = THRESHOLD, stall_months: int = STALL_MONTHS,
             min_accounts: int = MIN_ACCOUNTS, max_months: int = MAX_MONTHS, pseudonymise: bool = False,
             alpha: float = 0.05) -> Adoption:
    """Curves of utilisation and feature breadth (all accounts, by ``segment``, by touch model) and the stalled list.

    Parameters
    ----------
    ds : Dataset
    segment : str, optional
        A categorical customer attribute (None: no segment curves).
    threshold, stall_months : float, int
        The stall rule (:func:`stalled_accounts`).
    min_accounts, max_months : int
        The curves' minimum accounts per month and last month since start.
    pseudonymise : bool
        Pseudonymise the list's ids.
    alpha : float
        1 − the intervals' level.

    Returns
    -------
    Adoption
    """
    am = adoption_months(ds)
    groupings = ["all"]
    if segment is not None:
        attrs_.check_segment(ds, segment, what="segment")
        groupings.append(segment)
    if "touch_model" in ds.customers.columns and "touch_model" not in groupings:
        groupings.append("touch_model")
    curves = {}
    for measure in MEASURES:
        curves[measure] = {}
        for name in groupings:
            grp = None if name == "all" else attrs_.segment_of(ds, name, what="segment")
            curves[measure][name] = adoption_curves(am, measure, grp, by=None if name == "all" else name,
                                                    max_months=max_months, min_accounts=min_accounts, alpha=alpha)
    st = stalled_accounts(ds, am, threshold=threshold, months=stall_months, pseudonymise=pseudonymise)
    # the result keeps the months' availability, not their rows: every paid account-month, which the report would
    # otherwise hold to its end (~200 MB at 100k customers, issue 21); adoption_months(ds) gives them
    am = replace(am, frame=am.frame.iloc[:0].copy())
    return Adoption(am, curves, st, threshold, stall_months, min_accounts, max_months, alpha, groupings)
