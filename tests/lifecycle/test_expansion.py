"""Expansion propensity (csanalysis/lifecycle/expansion.py): the outcome on a hand fixture (cohort10: B expands
in February, F in March, C contracts, E returns after a gap), the ceiling's horizon probability by hand, and on
generated data (the default demo world) the score's AUC on the later months within 0.03 of the ceiling from the
generator's true probabilities, the planted drivers among the strongest inputs, and the candidates' layout."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import csanalysis as cs
from csanalysis.health.model import training_rows
from csanalysis.lifecycle import expansion as ex
from csanalysis.periods import month_index

from conftest import generated_world

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "cohort10"


def _cohort10(tmp_path, grace: int = 0):
    d = tmp_path / f"c10_{grace}"
    d.mkdir()
    for f in ("revenue.csv", "customers.csv"):
        shutil.copy(FIX / f, d / f)
    return cs.load_dataset(d, as_of="2024-06-15", grace_months=grace)


def _frame(rows):
    return pd.DataFrame({"customer_id": [r[0] for r in rows],
                         "m": [int(month_index(pd.Timestamp(r[1]))) for r in rows]})


def test_outcome_by_hand_on_cohort10(tmp_path):
    ds = _cohort10(tmp_path)
    ev = ex.expansion_events(ds)
    # B 100 → 150 in February, F 50 → 100 in March (its February one-off is not recurring); nothing else rises
    got = sorted(zip(ev["customer_id"], ev["m"], ev["delta"]))
    assert got == [("B", month_index(pd.Timestamp("2024-02-01")), 50.0), ("F", month_index(pd.Timestamp("2024-03-01")), 50.0)]
    rows = [("B", "2024-01-01"), ("B", "2024-02-01"), ("F", "2024-02-01"), ("F", "2024-01-01"), ("A", "2024-01-01"),
            ("C", "2024-01-01"), ("E", "2024-01-01")]
    h1 = ex.expansion_outcomes(ds, _frame(rows), horizon=1)["expanded"].tolist()
    assert h1 == [1, 0, 1, 0, 0, 0, 0]  # F in January: its March expansion is two months later
    h2 = ex.expansion_outcomes(ds, _frame(rows), horizon=2)["expanded"].tolist()
    assert h2 == [1, 0, 1, 1, 0, 0, 0]
    # windows: as_of month May 2024; a 2-month window from March closes in May, from April it does not
    out = ex.expansion_outcomes(ds, _frame([("A", "2024-03-01"), ("A", "2024-04-01")]), horizon=2)
    assert out["closed"].tolist() == [True, False]
    with pytest.raises(ValueError, match="horizon=0"):
        ex.expansion_outcomes(ds, _frame(rows), horizon=0)


def test_grace_return_is_no_expansion(tmp_path):
    """E pays in January, not in February or March, again from April: with a 3-month grace period the metrics count
    its return as expansion (a grace-gap return); the outcome does not."""
    ds = _cohort10(tmp_path, grace=3)
    from csanalysis.metrics import _grid

    g = _grid(ds)
    e_row = list(g.ids).index("E")
    assert g.moves["grace_return"][e_row].sum() > 0  # the fixture does exercise the case
    assert "E" not in set(ex.expansion_events(ds)["customer_id"])


def test_ceiling_horizon_probability_by_hand():
    m = pd.Timestamp("2024-02-01")
    exp = pd.DataFrame({"customer_id": ["X", "Y", "Z"], "month": [m] * 3, "p": [0.1, 0.1, 0.1],
                        "annual": [False, True, True], "next_change": [0, 1, 5], "factor": [1.0] * 3})
    churn = pd.DataFrame({"customer_id": ["X", "Y", "Z"], "month": [m] * 3, "p": [0.2] * 3, "p_no_program": [0.2] * 3})
    frame = _frame([("X", "2024-01-01"), ("Y", "2024-01-01"), ("Z", "2024-01-01"), ("W", "2024-01-01")])
    p2 = ex.true_expansion_probability(frame, {"expansion": exp, "churn": churn}, 2)
    # X monthly: 0.8·0.1 + (0.8·0.9)·0.8·0.1; Y annual, seats change in month 2 only: 0.8 · 0.8·0.1; Z: not in 2
    np.testing.assert_allclose(p2[:3], [0.08 + 0.72 * 0.08, 0.8 * 0.08, 0.0], rtol=1e-12)
    assert np.isnan(p2[3])  # no generator row
    p6 = ex.true_expansion_probability(frame, {"expansion": exp, "churn": churn}, 6)
    np.testing.assert_allclose(p6[2], 0.8 ** 5 * 0.08, rtol=1e-12)  # Z's renewal month is month 6


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The default demo world (3,000 customers, 36 months, seed 0: what `make demo` writes)."""
    data, ds = generated_world(tmp_path_factory, "expansion", n_customers=3000, months=36, seed=0)
    return data, ds


def test_expansion_score_close_to_its_ceiling(demo, monkeypatch):
    data, ds = demo
    truth = {"expansion": data.expansion_prob, "churn": data.churn_prob}
    res = ex.expansion_propensity(ds, truth=truth, n_boot=200)
    auc = {k: e.auc["estimate"] for k, e in res.evaluations.items()}
    assert set(auc) == {"model", "ceiling"}
    assert abs(auc["model"] - auc["ceiling"]) <= 0.03, auc
    assert 0.6 < auc["ceiling"] < 0.9, auc  # a real, imperfect score
    # the ceiling is computed on the same accounts and months as the model
    assert res.evaluations["model"].n_rows == res.evaluations["ceiling"].n_rows == len(res.test)
    gap = res.differences["model"]
    assert gap["lower"] <= gap["estimate"] <= gap["upper"]
    # the outcome agrees with an independent pandas computation from the panel (MRR up against the month before)
    p = ds.panel.assign(m=month_index(ds.panel["month"])).sort_values(["customer_id", "m"])
    prev = p.groupby("customer_id")[["m", "mrr"]].shift(1)
    up = p[(prev["m"] == p["m"] - 1) & (p["mrr"] > prev["mrr"] + 0.005)]
    ups = set(zip(up["customer_id"], up["m"]))
    t = res.test
    want = [int(any((c, m + k) in ups for k in (1, 2, 3))) for c, m in zip(t["customer_id"], t["m"])]
    assert t["expanded"].tolist() == want
    # the planted drivers are among the strongest inputs: the billing term, utilisation, usage growth, plan
    imp = res.model.importance.set_index("input")["rank"]
    assert imp[["annual_term", "renewal_due"]].min() <= 3, imp
    assert imp["utilisation"] <= 10, imp
    assert imp["log_usage_trend"] <= 12, imp
    assert imp["plan=Enterprise"] <= 10, imp
    # seats of an annual term change at renewal only: no annual-term account-month outside its renewal window
    # expands, so the two term inputs separate the outcome and have no unpenalised odds ratio (health.importance_table)
    table = res.model.importance.set_index("input")
    assert table.loc[["annual_term", "renewal_due"], "glm_reason"].tolist() == ["separates_outcome"] * 2
    assert table.loc[["annual_term", "renewal_due"], "glm_or_per_sd"].isna().all()
    assert table["glm_reason"].drop(["annual_term", "renewal_due"]).isna().all()
    sep = res.model.separation
    assert ex.term_separation(res) and sep["events"] == 0
    assert 0 < sep["rows"] < res.model.n_train
    # candidates: layout, capacity per touch model, reasons on the listed rows only
    c = ex.upsell_candidates(res, capacity=5)
    assert list(c.columns) == list(ex.CANDIDATE_COLUMNS)
    assert len(c) == len(res.current)
    on = c[c["on_list"] == 1]
    assert on.groupby("touch_model").size().le(5).all() and len(on) == 5 * c["touch_model"].nunique()
    assert (on["reasons"].str.len() > 0).all() and (c.loc[c["on_list"] == 0, "reasons"] == "").all()
    assert c["expansion_probability"].is_monotonic_decreasing
    teams = ex.team_candidates(c)
    assert set(teams) == set(on["touch_model"])
    # pseudonymised: the same rows and order, none of the raw ids, stable across calls
    monkeypatch.setenv("CSANALYSIS_PSEUDONYM_KEY", "k" * 32)
    p1, p2 = ex.upsell_candidates(res, capacity=5, pseudonymise=True), ex.upsell_candidates(res, capacity=5, pseudonymise=True)
    assert not set(p1["customer_id"]) & set(c["customer_id"]) and p1["customer_id"].equals(p2["customer_id"])
    assert p1.drop(columns="customer_id").equals(c.drop(columns="customer_id"))
    m = res.metrics(c)
    assert m["candidates"]["size"] == len(on)
    assert m["auc"]["ceiling"]["estimate"] == pytest.approx(auc["ceiling"])


def test_training_rows_are_a_slice_when_they_come_first_and_a_copy_otherwise():
    # the history is sorted by month and closed windows come first: the fit reads a slice, not a copy (issue 21)
    f = pd.DataFrame({"customer_id": list("abcdef"), "m": [1, 1, 2, 2, 3, 3], "x": np.arange(6.0),
                      "s": pd.Series(list("uvwxyz"), dtype=object)}, index=[10, 11, 12, 13, 14, 15])
    f["expanded"] = np.array([0, 1, 0, 1, 0, 0], dtype=np.int8)  # a second block, as the outcomes add
    first = f["m"].to_numpy() <= 2
    got = training_rows(f, first)
    pd.testing.assert_frame_equal(got, f[first])
    assert np.shares_memory(got["x"].to_numpy(), f["x"].to_numpy())  # no copy
    later = f["m"].to_numpy() >= 2
    got = training_rows(f, later)
    pd.testing.assert_frame_equal(got, f[later])
    assert not np.shares_memory(got["x"].to_numpy(), f["x"].to_numpy())
    none = np.zeros(6, dtype=bool)
    pd.testing.assert_frame_equal(training_rows(f, none), f[none])
