"""The team's capacity: how many accounts each team (touch model), each CSM or the whole team can work.

A list is cut at ``capacity`` accounts per group of :data:`CAPACITY_BY`: per touch-model team (``"team"``), per
CSM owner (``"csm"``; a pooled owner such as the tech-touch pool counts as one) or overall (``"total"``). The
evaluation's precision at capacity and the list's ``on_list`` use the same groups.
"""
from __future__ import annotations

import pandas as pd

__all__ = ["CAPACITY_BY", "capacity_groups"]

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
