"""Testing NPS against revenue: the pre-declared primary comparison (with its minimum detectable effect), and
every other comparison of the models as exploratory, Holm-corrected within its family."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..estimate import Estimate
from ..stats.multitest import holm  # noqa: F401  (``nps.holm``, kept public; defined in stats.multitest)
from .models import churn_model, revenue_model

__all__ = ["DEFAULT_PRIMARY", "POWER", "parse_primary", "mde", "holm", "primary_test", "comparisons"]

DEFAULT_PRIMARY = "churn_6m_detractor_vs_promoter"
_PRIMARY_RE = r"^(churn|revenue)_(\d+)m_(detractor|passive|promoter)_vs_(detractor|passive|promoter)$"

POWER = 0.8  # for the minimum detectable effect


def parse_primary(spec: str) -> tuple[str, int, str, str]:
    """``"churn_6m_detractor_vs_promoter"`` → ("churn", 6, "detractor", "promoter")."""
    import re

    m = re.match(_PRIMARY_RE, str(spec).strip())
    if not m or m.group(3) == m.group(4):
        raise ValueError(f"primary={spec!r}: write <churn|revenue>_<k>m_<category>_vs_<category>, e.g. "
                         f"{DEFAULT_PRIMARY!r} or 'revenue_12m_promoter_vs_detractor' (two different categories)")
    return m.group(1), int(m.group(2)), m.group(3), m.group(4)


def mde(se: float, *, alpha: float = 0.05, power: float = POWER) -> float:
    """Minimum detectable effect on the scale of ``se`` (two-sided test at ``alpha`` with ``power``):
    (z₁₋α/₂ + z_power) · SE."""
    return float((norm.ppf(1 - alpha / 2) + norm.ppf(power)) * se) if se == se else float("nan")


def primary_test(table: pd.DataFrame, spec: str = DEFAULT_PRIMARY, *, alpha: float = 0.05, controls=None) -> dict:
    """The pre-declared primary comparison on an aligned table.

    Churn: risk ratio a ÷ b from the logistic model (:func:`churn_model`) with its delta-method interval and Wald
    p-value; revenue: the adjusted difference a − b in points (:func:`revenue_model`).

    Parameters
    ----------
    table : DataFrame
        ``Alignment.table``, or a table with ``customer_id``, ``category``, ``churned_k`` / ``mrr_change_k``.
    spec : str
        The comparison, ``<churn|revenue>_<k>m_<category>_vs_<category>`` (:func:`parse_primary`).
    alpha : float
        Significance level of the test and its interval.
    controls : list of str, optional
        Columns the model adjusts for (revenue: the model's default when None).

    Returns
    -------
    dict
        The spec's parts, ``measure`` (``risk_ratio`` or ``difference_pp``), ``estimate``, ``lower``, ``upper``,
        ``reason``, ``p_value``, ``significant`` (at ``alpha``), ``mde`` (the minimum detectable effect at 80% power
        on the same scale, from the observed standard error), the counts and the model's ``cov_type`` and
        ``dropped``.
    """
    outcome, k, a, b = parse_primary(spec)
    base = {"spec": spec, "outcome": outcome, "horizon": k, "a": a, "b": b, "alpha": alpha}
    if outcome == "churn":
        m = churn_model(table, k, pairs=((a, b),), controls=controls, alpha=alpha)
        e = m.effect(a, b)
        if not e:
            why = m.reason or f"no {a} or no {b} responses with a complete {k}-month window"
            return {**base, **Estimate.missing(why).to_dict(details=()),
                    "p_value": None, "significant": False, "mde": None, "n": m.n, "accounts": m.accounts,
                    "measure": "risk_ratio"}
        se = e["se_log_rr"]
        return {**base, "measure": "risk_ratio", "estimate": e["rr"], "lower": e["rr_lower"], "upper": e["rr_upper"],
                "reason": None, "p_value": e["p_value"], "significant": bool(e["p_value"] < alpha),
                "mde": float(np.exp(mde(se, alpha=alpha))) if se else None, "p_a": e["p_a"], "p_b": e["p_b"],
                "rd": e["rd"], "rd_lower": e["rd_lower"], "rd_upper": e["rd_upper"], "n": m.n, "accounts": m.accounts,
                "n_a": e["n_a"], "n_b": e["n_b"], "events_a": e["events_a"], "events_b": e["events_b"],
                "cov_type": m.cov_type, "dropped": m.dropped}
    m = revenue_model(table, k, pairs=((a, b),), **({"controls": controls} if controls is not None else {}), alpha=alpha)
    e = m.effect(a, b)
    if not e:
        why = m.reason or f"no {a} or no {b} stayers with a complete {k}-month window"
        return {**base, **Estimate.missing(why).to_dict(details=()),
                "p_value": None, "significant": False, "mde": None, "n": m.n, "accounts": m.accounts,
                "measure": "difference_pp"}
    return {**base, "measure": "difference_pp", "estimate": e["estimate"], "lower": e["lower"], "upper": e["upper"],
            "reason": None, "p_value": e["p_value"], "significant": bool(e["p_value"] < alpha),
            "mde": mde(e["se"], alpha=alpha), "n": m.n, "accounts": m.accounts, "n_a": e["n_a"], "n_b": e["n_b"],
            "cov_type": m.cov_type, "dropped": m.dropped}


def comparisons(churn: dict, revenue: dict, primary: dict) -> pd.DataFrame:
    """Every category comparison of the fitted models (``churn`` / ``revenue``: horizon → :class:`ModelResult`)
    in one table. The pre-declared primary comparison is labelled ``primary`` and not adjusted; the others are
    ``exploratory``, Holm-corrected within their family (churn, revenue) across pairs and horizons."""
    rows = []
    for outcome, models in (("churn", churn), ("revenue", revenue)):
        for k, m in models.items():
            for e in m.effects.to_dict(orient="records"):
                est = e["rr"] if outcome == "churn" else e["estimate"]
                lo = e["rr_lower"] if outcome == "churn" else e["lower"]
                hi = e["rr_upper"] if outcome == "churn" else e["upper"]
                is_primary = (outcome, k, e["a"], e["b"]) == (primary.get("outcome"), primary.get("horizon"),
                                                               primary.get("a"), primary.get("b"))
                rows.append({"family": outcome, "horizon": k, "a": e["a"], "b": e["b"],
                             "measure": "risk ratio" if outcome == "churn" else "difference (points)",
                             "estimate": est, "lower": lo, "upper": hi, "p_value": e["p_value"],
                             "role": "primary" if is_primary else "exploratory"})
    out = pd.DataFrame(rows, columns=["family", "horizon", "a", "b", "measure", "estimate", "lower", "upper", "p_value",
                                      "role"])
    out["p_holm"] = np.nan
    for fam in ("churn", "revenue"):
        sel = (out["family"] == fam) & (out["role"] == "exploratory")
        out.loc[sel, "p_holm"] = holm(out.loc[sel, "p_value"].to_numpy(float))
    out.loc[out["role"] == "primary", "p_holm"] = out.loc[out["role"] == "primary", "p_value"]
    return out
