"""The churn-risk list: accounts ranked by risk with their reasons, cut at the teams' capacity.

:func:`risk_list` ranks every paying account at the scoring date by risk, gives the listed ones their reasons
in words, cuts the list at the team's capacity and marks the accounts new since the previous list;
:data:`LIST_COLUMNS` documents the CSV layout for a CRM import (:func:`list_layout`), :func:`team_lists` splits
it by touch model and :func:`read_list` reads an earlier one back.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..spreadsheet import restore
from .analysis import ChurnRisk
from .capacity import rank_within_capacity
from .reasons import model_reasons, scorecard_reasons
from .signals import TOUCH_MODELS

__all__ = ["LIST_COLUMNS", "LIST_SCORES", "RANK_BY", "risk_list", "list_layout", "team_lists", "read_list"]

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


LIST_SCORES = ("model", "scorecard")  # the score that ranks the list (risk_list ``by``)
RANK_BY = ("probability", "arr_at_risk")  # the order of the list (risk_list ``rank_by``)


def risk_list(result: ChurnRisk, *, capacity: int | None = None, capacity_by: str | None = None,
              by: str = "model", rank_by: str = "probability", previous: pd.DataFrame | None = None,
              pseudonymise: bool = False, translate: Callable | None = None, k_reasons: int = 3) -> pd.DataFrame:
    """The churn-risk list at the scoring date in the layout of :data:`LIST_COLUMNS`.

    Every paying account is ranked (``rank_by`` ``probability`` or ``arr_at_risk``, by the data-driven ``model``
    or the calibrated ``scorecard``); ``on_list`` marks the accounts within capacity: the top ``capacity``
    accounts of each touch-model team (``capacity_by="team"``), of each CSM owner (``"csm"``; a pooled owner
    such as the tech-touch pool counts as one) or overall (``"total"``); defaults from the result. ``previous`` (an earlier
    list, same layout) sets ``new_on_list``. ``pseudonymise`` replaces account ids by keyed pseudonyms
    (data/pseudonym.py; stable across runs, so lists stay comparable).

    Parameters
    ----------
    result : ChurnRisk
        The churn-risk analysis (:func:`churn_risk`).
    capacity : int, optional
        Accounts each team (or owner, or the whole list) can work (None: the result's).
    capacity_by : {"team", "csm", "total"}, optional
        Whose capacity (None: the result's).
    by : {"model", "scorecard"}
        The score that ranks.
    rank_by : {"probability", "arr_at_risk"}
        Rank by the churn probability or by the ARR it puts at risk.
    previous : DataFrame, optional
        An earlier list in the same layout (sets ``new_on_list``).
    pseudonymise : bool
        Replace account ids by keyed pseudonyms.
    translate : callable, optional
        The report's translator for the reasons (None: English).
    k_reasons : int
        Most reasons per account.

    Returns
    -------
    DataFrame
        Every paying account, ranked, in the layout of :data:`LIST_COLUMNS`.
    """
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
    df, cur = rank_within_capacity(df, cur, [key, "arr", "customer_id"], [False, False, True],
                                   result.capacity if capacity is None else capacity,
                                   result.capacity_by if capacity_by is None else capacity_by)
    listed = df["on_list"].to_numpy() == 1
    reasons = np.full(len(df), "", dtype=object)
    if listed.any():
        sub = cur[listed]
        reasons[listed] = (model_reasons(result.model, sub, k=k_reasons, translate=translate) if by == "model"
                           else scorecard_reasons(result.scorecard, sub, k=k_reasons, translate=translate))
    df["reasons"] = reasons
    if pseudonymise:
        from ..data.pseudonym import pseudonymise_ids

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
        from ..data.pseudonym import looks_pseudonymised

        if looks_pseudonymised(df["customer_id"]) != pseudonymised:
            raise ValueError(f"previous list {path} holds {'raw ids' if pseudonymised else 'pseudonymised ids'} and this "
                             f"run's are {'pseudonymised' if pseudonymised else 'raw'}: a list is followed up only by "
                             "runs of the same kind (run with or without --pseudonymise as the list was)")
    return df
