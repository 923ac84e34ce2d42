"""The one churn definition, written once in Ibis (runs in the engine: DuckDB by default, Spark, a warehouse).

A customer is active in a month when its MRR is above zero (subscription), or when it has a purchase (purchase
log: any purchase row, whatever the month's purchases sum to; a churn there is a lapse). With a grace period of ``g`` months, a customer
whose last paid month is ``L`` has churned in month ``L + 1`` if it pays nothing in ``L + 1 … L + 1 + g``; its
spell lasts ``L − start + 1`` months. A spell is censored when ``L`` is within the last ``g`` months before
``as_of`` (``L ≥ as_of_month − g``). A later paid month after a churn starts a new spell (a reactivation).
A first spell that begins at the data window's first month for a customer who signed up earlier starts at
the signup month and enters observation late: ``entry`` = months survived before the window.

Months are integer indices ``year * 12 + month − 1`` (csanalysis/periods.py) inside the engine, so date
arithmetic cannot differ between backends; :func:`csanalysis.periods.month_start` turns them back into dates in
pandas.
"""
from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
from ibis import _

from .. import periods
from ..periods import month_start


def month_index(date_expr):
    """Engine twin of :func:`csanalysis.periods.month_index`: an engine (Ibis) date or timestamp column's month
    as the integer index ``year * 12 + month − 1`` (int32), the same number pandas computes
    (tests/data/test_time_rules.py checks both on dates across year ends and leap days)."""
    return (date_expr.year() * 12 + date_expr.month() - 1).cast("int32")


def _drop_right(t):
    """Drop the duplicate key column a join may add (backends differ on whether it appears)."""
    t = t.select(*t.columns)
    return t.drop("customer_id_right") if "customer_id_right" in t.columns else t


def spells_expr(paid: ibis.Table, *, as_of_m: int, grace: int, data_start_m: int, signup: ibis.Table | None):
    """Spells from paid months.

    ``paid`` has columns ``customer_id``, ``m`` (month index) with one row per active month (MRR > 0; in a purchase
    log, every month with a purchase).
    ``signup`` has ``customer_id``, ``signup_m`` (month index of signup) or is None (purchase logs derive it).
    Returns an Ibis table: customer_id, spell, start_m, last_m, duration, event, entry.

    Parameters
    ----------
    paid : ibis.Table
        One row per active month: ``customer_id``, ``m``.
    as_of_m : int
        The last observed month (month index).
    grace : int
        Months without payment before a stop is a churn.
    data_start_m : int
        The first month of the data window (month index): a first spell starting then, of a customer who signed
        up before, enters late (``entry``).
    signup : ibis.Table or None
        ``customer_id``, ``signup_m`` (month index of signup); None in a purchase log (spells start at their
        first active month).

    Returns
    -------
    ibis.Table
        customer_id, spell, start_m, last_m, duration, event, entry.
    """
    # A spell starts at a paid month more than `grace` months after the customer's previous one (or at its first)
    # and ends at a paid month more than `grace` months before its next one (or at its last). One window pass
    # over every paid month marks both; numbering the spells and pairing each start with its end then read only
    # those edge rows (a running count of the starts over every paid month cost as much as the first pass).
    w = ibis.window(group_by="customer_id", order_by="m")
    marked = paid.select("customer_id", "m").mutate(prev_m=_.m.lag().over(w), next_m=_.m.lead().over(w))
    marked = marked.mutate(
        new_spell=ibis.ifelse(_.prev_m.isnull() | ((_.m - _.prev_m - 1) > grace), 1, 0),
        spell_end=ibis.ifelse(_.next_m.isnull() | ((_.next_m - _.m - 1) > grace), 1, 0),
    )
    edges = marked.filter((_.new_spell == 1) | (_.spell_end == 1)).select("customer_id", "m", "new_spell", "spell_end")
    edges = edges.mutate(
        next_edge=_.m.lead().over(w),  # a start's own end when it is not one itself
        spell=_.new_spell.cumsum().over(ibis.window(group_by="customer_id", order_by="m", rows=(None, 0))),
    )
    spells = edges.filter(_.new_spell == 1).select(
        "customer_id", "spell", first_m="m", last_m=ibis.ifelse(_.spell_end == 1, _.m, _.next_edge))
    if signup is not None:
        spells = _drop_right(spells.left_join(signup, "customer_id"))
        truncated = (_.spell == 1) & (_.first_m == data_start_m) & _.signup_m.notnull() & (_.signup_m < data_start_m)
        spells = spells.mutate(
            start_m=ibis.ifelse(truncated, _.signup_m, _.first_m),
            entry=ibis.ifelse(truncated, data_start_m - _.signup_m, 0),
        ).drop("signup_m")
    else:
        spells = spells.mutate(start_m=_.first_m, entry=ibis.literal(0))
    return spells.mutate(
        spell=_.spell.cast("int32"),
        duration=(_.last_m - _.start_m + 1).cast("int32"),
        # churned: the month after the last paid one and its grace months observed (periods.window_closed)
        event=ibis.ifelse(periods.window_closed(_.last_m, 1, as_of_m, grace), 1, 0).cast("int8"),
        entry=_.entry.cast("int32"),
    ).select("customer_id", "spell", "start_m", "first_m", "last_m", "duration", "event", "entry")


def panel_expr(paid: ibis.Table, spells: ibis.Table):
    """Paid customer-months with their spell number, tenure and month within spell."""
    # each spell takes its customer's first start (tenure counts from it) before the paid months join the
    # spells: joined after them, DuckDB hashed the paid months instead of the one row per customer
    first = spells.group_by("customer_id").aggregate(cust_start_m=_.start_m.min())
    spells = _drop_right(spells.select("customer_id", "spell", "start_m", "first_m", "last_m").join(first, "customer_id"))
    joined = paid.join(
        spells, [paid.customer_id == spells.customer_id, paid.m >= spells.first_m, paid.m <= spells.last_m],
    )
    joined = _drop_right(joined)
    return joined.select(
        "customer_id", "m", "mrr", "spell",
        tenure=(_.m - _.cust_start_m).cast("int32"),
        spell_month=(_.m - _.start_m).cast("int32"),
    )


def spells_to_pandas(df: pd.DataFrame) -> pd.DataFrame:
    """Engine spells (month indices) → the documented pandas spells table."""
    df = df.sort_values(["customer_id", "spell"], kind="stable").reset_index(drop=True)
    out = pd.DataFrame({
        "customer_id": df["customer_id"].astype(str),
        "spell": df["spell"].astype("int64"),
        "start": month_start(df["start_m"]),
        "last_paid": month_start(df["last_m"]),
        "end": month_start(df["last_m"] + 1).where(df["event"].to_numpy() == 1),
        "duration": df["duration"].astype("int64"),
        "event": df["event"].astype("int64"),
        "entry": df["entry"].astype("int64"),
    })
    return out


def panel_to_pandas(df: pd.DataFrame) -> pd.DataFrame:
    df = df.sort_values(["customer_id", "m"], kind="stable").reset_index(drop=True)
    return pd.DataFrame({
        "customer_id": df["customer_id"].astype(str),
        "month": month_start(df["m"]),
        "mrr": df["mrr"].astype("float64"),
        "spell": df["spell"].astype("int64"),
        "tenure": df["tenure"].astype("int64"),
        "spell_month": df["spell_month"].astype("int64"),
    })


def panel_from_pandas(df: pd.DataFrame) -> pd.DataFrame:
    """The documented pandas panel → its engine form (month indices; the inverse of :func:`panel_to_pandas`)."""
    return pd.DataFrame({"customer_id": df["customer_id"].astype(str), "m": periods.month_index(df["month"]).astype(np.int32), "mrr": df["mrr"],
                         "spell": df["spell"], "tenure": df["tenure"], "spell_month": df["spell_month"]})


def spells_from_pandas(df: pd.DataFrame) -> pd.DataFrame:
    """The documented pandas spells → their engine form (the inverse of :func:`spells_to_pandas`)."""
    start = periods.month_index(df["start"]).astype(np.int32)
    return pd.DataFrame({"customer_id": df["customer_id"].astype(str), "spell": df["spell"], "start_m": start,
                         "first_m": (start + df["entry"]).astype("int32"), "last_m": periods.month_index(df["last_paid"]).astype(np.int32),
                         "duration": df["duration"], "event": df["event"].astype(np.int8), "entry": df["entry"]})
