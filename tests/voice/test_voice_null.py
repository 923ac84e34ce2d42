"""The null world of what customers say: with the generator's theme effect off, no theme is significantly
associated with later churn (Holm-adjusted p < 0.05) in at least 93% of 200 seeds (issue 22, "Demo data and truth").

Each seed simulates only what the estimator reads, as tests/test_impact_null.py does: 600 accounts answering
surveys in months 3, 9, …, 33 of a 36-month window (each account, while a customer, answers with probability 0.5,
one to three respondents), leaving at a constant 2% a month; comments are written by the generator's own
:func:`csanalysis.data.synth.voice_comments` with ``on=False`` (its seeded stream, its phrases, its languages),
matched with the default theme dictionary, lined up with churn in the five months after the survey month (the
month before the survey plus a six-month horizon, windows closed by the end of the data), and tested by the
report's estimator (:func:`csanalysis.voice.theme_associations`)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from csanalysis.data import synth
from csanalysis.voice import load_themes, theme_associations

SEEDS = range(200)
MONTHS = 36
SURVEYS = range(3, MONTHS, 6)


def null_texts(seed: int, n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng([seed, 77])
    churn_at = 1 + rng.geometric(0.02, n)  # month of each account's churn (may lie past the window)
    acc, month = [], []
    for c in SURVEYS:
        alive = np.flatnonzero(churn_at > c)
        resp = alive[rng.random(alive.size) < 0.5]
        k = rng.integers(1, 4, resp.size)
        acc.append(np.repeat(resp, k))
        month.append(np.full(k.sum(), c))
    acc, month = np.concatenate(acc), np.concatenate(month)
    score = rng.integers(0, 11, acc.size)
    churn_months = {int(a): [int(churn_at[a])] for a in range(n) if churn_at[a] < MONTHS}
    text, truth = synth.voice_comments(acc, month, score, churn_months, seed=seed, on=False, months=MONTHS)
    assert all(t["churn_risk_ratio"] == 1.0 for t in truth["themes"].values())
    h = synth.VOICE_HORIZON
    closed = month - 1 + h <= MONTHS - 1
    churned = (churn_at[acc] >= month + 1) & (churn_at[acc] <= month - 1 + h)
    keep = pd.notna(text)
    return pd.DataFrame({"customer_id": acc[keep], "text": text[keep],
                         "churned": np.where(closed, churned.astype(float), np.nan)[keep],
                         "mrr_change": np.where(closed & ~churned, rng.normal(0, 10, acc.size), np.nan)[keep]})


def test_null_world_no_significant_theme_in_93_percent_of_seeds():
    themes = load_themes()
    hits, n_texts = 0, []
    for seed in SEEDS:
        t = null_texts(seed)
        frame = pd.concat([t, themes.matrix(t["text"])], axis=1)
        a = theme_associations(frame, themes.names)
        hits += bool((a["rr_p_holm"] < 0.05).any())
        n_texts.append(len(t))
    rate = hits / len(SEEDS)
    print(f"null world, {len(SEEDS)} seeds, about {np.mean(n_texts):.0f} texts each: a significant theme in {rate:.1%}")
    assert np.mean(n_texts) > 500  # worlds large enough for the tests to have something to find
    assert rate <= 0.07, rate


def test_generator_null_switch():
    on = synth.generate(n_customers=300, months=18, seed=1).truth["voice"]
    off = synth.generate(n_customers=300, months=18, seed=1, null_world=True).truth["voice"]
    off2 = synth.generate(n_customers=300, months=18, seed=1, effects={"voice": False}).truth["voice"]
    assert on["on"] and not off["on"] and not off2["on"]
    assert on["themes"]["price"]["churn_risk_ratio"] == synth.VOICE_RISK_RATIO["price"] > 1
    assert all(t["churn_risk_ratio"] == 1.0 and t["prevalence_churned"] == t["prevalence_retained"]
               for t in off["themes"].values())


def test_churned_later_equals_the_plain_loop():
    rng = np.random.default_rng(0)
    acc, mon = rng.integers(0, 50, 2000), rng.integers(-3, 30, 2000)
    cm = {int(a): sorted(set(rng.integers(-5, 36, rng.integers(0, 4)).tolist())) for a in range(50)}
    plain = np.array([any(m + 1 <= x <= m - 1 + 6 for x in cm.get(int(a), ())) for a, m in zip(acc, mon)])
    got = synth.churned_later(acc, mon, cm, 6)
    assert got.dtype == bool and (got == plain).all() and 0 < plain.mean() < 1
