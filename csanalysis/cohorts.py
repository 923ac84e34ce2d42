"""Cohort retention: of the customers who started in a period, how many (and how much revenue) are still here.

Everything reads the Dataset's panel and spells (the one churn definition). Logo matrices are counted in the
engine (DuckDB, Spark, a warehouse: one grouped query over the engine panel and spells); revenue and seat matrices
and pooled curves need per-customer values for their bootstrap over customers, and read the customers' panel rows
from the engine as integer arrays (:func:`csanalysis.data.keys.panel_rows`), never the pandas panel; the pooled
logo curve of customers never churned reads only the spells' durations.

* **Cohort** = the period of a customer's first paid month (the signup month for customers who started before
  the data window): ``month``, ``quarter``, ``year`` or ``fiscal_year`` (starting in
  ``settings.fiscal_year_start``).
* **Offsets** are tenure in months grouped by the period length: a quarterly cohort's column 1 is months 3–5
  of each customer's life, not the next calendar quarter.
* **Bases**: ``logo`` (share of the cohort's customers active in period k — paid in at least one of its
  months), ``revenue`` (net revenue retention: the cohort's average monthly MRR in period k ÷ its starting MRR;
  expansion and reactivation included), ``gross_revenue`` (each customer's MRR capped at its starting MRR).
  A customer's **starting MRR** is its MRR in its first full month: month 0 when it started on the 1st, else
  month 1 (month 0 if it never paid month 1). That rule is for subscriptions (a prorated first invoice); in a
  **purchase log** (``ds.layout``) the base is the cohort's first period itself: revenue retention at period k =
  the cohort's purchases in period k ÷ its purchases in period 0, so period 0 is 100%; ``gross_revenue`` caps
  each customer's purchases in a period at its purchases in period 0. ``seats`` (seat or "quantity" retention,
  ChartMogul's third basis): the cohort's average seats in force per month in period k ÷ the seats in force in
  each customer's first paid month, summed over the cohort. Seats count only in months the customer pays (a
  churned customer's seats are 0); like revenue retention it is net of expansion and contraction and includes
  reactivations (``active``), so it **can exceed 100%** when the cohort adds seats. Seats in force come from
  the ``customer_attributes`` history (rows of attribute ``seats``, the value in force at each month's end) and,
  before a customer's first row, from ``customers.seats`` (:func:`csanalysis.data.attributes.seats_in_force`).
  When the data hold only ``customers.seats`` (seats at signup), every customer's seats are constant, and seat
  retention **equals seat-weighted logo retention**: Σ seats of the customers active in period k ÷ Σ seats of
  the cohort (tests/test_cohort_seats.py checks it).
* **Definitions**: ``active`` (any spell; reactivations count) and ``unbroken`` (first spell still running).
* A cell is **missing** (NaN), never zero, when it cannot be observed yet: the cohort's last member has not
  completed period k by ``as_of``, or period k began before the data window. Cohorts still forming at
  ``as_of`` (partial periods) are left out.
* **Intervals**: Wilson 95% for logo cells, a bootstrap over customers for revenue and seat cells. Cohorts smaller
  than ``min_cohort_size`` are flagged (``small``) and greyed in the figure.
* **Cohorts that began before the data window** (``settings.data_start``) hold only the customers who were still
  there when the window opened (left truncation), so their rows overstate retention: they are retention *given
  survival to the window's start*. They are flagged (``before_window``; a marker in the figure, a column in
  :meth:`CohortRetention.long` and :meth:`CohortRetention.table`) and never chosen as the headline cell;
  :func:`pooled_curve` handles them by entering each customer only once observed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .data import Dataset
from .data.attributes import seats_in_force, seats_source
from .data.keys import panel_rows
from .estimate import Estimate
from .periods import PERIOD_MONTHS, month_index, month_start, period_label, period_start
from .stats.bootstrap import group_weights, interchangeable, percentile_interval, replicate_sums
from .stats.proportion import wilson

BASES = ("logo", "revenue", "gross_revenue", "seats")
DEFINITIONS = ("active", "unbroken")


@dataclass
class _Frame:
    """Per-customer arrays for one set of customers (vectorised cohort arithmetic)."""

    ids: np.ndarray
    cohort: np.ndarray  # cohort start month index per customer
    start: np.ndarray  # customer's start month index
    active: np.ndarray  # customers × periods (bool)
    value: np.ndarray | None = None  # customers × periods (average monthly MRR in the period)
    base: np.ndarray | None = None  # starting MRR per customer
    observable: dict = field(default_factory=dict)


def _frame(ds: Dataset, *, period: str, basis: str, definition: str, customers: pd.Index | None = None) -> tuple[_Frame, int]:
    _check_args(period, basis, definition)
    L = PERIOD_MONTHS[period]
    as_m = ds.as_of_m
    spells = ds.spells
    first = spells.loc[spells["spell"] == 1, ["customer_id", "start", "duration"]]
    if customers is not None:
        first = first[first["customer_id"].isin(customers)]
    # by id (sorted as fixed-width text: numpy compares those far faster than Python strings, same order)
    first = first.iloc[np.argsort(first["customer_id"].to_numpy().astype(str), kind="stable")].reset_index(drop=True)
    ids = first["customer_id"].to_numpy()
    start = month_index(first["start"])
    cohort = period_start(start, period, ds.settings.fiscal_year_start)
    n_periods = max(int((as_m - cohort.min()) // L) + 1, 1) if len(ids) else 1

    if definition == "unbroken":
        dur = first["duration"].to_numpy()
        kk = np.arange(n_periods)
        active = dur[:, None] > kk[None, :] * L
        if basis == "logo":  # the spells' durations say it all: no customer-month is read
            return _Frame(ids, cohort, start, active), L
    # the customers' panel rows from the engine, as integer arrays in the panel's order (no pandas panel)
    revenue = basis in ("revenue", "gross_revenue")
    rows = panel_rows(ds, ids, ("tenure", "mrr") if revenue else ("tenure",), first_spell=definition == "unbroken")
    row, tenure = rows["row"].astype(np.int64), rows.pop("tenure").astype(np.int64)
    k = tenure // L
    if definition != "unbroken":
        active = np.zeros((len(ids), n_periods), dtype=bool)
        active[row, k] = True
    fr = _Frame(ids, cohort, start, active)
    if revenue and ds.layout == "purchase_log":
        # the base is the customer's first period (unknown when it began before the data window)
        mrr = rows["mrr"]
        value = np.bincount(row * n_periods + k, weights=mrr / L, minlength=len(ids) * n_periods).reshape(len(ids), n_periods)
        base = np.where(start < ds.data_start_m, np.nan, value[:, 0])
        if basis == "gross_revenue":
            value = np.minimum(value, base[:, None])
        fr.value, fr.base = value, base
    elif revenue:
        mrr = rows["mrr"]
        # starting MRR (subscription): first full month (month 1 for mid-month starters, when paid)
        signup_day = ds.customers.set_index("customer_id").reindex(ids)["signup_date"].dt.day.to_numpy()
        m0 = np.full(len(ids), np.nan)
        m1 = np.full(len(ids), np.nan)
        m0[row[tenure == 0]] = mrr[tenure == 0]
        m1[row[tenure == 1]] = mrr[tenure == 1]
        use_m1 = (signup_day > 1) & ~np.isnan(m1)
        base = np.where(use_m1, m1, m0)
        if basis == "gross_revenue":
            mrr = np.minimum(mrr, base[row])
        value = np.bincount(row * n_periods + k, weights=mrr / L, minlength=len(ids) * n_periods).reshape(len(ids), n_periods)
        fr.value, fr.base = value, base
    if basis == "seats":
        # seats in force in each paid month (data/attributes.py: the history table, else the signup value, the
        # same in every month: then looked up once per customer)
        if seats_source(ds) == "signup":
            seats = seats_in_force(ds, ids, month_start(start))[row]
        else:
            seats = seats_in_force(ds, ids[row], month_start(rows["m"]))
        value = np.bincount(row * n_periods + k, weights=seats / L, minlength=len(ids) * n_periods).reshape(len(ids), n_periods)
        base = np.full(len(ids), np.nan)
        base[row[tenure == 0]] = seats[tenure == 0]  # seats in force in the customer's first paid month
        base[start < ds.data_start_m] = np.nan  # began before the data window: its first month is not observed
        fr.value, fr.base = value, base
    return fr, L


def _observable(ds: Dataset, cohort: np.ndarray, L: int, n_periods: int) -> tuple[np.ndarray, np.ndarray]:
    """Per cohort (sorted unique starts of ``cohort``): which periods are observable (none while still forming):
    period k has closed for the cohort's last starters (month c1: its k + 1 periods end by as_of) and began
    inside the data window."""
    cohorts = np.unique(cohort)
    c1 = cohorts + L - 1
    kk = np.arange(n_periods)
    obs = ds.window_closed(c1[:, None], kk[None, :] * L + L - 1) & (cohorts[:, None] + kk[None, :] * L >= ds.data_start_m)
    return cohorts, obs & ds.window_closed(c1, 0)[:, None]


@dataclass(kw_only=True)
class CohortRetention:
    """A retention matrix with its intervals (lifelines-style result: numbers, uncertainty, summary, plot)."""

    matrix: pd.DataFrame  # index cohort (or (segment, cohort)); columns cohort_size, 0, 1, 2 …
    lower: pd.DataFrame
    upper: pd.DataFrame
    small: pd.Series  # cohorts below min_cohort_size
    active: pd.DataFrame | None  # active customer counts per cell (logo basis)
    period: str
    basis: str
    definition: str
    min_cohort_size: int
    alpha: float
    by: str | None = None
    before_window: pd.Series | None = None  # cohorts that began before the data window (see the module docstring)

    @property
    def periods(self) -> list[int]:
        return [c for c in self.matrix.columns if c != "cohort_size"]

    def long(self) -> pd.DataFrame:
        """One row per observable cell: retention, interval, active customers, cohort size, small flag, and
        ``before_window`` (the cohort began before the data window: retention given survival to its start)."""
        cols = self.periods
        frames = {"retention": self.matrix[cols], "lower": self.lower[cols], "upper": self.upper[cols]}
        if self.active is not None:
            frames["active_customers"] = self.active[cols]
        df = pd.concat({k: f.rename_axis(columns="period").stack() for k, f in frames.items()}, axis=1)
        df = df.join(self.matrix["cohort_size"]).join(self.small.rename("small_cohort"))
        df = df.join(self._before_window().rename("before_window"))
        return df.reset_index()

    def _before_window(self) -> pd.Series:
        if self.before_window is None:
            return pd.Series(False, index=self.matrix.index, name="before_window")
        return self.before_window.reindex(self.matrix.index).fillna(False).astype(bool)

    def table(self) -> pd.DataFrame:
        """The matrix for a spreadsheet: ``cohort_size``, ``small_cohort`` and ``before_window`` flags, then the
        periods (the matrix itself keeps ``cohort_size`` and the periods only)."""
        out = self.matrix.copy()
        out.insert(1, "small_cohort", self.small.reindex(out.index).fillna(False).astype(bool).to_numpy())
        out.insert(2, "before_window", self._before_window().to_numpy())
        return out

    def cell(self, cohort, period: int, segment=None) -> dict:
        key = cohort if segment is None else (segment, cohort)
        return {"estimate": self.matrix.loc[key, period], "lower": self.lower.loc[key, period],
                "upper": self.upper.loc[key, period], "cohort_size": int(self.matrix.loc[key, "cohort_size"])}

    def for_segment(self, value) -> "CohortRetention":
        """The matrix of one segment value (``by`` was given)."""
        if self.by is None:
            return self
        pick = lambda df: df.xs(value, level=0) if df is not None else None  # noqa: E731
        return CohortRetention(matrix=pick(self.matrix), lower=pick(self.lower), upper=pick(self.upper),
                               small=self.small.xs(value, level=0), active=pick(self.active), period=self.period,
                               basis=self.basis, definition=self.definition, min_cohort_size=self.min_cohort_size,
                               alpha=self.alpha, by=None, before_window=self._before_window().xs(value, level=0))

    def segments(self) -> list:
        return [] if self.by is None else list(dict.fromkeys(self.matrix.index.get_level_values(0)))

    def headline_cell(self, months: int = 12) -> dict | None:
        """The newest cohort (not flagged small, not begun before the data window) observed ``months`` months
        after its start: the cell for an executive summary ("customers who started in 2024-Q1 keep 71% (66–76%)
        after 12 months")."""
        k = months // PERIOD_MONTHS[self.period]
        if k not in self.matrix.columns:
            return None
        obs = (self.matrix[k].notna() & ~self.small.reindex(self.matrix.index).fillna(False).astype(bool)
               & ~self._before_window())
        if not obs.any():
            return None
        key = obs[obs].index[-1]
        return {"cohort": key, "period": k, "months": months, **self.cell(key if not isinstance(key, tuple) else key[1], k,
                                                                       None if not isinstance(key, tuple) else key[0])}

    def first_headline_cell(self, months=(12, 6, 3, 1)) -> dict | None:
        """The summary's cell: :meth:`headline_cell` at the first of ``months`` (whole periods only) that has one."""
        L = PERIOD_MONTHS[self.period]
        return next((c for c in (self.headline_cell(h) for h in months if h % L == 0) if c is not None), None)

    def metrics(self) -> dict:
        """The matrix's part of ``metrics.json``: its settings, the cohorts begun before the data window, and the
        summary's cell (:meth:`first_headline_cell`) as an estimate with its cohort (None when no cohort has one)."""
        head = self.first_headline_cell()
        return {
            "cohorts_before_window": [str(c) for c in self.before_window[self.before_window].index],
            "period": self.period, "basis": self.basis, "definition": self.definition,
            "min_cohort_size": self.min_cohort_size,
            "headline_cohort": ({**Estimate("headline_cohort", head["estimate"], head["lower"], head["upper"]).to_dict(details=()),
                                 "cohort": str(head["cohort"]), "months": head["months"], "basis": self.basis,
                                 "definition": self.definition, "cohort_size": head["cohort_size"]}
                                if head is not None else None),
        }

    @property
    def summary(self) -> pd.DataFrame:
        """The matrix with its flags (:meth:`table`): cohort_size, small_cohort, before_window, then the periods."""
        return self.table()

    def conf_int(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The intervals' bounds: (``lower``, ``upper``) matrices, cohorts by periods."""
        return self.lower, self.upper

    def print_summary(self, decimals: int = 3) -> None:
        print(self.summary.round(decimals).to_string())

    def _repr_html_(self) -> str:
        return self.matrix.to_html(float_format=lambda v: f"{v:.0%}", na_rep="")


def _segment(ds: Dataset, by: str) -> pd.Series:
    """Each customer's level of segment ``by``, aligned with ``ds.customers`` (checked: data/attributes.py)."""
    from .data.attributes import segment_of

    return pd.Series(segment_of(ds, by).to_numpy(), index=ds.customers.index, name=by)


def cohort_retention(
    ds: Dataset, *, period: str = "month", basis: str = "logo", by: str | None = None,
    definition: str = "active", min_cohort_size: int = 30, alpha: float = 0.05, n_boot: int = 400,
    seed: int = 0,
) -> CohortRetention:
    """Cohort × period retention with intervals; see the module docstring for the definitions.

    Parameters
    ----------
    ds : Dataset
        The loaded data (:func:`csanalysis.load_dataset`).
    period : str
        Length of a period: a key of ``PERIOD_MONTHS`` (``'month'``, ``'quarter'`` …).
    basis : str
        One of :data:`BASES`: customers (``'logo'``), revenue (``'revenue'``, ``'gross_revenue'``) or seats
        in force (``'seats'``; see the module docstring).
    by : str or None
        An attribute of the customers: one group per level (missing values one more level); None:
        all customers together.
    definition : str
        One of :data:`DEFINITIONS`: ``'active'`` (paying in the period) or ``'unbroken'`` (never
        churned since the start).
    min_cohort_size : int
        Cohorts with fewer customers are flagged ``small``.
    alpha : float
        1 − the intervals' confidence level.
    n_boot : int
        Bootstrap replicates over customers (0: no interval).
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    CohortRetention
        The matrix (cohort × periods since the start), its interval bounds, flags and settings.
    """
    _check_args(period, basis, definition)
    groups = _segment(ds, by) if by is not None else None
    if basis == "logo":
        sizes, active = _logo_counts(ds, period, definition, groups)
        one = lambda value: _logo_matrix(ds, sizes, active, value, period, definition, min_cohort_size, alpha)  # noqa: E731
    else:
        one = lambda value: _matrix(ds, None if value is None else pd.Index(ds.customers.loc[groups == value, "customer_id"]),  # noqa: E731
                                    period, basis, definition, min_cohort_size, alpha, n_boot, seed)
    if by is None:
        return one(None)
    parts = {value: one(value) for value in sorted(groups.unique())}
    names = [by, "cohort"]
    first = next(iter(parts.values()))
    cat = lambda attr: pd.concat({k: getattr(p, attr) for k, p in parts.items()}, names=names)  # noqa: E731
    return CohortRetention(
        matrix=cat("matrix"), lower=cat("lower"), upper=cat("upper"), small=cat("small"),
        active=cat("active") if first.active is not None else None, period=period, basis=basis, definition=definition,
        min_cohort_size=min_cohort_size, alpha=alpha, by=by, before_window=cat("before_window"),
    )


def _check_args(period: str, basis: str, definition: str) -> None:
    if period not in PERIOD_MONTHS:
        raise ValueError(f"period={period!r}: use one of {list(PERIOD_MONTHS)}")
    if basis not in BASES:
        raise ValueError(f"basis={basis!r}: use one of {list(BASES)}")
    if definition not in DEFINITIONS:
        raise ValueError(f"definition={definition!r}: use one of {list(DEFINITIONS)}")


def _logo_counts(ds: Dataset, period: str, definition: str, groups: pd.Series | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """In the engine: customers per (segment, cohort) and active customers per (segment, cohort, k).

    A customer's cohort is the period of its first spell's start; ``k`` is its tenure in periods. ``active``:
    paid in at least one month of period k (any spell); ``unbroken``: its first spell lasts beyond period k's
    start, counted from the spell durations (``k`` is then the duration in months, turned into periods by
    :func:`_logo_matrix`)."""
    import ibis

    L = PERIOD_MONTHS[period]
    spells = ds.engine_table("spells")
    first = spells.filter(spells.spell == 1)
    first = first.select("customer_id", "duration", cohort=period_start(first.start_m, period, ds.settings.fiscal_year_start))
    if groups is not None:
        seg = ibis.memtable(pd.DataFrame({"customer_id": ds.customers["customer_id"].astype(str).to_numpy(),
                                          "segment": groups.to_numpy()}))
        first = first.join(seg, "customer_id").select("customer_id", "duration", "cohort", "segment")
    else:
        first = first.mutate(segment=ibis.literal(""))
    sizes = first.group_by(["segment", "cohort"]).aggregate(size=first.customer_id.count()).execute()
    if definition == "unbroken":
        active = first.group_by(["segment", "cohort", "duration"]).aggregate(active=first.customer_id.count())
        active = active.rename(k="duration")
    else:
        panel = ds.engine_table("panel")
        cells = panel.join(first, "customer_id").select("segment", "cohort", "customer_id", k=panel.tenure // L)
        if L > 1:
            cells = cells.distinct()  # active in a period = paid in at least one of its months
        active = cells.group_by(["segment", "cohort", "k"]).aggregate(active=cells.customer_id.count())
    return sizes, active.execute()


def _logo_matrix(ds, sizes, active, segment, period, definition, min_size, alpha) -> CohortRetention:
    """One segment's logo matrix from the engine counts (:func:`_logo_counts`)."""
    L = PERIOD_MONTHS[period]
    as_m = ds.as_of_m
    seg = "" if segment is None else segment
    sz = sizes[sizes["segment"] == seg]
    act = active[active["segment"] == seg]
    starts = np.sort(sz["cohort"].to_numpy(dtype=np.int64))
    n_periods = max(int((as_m - starts.min()) // L) + 1, 1) if len(starts) else 1
    cohorts, obs = _observable(ds, starts, L, n_periods)
    complete = ds.window_closed(cohorts, L - 1)  # cohorts still forming at as_of are left out
    cohorts, obs = cohorts[complete], obs[complete]
    sizes_c = sz.set_index("cohort")["size"].reindex(cohorts).to_numpy(dtype=np.int64)
    last = int(np.max(np.nonzero(obs.any(axis=0))[0])) + 1 if obs.any() else 1
    obs = obs[:, :last]
    row = np.searchsorted(cohorts, act["cohort"].to_numpy(dtype=np.int64))
    inside = (row < len(cohorts)) & (cohorts[np.minimum(row, len(cohorts) - 1)] == act["cohort"].to_numpy()) if len(cohorts) else np.zeros(len(act), bool)
    counts = np.zeros((len(cohorts), last))
    k = act["k"].to_numpy(dtype=np.int64)[inside]
    n = act["active"].to_numpy(dtype=np.float64)[inside]
    if definition == "unbroken":
        # customers whose first spell lasts d months are active in periods k with k·L < d
        by_dur = np.zeros((len(cohorts), int(k.max()) + 2 if len(k) else 1))
        np.add.at(by_dur, (row[inside], k), n)
        still = by_dur[:, ::-1].cumsum(axis=1)[:, ::-1]  # customers with duration ≥ d
        cols = np.arange(last) * L + 1
        counts = still[:, np.minimum(cols, still.shape[1] - 1)] * (cols < still.shape[1])[None, :]
    else:
        ok = k < last
        np.add.at(counts, (row[inside][ok], k[ok]), n[ok])
    labels = [period_label(c, period) for c in cohorts]
    cols = list(range(last))
    with np.errstate(invalid="ignore", divide="ignore"):
        est = counts / sizes_c[:, None]
    # this caller's edge: trials floored at 1, so a cohort of size 0 would get the interval of 0 in 1, not NaN
    lo, hi = wilson(counts, np.maximum(sizes_c, 1)[:, None], alpha)
    index = pd.Index(labels, name="cohort")
    mask = lambda a: pd.DataFrame(np.where(obs, a, np.nan), index=index, columns=cols)  # noqa: E731
    out = mask(est)
    out.insert(0, "cohort_size", sizes_c)
    return CohortRetention(matrix=out, lower=mask(lo), upper=mask(hi),
                           small=pd.Series(sizes_c < min_size, index=index, name="small"), active=mask(counts),
                           period=period, basis="logo", definition=definition, min_cohort_size=min_size, alpha=alpha,
                           before_window=pd.Series(cohorts < ds.data_start_m, index=index, name="before_window"))


def retention_matrix(
    ds: Dataset, *, period: str = "month", basis: str = "logo", by: str | None = None,
    definition: str = "active", min_cohort_size: int = 30, **kw,
) -> pd.DataFrame:
    """Cohort × period retention: index = cohort (or (segment, cohort) with ``by``), columns ``cohort_size`` then
    0, 1, 2 … (periods since start). :func:`cohort_retention` gives the same with intervals and flags.

    Parameters
    ----------
    ds : Dataset
        The loaded data (:func:`csanalysis.load_dataset`).
    period : str
        As in :func:`cohort_retention`.
    basis : str
        As in :func:`cohort_retention`.
    by : str or None
        As in :func:`cohort_retention`.
    definition : str
        As in :func:`cohort_retention`.
    min_cohort_size : int
        As in :func:`cohort_retention`.
    **kw
        Passed on to :func:`cohort_retention`.

    Returns
    -------
    pandas.DataFrame
        The matrix (:attr:`CohortRetention.matrix`).
    """
    return cohort_retention(ds, period=period, basis=basis, by=by, definition=definition,
                            min_cohort_size=min_cohort_size, **kw).matrix


def _matrix(ds, customers, period, basis, definition, min_size, alpha, n_boot, seed) -> CohortRetention:
    """A revenue matrix (per-customer values, bootstrap over customers); logo matrices: :func:`_logo_matrix`."""
    fr, L = _frame(ds, period=period, basis=basis, definition=definition, customers=customers)
    n_periods = fr.active.shape[1]
    cohorts, obs = _observable(ds, fr.cohort, L, n_periods)
    complete = ds.window_closed(cohorts, L - 1)  # cohorts still forming at as_of are left out
    cohorts, obs = cohorts[complete], obs[complete]
    which = np.searchsorted(cohorts, fr.cohort)
    keep = ((which < len(cohorts)) & (cohorts[np.minimum(which, len(cohorts) - 1)] == fr.cohort) if len(cohorts)
            else np.zeros(len(fr.cohort), dtype=bool))  # no cohort complete yet: an empty matrix
    sizes = np.bincount(which[keep], minlength=len(cohorts))
    # trim trailing periods nobody can observe
    last = int(np.max(np.nonzero(obs.any(axis=0))[0])) + 1 if obs.any() else 1
    obs = obs[:, :last]
    labels = [period_label(c, period) for c in cohorts]
    cols = list(range(last))
    rng = np.random.default_rng(seed)  # one stream for every cohort, in cohort order
    est = np.full((len(cohorts), last), np.nan)
    lo = np.full_like(est, np.nan)
    hi = np.full_like(est, np.nan)
    for j in range(len(cohorts)):
        members = np.nonzero(keep & (which == j))[0]
        base = fr.base[members]
        ok = ~np.isnan(base)
        if not ok.all():  # customers whose starting month is before the data window: no base
            continue
        vals = fr.value[members, :last]
        den = base.sum()
        if den <= 0:
            continue
        est[j] = vals.sum(axis=0) / den
        # the customers' multinomial counts (every customer its own group)
        den_b, num_b = replicate_sums(group_weights(rng, np.ones(len(members)), n_boot), base, vals)
        # a replicate without starting revenue (possible in a purchase log: free items) is undefined, like the
        # cohort itself would be: left out of the interval rather than an infinite bound
        den_b = den_b[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            boot = np.where(den_b > 0, num_b / den_b, np.nan)
        lo[j], hi[j] = percentile_interval(boot, alpha)
    index = pd.Index(labels, name="cohort")
    mask = lambda a: pd.DataFrame(np.where(obs, a, np.nan), index=index, columns=cols)  # noqa: E731
    out = mask(est)
    out.insert(0, "cohort_size", sizes)
    return CohortRetention(matrix=out, lower=mask(lo), upper=mask(hi),
                           small=pd.Series(sizes < min_size, index=index, name="small"), active=None,
                           period=period, basis=basis, definition=definition, min_cohort_size=min_size, alpha=alpha,
                           before_window=pd.Series(cohorts < ds.data_start_m, index=index, name="before_window"))


def pooled_curve(
    ds: Dataset, *, period: str = "month", basis: str = "logo", definition: str = "unbroken", by: str | None = None,
    method: str = "chained", alpha: float = 0.05, n_boot: int = 400, seed: int = 0,
) -> pd.DataFrame:
    """Retention curve pooled across cohorts, with a bootstrap band over customers.

    ``method="chained"`` (default): period-to-period retention over every cohort observed at each step, chained
    (Kaplan–Meier style: every cohort contributes as long as it is observed). ``method="weighted"``: the
    cohort-size-weighted average of the observed cells — biased towards old cohorts, which are the only ones
    observed at long tenures; labelled so.

    Parameters
    ----------
    ds : Dataset
        The loaded data (:func:`csanalysis.load_dataset`).
    period : str
        Length of a period: a key of ``PERIOD_MONTHS`` (``'month'``, ``'quarter'`` …).
    basis : str
        One of :data:`BASES`: customers (``'logo'``), revenue (``'revenue'``, ``'gross_revenue'``) or seats
        in force (``'seats'``; see the module docstring).
    definition : str
        One of :data:`DEFINITIONS`: ``'active'`` (paying in the period) or ``'unbroken'`` (never
        churned since the start).
    by : str or None
        An attribute of the customers: one group per level (missing values one more level); None:
        all customers together.
    method : {'chained', 'weighted'}
        How the cohorts are pooled (above).
    alpha : float
        1 − the intervals' confidence level.
    n_boot : int
        Bootstrap replicates over customers (0: no interval).
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    pandas.DataFrame
        One row per period (and level of ``by``, first column, when given): period, retention, lower,
        upper, customers_observed, at_risk, cohorts_observed, method.
    """
    if method not in ("chained", "weighted"):
        raise ValueError(f"method={method!r}: use chained or weighted")
    if by is not None:
        groups = _segment(ds, by)
        out = []
        for value in sorted(groups.unique()):
            ids = pd.Index(ds.customers.loc[groups == value, "customer_id"])
            c = _pooled(ds, ids, period, basis, definition, method, alpha, n_boot, seed)
            c.insert(0, by, value)
            out.append(c)
        return pd.concat(out, ignore_index=True)
    return _pooled(ds, None, period, basis, definition, method, alpha, n_boot, seed)


def pooled_metrics(curve: pd.DataFrame, *, period: str, as_of, n_boot: int, at=(1, 3, 6, 12),
                   by: str | None = None, by_curve: pd.DataFrame | None = None) -> dict:
    """The pooled logo curve's part of ``metrics.json``: retention ``at`` each number of periods since the start
    (``curve``: :func:`pooled_curve` of all customers), each an estimate with the customers observed or none
    with the reason, the method, and 12 months after the start for each group of ``by_curve`` (the curve
    ``by`` a segment; None without one).

    Parameters
    ----------
    curve : pandas.DataFrame
        :func:`pooled_curve` of all customers.
    period : str
        The curve's period (a key of ``PERIOD_MONTHS``).
    as_of : date-like
        The analysis date (named in the reasons).
    n_boot : int
        The curve's bootstrap replicates (named in the method).
    at : sequence of int
        Periods since the start to report.
    by : str or None
        The segment of ``by_curve`` (None: no segment).
    by_curve : pandas.DataFrame or None
        :func:`pooled_curve` ``by`` that segment.

    Returns
    -------
    dict
        The pooled curve's part of ``metrics.json``.
    """
    L = PERIOD_MONTHS[period]
    pooled = curve.set_index("period")
    seen = lambda c, k: k in c.index and c.loc[k, "retention"] == c.loc[k, "retention"]  # noqa: E731
    cell = lambda c, k, why: Estimate(f"retention_{k}", c.loc[k, "retention"], c.loc[k, "lower"],  # noqa: E731
                                      c.loc[k, "upper"]) if seen(c, k) else Estimate.missing(why)
    logo = {}
    for k in at:
        e = cell(pooled, k, f"no cohort has been observed for {k} {period}(s) after its start by as_of {as_of}")
        logo[str(k)] = {**e.to_dict(details=()), "periods": k, "months": k * L,
                        **({"customers_observed": int(pooled.loc[k, "customers_observed"])} if e.defined else {})}
    k12 = 12 // L
    by_12 = None
    if by:
        groups = {str(v): g.set_index("period") for v, g in by_curve.groupby(by)}
        by_12 = {v: cell(g, k12, "no customer of this group observed 12 months after the start yet").to_dict(details=())
                 for v, g in groups.items()}
    return {
        "logo_retention": logo,
        "logo_retention_method": ("customers never churned since their start, pooled over every cohort observed at "
                                  f"each {period} (chained, Kaplan-Meier style); keys are {period}s since start; 95% "
                                  f"bootstrap interval over customers ({n_boot} replicates)"),
        "logo_retention_12m_by_segment": by_12,
    }


def seat_metrics(res: CohortRetention | None, source: str | None) -> dict:
    """The seat-retention part of ``metrics.json``: ``seat_retention``, the summary's cell of the ``seats`` matrix
    (:meth:`CohortRetention.first_headline_cell`: the newest full-size cohort 12 months after its start, else 6, 3,
    1) as an estimate with its cohort, months and cohort size, or an undefined estimate with the reason; and
    ``seats_from``, where the seats in force come from (:func:`csanalysis.data.attributes.seats_source`:
    ``history``, ``signup`` — seats never change, so the number is seat-weighted logo retention — or None).

    Parameters
    ----------
    res : CohortRetention or None
        :func:`cohort_retention` with ``basis="seats"`` (None when the data hold no seats).
    source : str or None
        :func:`csanalysis.data.attributes.seats_source` of the same data.

    Returns
    -------
    dict
        ``{"seat_retention": ..., "seats_from": ...}``.
    """
    if res is not None and res.basis != "seats":
        raise ValueError(f"seat_metrics needs the matrix of basis 'seats', not {res.basis!r}")
    head = res.first_headline_cell() if res is not None else None
    if res is None:
        est = Estimate.missing("the data hold no seats (customers.seats or customer_attributes rows of attribute "
                               "'seats')").to_dict(details=())
    elif head is None:
        est = Estimate.missing(f"no cohort of at least {res.min_cohort_size} customers, begun inside the data "
                               "window, has been observed 1, 3, 6 or 12 months after its start").to_dict(details=())
    else:
        est = {**Estimate("seat_retention", head["estimate"], head["lower"], head["upper"]).to_dict(details=()),
               "cohort": str(head["cohort"]), "months": head["months"], "definition": res.definition,
               "cohort_size": head["cohort_size"]}
    return {"seat_retention": est, "seats_from": source}


def _pooled(ds, customers, period, basis, definition, method, alpha, n_boot, seed) -> pd.DataFrame:
    fr, L = _frame(ds, period=period, basis=basis, definition=definition, customers=customers)
    n_periods = fr.active.shape[1]
    cohorts, obs = _observable(ds, fr.cohort, L, n_periods)
    which = np.searchsorted(cohorts, fr.cohort)
    O = obs[which]  # customers × periods: is this customer's cell observable
    logo = basis == "logo"
    if logo:  # 0/1 cells kept as booleans until the customers are grouped (floats take 8 times the memory)
        Y = fr.active
        base = np.ones((len(fr.ids), 1), dtype=bool)
    else:
        Y = fr.value
        base = np.nan_to_num(fr.base)
        if basis == "gross_revenue":  # the cap is the starting MRR, unknown for customers who started before the
            O = O & ~np.isnan(fr.base)[:, None]  # data window: they are left out (their capped MRR is NaN)
            Y = np.nan_to_num(Y)
    last = int(np.max(np.nonzero(O.any(axis=0))[0])) + 1 if O.any() else 1
    Y, O = Y[:, :last], O[:, :last]
    n = len(fr.ids)
    if method == "chained":
        prev = np.concatenate([base if logo else base[:, None], Y[:, :-1]], axis=1)
        S = O
        if not (basis == "logo" and definition == "unbroken"):
            # a step needs the previous period observed too: before the data window a left-truncated customer's
            # activity / MRR is unknown (0 in Y), which would put its first observed period in the numerator but
            # not the denominator (unbroken logo status comes from the spell's duration and is known there)
            S = O.copy()
            S[:, 1:] &= O[:, :-1]
        num_x, den_x = (Y & S, prev & S) if logo else (Y * S, prev * S)
    else:
        # customers without a starting MRR (started before the data window) cannot enter a revenue average
        Ow = O & ~np.isnan(fr.base)[:, None] if not logo else O
        num_x, den_x = (Y & Ow, Ow) if logo else (Y * Ow, base[:, None] * Ow)

    sizes = np.ones(n)
    if logo and n:
        # 0/1 rows: customers with the same rows (cohort and months active) are interchangeable, so the bootstrap
        # resamples the groups (a multinomial over groups with probabilities size ÷ n is the sum of the customers'
        # multinomial counts): a few thousand groups to draw instead of every customer
        bits = np.packbits(np.concatenate([num_x, den_x], axis=1), axis=1)
        first, sizes = interchangeable(bits)
        num_x, den_x, sizes = num_x[first], den_x[first], sizes.astype(float)
    num_x, den_x = num_x.astype(float, copy=False), den_x.astype(float, copy=False)

    def curves(W: np.ndarray) -> np.ndarray:
        """The curve for each row of customer weights (all ones: the estimate; counts: a bootstrap replicate)."""
        den = W @ den_x
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = (W @ num_x) / den
        if not logo:  # no revenue in the period before (a purchase log's free items): the step is undefined
            ratio[den <= 0] = np.nan
        if method == "weighted":
            return ratio
        ratio[:, 0] = np.where(np.isnan(ratio[:, 0]), 1.0, ratio[:, 0])
        return np.cumprod(ratio, axis=1)

    est = curves(sizes[None, :])[0]
    # replicates in blocks (all the weights at once do not fit in memory at a million customers)
    boot = np.concatenate([curves(W) for W in group_weights(np.random.default_rng(seed), sizes, n_boot)]
                          or [np.empty((0, last))])
    # a period no replicate defines (only cohorts without revenue before it) has no band: NaN, not numpy's warning
    lo, hi = percentile_interval(boot, alpha)
    at_risk = ((O & np.concatenate([np.ones((n, 1), dtype=bool), fr.active[:, : last - 1]], axis=1)).sum(axis=0).astype(float)
               if definition == "unbroken" else O.sum(axis=0))
    return pd.DataFrame({
        "period": np.arange(last), "retention": est, "lower": lo, "upper": hi,
        "customers_observed": O.sum(axis=0), "at_risk": at_risk, "cohorts_observed": obs[:, :last].sum(axis=0),
        "method": "chained (all cohorts observed at each step)" if method == "chained"
        else "size-weighted average of observed cells (biased towards old cohorts)",
    })


__all__ = ["CohortRetention", "cohort_retention", "retention_matrix", "pooled_curve", "pooled_metrics", "seat_metrics",
           "BASES", "DEFINITIONS"]
