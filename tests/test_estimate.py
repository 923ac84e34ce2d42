"""The estimate contract of metrics.json (csanalysis/estimate.py), its JSON cleaner, the shared schema definitions
every report's schema refers to, and the results' parts of metrics.json built from it."""
import json
import math

import numpy as np
import pandas as pd
import pytest

from csanalysis import cohorts, impact, metrics, survival
from csanalysis.estimate import NOT_ESTIMABLE, Estimate, json_safe
from csanalysis.report import extras

NOTEBOOKS = ["00_data_overview", "01_cohort_retention", "02_churn_survival", "03_nps_revenue", "04_churn_risk",
             "05_cs_impact", "06_why_customers_leave", "07_lifecycle", "08_forecast"]


# ------------------------------------------------------------------------------------------- the type


def test_a_defined_estimate_writes_its_numbers_and_details():
    e = Estimate("arpa", np.float64(120.5), 110.0, np.float32(131.0), "MRR ÷ paying accounts", "bootstrap", "", np.int64(40))
    d = e.to_dict()
    assert d == {"estimate": 120.5, "lower": 110.0, "upper": 131.0, "formula": "MRR ÷ paying accounts",
                 "interval": "bootstrap", "n": 40}
    assert type(d["estimate"]) is float and type(d["n"]) is int and "reason" not in d
    assert e.defined and e.reason is None
    assert e.to_dict(details=(), always_reason=True) == {"estimate": 120.5, "lower": 110.0, "upper": 131.0, "reason": None}
    # a caveat on a defined number: a note (metrics' shape) or, where the reason is always written, the reason
    assert Estimate("x", 1.0, note="accounts paying in 2024-12").to_dict(details=()) == {
        "estimate": 1.0, "lower": None, "upper": None, "note": "accounts paying in 2024-12"}
    assert Estimate("x", 1.0, note="too few bootstrap samples").to_dict(details=(), always_reason=True) == {
        "estimate": 1.0, "lower": None, "upper": None, "reason": "too few bootstrap samples"}


@pytest.mark.parametrize("value", [np.nan, None, np.inf, -np.inf])
def test_an_undefined_estimate_is_null_with_its_reason(value):
    e = Estimate("ltv", value, np.nan, np.inf, note="no churn observed")
    d = e.to_dict(details=())
    assert d == {"estimate": None, "lower": None, "upper": None, "reason": "no churn observed"}
    assert json.dumps(d, allow_nan=False)  # strict JSON
    assert e.reason == "no churn observed"
    assert Estimate("ltv", value).to_dict(details=(), always_reason=True)["reason"] == NOT_ESTIMABLE
    assert Estimate.missing("no cohort").to_dict(details=()) == {"estimate": None, "lower": None, "upper": None,
                                                                 "reason": "no cohort"}


def test_a_reason_given_with_of_applies_only_to_an_undefined_number():
    assert Estimate.of("s", 0.8, 0.7, 0.9, reason="nobody followed").to_dict(details=(), always_reason=True) == {
        "estimate": 0.8, "lower": 0.7, "upper": 0.9, "reason": None}
    assert Estimate.of("s", float("nan"), reason="nobody followed").to_dict(details=())["reason"] == "nobody followed"


@pytest.mark.parametrize("field", ["estimate", "lower", "upper"])
def test_a_string_or_a_list_is_no_estimate(field):
    kw = {"estimate": 0.5, "lower": 0.4, "upper": 0.6, field: "0.5"}
    with pytest.raises(TypeError, match=f"estimate churn: {field} must be a number"):
        Estimate("churn", **kw).to_dict()
    with pytest.raises(TypeError, match=field):
        Estimate("churn", **{**kw, field: [0.5]}).to_dict()


def test_json_safe_gives_strict_json_and_is_idempotent():
    raw = {"a": np.float64("nan"), "b": np.int32(3), "c": [np.inf, 1.5, np.bool_(True)], 4: (pd.Timestamp("2024-03-01"),),
           "d": pd.Timestamp("2024-03-01 12:30"), "e": {"f": -np.inf, "g": "text", "h": None}}
    out = json_safe(raw)
    assert out == {"a": None, "b": 3, "c": [None, 1.5, True], "4": ["2024-03-01"], "d": "2024-03-01T12:30:00",
                   "e": {"f": None, "g": "text", "h": None}}
    assert type(out["b"]) is int and type(out["c"][2]) is bool
    assert json_safe(out) == out
    json.dumps(out, allow_nan=False)


def test_metrics_keeps_the_one_estimate_type():
    assert metrics.Estimate is Estimate  # the subscription metrics build the same type the contract defines


# ------------------------------------------------------------------------------------------- the schemas


def _refs(node, found=None):
    found = [] if found is None else found
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                found.append(v)
            else:
                _refs(v, found)
    elif isinstance(node, list):
        for v in node:
            _refs(v, found)
    return found


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_every_schema_refers_to_the_shared_definitions_and_every_reference_resolves(notebook):
    schema = json.loads((extras.SCHEMAS / f"{notebook}.json").read_text(encoding="utf-8"))
    refs = _refs(schema)
    assert any(r.startswith("definitions.json#") for r in refs)
    # no schema keeps a copy of a shared definition
    assert not set(schema.get("$defs", {})) & {"estimate", "headline", "date"}
    shared = json.loads((extras.SCHEMAS / extras.DEFINITIONS).read_text(encoding="utf-8"))
    for ref in refs:
        doc, _, pointer = ref.partition("#/$defs/")
        assert doc in ("", extras.DEFINITIONS), ref
        assert pointer in (shared if doc else schema)["$defs"], ref
    extras.metrics_validator(notebook).iter_errors({})  # the validator builds with the shared file registered


def _estimate_properties(notebook):
    """The top-level properties of a report's schema that are an estimate."""
    schema = json.loads((extras.SCHEMAS / f"{notebook}.json").read_text(encoding="utf-8"))
    return [k for k, v in schema.get("properties", {}).items() if v.get("$ref") == "definitions.json#/$defs/estimate"]


@pytest.mark.parametrize("notebook", [nb for nb in NOTEBOOKS if _estimate_properties(nb)])
def test_each_schema_rejects_a_broken_estimate(notebook):
    v = extras.metrics_validator(notebook)
    for prop in _estimate_properties(notebook):
        def errors_at(e):
            return [err for err in v.iter_errors({prop: e}) if list(err.absolute_path)[:1] == [prop]]
        assert not errors_at({"estimate": 0.5, "lower": 0.4, "upper": 0.6})
        assert not errors_at({"estimate": 0.5, "lower": 0.4, "upper": 0.6, "reason": None})
        assert not errors_at({"estimate": None, "lower": None, "upper": None, "reason": "no data"})
        assert errors_at({"estimate": 0.5, "upper": 0.6}), (notebook, prop, "lower missing")
        assert errors_at({"estimate": "0.5", "lower": 0.4, "upper": 0.6}), (notebook, prop, "string estimate")
        assert errors_at({"estimate": None, "lower": None, "upper": None}), (notebook, prop, "null without a reason")
        assert errors_at({"estimate": None, "lower": None, "upper": None, "reason": None}), (notebook, prop)


def test_check_metrics_rejects_an_estimate_missing_lower_or_with_a_string_estimate():
    ok = {"as_of": "2024-06-15", "headline": [{"label": "x", "value": "1"}], "segment": "plan",
          "s12_overall": {"estimate": 0.8, "lower": 0.7, "upper": 0.9, "reason": None}, "s12_by_segment": {},
          "median_lifetime_months": {"estimate": None, "lower": None, "upper": None, "reason": "not reached"},
          "logrank": {"p_value": 0.3}, "ltv": {}}
    extras.check_metrics("02_churn_survival", ok)
    with pytest.raises(extras.MetricsSchemaError, match="s12_overall: 'lower' is a required property"):
        extras.check_metrics("02_churn_survival", {**ok, "s12_overall": {"estimate": 0.8, "upper": 0.9}})
    with pytest.raises(extras.MetricsSchemaError, match="s12_overall: estimate must be a number or null"):
        extras.check_metrics("02_churn_survival", {**ok, "s12_overall": {"estimate": "0.8", "lower": 0.7, "upper": 0.9}})
    # an estimate where the schema says nothing (inside a free object) is held to the contract too
    with pytest.raises(extras.MetricsSchemaError, match="s12_by_segment.Pro: estimate must be a number or null"):
        extras.check_metrics("02_churn_survival", {**ok, "s12_by_segment": {"Pro": {"estimate": "x", "lower": 1, "upper": 2}}})
    with pytest.raises(extras.MetricsSchemaError, match="s12_by_segment.Pro: estimate is null without a reason"):
        extras.check_metrics("02_churn_survival", {**ok, "s12_by_segment": {"Pro": {"estimate": None, "lower": 0.1,
                                                                                    "upper": None, "reason": None}}})


# ------------------------------------------------------------------------------------------- results' parts


def test_survival_table_and_ltv_parts():
    t = pd.DataFrame([{"group": "Pro", "S(12)": 0.8, "S(12) lower": 0.7, "S(12) upper": 0.9},
                      {"group": "Basic", "S(12)": np.nan, "S(12) lower": np.nan, "S(12) upper": np.nan}])
    overall = pd.Series({"group": "all", "S(12)": 0.75, "S(12) lower": 0.7, "S(12) upper": 0.8,
                         "median": None, "median lower": 30.0, "median upper": None}, dtype=object)
    m = survival.table_metrics(t, overall, 12)
    assert m["median_lifetime_months"] == {"estimate": None, "lower": 30.0, "upper": None, "reason": "not reached"}
    assert m["s12_overall"] == {"estimate": 0.75, "lower": 0.7, "upper": 0.8, "reason": None}
    assert m["s12_by_segment"]["Pro"]["reason"] is None
    assert m["s12_by_segment"]["Basic"] == {"estimate": None, "lower": None, "upper": None,
                                            "reason": "no customer of this group was followed for 12 months"}
    ltv = pd.DataFrame({"method": ["survival", "naive"], "formula": ["f1", "f2"], "estimate": [900.0, np.nan],
                        "lower": [800.0, np.nan], "upper": [1000.0, np.nan]})
    for history in (False, True):
        got = survival.ltv_metrics(ltv, history_left_out=history)
        assert got["survival"] == {"estimate": 900.0, "lower": 800.0, "upper": 1000.0, "formula": "f1", "reason": None}
        assert got["naive"]["estimate"] is None and got["naive"]["formula"] == "f2"
        assert ("calendar history" in got["naive"]["reason"]) is history
    assert survival.logrank_metrics(None) == {"p_value": None, "reason": "one group only: nothing to compare"}
    assert survival.cox_metrics(None)["ph_check"]["reason"] == "no covariates available"


def test_pooled_retention_part():
    curve = pd.DataFrame({"period": [0, 1, 2, 3], "retention": [1.0, 0.9, 0.85, np.nan], "lower": [1.0, 0.85, 0.8, np.nan],
                          "upper": [1.0, 0.95, 0.9, np.nan], "customers_observed": [100, 90, 50, 0]})
    m = cohorts.pooled_metrics(curve, period="month", as_of="2024-12-31", n_boot=50, at=(1, 3, 6))
    assert m["logo_retention"]["1"] == {"estimate": 0.9, "lower": 0.85, "upper": 0.95, "periods": 1, "months": 1,
                                        "customers_observed": 90}
    for k in ("3", "6"):  # period 3 is NaN, period 6 is not in the curve: no number, with the reason
        assert m["logo_retention"][k]["estimate"] is None and "customers_observed" not in m["logo_retention"][k]
        assert m["logo_retention"][k]["reason"] == f"no cohort has been observed for {k} month(s) after its start by as_of 2024-12-31"
    assert m["logo_retention_12m_by_segment"] is None and "(50 replicates)" in m["logo_retention_method"]
    by = pd.DataFrame({"plan": ["Pro", "Pro", "Basic", "Basic"], "period": [0, 4, 0, 4], "retention": [1.0, np.nan, 1.0, 0.5],
                       "lower": [1.0, np.nan, 1.0, 0.4], "upper": [1.0, np.nan, 1.0, 0.6]})
    q = cohorts.pooled_metrics(curve, period="quarter", as_of="2024-12-31", n_boot=50, by="plan", by_curve=by)
    assert q["logo_retention"]["1"]["months"] == 3
    assert q["logo_retention_12m_by_segment"]["Basic"] == {"estimate": 0.5, "lower": 0.4, "upper": 0.6}  # period 4 = 12 months
    assert q["logo_retention_12m_by_segment"]["Pro"]["reason"].startswith("no customer of this group")


def test_rates_part_takes_the_last_complete_month():
    rows = []
    for period, prov in ((pd.Timestamp("2024-01-01"), False), (pd.Timestamp("2024-02-01"), False),
                         (pd.Timestamp("2024-03-01"), True)):
        for m in metrics.RATE_METRICS:
            rows.append({"period": period, "metric": m, "estimate": 0.1 if m != "nrr_12m" else np.nan, "lower": 0.05,
                         "upper": 0.2, "formula": metrics.FORMULAS[m], "interval": "Wilson",
                         "note": "" if m != "nrr_12m" else "no customer paying 12 months earlier", "provisional": prov})
    r = pd.DataFrame(rows)
    m = metrics.rates_metrics(r)
    assert m["rates_month"] == pd.Timestamp("2024-02-01")
    assert m["grr_12m"]["estimate"] == 0.1 and m["grr_12m"]["formula"] == metrics.FORMULAS["grr_12m"]
    assert m["nrr_12m"]["estimate"] is None and m["nrr_12m"]["reason"] == "no customer paying 12 months earlier"
    none = metrics.rates_metrics(r.assign(provisional=True))
    assert none["quick_ratio"] == {"estimate": None, "lower": None, "upper": None, "reason": "no complete month"}


def test_program_effect_part():
    start = pd.Timestamp("2023-07-01")
    no = impact.ProgramEffect(estimable=False, reason="only 2 month(s) of churn data before the program started",
                              program_start=start, pre_months=2)
    m = no.metrics()
    assert m["program_start"] == "2023-07-01" and m["estimable"] is False
    for k in ("hazard_ratio", "churn_prevented_pp", "cumulative_roi"):
        assert m[k]["estimate"] is None and m[k]["reason"] == no.reason
    yes = impact.ProgramEffect(estimable=True, reason="", program_start=start, pre_months=12, hr=0.8, hr_lower=0.7,
                               hr_upper=0.9, pp=0.4, pp_lower=0.2, pp_upper=0.6, adjusted_for=("plan",))
    assert yes.metrics()["cumulative_roi"]["reason"] == "no cost table (cs_costs)"
    roi = pd.DataFrame({"cumulative_roi": [0.1, 0.5], "cumulative_roi_lower": [-0.2, 0.1], "cumulative_roi_upper": [0.3, 0.9]})
    m = yes.metrics(roi)
    assert m["hazard_ratio"] == {"estimate": 0.8, "lower": 0.7, "upper": 0.9, "reason": None}
    assert m["cumulative_roi"] == {"estimate": 0.5, "lower": 0.1, "upper": 0.9, "reason": None}
    assert m["adjusted_for"] == ["plan"] and json.dumps(m, allow_nan=False)
    assert math.isclose(m["churn_prevented_pp"]["estimate"], 0.4)
