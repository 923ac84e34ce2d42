"""The team's capacity: how many accounts each team (touch model), each CSM or the whole team can work.

A list is cut at ``capacity`` accounts per group of :data:`CAPACITY_BY`: per touch-model team (``"team"``), per
CSM owner (``"csm"``; a pooled owner such as the tech-touch pool counts as one) or overall (``"total"``). The
evaluation's precision at capacity and the list's ``on_list`` use the same groups.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["CAPACITY_BY", "capacity_groups", "rank_within_capacity"]

CAPACITY_BY = {"team": "touch_model", "csm": "csm_owner", "total": None}


def capacity_groups(frame: pd.DataFrame, capacity_by: str) -> list[str]:
    """The columns of ``frame`` whose values form the groups the capacity applies to (none for ``"total"``)."""
    if capacity_by not in CAPACITY_BY:
        raise ValueError(f"capacity_by={capacity_by!r}: use team (per touch model), csm (per CSM owner) or total")
    col = CAPACITY_BY[capacity_by]
    if col is None:
        return []
    if col not in frame.columns:
        raise ValueError(f"capacity_by={capacity_by!r} needs the customers column {col!r}, which the data do not have")
    return [col]


def rank_within_capacity(df: pd.DataFrame, cur: pd.DataFrame, keys: list[str], ascending: list[bool], capacity: int,
                         capacity_by: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A list put in rank order and cut at the team's capacity, as every account list does (the churn-risk list,
    the upsell candidates).

    Parameters
    ----------
    df : DataFrame
        The list's columns, one row per account (``customer_id`` first, ``touch_model`` among them).
    cur : DataFrame
        The accounts' signals, row for row with ``df`` (same index), kept in the same order for the reasons.
    keys, ascending : list
        The sort (stable), e.g. probability then ARR descending, then ``customer_id`` ascending.
    capacity : int
        Accounts per group of ``capacity_by`` on the list (≥ 0).
    capacity_by : {"team", "csm", "total"}
        The groups the capacity applies to (:func:`capacity_groups`).

    Returns
    -------
    (DataFrame, DataFrame)
        ``df`` sorted with ``rank`` (second column), ``rank_in_team`` (fourth, within the touch model) and
        ``on_list`` (1 for the top ``capacity`` of each group), and ``cur`` in the same order; both re-indexed.
    """
    if capacity < 0:
        raise ValueError(f"capacity={capacity}: must be ≥ 0")
    df = df.sort_values(keys, ascending=ascending, kind="stable")
    cur = cur.loc[df.index].reset_index(drop=True)
    df = df.reset_index(drop=True)
    df.insert(1, "rank", np.arange(1, len(df) + 1))
    df.insert(3, "rank_in_team", df.groupby("touch_model", sort=False).cumcount() + 1)
    group = capacity_groups(df, capacity_by)
    on = (df.groupby(df[group[0]].astype(str), sort=False).cumcount() < capacity) if group else df["rank"] <= capacity
    df["on_list"] = on.astype(int).to_numpy()
    return df, cur
