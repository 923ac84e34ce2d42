"""The aggregated tables in their pandas form, as engine expressions: a report run's cache writes them straight
from the engine to Parquet (data/cache.py) instead of building each one in pandas first.

At a million customers, building the panel, usage and payment tables in pandas (engine rows → Python strings,
a pandas sort, the schema check) took most of the run's pre-phase; the engine sorts and writes them in a
fraction of that. Each function here is the engine twin of a pandas step and must give a Parquet file that
``pd.read_parquet`` reads back as exactly the frame the pandas route writes (columns, order of rows, dtypes,
values); tests/test_cache_direct.py compares the two routes.

Each returns the table's columns as an expression and the columns its rows are sorted by (the pandas sort:
ascending, nulls last; the writer sorts and casts every column to its Ibis type, see data/cache.py), or None
when it cannot promise that (a column type it does not map, a row that breaks the panel or spells schema);
the cache then builds that table in pandas, which raises the schema's error as before.
"""
from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
from ibis import _


def month_timestamp(m):
    """Engine twin of :func:`csanalysis.periods.month_start`: a month index as a first-of-month
    timestamp in nanoseconds (the pandas datetime64[ns]; a month outside that range makes DuckDB raise, and
    the cache falls back to pandas)."""
    return ibis.date(m // 12, m % 12 + 1, 1).cast(dt.Timestamp(scale=9))


def as_pandas_read(col):
    """A column as the pandas route stores it, or None for a type not mapped here. Text, float64 and int64 go
    through pandas unchanged; a date becomes datetime64[s] in pandas (Ibis' conversion), which Parquet stores
    in milliseconds (it has no seconds), so it is written as a millisecond timestamp."""
    t = col.type()
    if t.is_string() or t == dt.float64 or t == dt.int64:
        return col
    if t.is_date():
        return col.cast(dt.Timestamp(scale=3))
    return None


def _typed(columns: dict) -> dict | None:
    """``columns`` (name → expression) through :func:`as_pandas_read`; None when one is not mapped."""
    out = {name: as_pandas_read(col) for name, col in columns.items()}
    return None if any(v is None for v in out.values()) else out


def _has_rows(expr) -> bool:
    return int(expr.count().execute()) > 0


def _duplicated(t, keys: list[str]) -> bool:
    """True when two rows share ``keys`` (the schemas' ``unique``)."""
    return _has_rows(t.group_by(keys).aggregate(n=_.count()).filter(_.n > 1))


MAX_MONTH_BITS = 1200  # months spanned by the panel up to which _repeated_month uses one bit per month


def _repeated_month(p) -> bool:
    """True when a customer has two panel rows with one month index ``m`` (PANEL_SCHEMA's unique customer_id
    and month). A bit per month in one bit string per customer (DuckDB's bitstring_agg), cheaper than grouping
    every (customer_id, m) pair: a customer's months are unique when its row count is the number of bits set. Other engines, or a span too long for a bit string per customer, group the pairs.
    """
    lo, hi = p.aggregate(lo=p.m.min(), hi=p.m.max()).execute().iloc[0]
    if lo is None or lo != lo:  # no rows
        return False
    con = ibis.get_backend(p)
    if con.name != "duckdb" or hi - lo >= MAX_MONTH_BITS:
        return _duplicated(p, ["customer_id", "m"])
    rows = con.compile(p.select("customer_id", "m"))
    sql = (f"SELECT count(*) FROM (SELECT count(*) AS n, bit_count(bitstring_agg(m, {int(lo)}, {int(hi)})) AS b "
           f"FROM ({rows}) GROUP BY customer_id) WHERE n <> b")
    return con.raw_sql(sql).fetchall()[0][0] > 0


def monthly(t):
    """Engine twin of the pandas finishing of a customer-month table (usage, payments, CS activities: see
    ``_usage`` / ``_monthly_counts`` in data/load.py): sorted by customer and month, the month index ``m``
    replaced by ``month`` in second place. ``t`` is the engine aggregate (group keys ``customer_id``, ``m``;
    one row per key, so the order is total) or None."""
    if t is None or not t.customer_id.type().is_string():
        return None
    rest = _typed({c: t[c] for c in t.columns if c not in ("customer_id", "m")})
    if rest is None:
        return None
    # month is m's order-preserving image, so sorting on it is sorting on m
    return t.select("customer_id", month=month_timestamp(t.m), **rest), ("customer_id", "month")


def customers(t):
    """Engine twin of ``_customers`` in data/load.py (ordered by customer_id, which is unique: duplicates stop
    the load)."""
    cols = _typed({c: t[c] for c in t.columns})
    return None if cols is None else (t.select(**cols), ("customer_id",))


# The panel and spells: engine twins of spells.panel_to_pandas / spells_to_pandas followed by the pandera
# schemas PANEL_SCHEMA (PURCHASE_PANEL_SCHEMA for a purchase log) / SPELLS_SCHEMA (data/schema.py). The schema's rules are counted in the engine first;
# a table that breaks one goes the pandas way, where pandera raises its usual error. The dtype rules hold by
# construction (the casts below), and ``strict`` by the fixed column list.

def panel(p, layout: str = "subscription"):
    """The pandas panel as an engine expression, or None (see above). ``p``: the engine panel
    (data/dataset.py ENGINE_COLUMNS). A purchase log's panel (PURCHASE_PANEL_SCHEMA) has no rule on ``mrr``:
    a month whose purchases sum to 0 or less is still an active month."""
    if not (p.customer_id.type().is_string() and p.mrr.type() == dt.float64):
        return None
    # mrr > 0 or null (NaN too: DuckDB orders NaN above every number); any value in a purchase log
    mrr_breaks = ibis.literal(False) if layout == "purchase_log" else (p.mrr <= 0)
    breaks = (p.customer_id.isnull() | p.m.isnull()
              | mrr_breaks
              | p.spell.isnull() | (p.spell < 1)
              | p.tenure.isnull() | (p.tenure < 0)
              | p.spell_month.isnull() | (p.spell_month < 0))
    # the month of an index is unique to it, so (customer_id, m) unique is (customer_id, month) unique
    if _has_rows(p.filter(breaks)) or _repeated_month(p):
        return None
    out = p.select("customer_id", month=month_timestamp(p.m), mrr=p.mrr, spell=p.spell.cast("int64"),
                   tenure=p.tenure.cast("int64"), spell_month=p.spell_month.cast("int64"))
    return out, ("customer_id", "month")


def spells(s):
    """The pandas spells as an engine expression, or None (see above). ``s``: the engine spells."""
    if not s.customer_id.type().is_string():
        return None
    breaks = (s.customer_id.isnull() | s.spell.isnull() | (s.spell < 1)
              | s.start_m.isnull() | s.last_m.isnull()
              | s.duration.isnull() | (s.duration < 0) | ((s.duration == 0) & (s.event != 1))
              | s.event.isnull() | ~s.event.isin([0, 1])
              | s.entry.isnull() | (s.entry < 0)
              | ~((s.entry < s.duration) | (s.duration == 0)))
    # "end is set exactly for events" holds by construction once event is 0 or 1 (end is set where event == 1)
    if _has_rows(s.filter(breaks)) or _duplicated(s, ["customer_id", "spell"]):
        return None
    out = s.select(
        "customer_id", spell=s.spell.cast("int64"), start=month_timestamp(s.start_m),
        last_paid=month_timestamp(s.last_m),
        end=ibis.ifelse(s.event == 1, month_timestamp(s.last_m + 1), ibis.null(dt.Timestamp(scale=9))),
        duration=s.duration.cast("int64"), event=s.event.cast("int64"), entry=s.entry.cast("int64"),
    )
    return out, ("customer_id", "spell")
