"""Weighted log-odds with an informative Dirichlet prior against a hand computation (Monroe, Colaresi and Quinn
2008, "Fightin' Words", eq. 16 and 18-20):

    delta_w = log((y_w^a + a_w) / (n^a + a_0 - y_w^a - a_w)) - log((y_w^b + a_w) / (n^b + a_0 - y_w^b - a_w))
    var(delta_w) ≈ 1/(y_w^a + a_w) + 1/(y_w^b + a_w),    z_w = delta_w / sqrt(var)
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from csanalysis.voice import log_odds, log_odds_counts


def test_hand_computation_with_a_given_prior():
    # group a: 10 tokens (price 6, support 3, bugs 1); group b: 8 tokens (price 1, support 2, bugs 5)
    ya = pd.Series({"price": 6, "support": 3, "bugs": 1}, dtype=float)
    yb = pd.Series({"price": 1, "support": 2, "bugs": 5}, dtype=float)
    prior = [1.0, 0.5, 1.5]  # a_0 = 3
    out = log_odds_counts(ya, yb, prior)
    # price: (6 + 1) / (10 + 3 - 6 - 1) = 7/6 ; (1 + 1) / (8 + 3 - 1 - 1) = 2/9
    d_price = math.log(7 / 6) - math.log(2 / 9)
    v_price = 1 / 7 + 1 / 2
    # support: (3 + .5) / (13 - 3.5) = 3.5/9.5 ; (2 + .5) / (11 - 2.5) = 2.5/8.5
    d_support = math.log(3.5 / 9.5) - math.log(2.5 / 8.5)
    v_support = 1 / 3.5 + 1 / 2.5
    # bugs: (1 + 1.5) / (13 - 2.5) = 2.5/10.5 ; (5 + 1.5) / (11 - 6.5) = 6.5/4.5
    d_bugs = math.log(2.5 / 10.5) - math.log(6.5 / 4.5)
    v_bugs = 1 / 2.5 + 1 / 6.5
    assert out.loc["price", "delta"] == pytest.approx(d_price, rel=1e-12)
    assert out.loc["support", "delta"] == pytest.approx(d_support, rel=1e-12)
    assert out.loc["bugs", "delta"] == pytest.approx(d_bugs, rel=1e-12)
    assert out.loc["price", "z"] == pytest.approx(d_price / math.sqrt(v_price), rel=1e-12)
    assert out.loc["support", "z"] == pytest.approx(d_support / math.sqrt(v_support), rel=1e-12)
    assert out.loc["bugs", "z"] == pytest.approx(d_bugs / math.sqrt(v_bugs), rel=1e-12)
    assert out.loc["price", "z"] > 0 > out.loc["bugs", "z"]


def test_default_prior_is_a_tenth_of_the_pooled_counts_and_tokens_count_once_per_text():
    a = [("price", "high"), ("price", "price", "bad")]  # per text: price 2, high 1, bad 1 -> n_a = 4
    b = [("great",), ("great", "price")]  # great 2, price 1 -> n_b = 3
    out = log_odds(a, b, min_count=1).set_index("word")
    # pooled per-text counts: price 3, high 1, bad 1, great 2 (total 7); a_0 = 0.7, a_w = 0.1 * pooled count
    a_w, n_a, n_b, a0 = 0.3, 4, 3, 0.7
    d = math.log((2 + a_w) / (n_a + a0 - 2 - a_w)) - math.log((1 + a_w) / (n_b + a0 - 1 - a_w))
    assert out.loc["price", "delta"] == pytest.approx(d, rel=1e-12)
    assert out.loc["price", "z"] == pytest.approx(d / math.sqrt(1 / (2 + a_w) + 1 / (1 + a_w)), rel=1e-12)
    assert out.loc["price", "count_a"] == 2  # "price price" counted once in its text
    assert list(out.index)[0] in ("high", "bad", "price") and list(out.index)[-1] == "great"


def test_min_count_filters_rare_words():
    out = log_odds([("a1",)] * 4, [("b1",)] * 4 + [("rare",)], min_count=2)
    assert set(out["word"]) == {"a1", "b1"}
    assert np.all(np.diff(out["z"]) <= 0)
