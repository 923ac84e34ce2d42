"""The whole NPS-and-revenue analysis of one Dataset, computed once (:func:`nps_revenue`), and its result
(:class:`NPSRevenue`) with the ``metrics.json`` figures."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..data.keys import IntegerPanel
from ..estimate import Estimate, json_safe
from ..reasons import Reason
from ..result import TableSummary
from .alignment import DEFAULT_HORIZONS, Alignment, align_responses
from .associations import category_outcomes, compare_measures, correlation
from .inference import DEFAULT_PRIMARY, comparisons, parse_primary, primary_test
from .models import churn_model, revenue_model
from .nonresponse import _coverage, _response_bias
from .statistic import NPSDifference, NPSResult, net_promoter_score, nps_by, nps_difference
from .survey import _check_period, responses

__all__ = ["NPSRevenue", "nps_revenue"]

@dataclass(kw_only=True)
class NPSRevenue(TableSummary):
    """NPS against revenue for one dataset (see :func:`nps_revenue`); built by keyword. ``available`` is False
    (with ``reason``) when there are no survey responses; every part is then empty. :attr:`summary` is the
    headline estimates with their intervals (:meth:`print_summary`, ``_repr_html_``), :meth:`conf_int` the
    intervals; :meth:`metrics` the numbers of ``metrics.json``."""

    available: bool
    reason: str | None
    horizons: tuple = ()
    primary_spec: str = DEFAULT_PRIMARY
    period: str = "quarter"
    segment: str | None = None
    alpha: float = 0.05
    latest: NPSResult | None = None
    latest_period: str | None = None
    change: NPSDifference | None = None
    previous_period: str | None = None
    by_period: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_segment: pd.DataFrame = field(default_factory=pd.DataFrame)
    coverage: pd.DataFrame = field(default_factory=pd.DataFrame)
    bias: pd.DataFrame = field(default_factory=pd.DataFrame)
    alignment: Alignment | None = None
    outcomes: dict = field(default_factory=dict)
    churn: dict = field(default_factory=dict)
    revenue: dict = field(default_factory=dict)
    correlation: dict = field(default_factory=dict)
    measures: dict = field(default_factory=dict)
    primary: dict = field(default_factory=dict)
    comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list = field(default_factory=list)
    sample: dict | None = None  # the seeded sample of customers the alignment and its models read, or None (all)

    @property
    def summary(self) -> pd.DataFrame:
        """The headline estimates, one row each (``measure`` named as in :meth:`metrics`, an outcome's with its
        horizon appended, e.g. ``…_6m``; ``horizon`` in months for the outcomes): the latest period's NPS, its change since the previous period, and at each horizon the
        churn risk ratio and risk difference of detractors against promoters and the MRR change difference of
        promoters against detractors (percentage points), with their (1 − ``alpha``) intervals; NaN where a
        number is not estimable. No rows when there are no survey responses (``reason``)."""
        rows = []
        if self.latest is not None:
            rows.append(("nps", None, self.latest.nps, self.latest.lower, self.latest.upper))
        if self.change is not None:
            rows.append(("nps_change", None, self.change.estimate, self.change.lower, self.change.upper))
        for k in self.horizons if self.available else ():
            ch = self.churn[k].effect("detractor", "promoter") if k in self.churn else {}
            rv = self.revenue[k].effect("promoter", "detractor") if k in self.revenue else {}
            for name, e, cols in (("churn_risk_ratio_detractor_vs_promoter", ch, ("rr", "rr_lower", "rr_upper")),
                                  ("churn_risk_difference_detractor_vs_promoter", ch, ("rd", "rd_lower", "rd_upper")),
                                  ("mrr_change_difference_promoter_vs_detractor_pp", rv, ("estimate", "lower", "upper"))):
                rows.append((f"{name}_{k}m", k, *(e.get(c) for c in cols)))
        out = pd.DataFrame(rows, columns=["measure", "horizon", "estimate", "lower", "upper"])
        out["horizon"] = out["horizon"].astype("Int64")
        out[["estimate", "lower", "upper"]] = out[["estimate", "lower", "upper"]].astype(float)  # None → NaN
        return out

    def conf_int(self) -> pd.DataFrame:
        """The intervals (``lower``, ``upper``) of :attr:`summary`, by measure."""
        return self.summary.set_index("measure")[["lower", "upper"]]

    def metrics(self) -> dict:
        """JSON-ready key figures: every estimate as {estimate, lower, upper, reason}."""
        why = self.reason
        out = {"available": self.available, "reason": why, "horizons": list(self.horizons), "period": self.period,
               "segment": self.segment, "primary_test": {"spec": self.primary_spec, **_missing(why or "")}}
        if not self.available:
            out.update({"nps": _missing(why), "categories": {}, "correlation": {}, "comparisons": [],
                        "nps_vs_other": {}, "coverage": {}, "alignment": {}})
            return out
        L = self.latest
        out["nps"] = _est(L.nps, L.lower, L.upper, None, n=L.n, method=L.method_, period=self.latest_period,
                          n_accounts=L.n_accounts)
        out["nps_change"] = (_est(self.change.estimate, self.change.lower, self.change.upper, None,
                                  p_value=self.change.p_value, since=self.previous_period)
                             if self.change is not None else _missing("only one survey period"))
        cov = self.coverage.iloc[-1] if len(self.coverage) else None
        out["coverage"] = ({"period": cov["period"], "customer_share": _est(cov["share"], cov["lower"], cov["upper"]),
                            "mrr_share": cov["mrr_share"], "respondents_per_account": cov["respondents_per_account"]}
                           if cov is not None else {})
        cats = {}
        for k, co in self.outcomes.items():
            per = {}
            for r in co.to_dict(orient="records"):
                def e(name, r=r):
                    why_c = None if r.get(name) == r.get(name) and r.get(name) is not None else (
                        f"no {r['category']} responses with a complete {k}-month window" if r["responses"] == 0
                        else f"no {r['category']} account stayed {k} months")
                    return _est(r.get(name), r.get(f"{name}_lower"), r.get(f"{name}_upper"), why_c)
                per[r["category"]] = {"responses": r["responses"], "churn_rate": e("churn_rate"),
                                      "mrr_change_pct": e("mrr_change"), "expansion_share": e("expansion_share"),
                                      "contraction_share": e("contraction_share")}
            cats[f"{k}m"] = per
        out["categories"] = cats
        out["correlation"] = {f"{k}m": {r["method"]: _est(r["estimate"], r["lower"], r["upper"], r["reason"], n=r["n"])
                                        for r in c.to_dict(orient="records")} for k, c in self.correlation.items()}
        out["effects"] = {}
        for k in self.horizons:
            ch, rv = self.churn.get(k), self.revenue.get(k)
            d = {}
            if ch is not None:
                e = ch.effect("detractor", "promoter")
                d["churn_risk_ratio_detractor_vs_promoter"] = (_est(e["rr"], e["rr_lower"], e["rr_upper"]) if e
                                                               else _missing(ch.reason or "not estimable"))
                d["churn_risk_difference_detractor_vs_promoter"] = (_est(e["rd"], e["rd_lower"], e["rd_upper"]) if e
                                                                    else _missing(ch.reason or "not estimable"))
                d["churn_rows"] = ch.n
                d["churn_dropped_missing"] = ch.dropped.get("dropped_missing", 0)
            if rv is not None:
                e = rv.effect("promoter", "detractor")
                d["mrr_change_difference_promoter_vs_detractor_pp"] = (_est(e["estimate"], e["lower"], e["upper"]) if e
                                                                       else _missing(rv.reason or "not estimable"))
                d["revenue_rows"] = rv.n
                d["revenue_dropped_missing"] = rv.dropped.get("dropped_missing", 0)
                d["revenue_r2"] = rv.r2
            out["effects"][f"{k}m"] = d
        p = self.primary
        out["primary_test"] = json_safe({k: v for k, v in p.items() if k != "dropped"})
        out["comparisons"] = [json_safe(r) for r in self.comparisons.to_dict(orient="records")]
        out["nps_vs_other"] = {}
        for k, m in self.measures.items():
            for r in m.to_dict(orient="records"):
                out["nps_vs_other"][f"{r['metric']}_{k}m"] = {
                    "nps": _est(r["nps"], r["nps_lower"], r["nps_upper"], r["reason"]),
                    "other": _est(r["other"], r["other_lower"], r["other_upper"], r["reason"]),
                    "difference": _est(r["difference"], r["difference_lower"], r["difference_upper"], r["reason"]),
                    "n": r["n"], "dropped": r["dropped"], "measure": m.attrs.get("other")}
        out["alignment"] = {f"{r['horizon']}m": json_safe(r)
                            for r in self.alignment.counts().to_dict(orient="records")}
        return out

def _missing(reason: str) -> dict:
    """An estimate of ``metrics.json`` with no number, and why."""
    return Estimate.missing(reason).to_dict(details=())

def _est(estimate, lower, upper, reason=None, **extra) -> dict:
    """An estimate of ``metrics.json`` with ``reason`` always written: the given one (a caveat beside a number, or
    why there is none), or, for an undefined number given none, "not estimable from these data"; ``extra``: further
    describing keys."""
    e = (Estimate("", estimate, lower, upper, note=reason) if reason
         else Estimate.of("", estimate, lower, upper, reason="not estimable from these data"))
    return {**e.brief(), **json_safe(extra)}

def nps_revenue(ds, horizons=DEFAULT_HORIZONS, *, primary: str = DEFAULT_PRIMARY, segment: str | None = None,
                period: str = "quarter", other: str = "csat", alpha: float = 0.05, n_boot: int = 1000,
                seed: int | None = 0, model_ds=None) -> NPSRevenue:
    """Everything the NPS-and-revenue report shows, computed once.

    NPS of the latest survey period (account bootstrap when accounts answered more than once, else the ``auto``
    interval) and its change since the previous period; NPS per period and per ``segment`` (latest period);
    coverage and the response-bias check (latest period); the alignment of every response with its account
    (:func:`align`) at each horizon (``horizons`` plus the primary test's); per category the churn rate and revenue
    change with bootstrap intervals; the churn (logistic) and revenue (OLS, segment and size controls) models; the
    pre-declared ``primary`` test with its MDE; every other comparison Holm-corrected and exploratory;
    score–revenue correlations; NPS against ``other`` (AUC, R²).

    Parameters
    ----------
    ds : Dataset
        The loaded data.
    horizons : iterable of int
        Horizons k in months for the outcomes.
    primary : str
        The pre-declared primary test (:func:`parse_primary`); its horizon is added to ``horizons``.
    segment : str, optional
        A customer attribute to split and adjust by (ignored, with a note, when it cannot be used).
    period : {"month", "quarter", "year"}
        The survey period.
    other : str
        Another satisfaction measure in the responses to compare with the NPS score.
    alpha : float
        Significance level: 0.05 gives 95% intervals.
    n_boot : int
        Bootstrap resamples (at least 200 for the NPS intervals).
    seed : int or None
        Seed of every bootstrap's random generator.
    model_ds : Dataset, optional
        The customers whose answers are aligned with later churn and revenue, for the alignment and everything
        built on it (categories, models, the primary test and comparisons, correlations, other measures): a
        seeded sample of whole customers (:func:`csanalysis.grouped.model_dataset`), its answers those of
        ``ds`` (the same rows) restricted to it. None: ``ds``. NPS, its change, coverage and the response-bias
        check always read ``ds``.

    Returns
    -------
    NPSRevenue
        Every part of the analysis; ``available`` is False (with ``reason``) when there are no survey responses.
    """
    _check_period(period)
    outcome, kp, a, b = parse_primary(primary)
    hs = tuple(sorted({int(h) for h in horizons} | {kp}))
    base = dict(horizons=hs, primary_spec=primary, period=period, segment=segment, alpha=alpha)
    if ds.nps is None or not len(ds.nps):
        return NPSRevenue(available=False, reason="the data have no NPS survey responses (no nps table)", **base)
    notes = []
    if segment and segment not in ds.customers.columns and (ds.attributes is None or segment not in set(ds.attributes["attribute"])):
        notes.append(Reason(f"segment {segment!r} is not a customer attribute: results are not split or adjusted by "
                            "segment", "nps.reason.segment_unknown", segment=segment))
        segment = None
        base["segment"] = None
    elif segment and segment in ds.customers.columns:
        from ..data.attributes import check_segment

        try:  # a numeric attribute, or one with too many levels, cannot split the results (data/attributes.py)
            check_segment(ds, segment, what="segment")
        except ValueError as exc:
            notes.append(f"{exc}. Results are not split or adjusted by segment")
            segment = None
            base["segment"] = None
    r = responses(ds, period=period, segment=segment)
    last_key = int(r["period"].max())
    lr = r[r["period"] == last_key]
    multi = lr["customer_id"].duplicated().any()
    latest = net_promoter_score(lr["score"], "auto", alpha=alpha, accounts=lr["customer_id"] if multi else None,
                                n_boot=max(n_boot, 200), seed=seed)
    by_period = nps_by(r, "period_label", account_col="customer_id", alpha=alpha, n_boot=max(n_boot, 200), seed=seed)
    by_segment = (nps_by(lr, "segment", account_col="customer_id", alpha=alpha, n_boot=max(n_boot, 200), seed=seed)
                  if segment else pd.DataFrame())
    change, prev_label = None, None
    keys = sorted(r["period"].unique())
    if len(keys) > 1:
        pr = r[r["period"] == keys[-2]]
        change = nps_difference(lr["score"], pr["score"], method="auto", alpha=alpha)
        prev_label = pr["period_label"].iloc[0]
    # coverage and the bias check are grouped engine queries over all customers (nps/nonresponse.py); only the
    # alignment reads an integer-keyed pandas panel, of the model's customers
    cov = _coverage(ds, r, period, alpha)
    bias = _response_bias(ds, r, cov, period, None, alpha) if len(cov) else pd.DataFrame()
    if model_ds is None or model_ds is ds:
        al = align_responses(ds, r, hs, IntegerPanel(ds))
    else:
        drawn = set(model_ds.customers["customer_id"].astype(str))
        al = align_responses(model_ds, r[r["customer_id"].isin(drawn)], hs, IntegerPanel(model_ds))
    base["sample"] = None if model_ds is None else model_ds.sample
    outcomes = {k: category_outcomes(al, k, alpha=alpha, n_boot=n_boot, seed=seed) for k in hs}
    ctrl = [c for c in ("segment", "mrr_base") if c in al.table.columns]
    churn = {k: churn_model(al, k, alpha=alpha) for k in hs}
    revenue = {k: revenue_model(al, k, controls=ctrl, alpha=alpha) for k in hs}
    prim = primary_test(al.table, primary, alpha=alpha, controls=ctrl if outcome == "revenue" else None)
    corr = {k: correlation(al, k, alpha=alpha, n_boot=n_boot, seed=seed) for k in hs}
    measures = {k: compare_measures(al, k, other, alpha=alpha, n_boot=n_boot, seed=seed) for k in hs} \
        if other in al.table.columns else {}
    comp = comparisons(churn, revenue, prim)
    return NPSRevenue(available=True, reason=None, latest=latest, latest_period=lr["period_label"].iloc[0], change=change,
                      previous_period=prev_label, by_period=by_period, by_segment=by_segment, coverage=cov, bias=bias,
                      alignment=al, outcomes=outcomes, churn=churn, revenue=revenue, correlation=corr,
                      measures=measures, primary=prim, comparisons=comp, notes=notes, **base)
