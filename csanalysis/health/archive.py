"""The kept lists: where each run's list is archived, the latest one before a date, and how its accounts fared.

A report run keeps its list as ``risk_list_<scoring date>.csv`` (``_pseudonymised`` when its ids are keyed
pseudonyms) in an archive folder; a later run reads the latest earlier one back (:func:`latest_archived`) to mark
the accounts new on its list and to follow up the earlier list (:func:`follow_up`): how many of its accounts
churned since, against the number its probabilities expected.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..data import Dataset
from ..estimate import Estimate
from ..periods import month_index
from ..spreadsheet import write_csv
from ..stats.proportion import wilson

__all__ = ["default_archive", "archive_path", "archive_list", "latest_archived", "follow_up"]


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
    ``pseudonymise``: the earlier list holds keyed pseudonyms (the Dataset's ids are mapped the same way).

    Parameters
    ----------
    previous : DataFrame
        An earlier risk list (the layout of :data:`LIST_COLUMNS`, as :func:`read_list` reads it).
    ds : Dataset
        The data now, whose spells say who churned since.
    pseudonymise : bool
        The earlier list holds keyed pseudonyms.
    alpha : float
        1 − the Wilson interval's confidence level.

    Returns
    -------
    dict
        ``scoring_date``, ``horizon_months``, ``listed``, ``churned``, ``window_closed``, ``months_observed``,
        ``churn_share`` (estimate with its interval), ``expected`` (the sum of the list's probabilities) and
        ``unknown_ids``; only ``listed`` (0) and ``reason`` when the list held no account within capacity.
    """
    on = previous[previous["on_list"] == 1]
    if not len(on):
        return {"listed": 0, "reason": "the previous list holds no account within capacity"}
    t = pd.Timestamp(on["scoring_date"].iloc[0])
    h = int(on["horizon_months"].iloc[0])
    T = month_index(t)
    asof = ds.as_of_m
    sp = ds.spells.assign(end_m=lambda d: month_index(d["end"]))
    gone = sp.loc[(sp["event"] == 1) & (sp["end_m"] > T) & (sp["end_m"] <= T + h), "customer_id"].astype(str).to_numpy()
    every = ds.customers["customer_id"].astype(str).to_numpy()
    if pseudonymise:
        from ..data.pseudonym import pseudonymise_ids

        gone, every = pseudonymise_ids(gone), pseudonymise_ids(every)
    ids = on["customer_id"].astype(str)
    churned = ids.isin(set(gone))
    known = ids.isin(set(every))
    n, k = int(len(on)), int(churned.sum())
    lo, hi = wilson(k, n, alpha)
    return {"scoring_date": str(t.date()), "horizon_months": h, "listed": n, "churned": k,
            "window_closed": bool(ds.window_closed(T, h, ds.settings.grace_months)),
            "months_observed": int(min(h, asof - T)),
            "churn_share": Estimate("churn_share", k / n, float(lo), float(hi)).brief(),
            "expected": float(on["churn_probability"].sum()), "unknown_ids": int((~known).sum())}
