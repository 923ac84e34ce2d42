"""The house model of a result (projection.SBGFit): ``summary`` a property returning the result's own table,
``print_summary()`` printing it, ``_repr_html_`` its HTML, ``conf_int()`` the bounds of that table; each analysis
module lists its public names in ``__all__`` (every name there exists)."""
from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import csanalysis as cs
from csanalysis import cohorts as co
from csanalysis import impact
from csanalysis import metrics as mt
from csanalysis import projection as pj
from csanalysis import survival as sv

FIX = Path(__file__).parent / "fixtures" / "cohort10"
MODULES = ["cohorts", "survival", "metrics", "projection", "impact", "snapshot_risk", "overview"]


@pytest.fixture(scope="module")
def ds():
    return cs.load_dataset(FIX, as_of="2024-06-15")


def _house(res, table: pd.DataFrame, capsys, shown: pd.DataFrame | None = None) -> None:
    """``summary`` is a property (not a method) giving ``table``; print_summary shows its columns and _repr_html_
    those of ``shown`` (default: ``table``)."""
    assert isinstance(type(res).__dict__.get("summary"), property)
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


def test_program_effect(capsys):
    start = pd.Timestamp("2024-01-01")
    yes = impact.ProgramEffect(True, "", start, 12, hr=0.8, hr_lower=0.7, hr_upper=0.9, pp=0.4, pp_lower=0.2,
                               pp_upper=0.6, p_value=0.01)
    _house(yes, yes.summary, capsys)
    assert yes.summary.loc["hr"].tolist() == [0.8, 0.7, 0.9, 0.01]
    assert yes.conf_int().loc["pp"].tolist() == [0.2, 0.6]
    no = impact.ProgramEffect(False, "only 2 month(s) of churn data before the program started", start, 2)
    assert no.summary.isna().all().all()
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
