"""The renewal calendar: the contracts renewing in the next 30, 90 and 180 days, with their ARR and churn risk.

The calendar is a view of the churn-risk list (:func:`~csanalysis.health.risklist.risk_list`): the same accounts
(paying at the scoring date), the same ARR (12 × MRR of the scoring month), churn probability and renewal date in
force at the scoring date (``renewal_date`` of ``customers``, or its history in ``customer_attributes``; for an
earlier scoring date the yearly anniversary, see :mod:`~csanalysis.health.signals`). An account is in the
calendar when its renewal falls 0 … ``max(windows)`` days after the scoring date; ``window_days`` is the first
window that holds it (30: within 30 days; 90: 31–90 days; 180: 91–180 days). Accounts whose renewal date in force
lies *before* the scoring date (a renewal date the export did not roll forward) are counted as ``overdue``, not
listed. :data:`CALENDAR_COLUMNS` documents the CSV layout.

**What the probability means.** ``churn_probability`` is the churn-risk score's probability of churning within
``horizon_months`` of the scoring date (calibrated on past scoring dates), not a probability of non-renewal: for a
renewal beyond the horizon it ranks the accounts by risk but does not cover the renewal itself.

**Summary** (:func:`renewal_summary`): per window, cumulative (renewing within 30, 90, 180 days): contracts, ARR
renewing, expected churns Σ p and expected ARR lost Σ p · ARR, each expectation with a (1 − ``alpha``)
*prediction* range: the quantiles of the churns and ARR lost when each account churns independently with its
probability (seeded simulation). The range covers the chance in which accounts churn given the probabilities,
not the error of the probabilities themselves.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["WINDOWS", "CALENDAR_COLUMNS", "renewal_calendar", "renewal_summary", "calendar_metrics"]

WINDOWS = (30, 90, 180)  # days after the scoring date

# The CSV layout of the calendar, in this order.
CALENDAR_COLUMNS = {
    "scoring_date": "reference date of the scores and of the calendar",
    "renewal_date": "renewal date in force at the scoring date",
    "days_to_renewal": "days from the scoring date to the renewal",
    "window_days": "the first window that holds the renewal: 30 (0-30 days), 90 (31-90) or 180 (91-180)",
    "customer_id": "account identifier (a keyed pseudonym when the risk list was pseudonymised)",
    "touch_model": "high, low or tech touch",
    "csm_owner": "customer-success manager",
    "mrr": "monthly recurring revenue in the scoring month",
    "arr": "annual recurring revenue renewing (12 × MRR)",
    "churn_probability": "probability of churning within horizon_months of the scoring date (the churn-risk score)",
    "horizon_months": "months the probability covers",
    "score_source": "which score gives the probability: model (data-driven) or scorecard",
    "arr_at_risk": "churn probability × ARR",
    "scorecard_band": "scorecard band (good, average, poor)",
    "on_risk_list": "1 when the account is also on the churn-risk list within the team's capacity, else 0",
}

_SIM_CELLS = 4_000_000  # simulations × accounts drawn at a time by renewal_summary (memory)

_NEEDS = ("scoring_date", "customer_id", "touch_model", "csm_owner", "mrr", "arr", "churn_probability",
          "horizon_months", "score_source", "arr_at_risk", "scorecard_band", "renewal_date", "days_to_renewal", "on_list")


def _check_windows(windows) -> tuple[int, ...]:
    w = tuple(int(x) for x in windows)
    if not w or any(x <= 0 for x in w) or list(w) != sorted(set(w)):
        raise ValueError(f"windows={tuple(windows)!r}: use increasing whole numbers of days above 0, e.g. {WINDOWS}")
    return w


def renewal_calendar(lst: pd.DataFrame, *, windows=WINDOWS) -> pd.DataFrame:
    """The accounts of the churn-risk list ``lst`` renewing 0 … ``max(windows)`` days after the scoring date, in the
    layout of :data:`CALENDAR_COLUMNS`, by renewal date (then ARR, largest first).

    Parameters
    ----------
    lst : DataFrame
        The churn-risk list (:func:`~csanalysis.health.risklist.risk_list`, layout ``LIST_COLUMNS``).
    windows : sequence of int
        Increasing windows in days after the scoring date.

    Returns
    -------
    DataFrame
        One row per account renewing within the last window; ``attrs["overdue"]`` holds the number of accounts whose
        renewal date in force lies before the scoring date and ``attrs["no_renewal_date"]`` those without one.
    """
    w = _check_windows(windows)
    missing = [c for c in _NEEDS if c not in lst.columns]
    if missing:
        raise ValueError(f"renewal_calendar: the risk list lacks column(s) {missing}; expected the layout of "
                         "health.LIST_COLUMNS (health.risk_list)")
    days = pd.to_numeric(lst["days_to_renewal"], errors="coerce")
    inside = (days >= 0) & (days <= w[-1])
    cal = lst.loc[inside.to_numpy()].copy()
    d = days[inside].to_numpy()
    cal["window_days"] = np.asarray(w)[np.searchsorted(np.asarray(w), d, side="left")]
    cal["on_risk_list"] = cal["on_list"].astype(int)
    cal = cal.assign(_rd=pd.to_datetime(cal["renewal_date"])).sort_values(
        ["_rd", "arr", "customer_id"], ascending=[True, False, True], kind="stable")
    out = cal[list(CALENDAR_COLUMNS)].reset_index(drop=True)
    out["days_to_renewal"] = out["days_to_renewal"].astype(int)
    out.attrs["overdue"] = int((days < 0).sum())
    out.attrs["no_renewal_date"] = int(days.isna().sum())
    out.attrs["windows"] = w
    return out


def renewal_summary(cal: pd.DataFrame, *, windows=None, alpha: float = 0.05, n_sim: int = 4000,
                    seed: int = 0) -> pd.DataFrame:
    """Per window, cumulative (renewing within 30, 90, 180 days): contracts, ARR, expected churns and expected
    ARR lost with their (1 − ``alpha``) prediction ranges (see the module docstring).

    Parameters
    ----------
    cal : DataFrame
        :func:`renewal_calendar`.
    windows : sequence of int, optional
        The windows (None: the calendar's).
    alpha : float
        1 − the ranges' level.
    n_sim : int
        Simulated outcomes for the ranges.
    seed : int
        Seed of the simulation.

    Returns
    -------
    DataFrame
        One row per window: window_days, contracts, arr, expected_churns (+ _low, _high), expected_arr_lost
        (+ _low, _high), probability_known (contracts with a probability).
    """
    w = _check_windows(windows if windows is not None else cal.attrs.get("windows", WINDOWS))
    p = pd.to_numeric(cal["churn_probability"], errors="coerce").to_numpy(dtype=float)
    arr = cal["arr"].to_numpy(dtype=float)
    days = cal["days_to_renewal"].to_numpy(dtype=float)
    known = ~np.isnan(p)
    rng = np.random.default_rng(seed)
    # one set of simulated outcomes for every window (each window's accounts are a subset of the next one's),
    # drawn in blocks of simulations: the same stream of uniforms row after row as one n_sim × accounts draw (a
    # Generator fills an array in order), without holding n_sim × accounts at once (3 GB at 100k customers)
    pk = np.where(known, p, 0.0)
    sels = [((days <= x), (days <= x) & known) for x in w]
    n_churns = [np.empty(n_sim, dtype=np.int64) for _ in w]
    losts = [np.empty(n_sim) for _ in w]
    # whole multiples of 64 simulations a block: the BLAS product below sums each row as one n_sim-row product
    # does only when the blocks keep its grouping of rows (tests/health/test_renewals.py checks the equality)
    step = max(64, _SIM_CELLS // max(len(cal), 1) // 64 * 64)
    for i in range(0, n_sim, step):
        churned = rng.random((min(step, n_sim - i), len(cal))) < pk[None, :]
        for j, (_, s) in enumerate(sels):
            c = churned[:, s]
            n_churns[j][i:i + len(c)] = c.sum(axis=1)
            losts[j][i:i + len(c)] = c.astype(float) @ arr[s]
        del churned
    rows = []
    for x, (sel, s), n_churn, lost in zip(w, sels, n_churns, losts):
        q = lambda v: np.quantile(v, [alpha / 2, 1 - alpha / 2]) if len(v) else (np.nan, np.nan)  # noqa: E731
        (c_lo, c_hi), (l_lo, l_hi) = q(n_churn), q(lost)
        rows.append({"window_days": x, "contracts": int(sel.sum()), "arr": float(arr[sel].sum()),
                     "probability_known": int(s.sum()),
                     "expected_churns": float(p[s].sum()), "expected_churns_low": float(c_lo),
                     "expected_churns_high": float(c_hi),
                     "expected_arr_lost": float((p[s] * arr[s]).sum()), "expected_arr_lost_low": float(l_lo),
                     "expected_arr_lost_high": float(l_hi)})
    return pd.DataFrame(rows)


def calendar_metrics(cal: pd.DataFrame, summary: pd.DataFrame, *, alpha: float = 0.05) -> dict:
    """The calendar's part of ``metrics.json``: per window (key: days) contracts, ARR renewing and the expected ARR
    lost as an estimate with its prediction range; the overdue and undated counts.

    Parameters
    ----------
    cal : DataFrame
        :func:`renewal_calendar`.
    summary : DataFrame
        :func:`renewal_summary` of ``cal``.
    alpha : float
        1 − the ranges' level (for the description).

    Returns
    -------
    dict
        ``{"renewals": {...}}``.
    """
    from ..estimate import Estimate

    level = f"{1 - alpha:.0%}"
    windows = {}
    for r in summary.to_dict(orient="records"):
        e = (Estimate("expected_arr_lost", r["expected_arr_lost"], r["expected_arr_lost_low"], r["expected_arr_lost_high"])
             if r["probability_known"] else Estimate.missing("no account renewing in this window has a churn probability"))
        windows[str(r["window_days"])] = {"contracts": r["contracts"], "arr": r["arr"],
                                          "expected_arr_lost": e.to_dict(details=())}
    return {"renewals": {
        "windows": windows,
        "overdue": cal.attrs.get("overdue", 0), "no_renewal_date": cal.attrs.get("no_renewal_date", 0),
        "method": ("accounts paying at the scoring date whose renewal date in force falls within the window; ARR = 12 x "
                   "MRR; expected ARR lost = sum of churn probability x ARR, the probability being the churn-risk "
                   f"score's within its horizon; the range is a {level} prediction range of the outcome under "
                   "independent churns with those probabilities (not the error of the probabilities)"),
    }}
