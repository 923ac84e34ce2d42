"""Size of the program-effect test in the generator's null world, over 200 seeds (issue 7, "Done when").

Each seed simulates the null world of ``synth.generate(null_world=True)`` (its accounts drawn by
``synth.draw_accounts``) at the demo's size (3,000 customers,
36 months, program "starting" in month 18): signups spread over the window (weights rising 1 → 1.6) plus 10%
who started up to two years before it (left-truncated), the baseline attributes with the generator's hazard
ratios, and the baseline hazard 0.035 · tenure^−0.3 that falls as customers age — so churn falls over calendar
time with no program at all. Only what the estimator reads is simulated (customer-months at risk with tenure
and churn), which makes 200 fits take about a minute and a half instead of a quarter of an hour through the
loader; the estimator is the one the report uses (:func:`csanalysis.impact.effect_from_person_months`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csanalysis import impact
from csanalysis.data import synth

SEEDS = range(200)
START = "2023-07-01"  # month 18 of a window starting 2022-01


def null_world_months(seed: int, n: int = 3000, months: int = 36) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    acc = synth.draw_accounts(rng, n, months)  # the generator's own account draws
    signup, eta0 = acc["signup"], synth.baseline_eta(acc)
    lo = np.maximum(1, 1 - signup)  # first tenure observed (at risk from the window's second month)
    k = np.maximum(months - signup - lo, 0)  # months at risk in the window
    cust = np.repeat(np.arange(n), k)
    tenure = lo[cust] + np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k)
    p = -np.expm1(-np.exp(np.log(synth.H0_SCALE) + synth.H0_POWER * np.log(tenure) + eta0[cust]))
    hit = (rng.random(p.size) < p).astype(np.int64)
    hits_before = np.cumsum(hit) - hit - np.repeat(np.cumsum(np.bincount(cust, hit, n)) - np.bincount(cust, hit, n), k)
    alive = hits_before == 0  # a customer leaves at its first churn
    return pd.DataFrame({"customer_id": cust[alive], "month": 2022 * 12 + signup[cust[alive]] + tenure[alive],
                         "tenure": tenure[alive], "churn": hit[alive]})


def test_simulated_world_matches_the_generator():
    """The shortcut is the generator's world: the same monthly churn as synth's null world's truth."""
    rates = [null_world_months(s)["churn"].mean() for s in range(5)]
    truth = synth.generate(n_customers=3000, months=36, seed=0, null_world=True).truth["monthly_churn_rate"]["overall"]
    assert abs(np.mean(rates) - truth) < 0.002, (rates, truth)


@pytest.mark.slow
def test_null_world_effect_significant_at_most_7_percent_naive_fooled():
    model_hits, naive_hits = 0, 0
    for seed in SEEDS:
        pm = null_world_months(seed)
        eff = impact.effect_from_person_months(pm, START, n_draws=2)
        model_hits += eff.p_value < 0.05
        naive = impact.naive_from_person_months(pm, START)
        naive_hits += naive["p_value"] < 0.05 and naive["difference_pp"] < 0
    model_rate, naive_rate = model_hits / len(SEEDS), naive_hits / len(SEEDS)
    print(f"null world, {len(SEEDS)} seeds: model significant {model_rate:.1%}, naive before/after {naive_rate:.1%}")
    assert model_rate <= 0.07, model_rate
    assert naive_rate >= 0.30, naive_rate  # the plain before/after comparison 'finds' a fall far more often
