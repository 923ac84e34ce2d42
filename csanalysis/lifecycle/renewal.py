"""Renewal: the gross and net renewal rates by quarter of the contracts that came up for renewal.

**Renewal dates (the contracts' term ends).** Per account, from the first source that has them:

1. *The renewal-date history* (``renewal_date`` rows of ``customer_attributes``, :attr:`Dataset.attributes`):
   every distinct value the account's ``renewal_date`` took, and its value in ``customers``, is a term end. A CRM
   rolls the date forward when a contract renews, so the values are the successive term ends; the last one stays
   in the past when the contract did not renew.
2. *Annual invoices* (accounts without a history): a recurring invoice with a positive amount whose service period
   (``period_start`` … ``period_end`` of ``revenue``) lasts 12 months (its days ÷ 30.4375, rounded, as the
   loader spreads MRR: data/README.md) is a yearly term; its renewal is the month after its twelve service months
   (the month of ``period_start`` + 12), the renewal date ``period_end`` + 1 day.

The invoices are rows of the raw ``revenue`` table, kept by the Dataset as a small table of their own
(``Dataset.invoices``, :mod:`csanalysis.data.invoices`), which a report run's cache and a pseudonymised Dataset keep
too. Only a Dataset without that table (built by hand, or read from a cache written before it) has
:func:`renewal_rates` load the source again, without the cache, to read them, their ids pseudonymised as the
Dataset's are.

A snapshot ``renewal_date`` alone (no history, no annual invoices: monthly billing) says only when the *next*
renewal is due: it feeds the renewal calendar (:mod:`csanalysis.health.renewals`), not the rates. A purchase log
(no contracts) and a snapshot export (no months) have no renewal rates; each undefined result carries its reason.

**Came up for renewal** in quarter Q: a term end whose renewal month ``r`` (the month of the renewal date) falls in
Q, the account paying (MRR > 0) in month ``r − 1``, and Q *closed*: its last month plus the data's grace months
(``Dataset.window_closed``, the churn definition's rule) no later than the ``as_of`` month. Several term ends of
one account in one month count once.

**Renewed**: the account pays (MRR > 0) in the renewal month ``r`` or, when the data allow a grace period, in one
of the ``grace_months`` months after it (a late payment within the grace period is not a churn).

**Rates** per quarter, with ARR = 12 × MRR:

* gross renewal rate (contracts) = renewed ÷ came up, with the Wilson interval (:func:`csanalysis.stats.proportion.wilson`);
* gross renewal rate (ARR) = Σ ARR before of the renewed contracts ÷ Σ ARR before, where *ARR before* is 12 × the
  MRR of month ``r − 1`` (the ARR up for renewal);
* net renewal rate = Σ ARR after ÷ Σ ARR before, *ARR after* being 12 × the MRR of the renewal month ``r`` (the
  first month of the new term; 0 when not renewed), so expansion and contraction at renewal count;

the ARR rates with percentile intervals of the bootstrap over accounts (:mod:`csanalysis.stats.bootstrap`; all
quarters resampled together, an account bringing every renewal it had). The row ``all`` pools every closed quarter.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.invoices import annual_invoices
from ..data.keys import IntegerPanel
from ..estimate import Estimate
from ..periods import month_index, month_start, period_label, period_start
from ..stats.bootstrap import account_sums, count_weights, percentile_estimate, replicate_sums
from ..stats.proportion import wilson

__all__ = ["RATE_COLUMNS", "EVENT_COLUMNS", "REASONS", "annual_invoices", "renewal_dates", "renewal_events",
           "RenewalRates", "renewal_rates", "calendar_issue"]

ALL = "all"  # the quarter label of the pooled row

# The CSV layout of the rates by quarter (renewal_rates.csv), in this order.
RATE_COLUMNS = {
    "quarter": "calendar quarter of the renewal month (all: every closed quarter pooled)",
    "contracts": "contracts that came up for renewal (renewal month in the quarter, paying the month before)",
    "renewed": "of them, renewed (paying in the renewal month or within the grace months after it)",
    "gross_rate": "renewed / contracts",
    "gross_rate_lower": "Wilson 95% interval, lower bound",
    "gross_rate_upper": "Wilson 95% interval, upper bound",
    "arr_up": "ARR up for renewal: 12 x MRR of the month before the renewal month, summed",
    "arr_renewed": "ARR up for renewal of the contracts that renewed",
    "arr_after": "ARR in force in the renewal month (12 x its MRR; 0 when not renewed), summed",
    "gross_arr_rate": "arr_renewed / arr_up",
    "gross_arr_rate_lower": "bootstrap (over accounts) 95% interval, lower bound",
    "gross_arr_rate_upper": "bootstrap 95% interval, upper bound",
    "net_rate": "arr_after / arr_up (expansion and contraction at renewal included)",
    "net_rate_lower": "bootstrap (over accounts) 95% interval, lower bound",
    "net_rate_upper": "bootstrap 95% interval, upper bound",
}

# The contracts behind the rates (renewal_contracts.csv), in this order.
EVENT_COLUMNS = {
    "customer_id": "account",
    "renewal_date": "the contract's renewal date (term end)",
    "renewal_month": "first day of the month of the renewal",
    "quarter": "calendar quarter of the renewal month",
    "source": "where the renewal date comes from: history (customer_attributes) or annual_invoice (revenue)",
    "arr_before": "12 x MRR of the month before the renewal month",
    "arr_after": "12 x MRR of the renewal month",
    "renewed": "1 when the account paid in the renewal month or within the grace months after it, else 0",
}

# Why there are no renewal rates (keys of the catalogue's renewal.reason.*).
REASONS = {
    "purchase_log": "a purchase log has no contracts that come up for renewal",
    "snapshot": "a snapshot export has no months to follow a renewal in",
    "no_renewal_dates": ("neither a renewal_date history (customer_attributes) nor annual invoices (revenue with a "
                         "12-month service period): the renewals that came up cannot be dated"),
    "no_closed_quarter": "no contract came up for renewal in a quarter that has closed by the as-of date",
}


def renewal_dates(ds, invoices: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every account's term ends (see the module docstring): customer_id, renewal_date, renewal_m (month index),
    source (``history`` or ``annual_invoice``), one row per account and renewal month.

    Parameters
    ----------
    ds : Dataset
        The loaded data (its ``attributes`` history and ``customers``).
    invoices : DataFrame, optional
        :func:`annual_invoices` of the revenue table (None: taken from ``ds.tables["revenue"]`` when the Dataset
        was loaded here; a report run's cache keeps aggregated tables only, see :func:`renewal_rates`).
    """
    parts = []
    with_history = set()
    h = ds.attributes
    if h is not None and len(h) and (h["attribute"] == "renewal_date").any():
        h = h.loc[h["attribute"] == "renewal_date", ["customer_id", "value"]]
        d = pd.DataFrame({"customer_id": h["customer_id"].to_numpy(),
                          "renewal_date": pd.to_datetime(h["value"], errors="coerce").to_numpy()})
        with_history = set(d["customer_id"])
        if "renewal_date" in ds.customers.columns:  # the value in customers: the latest term end
            c = ds.customers.loc[ds.customers["customer_id"].isin(with_history), ["customer_id", "renewal_date"]]
            d = pd.concat([d, c.assign(renewal_date=pd.to_datetime(c["renewal_date"]))], ignore_index=True)
        d = d.dropna(subset=["renewal_date"])
        parts.append(d.assign(renewal_m=np.asarray(month_index(d["renewal_date"]), dtype=np.int64), source="history"))
    if invoices is None:
        invoices = ds.invoices if ds.invoices is not None else annual_invoices(ds.tables.get("revenue"))
    inv = invoices.loc[~invoices["customer_id"].isin(with_history)]
    if len(inv):
        parts.append(pd.DataFrame({
            "customer_id": inv["customer_id"].to_numpy(),
            "renewal_date": (inv["period_end"] + pd.Timedelta(days=1)).to_numpy(),
            "renewal_m": np.asarray(month_index(inv["period_start"]), dtype=np.int64) + 12,
            "source": "annual_invoice"}))
    if not parts:
        return pd.DataFrame({"customer_id": pd.Series(dtype=object), "renewal_date": pd.Series(dtype="datetime64[ns]"),
                             "renewal_m": pd.Series(dtype=np.int64), "source": pd.Series(dtype=object)})
    out = pd.concat(parts, ignore_index=True).sort_values(["customer_id", "renewal_m", "renewal_date"], kind="stable")
    return out.drop_duplicates(["customer_id", "renewal_m"], keep="first").reset_index(drop=True)


def renewal_events(ds, dates: pd.DataFrame) -> pd.DataFrame:
    """The contracts that came up for renewal in a closed quarter (module docstring), in the layout of
    :data:`EVENT_COLUMNS`, by renewal month and account."""
    grace = int(getattr(ds.settings, "grace_months", 0) or 0)
    d = dates.copy()
    q = period_start(d["renewal_m"].to_numpy(), "quarter")
    closed = ds.window_closed(q + 2, 0, grace)
    d = d.loc[closed & (d["renewal_m"].to_numpy() - 1 >= ds.data_start_m)]
    ids, r = d["customer_id"].to_numpy(), d["renewal_m"].to_numpy()
    # the panel's MRR at (account, month) by integer keys (data/keys.py), not a (customer_id, month) MultiIndex
    # over every panel row (a hash table of the whole panel: most of this function's memory at scale, issue 21)
    if "panel" in ds.pending():  # read from the engine, not built in pandas for this alone (issue 21)
        from ..grouped import integer_panel

        keys = integer_panel(ds)
    else:
        keys = IntegerPanel(ds)
    code = keys.codes(ids)

    def mrr_at(months):  # the MRR paid (> 0) in each contract's month, else 0
        v = keys.at(keys.mrr, code, months, fill=0.0)
        return np.where(v > 0, v, 0.0)

    before = mrr_at(r - 1)
    after = mrr_at(r)
    paid = after > 0
    for g in range(1, grace + 1):
        paid |= mrr_at(r + g) > 0
    del keys
    keep = before > 0
    out = pd.DataFrame({
        "customer_id": ids[keep], "renewal_date": pd.to_datetime(d["renewal_date"]).to_numpy()[keep],
        "renewal_month": month_start(r[keep]).to_numpy(),
        "quarter": [period_label(k, "quarter") for k in period_start(r[keep], "quarter")],
        "source": d["source"].to_numpy()[keep], "arr_before": 12 * before[keep], "arr_after": 12 * after[keep],
        "renewed": paid[keep].astype(int)})
    out = out.assign(_q=period_start(r[keep], "quarter")).sort_values(["renewal_month", "customer_id"], kind="stable")
    return out.drop(columns="_q").reset_index(drop=True)[list(EVENT_COLUMNS)]


class RenewalRates:
    """Gross and net renewal rates by quarter (see the module docstring). Attributes: ``events_`` (the contracts,
    :data:`EVENT_COLUMNS`), ``rates_`` (by quarter then ``all``, :data:`RATE_COLUMNS`), ``reason_`` (why there are
    no rates: a key of :data:`REASONS`, else None), ``sources_`` (contracts per source), ``alpha``, ``n_boot``."""

    def __init__(self, events: pd.DataFrame, rates: pd.DataFrame, reason: str | None, *, alpha: float, n_boot: int,
                 grace: int):
        self.events_, self.rates_, self.reason_ = events, rates, reason
        self.alpha, self.n_boot, self.grace = alpha, n_boot, grace
        self.sources_ = {k: int(v) for k, v in events["source"].value_counts().items()} if len(events) else {}

    @property
    def estimable(self) -> bool:
        return self.reason_ is None

    @property
    def summary(self) -> pd.DataFrame:
        """The rates by quarter (and ``all``) with their intervals."""
        return self.rates_

    def last_quarter(self) -> dict | None:
        """The latest closed quarter's row, or None."""
        q = self.rates_.loc[self.rates_["quarter"] != ALL]
        return None if q.empty else q.iloc[-1].to_dict()

    def _estimates(self, row: dict) -> dict:
        level = f"{1 - self.alpha:.0%}"
        return {
            "gross_rate": Estimate("gross_rate", row["gross_rate"], row["gross_rate_lower"], row["gross_rate_upper"],
                                   formula="renewed / came up", interval=f"Wilson {level}", n=int(row["contracts"])),
            "gross_arr_rate": Estimate("gross_arr_rate", row["gross_arr_rate"], row["gross_arr_rate_lower"],
                                       row["gross_arr_rate_upper"], formula="ARR up of renewed / ARR up",
                                       interval=f"account bootstrap {level}, {self.n_boot} resamples",
                                       n=int(row["contracts"])),
            "net_rate": Estimate("net_rate", row["net_rate"], row["net_rate_lower"], row["net_rate_upper"],
                                 formula="ARR in force in the renewal month / ARR up",
                                 interval=f"account bootstrap {level}, {self.n_boot} resamples", n=int(row["contracts"])),
        }

    def metrics(self) -> dict:
        """The ``metrics.json`` part of the rates."""
        method = ("came up for renewal: renewal month in a closed quarter (its last month + grace months <= as_of "
                  "month), paying the month before; renewed: paying in the renewal month or within the grace months; "
                  "gross rate = renewed / came up (Wilson); gross ARR rate = ARR up of the renewed / ARR up; net rate = "
                  "ARR in force in the renewal month / ARR up (ARR = 12 x MRR; account bootstrap)")
        if not self.estimable:
            return {"estimable": False, "reason": REASONS[self.reason_], "reason_code": self.reason_,
                    "method": method, "contracts": 0, "quarters": [], "all": None, "last_quarter": None,
                    "sources": self.sources_}
        rows = self.rates_.to_dict(orient="records")

        def one(r):
            return {"quarter": r["quarter"], "contracts": int(r["contracts"]), "renewed": int(r["renewed"]),
                    "arr_up": float(r["arr_up"]), "arr_after": float(r["arr_after"]),
                    **{k: e.to_dict(details=()) for k, e in self._estimates(r).items()}}

        quarters = [one(r) for r in rows if r["quarter"] != ALL]
        return {"estimable": True, "reason": None, "reason_code": None, "method": method,
                "contracts": int(len(self.events_)), "quarters": quarters,
                "all": one(rows[-1]), "last_quarter": quarters[-1], "sources": self.sources_}

    def print_summary(self) -> None:
        print(self.rates_.to_string(index=False) if self.estimable else f"not estimable: {REASONS[self.reason_]}")

    def _repr_html_(self) -> str:
        return (self.rates_.to_html(index=False) if self.estimable
                else f"<p>not estimable: {REASONS[self.reason_]}</p>")


def _rates(events: pd.DataFrame, *, alpha: float, n_boot: int, seed: int) -> pd.DataFrame:
    quarters = list(dict.fromkeys(events["quarter"]))
    qi = pd.Categorical(events["quarter"], categories=quarters).codes
    codes, accounts = pd.factorize(events["customer_id"])
    k, nq = len(accounts), len(quarters)
    renewed = events["renewed"].to_numpy(dtype=float)
    before = events["arr_before"].to_numpy(dtype=float)
    after = events["arr_after"].to_numpy(dtype=float)
    # per account × (quarters + all): ARR up, ARR up of the renewed, ARR after
    onehot = np.zeros((len(events), nq + 1))
    onehot[np.arange(len(events)), qi] = 1.0
    onehot[:, nq] = 1.0
    X_up = account_sums(codes, k, onehot * before[:, None])
    X_ren = account_sums(codes, k, onehot * (before * renewed)[:, None])
    X_aft = account_sums(codes, k, onehot * after[:, None])
    rng = np.random.default_rng(seed)
    up_b, ren_b, aft_b = replicate_sums(count_weights(rng, k, n_boot), X_up, X_ren, X_aft)
    with np.errstate(invalid="ignore", divide="ignore"):
        g_b, n_b = ren_b / up_b, aft_b / up_b
    labels = quarters + [ALL]
    rows = []
    for j, lab in enumerate(labels):
        sel = onehot[:, j] > 0
        n, kk = int(sel.sum()), int(renewed[sel].sum())
        lo, hi = wilson(kk, n, alpha, exact_ends=True)
        up, ren, aft = before[sel].sum(), (before * renewed)[sel].sum(), after[sel].sum()
        g = percentile_estimate(ren / up, g_b[:, j], alpha)
        net = percentile_estimate(aft / up, n_b[:, j], alpha)
        rows.append({"quarter": lab, "contracts": n, "renewed": kk, "gross_rate": kk / n, "gross_rate_lower": lo,
                     "gross_rate_upper": hi, "arr_up": up, "arr_renewed": ren, "arr_after": aft,
                     "gross_arr_rate": g.estimate, "gross_arr_rate_lower": g.lower, "gross_arr_rate_upper": g.upper,
                     "net_rate": net.estimate, "net_rate_lower": net.lower, "net_rate_upper": net.upper})
    return pd.DataFrame(rows, columns=list(RATE_COLUMNS))


def _invoices(ds, source, mapping) -> pd.DataFrame:
    """The annual invoices: the Dataset's own table (``Dataset.invoices``, kept by a report run's cache too); for a
    Dataset without it (built by hand, or from an earlier cache format) those of its revenue table, or of
    ``source`` loaded again without the cache, their ids pseudonymised as the Dataset's are."""
    if ds.invoices is not None:
        return ds.invoices
    rev = ds.tables.get("revenue")
    if rev is None and source is not None and ds.layout == "subscription":
        from ..data.load import load_dataset

        rev = load_dataset(source, mapping=mapping, as_of=ds.as_of).tables.get("revenue")
    inv = annual_invoices(rev)
    if ds.pseudonymised and len(inv):
        from ..data.pseudonym import looks_pseudonymised, pseudonymise_ids

        if not looks_pseudonymised(inv["customer_id"]):
            inv = inv.assign(customer_id=pseudonymise_ids(inv["customer_id"].to_numpy()))
    return inv


def renewal_rates(ds, *, invoices: pd.DataFrame | None = None, source=None, mapping=None, alpha: float = 0.05,
                  n_boot: int = 400, seed: int = 0) -> RenewalRates:
    """Gross and net renewal rates by quarter (module docstring).

    Parameters
    ----------
    ds : Dataset
        The loaded data.
    invoices : DataFrame, optional
        :func:`annual_invoices` of the revenue table (None: from the Dataset's revenue table; a Dataset read from
        a report run's cache has none, and then ``source`` is loaded again, without the cache, for its invoices).
    source, mapping : optional
        The data source and its mapping (a notebook's ``data`` and ``mapping``), to read the invoices when the
        Dataset does not hold them.
    alpha : float
        1 − the intervals' level.
    n_boot : int
        Bootstrap resamples (over accounts).
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    RenewalRates
    """
    grace = int(getattr(ds.settings, "grace_months", 0) or 0)
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in EVENT_COLUMNS})
    none = pd.DataFrame(columns=list(RATE_COLUMNS))
    if ds.layout in ("purchase_log", "snapshot"):
        return RenewalRates(empty, none, ds.layout, alpha=alpha, n_boot=n_boot, grace=grace)
    if invoices is None:
        invoices = _invoices(ds, source, mapping)
    dates = renewal_dates(ds, invoices)
    if dates.empty:
        return RenewalRates(empty, none, "no_renewal_dates", alpha=alpha, n_boot=n_boot, grace=grace)
    events = renewal_events(ds, dates)
    if events.empty:
        return RenewalRates(events, none, "no_closed_quarter", alpha=alpha, n_boot=n_boot, grace=grace)
    return RenewalRates(events, _rates(events, alpha=alpha, n_boot=n_boot, seed=seed), None, alpha=alpha,
                        n_boot=n_boot, grace=grace)


def calendar_issue(cal: pd.DataFrame | None, lst: pd.DataFrame | None) -> str | None:
    """Why the renewal calendar (:func:`csanalysis.health.renewal_calendar` of the risk list ``lst``) lists no
    contract: ``no_risk_score`` (no churn-risk list: not subscription data), ``no_renewal_dates`` (no account on the
    list has a renewal date), ``none_due`` (none renews within the windows); None when it lists some."""
    if cal is None or lst is None:
        return "no_risk_score"
    if len(cal):
        return None
    return "no_renewal_dates" if cal.attrs.get("no_renewal_date", 0) >= len(lst) else "none_due"
