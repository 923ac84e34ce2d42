"""Small grouped results computed in the engine: the path for data that stay in DuckDB, Spark or a warehouse.

Every function here takes a :class:`~csanalysis.data.Dataset` and sends grouped queries to its engine (the
loader's Ibis expressions of the panel, spells and raw tables: :meth:`Dataset.engine_table`, ``ds.tables``); only
their small results (one row per group and month, or per cohort and age) come into pandas. None of them reads
the pandas ``panel``, ``spells`` or ``customers`` of a Dataset built by the loader, so at ten million customers
the Python process holds counts, not customer rows. The statistics made from the counts are those of the pandas
path, written once in their own modules (Kaplan–Meier: :func:`csanalysis.survival.km_from_counts`; Wilson:
:mod:`csanalysis.stats.proportion`), and tests/test_grouped.py checks every count against the pandas path.

API (each returns a small pandas DataFrame; ``by`` is a categorical attribute of the customers at signup, its
missing values the level ``(missing)``, as :func:`csanalysis.data.attributes.segment_of` gives them):

* ``survival_counts(ds, *, by=None, spells="first")`` → ``group, t, entered, removed, churned, at_risk``: per
  tenure month t (0 … the group's longest time) the spells whose risk begins at t, the spells whose time ends at
  t, the churns at t and the Kaplan–Meier risk set, from one grouped query over the spells. Times and entry are
  those of :func:`csanalysis.survival.survival_data`: T = duration − (1 − event) (a censored spell is followed
  to the month before ``as_of``'s unobserved churn month), a spell is at risk at t when entry < t ≤ T (from
  t = 0 when it is observed from its start), first spells only with ``spells="first"``, every spell (groups
  1, 2, 3+ without ``by``) with ``"all"``.
* ``km_curves(ds, *, by=None, spells="first", alpha=0.05)`` → ``group, t, at_risk, churned, survival, lower,
  upper``: Kaplan–Meier and its exponential-Greenwood band from those counts; equal to
  :func:`csanalysis.survival.km_fits` (lifelines) at every time.
* ``survival_at(curves, times=(3, 6, 12, 24))`` → ``group, customers, churned, S(t), S(t) lower, S(t) upper``
  for each t: the S(t) columns of :func:`csanalysis.survival.survival_table`, read from ``km_curves``.
* ``churn_counts(ds, *, by=None)`` → ``month, group, at_risk, churned, rate, lower, upper``: per month t the
  customers paying in t − 1 and those of them who churned in t (the monthly ``customer_churn_rate`` of
  :func:`csanalysis.metrics.rates`), Wilson interval.
* ``revenue_cohorts(ds, *, period="month", by=None, basis="revenue")`` → ``group, cohort, k, revenue, base,
  customers, missing_base``: per cohort and age k (periods of tenure) the cohort's summed average monthly MRR
  in period k and its summed starting MRR (``gross_revenue``: each customer's MRR capped at its starting MRR),
  the numerator and denominator of :func:`csanalysis.cohorts.cohort_retention`'s revenue cells. Logo counts are
  already engine queries: ``cohorts.cohort_retention(ds, basis="logo")``, and so are the MRR movements:
  :func:`csanalysis.metrics.mrr_movements`, and the survey's coverage per period and its response-bias check:
  :func:`csanalysis.nps.coverage`, :func:`csanalysis.nps.response_bias`. What needs one value per customer for a
  bootstrap over customers (the revenue and seat cohort matrices, the pooled curves, the rates' revenue ratios,
  LTV) reads the customers' panel rows from the engine as integer arrays
  (:func:`csanalysis.data.keys.panel_rows`), not the pandas panel.
* ``nps_tallies(ds, *, period="month", by=None, method="wald")`` → ``period, group, responses, promoters,
  passives, detractors, nps, lower, upper, method``: survey answers per calendar period (and group at signup),
  the NPS with its interval from the counts (:func:`csanalysis.nps.nps_interval`).
* ``sample_customers(ds, fraction, *, seed=0)`` → an Ibis table of ``customer_id``: a seeded sample of whole
  customers drawn in the engine, the same on every engine and in Python (:func:`sample_key`): a customer is
  drawn when the first 8 hex digits of md5("<seed>:<customer_id>") fall below ``fraction`` × 16⁸.
  ``sample_ids(ds, fraction, *, seed=0)`` executes it (sorted ids) and ``sample_description`` states it.
* ``sample_dataset(ds, fraction, *, seed=0)`` → a :class:`~csanalysis.data.Dataset` of the sampled customers
  only, for the models that need one row per customer (Cox, the churn-risk model, the NPS models): its raw
  tables, engine panel and spells are the full Dataset's filtered in the engine, and each pandas table is built
  on first read by the loader's own code from the filtered tables, so it equals the full Dataset's table
  restricted to the sample (tests/test_grouped.py). ``ds.sample`` on it is :func:`sample_description`'s dict.
* ``model_dataset(ds, *, max_customers=MODEL_CUSTOMERS, seed=0)`` → the Dataset the per-customer models read:
  ``ds`` itself up to :data:`MODEL_CUSTOMERS` customers (counted in the engine), else ``sample_dataset(ds,
  max_customers / customers, seed=seed)``, about ``max_customers`` of them. The one size policy of the reports;
  ``ds.sample`` (None for all customers) is what a report says and writes to ``metrics.json``.
* ``customer_parts(ds, *, max_customers=MODEL_CUSTOMERS, seed=0)`` → every customer a part at a time: ``ds``
  itself up to ``max_customers`` customers, else disjoint Datasets of about ``max_customers`` customers each (the
  same engine restriction as a sample), for the lists that score every customer from per-customer tables.
* ``panel_last(ds, ids=None)`` → ``customer_id, m, mrr`` of each customer's last paid month (of ``ids`` only);
  ``panel_months(ds, before)`` → ``customer_id, months, before``: each customer's paid months and those before
  month ``before``; ``panel_at(ds, keys)`` → the MRR of each (customer_id, m) of ``keys`` (NaN where unpaid);
  ``integer_panel(ds)`` → the :class:`~csanalysis.data.keys.IntegerPanel` of ``ds`` read from the engine
  (:func:`csanalysis.data.keys.panel_rows`: the panel's rows of given customers as integers, without their text ids).
"""
from __future__ import annotations

import hashlib

import ibis
import numpy as np
import pandas as pd
from ibis import _

from .data import Dataset
from .data.attributes import MAX_LEVELS, MISSING
from .periods import PERIOD_MONTHS, month_start, period_start
from .stats.proportion import wilson

__all__ = ["survival_counts", "km_curves", "survival_at", "churn_counts", "revenue_cohorts", "nps_tallies",
           "sample_key", "sample_customers", "sample_ids", "sample_description", "sample_dataset", "customer_tables",
           "customer_count", "model_dataset", "customer_parts", "MODEL_CUSTOMERS", "ALL", "SPELL_GROUPS", "panel_last",
           "panel_months", "panel_at", "integer_panel"]

ALL = "All customers"  # the one group without ``by`` (as in csanalysis.survival)
SPELL_GROUPS = ("1", "2", "3+")  # spells="all" without ``by``: the spell number
HEX_DIGITS = 8  # of the md5 that decide a customer's draw (1 in 16⁸ ≈ 4.3e9 resolution)
# Customers above which the models that need one row per customer (the Cox models, the NPS outcome models, and the
# churn-risk and expansion models of health.churn_risk and lifecycle.expansion, which have no row rule of their own)
# are fitted on a seeded sample of whole customers (model_dataset). Some models' own row rules already cap a fit at
# 1.5–2M customer-months (survival.time_varying_drivers max_rows 1.5M, impact.MAX_ROWS 2M: 36-month histories of
# about 150k customers), so a larger sample adds little precision while its pandas panel, spells and signals grow
# with it. 250k keeps the demo (3k) and the 100k benchmark data whole (their numbers unchanged) and holds about a
# quarter of a 1M-customer panel, a fortieth of a 10M one.
MODEL_CUSTOMERS = 250_000


# ------------------------------------------------------------------------------------------------ groups


def _raw(ds: Dataset, name: str):
    """A raw table (``customers``, ``nps``) as an engine table on the engine of the panel, or None: the loader's own
    (:func:`_loaded_tables`); for a Dataset reused from the user's load cache, the cache entry's Parquet file read
    by the engine of the panel (as :meth:`Dataset.engine_frame` reads a report run's cache), or None when the entry
    does not hold it yet (the caller registers the pandas frame, which the cache builds and adds)."""
    from .data.cache import parquet_file
    from .data.dataset import Lazy

    if not _reused(ds):
        return _loaded_tables(ds).get(name)
    value = ds.__dict__.get(name)
    path = parquet_file(value) if type(value) is Lazy else None
    return ibis.get_backend(ds.engine_table("panel")).read_parquet(path) if path is not None else None


def _reused(ds: Dataset) -> bool:
    """Whether ``ds`` was reused from the user's load cache: its ``ds.tables`` would load the source afresh
    (minutes at ten million customers) on a connection of its own, and a query joining them to the cached panel
    fails ("Multiple backends found")."""
    from .data.cache import _RawTables

    return isinstance(ds.tables, _RawTables)


def _customers(ds: Dataset):
    """The customers as an engine table: the loader's own or its cached file (:func:`_raw`), or the pandas frame
    registered in memory."""
    t = _raw(ds, "customers")
    if t is None:
        t = ibis.memtable(ds.customers)
    return t


def _groups(ds: Dataset, by: str):
    """Engine table ``customer_id, group``: each customer's level of the categorical attribute ``by`` at signup
    as text (missing: ``(missing)``), as :func:`csanalysis.data.attributes.segment_of` gives it. Text
    attributes are read in the engine; an attribute of another type is converted by ``segment_of`` in pandas
    (its text form there, ``3`` or ``3.0``, is pandas' own)."""
    cust = _customers(ds)
    if by not in cust.columns:
        names = [c for c in cust.columns if c != "customer_id"]
        raise ValueError(f"by={by!r} is not a column of the customers table; columns: {names}")
    col = cust[by]
    if not col.type().is_string():
        from .data.attributes import segment_of

        seg = segment_of(ds, by)
        return ibis.memtable(pd.DataFrame({"customer_id": seg.index.astype(str), "group": seg.to_numpy()}))
    out = cust.select(customer_id=cust.customer_id.cast("string"), group=col.fill_null(MISSING))
    n = int(out.group.nunique().execute())
    if n > MAX_LEVELS:
        raise ValueError(f"by={by!r} has {n:,} levels (missing values included), more than the {MAX_LEVELS} a "
                         "segment may have: group its rarer levels in the export, or choose another attribute")
    return out


def _with_group(t, ds: Dataset, by: str | None, *, spells: str = "first"):
    """``t`` (with ``customer_id``) and a ``group`` column: ``by``'s level, else the spell number (1, 2, 3+) for
    ``spells="all"``, else :data:`ALL`."""
    if by is not None:
        g = _groups(ds, by)
        j = t.join(g, t.customer_id == g.customer_id)
        return j.select(*[t[c] for c in t.columns], g.group)
    if spells == "all":
        return t.mutate(group=ibis.ifelse(t.spell >= 3, "3+", t.spell.cast("string")))
    return t.mutate(group=ibis.literal(ALL))


# ------------------------------------------------------------------------------------------------ survival


def _spell_times(ds: Dataset, spells: str):
    if spells not in ("first", "all"):
        raise ValueError(f"spells={spells!r}: use 'first' or 'all'")
    s = ds.engine_table("spells")
    if spells == "first":
        s = s.filter(s.spell == 1)
    s = s.select("customer_id", "spell",
                 T=(s.duration - (1 - s.event.cast("int32"))).cast("int64"),
                 E=s.event.cast("int64"),
                 first=ibis.ifelse(s.entry == 0, 0, s.entry + 1).cast("int64"))
    return s


def survival_counts(ds: Dataset, *, by: str | None = None, spells: str = "first") -> pd.DataFrame:
    """Per group and tenure month t: spells entering the risk set at t (``entered``), spells whose time ends at t
    (``removed``: churned or censored), churns at t (``churned``) and the Kaplan–Meier risk set ``at_risk`` =
    entered by t − removed before t, from one grouped query over the engine spells (see the module docstring).

    Parameters
    ----------
    ds : Dataset
        The loaded data.
    by : str or None
        A categorical attribute of the customers (at signup); None: all customers (or, with ``spells="all"``, the
        spell number 1, 2, 3+).
    spells : {'first', 'all'}
        Each customer's first spell, or every spell timed from its own start.

    Returns
    -------
    pandas.DataFrame
        group, t, entered, removed, churned, at_risk (int64), t = 0 … the group's longest time, groups sorted.
    """
    s = _with_group(_spell_times(ds, spells), ds, by, spells=spells)
    zero = ibis.literal(0, "int64")
    one = ibis.literal(1, "int64")
    rows = s.select("group", t=s["first"], entered=one, removed=zero, churned=zero).union(
        s.select("group", t=s["T"], entered=zero, removed=one, churned=s["E"]))
    counts = rows.group_by(["group", "t"]).aggregate(entered=_.entered.sum(), removed=_.removed.sum(),
                                                     churned=_.churned.sum()).execute()
    return _risk_sets(counts)


def _risk_sets(counts: pd.DataFrame) -> pd.DataFrame:
    """The grouped counts on a full grid of months per group, with the running risk set."""
    frames = []
    for g, c in counts.groupby("group", sort=True):
        # a spell censored at its entry month enters after its last month: it never joins the risk set
        horizon = int(c.loc[c["removed"] > 0, "t"].max()) if (c["removed"] > 0).any() else 0
        c = c.set_index(c["t"].astype(np.int64))
        grid = np.arange(horizon + 1)
        full = {k: np.zeros(horizon + 1, dtype=np.int64) for k in ("entered", "removed", "churned")}
        for k in full:
            col = c[k].astype(np.int64)
            inside = col.index <= horizon
            full[k][col.index[inside]] = col.to_numpy()[inside]
        at_risk = np.cumsum(full["entered"]) - np.r_[0, np.cumsum(full["removed"])[:-1]]
        frames.append(pd.DataFrame({"group": str(g), "t": grid, **full, "at_risk": at_risk}))
    if not frames:
        return pd.DataFrame({k: pd.Series(dtype="int64") for k in ("t", "entered", "removed", "churned", "at_risk")}
                            ).assign(group=pd.Series(dtype=object))[["group", "t", "entered", "removed", "churned",
                                                                     "at_risk"]]
    return pd.concat(frames, ignore_index=True)


def km_curves(ds: Dataset, *, by: str | None = None, spells: str = "first", alpha: float = 0.05,
              counts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Kaplan–Meier curves with their exponential-Greenwood band per group, from :func:`survival_counts` (or
    ``counts`` already computed) by :func:`csanalysis.survival.km_from_counts`.

    Returns
    -------
    pandas.DataFrame
        group, t, at_risk, churned, survival, lower, upper; the groups' numbers of spells and churns in
        ``attrs["spells"]`` and ``attrs["churned"]`` (dicts by group).
    """
    from .survival import km_from_counts

    c = survival_counts(ds, by=by, spells=spells) if counts is None else counts
    frames = []
    for g, part in c.groupby("group", sort=True):
        s, lo, hi = km_from_counts(part["at_risk"].to_numpy(), part["churned"].to_numpy(), alpha=alpha)
        frames.append(pd.DataFrame({"group": g, "t": part["t"].to_numpy(), "at_risk": part["at_risk"].to_numpy(),
                                    "churned": part["churned"].to_numpy(), "survival": s, "lower": lo, "upper": hi}))
    out = (pd.concat(frames, ignore_index=True) if frames else
           pd.DataFrame(columns=["group", "t", "at_risk", "churned", "survival", "lower", "upper"]))
    # every spell leaves once, at its T (a spell censored in its entry month never enters the risk set)
    out.attrs["spells"] = {g: int(p["removed"].sum()) for g, p in c.groupby("group", sort=True)}
    out.attrs["churned"] = {g: int(p["churned"].sum()) for g, p in c.groupby("group", sort=True)}
    out.attrs["alpha"] = alpha
    return out


def survival_at(curves: pd.DataFrame, times=(3, 6, 12, 24)) -> pd.DataFrame:
    """S(t) with its band at ``times`` per group of :func:`km_curves` (NaN beyond a group's longest time), with
    the group's spells (``customers``) and churns: the columns :func:`csanalysis.survival.survival_table` gives
    for them."""
    rows = []
    for g, part in curves.groupby("group", sort=True):
        part = part.set_index("t")
        row = {"group": g, "customers": curves.attrs.get("spells", {}).get(g),
               "churned": curves.attrs.get("churned", {}).get(g)}
        for t in times:
            inside = t in part.index
            for col, name in (("survival", f"S({t})"), ("lower", f"S({t}) lower"), ("upper", f"S({t}) upper")):
                row[name] = float(part.at[t, col]) if inside else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ churn rates


def churn_counts(ds: Dataset, *, by: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """Monthly customer churn: per month t (after the panel's first month, up to ``as_of``) and group, the
    customers paying in t − 1 (``at_risk``) and those of them who churned in t (a spell's event month: its last
    paid month + 1), with the rate and its Wilson interval (NaN where nobody was paying). One grouped query over
    the engine panel and one over the spells; equal to the monthly ``customer_churn_rate`` numerator and
    denominator of :func:`csanalysis.metrics.rates` (without ``by``).

    Returns
    -------
    pandas.DataFrame
        month (first day), group, at_risk, churned, rate, lower, upper.
    """
    as_m = ds.as_of_m
    panel = _with_group(ds.engine_table("panel").select("customer_id", "m"), ds, by)
    risk = panel.group_by(["group", "m"]).aggregate(at_risk=_.customer_id.count()).execute()
    s = ds.engine_table("spells")
    s = _with_group(s.filter(s.event == 1).select("customer_id", "spell", m=(s.last_m + 1).cast("int64")), ds, by)
    lost = s.group_by(["group", "m"]).aggregate(churned=_.customer_id.count()).execute()
    mins = ds.engine_table("panel").aggregate(lo=_.m.min()).execute()["lo"]
    m0 = int(min(int(mins.iloc[0]) if len(mins) and pd.notna(mins.iloc[0]) else as_m, ds.data_start_m))
    months = np.arange(m0 + 1, as_m + 1)
    groups = sorted(set(risk["group"]) | set(lost["group"])) if by is not None else [ALL]
    frames = []
    for g in groups:
        n = risk[risk["group"] == g].set_index("m")["at_risk"].reindex(months - 1, fill_value=0).to_numpy(np.int64)
        d = lost[lost["group"] == g].set_index("m")["churned"].reindex(months, fill_value=0).to_numpy(np.int64)
        lo, hi = wilson(d, n, alpha)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(n > 0, d / np.where(n > 0, n, 1), np.nan)
        frames.append(pd.DataFrame({"month": month_start(months), "group": g, "at_risk": n, "churned": d,
                                    "rate": rate, "lower": lo, "upper": hi}))
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------------------------------ cohorts


def revenue_cohorts(ds: Dataset, *, period: str = "month", by: str | None = None, basis: str = "revenue",
                    definition: str = "active") -> pd.DataFrame:
    """The sums behind the revenue retention matrix, in the engine: per group, cohort (first month index of the
    period of the first spell's start) and age k (tenure in periods), ``revenue`` = Σ of the cohort's MRR in
    period k ÷ the period's months (the cohort's summed average monthly MRR), and per cohort ``base`` = Σ starting
    MRR, ``customers`` and ``missing_base`` (customers without a starting MRR: a cohort with any is undefined in
    :func:`csanalysis.cohorts.cohort_retention`). Starting MRR as there: a subscription's first full month
    (month 1 for a customer who signed up after the 1st and paid month 1, else month 0); a purchase log's first
    period (missing for a customer who started before the data window). ``gross_revenue`` caps each month's
    (a purchase log: each period's) MRR at the starting MRR.

    Returns
    -------
    pandas.DataFrame
        group, cohort, k, revenue, base, customers, missing_base (sorted by group, cohort, k).
    """
    if period not in PERIOD_MONTHS:
        raise ValueError(f"period={period!r}: use one of {list(PERIOD_MONTHS)}")
    if basis not in ("revenue", "gross_revenue"):
        raise ValueError(f"basis={basis!r}: use 'revenue' or 'gross_revenue' (logo counts: cohorts.cohort_retention)")
    if definition not in ("active", "unbroken"):
        raise ValueError(f"definition={definition!r}: use 'active' or 'unbroken'")
    L = PERIOD_MONTHS[period]
    spells = ds.engine_table("spells")
    first = spells.filter(spells.spell == 1).select("customer_id", start=spells.start_m)
    first = _with_group(first, ds, by)
    first = first.mutate(cohort=period_start(first.start, period, ds.settings.fiscal_year_start).cast("int64"))
    panel = ds.engine_table("panel")
    if definition == "unbroken":
        panel = panel.filter(panel.spell == 1)
    p = panel.select("customer_id", "tenure", "mrr", k=(panel.tenure // L).cast("int64"))
    # One row per customer (group, cohort, starting MRR b) is built and kept first, then the customer-months
    # are joined to it alone: at ten million customers, the customers' joins in the same query as the panel's
    # join held every one of their hash tables at once and ran out of the engine's memory (RESULTS.md)
    if ds.layout == "purchase_log":
        per = p.group_by(["customer_id", "k"]).aggregate(v=_.mrr.sum())
        base = per.filter(per.k == 0).select("customer_id", b=per.v)
        cust = first.left_join(base, first.customer_id == base.customer_id).select(
            *[first[c] for c in first.columns], base.b)
        cust = cust.mutate(b=ibis.ifelse(cust.start < ds.data_start_m, ibis.null("float64"), cust.b))
        rows = per.select("customer_id", "k", v=per.v)
    else:
        # the MRR of tenure months 0 and 1 (a customer-month at most once each) in one grouping of those rows
        m01 = p.filter(p.tenure <= 1).group_by("customer_id").aggregate(
            mrr0=_.mrr.max(where=_.tenure == 0), mrr1=_.mrr.max(where=_.tenure == 1))
        cust_t = _customers(ds)
        day = cust_t.select(customer_id=cust_t.customer_id.cast("string"), day=cust_t.signup_date.day())
        cust = first.join(day, first.customer_id == day.customer_id).select(*[first[c] for c in first.columns], day.day)
        cust = cust.left_join(m01, cust.customer_id == m01.customer_id).select(
            *[cust[c] for c in cust.columns], m01.mrr0, m01.mrr1)
        cust = cust.mutate(b=ibis.ifelse((cust.day > 1) & cust.mrr1.notnull(), cust.mrr1, cust.mrr0))
        rows = p.select("customer_id", "k", v=p.mrr)
    cust = cust.select("customer_id", "group", "cohort", "b")
    cust = cust.cache() if hasattr(cust, "cache") else cust  # built once: the cells and the bases read it
    vals = rows.join(cust, rows.customer_id == cust.customer_id).select("group", "cohort", "k", v=rows.v, b=cust.b)
    if basis == "gross_revenue":
        vals = vals.mutate(v=ibis.least(vals.v, vals.b))
    vals = vals.mutate(v=vals.v / L)
    try:
        cells = vals.group_by(["group", "cohort", "k"]).aggregate(revenue=_.v.sum()).execute()
        bases = cust.group_by(["group", "cohort"]).aggregate(
            base=_.b.sum(), customers=_.customer_id.count(),
            missing_base=ibis.ifelse(_.b.isnull(), 1, 0).sum()).execute()
    finally:
        if hasattr(cust, "release"):
            cust.release()
    out = cells.merge(bases, on=["group", "cohort"], how="left")
    for c in ("cohort", "k", "customers", "missing_base"):
        out[c] = out[c].astype(np.int64)
    out["base"] = out["base"].astype(np.float64).fillna(0.0)
    return out.sort_values(["group", "cohort", "k"], kind="stable").reset_index(drop=True)[
        ["group", "cohort", "k", "revenue", "base", "customers", "missing_base"]]


# ------------------------------------------------------------------------------------------------ NPS


def nps_tallies(ds: Dataset, *, period: str = "month", by: str | None = None, method: str = "wald",
                alpha: float = 0.05) -> pd.DataFrame:
    """Survey answers per calendar period (``month``, ``quarter``, ``year``; key: the period's first month) and
    group (``by`` at signup), in the engine: responses, promoters (9–10), passives (7–8), detractors (0–6) and
    the NPS 100 · (promoters − detractors) ÷ responses, with its interval from the counts
    (:func:`csanalysis.nps.nps_interval`: ``method`` ``wald``, ``adjusted_wald`` or ``auto``, as
    :func:`csanalysis.nps.net_promoter_score` without accounts; the answers are taken as independent, so the
    interval is too narrow where an account answers several times in a period: the account bootstrap of
    :func:`csanalysis.nps.nps_by` needs the answers themselves). The group is the attribute at signup, its missing
    values ``(missing)``; :func:`csanalysis.nps.responses` reads the attribute history at the survey date where there
    is one, and calls a missing value ``unknown``.

    Returns
    -------
    pandas.DataFrame
        period (first day), group, responses, promoters, passives, detractors, nps, lower, upper, method.
    """
    if period not in ("month", "quarter", "year"):
        raise ValueError(f"period={period!r}: use month, quarter or year")
    t = _raw(ds, "nps")
    if t is None:
        if ds.nps is None:
            raise ValueError("the dataset has no NPS responses (no nps table)")
        t = ibis.memtable(ds.nps)
    from .data.spells import month_index

    r = t.select(customer_id=t.customer_id.cast("string"), score=t.score,
                 key=period_start(month_index(t.date).cast("int64"), period))
    r = _with_group(r, ds, by)
    one, zero = ibis.literal(1, "int64"), ibis.literal(0, "int64")
    out = r.group_by(["key", "group"]).aggregate(
        responses=_.score.count(), promoters=ibis.ifelse(_.score >= 9, one, zero).sum(),
        detractors=ibis.ifelse(_.score <= 6, one, zero).sum()).execute()
    out = out.sort_values(["key", "group"], kind="stable").reset_index(drop=True)
    for c in ("responses", "promoters", "detractors"):
        out[c] = out[c].astype(np.int64)
    out["passives"] = out["responses"] - out["promoters"] - out["detractors"]
    from .nps import nps_interval

    ci = nps_interval(out["promoters"].to_numpy(), out["detractors"].to_numpy(), out["responses"].to_numpy(),
                      method, alpha=alpha)
    out["nps"], out["lower"], out["upper"], out["method"] = ci["nps"], ci["lower"], ci["upper"], ci["method"]
    out.insert(0, "period", month_start(out.pop("key").to_numpy(np.int64)))
    return out[["period", "group", "responses", "promoters", "passives", "detractors", "nps", "lower", "upper", "method"]]


# ------------------------------------------------------------------------------------------------ sample


def _threshold(fraction: float) -> str:
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction={fraction!r}: a share of customers in (0, 1]")
    return format(min(int(round(fraction * 16 ** HEX_DIGITS)), 16 ** HEX_DIGITS), f"0{HEX_DIGITS}x")


def sample_key(customer_id, seed: int = 0) -> str:
    """A customer's draw key in Python: the first :data:`HEX_DIGITS` hex digits of md5("<seed>:<customer_id>")
    (what :func:`sample_customers` computes in the engine)."""
    return hashlib.md5(f"{int(seed)}:{customer_id}".encode("utf-8")).hexdigest()[:HEX_DIGITS]


def sample_customers(ds: Dataset, fraction: float, *, seed: int = 0):
    """A seeded sample of whole customers, drawn in the engine: an Ibis table of ``customer_id`` (the customers
    of the engine spells, so every customer with a paid month) whose key (:func:`sample_key`) is below
    ``fraction`` × 16⁸ as text (hex digits of one length compare as the numbers they write). md5 and string
    comparison are the same on DuckDB, Spark and in Python, so the draw is too; it depends only on the seed and
    the id, never on churn, row order or the engine's partitions. Each customer is drawn with probability
    ``fraction`` (to 16⁻⁸), independently: the sample's size is random around ``fraction`` × customers."""
    return _keyed(ds, None, _threshold(fraction), seed)


def _keyed(ds: Dataset, lo: str | None, hi: str | None, seed: int):
    """The customers (first engine spells) whose draw key (:func:`sample_key`) is at least ``lo`` and below
    ``hi`` (hex text of :data:`HEX_DIGITS` digits; None: no bound)."""
    s = ds.engine_table("spells")
    ids = s.filter(s.spell == 1).select(customer_id=s.customer_id.cast("string"))
    key = (ibis.literal(f"{int(seed)}:") + ids.customer_id).hexdigest("md5").substr(0, HEX_DIGITS)
    if lo is not None:
        ids = ids.filter(key >= lo)
    if hi is not None:
        ids = ids.filter(key < hi)
    return ids


def sample_ids(ds: Dataset, fraction: float, *, seed: int = 0) -> np.ndarray:
    """The ids of :func:`sample_customers`, executed and sorted (text)."""
    df = sample_customers(ds, fraction, seed=seed).execute()
    return np.sort(df["customer_id"].astype(str).to_numpy())


def sample_description(ds: Dataset, ids, fraction: float, *, seed: int = 0) -> dict:
    """What a report says of the sample: ``fraction`` (the probability of each draw), ``seed``, ``drawn`` (the
    customers drawn), ``customers`` (of how many, counted in the engine) and the ``rule``."""
    n = customer_count(ds)
    return {"fraction": float(fraction), "seed": int(seed), "drawn": int(len(ids)), "customers": n,
            "rule": f"customers whose md5('{int(seed)}:' + customer_id) begins below {_threshold(fraction)} "
                    f"(first {HEX_DIGITS} hex digits): each drawn with probability {fraction:g}, independently of churn"}


def sample_dataset(ds: Dataset, fraction: float, *, seed: int = 0) -> Dataset:
    """The Dataset of the customers :func:`sample_customers` draws (see the module docstring). The settings,
    the validation report and the team-level CS costs are the full data's; ``sample`` (an attribute set on
    the returned Dataset) describes the draw."""
    out, ids = _restricted(ds, sample_customers(ds, fraction, seed=seed))
    out.sample = sample_description(ds, ids, fraction, seed=seed)
    return out


def _restricted(ds: Dataset, keep) -> tuple[Dataset, np.ndarray]:
    """The Dataset of the customers of the engine table ``keep`` (``customer_id``), built as
    :func:`sample_dataset` describes, and their ids (sorted text)."""
    import dataclasses
    import functools

    from .data.dataset import Lazy
    from .data.spells import panel_to_pandas, spells_to_pandas

    keep = keep.cache() if hasattr(keep, "cache") else keep  # drawn once; every table below reads it

    def only(t):
        return t.semi_join(keep, "customer_id") if "customer_id" in t.columns else t

    tables = {name: only(t) for name, t in _loaded_tables(ds).items()}
    engine = {name: only(ds.engine_table(name)) for name in ("panel", "spells")}
    ids = np.sort(keep.execute()["customer_id"].astype(str).to_numpy())
    values = {f.name: ds.__dict__.get(f.name) for f in dataclasses.fields(Dataset)}  # no pending table is built

    def restricted(name, value):
        return _restricted_table(ds, name, value, only, ids, tables)

    from .data import schema as _schema

    def checked(expr, to_pandas, name):
        return getattr(_schema, name).validate(to_pandas(expr.execute()))

    values.update(
        {name: restricted(name, values[name]) for name in ("usage", "nps", "payments", "cs_activities",
                                                           "payment_attempts", "tickets", "attributes", "invoices")},
        customers=restricted("customers", values["customers"]),
        panel=Lazy(functools.partial(checked, engine["panel"], panel_to_pandas, _schema.panel_schema_name(ds.layout))),
        spells=Lazy(functools.partial(checked, engine["spells"], spells_to_pandas, "SPELLS_SCHEMA")),
        tables=tables, engine=engine, cache_key=None, _date_ranges=None,
    )
    return Dataset(**values), ids


def _loaded_tables(ds: Dataset) -> dict:
    """The raw engine tables of the load behind ``ds`` that are on the engine of its panel: the loader's own; none
    for a Dataset reused from the user's load cache (:func:`_reused`), whose tables are read from the cache entry's
    files instead (:func:`_raw`, :func:`_restricted_table`)."""
    return {} if _reused(ds) else dict(ds.tables or {})


def _restricted_table(ds: Dataset, name: str, value, only, ids: np.ndarray, tables: dict):
    """Table ``name`` of ``ds`` (``value``: its entry, built or pending) for the customers ``ids`` (sorted text;
    ``only``: an engine table's rows of them, ``tables``: ``ds``'s raw tables so filtered), to be built on first
    read: when ``value`` is one of the loader's pending tables, the loader's builder re-run on the filtered raw
    tables (and filtered engine arguments); a report run's cache: its file, filtered as it is read; else the
    full table's rows of the customers."""
    import copy
    import functools

    from .data import cache as _cache
    from .data.dataset import Lazy

    if value is None or name == "cs_costs":
        return value
    build = value.build if type(value) is Lazy else None
    owner = getattr(getattr(build, "func", None), "__self__", None)
    if isinstance(build, functools.partial) and hasattr(owner, "t"):
        twin = copy.copy(owner)
        twin.t = {k: only(t) for k, t in owner.t.items()}
        args = [only(a) if isinstance(a, ibis.Table) else a for a in build.args]
        return Lazy(functools.partial(getattr(twin, build.func.__name__), *args, **build.keywords))
    if isinstance(build, functools.partial) and build.func is _cache._read:  # a report run's cache: its file,
        # filtered as read (a part of a sample: its ids, all among the sample's, replace the sample's)
        return Lazy(functools.partial(build.func, *build.args, **{**build.keywords, "only": ids}))
    if name in ("nps", "tickets") and name in tables:
        return Lazy(tables[name].order_by(["customer_id", "date"]).execute)

    def filtered():
        df = getattr(ds, name)
        if "customer_id" not in df.columns:
            return df
        return df[df["customer_id"].astype(str).isin(ids)].reset_index(drop=True)
    return Lazy(filtered)


def customer_tables(ds: Dataset, ids, names=("usage", "payments")) -> Dataset:
    """``ds`` with its tables ``names`` read for the customers ``ids`` only (each built on first read, as
    :func:`sample_dataset` builds a sample's tables); every other table is ``ds``'s own, shared. For an analysis
    that has drawn its customers already and reads large per-month tables for them alone (the program effect's
    signals at 1M customers: usage and payments of a seventh of the customers, not 14M and 10M rows)."""
    import dataclasses

    ids = np.sort(pd.unique(pd.Series(ids).astype(str).to_numpy()))
    keep = ibis.memtable(pd.DataFrame({"customer_id": ids}))

    def only(t):
        return t.semi_join(keep, t.customer_id.cast("string") == keep.customer_id) if "customer_id" in t.columns else t

    tables = {name: only(t) for name, t in _loaded_tables(ds).items()}
    values = {f.name: ds.__dict__.get(f.name) for f in dataclasses.fields(Dataset)}  # no pending table is built
    values.update({name: _restricted_table(ds, name, values[name], only, ids, tables) for name in names})
    out = Dataset(**values)
    out.sample = ds.sample
    return out


def customer_count(ds: Dataset) -> int:
    """The customers with a paid month (first spells), counted in the engine: those :func:`sample_customers`
    draws from."""
    s = ds.engine_table("spells")
    return int(s.filter(s.spell == 1).count().execute())


def model_dataset(ds: Dataset, *, max_customers: int = MODEL_CUSTOMERS, seed: int = 0) -> Dataset:
    """The Dataset the per-customer models of a report read: ``ds`` itself when it has at most ``max_customers``
    customers (:func:`customer_count`, in the engine), else :func:`sample_dataset` with the share
    ``max_customers`` ÷ customers (about ``max_customers`` drawn; its ``sample`` states the draw).

    Parameters
    ----------
    ds : Dataset
        The loaded data.
    max_customers : int
        The size above which a sample is drawn (:data:`MODEL_CUSTOMERS`; a notebook's ``model_customers``).
    seed : int
        The draw's seed (:func:`sample_key`).

    Returns
    -------
    Dataset
        ``ds`` (``sample`` None) or the sample (``sample``: :func:`sample_description`'s dict).
    """
    if isinstance(max_customers, bool) or not isinstance(max_customers, (int, np.integer)) or max_customers < 1:
        raise ValueError(f"max_customers={max_customers!r}: a whole number of customers, at least 1")
    n = customer_count(ds)
    if n <= max_customers:
        return ds
    return sample_dataset(ds, max_customers / n, seed=seed)


def customer_parts(ds: Dataset, *, max_customers: int = MODEL_CUSTOMERS, seed: int = 0):
    """Every customer of ``ds``, a part at a time, for the analyses that score every customer from per-customer
    tables (the churn-risk list of notebook 04): ``[ds]`` itself when it has at most ``max_customers`` customers
    (:func:`customer_count`), else k = ⌈customers ÷ ``max_customers``⌉ Datasets of disjoint parts, built as
    :func:`sample_dataset` builds a sample (in the engine; each pandas table on first read). Part i holds the
    customers whose draw key (:func:`sample_key`) lies in [i/k, (i+1)/k) × 16⁸: each customer in exactly one part,
    about ``max_customers`` in each. A generator: each part's tables are freed once the caller moves on to the
    next (hold no reference to a part). Each part's ``sample`` says which part it is (``part``, ``parts``)."""
    if isinstance(max_customers, bool) or not isinstance(max_customers, (int, np.integer)) or max_customers < 1:
        raise ValueError(f"max_customers={max_customers!r}: a whole number of customers, at least 1")
    n = customer_count(ds)
    k = -(-n // int(max_customers))
    if k <= 1:
        yield ds
        return
    bounds = [None, *(_threshold(i / k) for i in range(1, k)), None]
    for i in range(k):
        part, ids = _restricted(ds, _keyed(ds, bounds[i], bounds[i + 1], seed))
        part.sample = {"part": i, "parts": k, "seed": int(seed), "drawn": int(len(ids)), "customers": n,
                       "rule": f"customers whose md5('{int(seed)}:' + customer_id) begins at or above "
                               f"{bounds[i] or '0' * HEX_DIGITS} and below {bounds[i + 1] or 'f' * HEX_DIGITS + ' (included)'}"}
        yield part
        del part

# ------------------------------------------------------------------------------------------------ panel rows


def _id_codes(ids) -> ibis.Table:
    """An in-memory engine table ``customer_id, code``: each id of ``ids`` (as text) and its position."""
    ids = pd.Index(np.asarray(ids, dtype=object)).astype(str)
    return ibis.memtable(pd.DataFrame({"customer_id": ids.to_numpy(dtype=object),
                                       "code": np.arange(len(ids), dtype=np.int64)}))


def panel_last(ds: Dataset, ids=None) -> pd.DataFrame:
    """``customer_id, m, mrr``: each customer's last paid month (the panel's latest row) and its MRR, of the
    customers ``ids`` only when given; one row per customer, in the engine."""
    p = ds.engine_table("panel").select("customer_id", "m", "mrr")
    p = p.mutate(customer_id=p.customer_id.cast("string"))
    if ids is not None:
        p = p.semi_join(_id_codes(ids), "customer_id")
    last = p.group_by("customer_id").aggregate(m=_.m.max())
    out = p.join(last, ["customer_id", "m"]).select("customer_id", "m", "mrr").execute()
    return out.reset_index(drop=True)


def last_month_mrr(ds: Dataset) -> pd.Series:
    """``month``, ``mrr`` and ``customers`` of the panel's last month: the last row of
    :meth:`Dataset.mrr_by_month`, the same numbers (that month's rows read from the engine in the pandas panel's
    order, by customer id, and summed as it sums them) without the pandas panel (14M rows at 1M customers)."""
    from .data.dataset import mrr_by_month
    from .periods import month_start

    p = ds.engine_table("panel")
    p = p.select(customer_id=p.customer_id.cast("string"), m=p.m.cast("int64"), mrr=p.mrr)
    rows = p.filter(p.m == p.m.max()).order_by("customer_id").execute()
    return mrr_by_month(pd.DataFrame({"customer_id": rows["customer_id"].to_numpy(dtype=object),
                                      "month": month_start(rows["m"].to_numpy(np.int64)),
                                      "mrr": rows["mrr"].to_numpy(np.float64)})).iloc[-1]


def panel_months(ds: Dataset, before: int) -> pd.DataFrame:
    """``customer_id, months, before``: per customer of the panel its paid months and those before month index
    ``before``, in the engine."""
    p = ds.engine_table("panel")
    one, zero = ibis.literal(1, "int64"), ibis.literal(0, "int64")
    out = p.group_by(customer_id=p.customer_id.cast("string")).aggregate(
        months=_.m.count(), before=ibis.ifelse(_.m < int(before), one, zero).sum()).execute()
    for c in ("months", "before"):
        out[c] = out[c].astype(np.int64)
    return out


def panel_at(ds: Dataset, keys: pd.DataFrame) -> np.ndarray:
    """The MRR of the panel row of each (``customer_id``, ``m``) of ``keys`` (NaN where the customer did not pay
    that month), in the order of ``keys``: the rows looked up in the engine."""
    k = pd.DataFrame({"customer_id": keys["customer_id"].astype(str).to_numpy(dtype=object),
                      "m": np.asarray(keys["m"], dtype=np.int64), "row": np.arange(len(keys), dtype=np.int64)})
    kt = ibis.memtable(k)
    p = ds.engine_table("panel")
    p = p.select(customer_id=p.customer_id.cast("string"), m=p.m.cast("int64"), mrr=p.mrr)
    hit = kt.join(p, ["customer_id", "m"]).select(kt.row, p.mrr).execute()
    out = np.full(len(keys), np.nan)
    out[hit["row"].to_numpy(np.int64)] = hit["mrr"].to_numpy(float)
    return out


def integer_panel(ds: Dataset, also=()):
    """The :class:`~csanalysis.data.keys.IntegerPanel` of ``ds`` (customers coded by their text ids in sorted
    order, as :func:`~csanalysis.data.keys.customer_codes` numbers the pandas panel's), its rows read from the
    engine by :func:`~csanalysis.data.keys.panel_rows`: the same lookups without the pandas panel. ``also``:
    further panel columns (e.g. ``spell_month``) read with the same rows; then ``(panel, {column: array})``."""
    from .data.keys import IntegerPanel, panel_rows

    ids = pd.Index(np.sort(pd.unique(ds.spells["customer_id"].astype(str)).astype(object)), dtype=object)
    p = panel_rows(ds, ids, ("mrr", "spell", "tenure", *also))
    panel = IntegerPanel(arrays={"code": p["row"].astype(np.int64), "ids": ids, "m": p["m"], "mrr": p["mrr"],
                                 "spell": p["spell"], "tenure": p["tenure"]})
    return (panel, {c: p[c] for c in also}) if also else panel
