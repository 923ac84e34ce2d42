"""The Dataset: validated tables and the aggregated views every analysis reads (after the engine)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .. import periods
from .mapping import Settings
from .validation import ValidationReport


class Lazy:
    """A table built on first use: the customers, panel and spells come into pandas, and the optional tables
    (usage, NPS, payments, CS activities) are aggregated in the engine, only when an analysis reads them, so a
    cohort or MRR stage does not pay for them. A Dataset from a report run's cache reads each table's Parquet
    file the same way."""

    __slots__ = ("build", "engine")

    def __init__(self, build, engine=None):
        self.build = build
        # optional: a callable giving the same table as an engine expression (data/direct.py), or None when it
        # cannot; a report run's cache writes that straight to Parquet instead of building the frame
        self.engine = engine


LAZY_TABLES = ("usage", "nps", "payments", "cs_activities", "payment_attempts", "tickets", "invoices")
FRAMES_IN_ENGINE = ("customers", "panel", "spells")  # always present; built in pandas on first read
ENGINE_COLUMNS = {  # the engine form of the panel and spells (integer month indices; see data/spells.py)
    "panel": ("customer_id", "m", "mrr", "spell", "tenure", "spell_month"),
    "spells": ("customer_id", "spell", "start_m", "first_m", "last_m", "duration", "event", "entry"),
}


@dataclass
class Dataset:
    """What :func:`csanalysis.load_dataset` returns.

    * ``customers``: one row per customer (attributes at signup).
    * ``panel``: one row per customer and paid month (``mrr`` > 0; in a purchase log, every month with a purchase,
      ``mrr`` being what its purchases sum to, 0 or below included), with ``spell``, ``tenure``, ``spell_month``.
    * ``spells``: one row per customer spell (the churn definition; see data/README.md).
    * ``usage``: customer-month usage measures and ``last_active_date`` (or None).
    * ``nps``: the survey responses (or None).
    * ``payments`` / ``cs_activities``: customer-month counts per status / activity (or None).
    * ``payment_attempts``: the payment rows themselves up to ``as_of`` (customer_id, date, status; or None), for
      analyses that need the day of each attempt (churn causes and dunning: csanalysis/causes.py).
    * ``cs_costs``: monthly CS team cost (or None).
    * ``tickets``: the support tickets, one row each as in the source (or None).
    * ``invoices``: the annual invoices of ``revenue`` (data/invoices.py; subscription data, or None): the term
      ends the renewal rates read, kept apart so that a cached Dataset without raw rows has them.
    * ``attributes``: the ``customer_attributes`` history table (or None); ``attribute_kinds``: each customer
      attribute (column of ``customers``) and its kind, numeric or categorical (see data/attributes.py).
    * ``tables``: the validated raw tables as engine (Ibis) expressions, for analyses that need row detail.

    ``panel`` and ``spells`` stay in the engine until a pandas analysis reads them (:meth:`engine_table` gives
    the engine form, which aggregations such as cohort counts and MRR movements query directly).
    """

    source: str
    layout: str
    settings: Settings
    report: ValidationReport
    customers: pd.DataFrame
    panel: pd.DataFrame
    spells: pd.DataFrame
    as_of_month: pd.Timestamp
    usage: pd.DataFrame | None = None
    nps: pd.DataFrame | None = None
    payments: pd.DataFrame | None = None
    cs_activities: pd.DataFrame | None = None
    payment_attempts: pd.DataFrame | None = None
    cs_costs: pd.DataFrame | None = None
    tickets: pd.DataFrame | None = None  # support tickets as they are (customer_id, date, text, category, channel)
    attributes: pd.DataFrame | None = None
    # the annual invoices of revenue (data/invoices.py: customer_id, period_start, period_end; subscription data)
    invoices: pd.DataFrame | None = None
    # kind of each customer attribute (column of customers): numeric or categorical (data/attributes.py)
    attribute_kinds: dict[str, str] | None = None
    tables: dict[str, Any] = field(default_factory=dict, repr=False)
    engine: dict[str, Any] = field(default_factory=dict, repr=False)  # panel / spells as engine expressions
    con: Any = field(default=None, repr=False)
    pseudonymised: bool = False  # customer ids replaced by keyed pseudonyms (data/pseudonym.py)
    cache_key: str | None = field(default=None, repr=False)  # set when read from a report run's cache
    # the seeded sample of whole customers this Dataset holds (csanalysis.grouped.sample_dataset: its description),
    # None when it holds every customer
    sample: dict | None = field(default=None, repr=False)
    _date_ranges: dict | None = field(default=None, repr=False)

    def __getattribute__(self, name):
        value = object.__getattribute__(self, name)
        if type(value) is Lazy:
            value = value.build()
            object.__setattr__(self, name, value)
        return value

    def materialise(self) -> "Dataset":
        """Build every table still pending (see :class:`Lazy`)."""
        for name in (*FRAMES_IN_ENGINE, *LAZY_TABLES):
            getattr(self, name)
        return self

    def engine_table(self, name: str):
        """``panel`` or ``spells`` as an engine (Ibis) expression with integer month indices
        (:data:`ENGINE_COLUMNS`): the loader's own expression, or, for a Dataset built from pandas frames (a
        report run's cache, pseudonymised ids), the frame registered as an in-memory table."""
        if name not in ENGINE_COLUMNS:
            raise ValueError(f"engine_table({name!r}): use one of {list(ENGINE_COLUMNS)}")
        t = self.engine.get(name)
        if t is None:
            import ibis

            from . import spells as sp

            convert = sp.panel_from_pandas if name == "panel" else sp.spells_from_pandas
            out = convert(getattr(self, name))
            t = ibis.memtable(out)
            self.engine[name] = t
        return t

    def engine_frame(self, name: str):
        """A customer-month table (``usage``, ``payments``, ``cs_activities``) as an engine (Ibis) expression with
        the columns of its pandas frame, without building that frame when it is still pending: the loader's
        engine form of it (data/direct.py), or the Parquet file of a report run's cache read by the engine of
        the panel; else (a frame already in pandas, a sample's table) the frame registered as an in-memory
        table. None when the Dataset has no such table."""
        if name not in ("usage", "payments", "cs_activities"):
            raise ValueError(f"engine_frame({name!r}): use usage, payments or cs_activities")
        value = self.__dict__.get(name)
        if value is None:
            return None
        import ibis

        if type(value) is Lazy:
            from .cache import parquet_file

            direct = value.engine() if value.engine is not None else None
            if direct is not None:
                return direct[0]
            path = parquet_file(value)
            if path is not None:
                return ibis.get_backend(self.engine_table("panel")).read_parquet(path)
        return ibis.memtable(getattr(self, name))

    def customer_columns(self, columns) -> pd.DataFrame:
        """The ``columns`` of ``customers`` that it has, without building its other columns when it is still
        pending in a report run's cache (its Parquet file read for those columns only); else from the frame."""
        value = self.__dict__.get("customers")
        if type(value) is Lazy:
            from .cache import read_columns

            df = read_columns(value, columns)
            if df is not None:
                return df
        c = self.customers
        return c[[x for x in columns if x in c.columns]]

    def pending(self) -> list[str]:
        """Tables not built in pandas yet: the panel and spells (still only in the engine) and optional tables
        present in the source."""
        return [n for n in (*FRAMES_IN_ENGINE, *LAZY_TABLES) if type(self.__dict__.get(n)) is Lazy]

    @property
    def as_of(self) -> dt.date:
        return self.settings.as_of

    @property
    def data_start(self) -> pd.Timestamp:
        return pd.Timestamp(self.settings.data_start) if self.settings.data_start else self.spells["start"].min()

    # -- the time rules: months as integer indices (csanalysis/periods.py) -----------------------------------
    @property
    def as_of_m(self) -> int:
        """Month index of the ``as_of`` month (:attr:`as_of_month`), the last month of the panel: the last month
        complete on the ``as_of`` date (:func:`~csanalysis.periods.last_complete_month`)."""
        return periods.month_index(self.as_of_month)

    @property
    def data_start_m(self) -> int:
        """Month index of the data window's first month (:attr:`data_start`)."""
        return periods.month_index(self.data_start)

    def window_closed(self, month, horizon, grace=0, *, by: int | None = None):
        """Whether the outcome window of ``horizon`` months after ``month`` (a month index), followed by ``grace``
        months, has been observed by the ``as_of`` month (or by the month index ``by``, as of an earlier date):
        ``month + horizon + grace ≤ as_of_m``. Churn outcomes pass the data's grace period
        (``grace=ds.settings.grace_months``), since a stop within it is not a churn yet; ``horizon`` 0 asks about
        the month itself. Vectorised over arrays of months (and horizons) that broadcast
        (:func:`~csanalysis.periods.window_closed`).

        Parameters
        ----------
        month : int or array of int
            The scoring months (month indices).
        horizon : int or array of int
            The outcome window in months.
        grace : int
            Months after the window in which a stop is not yet a churn.
        by : int, optional
            The month index to judge by (None: the ``as_of`` month).

        Returns
        -------
        bool or ndarray of bool
            Whether each window has closed.
        """
        return periods.window_closed(month, horizon, self.as_of_m if by is None else by, grace)

    def last_closed_month(self, horizon, grace=0, *, by: int | None = None) -> int:
        """The latest month index whose window (:meth:`window_closed`) has closed by the ``as_of`` month (or by
        ``by``): ``as_of_m − horizon − grace``."""
        if horizon < 0 or grace < 0:
            raise ValueError(f"horizon={horizon!r}, grace={grace!r}: a window is zero or more months long, grace ≥ 0")
        return (self.as_of_m if by is None else by) - horizon - grace

    def has(self, table: str) -> bool:
        """True when an optional table is present (analyses that need it say they are skipped otherwise); does
        not build a pending table."""
        return self.__dict__.get(table) is not None

    def left_out(self, need: str) -> str | None:
        """Why an analysis that needs ``need`` (one of :data:`~csanalysis.data.schema.NEEDS`) is left out on this
        layout, as a message key of the report catalogue; None when the layout supports it."""
        from .schema import LEFT_OUT, NEEDS

        if need not in NEEDS:
            raise ValueError(f"left_out({need!r}): use one of {list(NEEDS)}")
        return LEFT_OUT[self.layout].get(need)

    def date_ranges(self) -> dict[str, tuple]:
        """First and last date (``date`` or ``month`` column) of each raw table, computed in the engine once."""
        if self._date_ranges is None:
            out = {}
            for name, t in self.tables.items():
                col = "date" if "date" in t.columns else ("month" if "month" in t.columns else None)
                if col:
                    r = t.aggregate(first=t[col].min(), last=t[col].max()).execute().iloc[0]
                    out[name] = tuple(None if pd.isna(v) else pd.Timestamp(v).strftime("%Y-%m-%d")
                                      for v in (r["first"], r["last"]))
            self._date_ranges = out
        return self._date_ranges

    def mrr_by_month(self) -> pd.DataFrame:
        """Total MRR and paying customers per month (for overviews)."""
        g = self.panel.groupby("month", sort=True)
        return pd.DataFrame({"mrr": g["mrr"].sum(), "customers": g["customer_id"].size()}).reset_index()

    def attribute_at(self, attribute: str, date) -> pd.Series:
        """Each customer's value of ``attribute`` in force at ``date`` (history table, else the signup value)."""
        date = pd.Timestamp(date)
        base = (self.customers.set_index("customer_id")[attribute]
                if attribute in self.customers.columns else pd.Series(dtype=object))
        if self.attributes is None:
            return base
        h = self.attributes[(self.attributes["attribute"] == attribute)
                            & (pd.to_datetime(self.attributes["valid_from"]) <= date)]
        latest = h.sort_values("valid_from").groupby("customer_id")["value"].last()
        return latest.combine_first(base.astype(object)) if len(base) else latest

    def churn_definition(self) -> str:
        if self.layout == "snapshot":
            return (f"A snapshot row's tenure is its time as a customer and its churn flag says whether it left: T = "
                    f"tenure and E = churned. Active rows are paying in {self.as_of_month:%B %Y}; no churn is dated later.")
        g = self.settings.grace_months
        if self.layout == "purchase_log":
            return (f"A customer is active in a month in which it bought anything, whatever the amount; a churn is a "
                    f"lapse: no purchase for {g + 1} month(s) in a row (1 + a grace period of {g} months). Customers "
                    f"who bought within the last {g + 1} month(s) before {self.as_of_month:%B %Y} are censored. "
                    "A purchase after a lapse starts a new spell (a return).")
        grace = (f"after {g} month{'s' if g != 1 else ''} without payment (grace period)" if g
                 else "in the first month without payment")
        return (f"A customer is active in a month when its MRR is above zero; it has churned {grace}. "
                f"Spells still paying within the last {g + 1} month(s) before {self.as_of_month:%B %Y} are censored. "
                "A later paid month after a churn starts a new spell (a reactivation).")

    @property
    def summary(self) -> pd.DataFrame:
        """Rows per table (``table``, ``rows``): customers, paid customer-months, spells, churn events,
        reactivations, then each optional table (None when the data have none)."""
        rows = [("customers", len(self.customers)), ("paid customer-months", len(self.panel)),
                ("spells", len(self.spells)), ("churn events", int(self.spells["event"].sum())),
                ("reactivations", int((self.spells["spell"] > 1).sum()))]
        for name in ("usage", "nps", "payments", "cs_activities", "cs_costs"):
            df = getattr(self, name)
            rows.append((name, len(df) if df is not None else None))
        return pd.DataFrame(rows, columns=["table", "rows"])
