"""The house model of a result (projection.SBGFit): ``summary`` a property returning the result's own table,
``print_summary()`` printing it, ``_repr_html_`` its HTML, ``conf_int()`` the bounds of that table; each analysis
module lists its public names in ``__all__`` (every name there exists). The health and NPS results are built
from a small generated world (400 customers, 24 months)."""
from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import csanalysis as cs
from csanalysis import cohorts as co
from csanalysis import health, impact, nps
from csanalysis import metrics as mt
from csanalysis import projection as pj
from csanalysis import survival as sv

from conftest import generated_world

FIX = Path(__file__).parent / "fixtures" / "cohort10"
MODULES = ["cohorts", "survival", "metrics", "projection", "impact", "snapshot_risk", "overview", "result", "health",
           "health.analysis", "health.evaluation", "nps", "nps.statistic", "nps.models", "nps.analysis",
           "nps.alignment"]


@pytest.fixture(scope="module")
def ds():
    return cs.load_dataset(FIX, as_of="2024-06-15")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A small generated world with usage and survey responses: (DemoData, Dataset)."""
    return generated_world(tmp_path_factory, "result_model", n_customers=400, months=24, seed=3)


def _house(res, table: pd.DataFrame, capsys, shown: pd.DataFrame | None = None) -> None:
    """``summary`` is a property (not a method) giving ``table``; print_summary shows its columns and _repr_html_
    those of ``shown`` (default: ``table``)."""
    assert isinstance(inspect.getattr_static(type(res), "summary"), property)  # a property, here or in a base
    pd.testing.assert_frame_equal(res.summary, table)
    res.print_summary()
    printed = capsys.readouterr().out
    html = res._repr_html_()
    assert html.lstrip().startswith("<table") and "</table>" in html
    for col in [c for c in table.columns if c != "sentence"][:4]:
        assert str(col) in printed
    for col in [c for c in (table if shown is None else shown).columns if c != "sentence"][:4]:
        assert f"<th>{col}</th>" in html


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist_and_are_public(name):
    mod = importlib.import_module(f"csanalysis.{name}")
    assert mod.__all__ and len(set(mod.__all__)) == len(mod.__all__)
    assert all(hasattr(mod, n) and not n.startswith("_") for n in mod.__all__)


def test_cohort_retention(ds, capsys):
    res = co.cohort_retention(ds, min_cohort_size=1, n_boot=20)
    _house(res, res.table(), capsys, shown=res.matrix)  # the HTML: the matrix in percent (as before)
    lo, hi = res.conf_int()
    assert lo is res.lower and hi is res.upper
    # the HTML keeps the matrix's percent format (unchanged)
    assert "80%" in res._repr_html_()  # January cohort, month 1: 4 of 5


def test_logrank_and_cox(ds, capsys):
    test = sv.logrank(ds, "plan")
    _house(test, test.pairwise, capsys)
    test.print_summary()
    assert f"{test.statistic:.3f}" in capsys.readouterr().out
    cox = sv.cox_drivers(ds, ["plan"], ph_check=False)
    _house(cox, cox.hazard_ratios, capsys)
    assert "sentence" not in cox._repr_html_()
    ci = cox.conf_int()
    assert list(ci.columns) == ["lower", "upper"] and list(ci.index) == list(cox.hazard_ratios["term"])
    np.testing.assert_array_equal(ci["lower"].to_numpy(), cox.hazard_ratios["lower"].to_numpy())


def test_spell_survival(ds, capsys):
    res = sv.spell_survival(ds, n_boot=20, min_spells=1)
    _house(res, res.table, capsys)


def test_churn_summary_and_ltv(ds, capsys):
    churn = mt.churn_summary(ds, 6)
    _house(churn, churn.table(), capsys)
    value = mt.ltv(ds, window=6, n_boot=20)
    _house(value, value.table, capsys)


def test_sbg_backtest(capsys):
    alive = np.array([1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173])  # paper's "regular" segment
    bt = pj.backtest_sbg(alive, 7)
    _house(bt, bt.table, capsys)
    bt.print_summary()
    assert f"{bt.mae_pp:.3f} pp" in capsys.readouterr().out


def test_churn_risk_and_evaluation(world, ds, capsys):
    res = health.churn_risk(world[1], n_boot=20, test_months=3)
    assert res.evaluated and set(res.evaluations) >= {"scorecard", "model"}
    _house(res, pd.DataFrame([e.row() for e in res.evaluations.values()]), capsys)
    ci = res.conf_int()
    assert list(ci.columns) == ["lower", "upper"] and ci.index.names == ["score", "measure"]
    wide = res.summary.set_index("score")
    for score in res.evaluations:
        for k in ("auc", "lift_top_decile", "capture_top_decile", "precision_at_capacity"):
            assert ci.loc[(score, k)].tolist() == [wide.loc[score, f"{k} lower"], wide.loc[score, f"{k} upper"]]
    ev = res.evaluations["model"]
    measures = ["auc", "lift_top_decile", "capture_top_decile", "precision_at_capacity", "observed_rate"]
    table = pd.DataFrame({"measure": measures + ["brier", "mean_predicted"],
                          "estimate": [getattr(ev, k)["estimate"] for k in measures] + [ev.brier, ev.mean_predicted],
                          "lower": [getattr(ev, k)["lower"] for k in measures] + [np.nan, np.nan],
                          "upper": [getattr(ev, k)["upper"] for k in measures] + [np.nan, np.nan],
                          "reason": [getattr(ev, k)["reason"] for k in measures] + [None, None]})
    _house(ev, table, capsys)
    assert list(ev.conf_int().index) == measures
    assert ev.conf_int().loc["auc", "lower"] <= ev.auc["estimate"] <= ev.conf_int().loc["auc", "upper"]
    # the observed churn rate: the share of test rows that churned
    assert ev.summary.set_index("measure").loc["observed_rate", "estimate"] == pytest.approx(res.test["churned"].mean())
    # the data-driven score: its inputs' importance, built by keyword
    model = res.model
    _house(model, model.importance.drop(columns=["strength"]), capsys)
    imp = model.importance.set_index("input")
    pd.testing.assert_frame_equal(model.conf_int(), imp[["lower", "upper"]])
    assert (model.conf_int()["lower"] <= imp["glm_or_per_sd"]).all()
    with pytest.raises(TypeError):
        health.ChurnRiskModel(model.features, model.mean_, model.scale_, model.coef_, model.intercept_, model.C,
                              model.attributes, model.n_train, model.events_train, model.train_months)
    # the band history and the declined list
    bh = health.band_history(world[1], months=3)
    _house(bh, bh.table, capsys)
    ci = bh.conf_int("mrr_share")
    assert list(ci.index.names) == ["month", "band"] and len(ci) == 9  # 3 months × 3 bands
    np.testing.assert_array_equal(ci["upper"].to_numpy(), bh.table["mrr_share_upper"].to_numpy())
    with pytest.raises(ValueError, match="share="):
        bh.conf_int("share")
    lst = health.risk_list(res)
    earlier = pd.to_datetime(lst["scoring_date"]) - pd.offsets.MonthEnd(1)
    prev = lst.assign(rank=lst["rank"].to_numpy()[::-1], scoring_date=earlier.astype(lst["scoring_date"].dtype))
    dec = health.declined_accounts(lst, prev, source="previous_month")
    assert dec.reason is None and len(dec.table) > 0
    _house(dec, dec.table, capsys)
    # too little history: nothing evaluated, an empty summary that still prints
    short = health.churn_risk(ds, capacity=3, n_boot=20)
    assert not short.evaluated and short.summary.empty and short.conf_int().empty
    short.print_summary()
    assert "<table" in short._repr_html_()


def test_nps_results(world, ds, capsys):
    res = nps.nps_revenue(world[1], horizons=(3, 6), n_boot=200)
    assert res.available and res.change is not None
    # the NPS of one sample: its own labelled HTML table, the one-row summary printed
    r = res.latest
    assert isinstance(type(r).__dict__.get("summary"), property)
    assert r.summary.loc[0, "nps"] == r.nps and "method_reason" not in r.summary
    r.print_summary()
    assert "nps" in capsys.readouterr().out
    assert r._repr_html_().startswith("<table class='csanalysis-nps'>")
    assert r.conf_int().loc["nps"].tolist() == [r.lower, r.upper]
    d = res.change
    want = {k: v for k, v in d.to_dict().items() if k != "method"}
    _house(d, pd.DataFrame([want]), capsys)
    assert d.conf_int().loc["difference"].tolist() == [d.lower, d.upper] and d.lower <= d.estimate <= d.upper
    # a model of one outcome: its coefficients by term (the index is shown)
    m = res.churn[6]
    fit = m.result
    _house(m, pd.DataFrame({"coef": fit.params, "se": fit.bse, "lower": fit.conf_int()[0],
                            "upper": fit.conf_int()[1], "p": fit.pvalues}), capsys)
    m.print_summary()
    assert "detractor" in capsys.readouterr().out and "<th>detractor</th>" in m._repr_html_()
    pd.testing.assert_frame_equal(m.conf_int(), fit.conf_int().set_axis(["lower", "upper"], axis=1))
    none = nps.churn_model(res.alignment.rows(6).iloc[0:0], 6)
    assert none.result is None and none.summary.empty and list(none.conf_int().columns) == ["lower", "upper"]
    # the alignment: its counts per horizon
    _house(res.alignment, res.alignment.counts(), capsys)
    # the whole analysis: its headline estimates, the same numbers as metrics.json
    _house(res, res.summary, capsys)
    s = res.summary.set_index("measure")
    assert s.loc["nps", "estimate"] == r.nps and s.loc["nps_change", "lower"] == d.lower
    met = res.metrics()
    for k in res.horizons:
        for name in ("churn_risk_ratio_detractor_vs_promoter", "churn_risk_difference_detractor_vs_promoter",
                     "mrr_change_difference_promoter_vs_detractor_pp"):
            e = met["effects"][f"{k}m"][name]
            got = s.loc[f"{name}_{k}m", ["estimate", "lower", "upper"]].tolist()
            want = [np.nan if e[c] is None else e[c] for c in ("estimate", "lower", "upper")]
            np.testing.assert_allclose(got, want, rtol=1e-12)
            assert s.loc[f"{name}_{k}m", "horizon"] == k
    pd.testing.assert_frame_equal(res.conf_int(), s[["lower", "upper"]])
    # no survey responses: no rows, still printed
    empty = nps.nps_revenue(ds)
    assert not empty.available and empty.summary.empty and list(empty.summary.columns)[:3] == ["measure", "horizon",
                                                                                              "estimate"]
    empty.print_summary()
    capsys.readouterr()


def test_dataset_summary_is_a_property(ds):
    assert isinstance(type(ds).__dict__.get("summary"), property)
    rows = ds.summary.set_index("table")["rows"]
    # by hand from the fixture (README): paid months A 5, B 5, C 5, D 2, E 3, F 4, G 4, H 1, I 3, J 1; one spell
    # each and E's second; churned: D, E's first spell, H, J
    assert rows[["customers", "paid customer-months", "spells", "churn events", "reactivations"]].tolist() == [
        10, 33, 11, 4, 1]
    assert rows[["usage", "nps", "payments", "cs_activities", "cs_costs"]].isna().all()


def test_program_effect(capsys):
    start = pd.Timestamp("2024-01-01")
    yes = impact.ProgramEffect(estimable=True, reason="", program_start=start, pre_months=12, hr=0.8, hr_lower=0.7,
                               hr_upper=0.9, pp=0.4, pp_lower=0.2, pp_upper=0.6, p_value=0.01)
    _house(yes, yes.summary, capsys)
    assert yes.summary.loc["hr"].tolist() == [0.8, 0.7, 0.9, 0.01]
    assert yes.conf_int().loc["pp"].tolist() == [0.2, 0.6]
    no = impact.ProgramEffect(estimable=False, reason="only 2 month(s) of churn data before the program started",
                              program_start=start, pre_months=2)
    assert no.summary.isna().all().all()
    with pytest.raises(TypeError):  # built by keyword only
        impact.ProgramEffect(False, "why", start, 2)
    no.print_summary()
    assert "only 2 month(s)" in capsys.readouterr().out


def test_touched_association(capsys):
    yes = impact.TouchedAssociation(True, window=3, hr=0.73, lower=0.58, upper=0.91, rate_touched=0.015,
                                    rate_untouched=0.023)
    _house(yes, pd.DataFrame({"window": [3], "hr": [0.73], "lower": [0.58], "upper": [0.91],
                              "rate_touched": [0.015], "rate_untouched": [0.023]}), capsys)
    assert yes.conf_int().iloc[0].tolist() == [0.58, 0.91]
    no = impact.TouchedAssociation(False, "no cs_activities table")
    assert no.summary[["hr", "lower", "upper"]].isna().all().all()
