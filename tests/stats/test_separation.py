"""Separation of a binary outcome (csanalysis/stats/separation.py) and the importance table built on it
(csanalysis/health/model.py importance_table): tiny fixtures whose separation is known by construction, and the
odds ratios checked against statsmodels fitted directly (on every row without separation; on the rows not
separated, the separating column left out, as Stata's logit does, with separation)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from csanalysis.health.model import importance_table
from csanalysis.stats.separation import estimable_basis, find_separation


def _world(n=3000, seed=1):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    groups = rng.integers(0, n // 3, size=n)  # three rows per account on average
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1.0 + 0.8 * x1 - 0.5 * x2)))).astype(int)
    return x1, x2, groups, y


def _const(*cols):
    return np.column_stack([np.ones(len(cols[0])), *cols])


def test_no_separation_is_found_where_there_is_none():
    x1, x2, _, y = _world()
    s = find_separation(_const(x1, x2), y)
    assert not s.separated and s.directions.shape == (0, 3) and not s.infinite.any()


def test_complete_separation_by_a_threshold():
    x = np.linspace(-2, 2, 41)
    y = (x > 0.05).astype(int)
    s = find_separation(_const(x), y)
    assert s.separated and s.rows.all()  # every row is predicted perfectly
    assert s.infinite.tolist() == [True, True]


def test_quasi_complete_separation_by_one_indicator():
    x1, x2, _, y = _world()
    flag = (np.arange(len(y)) % 7 == 0).astype(float)
    y = np.where(flag == 1, 0, y)  # no event where the flag is set
    s = find_separation(_const(x1, flag, x2), y)
    assert s.rows.tolist() == (flag == 1).tolist()
    assert s.infinite.tolist() == [False, False, True, False]  # (0/1 flag: the constant keeps its estimate)
    Q = estimable_basis(s.directions, 4)
    assert Q.shape == (4, 3) and np.allclose(s.directions @ Q, 0) and np.allclose(Q.T @ Q, np.eye(3))


def test_the_billing_term_structure_separates_both_inputs():
    """The expansion score's two term inputs: renewal_due only where annual_term, and no expansion of an annual term
    outside its renewal window. Neither coefficient is finite; the rows of annual terms not due are predicted."""
    x1, _, _, y = _world()
    n = len(y)
    annual = (np.arange(n) % 3 == 0).astype(float)
    due = annual * (np.arange(n) % 4 == 0)
    y = np.where((annual == 1) & (due == 0), 0, y)
    s = find_separation(_const(x1, annual, due), y)
    assert s.rows.tolist() == ((annual == 1) & (due == 0)).tolist()
    assert s.infinite.tolist() == [False, False, True, True]
    # with a single event among those rows there is no separation any more
    y2 = y.copy()
    y2[np.flatnonzero((annual == 1) & (due == 0))[0]] = 1
    assert not find_separation(_const(x1, annual, due), y2).separated


def _cluster_logit(X, y, groups):
    return sm.Logit(y, X).fit(disp=0, cov_type="cluster", cov_kwds={"groups": pd.factorize(groups)[0]})


def test_importance_without_separation_equals_statsmodels_direct():
    x1, x2, groups, y = _world()
    Z = np.column_stack([(x1 - x1.mean()) / x1.std(), (x2 - x2.mean()) / x2.std()])
    imp = importance_table(Z, y, groups, ["x1", "x2"], np.array([0.5, -0.3])).set_index("input")
    direct = _cluster_logit(sm.add_constant(Z), y, groups)
    ci = np.exp(direct.conf_int()[1:])
    assert imp["glm_reason"].isna().all()
    assert imp.loc[["x1", "x2"], "glm_or_per_sd"].to_numpy() == pytest.approx(np.exp(direct.params[1:]), rel=1e-8)
    assert imp.loc[["x1", "x2"], "lower"].to_numpy() == pytest.approx(ci[:, 0], rel=1e-8)
    assert imp.loc[["x1", "x2"], "upper"].to_numpy() == pytest.approx(ci[:, 1], rel=1e-8)
    assert imp.attrs["separation"] == {"rows": 0, "events": 0, "inputs": []}


def test_a_separating_input_is_not_estimable_and_the_others_are_fitted_without_its_rows():
    x1, x2, groups, y = _world()
    flag = (np.arange(len(y)) % 7 == 0).astype(float)
    y = np.where(flag == 1, 0, y)
    Z = np.column_stack([(c - c.mean()) / c.std() for c in (x1, flag, x2)])
    imp = importance_table(Z, y, groups, ["x1", "flag", "x2"], np.array([0.5, -0.9, -0.3])).set_index("input")
    assert imp.loc["flag", "glm_reason"] == "separates_outcome"
    assert imp.loc["flag", ["glm_or_per_sd", "lower", "upper"]].isna().all()
    # the penalised columns stay, and the rank follows them
    assert imp.loc["flag", "or_per_sd"] == pytest.approx(np.exp(-0.9)) and imp.loc["flag", "rank"] == 1
    # the others: statsmodels on the rows the flag does not predict, the flag (constant there) left out
    keep = flag == 0
    direct = _cluster_logit(sm.add_constant(Z[keep][:, [0, 2]]), y[keep], groups[keep])
    assert imp["glm_reason"].drop("flag").isna().all()
    assert imp.loc[["x1", "x2"], "glm_or_per_sd"].to_numpy() == pytest.approx(np.exp(direct.params[1:]), rel=1e-7)
    ci = np.exp(direct.conf_int()[1:])
    assert imp.loc[["x1", "x2"], "lower"].to_numpy() == pytest.approx(ci[:, 0], rel=1e-7)
    assert imp.loc[["x1", "x2"], "upper"].to_numpy() == pytest.approx(ci[:, 1], rel=1e-7)
    assert imp.attrs["separation"] == {"rows": int(flag.sum()), "events": 0, "inputs": ["flag"]}


def test_the_billing_term_structure_in_the_importance_table():
    """annual_term and renewal_due both not estimable; the other input equals statsmodels on the rows not
    separated with one indicator for 'annual and due' (there the two columns are equal)."""
    x1, _, groups, y = _world()
    n = len(y)
    annual = (np.arange(n) % 3 == 0).astype(float)
    due = annual * (np.arange(n) % 4 == 0)
    y = np.where((annual == 1) & (due == 0), 0, y)
    Z = np.column_stack([(c - c.mean()) / c.std() for c in (x1, annual, due)])
    imp = importance_table(Z, y, groups, ["x1", "annual_term", "renewal_due"],
                           np.array([0.5, -1.0, 0.4])).set_index("input")
    assert imp.loc[["annual_term", "renewal_due"], "glm_reason"].tolist() == ["separates_outcome"] * 2
    keep = ~((annual == 1) & (due == 0))
    direct = _cluster_logit(sm.add_constant(np.column_stack([Z[keep, 0], due[keep]])), y[keep], groups[keep])
    assert imp.loc["x1", "glm_or_per_sd"] == pytest.approx(np.exp(direct.params[1]), rel=1e-7)
    assert imp.loc["x1", "lower"] == pytest.approx(np.exp(direct.conf_int()[1, 0]), rel=1e-7)


def test_a_fit_that_does_not_converge_says_so():
    x1, x2, groups, y = _world()
    Z = np.column_stack([(x1 - x1.mean()) / x1.std(), (x2 - x2.mean()) / x2.std()])
    imp = importance_table(Z, y, groups, ["x1", "x2"], np.array([0.5, -0.3]), maxiter=1)
    assert (imp["glm_reason"] == "not_converged").all() and imp["glm_or_per_sd"].isna().all()
    assert imp["or_per_sd"].notna().all()


def test_the_table_and_the_sentence_in_words():
    from types import SimpleNamespace

    from csanalysis.health import odds_ratio_text, separation_note
    from csanalysis.report import i18n

    imp = pd.DataFrame({"glm_or_per_sd": [1.234, np.nan, 0.00345], "lower": [1.05, np.nan, 0.00123],
                        "upper": [1.444, np.nan, 0.0098], "glm_reason": [None, "separates_outcome", None]})
    assert odds_ratio_text(imp) == ["1.23 (1.05–1.44)", "not estimable (separates the outcome)",
                                    "0.0034 (0.0012–0.0098)"]
    i18n.set_language("ja")
    try:
        assert odds_ratio_text(imp, i18n.tr)[1] == "推定不能（結果を完全に分ける入力）"
        model = SimpleNamespace(separation={"rows": 7388, "events": 0, "inputs": ["annual_term", "renewal_due"]},
                                n_train=35674)
        v = separation_note(model, {"annual_term": "A", "renewal_due": "B"}, i18n.tr, "expansion")
        assert v == {"inputs": "A、B", "rows": "7,388", "kept": "28,286", "outcome": "どれも拡大なし"}
    finally:
        i18n.set_language("en")
    assert separation_note(SimpleNamespace(separation={"rows": 0, "events": 0, "inputs": []}, n_train=9), {},
                           i18n.tr) is None


# ------------------------------------------------------------------------------ Cox: monotone likelihood


def test_cox_hand_fixture_monotone_and_not():
    """Four spells, events at months 1 and 2. With x = (3, 2, 1, 0) each churn has the largest x of those still
    at risk: the partial likelihood rises without end as β → +∞. Swapping the first two x's puts the first churn
    below a spell at risk: β = +∞ no longer fits it and β = −∞ fits neither, so there is a finite maximum."""
    from csanalysis.stats.separation import find_cox_separation

    T, E = np.array([1, 2, 3, 4]), np.array([1, 1, 0, 0])
    s = find_cox_separation(np.array([[3.0], [2.0], [1.0], [0.0]]), T, E)
    assert s.separated and s.infinite.tolist() == [True] and s.sign.tolist() == [1.0]
    assert s.rows.tolist() == [False, False, True, True]  # the two censored spells: strata without a churn
    s = find_cox_separation(np.array([[2.0], [3.0], [1.0], [0.0]]), T, E)
    assert not s.separated and not s.infinite.any() and not s.rows.any() and (s.strata == 0).all()


def test_cox_left_truncation_decides():
    """The spell with x = 5 enters at month 1, so it is not at risk at the churn at month 1 (at risk on
    (entry, T]): monotone with its entry, not without it."""
    from csanalysis.stats.separation import find_cox_separation

    X, T, E = np.array([[1.0], [0.0], [5.0]]), np.array([1, 2, 3]), np.array([1, 0, 0])
    assert find_cox_separation(X, T, E, np.array([0, 0, 1])).separated
    assert not find_cox_separation(X, T, E).separated


def _cox_world(n=1500, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    flag = (rng.random(n) < 0.15).astype(float)
    T = rng.integers(1, 25, size=n)
    E = (rng.random(n) < 0.5).astype(int)
    entry = np.where(rng.random(n) < 0.2, rng.integers(0, 6, size=n), 0)
    return x, flag, T, E, np.minimum(entry, T - 1)


def test_cox_no_monotone_likelihood_where_there_is_none():
    from csanalysis.stats.separation import find_cox_separation

    x, flag, T, E, entry = _cox_world()
    s = find_cox_separation(np.column_stack([x, flag]), T, E, entry)
    assert not s.separated and s.directions.shape == (0, 2) and not s.infinite.any()


def test_cox_an_indicator_without_events_is_found():
    """No flagged spell churns: β_flag → −∞ (hazard ratio 0), the flagged spells in a stratum of their own without
    a churn; x keeps its estimate. The found direction is monotone (every churn at its risk set's maximum)."""
    from csanalysis.stats.separation import find_cox_separation

    x, flag, T, E, entry = _cox_world()
    E = np.where(flag == 1, 0, E)
    X = np.column_stack([x, flag])
    s = find_cox_separation(X, T, E, entry)
    assert s.infinite.tolist() == [False, True] and s.sign.tolist() == [0.0, -1.0]
    assert s.rows.tolist() == (flag == 1).tolist()
    v = X @ s.directions[0]
    for i in np.flatnonzero(E):
        at_risk = (entry < T[i]) & (T >= T[i])
        assert v[i] >= v[at_risk].max() - 1e-9
