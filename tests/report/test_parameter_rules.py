"""Issue 18: parameter values are checked against each notebook's declared rules before the data are loaded
(exit 2 with the allowed values), the declared choices are exactly the ones the analyses accept, and file-valued
parameters resolve against the caller's working directory."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from csanalysis import cohorts, health, nps, periods
from csanalysis.data import cache
from csanalysis.data import load as loader
from csanalysis.report import parameters
from csanalysis.report.errors import ParameterError
from csanalysis.report.parameters import check_parameters
from csanalysis.report.run import run_report

CLI = str(Path(sys.executable).with_name("csanalysis"))


def _nb(name: str) -> Path:
    return parameters.discover([name])[0]


BAD = [  # (notebook, parameter, value, words the message must hold)
    ("04", "capacity_by", "foo", ["team", "csm", "total"]),
    ("04", "rank_by", "x", ["probability", "arr_at_risk"]),
    ("04", "list_score", "points", ["model", "scorecard"]),
    ("04", "calibration", "spline", ["logistic", "isotonic"]),
    ("04", "capacity", -5, ["≥ 0"]),
    ("04", "horizon_months", 0, ["≥ 1"]),
    ("01", "period", "week", ["month", "quarter", "year", "fiscal_year"]),
    ("01", "basis", "arr", ["logo", "revenue", "gross_revenue"]),
    ("01", "definition", "ever", ["active", "unbroken"]),
    ("01", "churn_window", 0, ["≥ 1"]),
    ("01", "gross_margin", 0, ["> 0", "≤ 1"]),
    ("01", "gross_margin", 1.5, ["> 0", "≤ 1"]),
    ("03", "survey_period", "week", ["month", "quarter", "year"]),
    ("03", "horizons", [6, 0], ["≥ 1"]),
    ("04", "scorecard", "no_such_card.yaml", ["no_such_card.yaml", "not a file"]),
    ("04", "previous_list", "no_such_list.csv", ["no_such_list.csv", "not a file"]),
    ("05", "costs", "no_such_costs.csv", ["no_such_costs.csv", "not a file"]),
]


@pytest.mark.parametrize("nb, name, value, words", BAD, ids=[f"{b[1]}={b[2]}" for b in BAD])
def test_bad_value_refused_before_the_data_are_loaded(nb, name, value, words, tmp_path, monkeypatch):
    def no_load(*a, **k):
        raise AssertionError("the data were loaded before the parameters were checked")

    monkeypatch.setattr(cache, "prime", no_load)  # the run's one load
    monkeypatch.setattr(loader, "load_dataset", no_load)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ParameterError) as err:
        run_report([nb], data=tmp_path, params={name: value}, out=tmp_path / "reports")
    assert err.value.exit_code == 2
    for w in [name, *words]:
        assert w in str(err.value)
    assert not (tmp_path / "reports").exists()


def test_every_declared_value_is_accepted_and_a_list_archive_may_be_a_new_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for path in parameters.discover():
        for name, rule in parameters.rules_of(path).items():
            for value in rule.get("choices", []):
                assert check_parameters([path], {name: value})[path][name] == value
    p04 = _nb("04")
    typed = check_parameters([p04], {"capacity": 0, "horizon_months": 1, "list_archive": "lists/new"})[p04]
    assert typed["capacity"] == 0 and typed["horizon_months"] == 1
    assert typed["list_archive"] == str(tmp_path / "lists" / "new") and not (tmp_path / "lists").exists()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ParameterError, match="is a file, not a folder"):
        check_parameters([p04], {"list_archive": "afile"})


def test_every_rule_names_a_parameter_of_its_notebook_and_allows_its_default():
    seen = 0
    for path in parameters.discover():
        spec = parameters.parameters_of(path)
        for name, rule in parameters.rules_of(path).items():
            assert name in spec, f"{path.stem}: rule for unknown parameter {name}"
            assert set(rule) <= {"choices", "min", "max", "above", "file", "folder"}, (path.stem, name)
            default = eval(spec[name]["default"])  # noqa: S307 - the notebook's own literal
            if default is not None and "choices" in rule:
                assert default in rule["choices"], (path.stem, name)
            seen += 1
    assert seen >= 15


def test_declared_choices_are_the_ones_the_analyses_accept():
    rules = {p.stem[:2]: parameters.rules_of(p) for p in parameters.discover()}
    assert set(rules["01"]["period"]["choices"]) == set(periods.PERIOD_MONTHS)
    assert set(rules["01"]["basis"]["choices"]) == set(cohorts.BASES)
    assert set(rules["01"]["definition"]["choices"]) == set(cohorts.DEFINITIONS)
    assert set(rules["03"]["survey_period"]["choices"]) == set(nps.SURVEY_PERIODS)
    assert set(rules["04"]["capacity_by"]["choices"]) == set(health.CAPACITY_BY)
    assert set(rules["04"]["list_score"]["choices"]) == set(health.LIST_SCORES)
    assert set(rules["04"]["rank_by"]["choices"]) == set(health.RANK_BY)
    assert set(rules["04"]["calibration"]["choices"]) == set(health.CALIBRATIONS)
    # the functions themselves: each declared choice passes, a value outside them is refused
    with pytest.raises(ValueError, match="≥ 1"):  # the rule on horizons is the one nps.align applies
        nps.align(None, [6, 0])
    for p in rules["03"]["survey_period"]["choices"]:
        nps.survey._check_period(p)
    with pytest.raises(ValueError):
        nps.survey._check_period("week")
    frame = pd.DataFrame({"touch_model": ["high", "low"], "csm_owner": ["x", "y"]})
    for c in rules["04"]["capacity_by"]["choices"]:
        health.capacity_groups(frame, c)
    with pytest.raises(ValueError):
        health.capacity_groups(frame, "foo")
    train = pd.DataFrame({"churned": [0, 1, 0, 1, 0, 0, 1, 0]})
    card = health.Scorecard.from_yaml(None)
    pts = [90.0, 10.0, 80.0, 20.0, 70.0, 60.0, 30.0, 50.0]
    for m in rules["04"]["calibration"]["choices"]:
        assert health.calibrate_scorecard(card, train, method=m, points=pts).method == m
    with pytest.raises(ValueError):
        health.calibrate_scorecard(card, train, method="spline", points=pts)


def test_file_parameters_resolve_against_the_callers_folder(tmp_path, monkeypatch):
    """The kernels run in notebooks/: a relative file name must reach them as the file the user meant."""
    (tmp_path / "costs.csv").write_text("month,cost\n2024-01,100\n")
    (tmp_path / "card.yaml").write_text("measures: {}\n")
    monkeypatch.chdir(tmp_path)
    p04, p05 = _nb("04"), _nb("05")
    typed = check_parameters([p04, p05], {"costs": "costs.csv", "scorecard": "./card.yaml", "list_archive": "arch"})
    assert typed[p05]["costs"] == str(tmp_path / "costs.csv")
    assert typed[p04]["scorecard"] == str(tmp_path / "card.yaml")
    assert typed[p04]["list_archive"] == str(tmp_path / "arch")
    assert all(Path(v).is_absolute() for v in (*typed[p04].values(), *typed[p05].values()))


def test_cli_exit_2_and_list_shows_the_allowed_values(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    r = subprocess.run([CLI, "report", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "r"),
                        "--param", "capacity_by=foo"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 2 and "capacity_by" in r.stderr and "team, csm, total" in r.stderr
    assert not (tmp_path / "r").exists()
    r = subprocess.run([CLI, "list"], capture_output=True, text=True, env=env)
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.strip().startswith("capacity_by "))
    assert "allowed: one of team, csm, total" in lines[at + 1]
