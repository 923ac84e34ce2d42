"""Subscription metrics with their uncertainty: MRR movements, churn rates, NRR/GRR, quick ratio, ARPA and LTV.

Everything reads the Dataset's ``panel`` and ``spells`` (the one churn definition, data/README.md); nothing
here re-derives churn. The MRR movements are grouped engine queries; the rates, the churn summary, ARPA and LTV
bootstrap over customers and read a customer × month grid built from the engine panel's integer rows
(:func:`csanalysis.data.keys.panel_rows`), not from the pandas panel. Money is handled in **integer cents** internally, so the MRR movements reconcile exactly.

**MRR movements** (ChartMogul's five categories), per customer and month *t*, with MRR(t) = 0 when the
customer-month is absent from the panel:

* ``new``: the first paid month of the customer's first spell (its MRR);
* ``reactivation``: the first paid month of a later spell (spell > 1);
* ``churn``: the MRR lost in a spell's churn month (``spells.end``), i.e. the MRR of its last paid month;
* ``expansion`` / ``contraction``: the MRR change of a customer paying in both t − 1 and t.
* **Grace gaps** (``grace_months`` > 0). A customer that stops paying but whose spell continues (it pays
  again within the grace period, or its spell is still censored at ``as_of``) is not a churn. Its drop to 0 is
  counted as **contraction** and its return as **expansion**, so the identity below holds in every month. The
  parts of contraction and expansion that come from grace gaps are shown separately (``grace_gap_mrr``,
  ``grace_return_mrr``, and their customer counts). A customer that stopped paying in the last ``grace_months``
  months before ``as_of`` cannot be called churned yet: its drop is a (provisional) grace-gap contraction, and
  those months are flagged ``provisional``.

Identity, for every month and exactly in cents::

    MRR(t) = MRR(t − 1) + new + expansion − contraction − churn + reactivation

The first month of the data window (``data_start``, or the first paid month if earlier) is the **opening
balance**: its customers may have started before the data (left truncation), so it gets no movement row; it is
the ``starting_mrr`` of the first row. Coarser periods (``freq="quarter"``, ``"year"``, ``"fiscal_year"``) sum the
monthly movements; their customer counts are distinct customers with at least one such movement.

**Rates** (:func:`rates`), per period with starting month *s* (the month before the period's first month):

* ``customer_churn_rate`` = customers paying in *s* who churned in the period ÷ customers paying in *s*
  (monthly: customers lost in the month ÷ customers paying in the previous month), Wilson interval;
* ``gross_mrr_churn_rate`` = (churn + contraction) ÷ starting MRR;
* ``net_mrr_churn_rate`` = (churn + contraction − expansion − reactivation) ÷ starting MRR — ChartMogul's
  standard (B2B) formula. Reactivation offsets churn (it is revenue won back from former customers); new
  business does not. Equivalently 1 − (ending MRR − new) ÷ starting MRR. Negative = net expansion;
* ``nrr_12m`` = MRR now of the customers paying 12 months earlier ÷ their MRR then (churned ones count 0;
  reactivated ones count with their current MRR); ``grr_12m`` the same with each customer's MRR capped at its
  MRR 12 months earlier. Evaluated at the period's last month;
* ``quick_ratio`` = (new + expansion + reactivation) ÷ (contraction + churn).

**Purchase logs: months summing to zero or below.** A purchase log's active month is a month with a purchase,
whatever it sums to: 0 for free items, below 0 when returns outweigh the month's purchases (data/README.md).
Such months are active everywhere here: they are at risk of churn (a customer "paying" in the month before means
active in it), a churn after one is a churn (counted by its event, not by the revenue it moves), and ARPA divides
the month's revenue by its active accounts (the denominator the churn rate uses, so ARPA × margin ÷ churn stays
per active account). The movements decompose the month's net revenue exactly, so the identity above still holds:
a buyer who lapses after a month of returns only is a *negative* churn amount (revenue rises when it leaves), a
free month after a paid one is a contraction, and new or reactivated buyers whose first month is free move 0
(each still counted among the customers of its movement). NRR/GRR take only customers whose MRR 12 months
earlier is above zero (a ratio to zero or to a negative base has no meaning). For a subscription every active
month has MRR above zero and none of this changes a number.

Revenue ratios get a percentile bootstrap interval over customers (Poisson(1) weights per customer and replicate,
vectorised as weights × per-customer sums; fixed seed). An undefined ratio (zero denominator) is NaN in the
tables with the reason in ``note``, and None with a ``reason`` in every ``to_dict()``.

**Churn summary** (:func:`churn_summary`): the pooled monthly customer churn rate over the last ``window``
months whose churn is observable (ending ``grace_months`` before ``as_of``): churn events ÷ customer-months at
risk (customers paying in the month before), Wilson interval (customer-months treated as independent trials).
Annualised by compounding, 1 − (1 − monthly)^12, which assumes a constant monthly rate; the straight ×12 is given
beside it with the gap. See :func:`annual_from_monthly` and :func:`monthly_from_annual`.

**ARPA and LTV** (:func:`arpa`, :func:`ltv`): ARPA = average MRR per account paying in the ``as_of`` month.
LTV three ways (ARPA ÷ monthly churn; ARPA × gross margin ÷ monthly churn; that minus CAC), CAC payback months
(CAC ÷ (ARPA × gross margin)) and LTV:CAC, where CAC is the average ``acquisition_cost`` of the customers that
have one. The monthly churn is the pooled rate of :func:`churn_summary`. When no churn was observed LTV is
undefined (None with the reason), never infinite or zero. Intervals: one joint bootstrap over customers (the same
weights resample ARPA, the churn rate and CAC).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from ibis import _ as _ibis_

from .data import Dataset
from .data.keys import panel_rows
from .estimate import Estimate, json_safe
from .periods import PERIOD_MONTHS, month_index, month_start as _month, period_start as _period_key
from .result import TableSummary
from .stats.bootstrap import percentile_interval, poisson_weights, replicate_sums
from .stats.proportion import wilson

FREQ_MONTHS = PERIOD_MONTHS
MOVEMENTS = ("new", "expansion", "contraction", "churn", "reactivation")
COUNT_NAMES = {"new": "new_customers", "expansion": "expansion_customers", "contraction": "contraction_customers",
               "churn": "churned_customers", "reactivation": "reactivated_customers",
               "grace_gap": "grace_gap_customers", "grace_return": "grace_return_customers"}
RATE_METRICS = ("customer_churn_rate", "gross_mrr_churn_rate", "net_mrr_churn_rate", "nrr_12m", "grr_12m", "quick_ratio")
FORMULAS = {
    "customer_churn_rate": "customers paying at the start who churned in the period ÷ customers paying at the start",
    "gross_mrr_churn_rate": "(churn + contraction) ÷ starting MRR",
    "net_mrr_churn_rate": "(churn + contraction − expansion − reactivation) ÷ starting MRR",
    "nrr_12m": "MRR now of the customers paying 12 months ago ÷ their MRR then",
    "grr_12m": "Σ min(MRR now, MRR 12 months ago) of those customers ÷ their MRR then",
    "quick_ratio": "(new + expansion + reactivation) ÷ (contraction + churn)",
}
GRACE_RULE = ("A customer inside a grace gap (not paying this month while its spell continues) counts as "
              "contraction when it stops paying and as expansion when it pays again; the grace-gap parts are shown "
              "separately. Months after as_of − grace_months are provisional: a stop there cannot be called churn yet.")
COMPOUNDING_ASSUMPTION = "assumes a constant monthly churn rate: annual = 1 − (1 − monthly)^12"
DEFAULT_BOOT = 400


# --------------------------------------------------------------------------------------------- helpers


def annual_from_monthly(monthly):
    """Annual churn from a constant monthly churn rate, compounded: 1 − (1 − monthly)^12.

    1% a month is 11.4% a year (not 12%). Works on scalars and arrays; rates must lie in [0, 1].
    """
    m = np.asarray(monthly, dtype=float)
    if np.any((m < 0) | (m > 1)):
        raise ValueError("a churn rate must lie between 0 and 1")
    out = 1.0 - (1.0 - m) ** 12
    return float(out) if out.ndim == 0 else out


def monthly_from_annual(annual):
    """Constant monthly churn rate equivalent to an annual rate: 1 − (1 − annual)^(1/12).

    10% a year is 0.874% a month, not 10% ÷ 12 = 0.833% (the straight division overstates the monthly rate and
    understates the annual one when multiplied back). Works on scalars and arrays; rates must lie in [0, 1].
    """
    a = np.asarray(annual, dtype=float)
    if np.any((a < 0) | (a > 1)):
        raise ValueError("a churn rate must lie between 0 and 1")
    out = 1.0 - (1.0 - a) ** (1.0 / 12.0)
    return float(out) if out.ndim == 0 else out


def _boot_sums(mats: list, n_boot: int, seed: int) -> list[np.ndarray]:
    """Bootstrap replicate sums over customers: for each (customers × k) matrix X, W @ X (n_boot × k), W the
    Poisson(1) weights per replicate and customer (:func:`csanalysis.stats.bootstrap.poisson_weights`, drawn in
    blocks of replicates)."""
    return replicate_sums(poisson_weights(np.random.default_rng(seed), mats[0].shape[0], n_boot), *mats)


def _ratio(num, den):
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan)


# --------------------------------------------------------------------------------------------- results


@dataclass
class ChurnSummary(TableSummary):
    """Pooled monthly customer churn over a window, its compounded annual equivalent and the straight ×12."""

    window: int
    first_month: pd.Timestamp | None
    last_month: pd.Timestamp | None
    churned: int
    customer_months: int
    monthly: Estimate
    annual: Estimate
    annual_straight: float  # 12 × monthly (what the straight multiplication gives)
    gap: float  # annual_straight − annual (compounded)
    note: str = ""
    assumption: str = COMPOUNDING_ASSUMPTION

    def table(self) -> pd.DataFrame:
        rows = [self.monthly.row(), self.annual.row(),
                {"metric": "annual_churn_straight", "estimate": self.annual_straight, "lower": self.monthly.lower * 12,
                 "upper": self.monthly.upper * 12, "formula": "12 × monthly churn (not compounded)",
                 "interval": "Wilson × 12", "note": ""}]
        return pd.DataFrame(rows)

    @property
    def summary(self) -> pd.DataFrame:
        """Monthly, compounded annual and straight ×12 churn with their intervals (:meth:`table`)."""
        return self.table()

    def to_dict(self) -> dict:
        return json_safe({
            "window_months": self.window,
            "first_month": self.first_month, "last_month": self.last_month,
            "churned": self.churned, "customer_months_at_risk": self.customer_months,
            "monthly_churn": self.monthly.to_dict(), "annual_churn_compounded": self.annual.to_dict(),
            "annual_churn_straight": self.annual_straight, "straight_minus_compounded": self.gap,
            "assumption": self.assumption, **({"note": self.note} if self.note else {}),
        })

    def metrics(self) -> dict:
        """The churn summary's part of ``metrics.json``: the monthly churn and its compounded annual equivalent
        (estimates), the straight ×12, and the window they pool."""
        d = self.to_dict()
        return {"monthly_churn": d["monthly_churn"], "annual_churn": d["annual_churn_compounded"],
                "annual_churn_straight": d["annual_churn_straight"],
                "churn_window": {k: d[k] for k in ("window_months", "first_month", "last_month", "churned",
                                                   "customer_months_at_risk", "assumption")}}


@dataclass
class LTVResult(TableSummary):
    """LTV three ways, CAC payback and LTV:CAC, with the inputs (ARPA, monthly churn, CAC) and bootstrap intervals."""

    table: pd.DataFrame  # metric, formula, estimate, lower, upper, interval, note
    arpa: Estimate
    monthly_churn: Estimate
    cac: Estimate
    gross_margin: float
    window: int
    inputs: dict = field(default_factory=dict)

    @property
    def summary(self) -> pd.DataFrame:
        """LTV three ways, CAC payback and LTV:CAC with their intervals (``table``)."""
        return self.table

    def get(self, metric: str) -> Estimate:
        r = self.table.set_index("metric").loc[metric]
        return Estimate(metric, r["estimate"], r["lower"], r["upper"], r["formula"], r["interval"], r["note"])

    def to_dict(self) -> dict:
        out = {m: self.get(m).to_dict() for m in self.table["metric"]}
        out["inputs"] = {"arpa": self.arpa.to_dict(), "monthly_churn": self.monthly_churn.to_dict(),
                         "cac": self.cac.to_dict(), "gross_margin": self.gross_margin, "churn_window_months": self.window,
                         **self.inputs}
        return json_safe(out)

    def metrics(self) -> dict:
        """The LTV's part of ``metrics.json`` (``ltv``: :meth:`to_dict`)."""
        return {"ltv": self.to_dict()}


# --------------------------------------------------------------------------------------------- the grid


@dataclass
class _Grid:
    """Customer × month matrices in integer cents (sparse), columns = months m0 … as_of."""

    ids: np.ndarray
    m0: int
    as_m: int
    grace: int
    mrr: sparse.csr_matrix
    moves: dict  # name → customers × months, cents (new, expansion, contraction, churn, reactivation, grace_*)
    # customers × months, 1/0: an active month (a panel row: MRR above zero, or a purchase log's month with a
    # purchase whatever it sums to) and a churn event (the month after a spell's last active month). A purchase
    # log's churn after a month summing to zero or below moves no revenue (or a negative amount) yet is a churn
    active: sparse.csr_matrix | None = None
    lost: sparse.csr_matrix | None = None

    @property
    def n_months(self) -> int:
        return self.as_m - self.m0 + 1

    def col(self, m: int):
        """MRR column (cents, dense) for month index m; zeros before the window."""
        if m < self.m0 or m > self.as_m:
            return np.zeros(len(self.ids), dtype=np.int64)
        return self.mrr[:, m - self.m0].toarray().ravel()

    def active_col(self, m: int):
        """Active (1/0, dense) in month index m: a panel row, whatever its MRR (see ``active``)."""
        if m < self.m0 or m > self.as_m:
            return np.zeros(len(self.ids), dtype=np.int64)
        return self.active[:, m - self.m0].toarray().ravel()


def _grid(ds: Dataset) -> _Grid:
    """The customer × month grid of MRR and movements, built once per Dataset: rates, the churn summary, the
    LTV inputs and the MRR bridge each read it (it is costly to build at scale). It is rebuilt when the
    Dataset's panel, spells or customers (pending or built) are replaced or its settings change (a frame edited in
    place is not noticed: replace it instead)."""
    raw = ds.__dict__  # the tables as they are, pending or built: reading them here must not build them
    key = (raw.get("panel"), raw.get("spells"), raw.get("customers"), ds.as_of_month, ds.settings)
    hit = raw.get("_metrics_grid")
    if hit is not None and all(a is b for a, b in zip(hit[0][:3], key[:3])) and hit[0][3:] == key[3:]:
        return hit[1]
    g = _build_grid(ds)
    ds.__dict__["_metrics_grid"] = ((raw.get("panel"), raw.get("spells"), raw.get("customers"), *key[3:]), g)
    return g


def _build_grid(ds: Dataset) -> _Grid:
    """The grid from the engine panel and spells: the customers' paid months come as integer arrays
    (:func:`csanalysis.data.keys.panel_rows`, each with its spell's last paid month and event), never as the
    pandas panel."""
    as_m = ds.as_of_m
    grace = int(ds.settings.grace_months)
    # every customer of the panel or the customers table, sorted as fixed-width text (numpy compares those far
    # faster than Python strings); the panel's distinct ids come from the engine
    panel = ds.engine_table("panel")
    distinct = panel.select(customer_id=panel.customer_id.cast("string")).distinct().execute()["customer_id"]
    union = np.concatenate([distinct.to_numpy(dtype=object), ds.customers["customer_id"].astype(str).to_numpy()])
    del distinct
    ids = np.unique(union.astype(str)).astype(object) if len(union) else union
    n = len(ids)
    rows = panel_rows(ds, ids, ("mrr", "spell"), spells=("last_m", "event"))
    if len(rows["row"]) == 0:
        T = 1
        empty = sparse.csr_matrix((n, T), dtype=np.int64)
        return _Grid(ids, as_m, as_m, grace, empty, {k: empty.copy() for k in (*MOVEMENTS, "grace_gap", "grace_return")},
                     empty.copy(), empty.copy())
    i, m = rows.pop("row"), rows.pop("m")  # int32 (as the spell and month columns below)
    m0 = int(min(m.min(), ds.data_start_m))
    T = as_m - m0 + 1
    j = m - np.int32(m0)
    cents = np.rint(rows.pop("mrr") * 100).astype(np.int64)
    spell = rows.pop("spell")
    # the spell's last paid month and event (the one churn definition)
    last_m, event = rows.pop("last_m"), rows.pop("event")

    # (the rows come sorted by customer and month, as the steps below need)
    same_prev = np.r_[False, i[1:] == i[:-1]]
    prev_j = np.r_[-10, j[:-1]]
    prev_c = np.r_[0, cents[:-1]]
    prev_spell = np.r_[0, spell[:-1]]
    same_next = np.r_[i[1:] == i[:-1], False]
    next_j = np.r_[j[1:], -10]

    continuing = same_prev & (prev_j == j - 1)
    spell_first = ~same_prev | (spell != prev_spell)
    arriving = ~continuing
    delta = cents - prev_c
    departing = ~(same_next & (next_j == j + 1)) & (j + 1 < T)
    churn = departing & (event == 1) & (m == last_m)
    gap = departing & ~churn  # spell continues (pays again within the grace period, or still censored)

    def mat(mask, values, shift=0):
        return sparse.csr_matrix((values[mask], (i[mask], j[mask] + shift)), shape=(n, T), dtype=np.int64)

    grace_return = mat(arriving & ~spell_first, cents)
    grace_gap = mat(gap, cents, 1)
    moves = {
        "new": mat(arriving & spell_first & (spell == 1), cents),
        "reactivation": mat(arriving & spell_first & (spell > 1), cents),
        "expansion": mat(continuing & (delta > 0), delta) + grace_return,
        "contraction": mat(continuing & (delta < 0), -delta) + grace_gap,
        "churn": mat(churn, cents, 1),
        "grace_gap": grace_gap,
        "grace_return": grace_return,
    }
    mrr = sparse.csr_matrix((cents, (i, j)), shape=(n, T), dtype=np.int64)
    ones = np.ones(len(i), dtype=np.int64)
    return _Grid(ids, m0, as_m, grace, mrr, moves, mat(np.ones(len(i), bool), ones), mat(churn, ones, 1))


@dataclass
class _Periods:
    keys: np.ndarray  # period key (first month index of the calendar period)
    first: np.ndarray  # first month index inside the table
    last: np.ndarray
    months: np.ndarray
    complete: np.ndarray
    P: sparse.csr_matrix  # grid months × periods (1 where the month belongs to the period; opening month excluded)


def _periods(m0: int, as_m: int, freq: str, fy_start: int) -> _Periods:
    """The reporting periods of months m0 + 1 … as_m (month m0 is the opening balance)."""
    if freq not in FREQ_MONTHS:
        raise ValueError(f"freq={freq!r}: use one of {list(FREQ_MONTHS)}")
    L = FREQ_MONTHS[freq]
    months = np.arange(m0 + 1, as_m + 1)
    key = _period_key(months, freq, fy_start)
    keys, which = np.unique(key, return_inverse=True)
    first = np.full(len(keys), np.iinfo(np.int64).max)
    last = np.full(len(keys), -1)
    np.minimum.at(first, which, months)
    np.maximum.at(last, which, months)
    counts = np.bincount(which, minlength=len(keys))
    complete = (first == keys) & (last == keys + L - 1)
    P = sparse.csr_matrix((np.ones(len(months)), (months - m0, which)), shape=(as_m - m0 + 1, len(keys)))
    return _Periods(keys, first, last, counts, complete, P)


def _per_customer(g: _Grid, pr: _Periods) -> dict[str, Any]:
    """Per customer × period: movement sums (cents) and starting / ending MRR (cents)."""
    out = {k: (v.astype(np.float64) @ pr.P).tocsc() for k, v in g.moves.items()}
    out["start"] = g.mrr[:, pr.first - 1 - g.m0].astype(np.float64).tocsc()
    out["end"] = g.mrr[:, pr.last - g.m0].astype(np.float64).tocsc()
    return out


# --------------------------------------------------------------------------------------------- movements


def mrr_movements(ds: Dataset, freq: str = "month", *, cents: bool = False) -> pd.DataFrame:
    """MRR movements per period (see the module docstring for every definition and the grace-gap rule).

    Columns: ``period`` (first day of the period), ``months`` (months of the period inside the table),
    ``complete``, ``provisional`` (contains months after as_of − grace_months), ``starting_mrr``, ``new``,
    ``expansion``, ``contraction``, ``churn``, ``reactivation``, ``ending_mrr``, ``net_new_mrr``, the grace-gap
    parts (``grace_gap_mrr`` ⊂ contraction, ``grace_return_mrr`` ⊂ expansion), ``customers_start``,
    ``customers_end`` and a customer count per category. Money in currency units, or integer cents with
    ``cents=True``; either way ``ending = starting + new + expansion − contraction − churn + reactivation``.

    Computed in the engine (two grouped queries over the engine panel and spells; see :func:`_movements_expr`).
    """
    as_m = ds.as_of_m
    grace = int(ds.settings.grace_months)
    panel = ds.engine_table("panel")
    # paid customers and MRR (cents) per month: the opening balance and every period's start and end
    by_month = (panel.mutate(c=_cents(panel)).group_by("m")
                .aggregate(mrr=_ibis_.c.sum(), customers=_ibis_.c.count()).execute())
    m0 = int(min(by_month["m"].min(), ds.data_start_m)) if len(by_month) else as_m
    pr = _periods(m0, as_m, freq, ds.settings.fiscal_year_start)
    per_key = _movements_expr(ds, as_m, m0, freq).execute().set_index("key").reindex(pr.keys).fillna(0)
    by_month = by_month.set_index("m").reindex(np.arange(m0, as_m + 1)).fillna(0)
    at = lambda col, m: by_month[col].to_numpy(dtype=np.float64)[m - m0]  # noqa: E731
    scale = (lambda a: np.rint(a).astype(np.int64)) if cents else (lambda a: np.rint(a) / 100.0)
    tot = lambda name: per_key[name].to_numpy(dtype=np.float64)  # noqa: E731
    df = pd.DataFrame({
        "period": [_month(k) for k in pr.keys],
        "months": pr.months.astype(np.int64),
        "complete": pr.complete,
        "provisional": ~ds.window_closed(pr.last, 0, grace),  # a stop in the last month is not a churn yet
        "starting_mrr": scale(at("mrr", pr.first - 1)),
        **{k: scale(tot(k)) for k in MOVEMENTS},
        "ending_mrr": scale(at("mrr", pr.last)),
    })
    df["net_new_mrr"] = df["ending_mrr"] - df["starting_mrr"]
    df["grace_gap_mrr"] = scale(tot("grace_gap"))
    df["grace_return_mrr"] = scale(tot("grace_return"))
    df["customers_start"] = at("customers", pr.first - 1).astype(np.int64)
    df["customers_end"] = at("customers", pr.last).astype(np.int64)
    for k, name in COUNT_NAMES.items():
        df[name] = tot("n_" + k).astype(np.int64)
    return df


def _cents(panel):
    """Engine expression: the panel's MRR in integer cents."""
    return (panel.mrr * 100).round().cast("int64")


def _movements_expr(ds: Dataset, as_m: int, m0: int, freq: str):
    """Engine query: per period key, the sum (cents) and the number of customers of each movement.

    Each paid month is compared with the customer's previous and next paid month (window functions) and with its
    spell's last month and event, following the same rules as :func:`_grid`; movements dated in month t + 1
    (churn, a grace-gap drop) come from the last paid month t. A customer's movements are summed within the
    period before counting, so a quarterly count is distinct customers."""
    import ibis

    panel = ds.engine_table("panel")
    spells = ds.engine_table("spells").select("customer_id", "spell", s_last="last_m", s_event="event")
    p = panel.select("customer_id", "m", "spell", c=_cents(panel))
    p = p.join(spells, ["customer_id", "spell"]).select("customer_id", "m", "spell", "c", "s_last", "s_event")
    w = ibis.window(group_by="customer_id", order_by="m")
    p = p.mutate(prev_m=p.m.lag().over(w), prev_c=p.c.lag().over(w), prev_spell=p.spell.lag().over(w),
                 next_m=p.m.lead().over(w))
    continuing = p.prev_m.notnull() & (p.prev_m == p.m - 1)
    spell_first = p.prev_m.isnull() | (p.spell != p.prev_spell)
    delta = p.c - p.prev_c
    departing = (p.next_m.isnull() | (p.next_m != p.m + 1)) & (p.m + 1 <= as_m)
    churn = departing & (p.s_event == 1) & (p.m == p.s_last)
    gap = departing & ~churn
    zero = ibis.literal(0, "int64")
    one = ibis.literal(1, "int64")
    arrive_new = ~continuing & spell_first
    grace_return = ibis.ifelse(~continuing & ~spell_first, p.c, zero)
    # f_<name>: the event happened (1/0), counted apart from the amount: a purchase log's month of free items or of
    # returns moves zero or a negative amount, yet its buyer is new, reactivated, churned or in a grace gap
    at_m = p.select(
        "customer_id", month=p.m,
        new=ibis.ifelse(arrive_new & (p.spell == 1), p.c, zero),
        reactivation=ibis.ifelse(arrive_new & (p.spell > 1), p.c, zero),
        expansion=ibis.ifelse(continuing & (delta > 0), delta, zero) + grace_return,
        contraction=ibis.ifelse(continuing & (delta < 0), -delta, zero),
        churn=zero, grace_gap=zero, grace_return=grace_return,
        f_new=ibis.ifelse(arrive_new & (p.spell == 1), one, zero),
        f_reactivation=ibis.ifelse(arrive_new & (p.spell > 1), one, zero),
        f_churn=zero, f_grace_gap=zero, f_grace_return=ibis.ifelse(~continuing & ~spell_first, one, zero),
    )
    at_next = p.filter(departing).select(
        "customer_id", month=p.m + 1,
        new=zero, reactivation=zero, expansion=zero,
        contraction=ibis.ifelse(gap, p.c, zero),
        churn=ibis.ifelse(churn, p.c, zero),
        grace_gap=ibis.ifelse(gap, p.c, zero), grace_return=zero,
        f_new=zero, f_reactivation=zero, f_churn=ibis.ifelse(churn, one, zero), f_grace_gap=ibis.ifelse(gap, one, zero),
        f_grace_return=zero,
    )
    flagged = ["new", "churn", "reactivation", "grace_gap", "grace_return"]
    names = ["new", "expansion", "contraction", "churn", "reactivation", "grace_gap", "grace_return"] + [
        "f_" + n for n in flagged]
    cast = lambda t: t.select("customer_id", month=t.month.cast("int64"), **{n: t[n].cast("int64") for n in names})  # noqa: E731
    rows = cast(at_m).union(cast(at_next)).filter((_ibis_.month > m0) & (_ibis_.month <= as_m))
    rows = rows.mutate(key=_period_key(rows.month, freq, ds.settings.fiscal_year_start))
    if FREQ_MONTHS[freq] > 1:  # a customer's movements summed within the period, then counted once
        rows = rows.group_by(["customer_id", "key"]).aggregate(**{n: rows[n].sum() for n in names})
    # (monthly: a customer has at most one row per month, since a month t + 1 row means t + 1 was not paid)
    return rows.group_by("key").aggregate(
        **{n: rows[n].sum() for n in names if not n.startswith("f_")},
        **{"n_" + n: ibis.ifelse(rows[("f_" + n) if n in flagged else n] != 0, 1, 0).sum()
           for n in names if not n.startswith("f_")},
    )


# --------------------------------------------------------------------------------------------- rates


def rates(ds: Dataset, freq: str = "month", *, alpha: float = 0.05, n_boot: int = DEFAULT_BOOT,
          seed: int = 0) -> pd.DataFrame:
    """Churn and retention rates per period with 95% intervals (long format).

    One row per period and metric (``customer_churn_rate``, ``gross_mrr_churn_rate``, ``net_mrr_churn_rate``,
    ``nrr_12m``, ``grr_12m``, ``quick_ratio``): ``estimate``, ``lower``, ``upper``, ``numerator``,
    ``denominator`` (customers or currency), ``interval`` (Wilson for the customer churn rate, a bootstrap over
    customers for the revenue ratios), ``formula``, ``note`` (why a value is undefined) and ``provisional``
    (the period reaches into the last ``grace_months`` months, whose churn is not observable yet).

    Parameters
    ----------
    ds : Dataset
        The loaded data (:func:`csanalysis.load_dataset`).
    freq : str
        Length of a period: a key of ``FREQ_MONTHS`` (``'month'``, ``'quarter'`` …).
    alpha : float
        1 − the intervals' confidence level.
    n_boot : int
        Bootstrap replicates over customers for the revenue ratios.
    seed : int
        Seed of the random draws.

    Returns
    -------
    pandas.DataFrame
        One row per period and metric, with the columns above.
    """
    g = _grid(ds)
    pr = _periods(g.m0, g.as_m, freq, ds.settings.fiscal_year_start)
    pc = _per_customer(g, pr)
    n_per = len(pr.keys)

    # customer churn: customers paying at the start who churned (at least once) within the period
    paying0 = g.active[:, pr.first - 1 - g.m0].astype(np.float64).tocsc()
    lost_c = paying0.multiply((g.lost.astype(np.float64) @ pr.P) > 0)
    at_risk = np.asarray(paying0.sum(axis=0)).ravel()
    lost = np.asarray(lost_c.sum(axis=0)).ravel()
    c_lo, c_hi = wilson(lost, at_risk, alpha)  # NaN where no customer was paying at the start

    # revenue components per customer × period (cents)
    loss = pc["churn"] + pc["contraction"]
    gain = pc["expansion"] + pc["reactivation"]
    inflow = pc["new"] + gain
    base_cols = pr.last - 12 - g.m0
    has_base = base_cols >= 0
    base = sparse.csc_matrix((len(g.ids), n_per))
    cur = sparse.csc_matrix((len(g.ids), n_per))
    if has_base.any():
        b = g.mrr[:, base_cols[has_base]].astype(np.float64).tocsc()
        e = g.mrr[:, (pr.last - g.m0)[has_base]].astype(np.float64).tocsc()
        e = e.multiply(b > 0).tocsc()
        capped = e.minimum(b).tocsc()
        sel = sparse.csr_matrix((np.ones(has_base.sum()), (np.arange(has_base.sum()), np.nonzero(has_base)[0])),
                                shape=(int(has_base.sum()), n_per))
        base, cur, cap = (b @ sel).tocsc(), (e @ sel).tocsc(), (capped @ sel).tocsc()
    else:
        cap = cur
    mats = [pc["start"], loss, gain, inflow, base, cur, cap]
    sums = [np.asarray(M.sum(axis=0)).ravel() for M in mats]
    boots = _boot_sums(mats, n_boot, seed)
    S, LOSS, GAIN, IN, BASE, CUR, CAP = sums
    bS, bLOSS, bGAIN, bIN, bBASE, bCUR, bCAP = boots
    defs = {
        "gross_mrr_churn_rate": (LOSS, S, _ratio(bLOSS, bS), "no MRR at the start of the period"),
        "net_mrr_churn_rate": (LOSS - GAIN, S, _ratio(bLOSS - bGAIN, bS), "no MRR at the start of the period"),
        "nrr_12m": (CUR, BASE, _ratio(bCUR, bBASE), "no customer was paying 12 months before the period's last month"),
        "grr_12m": (CAP, BASE, _ratio(bCAP, bBASE), "no customer was paying 12 months before the period's last month"),
        "quick_ratio": (IN, LOSS, _ratio(bIN, bLOSS), "no contraction or churn MRR in the period (nothing to divide by)"),
    }
    periods = [_month(k) for k in pr.keys]
    provisional = ~ds.window_closed(pr.last, 0, g.grace)  # a stop in the period's last month is not a churn yet
    frames = [pd.DataFrame({
        "period": periods, "metric": "customer_churn_rate", "estimate": _ratio(lost, at_risk), "lower": c_lo,
        "upper": c_hi, "numerator": lost, "denominator": at_risk, "interval": "Wilson",
        "formula": FORMULAS["customer_churn_rate"],
        "note": np.where(at_risk > 0, "", "no customer was paying at the start of the period"),
    })]
    interval = f"bootstrap over customers ({n_boot} replicates, percentile)"
    for metric, (num, den, boot, why) in defs.items():
        lo, hi = percentile_interval(boot, alpha)
        note = np.where(den != 0, "", why)
        if metric in ("nrr_12m", "grr_12m"):
            note = np.where(has_base, note, "needs 12 months of data before the period's last month")
        ok = den != 0
        frames.append(pd.DataFrame({
            "period": periods, "metric": metric, "estimate": _ratio(num, den), "lower": np.where(ok, lo, np.nan),
            "upper": np.where(ok, hi, np.nan), "numerator": num / 100.0, "denominator": den / 100.0,
            "interval": interval, "formula": FORMULAS[metric], "note": note,
        }))
    out = pd.concat(frames, ignore_index=True)
    out["provisional"] = np.tile(provisional, len(frames))
    order = {m: k for k, m in enumerate(RATE_METRICS)}
    out = out.sort_values(["period", "metric"], key=lambda s: s.map(order) if s.name == "metric" else s,
                          kind="stable").reset_index(drop=True)
    return out


# --------------------------------------------------------------------------------------------- churn summary


def _window(ds: Dataset, g: _Grid, window: int) -> tuple[int, int]:
    """First and last month index of the last ``window`` months whose churn is observable."""
    if window < 1:
        raise ValueError("window must be at least one month")
    last = ds.last_closed_month(0, g.grace)
    first = max(last - window + 1, g.m0 + 1)
    return first, last


def _window_counts(g: _Grid, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """Per customer: churn events in months first…last and paid months first − 1 … last − 1 (at risk)."""
    n = len(g.ids)
    if last < first:
        return np.zeros(n), np.zeros(n)
    churn = g.lost[:, first - g.m0:last - g.m0 + 1]
    risk = g.active[:, first - 1 - g.m0:last - g.m0]
    return np.asarray(churn.sum(axis=1)).ravel().astype(float), np.asarray(risk.sum(axis=1)).ravel().astype(float)


def churn_summary(ds: Dataset, window: int = 12, *, alpha: float = 0.05) -> ChurnSummary:
    """Pooled monthly customer churn over the last ``window`` observable months, and its annual equivalents.

    monthly = churn events ÷ customer-months at risk (a customer paying in month t − 1 is at risk in month t),
    with a Wilson interval. annual (compounded) = 1 − (1 − monthly)^12, assuming a constant monthly rate; the
    straight 12 × monthly and the gap between the two are given beside it. The window ends ``grace_months``
    before ``as_of`` (later churn is not observable yet).
    """
    g = _grid(ds)
    first, last = _window(ds, g, window)
    lost_i, risk_i = _window_counts(g, first, last)
    lost, risk = int(lost_i.sum()), int(risk_i.sum())
    note = ""
    if risk == 0:
        note = "no customer-month at risk in the window (no paying customers before it)"
    rate = lost / risk if risk else np.nan
    lo, hi = wilson(lost, risk, alpha)  # NaN when no customer-month is at risk
    monthly = Estimate("monthly_churn", rate, lo, hi, "churn events ÷ customer-months at risk (pooled over the window)",
                       "Wilson", note, risk)
    if risk:
        annual = Estimate("annual_churn_compounded", annual_from_monthly(rate), annual_from_monthly(lo),
                          annual_from_monthly(hi), "1 − (1 − monthly churn)^12", "Wilson, transformed",
                          COMPOUNDING_ASSUMPTION, risk)
    else:
        annual = Estimate("annual_churn_compounded", np.nan, formula="1 − (1 − monthly churn)^12", note=note)
    straight = 12 * rate if risk else np.nan
    return ChurnSummary(
        window=window, first_month=_month(first) if last >= first else None,
        last_month=_month(last) if last >= first else None, churned=lost, customer_months=risk, monthly=monthly,
        annual=annual, annual_straight=straight, gap=straight - annual.estimate if risk else np.nan, note=note,
    )


# --------------------------------------------------------------------------------------------- ARPA and LTV


def _arpa_estimate(mrr_cents: np.ndarray, paying: np.ndarray, W_mrr, W_pay, alpha) -> Estimate:
    n = int(paying.sum())
    if n == 0:
        return Estimate("arpa", np.nan, formula="MRR ÷ paying accounts", note="no paying account in the month", n=0)
    est = mrr_cents.sum() / n / 100.0
    boot = _ratio(W_mrr, W_pay) / 100.0
    lo, hi = percentile_interval(boot[:, None], alpha)
    return Estimate("arpa", est, float(lo[0]), float(hi[0]), "MRR ÷ paying accounts",
                    f"bootstrap over customers ({len(boot)} replicates, percentile)", "", n)


def arpa(ds: Dataset, month=None, *, alpha: float = 0.05, n_boot: int = DEFAULT_BOOT, seed: int = 0) -> Estimate:
    """Average MRR per active account in ``month`` (default: the ``as_of`` month), bootstrap over accounts. Active:
    MRR above zero, or a purchase log's month with a purchase whatever it sums to (see the module docstring).

    Parameters
    ----------
    ds : Dataset
        The loaded data (:func:`csanalysis.load_dataset`).
    month : date-like or None
        The month (None: the ``as_of`` month).
    alpha : float
        1 − the intervals' confidence level.
    n_boot : int
        Bootstrap replicates over accounts.
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    Estimate
        ARPA with its interval (NaN with a note when no account paid).
    """
    g = _grid(ds)
    m = g.as_m if month is None else month_index(month)
    c = g.col(m).astype(np.float64)
    pay = g.active_col(m).astype(np.float64)
    keep = pay > 0
    bm, bp = _boot_sums([c[keep, None], pay[keep, None]], n_boot, seed)
    est = _arpa_estimate(c[keep], pay[keep], bm[:, 0], bp[:, 0], alpha)
    est.note = est.note or f"accounts paying in {_month(m):%Y-%m}"
    return est


def _quantiles_unbounded(boot: np.ndarray, alpha: float) -> tuple[float, float, str]:
    """Percentile interval where +inf replicates (no churn resampled) are allowed; an infinite bound is NaN."""
    lo, hi = percentile_interval(boot, alpha, method="inverted_cdf")  # a replicate's value: +inf stays +inf
    note = ""
    if np.isinf(hi):
        b = boot[~np.isnan(boot)]
        note = (f"upper bound unbounded: {np.isinf(b).mean():.0%} of bootstrap replicates resampled no churn")
        hi = np.nan
    if np.isinf(lo):
        lo = np.nan
    return float(lo), float(hi), note


def ltv(ds: Dataset, *, window: int = 12, gross_margin: float | None = None, alpha: float = 0.05,
        n_boot: int = DEFAULT_BOOT, seed: int = 0) -> LTVResult:
    """LTV three ways, CAC payback and LTV:CAC, each labelled with its formula, with bootstrap intervals.

    ARPA = average MRR of the accounts paying in the ``as_of`` month; monthly churn = the pooled rate of
    :func:`churn_summary` (same ``window``); CAC = average ``acquisition_cost`` over the customers that have one.
    One joint bootstrap over customers (Poisson weights) resamples all three. LTV is undefined (NaN here, None
    with a reason in ``to_dict``) when no churn was observed; an interval bound is NaN with a note when too
    many replicates resample no churn (the bound is unbounded).

    Parameters
    ----------
    ds : Dataset
        The loaded data (:func:`csanalysis.load_dataset`).
    window : int
        Months the monthly churn is pooled over (:func:`churn_summary`).
    gross_margin : float or None
        Share of revenue kept (None: the Dataset's).
    alpha : float
        1 − the intervals' confidence level.
    n_boot : int
        Replicates of the joint bootstrap over customers.
    seed : int
        Seed of the random draws.

    Returns
    -------
    LTVResult
        The table (metric, formula, estimate, lower, upper, interval, note) and its inputs.
    """
    gm = float(ds.settings.gross_margin if gross_margin is None else gross_margin)
    if not 0 < gm <= 1:
        raise ValueError("gross_margin must be a share in (0, 1]")
    g = _grid(ds)
    first, last = _window(ds, g, window)
    lost_i, risk_i = _window_counts(g, first, last)
    mrr = g.col(g.as_m).astype(np.float64)
    pay = g.active_col(g.as_m).astype(np.float64)
    cust = ds.customers.assign(customer_id=ds.customers["customer_id"].astype(str)).set_index("customer_id")
    if "acquisition_cost" in cust.columns:
        cost = pd.to_numeric(cust["acquisition_cost"], errors="coerce").reindex(g.ids).to_numpy(dtype=float)
    else:
        cost = np.full(len(g.ids), np.nan)
    has_cac = ~np.isnan(cost)
    cac_v = np.where(has_cac, cost, 0.0)
    X = np.column_stack([mrr, pay, lost_i, risk_i, cac_v, has_cac.astype(float)])
    (B,) = _boot_sums([X], n_boot, seed)
    interval = f"bootstrap over customers ({n_boot} replicates, percentile)"

    a = _arpa_estimate(mrr[pay > 0], pay[pay > 0], B[:, 0], B[:, 1], alpha)
    lost, risk = lost_i.sum(), risk_i.sum()
    churn_est = lost / risk if risk else np.nan
    churn_b = _ratio(B[:, 2], B[:, 3])
    c_lo, c_hi = percentile_interval(churn_b[:, None], alpha)
    churn = Estimate("monthly_churn", churn_est, float(c_lo[0]), float(c_hi[0]),
                     "churn events ÷ customer-months at risk (pooled over the window)", interval,
                     "" if risk else "no customer-month at risk in the window", int(risk))
    n_cac = int(has_cac.sum())
    cac_est = cost[has_cac].mean() if n_cac else np.nan
    cac_b = _ratio(B[:, 4], B[:, 5])
    k_lo, k_hi = percentile_interval(cac_b[:, None], alpha)
    cac = Estimate("cac", cac_est, float(k_lo[0]), float(k_hi[0]), "mean acquisition_cost",
                   interval, "" if n_cac else "no acquisition_cost in the customers table", n_cac)

    arpa_b = _ratio(B[:, 0], B[:, 1]) / 100.0
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(churn_b > 0, 1.0 / np.where(churn_b > 0, churn_b, 1.0), np.inf)
    inv = np.where(np.isnan(churn_b), np.nan, inv)
    ltv_rev_b = arpa_b * inv
    ltv_gm_b = ltv_rev_b * gm
    net_b = ltv_gm_b - cac_b
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_b = np.where(cac_b > 0, ltv_gm_b / np.where(cac_b > 0, cac_b, 1.0), np.nan)
        payback_b = _ratio(cac_b, arpa_b * gm)

    no_churn = (f"undefined: no churn observed in the window ({int(risk)} customer-months at risk, 0 churned), "
                "so ARPA ÷ churn has no finite value") if risk and lost == 0 else ""
    reasons = {"arpa": a.note if not a.defined else "", "churn": churn.note or no_churn,
               "cac": cac.note}
    ok_ltv = a.defined and churn.defined and churn_est > 0
    ltv_rev = a.estimate / churn_est if ok_ltv else np.nan
    ltv_gm = ltv_rev * gm if ok_ltv else np.nan
    rows = []

    def add(metric, formula, est, boot, why, unbounded=True):
        if why or est is None or (isinstance(est, float) and math.isnan(est)):
            rows.append({"metric": metric, "formula": formula, "estimate": np.nan, "lower": np.nan, "upper": np.nan,
                         "interval": interval, "note": why or "not estimable"})
            return
        if unbounded:
            lo, hi, note = _quantiles_unbounded(boot, alpha)
        else:
            l_, h_ = percentile_interval(boot[:, None], alpha)
            lo, hi, note = float(l_[0]), float(h_[0]), ""
        rows.append({"metric": metric, "formula": formula, "estimate": float(est), "lower": lo, "upper": hi,
                     "interval": interval, "note": note})

    ltv_why = reasons["arpa"] or reasons["churn"]
    cac_why = reasons["cac"]
    add("ltv_revenue", "ARPA ÷ monthly churn", ltv_rev, ltv_rev_b, ltv_why)
    add("ltv_gross_margin", f"ARPA × gross margin ({gm:g}) ÷ monthly churn", ltv_gm, ltv_gm_b, ltv_why)
    add("ltv_net_of_cac", f"ARPA × gross margin ({gm:g}) ÷ monthly churn − CAC",
        ltv_gm - cac_est if ok_ltv and n_cac else np.nan, net_b, ltv_why or cac_why)
    ratio_why = ltv_why or cac_why or ("CAC is zero" if n_cac and cac_est == 0 else "")
    add("ltv_to_cac", f"(ARPA × gross margin ({gm:g}) ÷ monthly churn) ÷ CAC",
        ltv_gm / cac_est if not ratio_why else np.nan, ratio_b, ratio_why)
    add("cac_payback_months", f"CAC ÷ (ARPA × gross margin ({gm:g}))",
        cac_est / (a.estimate * gm) if a.defined and n_cac else np.nan, payback_b, reasons["arpa"] or cac_why,
        unbounded=False)
    table = pd.DataFrame(rows, columns=["metric", "formula", "estimate", "lower", "upper", "interval", "note"])
    return LTVResult(table=table, arpa=a, monthly_churn=churn, cac=cac, gross_margin=gm, window=window,
                     inputs={"churn_first_month": _month(first) if last >= first else None,
                      "churn_last_month": _month(last) if last >= first else None,
                      "churned": int(lost), "customer_months_at_risk": int(risk),
                      "arpa_month": _month(g.as_m)})


# --------------------------------------------------------------------------------------------- summary


NO_COMPLETE_MONTH = "no complete month"


def latest_rates(rates_table: pd.DataFrame) -> tuple[pd.Timestamp, dict[str, Estimate]]:
    """The last complete (not provisional) period of :func:`rates` and each of its rates as an :class:`Estimate`."""
    done = rates_table[~rates_table["provisional"]]
    last = done["period"].max()
    return last, {r["metric"]: Estimate(r["metric"], r["estimate"], r["lower"], r["upper"], r["formula"],
                                        r["interval"], r["note"])
                  for r in done[done["period"] == last].to_dict(orient="records")}


def rates_metrics(rates_table: pd.DataFrame) -> dict:
    """The rates' part of ``metrics.json``: the last complete period (``rates_month``) and its NRR, GRR, quick
    ratio and customer churn rate (``customer_churn_rate_month``), each an estimate, or none with the reason when
    no period is complete."""
    last, latest = latest_rates(rates_table)

    def est(m: str) -> dict:
        return latest[m].to_dict() if m in latest else Estimate.missing(NO_COMPLETE_MONTH, m).to_dict(details=())

    return {"rates_month": last, "nrr_12m": est("nrr_12m"), "grr_12m": est("grr_12m"),
            "quick_ratio": est("quick_ratio"), "customer_churn_rate_month": est("customer_churn_rate")}


def metrics_summary(ds: Dataset, *, window: int = 12, alpha: float = 0.05, n_boot: int = DEFAULT_BOOT,
                    seed: int = 0) -> dict:
    """A JSON-safe summary for ``metrics.json`` (no NaN: None with a ``reason``).

    Parameters
    ----------
    ds : Dataset
        The loaded data (:func:`csanalysis.load_dataset`).
    window : int
        Months the movements and the churn are summed over.
    alpha : float
        1 − the intervals' confidence level.
    n_boot : int
        Bootstrap replicates over customers (:func:`rates`, :func:`arpa`, :func:`ltv`).
    seed : int
        Seed of the bootstraps.

    Returns
    -------
    dict
        JSON-safe: the month, definitions, MRR, movements, the latest complete month's rates, churn, ARPA
        and LTV.
    """
    mov = mrr_movements(ds)
    r = rates(ds, alpha=alpha, n_boot=n_boot, seed=seed)
    done = r[~r["provisional"]]
    latest = {}
    if len(done):
        last = done["period"].max()
        for row in done[done["period"] == last].itertuples():
            e = Estimate(row.metric, row.estimate, row.lower, row.upper, row.formula, row.interval, row.note,
                         json_safe(row.denominator) if row.metric == "customer_churn_rate" else None)
            latest[row.metric] = e.to_dict()
        latest["month"] = last
    recent = mov.tail(window)
    moves = {k: float(recent[k].sum()) for k in MOVEMENTS}
    return json_safe({
        "as_of_month": ds.as_of_month,
        "grace_months": ds.settings.grace_months,
        "definitions": {
            "churn": ds.churn_definition(),
            "grace_gaps": GRACE_RULE,
            "net_mrr_churn_rate": FORMULAS["net_mrr_churn_rate"],
            "quick_ratio": FORMULAS["quick_ratio"],
        },
        "mrr": float(mov["ending_mrr"].iloc[-1]) if len(mov) else None,
        "paying_customers": int(mov["customers_end"].iloc[-1]) if len(mov) else None,
        "movements_last_months": {"months": int(recent["months"].sum()), **moves},
        "latest_complete_month_rates": latest,
        "churn": churn_summary(ds, window, alpha=alpha).to_dict(),
        "arpa": arpa(ds, alpha=alpha, n_boot=n_boot, seed=seed).to_dict(),
        "ltv": ltv(ds, window=window, alpha=alpha, n_boot=n_boot, seed=seed).to_dict(),
    })


__all__ = [
    "mrr_movements", "rates", "churn_summary", "arpa", "ltv", "metrics_summary",
    "annual_from_monthly", "monthly_from_annual", "Estimate", "ChurnSummary", "LTVResult", "latest_rates",
    "rates_metrics",
]
