"""Reasons in words: why an account is at risk, from the model's inputs or the scorecard's measures.

:func:`model_reasons` names the two or three signals that raise an account's risk most (positive contributions
to the log-odds against an average account); :func:`scorecard_reasons` the heaviest measures in the poor band.
Texts come from the message catalogue (``health.reason.*``) when a report's ``translate`` is given, else from
:data:`REASON_TEMPLATES` (English). :func:`input_labels` names the model's inputs.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from ..data import attributes as attrs_
from .model import ChurnRiskModel
from .scorecard import Scorecard

__all__ = ["REASON_TEMPLATES", "model_reasons", "scorecard_reasons", "input_labels"]

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
                  min_contribution: float = 0.05, leave_out: tuple = (), own_signals: tuple = (),
                  text: Callable | None = None) -> list[str]:
    """For each row, the ``k`` signals that raise its risk most (positive contributions to the log-odds against
    an average account, inputs of one signal added up), in words joined by '; '.

    Parameters
    ----------
    model : ChurnRiskModel
        The fitted data-driven score.
    frame : DataFrame
        The scored rows (the model's inputs).
    k : int
        Most reasons per row.
    translate : callable, optional
        The report's translator (``health.reason.*`` keys); None writes English.
    min_contribution : float
        Smallest contribution to the log-odds that counts as a reason.
    leave_out : tuple of str
        Inputs never named (besides the touch model, the team's own list).
    own_signals : tuple of str
        Inputs that are a signal of their own (another score's extra inputs).
    text : callable, optional
        ``text(signal, record, translate)`` writes one reason (default: the churn-risk list's words).

    Returns
    -------
    list of str
        One text per row of ``frame`` (empty when nothing raises its risk).
    """
    tr = translate or _default_translate
    text = text or _reason_text
    contrib = model.contributions(frame)
    # the touch model is the team's own list: naming it as a reason tells the team nothing
    contrib = contrib[[c for c in contrib.columns if not c.startswith("touch_model=") and c not in leave_out]]
    sig = [c if c in own_signals else _INPUT_REASON.get(c)
           or next((a + "=" for a in model.attributes if c.startswith(a + "=")), None)
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
            parts.append(text(s, rec, tr))
        out.append("; ".join(parts))
    return out


def scorecard_reasons(scorecard: Scorecard, frame: pd.DataFrame, *, k: int = 3, translate: Callable | None = None) -> list[str]:
    """For each row, the heaviest scorecard measures in the poor (then average) band, in words.

    Parameters
    ----------
    scorecard : Scorecard
        The weighted scorecard.
    frame : DataFrame
        The scored rows (the scorecard's measures).
    k : int
        Most reasons per row.
    translate : callable, optional
        The report's translator (``health.reason.*`` keys); None writes English.

    Returns
    -------
    list of str
        One text per row of ``frame``.
    """
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


def odds_ratio_text(importance, translate: Callable | None = None) -> list[str]:
    """The importance table's unpenalised odds ratios for reading, one per row: "1.23 (1.05–1.44)" (two decimals,
    two significant digits below 0.01), or why there is none (``health.or_reason.<glm_reason>``: e.g. "not
    estimable (separates the outcome)", :func:`csanalysis.health.importance_table`)."""
    def num(v: float) -> str:
        return f"{v:.2f}" if v >= 0.01 else f"{v:.2g}"

    out = []
    reasons = importance["glm_reason"] if "glm_reason" in importance else [None] * len(importance)
    for e, lo, hi, why in zip(importance["glm_or_per_sd"], importance["lower"], importance["upper"], reasons):
        if isinstance(why, str) or not all(np.isfinite([e, lo, hi])):
            why = why if isinstance(why, str) else "fit_failed"
            out.append(translate(f"health.or_reason.{why}") if translate else _OR_REASONS[why])
        else:
            out.append(f"{num(e)} ({num(lo)}–{num(hi)})")
    return out


_OR_REASONS = {"separates_outcome": "not estimable (separates the outcome)",
               "not_converged": "not estimated (the fit did not converge)",
               "fit_failed": "not estimated (the fit failed)"}


def separation_note(model, labels: dict, translate: Callable, outcome_prefix: str = "health") -> dict | None:
    """The values of ``health.separation_text``, the sentence that explains the importance table's inputs that
    separate the outcome (which inputs, in ``labels``' words; how many account-months they predict exactly; how
    many the other odds ratios rest on), or None when no input does. ``outcome_prefix``: whose words for the
    outcome (``<prefix>.separation_none`` / ``_all`` / ``_mixed``: "none churned", "none expanded").
    ``say("health.separation_text", **values)`` escapes them (labels may hold the data's own attribute levels)."""
    sep = getattr(model, "separation", None)
    if not sep or not sep.get("rows"):
        return None
    kind = "none" if sep["events"] == 0 else "all" if sep["events"] == sep["rows"] else "mixed"
    return {"inputs": translate("health.separation_list_separator").join(labels.get(n, n) for n in sep["inputs"]),
            "rows": f"{sep['rows']:,}",
            "kept": f"{model.n_train - sep['rows']:,}", "outcome": translate(f"{outcome_prefix}.separation_{kind}")}
