"""What users write by hand, for comparison: (a) straightforward vectorized pandas, (b) one DuckDB SQL query
per aggregation stage (the practical speed limit). Each reads the same Parquet files from the start, and
follows the same rules as csanalysis (data/README.md): recurring amounts spread over their service months,
one-off amounts excluded, MRR rounded to cents, a customer active in a month when its MRR is above zero.
"""
from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

DAYS_PER_MONTH = 30.4375


# ----------------------------------------------------------------------------------------- (a) pandas


def pandas_customer_month(folder: Path) -> pd.DataFrame:
    """customer_id, m (year*12 + month − 1), mrr — groupby after spreading with np.repeat."""
    rev = pd.read_parquet(folder / "revenue.parquet")
    if "kind" in rev.columns:
        rev = rev[rev["kind"].isna() | (rev["kind"] == "recurring")]
    date = pd.to_datetime(rev["date"])
    has = rev["period_start"].notna() & rev["period_end"].notna() if "period_start" in rev.columns else pd.Series(False, index=rev.index)
    ps = pd.to_datetime(rev.get("period_start"))
    pe = pd.to_datetime(rev.get("period_end"))
    start = np.where(has, ps.dt.year * 12 + ps.dt.month - 1, date.dt.year * 12 + date.dt.month - 1).astype(np.int64)
    span = ((pe - ps).dt.days + 1) / DAYS_PER_MONTH
    n = np.where(has, np.maximum(np.round(span.fillna(1)), 1), 1).astype(np.int64)
    idx = np.repeat(np.arange(len(rev)), n)
    k = np.arange(len(idx)) - np.repeat(np.cumsum(n) - n, n)
    spread = pd.DataFrame({
        "customer_id": rev["customer_id"].to_numpy()[idx],
        "m": start[idx] + k,
        "amt": rev["amount"].to_numpy()[idx] / n[idx],
    })
    out = spread.groupby(["customer_id", "m"], sort=False, as_index=False)["amt"].sum()
    out["mrr"] = out["amt"].round(2)
    return out.drop(columns="amt")


def pandas_logo_cohorts(cm: pd.DataFrame, as_m: int) -> pd.DataFrame:
    """Monthly logo cohort counts: cohort (first paid month), k, active customers."""
    paid = cm[(cm["mrr"] > 0) & (cm["m"] <= as_m)]
    first = paid.groupby("customer_id")["m"].transform("min")
    counts = paid.assign(cohort=first, k=paid["m"] - first).groupby(["cohort", "k"]).size()
    return counts.rename("active").reset_index()


def pandas_mrr_movements(cm: pd.DataFrame, as_m: int) -> pd.DataFrame:
    """New, expansion, contraction, churn, reactivation per month by groupby-shift on a customer-month grid."""
    paid = cm[(cm["mrr"] > 0) & (cm["m"] <= as_m)].sort_values(["customer_id", "m"])
    g = paid.groupby("customer_id", sort=False)
    prev_m = g["m"].shift()
    prev_mrr = g["mrr"].shift()
    consecutive = prev_m == paid["m"] - 1
    first = prev_m.isna()
    delta = paid["mrr"] - prev_mrr
    mov = pd.DataFrame({
        "m": paid["m"],
        "new": np.where(first, paid["mrr"], 0.0),
        "reactivation": np.where(~first & ~consecutive, paid["mrr"], 0.0),
        "expansion": np.where(consecutive & (delta > 0), delta, 0.0),
        "contraction": np.where(consecutive & (delta < 0), -delta, 0.0),
    }).groupby("m").sum()
    nxt = g["m"].shift(-1)
    churned = paid[(nxt.isna() | (nxt > paid["m"] + 1)) & (paid["m"] < as_m)]
    churn = churned.groupby(churned["m"] + 1)["mrr"].sum().rename("churn")
    return mov.join(churn, how="outer").fillna(0.0).reset_index()


# ---------------------------------------------------------------------------------------- (b) DuckDB SQL

CUSTOMER_MONTH_SQL = """
WITH rec AS (
  SELECT customer_id, amount,
    CASE WHEN period_start IS NOT NULL AND period_end IS NOT NULL
         THEN year(period_start) * 12 + month(period_start) - 1 ELSE year(date) * 12 + month(date) - 1 END AS start_m,
    CASE WHEN period_start IS NOT NULL AND period_end IS NOT NULL
         THEN greatest(round((date_diff('day', period_start, period_end) + 1) / {dpm}), 1) ELSE 1 END::INT AS n
  FROM read_parquet('{folder}/revenue.parquet')
  WHERE kind IS NULL OR kind = 'recurring'
)
SELECT customer_id, m, round(sum(amt), 2) AS mrr
FROM (SELECT customer_id, start_m + unnest(range(n)) AS m, amount / n AS amt FROM rec)
GROUP BY ALL
"""

LOGO_COHORTS_SQL = """
WITH cm AS ({cm}), paid AS (SELECT customer_id, m FROM cm WHERE mrr > 0 AND m <= {as_m}),
f AS (SELECT customer_id, min(m) AS cohort FROM paid GROUP BY ALL)
SELECT cohort, m - cohort AS k, count(*) AS active FROM paid JOIN f USING (customer_id) GROUP BY ALL
"""


def duckdb_customer_month(folder: Path, con=None) -> pd.DataFrame:
    con = con or duckdb.connect()
    return con.sql(CUSTOMER_MONTH_SQL.format(folder=folder, dpm=DAYS_PER_MONTH)).df()


def duckdb_logo_cohorts(folder: Path, as_m: int, con=None) -> pd.DataFrame:
    con = con or duckdb.connect()
    cm = CUSTOMER_MONTH_SQL.format(folder=folder, dpm=DAYS_PER_MONTH)
    return con.sql(LOGO_COHORTS_SQL.format(cm=cm, as_m=as_m)).df()


MOVEMENTS_SQL = """
WITH cm AS ({cm}), paid AS (SELECT customer_id, m, mrr FROM cm WHERE mrr > 0 AND m <= {as_m}),
w AS (SELECT *, lag(m) OVER w AS pm, lag(mrr) OVER w AS pmrr, lead(m) OVER w AS nm FROM paid
      WINDOW w AS (PARTITION BY customer_id ORDER BY m)),
up AS (SELECT m,
         sum(CASE WHEN pm IS NULL THEN mrr ELSE 0 END) AS new,
         sum(CASE WHEN pm IS NOT NULL AND pm < m - 1 THEN mrr ELSE 0 END) AS reactivation,
         sum(CASE WHEN pm = m - 1 AND mrr > pmrr THEN mrr - pmrr ELSE 0 END) AS expansion,
         sum(CASE WHEN pm = m - 1 AND mrr < pmrr THEN pmrr - mrr ELSE 0 END) AS contraction
       FROM w GROUP BY m),
down AS (SELECT m + 1 AS m, sum(mrr) AS churn FROM w WHERE (nm IS NULL OR nm > m + 1) AND m < {as_m} GROUP BY ALL)
SELECT m, coalesce(new, 0) AS new, coalesce(expansion, 0) AS expansion, coalesce(contraction, 0) AS contraction,
       coalesce(churn, 0) AS churn, coalesce(reactivation, 0) AS reactivation
FROM up FULL JOIN down USING (m) ORDER BY m
"""


def duckdb_mrr_movements(folder: Path, as_m: int, con=None) -> pd.DataFrame:
    con = con or duckdb.connect()
    cm = CUSTOMER_MONTH_SQL.format(folder=folder, dpm=DAYS_PER_MONTH)
    return con.sql(MOVEMENTS_SQL.format(cm=cm, as_m=as_m)).df()
