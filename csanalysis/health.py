"""Health scores and the churn-risk list (解約予備軍), judged on the future.

**Scoring dates.** A scoring date *t* is turned into its scoring month *T*: the month of *t* when *t* is that
month's last day, else the month before (the last complete month). Every signal reads data up to the end of
*T* only, and every "days" signal is counted to that day (the reference date). The outcome of a score at *T* is
churn within the next ``horizon`` months: the account's spell ends (its churn month, data/README.md) in
*T*+1 … *T*+``horizon``. The outcome is known once *T* + ``horizon`` + ``grace_months`` ≤ the as_of month
(the window has closed).

**Signals** (one row per account paying in *T*, from the customer-month tables of the Dataset; usage is
aggregated to months by the engine whatever the raw granularity, so each usage signal is derived from monthly
rows — months without usage rows count as no activity):

* ``days_since_login``: reference date − ``last_active_date`` of the latest usage month ≤ *T* with activity;
  with no activity at all, days since the first month of the current spell (or of the data window);
* ``active_users``, ``seats``, ``utilisation`` = active users ÷ seats: the monthly maximum of active users in
  *T* (0 without usage rows) over the seats in force (``Dataset.attribute_at``, else the seats at signup);
* ``features_used``: breadth of feature use, the monthly maximum in *T*;
* ``logins`` in *T*; ``usage_trend`` = logins in *T* ÷ the mean of *T*−1 and *T*−2 (the last 30 days against
  the 60 before, in whole months); undefined when the account was not paying in both earlier months or had no
  logins then; ``falling_usage``: the shared monthly signal (data/signals.py: trend below 60% with three paid
  months of history);
* ``failed_payments``: failed payment attempts in *T*−2 … *T*;
* ``nps_score``: the latest survey wave's mean account score (surveys up to the end of *T*) and
  ``nps_category`` (data/signals.py: detractor, passive, promoter, none);
* ``cs_contacts``: customer-success activities in *T*−2 … *T*;
* ``tenure_months`` (months since the first spell's start), ``mrr`` in *T*;
* ``days_to_renewal``: from ``renewal_date`` (a snapshot taken at export). For an earlier scoring date the
  renewal in force is taken as the latest yearly anniversary of that date after the reference date (annual
  terms assumed); a ``renewal_date`` history in ``customer_attributes`` is used when present;
* the segment attributes present in ``customers`` (``plan``, ``touch_model``, ``acquisition_channel``).

**Two scores.** A weighted scorecard (YAML: measures, weights, thresholds, bands; the default is
``health_scorecard.yaml`` beside this module) whose 0–100 points are calibrated to a churn probability on past
scoring dates (logistic or isotonic on the points) before anything is plotted; and a data-driven score, an
L2-regularised logistic regression (scikit-learn) on the same signals, trained on past scoring dates whose
outcome windows closed before the date it scores.

**Judged on the future.** :func:`evaluate` scores a later window of scoring dates with models fitted only on
earlier closed windows and reports AUC, top-decile lift and capture, precision at capacity and a calibration
table, each with a cluster-bootstrap interval (accounts, which appear at several scoring dates, are resampled
whole). On demo data the generator's true churn probabilities give the ceiling.

**The list.** :func:`risk_list` ranks accounts by risk with their reasons in words, cuts it at the team's
capacity and splits it by touch model; :data:`LIST_COLUMNS` documents the CSV layout for a CRM import.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .data import Dataset
from .data import attributes as attrs_
from .data.signals import AccountMonths, falling_usage_at, nps_category_at, survey_waves
from .periods import month_index, month_start
from .resample import draw_counts
from .spreadsheet import restore, write_csv

DEFAULT_SCORECARD = Path(__file__).with_name("health_scorecard.yaml")
ATTRIBUTES = ("plan", "touch_model", "acquisition_channel")
TOUCH_MODELS = ("high", "low", "tech")
NUMERIC_SIGNALS = ("days_since_login", "active_users", "seats", "utilisation", "features_used", "logins",
                   "usage_trend", "falling_usage", "failed_payments", "nps_score", "cs_contacts", "tenure_months",
                   "mrr", "days_to_renewal")
Z95 = 1.959963984540054

# The CSV layout of the list, in this order (a stable layout for a CRM import).
LIST_COLUMNS = {
    "scoring_date": "reference date of the scores (end of the scoring month; data up to this day)",
    "rank": "rank by risk within the whole list (1 = highest risk)",
    "touch_model": "high, low or tech touch (the team whose list it is)",
    "rank_in_team": "rank within the touch model's list",
    "customer_id": "account identifier (a keyed pseudonym when pseudonymised)",
    "csm_owner": "customer-success manager",
    "churn_probability": "probability of churning within the horizon (calibrated on past scoring dates)",
    "horizon_months": "months the probability covers",
    "score_source": "which score ranks the list: model (data-driven) or scorecard",
    "scorecard_points": "weighted scorecard, 0 (poor) to 100 (good)",
    "scorecard_band": "scorecard band (good, average, poor)",
    "mrr": "monthly recurring revenue in the scoring month",
    "arr": "annual recurring revenue (12 × MRR)",
    "arr_at_risk": "churn probability × ARR (expected ARR lost within the horizon)",
    "renewal_date": "next renewal date in force at the scoring date",
    "days_to_renewal": "days from the scoring date to the renewal",
    "reasons": "the two or three signals that raise the account's risk most, in words",
    "on_list": "1 when within the team's capacity (the accounts to work), else 0",
    "new_on_list": "1 when on the list now but not on the previous list (empty without a previous list)",
}


# ============================================================================ signals


def scoring_month(ds: Dataset, scoring_date=None) -> int:
    """Month index of the scoring month for ``scoring_date`` (default: the as_of month), see the module doc."""
    if scoring_date is None:
        return month_index(ds.as_of_month)
    t = pd.Timestamp(scoring_date)
    m = month_index(t)
    if t.normalize() != (month_start(m) + pd.offsets.MonthEnd(0)):
        m -= 1
    if m > month_index(ds.as_of_month):
        raise ValueError(f"scoring_date {t.date()} is after the data's as_of month ({ds.as_of_month:%Y-%m}); "
                         "choose a date up to as_of")
    first = month_index(ds.data_start)
    if m < first:
        raise ValueError(f"scoring_date {t.date()} is before the data window starts ({ds.data_start:%Y-%m-%d})")
    return m


def reference_date(m: int) -> pd.Timestamp:
    """Last day of month index ``m`` (the day 'days since' and 'days to' signals count from)."""
    return month_start(m) + pd.offsets.MonthEnd(0)


USAGE_SIGNALS = ("logins", "active_users", "features_used")  # read from the scoring month's usage row


def _by_month(df: pd.DataFrame | None, col: str, keys: AccountMonths, date_col: str = "month") -> np.ndarray | None:
    """Accounts × months sums of ``col`` (None when the table or column is absent)."""
    if df is None or col not in df.columns:
        return None
    return keys.cells(df["customer_id"], month_index(df[date_col]), df[col], how="sum")


def signals(ds: Dataset, months=None, *, scoring_date=None, accounts=None, attributes=ATTRIBUTES) -> pd.DataFrame:
    """Signals for every account paying in each scoring month (month indices ``months``; default: the month of
    ``scoring_date``, see :func:`scoring_month`), or for the ``accounts`` (customer ids) among them. One row per
    account and scoring month, columns ``customer_id``, ``m`` (scoring month index), ``scoring_date`` (reference
    date) and the signals of the module docstring, with the customer ``attributes`` (numbers for a numeric
    attribute, see data/attributes.py). Only data up to the end of each row's scoring month is read."""
    if months is None:
        months = [scoring_month(ds, scoring_date)]
    months = np.unique(np.asarray(months, dtype=np.int64))
    pm = month_index(ds.panel["month"])
    sel = np.isin(pm, months)
    if accounts is not None:
        sel &= ds.panel["customer_id"].isin(accounts).to_numpy()
    rows = ds.panel.loc[sel, ["customer_id", "mrr", "spell", "tenure"]].assign(m=pm[sel])
    rows = rows.sort_values(["m", "customer_id"], kind="stable").reset_index(drop=True)
    cid, m = rows["customer_id"].to_numpy(), rows["m"].to_numpy()
    keys = AccountMonths(cid, m, back=2)  # the signals read the scoring month and the two before
    ref = (pd.to_datetime({"year": m // 12, "month": m % 12 + 1, "day": 1}) + pd.offsets.MonthEnd(0)).to_numpy()
    out = pd.DataFrame({"customer_id": cid, "m": m, "scoring_date": ref})

    # --- usage (monthly rows) ----------------------------------------------------------------------------
    u = ds.usage
    falling = None
    if u is not None and len(u):
        um = month_index(u["month"])
        # only the rows' accounts, up to the last scoring month, can enter (a sample of accounts reads a share of
        # the table; at 1M customers the frames below were several copies of 13M usage rows)
        ua = keys.accounts(u["customer_id"])
        mine = (ua >= 0) & (um < keys.lo + keys.M)
        if not mine.all():
            u, um, ua = u[mine], um[mine], ua[mine]
        grids = keys.cells(u["customer_id"], um, u[[c for c in USAGE_SIGNALS if c in u.columns]], how="one", acc=ua)
        del ua
        for c in USAGE_SIGNALS:
            out[c] = keys.at(grids[c]) if c in grids else np.nan
        if "logins" in grids:
            prev = (keys.at(grids["logins"], 1) + keys.at(grids["logins"], 2)) / 2
            # the paying panel rows' ids and months only (a filtered copy of the whole panel was 13M rows × all
            # columns at 1M customers; pm holds the months already)
            paying = ds.panel["mrr"].notna().to_numpy()
            paid = keys.present(ds.panel["customer_id"].to_numpy()[paying], pm[paying])
            del paying
            known = keys.at(paid, 1, fill=False) & keys.at(paid, 2, fill=False)
            with np.errstate(divide="ignore", invalid="ignore"):
                out["usage_trend"] = np.where(known & (prev > 0), out["logins"].to_numpy() / prev, np.nan)
            # falling_usage as data/signals.py defines it, asked for month T+1 (it reads months ≤ T only), from
            # the same grids: monthly_signals would number the accounts and place usage and panel rows again
            falling = falling_usage_at(keys, grids["logins"], paid, lag=0)[0]
            del paid
        else:
            out["usage_trend"] = np.nan
        del grids
        # latest activity up to T: running maximum of each customer's monthly last_active_date
        act = u.loc[u["last_active_date"].notna(), ["customer_id", "last_active_date"]].assign(m=um[u["last_active_date"].notna().to_numpy()])
        act = act.assign(last_active_date=pd.to_datetime(act["last_active_date"]).astype("datetime64[ns]"))
        if monthly_usage(ds):  # one row a month dated the 1st: the day of activity is unknown, take the month's end
            act["last_active_date"] = act["last_active_date"] + pd.offsets.MonthEnd(0)
        act = act.sort_values(["customer_id", "m"], kind="stable")
        act = act.assign(last=act.groupby("customer_id")["last_active_date"].cummax())
        last = pd.Series(keys.latest(act["customer_id"], act["m"], act["last"].to_numpy()), dtype="datetime64[ns]")
    else:
        for c in ("logins", "active_users", "features_used", "usage_trend"):
            out[c] = np.nan
        last = pd.Series(pd.NaT, index=range(len(out)), dtype="datetime64[ns]")
    if falling is None:
        falling = np.zeros(len(out), dtype=np.int8)
    at = _spell_rows(keys, rows["spell"].to_numpy(), ds.spells)
    spell_start = np.full(len(at), np.datetime64("NaT"), dtype="datetime64[ns]")
    spell_start[at >= 0] = ds.spells["start"].to_numpy()[at[at >= 0]]
    since = np.maximum(pd.to_datetime(spell_start).to_numpy(), np.datetime64(ds.data_start, "ns"))
    last_or_start = np.where(last.isna().to_numpy(), since, last.to_numpy())
    out["days_since_login"] = ((ref - last_or_start) / np.timedelta64(1, "D")).astype(float)
    out["never_active"] = last.isna().to_numpy().astype(np.int8)

    # --- seats and utilisation ---------------------------------------------------------------------------
    cust = ds.customers.set_index("customer_id")
    seats = _seats_at(ds, keys, cust)
    out["seats"] = seats
    with np.errstate(divide="ignore", invalid="ignore"):
        out["utilisation"] = np.where(seats > 0, out["active_users"].to_numpy() / seats, np.nan)

    # --- the shared monthly signals (data/signals.py), asked for month T+1 (they read months ≤ T only) -----
    # with this frame's account numbering: falling_usage from the usage grids above, the NPS category the
    # latest before T+1, i.e. at or before T (the payment failure in T+1 is a future event, never used)
    out["falling_usage"] = falling
    waves = survey_waves(ds)  # also the NPS score below
    out["nps_category"] = nps_category_at(ds, cid, m, keys, waves, lag=0)  # surveys up to the end of T

    # --- payments, NPS score, CS contacts ----------------------------------------------------------------
    fails = _by_month(ds.payments, "failed", keys)
    out["failed_payments"] = sum(keys.at(fails, k) for k in range(3)) if fails is not None else 0.0
    del fails
    out["nps_score"] = (keys.latest(waves["customer_id"], waves["m"], waves["score"].to_numpy()).astype(float)
                        if waves is not None else np.nan)
    if ds.cs_activities is not None and len(ds.cs_activities):
        a = ds.cs_activities
        kinds = [c for c in a.columns if c not in ("customer_id", "month")]
        per = keys.cells(a["customer_id"], month_index(a["month"]), a[kinds].sum(axis=1), how="sum")
        out["cs_contacts"] = sum(keys.at(per, k) for k in range(3))
        del per
    else:
        out["cs_contacts"] = 0.0

    # --- tenure, MRR, renewal, attributes ----------------------------------------------------------------
    out["tenure_months"] = rows["tenure"].to_numpy().astype(float)
    out["mrr"] = rows["mrr"].to_numpy().astype(float)
    renewal = _renewal_at(ds, keys, cust, ref)
    out["renewal_date"] = renewal
    out["days_to_renewal"] = ((renewal - ref) / np.timedelta64(1, "D")).astype(float)
    kinds = attrs_.kinds(ds)
    for a in dict.fromkeys(("touch_model", "csm_owner", *ATTRIBUTES, *attributes)):
        if a in cust.columns and a not in out.columns:
            numeric = kinds.get(a) == attrs_.NUMERIC
            out[a] = keys.per_account(cust[a].astype(float) if numeric else cust[a].astype(object))
    if "touch_model" not in out.columns:  # an export without teams: every account in one team (capacity_by=team)
        out["touch_model"] = np.full(len(out), None, dtype=object)
    return out


def monthly_usage(ds: Dataset) -> bool:
    """True when the raw usage rows are monthly (one row a month, dated the 1st): then ``days_since_login``
    counts from the end of the last active month (0 when active in the scoring month), since the day is unknown."""
    u = ds.usage
    if u is None or not len(u) or "n_rows" not in u.columns:
        return False
    d = pd.to_datetime(u["last_active_date"]).dropna()
    return bool((u["n_rows"] == 1).all() and (d.dt.day == 1).all())


def _attribute_history(ds: Dataset, name: str, keys: AccountMonths, parse) -> np.ndarray | None:
    """Each row's value of attribute ``name`` in force at its month (from ``ds.attributes``), NaN where none."""
    if ds.attributes is None or not (ds.attributes["attribute"] == name).any():
        return None
    h = ds.attributes[ds.attributes["attribute"] == name]
    return keys.latest(h["customer_id"], month_index(h["valid_from"]), parse(h["value"]).to_numpy())


def _spell_rows(keys: AccountMonths, spell: np.ndarray, spells: pd.DataFrame) -> np.ndarray:
    """Position in ``spells`` of each row's (account, ``spell``) (−1 where there is none or the spell is NaN). The
    key is the account number of ``keys`` and the spell number as one integer, so the string ids are not hashed
    again (a (customer_id, spell) MultiIndex reindex hashed every row's id)."""
    spell = np.asarray(spell, dtype=float)
    acc = keys.accounts(spells["customer_id"])
    s = spells["spell"].to_numpy()
    n = int(max(s.max(initial=0), np.nanmax(spell, initial=0))) + 1
    mine = acc >= 0
    table = pd.Index(acc[mine] * n + s[mine]).get_indexer(
        np.where(np.isnan(spell), -1, keys.code * n + np.nan_to_num(spell, nan=0).astype(np.int64)))
    out = np.full(len(spell), -1, dtype=np.int64)
    out[table >= 0] = np.flatnonzero(mine)[table[table >= 0]]
    return out


def _seats_at(ds: Dataset, keys: AccountMonths, cust: pd.DataFrame) -> np.ndarray:
    if "seats" not in cust.columns:
        return np.full(len(keys.m), np.nan)
    base = keys.per_account(cust["seats"]).astype(float)
    v = _attribute_history(ds, "seats", keys, lambda s: pd.to_numeric(s, errors="coerce"))
    return base if v is None else np.where(np.isnan(v), base, v)


def _renewal_at(ds: Dataset, keys: AccountMonths, cust: pd.DataFrame, ref: np.ndarray) -> np.ndarray:
    """Renewal date in force at each reference date (see the module docstring)."""
    if "renewal_date" not in cust.columns:
        return np.full(len(keys.m), np.datetime64("NaT"), dtype="datetime64[ns]")
    snap = pd.Series(keys.per_account(pd.to_datetime(cust["renewal_date"]).astype("datetime64[ns]")),
                     dtype="datetime64[ns]")
    hv = _attribute_history(ds, "renewal_date", keys,
                            lambda s: pd.to_datetime(s, errors="coerce").astype("datetime64[ns]"))
    if hv is not None:
        hv = pd.Series(hv, dtype="datetime64[ns]")
        snap = pd.Series(np.where(hv.isna().to_numpy(), snap.to_numpy(), hv.to_numpy()), dtype="datetime64[ns]")
    m = keys.m
    r_m = month_index(snap.fillna(pd.Timestamp("2000-01-01")))
    day = (snap - snap.dt.to_period("M").dt.to_timestamp()).to_numpy()  # offset into its month
    # step back whole years while the anniversary stays after the reference month (d is a month's last day)
    gap = r_m - np.asarray(m, dtype=np.int64)
    k = np.where(gap > 0, (gap - 1) // 12, 0)
    back_m = r_m - 12 * k
    first = pd.to_datetime({"year": back_m // 12, "month": back_m % 12 + 1, "day": 1}).to_numpy()
    out = first + day
    return np.where(snap.isna().to_numpy(), np.datetime64("NaT"), out).astype("datetime64[ns]")


# ============================================================================ outcomes and frames


def outcomes(ds: Dataset, frame: pd.DataFrame, horizon: int = 3) -> pd.DataFrame:
    """Add ``churned`` (1 when the account's spell ends within ``horizon`` months after its scoring month) and
    ``closed`` (the outcome window has closed by the as_of month, grace period included) to a signal frame."""
    if horizon < 1:
        raise ValueError(f"horizon={horizon}: the outcome window must be at least one month")
    asof_m = month_index(ds.as_of_month)
    g = ds.settings.grace_months
    # each row's spell from the panel and its end from the spells, looked up by account number (data/signals.py)
    # instead of (customer_id, month) and (customer_id, spell) MultiIndex reindexes (2.6 s at 100k customers)
    keys = AccountMonths(frame["customer_id"].to_numpy(), frame["m"].to_numpy())
    p = ds.panel
    spell = keys.at(keys.cells(p["customer_id"], month_index(p["month"]), p["spell"], fill=np.nan, how="one"),
                    fill=np.nan)
    at = _spell_rows(keys, spell, ds.spells)
    found = at >= 0
    end = pd.Series(np.full(len(at), np.datetime64("NaT"), dtype="datetime64[ns]"))
    end[found] = ds.spells["end"].to_numpy()[at[found]]
    event = np.zeros(len(at))
    event[found] = ds.spells["event"].to_numpy()[at[found]]
    end_m = np.where(end.isna(), 10**9, end.dt.year.fillna(0).to_numpy() * 12 + end.dt.month.fillna(1).to_numpy() - 1)
    out = frame.copy(deep=False)  # new columns only: the caller's frame is not changed
    m = out["m"].to_numpy()
    out["churned"] = ((event == 1) & (end_m <= m + horizon)).astype(np.int8)
    out["closed"] = (m + horizon + g <= asof_m)
    return out


def last_closed_month(ds: Dataset, horizon: int, before: int | None = None) -> int:
    """Latest scoring month whose outcome window has closed by month ``before`` (default: the as_of month)."""
    before = month_index(ds.as_of_month) if before is None else before
    return before - horizon - ds.settings.grace_months


# ============================================================================ the scorecard


@dataclass
class Measure:
    name: str
    weight: float
    direction: str = "higher_is_better"  # or lower_is_better, or categorical
    good: float | None = None
    poor: float | None = None
    categories: dict | None = None  # categorical: value → good / average / poor
    missing: str = "skip"  # skip (the weight goes to the other measures) or good / average / poor


BAND_POINTS = {"good": 100.0, "average": 50.0, "poor": 0.0}


@dataclass
class Scorecard:
    """A Gainsight-style weighted scorecard: each measure falls in a band (good 100, average 50, poor 0 points)
    by its thresholds; the score is the weighted mean of the measures' points (missing measures skipped, their
    weight shared by the others); the score's bands come from ``bands`` (lower bounds)."""

    name: str
    measures: list[Measure]
    bands: dict[str, float]
    source: str = ""

    @classmethod
    def from_yaml(cls, path=None) -> "Scorecard":
        path = Path(path) if path else DEFAULT_SCORECARD
        if not path.is_file():
            raise FileNotFoundError(f"scorecard file {path} not found")
        from .data.mapping import read_yaml

        spec = read_yaml(path.read_bytes(), f"scorecard file {path}", ValueError) or {}
        return cls.from_dict(spec, source=str(path))

    @classmethod
    def from_dict(cls, spec: dict, source: str = "") -> "Scorecard":
        if not isinstance(spec, dict):
            raise ValueError(f"scorecard {source}: the file must be a mapping with 'measures' (and optionally 'bands'), "
                             f"not a {type(spec).__name__}")
        if not isinstance(spec.get("measures"), dict) or not spec["measures"]:
            raise ValueError(f"scorecard {source or ''}: 'measures' must map signal names to their settings")
        measures = []
        for name, s in spec["measures"].items():
            if name not in NUMERIC_SIGNALS and name != "nps_category":
                raise ValueError(f"scorecard {source}: measure {name!r} is not a signal; use one of "
                                 f"{sorted(NUMERIC_SIGNALS + ('nps_category',))}")
            s = dict(s or {})
            direction = s.get("direction", "categorical" if "categories" in s else "higher_is_better")
            if direction not in ("higher_is_better", "lower_is_better", "categorical"):
                raise ValueError(f"scorecard {source}: measure {name!r} has direction {direction!r}; use "
                                 "higher_is_better, lower_is_better or categorical")
            w = s.get("weight")
            if not isinstance(w, (int, float)) or w < 0:
                raise ValueError(f"scorecard {source}: measure {name!r} needs a weight ≥ 0 (got {w!r})")
            th = s.get("thresholds", {}) or {}
            if direction != "categorical":
                if "good" not in th or "poor" not in th:
                    raise ValueError(f"scorecard {source}: measure {name!r} needs thresholds good and poor")
                ok = th["good"] >= th["poor"] if direction == "higher_is_better" else th["good"] <= th["poor"]
                if not ok:
                    raise ValueError(f"scorecard {source}: measure {name!r} ({direction}) has thresholds good="
                                     f"{th['good']} and poor={th['poor']} in the wrong order")
            else:
                bad = {k: v for k, v in (s.get("categories") or {}).items() if v not in BAND_POINTS}
                if not s.get("categories") or bad:
                    raise ValueError(f"scorecard {source}: categorical measure {name!r} must map values to good, "
                                     f"average or poor (bad entries: {bad})")
            missing = s.get("missing", "skip")
            if missing not in ("skip", *BAND_POINTS):
                raise ValueError(f"scorecard {source}: measure {name!r} has missing={missing!r}; use skip, good, "
                                 "average or poor")
            measures.append(Measure(name, float(w), direction, th.get("good"), th.get("poor"),
                                    s.get("categories"), missing))
        if sum(m.weight for m in measures) <= 0:
            raise ValueError(f"scorecard {source}: the weights add up to zero")
        bands = spec.get("bands") or {"good": 70, "average": 40, "poor": 0}
        if set(bands) != {"good", "average", "poor"} or not bands["good"] > bands["average"] >= bands["poor"]:
            raise ValueError(f"scorecard {source}: bands must give good > average ≥ poor lower bounds (got {bands})")
        return cls(spec.get("name", "scorecard"), measures, {k: float(v) for k, v in bands.items()}, source)

    def measure_points(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Points (0, 50, 100; NaN when missing and skipped) of each measure for each row."""
        out = {}
        for ms in self.measures:
            if ms.name not in frame.columns:
                raise ValueError(f"scorecard measure {ms.name!r}: no such column in the signals")
            x = frame[ms.name]
            if ms.direction == "categorical":
                pts = x.map(ms.categories).map(BAND_POINTS).astype(float).to_numpy()
            else:
                v = pd.to_numeric(x, errors="coerce").to_numpy(dtype=float)
                good, poor = (v >= ms.good, v < ms.poor) if ms.direction == "higher_is_better" else (v <= ms.good, v > ms.poor)
                pts = np.select([np.isnan(v), good, poor], [np.nan, BAND_POINTS["good"], BAND_POINTS["poor"]],
                                BAND_POINTS["average"]).astype(float)
            if ms.missing != "skip":
                pts = np.where(np.isnan(pts), BAND_POINTS[ms.missing], pts)
            out[ms.name] = pts
        return pd.DataFrame(out, index=frame.index)

    def points(self, frame: pd.DataFrame) -> np.ndarray:
        """The 0–100 score (higher is healthier)."""
        mp = self.measure_points(frame)
        w = np.array([m.weight for m in self.measures])
        have = mp.notna().to_numpy()
        num = np.nansum(mp.to_numpy() * w, axis=1)
        den = (have * w).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / den, np.nan)

    def band(self, points: np.ndarray) -> np.ndarray:
        p = np.asarray(points, dtype=float)
        return np.where(p >= self.bands["good"], "good", np.where(p >= self.bands["average"], "average", "poor"))

    def table(self, translate: Callable | None = None) -> pd.DataFrame:
        """The scorecard as a table: measure, weight (share), direction and thresholds; a categorical measure's
        categories (the NPS categories) in the report's language with ``translate`` (``health.nps.<category>``)."""
        total = sum(m.weight for m in self.measures)

        def cats(m, band):
            names = [k for k, v in m.categories.items() if v == band]
            return ", ".join(translate(f"health.nps.{k}") if translate and m.name == "nps_category" else k for k in names)

        return pd.DataFrame([{"measure": m.name, "weight": m.weight / total, "direction": m.direction,
                              "good": m.good if m.direction != "categorical" else cats(m, "good"),
                              "poor": m.poor if m.direction != "categorical" else cats(m, "poor")}
                             for m in self.measures])

    def label(self, translate: Callable | None = None) -> str:
        """The scorecard's name for a reader: the default scorecard's in the report's language
        (``health.scorecard_default``), a scorecard of the user's own by the name its file gives."""
        if translate is not None and self.source and Path(self.source) == DEFAULT_SCORECARD:
            return translate("health.scorecard_default")
        return self.name


@dataclass
class CalibratedScorecard:
    """A scorecard with its points mapped to a churn probability (fitted on past closed scoring dates)."""

    scorecard: Scorecard
    method: str
    calibrator: object = field(repr=False)
    n_train: int = 0
    events_train: int = 0

    def predict(self, frame: pd.DataFrame, points: np.ndarray | None = None) -> np.ndarray:
        """P(churn) of each row (``points``: the rows' :meth:`Scorecard.points`, when the caller has them)."""
        pts = self.scorecard.points(frame) if points is None else np.asarray(points, dtype=float)
        pts = np.where(np.isnan(pts), 50.0, pts)
        if self.method == "isotonic":
            return self.calibrator.predict(pts)
        return self.calibrator.predict_proba(pts.reshape(-1, 1) / 100.0)[:, 1]


def calibrate_scorecard(scorecard: Scorecard, train: pd.DataFrame, *, method: str = "logistic",
                        points: np.ndarray | None = None) -> CalibratedScorecard:
    """Map scorecard points to P(churn within the horizon) on past rows (``churned``): a logistic curve on the
    points (monotone, keeps the scorecard's ranking) or isotonic regression (decreasing in the points).
    ``points``: the rows' :meth:`Scorecard.points`, when the caller has them."""
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    _need_training(train)
    pts = scorecard.points(train) if points is None else np.asarray(points, dtype=float)
    pts = np.where(np.isnan(pts), 50.0, pts)
    y = train["churned"].to_numpy()
    if method == "isotonic":
        cal = IsotonicRegression(increasing=False, out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(pts, y)
    elif method == "logistic":
        cal = LogisticRegression(C=1e6, max_iter=1000).fit(pts.reshape(-1, 1) / 100.0, y)
    else:
        raise ValueError(f"calibration method {method!r}: use logistic or isotonic")
    return CalibratedScorecard(scorecard, method, cal, len(train), int(y.sum()))


class TooLittleHistory(ValueError):
    """The data cannot support a score or its evaluation; ``code`` and ``values`` let a report say why in its
    own language (``health.why.<code>``)."""

    def __init__(self, code: str, message: str, **values):
        super().__init__(message)
        self.code, self.values = code, values


def _need_training(train: pd.DataFrame) -> None:
    if not len(train):
        raise TooLittleHistory("no_history", "no past scoring dates with a closed outcome window to learn from: the "
                               "data are too short for this scoring date and horizon")
    n = int(train["churned"].sum())
    if n == 0 or n == len(train):
        raise TooLittleHistory("one_outcome", f"the past scoring dates hold {n} churns out of {len(train)} "
                               "account-months: both outcomes are needed to learn a score", n=n, rows=len(train))


# ============================================================================ the data-driven score


def design(frame: pd.DataFrame, attributes=ATTRIBUTES) -> pd.DataFrame:
    """Model inputs from the signals: transformed numerics, missing-value indicators and the ``attributes``: a
    categorical one (text) one-hot against its first level, a numeric one on its own scale with missing values 0
    and an indicator ``<name> missing`` (when any is missing)."""
    X = {}  # the columns, made a frame once at the end (inserting ~30 columns one by one copies them again)
    X["log_days_since_login"] = np.log1p(frame["days_since_login"].clip(lower=0))
    X["utilisation"] = frame["utilisation"].fillna(0).clip(upper=2)
    X["features_used"] = frame["features_used"].fillna(0)
    X["log_logins_per_seat"] = np.log1p(frame["logins"].fillna(0) / frame["seats"].where(frame["seats"] > 0, 1).fillna(1))
    trend = frame["usage_trend"]
    X["log_usage_trend"] = np.log(trend.clip(lower=0.05, upper=20)).fillna(0)
    X["usage_trend_unknown"] = trend.isna().astype(float)
    X["falling_usage"] = frame["falling_usage"].astype(float)
    X["failed_payment"] = (frame["failed_payments"] > 0).astype(float)
    # categories compared as codes (one hash of the strings, not one string comparison per row and category)
    codes, values = pd.factorize(frame["nps_category"].astype(str))
    for c in ("detractor", "passive", "none"):
        X[f"nps_{c}"] = (codes == values.get_loc(c)).astype(float) if c in values else np.zeros(len(frame))
    X["log_cs_contacts"] = np.log1p(frame["cs_contacts"].fillna(0))
    X["log_tenure"] = np.log1p(frame["tenure_months"])
    X["log_mrr"] = np.log(frame["mrr"].clip(lower=1))
    X["log2_seats"] = np.log2(frame["seats"].clip(lower=1)).fillna(0)
    X["months_to_renewal"] = (frame["days_to_renewal"] / 30.44).clip(-1, 13).fillna(13)
    for a in attributes:
        if a in frame.columns and pd.api.types.is_numeric_dtype(frame[a]):
            X[a] = frame[a].fillna(0)
            if frame[a].isna().any():
                X[f"{a} missing"] = frame[a].isna().astype(float)
        elif a in frame.columns:
            codes, values = pd.factorize(frame[a].astype(str))  # missing values become "nan", never a level
            levels = sorted(frame[a].dropna().astype(str).unique())
            for lv in levels[1:] if len(levels) > 1 else []:
                X[f"{a}={lv}"] = (codes == values.get_loc(lv)).astype(float)
    return pd.DataFrame({k: np.asarray(v, dtype=float) for k, v in X.items()}, index=frame.index)


@dataclass
class ChurnRiskModel:
    """L2-regularised logistic regression on standardised signals (scikit-learn), fitted on past scoring dates."""

    features: list[str]
    mean_: np.ndarray
    scale_: np.ndarray
    coef_: np.ndarray
    intercept_: float
    C: float
    attributes: tuple
    n_train: int
    events_train: int
    train_months: tuple
    importance: pd.DataFrame | None = None

    def _X(self, frame: pd.DataFrame) -> np.ndarray:
        X = design(frame, self.attributes).reindex(columns=self.features, fill_value=0.0).to_numpy()
        if not X.flags.writeable:
            X = X.copy()
        # standardised in place (the same operations as (X − mean) / scale, without two more rows × inputs copies)
        X -= self.mean_
        X /= self.scale_
        return X

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        eta = self._X(frame) @ self.coef_ + self.intercept_
        return 1.0 / (1.0 + np.exp(-eta))

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Each input's contribution to the log-odds against an average account (coefficient × standardised value)."""
        return pd.DataFrame(self._X(frame) * self.coef_, columns=self.features, index=frame.index)


def fit_model(train: pd.DataFrame, *, C: float = 0.05, attributes=ATTRIBUTES, importance: bool = True,
              alpha: float = 0.05) -> ChurnRiskModel:
    """Fit the data-driven score on past rows (``churned``). ``importance`` adds, per standardised input, the
    odds ratio per standard deviation from an unpenalised logistic fit of the same design with errors clustered
    by account (statsmodels), with its interval — an association holding the other signals fixed."""
    from sklearn.linear_model import LogisticRegression

    _need_training(train)
    X = design(train, attributes)
    sd = X.std(ddof=0)  # once: the kept columns' scale is the same number
    ok = sd.to_numpy() > 0
    keep = X.columns[ok]
    if not ok.all():  # X[keep] copies the whole design even when every column is kept
        X = X[keep]
    mean, scale = X.mean().to_numpy(), sd[keep].to_numpy()
    Z = (X.to_numpy() - mean) / scale
    del X  # rows × inputs float64, not needed past Z (each such copy is ~0.5 GB at the 1M-customer sample)
    y = train["churned"].to_numpy()
    lr = LogisticRegression(C=C, max_iter=2000).fit(Z, y)
    model = ChurnRiskModel(list(keep), mean, scale, lr.coef_[0].copy(), float(lr.intercept_[0]), C, tuple(attributes),
                           len(train), int(y.sum()), (int(train["m"].min()), int(train["m"].max())))
    if importance:
        model.importance = _importance(Z, y, train["customer_id"].to_numpy(), list(keep), model.coef_, alpha,
                                       start=np.r_[model.intercept_, model.coef_])
    return model


def _importance(Z, y, groups, names, coef, alpha, start=None) -> pd.DataFrame:
    """``start``: where the Newton steps begin (intercept, then one coefficient per column of ``Z``), e.g. the
    penalised fit on the same standardised design; the optimum is the same (to Newton's tolerance), reached in
    about half the steps (4 instead of 8 at 100k customers, each a Hessian over every row)."""
    import statsmodels.api as sm

    z = _z(alpha)
    g = pd.factorize(groups)[0]
    try:
        # the logit likelihood by Newton steps on a C-ordered design: the same estimates and cluster-robust errors as
        # a binomial GLM (equal to 1e-12), 3× faster at a million rows (statsmodels' GLM multiplies a
        # Fortran-ordered design 100× slower per product). The design is [1, Z] as sm.add_constant builds it, written
        # straight into C order (add_constant's Fortran copy and the reordering cost 1 s at 100k customers).
        X = np.empty((Z.shape[0], Z.shape[1] + 1))
        X[:, 0] = 1.0
        X[:, 1:] = Z
        # check_rank=False: the rank check is a QR of the whole design (2 s at 100k) and only sets df_model and
        # df_resid, which neither the estimates nor the cluster-robust errors use (Z has no constant column)
        res = sm.Logit(y, X, check_rank=False).fit(method="newton", start_params=start, disp=0, cov_type="cluster",
                                                   cov_kwds={"groups": g})
        b, se = res.params[1:], res.bse[1:]
    except Exception:  # noqa: BLE001 - separation or a singular design: report the penalised coefficients alone
        b, se = np.full(len(names), np.nan), np.full(len(names), np.nan)
    imp = pd.DataFrame({"input": names, "coef_per_sd": coef, "or_per_sd": np.exp(coef),
                        "glm_or_per_sd": np.exp(b), "lower": np.exp(b - z * se), "upper": np.exp(b + z * se)})
    imp["strength"] = np.abs(coef)
    imp = imp.sort_values("strength", ascending=False, kind="stable").reset_index(drop=True)
    imp.insert(0, "rank", np.arange(1, len(imp) + 1))
    return imp


def _z(alpha: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(1 - alpha / 2))


# ============================================================================ the ceiling (demo data)


def load_true_probabilities(data) -> pd.DataFrame | None:
    """The generator's true monthly churn probabilities (``churn_prob.parquet`` in a demo-data folder), or None
    when the folder has none (real data)."""
    if data is None or isinstance(data, pd.DataFrame):
        return data
    path = Path(data) / "churn_prob.parquet"
    if not path.is_file():
        return None
    return pd.read_parquet(path)


def true_probability(frame: pd.DataFrame, churn_prob: pd.DataFrame, horizon: int, *, pseudonymised: bool = False) -> np.ndarray:
    """The ceiling score: the generator's true churn probability of the first month after the scoring month,
    turned into the horizon as 1 − (1 − p)^horizon (later months are not used: their probabilities are only
    defined for accounts that survived, which would leak the outcome). NaN where the generator has no row."""
    cp = churn_prob
    ids = cp["customer_id"].to_numpy()
    if pseudonymised:
        from .data.pseudonym import pseudonymise_ids

        ids = pseudonymise_ids(ids)
    # each row's (account, month after) cell by position (AccountMonths), not a (customer_id, month) MultiIndex
    # reindex, which hashed the string ids of both tables again (1 s at 100k customers)
    keys = AccountMonths(frame["customer_id"].to_numpy(), frame["m"].to_numpy() + 1)
    acc, cm = keys.accounts(ids), month_index(cp["month"])
    inside = np.flatnonzero((acc >= 0) & (cm >= keys.lo) & (cm < keys.lo + keys.M))
    # of repeated (account, month) rows the first counts, as before
    inside = inside[np.unique(acc[inside] * keys.M + (cm[inside] - keys.lo), return_index=True)[1]]
    grid = keys.cells(None, cm[inside], np.asarray(cp["p"].to_numpy(), dtype=float)[inside], fill=np.nan, how="one",
                      acc=acc[inside])
    v = keys.at(grid, fill=np.nan)
    return 1 - (1 - v) ** horizon


# ============================================================================ judged on the future


BOOT_CELLS = 20_000_000  # replicates × (rows or distinct scores) held in each temporary of the bootstrap


@dataclass
class _Boot:
    """Cluster-bootstrap replicates kept per account: ``counts`` (B × accounts) says how often each account is
    drawn in each replicate, ``codes`` maps each row to its account; a row's weight in replicate b is
    ``counts[b, codes[row]]`` (every row of a drawn account counted as often). Weighted sums are sparse products
    (:meth:`matrix`, :meth:`apply`), so the B × rows weight matrix is never built."""

    counts: np.ndarray
    codes: np.ndarray
    _weights: np.ndarray | None = field(default=None, repr=False)  # accounts × B, float64, C order (apply)

    @classmethod
    def draw(cls, groups: np.ndarray, n_boot: int, seed: int) -> "_Boot":
        codes, uniq = pd.factorize(groups)
        k = len(uniq)
        rng = np.random.default_rng(seed)
        counts = np.empty((n_boot, k), dtype=np.float32)
        step = max(1, BOOT_CELLS // max(k, 1))
        for i in range(0, n_boot, step):  # k accounts drawn with replacement per replicate
            counts[i:i + min(step, n_boot - i)] = draw_counts(rng, k, min(step, n_boot - i))
        return cls(counts, codes)

    def sample(self) -> "_Boot":
        """The observed sample itself (every account once)."""
        return _Boot(np.ones((1, self.counts.shape[1]), dtype=np.float32), self.codes)

    def block(self, i: int, j: int) -> "_Boot":
        return _Boot(self.counts[i:j], self.codes)

    def rows(self) -> np.ndarray:
        """B × rows weights (small data and tests only)."""
        return self.counts[:, self.codes]

    def matrix(self, cols: np.ndarray, values: np.ndarray, n_cols: int, rows: np.ndarray | None = None):
        """Sparse n_cols × accounts: ``values`` of the rows (or of ``rows``) added up by column and account."""
        from scipy import sparse

        codes = self.codes if rows is None else self.codes[rows]
        S = sparse.csr_matrix((np.asarray(values, dtype=np.float64), (np.asarray(cols), codes)),
                              shape=(n_cols, self.counts.shape[1]))
        # rows with value 0 (not churned, in a churned sum) are stored as explicit zeros and every product pays for
        # them; dropping them leaves the sums unchanged (adding 0.0 changes no sum) and the churned sums ~20× cheaper
        S.eliminate_zeros()
        return S

    def ratio_matrix(self, cols: np.ndarray, y: np.ndarray, n_cols: int, rows: np.ndarray | None = None):
        """Sparse sums for a rate per column: Σ y in columns 0 … n_cols − 1, the row count in n_cols … 2·n_cols − 1
        (:meth:`rates` returns them apart)."""
        rows = np.arange(len(self.codes)) if rows is None else np.asarray(rows)
        cols = np.asarray(cols)
        return self.matrix(np.r_[cols, cols + n_cols], np.r_[y, np.ones(len(rows))], 2 * n_cols, rows=np.r_[rows, rows])

    def rates(self, S) -> tuple[np.ndarray, np.ndarray]:
        """B × n_cols weighted Σ y and weighted row counts of a :meth:`ratio_matrix`."""
        sums = self.apply(S)
        n = sums.shape[1] // 2
        return sums[:, :n], sums[:, n:]

    def apply(self, S) -> np.ndarray:
        """B × n_cols: per replicate, the weighted sums of a :meth:`matrix`."""
        if self._weights is None:  # once per block of replicates: each score applies several matrices
            self._weights = np.ascontiguousarray(self.counts.T, dtype=np.float64)
        return np.asarray(S @ self._weights).T


def _tie_groups(score: np.ndarray, descending: bool = False) -> tuple[np.ndarray, int]:
    """Each row's group of equal scores, numbered in score order; and the number of groups."""
    order = np.argsort(-score if descending else score, kind="stable")
    s = score[order]
    gid = np.cumsum(np.r_[True, s[1:] != s[:-1]]) - 1 if len(s) else np.zeros(0, dtype=np.int64)
    g = np.empty(len(s), dtype=np.int64)
    g[order] = gid
    return g, int(gid[-1]) + 1 if len(s) else 0


class _Ranked:
    """One score's sparse sums for the bootstrap, built once and applied to each block of replicates: churned and
    other weight per bin of the score order, ascending (AUC) and reversed (top share).

    Bins: each group of tied scores with churned rows is its own bin; each run of groups without churned rows
    between them is one bin. Both statistics are unchanged by the merge (a merged bin's churned weight is zero; its
    other weight only enters through the running total), and the replicates × bins temporaries shrink from the
    number of distinct scores to about twice the number of churned rows' distinct scores."""

    def __init__(self, score: np.ndarray, y: np.ndarray, boot: _Boot):
        g, G = _tie_groups(score)
        has_y = np.zeros(G, dtype=bool)
        has_y[g[y > 0]] = True
        # a new bin starts at every group with churned rows and at the group after it
        starts = has_y | np.r_[False, has_y[:-1]]
        starts[0] = True
        b = (np.cumsum(starts) - 1)[g]
        n = int(starts.sum())
        self.pos, self.neg = boot.matrix(b, y, n), boot.matrix(b, 1 - y, n)
        self._last = None  # (boot, churned weights, other weights) of the last block of replicates

    def weights(self, boot: _Boot) -> tuple[np.ndarray, np.ndarray]:
        """Replicates × bins churned and other weights; kept for the last ``boot``, as AUC and top share read the
        same block (the products are most of the bootstrap's time)."""
        if self._last is None or self._last[0] is not boot:
            self._last = (boot, boot.apply(self.pos), boot.apply(self.neg))
        return self._last[1], self._last[2]

    def auc(self, boot: _Boot) -> np.ndarray:
        """Weighted AUC (ties count one half) for each replicate of ``boot``."""
        wp, wn = self.weights(boot)
        below = np.cumsum(wn, axis=1) - wn
        with np.errstate(invalid="ignore", divide="ignore"):
            return (wp * (below + 0.5 * wn)).sum(axis=1) / (wp.sum(axis=1) * wn.sum(axis=1))

    def top_share(self, boot: _Boot, share: float) -> tuple[np.ndarray, np.ndarray]:
        """Per replicate: churned weight and total weight inside the top ``share`` of total weight by score
        (ties shared pro rata)."""
        wp, wn = self.weights(boot)
        gy = wp[:, ::-1]
        gw = gy + wn[:, ::-1]
        before = np.cumsum(gw, axis=1) - gw
        target = share * gw.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.nan_to_num(np.clip((target - before) / gw, 0, 1))
        return (frac * gy).sum(axis=1), (frac * gw).sum(axis=1)


def _est(point: float, boot: np.ndarray, alpha: float, reason: str | None = None) -> dict:
    b = boot[np.isfinite(boot)]
    if not np.isfinite(point):
        return {"estimate": None, "lower": None, "upper": None, "reason": reason or "not defined"}
    if len(b) < 10:
        return {"estimate": float(point), "lower": None, "upper": None, "reason": "too few bootstrap samples"}
    lo, hi = np.quantile(b, [alpha / 2, 1 - alpha / 2])
    return {"estimate": float(point), "lower": float(min(lo, point)), "upper": float(max(hi, point)), "reason": None}


@dataclass
class Evaluation:
    """How one score did on the future: discrimination, top-decile lift and capture, precision at capacity and
    calibration, each with a cluster-bootstrap (by account) 95% interval."""

    name: str
    auc: dict
    lift_top_decile: dict
    capture_top_decile: dict
    precision_at_capacity: dict
    brier: float
    mean_predicted: float
    observed_rate: dict
    calibration: pd.DataFrame
    n_rows: int
    n_accounts: int
    n_events: int
    n_dates: int
    capacity: int
    auc_boot: np.ndarray = field(repr=False, default=None)

    def to_dict(self) -> dict:
        return {"name": self.name, "auc": self.auc, "lift_top_decile": self.lift_top_decile,
                "capture_top_decile": self.capture_top_decile, "precision_at_capacity": self.precision_at_capacity,
                "brier": self.brier, "mean_predicted": self.mean_predicted, "observed_rate": self.observed_rate,
                "n_rows": self.n_rows, "n_accounts": self.n_accounts, "n_events": self.n_events,
                "n_dates": self.n_dates, "capacity": self.capacity}

    def row(self) -> dict:
        r = {"score": self.name}
        for k in ("auc", "lift_top_decile", "capture_top_decile", "precision_at_capacity"):
            e = getattr(self, k)
            r[k], r[f"{k} lower"], r[f"{k} upper"] = e["estimate"], e["lower"], e["upper"]
        r["brier"] = self.brier
        r["mean_predicted"] = self.mean_predicted
        return r


def evaluate_score(name: str, prob: np.ndarray, frame: pd.DataFrame, *, capacity: int = 20, capacity_by: str = "team",
                   n_boot: int = 500, seed: int = 0, alpha: float = 0.05, bins: int = 10,
                   rank_score: np.ndarray | None = None, weights: "_Boot | None" = None) -> Evaluation:
    """Judge predicted probabilities ``prob`` against ``frame['churned']`` (rows of closed scoring dates).

    ``rank_score`` (default ``prob``) orders the accounts for AUC, lift and the capacity cut (a calibrated
    scorecard is ranked by its points, so calibration ties do not blur it). ``capacity``: the top N accounts of
    each scoring date per ``capacity_by`` (see :func:`risk_list`). ``weights``: the cluster-bootstrap replicates (:class:`_Boot`, shared between scores so
    their differences can be bootstrapped too)."""
    prob = np.asarray(prob, dtype=float)
    rank = prob if rank_score is None else np.asarray(rank_score, dtype=float)
    ok = np.isfinite(prob) & np.isfinite(rank)
    if not ok.all():
        raise ValueError(f"score {name!r}: {int((~ok).sum())} rows without a score")
    y = frame["churned"].to_numpy().astype(float)
    groups = frame["customer_id"].to_numpy()
    boot = _Boot.draw(groups, n_boot, seed) if weights is None else weights
    ranked = _Ranked(rank, y, boot)
    one = boot.sample()
    auc = ranked.auc(one)[0]
    pos1, w1 = ranked.top_share(one, 0.1)
    rate1 = y.mean()
    top1 = pos1 / w1
    cap1 = pos1 / max(y.sum(), 1e-12)
    # precision at capacity: the top N of each scoring date (ties broken by MRR at stake)
    sel = _top_n(frame.assign(_r=rank), "_r", capacity, by=["m", *_capacity_groups(frame, capacity_by)])
    ys = y[sel]
    prec = ys.mean() if len(ys) else np.nan
    # calibration table: bins of the predicted probability (equal counts)
    edges = np.unique(np.quantile(prob, np.linspace(0, 1, bins + 1)))
    b = np.clip(np.searchsorted(edges, prob, side="right") - 1, 0, max(len(edges) - 2, 0))
    n_bins = int(b.max()) + 1
    S_rate = boot.ratio_matrix(np.zeros(len(y), dtype=np.int64), y, 1)
    S_prec = boot.ratio_matrix(np.zeros(len(sel), dtype=np.int64), ys, 1, rows=sel)
    S_obs = boot.ratio_matrix(b, y, n_bins)
    # the bootstrap replicates, a block at a time (the temporaries are replicates × distinct scores)
    parts = {k: [] for k in ("auc", "rate", "top", "cap", "prec", "obs")}
    step = max(1, BOOT_CELLS // max(len(y), 1))
    for i in range(0, boot.counts.shape[0], step):
        Wc = boot.block(i, i + step)
        parts["auc"].append(ranked.auc(Wc))
        pos, wtop = ranked.top_share(Wc, 0.1)
        (wy,), (wall,) = (a.T for a in Wc.rates(S_rate))
        (pp,), (pn,) = (a.T for a in Wc.rates(S_prec))
        ob_y, ob_n = Wc.rates(S_obs)
        with np.errstate(invalid="ignore", divide="ignore"):
            parts["rate"].append(wy / wall)
            parts["top"].append(pos / wtop)
            parts["cap"].append(pos / wy)
            parts["prec"].append(pp / pn)
            parts["obs"].append(ob_y / ob_n)
    auc_b, rateB, topB, capB, precB = (np.concatenate(parts[k]) for k in ("auc", "rate", "top", "cap", "prec"))
    obsB = np.concatenate(parts["obs"], axis=0)
    cal = []
    for k in range(n_bins):
        m = b == k
        lo, hi = np.nanquantile(obsB[:, k], [alpha / 2, 1 - alpha / 2]) if m.any() else (np.nan, np.nan)
        cal.append({"bin": k + 1, "rows": int(m.sum()), "churned": int(y[m].sum()),
                    "predicted": float(prob[m].mean()) if m.any() else np.nan,
                    "observed": float(y[m].mean()) if m.any() else np.nan,
                    "lower": float(min(lo, y[m].mean())) if m.any() else np.nan,
                    "upper": float(max(hi, y[m].mean())) if m.any() else np.nan})
    lift_b = np.divide(topB, rateB, out=np.full_like(topB, np.nan), where=rateB > 0)  # a resample without churn: none
    return Evaluation(
        name=name, auc=_est(auc, auc_b, alpha),
        lift_top_decile=_est(top1[0] / rate1 if rate1 > 0 else np.nan, lift_b, alpha, "no churn in the window"),
        capture_top_decile=_est(cap1[0] if y.sum() else np.nan, capB, alpha, "no churn in the window"),
        precision_at_capacity=_est(prec, precB, alpha, "no account selected"),
        brier=float(np.mean((prob - y) ** 2)), mean_predicted=float(prob.mean()),
        observed_rate=_est(rate1, rateB, alpha), calibration=pd.DataFrame(cal), n_rows=len(y),
        n_accounts=int(pd.Series(groups).nunique()), n_events=int(y.sum()), n_dates=int(frame["m"].nunique()),
        capacity=int(capacity), auc_boot=auc_b)


CAPACITY_BY = {"team": "touch_model", "csm": "csm_owner", "total": None}
LIST_SCORES = ("model", "scorecard")  # the score that ranks the list (risk_list ``by``)
RANK_BY = ("probability", "arr_at_risk")  # the order of the list (risk_list ``rank_by``)
CALIBRATIONS = ("logistic", "isotonic")  # scorecard points → probability (calibrate_scorecard ``method``)


def _capacity_groups(frame: pd.DataFrame, capacity_by: str) -> list[str]:
    if capacity_by not in CAPACITY_BY:
        raise ValueError(f"capacity_by={capacity_by!r}: use team (per touch model), csm (per CSM owner) or total")
    col = CAPACITY_BY[capacity_by]
    if col is None:
        return []
    if col not in frame.columns:
        raise ValueError(f"capacity_by={capacity_by!r} needs the customers column {col!r}, which the data do not have")
    return [col]


def _text_codes(x: pd.Series) -> np.ndarray:
    """Group codes of a column's values as text (the capacity groups are keyed by text), converting the distinct
    values rather than every row."""
    x = x.to_numpy()
    if x.dtype.kind in "iub":  # distinct integers are distinct texts
        return pd.factorize(x)[0]
    code, values = pd.factorize(x)
    if (code < 0).any():  # None and NaN are one missing code but different texts
        return pd.factorize(x.astype(str))[0]
    return pd.factorize(np.asarray(values, dtype=object).astype(str))[0][code]


def _top_n(frame: pd.DataFrame, col: str, n: int, by: str | list | None = None) -> np.ndarray:
    """Positions of the top ``n`` rows by ``col`` (descending; ties by MRR, then id as text) within each ``by``
    group (missing values last, as a pandas sort puts them).

    The rows are first sorted by group and ``col`` only; the rows below the n-th of their group cannot be chosen,
    so the ties by MRR and id are sorted among the rest only (sorting every row on its string id took 0.6 s per
    call on the 600k evaluated rows at 100k customers)."""
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    r = frame[col].to_numpy(dtype=float)
    g = np.zeros(len(frame), dtype=np.int64)
    for k in [] if by is None else [by] if isinstance(by, str) else by:
        c = _text_codes(frame[k])
        g = g * (int(c.max(initial=0)) + 1) + c
    order = np.lexsort([-r, g])  # by group, then col descending (NaN last)

    def within(order):  # each sorted row's place in its group, and the group's first place
        gs = g[order]
        first = np.maximum.accumulate(np.where(np.r_[True, gs[1:] != gs[:-1]], np.arange(len(order)), 0))
        return np.arange(len(order)) - first, first

    place, first = within(order)
    nth = first + n - 1  # the n-th row of each row's group (past the group's end when it has fewer)
    ends = np.r_[first[1:] != first[:-1], True]
    size = np.zeros(len(order), dtype=np.int64)
    size[first[ends]] = place[ends] + 1
    have = size[first] >= n
    thr = np.full(len(order), np.nan)
    thr[have] = r[order[nth[have]]]
    # rows tied with the n-th (or all rows of a group with fewer than n, or whose n-th value is missing) remain
    cand = np.sort(order[np.isnan(thr) | (r[order] >= thr)])
    mrr = frame["mrr"].to_numpy(dtype=float)[cand] if "mrr" in frame else np.zeros(len(cand))
    ids = frame["customer_id"].to_numpy()[cand].astype(str).astype(object)
    id_rank = np.unique(ids, return_inverse=True)[1]
    order = cand[np.lexsort([id_rank, -mrr, -r[cand], g[cand]])]
    return np.sort(order[within(order)[0] < n])


def gains_curve(score: np.ndarray, y: np.ndarray, points: int = 101) -> pd.DataFrame:
    """Cumulative gains: share of churns captured (``captured``) when working the top ``share`` of accounts by
    ``score`` (ties shared pro rata)."""
    y = np.asarray(y, dtype=float)
    shares = np.linspace(0, 1, points)
    one = _Boot(np.ones((1, len(y)), dtype=np.float32), np.arange(len(y)))  # every row its own unit, weight 1
    ranked = _Ranked(np.asarray(score, float), y, one)
    cap = [float(ranked.top_share(one, q)[0][0] / max(y.sum(), 1e-12)) for q in shares]
    return pd.DataFrame({"share": shares, "captured": cap})


def rates_by(frame: pd.DataFrame, col: str, *, n_boot: int = 500, seed: int = 0, alpha: float = 0.05,
             order=None) -> pd.DataFrame:
    """Churn within the horizon by the values of ``col`` (e.g. the scorecard band), with cluster-bootstrap
    intervals (accounts resampled whole)."""
    y = frame["churned"].to_numpy().astype(float)
    codes, levels = pd.factorize(frame[col].astype(str))
    draws = _Boot.draw(frame["customer_id"].to_numpy(), n_boot, seed)
    churned, rows_b = draws.rates(draws.ratio_matrix(codes, y, len(levels)))
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = churned / rows_b
    rows = []
    for k, lv in enumerate(levels):
        m = codes == k
        lo, hi = np.nanquantile(boot[:, k], [alpha / 2, 1 - alpha / 2])
        r = y[m].mean()
        rows.append({col: lv, "rows": int(m.sum()), "churned": int(y[m].sum()), "rate": r,
                     "lower": float(min(lo, r)), "upper": float(max(hi, r))})
    out = pd.DataFrame(rows)
    if order is not None:
        out = out.set_index(col).reindex([o for o in order if o in set(levels)]).reset_index()
    return out


def auc_difference(a: Evaluation, b: Evaluation, alpha: float = 0.05) -> dict:
    """AUC of ``a`` minus AUC of ``b`` on the same rows, with the paired cluster-bootstrap interval (the two
    evaluations must share their bootstrap weights)."""
    d = a.auc["estimate"] - b.auc["estimate"]
    return _est(d, a.auc_boot - b.auc_boot, alpha)


# ============================================================================ the whole analysis


@dataclass
class ChurnRisk:
    """Everything the churn-risk report shows (see :func:`churn_risk`)."""

    scoring_month: int
    scoring_date: pd.Timestamp
    horizon: int
    capacity: int
    capacity_by: str
    test_months: list
    split_month: int | None
    current: pd.DataFrame  # signals and both scores at the scoring date
    model: ChurnRiskModel | None  # None when the history holds too few closed outcome windows (see fit_reason)
    scorecard: CalibratedScorecard | None
    evaluations: dict  # name → Evaluation (scorecard, model, ceiling when known)
    test: pd.DataFrame | None = field(repr=False, default=None)
    eval_model: ChurnRiskModel | None = field(repr=False, default=None)
    reason: str | None = None  # why the evaluation could not be done
    ceiling_coverage: float | None = None
    differences: dict = field(default_factory=dict)
    ceiling_reason: str | None = None  # why there is no ceiling
    n_boot: int = 500
    seed: int = 0
    alpha: float = 0.05
    train_rows: int = 0
    train_events: int = 0
    card: Scorecard | None = None  # the scorecard itself (also when it could not be calibrated)
    fit_reason: str | None = None  # why no probability could be estimated at the scoring date
    codes: dict = field(default_factory=dict)  # "evaluation" / "fit" → TooLittleHistory (for translated reasons)
    sample: dict | None = None  # the sampling rule at large N, when applied (share, accounts, of_accounts, rows, of_rows)

    def why(self, what: str, translate: Callable | None = None) -> str | None:
        """Why the evaluation (``what="evaluation"``) or the fit at the scoring date (``"fit"``) was not done, in
        the report's language when ``translate`` is given (``health.why.<code>``), else in English."""
        text = self.reason if what == "evaluation" else self.fit_reason
        exc = self.codes.get(what)
        if text is None or translate is None or exc is None:
            return text
        return translate(f"health.why.{exc.code}", **exc.values)

    @property
    def evaluated(self) -> bool:
        return bool(self.evaluations)

    def summary(self) -> pd.DataFrame:
        """One row per score: AUC, top-decile lift and capture, precision at capacity (with 95% intervals), Brier."""
        return pd.DataFrame([e.row() for e in self.evaluations.values()])

    def rank_score(self, name: str) -> np.ndarray:
        """The ordering each score ranks the test rows by (the scorecard by its points)."""
        if name == "scorecard":
            return -np.nan_to_num(self.test["scorecard_points"].to_numpy(dtype=float), nan=50.0)
        return self.test[{"model": "p_model", "ceiling": "p_true"}[name]].to_numpy(dtype=float)

    def gains(self) -> dict:
        """Cumulative gains curve of each evaluated score on the test rows."""
        y = self.test["churned"].to_numpy()
        return {name: gains_curve(self.rank_score(name), y) for name in self.evaluations}

    def capacity_share(self) -> float:
        """Share of the accounts scored at a test date that the teams' capacity covers (mean over the dates)."""
        groups = ["m", *_capacity_groups(self.test, self.capacity_by)]
        per = self.test.groupby(groups).size()
        chosen = np.minimum(per, self.capacity).groupby(level="m").sum()
        return float((chosen / self.test.groupby("m").size()).mean())

    def band_rates(self) -> pd.DataFrame:
        """Observed churn by scorecard band on the test rows, with cluster-bootstrap intervals."""
        band = self.card.band(self.test["scorecard_points"].to_numpy(dtype=float))
        return rates_by(self.test.assign(band=band), "band", n_boot=self.n_boot, seed=self.seed, alpha=self.alpha,
                        order=["good", "average", "poor"])

    def months(self) -> dict:
        """Scoring months as YYYY-MM: test window, the evaluated models' training window and the current one's."""
        lab = lambda m: None if m is None else f"{int(m) // 12}-{int(m) % 12 + 1:02d}"  # noqa: E731
        out = {"scoring": lab(self.scoring_month),
               "current_train": [lab(m) for m in self.model.train_months] if self.model is not None else None}
        if self.test_months:
            out["test"] = [lab(self.test_months[0]), lab(self.test_months[-1])]
        if self.eval_model is not None:
            out["eval_train"] = [lab(m) for m in self.eval_model.train_months]
        return out

    def metrics(self, lst: pd.DataFrame | None = None, follow: dict | None = None) -> dict:
        """The numbers of ``metrics.json`` (every estimate with its interval, or null with a reason)."""
        why = self.reason or "not evaluated"
        null = lambda r: {"estimate": None, "lower": None, "upper": None, "reason": r}  # noqa: E731
        scores = {}
        for name in ("scorecard", "model", "ceiling"):
            e = self.evaluations.get(name)
            r = why if name != "ceiling" or self.reason else (self.ceiling_reason or why)
            scores[name] = e.to_dict() if e is not None else {
                k: null(r) for k in ("auc", "lift_top_decile", "capture_top_decile", "precision_at_capacity")}
        out = {
            "scoring_date": self.scoring_date, "horizon_months": self.horizon, "capacity": self.capacity,
            "capacity_by": self.capacity_by, "evaluated": self.evaluated, "reason": self.reason,
            "months": self.months(),
            "auc": {k: v["auc"] for k, v in scores.items()},
            "lift_top_decile": {k: v["lift_top_decile"] for k, v in scores.items()},
            "capture_top_decile": {k: v["capture_top_decile"] for k, v in scores.items()},
            "precision_at_capacity": {k: v["precision_at_capacity"] for k, v in scores.items()},
            "auc_gap_to_ceiling": {k: self.differences.get(k, null(self.ceiling_reason or why))
                                   for k in ("scorecard", "model")},
            "auc_model_minus_scorecard": self.differences.get("model_vs_scorecard", null(why)),
            "evaluation": {k: {kk: vv for kk, vv in v.items() if kk not in
                               ("auc", "lift_top_decile", "capture_top_decile", "precision_at_capacity")}
                           for k, v in scores.items() if k in self.evaluations},
            "calibration": {k: e.calibration.to_dict(orient="records") for k, e in self.evaluations.items()},
            "importance": (self.model.importance.drop(columns=["strength"]).to_dict(orient="records")
                           if self.model is not None and self.model.importance is not None else []),
            "probabilities": self.fit_reason is None, "fit_reason": self.fit_reason,
            "current_training": {"rows": self.train_rows, "churned": self.train_events},
            "accounts_scored": int(len(self.current)),
            "history_sample": self.sample,
        }
        if lst is not None:
            on = lst["on_list"] == 1
            new = lst.loc[on, "new_on_list"]
            out["list"] = {"size": int(on.sum()), "mrr": float(lst.loc[on, "mrr"].sum()),
                           "arr": float(lst.loc[on, "arr"].sum()),
                           "expected_arr_loss": (float(lst.loc[on, "arr_at_risk"].sum()) if self.fit_reason is None
                                                 else None),
                           "new_on_list": None if new.isna().all() else int(new.fillna(0).sum()),
                           "by_team": {str(t): int(n) for t, n in lst.loc[on, "touch_model"].value_counts().items()}}
        out["follow_up"] = follow
        return out


def churn_risk(ds: Dataset, *, scoring_date=None, horizon: int = 3, capacity: int = 20, capacity_by: str = "team",
               scorecard=None,
               calibration: str = "logistic", test_months: int = 6, C: float = 0.05, attributes=None,
               true_prob: pd.DataFrame | None = None, n_boot: int = 500, seed: int = 0,
               alpha: float = 0.05, max_rows: int = 2_000_000) -> ChurnRisk:
    """Score every account paying at the scoring date with both scores, and judge both on the future.

    Evaluation (a time split): the last ``test_months`` scoring months whose ``horizon``-month outcome windows
    closed by the scoring date are scored by models fitted only on scoring months whose windows closed before
    the first of them; AUC, lift, capture, precision at ``capacity`` (per ``capacity_by``, see :func:`risk_list`)
    and calibration with cluster-bootstrap
    intervals. ``true_prob`` (demo data: :func:`load_true_probabilities`) adds the ceiling. The scores at the
    scoring date come from models refitted on every window closed by then.

    Sampling rule at large N: when the account-months before the scoring month exceed ``max_rows``, the fits and
    the evaluation use a random share of whole accounts (max_rows ÷ rows, seeded, drawn independently of churn,
    so unweighted); every account paying at the scoring date is still scored. ``ChurnRisk.sample`` says so.

    ``attributes``: the customer attributes the model takes beside its signals (None: :func:`default_attributes`,
    the export's own attributes included)."""
    sc = scorecard if isinstance(scorecard, Scorecard) else Scorecard.from_yaml(scorecard)
    if capacity < 0:
        raise ValueError(f"capacity={capacity}: must be ≥ 0")
    T = scoring_month(ds, scoring_date)
    first = month_index(ds.data_start) + 2  # two months of usage history for the trend
    last_closed = last_closed_month(ds, horizon, before=T)
    months = np.arange(first, T + 1)
    attributes = _model_attributes(ds, default_attributes(ds) if attributes is None else attributes)
    frame, sample = (_history(ds, months, T, max_rows, seed, attributes) if len(months)
                     else (signals(ds, [T], attributes=attributes), None))
    frame = outcomes(ds, frame, horizon)
    # outcome windows closed by the scoring date (not by as_of): nothing after T is used
    closed = frame["m"].to_numpy() <= last_closed
    is_current = frame["m"].to_numpy() == T
    current = frame[is_current].drop(columns=["churned", "closed"]).reset_index(drop=True)
    # scorecard points are a function of each row alone: computed once for every row, then sliced (the
    # training, test and current rows overlap and each was scored two or three times)
    points = sc.points(frame)

    g = ds.settings.grace_months
    lo = max(last_closed - test_months + 1, first + horizon + g + 2)  # at least three training months before it
    test_ms = list(range(lo, last_closed + 1))
    split = min(test_ms) if test_ms else None
    evaluations, differences, reason, test, eval_model, coverage = {}, {}, None, None, None, None
    codes: dict = {}
    ceiling_reason = None if true_prob is not None else "no true churn probabilities (real data)"
    if split is not None:
        in_train = closed & (frame["m"].to_numpy() <= split - horizon - g)
        in_test = frame["m"].isin(test_ms).to_numpy()
        train = frame[in_train]
        test = frame[in_test].reset_index(drop=True)
        try:
            eval_model = fit_model(train, C=C, attributes=attributes, importance=False)
            eval_card = calibrate_scorecard(sc, train, method=calibration, points=points[in_train])
        except TooLittleHistory as exc:
            reason, codes["evaluation"] = str(exc), exc
        del train  # a copy of most of the history's rows, not needed past the fits (the final fit copies train_all)
        if reason is None and (test["churned"].sum() == 0):
            codes["evaluation"] = TooLittleHistory("no_churn", "no account churned in the evaluation window")
            reason = str(codes["evaluation"])
        if reason is None:
            W = _Boot.draw(test["customer_id"].to_numpy(), n_boot, seed)  # shared: paired differences
            kw = dict(capacity=capacity, capacity_by=capacity_by, n_boot=n_boot, seed=seed, alpha=alpha, weights=W)
            test["p_scorecard"] = eval_card.predict(test, points[in_test])
            test["scorecard_points"] = points[in_test]
            test["p_model"] = eval_model.predict(test)
            evaluations["scorecard"] = evaluate_score("scorecard", test["p_scorecard"].to_numpy(), test,
                                                      rank_score=-np.nan_to_num(test["scorecard_points"].to_numpy(), nan=50.0), **kw)
            evaluations["model"] = evaluate_score("model", test["p_model"].to_numpy(), test, **kw)
            if true_prob is not None:
                tp = true_probability(test, true_prob, horizon, pseudonymised=ds.pseudonymised)
                coverage = float(np.isfinite(tp).mean())
                if coverage == 1.0:
                    test["p_true"] = tp
                    evaluations["ceiling"] = evaluate_score("ceiling", tp, test, **kw)
                    for k in ("scorecard", "model"):
                        differences[k] = auc_difference(evaluations[k], evaluations["ceiling"], alpha)
                else:
                    ceiling_reason = (f"the true probabilities cover {coverage:.1%} of the evaluated account-months "
                                      "(not the same data)")
            differences["model_vs_scorecard"] = auc_difference(evaluations["model"], evaluations["scorecard"], alpha)
    else:
        codes["evaluation"] = TooLittleHistory(
            "too_short", f"no scoring month has a closed {horizon}-month outcome window before "
            f"{reference_date(T).date()}: the data are too short to judge the scores", h=horizon,
            date=str(reference_date(T).date()))
        reason = str(codes["evaluation"])
    train_all, train_points = frame[closed], points[closed]
    n_train, events_train = len(train_all), int(train_all["churned"].sum())
    current["scorecard_points"] = points[is_current]
    # the whole history is not needed past here (the rows still used are copies: train_all, test, current); at 1M
    # customers the final fit and prediction peaked with it alive
    del frame, points
    current["scorecard_band"] = sc.band(current["scorecard_points"])
    try:
        model = fit_model(train_all, C=C, attributes=attributes)
        card = calibrate_scorecard(sc, train_all, method=calibration, points=train_points)
        del train_all, train_points  # nor the training rows past the fits
        current["p_scorecard"] = card.predict(current, current["scorecard_points"].to_numpy())
        current["p_model"] = model.predict(current)
        fit_reason = None
    except TooLittleHistory as exc:  # too little closed history: the accounts are ranked by scorecard points alone
        model, card, fit_reason = None, None, str(exc)
        codes["fit"] = exc
        current["p_scorecard"] = np.nan
        current["p_model"] = np.nan
    return ChurnRisk(T, reference_date(T), horizon, capacity, capacity_by, test_ms, split, current, model, card,
                     evaluations, test, eval_model, reason, coverage, differences, ceiling_reason, n_boot, seed, alpha,
                     n_train, events_train, sc, fit_reason, codes, sample)


def default_attributes(ds: Dataset) -> tuple[str, ...]:
    """The churn-risk model's attributes when none are named: plan, touch model and channel (:data:`ATTRIBUTES`)
    and every attribute of the export's own (a column of the customer table that is not a canonical one)."""
    from .data.schema import TABLES

    canonical = set(TABLES["customers"].columns) | set(TABLES["snapshot"].columns)
    return tuple(dict.fromkeys([*ATTRIBUTES, *(a for a in attrs_.kinds(ds) if a not in canonical)]))


def _model_attributes(ds: Dataset, attributes) -> tuple[str, ...]:
    """The churn-risk model's attribute inputs: those of ``attributes`` that the data have, less any constant or
    empty one (data/attributes.py; not fitted). The penalised model takes a categorical attribute with many
    levels, unlike a segment or a Cox covariate."""
    given = attrs_.present(ds, attributes)
    if any(attrs_.parse_covariate(a)[1] is not None for a in given):
        raise ValueError(f"attributes={list(attributes)}: the churn-risk model takes attribute names (a numeric "
                         "attribute enters on its own scale, standardised); ':log2' is for the Cox models")
    return tuple(a for a in given if attrs_.uninformative(ds.customers[a]) is None)


def _history(ds: Dataset, months: np.ndarray, T: int, max_rows: int, seed: int,
             attributes=ATTRIBUTES) -> tuple[pd.DataFrame, dict | None]:
    """Signals of the scoring months (the last is T), with the sampling rule of :func:`churn_risk` applied to the
    months before T; and the sample's description (None when every account is kept)."""
    pm = month_index(ds.panel["month"])
    past = (pm >= months[0]) & (pm < T)
    n_rows = int(past.sum())
    if n_rows <= max_rows:
        return signals(ds, months, attributes=attributes), None
    # whole accounts, drawn independently of churn: rates, AUC and fitted associations stay unbiased unweighted
    ids = np.sort(ds.panel.loc[past, "customer_id"].unique())
    share = max_rows / n_rows
    keep = ids[np.random.default_rng(seed).random(len(ids)) < share]
    frame = pd.concat([signals(ds, months[months < T], accounts=keep, attributes=attributes),
                       signals(ds, [T], attributes=attributes)], ignore_index=True)
    return frame, {"share": share, "accounts": len(keep), "of_accounts": len(ids), "rows": int((frame["m"] < T).sum()),
                   "of_rows": n_rows}


# ============================================================================ reasons and the list

REASON_TEMPLATES = {
    "health.reason.days_since_login": "no login for {days} days",
    "health.reason.never_active": "no login recorded",
    "health.reason.utilisation": "{active} of {seats} seats active",
    "health.reason.features_used": "{n} features used",
    "health.reason.logins_per_seat": "{logins} logins for {seats} seats last month",
    "health.reason.usage_trend": "logins {pct} against the two months before",
    "health.reason.usage_trend_unknown": "too new for a usage trend",
    "health.reason.failed_payment": "{n} failed payment(s) in the last 3 months",
    "health.reason.nps": "latest NPS score {score} ({category})",
    "health.reason.nps_none": "no NPS answer yet",
    "health.reason.cs_contacts": "{n} CS contact(s) in the last 3 months",
    "health.reason.tenure": "customer for {months} month(s)",
    "health.reason.mrr": "MRR {mrr}",
    "health.reason.seats": "{seats} seat(s)",
    "health.reason.renewal": "renewal in {days} days",
    "health.reason.attribute": "{attribute}: {value}",
}

_INPUT_REASON = {
    "log_days_since_login": "days_since_login", "utilisation": "utilisation", "features_used": "features_used",
    "log_logins_per_seat": "logins_per_seat", "log_usage_trend": "usage_trend", "usage_trend_unknown": "usage_trend",
    "falling_usage": "usage_trend", "failed_payment": "failed_payment", "nps_detractor": "nps", "nps_passive": "nps",
    "nps_none": "nps", "log_cs_contacts": "cs_contacts", "log_tenure": "tenure", "log_mrr": "mrr",
    "log2_seats": "seats", "months_to_renewal": "renewal",
}


def _default_translate(key: str, **values) -> str:
    return REASON_TEMPLATES[key].format(**values) if values else REASON_TEMPLATES[key]


def _reason_text(signal: str, row: dict, tr: Callable) -> str:
    r = row
    if signal == "days_since_login":
        return tr("health.reason.never_active") if r["never_active"] else tr("health.reason.days_since_login",
                                                                               days=f"{r['days_since_login']:.0f}")
    if signal == "utilisation":
        return tr("health.reason.utilisation", active=f"{r['active_users']:.0f}", seats=f"{r['seats']:.0f}")
    if signal == "features_used":
        return tr("health.reason.features_used", n=f"{r['features_used']:.0f}")
    if signal == "logins_per_seat":
        return tr("health.reason.logins_per_seat", logins=f"{r['logins']:.0f}", seats=f"{r['seats']:.0f}")
    if signal == "usage_trend":
        t = r["usage_trend"]
        if t != t:
            return tr("health.reason.usage_trend_unknown")
        return tr("health.reason.usage_trend", pct=f"{100 * (t - 1):+.0f}%")
    if signal == "failed_payment":
        return tr("health.reason.failed_payment", n=f"{r['failed_payments']:.0f}")
    if signal == "nps":
        if r["nps_category"] == "none":
            return tr("health.reason.nps_none")
        return tr("health.reason.nps", score=f"{r['nps_score']:.0f}", category=tr(f"health.nps.{r['nps_category']}")
                  if tr is not _default_translate else r["nps_category"])
    if signal == "cs_contacts":
        return tr("health.reason.cs_contacts", n=f"{r['cs_contacts']:.0f}")
    if signal == "tenure":
        return tr("health.reason.tenure", months=f"{r['tenure_months']:.0f}")
    if signal == "mrr":
        return tr("health.reason.mrr", mrr=f"{r['mrr']:,.0f}")
    if signal == "seats":
        return tr("health.reason.seats", seats=f"{r['seats']:.0f}")
    if signal == "renewal":
        return tr("health.reason.renewal", days=f"{r['days_to_renewal']:.0f}")
    attribute, eq, value = signal.partition("=")
    if not eq:  # a numeric attribute: its value
        v = r.get(attribute)
        value = f"{v:,.4g}" if isinstance(v, (int, float)) and v == v else "–"
    label = attribute.replace("_", " ")
    if tr is not _default_translate:  # a canonical attribute's label in the report's language (attr.<name>)
        try:
            label = tr(f"attr.{attribute}")
        except KeyError:  # the export's own attribute: its name
            pass
    return tr("health.reason.attribute", attribute=label, value=value)


def model_reasons(model: ChurnRiskModel, frame: pd.DataFrame, *, k: int = 3, translate: Callable | None = None,
                  min_contribution: float = 0.05) -> list[str]:
    """For each row, the ``k`` signals that raise its risk most (positive contributions to the log-odds against
    an average account, inputs of one signal added up), in words joined by '; '."""
    tr = translate or _default_translate
    contrib = model.contributions(frame)
    # the touch model is the team's own list: naming it as a reason tells the team nothing
    contrib = contrib[[c for c in contrib.columns if not c.startswith("touch_model=")]]
    sig = [_INPUT_REASON.get(c) or next((a + "=" for a in model.attributes if c.startswith(a + "=")), None)
           or next((a for a in model.attributes if c == f"{a} missing"), c) for c in contrib.columns]
    grouped = contrib.T.groupby(sig, sort=False).sum().T
    vals = grouped.to_numpy()
    order = np.argsort(-vals, axis=1)[:, :k]
    names = np.array(grouped.columns)
    recs = frame.to_dict(orient="records")
    out = []
    for i, rec in enumerate(recs):  # formatting text for the listed accounts only (top N), not a computation
        parts = []
        for j in order[i]:
            if vals[i, j] < min_contribution:
                break
            s = names[j]
            if s.endswith("="):
                s = f"{s[:-1]}={rec.get(s[:-1])}"
            parts.append(_reason_text(s, rec, tr))
        out.append("; ".join(parts))
    return out


def scorecard_reasons(scorecard: Scorecard, frame: pd.DataFrame, *, k: int = 3, translate: Callable | None = None) -> list[str]:
    """For each row, the heaviest scorecard measures in the poor (then average) band, in words."""
    tr = translate or _default_translate
    mp = scorecard.measure_points(frame)
    w = np.array([m.weight for m in scorecard.measures])
    loss = (100 - mp.fillna(100).to_numpy()) * w
    order = np.argsort(-loss, axis=1)[:, :k]
    sig = {"days_since_login": "days_since_login", "utilisation": "utilisation", "features_used": "features_used",
           "usage_trend": "usage_trend", "falling_usage": "usage_trend", "failed_payments": "failed_payment",
           "nps_score": "nps", "nps_category": "nps", "cs_contacts": "cs_contacts", "tenure_months": "tenure",
           "mrr": "mrr", "days_to_renewal": "renewal", "active_users": "utilisation", "seats": "seats",
           "logins": "logins_per_seat"}
    names = [m.name for m in scorecard.measures]
    out = []
    for i, rec in enumerate(frame.to_dict(orient="records")):
        parts = list(dict.fromkeys(_reason_text(sig[names[j]], rec, tr) for j in order[i] if loss[i, j] > 0))
        out.append("; ".join(parts))
    return out


def risk_list(result: ChurnRisk, *, capacity: int | None = None, capacity_by: str | None = None,
              by: str = "model", rank_by: str = "probability", previous: pd.DataFrame | None = None,
              pseudonymise: bool = False, translate: Callable | None = None, k_reasons: int = 3) -> pd.DataFrame:
    """The churn-risk list at the scoring date in the layout of :data:`LIST_COLUMNS`.

    Every paying account is ranked (``rank_by`` ``probability`` or ``arr_at_risk``, by the data-driven ``model``
    or the calibrated ``scorecard``); ``on_list`` marks the accounts within capacity: the top ``capacity``
    accounts of each touch-model team (``capacity_by="team"``), of each CSM owner (``"csm"``; a pooled owner
    such as the tech-touch pool counts as one) or overall (``"total"``); defaults from the result. ``previous`` (an earlier
    list, same layout) sets ``new_on_list``. ``pseudonymise`` replaces account ids by keyed pseudonyms
    (data/pseudonym.py; stable across runs, so lists stay comparable)."""
    if by not in LIST_SCORES:
        raise ValueError(f"by={by!r}: use model or scorecard")
    if rank_by not in RANK_BY:
        raise ValueError(f"rank_by={rank_by!r}: use probability or arr_at_risk")
    cur = result.current.copy()
    if result.model is None:  # no probabilities (too little history): rank by the scorecard's points
        by = "scorecard"
    p = cur["p_model"] if by == "model" else cur["p_scorecard"]
    df = pd.DataFrame({
        "scoring_date": result.scoring_date.date(),
        "touch_model": cur["touch_model"].fillna("unknown") if "touch_model" in cur else "unknown",
        "customer_id": cur["customer_id"].astype(str),
        "csm_owner": cur["csm_owner"] if "csm_owner" in cur else None,
        "churn_probability": p.to_numpy(),
        "horizon_months": result.horizon,
        "score_source": by if result.model is not None else "scorecard_points",
        "scorecard_points": cur["scorecard_points"].round(1),
        "scorecard_band": cur["scorecard_band"],
        "mrr": cur["mrr"],
        "arr": 12 * cur["mrr"],
    })
    df["arr_at_risk"] = df["churn_probability"] * df["arr"]
    df["renewal_date"] = pd.to_datetime(cur["renewal_date"]).dt.date
    df["days_to_renewal"] = cur["days_to_renewal"]
    if result.model is None:
        df["_risk"] = 100.0 - df["scorecard_points"].fillna(50.0)
        key = "_risk"
    else:
        key = "churn_probability" if rank_by == "probability" else "arr_at_risk"
    df = df.sort_values([key, "arr", "customer_id"], ascending=[False, False, True], kind="stable")
    cur = cur.loc[df.index]
    df = df.reset_index(drop=True)
    cur = cur.reset_index(drop=True)
    df.insert(1, "rank", np.arange(1, len(df) + 1))
    df.insert(3, "rank_in_team", df.groupby("touch_model", sort=False).cumcount() + 1)
    cap = result.capacity if capacity is None else capacity
    if cap < 0:
        raise ValueError(f"capacity={cap}: must be ≥ 0")
    group = _capacity_groups(df, result.capacity_by if capacity_by is None else capacity_by)
    on = (df.groupby(df[group[0]].astype(str), sort=False).cumcount() < cap) if group else df["rank"] <= cap
    df["on_list"] = on.astype(int).to_numpy()
    listed = df["on_list"].to_numpy() == 1
    reasons = np.full(len(df), "", dtype=object)
    if listed.any():
        sub = cur[listed]
        reasons[listed] = (model_reasons(result.model, sub, k=k_reasons, translate=translate) if by == "model"
                           else scorecard_reasons(result.card, sub, k=k_reasons, translate=translate))
    df["reasons"] = reasons
    if pseudonymise:
        from .data.pseudonym import pseudonymise_ids

        df["customer_id"] = pseudonymise_ids(df["customer_id"].to_numpy())
    if previous is not None:
        need = {"customer_id", "on_list"} - set(previous.columns)
        if need:
            raise ValueError(f"previous list: missing column(s) {sorted(need)}; expected the layout of LIST_COLUMNS")
        before = set(previous.loc[previous["on_list"] == 1, "customer_id"].astype(str))
        df["new_on_list"] = np.where(listed, (~df["customer_id"].isin(before)).astype(int), 0)
    else:
        df["new_on_list"] = pd.array([pd.NA] * len(df), dtype="Int64")
    return df[list(LIST_COLUMNS)]


def input_labels(names, translate: Callable | None = None) -> dict:
    """Readable labels of the data-driven score's inputs (``health.input.<name>``; attribute levels as
    'attribute = level')."""
    out = {}
    for n in names:
        if "=" in n:
            a, _, v = n.partition("=")
            out[n] = f"{attrs_.label(a, translate)} = {v}"
        elif n not in _INPUT_REASON and n.endswith(" missing"):  # a numeric attribute's missing-value indicator
            a = n[: -len(" missing")]
            out[n] = (translate("health.input.attribute_missing", attribute=attrs_.label(a, translate)) if translate
                      else f"{attrs_.label(a, None)} missing")
        elif n not in _INPUT_REASON:  # a numeric attribute
            out[n] = attrs_.label(n, translate)
        else:
            out[n] = translate(f"health.input.{n}") if translate else n.replace("_", " ")
    return out


def list_layout(translate: Callable | None = None) -> pd.DataFrame:
    """The CSV layout of the list: column name and meaning (``health.layout.<column>`` when translated)."""
    return pd.DataFrame({"column": list(LIST_COLUMNS),
                         "meaning": [translate(f"health.layout.{c}") if translate else d for c, d in LIST_COLUMNS.items()]})


def team_lists(lst: pd.DataFrame, teams=TOUCH_MODELS) -> dict[str, pd.DataFrame]:
    """One list per touch model: the accounts within capacity, in rank order."""
    on = lst[lst["on_list"] == 1]
    found = [t for t in teams if t in set(on["touch_model"])] + sorted(set(on["touch_model"]) - set(teams))
    return {t: on[on["touch_model"] == t].reset_index(drop=True) for t in found}


def read_list(path, *, pseudonymised: bool | None = None) -> pd.DataFrame:
    """A list written earlier (CSV in the layout of :data:`LIST_COLUMNS`), ids as text. ``pseudonymised`` (when
    given): whether this run's ids are keyed pseudonyms; a list of the other kind is refused (its ids would match
    no account, and the follow-up would count no churn)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"previous list {path} not found")
    df = restore(pd.read_csv(path, dtype={"customer_id": str}))
    need = {"customer_id", "on_list", "scoring_date", "churn_probability", "horizon_months"} - set(df.columns)
    if need:
        raise ValueError(f"previous list {path}: missing column(s) {sorted(need)}; expected the layout of LIST_COLUMNS")
    if pseudonymised is not None and len(df):
        from .data.pseudonym import looks_pseudonymised

        if looks_pseudonymised(df["customer_id"]) != pseudonymised:
            raise ValueError(f"previous list {path} holds {'raw ids' if pseudonymised else 'pseudonymised ids'} and this "
                             f"run's are {'pseudonymised' if pseudonymised else 'raw'}: a list is followed up only by "
                             "runs of the same kind (run with or without --pseudonymise as the list was)")
    return df


def default_archive(output_dir) -> Path:
    """Where lists are kept when no folder is given: ``risk_lists`` beside the run folders (``output_dir`` is
    ``<reports>/<run>/<notebook>``), so a scheduled run follows up the list of the run before it."""
    return Path(output_dir).resolve().parent.parent / "risk_lists"


_ARCHIVED = re.compile(r"^risk_list_(\d{4}-\d{2}-\d{2})(_pseudonymised)?\.csv$")


def archive_path(lst: pd.DataFrame, folder, *, pseudonymised: bool = False) -> Path | None:
    """Where this run's list is kept in ``folder``: ``risk_list_<scoring date>.csv``, or
    ``risk_list_<scoring date>_pseudonymised.csv`` when its ids are keyed pseudonyms (a pseudonymised list is
    followed up only by pseudonymised runs, a raw one only by raw runs: :func:`latest_archived`). None for an empty
    list (no paying account at the scoring date: nothing to follow up later)."""
    if not len(lst):
        return None
    date = pd.Timestamp(lst["scoring_date"].iloc[0]).date()
    return Path(folder) / f"risk_list_{date}{'_pseudonymised' if pseudonymised else ''}.csv"


def archive_list(lst: pd.DataFrame, folder, *, pseudonymised: bool = False) -> Path | None:
    """Keep this run's list in ``folder`` (:func:`archive_path`; later runs follow it up). A report run does not
    call this from its kernel: it asks the runner to copy its ``risk_list.csv`` there when the run is published
    (:func:`csanalysis.report.keep_on_publish`), so a failed run never replaces the list that is followed up."""
    path = archive_path(lst, folder, pseudonymised=pseudonymised)
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_csv(lst, path)


def latest_archived(folder, before, *, pseudonymised: bool = False) -> Path | None:
    """The latest list kept in ``folder`` whose scoring date is before ``before``, or None; only lists of the same
    kind (``pseudonymised`` ids or raw ids: a list of the other kind would match no account)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    dated = []
    for p in folder.glob("risk_list_*.csv"):
        hit = _ARCHIVED.match(p.name)
        if hit is None or bool(hit.group(2)) != pseudonymised:
            continue
        try:
            d = pd.Timestamp(hit.group(1))
        except ValueError:
            continue
        if d < pd.Timestamp(before):
            dated.append((d, p))
    return max(dated)[1] if dated else None


def follow_up(previous: pd.DataFrame, ds: Dataset, *, pseudonymise: bool = False, alpha: float = 0.05) -> dict:
    """How the accounts on an earlier list fared: churned since its scoring date (within its horizon, or so far
    when the window is still open), against the number its probabilities expected, with a Wilson interval.
    ``pseudonymise``: the earlier list holds keyed pseudonyms (the Dataset's ids are mapped the same way)."""
    from statsmodels.stats.proportion import proportion_confint

    on = previous[previous["on_list"] == 1]
    if not len(on):
        return {"listed": 0, "reason": "the previous list holds no account within capacity"}
    t = pd.Timestamp(on["scoring_date"].iloc[0])
    h = int(on["horizon_months"].iloc[0])
    T = month_index(t)
    asof = month_index(ds.as_of_month)
    sp = ds.spells.assign(end_m=lambda d: d["end"].dt.year * 12 + d["end"].dt.month - 1)
    gone = sp.loc[(sp["event"] == 1) & (sp["end_m"] > T) & (sp["end_m"] <= T + h), "customer_id"].astype(str).to_numpy()
    every = ds.customers["customer_id"].astype(str).to_numpy()
    if pseudonymise:
        from .data.pseudonym import pseudonymise_ids

        gone, every = pseudonymise_ids(gone), pseudonymise_ids(every)
    ids = on["customer_id"].astype(str)
    churned = ids.isin(set(gone))
    known = ids.isin(set(every))
    n, k = int(len(on)), int(churned.sum())
    lo, hi = proportion_confint(k, n, alpha=alpha, method="wilson")
    return {"scoring_date": str(t.date()), "horizon_months": h, "listed": n, "churned": k,
            "window_closed": bool(T + h + ds.settings.grace_months <= asof),
            "months_observed": int(min(h, asof - T)),
            "churn_share": {"estimate": k / n, "lower": float(lo), "upper": float(hi), "reason": None},
            "expected": float(on["churn_probability"].sum()), "unknown_ids": int((~known).sum())}
