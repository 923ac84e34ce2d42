"""The signals a health score reads: one row per account paying in a scoring month, from data up to its end.

**Scoring dates.** A scoring date *t* is turned into its scoring month *T*: the month of *t* when *t* is that
month's last day, else the month before (the last complete month). Every signal reads data up to the end of
*T* only, and every "days" signal is counted to that day (the reference date).

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
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import Dataset
from ..data import attributes as attrs_
from ..data.keys import AccountMonths, spell_rows
from ..data.signals import falling_usage_at, nps_category_at, survey_waves
from ..periods import last_complete_month, month_index, month_start

__all__ = ["ATTRIBUTES", "TOUCH_MODELS", "NUMERIC_SIGNALS", "USAGE_SIGNALS", "scoring_month", "reference_date",
           "signals", "signals_by_part", "monthly_usage"]

ATTRIBUTES = ("plan", "touch_model", "acquisition_channel")
TOUCH_MODELS = ("high", "low", "tech")
NUMERIC_SIGNALS = ("days_since_login", "active_users", "seats", "utilisation", "features_used", "logins",
                   "usage_trend", "falling_usage", "failed_payments", "nps_score", "cs_contacts", "tenure_months",
                   "mrr", "days_to_renewal")


def scoring_month(ds: Dataset, scoring_date=None) -> int:
    """Month index of the scoring month for ``scoring_date`` (default: the as_of month), see the module doc."""
    if scoring_date is None:
        return ds.as_of_m
    t = pd.Timestamp(scoring_date)
    m = last_complete_month(t)
    if m > ds.as_of_m:
        raise ValueError(f"scoring_date {t.date()} is after the data's as_of month ({ds.as_of_month:%Y-%m}); "
                         "choose a date up to as_of")
    if m < ds.data_start_m:
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
    attribute, see data/attributes.py). Only data up to the end of each row's scoring month is read.

    Parameters
    ----------
    ds : Dataset
        The loaded data.
    months : sequence of int, optional
        Scoring month indices (None: the month of ``scoring_date``).
    scoring_date : date-like, optional
        The scoring date when ``months`` is None (None: :func:`scoring_month`'s default).
    accounts : sequence, optional
        Customer ids to keep (None: every paying account).
    attributes : sequence of str
        The customer attributes to add.

    Returns
    -------
    DataFrame
        One row per account and scoring month, as described above.
    """
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
    ref = (month_start(m) + pd.offsets.MonthEnd(0)).to_numpy()
    out = pd.DataFrame({"customer_id": cid, "m": m, "scoring_date": ref})

    # --- usage (monthly rows) ----------------------------------------------------------------------------
    u = ds.usage
    falling = None
    if u is not None and len(u):
        um = month_index(u["month"])
        # only the rows' accounts, up to the last scoring month, can enter (a sample of accounts reads a share of
        # the table, and the frames below do not copy the whole usage table)
        ua = keys.accounts(u["customer_id"])
        mine = (ua >= 0) & (um < keys.lo + keys.M)
        if not mine.all():  # the columns read below only (not a copy of every usage column)
            u = u.loc[mine, ["customer_id", *(c for c in USAGE_SIGNALS if c in u.columns), "last_active_date"]]
            um, ua = um[mine], ua[mine]
        grids = keys.cells(u["customer_id"], um, u[[c for c in USAGE_SIGNALS if c in u.columns]], how="one", acc=ua)
        del ua
        for c in USAGE_SIGNALS:
            out[c] = keys.at(grids[c]) if c in grids else np.nan
        if "logins" in grids:
            prev = (keys.at(grids["logins"], 1) + keys.at(grids["logins"], 2)) / 2
            # the paying panel rows' ids and months only (not a filtered copy of the whole panel with all its
            # columns; pm holds the months already)
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
    at = spell_rows(keys, rows["spell"].to_numpy(), ds.spells)
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


def signals_by_part(ds: Dataset, months, *, accounts=None, attributes=ATTRIBUTES,
                    part_customers: int | None = None, then=None) -> pd.DataFrame:
    """:func:`signals` of every account, read a part of the customers at a time (``part_customers`` each,
    :func:`csanalysis.grouped.customer_parts`: disjoint Datasets restricted in the engine), in the order
    :func:`signals` gives (month, then account). Each row reads its own account's data only, so the rows are
    those of one reading of ``ds``; the pandas tables held at once are a part's, not every customer's (at a
    million customers the usage, panel and payments of all of them take about 4 GB). ``part_customers`` None or
    at least the customers: :func:`signals` of ``ds`` itself. ``then``: optional ``then(part, rows)`` giving the
    rows with columns added from the part's own tables (each row's from its own account's data, as
    :func:`csanalysis.lifecycle.expansion.term_inputs`), applied to each part before the parts are joined."""
    from ..grouped import customer_parts

    then = then or (lambda part, rows: rows)
    if part_customers is None:
        return then(ds, signals(ds, months, accounts=accounts, attributes=attributes))
    frames = [then(part, signals(part, months, accounts=accounts, attributes=attributes))
              for part in customer_parts(ds, max_customers=part_customers)]
    if len(frames) == 1:
        return frames[0]
    out = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
    frames.clear()  # the parts are copied into out: not held beside it and its sorted copy (issue 21)
    # ignore_index: the numbered rows of reset_index(drop=True), without its copy of the sorted rows
    return out.sort_values(["m", "customer_id"], kind="stable", ignore_index=True)


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
    day = snap.to_numpy() - month_start(r_m).to_numpy()  # offset into its month (NaT stays NaT)
    # step back whole years while the anniversary stays after the reference month (d is a month's last day)
    gap = r_m - np.asarray(m, dtype=np.int64)
    k = np.where(gap > 0, (gap - 1) // 12, 0)
    back_m = r_m - 12 * k
    first = month_start(back_m).to_numpy()
    out = first + day
    return np.where(snap.isna().to_numpy(), np.datetime64("NaT"), out).astype("datetime64[ns]")
