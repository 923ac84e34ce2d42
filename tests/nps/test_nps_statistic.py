"""Net Promoter Score: hand computations, interval coverage by simulation, account bootstrap, differences."""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy.stats import multinomial

from csanalysis.nps import (NPSResult, account_loyalty, net_promoter_score, nps_by, nps_difference,
                            nps_interval)

Z95 = 1.959963984540054  # standard normal 97.5% quantile

# 10 promoters (6 × 10, 4 × 9), 5 passives (3 × 8, 2 × 7), 5 detractors (2 × 6, 2 × 3, 1 × 0): n = 20
SAMPLE = [10] * 6 + [9] * 4 + [8] * 3 + [7] * 2 + [6] * 2 + [3] * 2 + [0]


# ------------------------------------------------------------------------------------------------ hand computations


def test_wald_matches_hand_computation():
    r = net_promoter_score(SAMPLE, "wald")
    # p = 10/20 = 0.5, d = 5/20 = 0.25, NPS = 100 · (0.5 − 0.25) = 25
    # Var = 100² · (p + d − (p − d)²) / n = 10000 · (0.75 − 0.0625) / 20 = 10000 · 0.6875 / 20 = 343.75
    se = math.sqrt(343.75)  # 18.5405
    assert r.nps == pytest.approx(25.0)
    assert r.se == pytest.approx(se)
    assert r.lower == pytest.approx(25 - Z95 * se)  # −11.34
    assert r.upper == pytest.approx(25 + Z95 * se)  # 61.34
    assert r.lower == pytest.approx(-11.3387, abs=1e-3) and r.upper == pytest.approx(61.3387, abs=1e-3)
    assert (r.n, r.n_promoters, r.n_passives, r.n_detractors) == (20, 10, 5, 5)
    assert (r.promoters, r.passives, r.detractors) == (0.5, 0.25, 0.25)
    assert r.method_ == "wald"
    assert str(r) == "NPS 25 (95% CI -11 to 61), n = 20"


def test_adjusted_wald_matches_hand_computation():
    r = net_promoter_score(SAMPLE, "adjusted_wald")
    # promoters 10 + 0.75 = 10.75, detractors 5 + 0.75 = 5.75, n = 20 + 3 = 23
    p, d, n = 10.75 / 23, 5.75 / 23, 23  # 0.467391, 0.25
    centre = 100 * (p - d)  # 21.739
    var = 100**2 * (p + d - (p - d) ** 2) / n  # 10000 · (0.717391 − 0.047259) / 23 = 291.36
    assert centre == pytest.approx(21.7391, abs=1e-4) and var == pytest.approx(291.362, abs=1e-3)
    assert r.nps == pytest.approx(25.0)  # the reported point estimate stays the raw NPS
    assert r.se == pytest.approx(math.sqrt(var))
    assert r.lower == pytest.approx(centre - Z95 * math.sqrt(var))  # −11.72
    assert r.upper == pytest.approx(centre + Z95 * math.sqrt(var))  # 55.19
    assert r.lower == pytest.approx(-11.7157, abs=1e-3) and r.upper == pytest.approx(55.1940, abs=1e-3)
    assert r.method_ == "adjusted_wald"


def test_all_promoters_wald_degenerates_adjusted_does_not_and_both_are_clipped():
    w = net_promoter_score([10] * 25, "wald")
    a = net_promoter_score([10] * 25, "adjusted_wald")
    assert (w.lower, w.upper, w.se) == (100.0, 100.0, 0.0)  # Wald claims certainty from 25 answers
    # adjusted: p = 25.75/28, d = 0.75/28 → centre 89.29, se 100·sqrt((26.5/28 − (25/28)²)/28) = 6.92
    p, d = 25.75 / 28, 0.75 / 28
    se = 100 * math.sqrt((p + d - (p - d) ** 2) / 28)
    assert a.lower == pytest.approx(100 * (p - d) - Z95 * se)
    assert a.upper == 100.0  # 89.29 + 13.56 clipped to 100
    assert a.nps == 100.0


def test_auto_picks_method_and_says_why():
    small = net_promoter_score(SAMPLE, "auto")
    assert small.method_ == "adjusted_wald" and "n = 20 < 50" in small.method_reason_
    large = net_promoter_score(SAMPLE * 10, "auto")  # n = 200, NPS 25
    assert large.method_ == "wald" and "n = 200" in large.method_reason_
    assert large.lower == net_promoter_score(SAMPLE * 10, "wald").lower
    extreme = net_promoter_score([10] * 190 + [8] * 8 + [2] * 2, "auto")  # n = 200, NPS = 94
    assert extreme.nps == pytest.approx(94.0)
    assert extreme.method_ == "adjusted_wald" and "extreme" in extreme.method_reason_
    assert extreme.lower == net_promoter_score([10] * 190 + [8] * 8 + [2] * 2, "adjusted_wald").lower


def test_result_outputs_are_json_safe_and_readable():
    scores = [10] * 200 + [8] * 80 + [4] * 132  # n = 412, NPS = 100 · 68/412 = 16.5
    r = net_promoter_score(scores)
    assert isinstance(r, NPSResult)
    assert re.fullmatch(r"NPS 17 \(95% CI \d+–\d+\), n = 412", str(r)), str(r)
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["n_accounts"] is None and d["method"] == "wald" and d["n"] == 412
    assert r.summary.shape[0] == 1 and r.summary.loc[0, "nps"] == pytest.approx(100 * 68 / 412)
    assert "<table" in r._repr_html_() and "412" in r._repr_html_()
    assert r.counts == {"promoters": 200, "passives": 80, "detractors": 132}
    assert str(net_promoter_score(scores, alpha=0.1)).startswith("NPS 17 (90% CI")


def test_validation_names_the_count_of_bad_values():
    with pytest.raises(ValueError, match=r"3 values out of range or not integers 0–10 \(e\.g\. 11, -1, 7\.5\)"):
        net_promoter_score([1, 2, 11, -1, 7.5, 9])
    with pytest.raises(ValueError, match=r"2 missing \(NaN/None\) values"):
        net_promoter_score(np.array([9, np.nan, 10, np.nan]))
    with pytest.raises(ValueError, match=r"1 missing .*; 1 value out of range") as e:
        net_promoter_score(pd.Series([9, None, 12], dtype=object))
    assert "12" in str(e.value)
    with pytest.raises(ValueError, match="no scores"):
        net_promoter_score([])
    with pytest.raises(ValueError, match="method="):
        net_promoter_score(SAMPLE, "exact")
    with pytest.raises(ValueError, match="3 account ids for 20 scores"):
        net_promoter_score(SAMPLE, accounts=[1, 2, 3])


# ------------------------------------------------------------------------------------------------ coverage


# true shares (promoters, passives, detractors) per target NPS; an NPS of 90 leaves room for at most 10% passives
TRUTH = {0: (0.40, 0.20, 0.40), 50: (0.65, 0.20, 0.15), 90: (0.91, 0.08, 0.01)}


def _coverage(n: int, shares, rng, reps: int = 4000) -> dict:
    x = rng.multinomial(n, shares, size=reps)  # reps × (promoters, passives, detractors), one row per sample
    truth = 100 * (shares[0] - shares[2])
    out = {}
    for method in ("wald", "adjusted_wald", "auto"):
        r = nps_interval(x[:, 0], x[:, 2], n, method)
        out[method] = float(np.mean((r["lower"] <= truth) & (truth <= r["upper"])))
    return out


def test_coverage_simulation_adjusted_wald_holds_wald_falls_short_when_small_and_extreme():
    rng = np.random.default_rng(2024)
    table = {(n, t): _coverage(n, TRUTH[t], rng) for n in (30, 100, 1000) for t in TRUTH}
    for cell, cov in table.items():
        assert 0.93 <= cov["adjusted_wald"] <= 0.97, (cell, cov)
        assert 0.93 <= cov["auto"] <= 0.97, (cell, cov)
    # Wald at n = 30 and NPS ≈ 90 misses the truth about one time in five (exact coverage 78%)
    assert table[(30, 90)]["wald"] < 0.85, table[(30, 90)]
    # ... and at NPS ≈ 90 it is below the adjusted interval at n = 30 and n = 100 on the same samples
    for n in (30, 100):
        assert table[(n, 90)]["wald"] < table[(n, 90)]["adjusted_wald"] - 0.02, table[(n, 90)]
    # with n = 1000 the Wald interval is fine everywhere on the grid
    for t in TRUTH:
        assert table[(1000, t)]["wald"] >= 0.93, table[(1000, t)]


def test_exact_coverage_by_enumeration_small_n():
    """Exact coverage (sum of trinomial probabilities of the samples whose interval holds the truth), no
    simulation noise: Wald is below 93% exactly where the auto rule switches to adjusted-Wald."""
    exact = {}
    for n in (30, 100):
        P, D = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
        ok = P + D <= n
        P, D = P[ok], D[ok]
        for t, shares in TRUTH.items():
            prob = multinomial.pmf(np.stack([P, n - P - D, D], axis=1), n, shares)
            truth = 100 * (shares[0] - shares[2])
            for method in ("wald", "adjusted_wald"):
                r = nps_interval(P, D, n, method)
                exact[(n, t, method)] = prob[(r["lower"] <= truth) & (truth <= r["upper"])].sum()
    for key in [(30, 50, "wald"), (30, 90, "wald"), (100, 90, "wald")]:
        assert exact[key] < 0.93, (key, exact[key])  # 0.927, 0.781, 0.926
    for n in (30, 100):
        for t in TRUTH:
            assert 0.94 <= exact[(n, t, "adjusted_wald")] <= 0.96, (n, t, exact[(n, t, "adjusted_wald")])


# ------------------------------------------------------------------------------------------------ accounts


def _clustered(rng, K: int = 40):
    """K accounts of 5–15 respondents; all respondents of an account give that account's score.
    Account scores: 10 with prob 0.5, 8 with 0.3, 3 with 0.2; sizes independent of scores → true NPS 30."""
    acc_score = rng.choice([10, 8, 3], size=K, p=[0.5, 0.3, 0.2])
    size = rng.integers(5, 16, size=K)
    return np.repeat(acc_score, size), np.repeat(np.arange(K), size)


def test_account_bootstrap_is_wider_than_naive_wald_for_clustered_accounts():
    scores, acc = _clustered(np.random.default_rng(3))
    b = net_promoter_score(scores, accounts=acc, seed=1)
    w = net_promoter_score(scores, "wald")
    assert b.nps == w.nps
    assert (b.upper - b.lower) > 2 * (w.upper - w.lower)
    assert b.method_ == "account_bootstrap" and "40 accounts" in b.method_reason_
    assert b.n_accounts == 40 and b.boot_.shape == (2000,)
    assert b.to_dict()["n_accounts"] == 40
    again = net_promoter_score(scores, accounts=acc, seed=1)
    assert (again.lower, again.upper) == (b.lower, b.upper)  # reproducible with the seed


def test_grouped_account_bootstrap_has_the_distribution_of_drawing_accounts():
    """The NPS bootstrap draws how many accounts come from each group of interchangeable accounts (same promoters
    minus detractors, same responses) instead of drawing the accounts. Compared with drawing the accounts
    themselves (stats.bootstrap.draw_counts, as before), on clustered accounts of unequal sizes, single and paired: the
    replicates' spread and quantiles agree within Monte Carlo error (20,000 replicates each). Giving every group
    the same probability instead of its size ÷ accounts fails this."""
    from csanalysis.nps.statistic import _boot_nps
    from csanalysis.stats.bootstrap import draw_counts, interchangeable

    rng = np.random.default_rng(4)
    K = 60
    N = rng.integers(1, 6, K).astype(float)
    P = np.floor(N * rng.choice([1.0, 0.6, 0.0], K, p=[0.4, 0.35, 0.25]))
    D = np.where(P == 0, N, 0.0)
    P2, D2 = np.minimum(P + rng.integers(0, 2, K), N), D.copy()
    B = 20_000
    for samples in (((P, D, N),), ((P, D, N), (P2, D2, N))):
        grouped = _boot_nps(np.random.default_rng(1), B, *samples)
        W = draw_counts(np.random.default_rng(2), K, B).astype(float)
        direct = np.column_stack([100 * (W @ (p - d)) / (W @ n) for p, d, n in samples])
        stat = grouped[:, -1] - grouped[:, 0] if len(samples) == 2 else grouped[:, 0]
        ref = direct[:, -1] - direct[:, 0] if len(samples) == 2 else direct[:, 0]
        sd = ref.std()
        assert abs(stat.std() / sd - 1) < 0.03
        q = [0.025, 0.5, 0.975]
        # 0.1 sd is about 3.5 Monte Carlo standard errors of a difference of two tail quantiles at 20,000 replicates
        # (the replicates are lumpy: 60 accounts with 1–5 responses)
        np.testing.assert_allclose(np.quantile(stat, q), np.quantile(ref, q), atol=0.1 * sd)
    # the groups: the distinct (P − D, N) pairs, far fewer than the accounts
    first, sizes = interchangeable(np.column_stack([P - D, N]))
    assert sizes.sum() == K and len(first) < K / 3
    # the same groups with equal probabilities is a different (wrong) bootstrap, and the test above would see it
    X = np.column_stack([P - D, N])[first]
    Wg = np.random.default_rng(3).multinomial(K, np.full(len(sizes), 1 / len(sizes)), size=B) @ X
    wrong = 100 * Wg[:, 0] / Wg[:, 1]
    ref = 100 * (W @ (P - D)) / (W @ N)
    assert np.abs(np.quantile(wrong, [0.025, 0.5, 0.975]) - np.quantile(ref, [0.025, 0.5, 0.975])).max() > 0.5 * ref.std()


def test_account_bootstrap_covers_planted_truth_where_wald_does_not():
    rng = np.random.default_rng(7)
    reps, hit_boot, hit_wald = 200, 0, 0
    for i in range(reps):
        scores, acc = _clustered(rng)
        b = net_promoter_score(scores, accounts=acc, n_boot=1000, seed=i)
        w = net_promoter_score(scores, "wald")
        hit_boot += b.lower <= 30 <= b.upper
        hit_wald += w.lower <= 30 <= w.upper
    assert 0.88 <= hit_boot / reps <= 0.99, hit_boot / reps
    assert hit_wald / reps < 0.75, hit_wald / reps


# ------------------------------------------------------------------------------------------------ differences


def test_independent_difference_matches_hand_computation():
    a = SAMPLE  # p = 0.5, d = 0.25, NPS 25, Var = 343.75
    b = [10] * 6 + [8] * 6 + [2] * 8  # p = 0.3, d = 0.4, NPS −10, Var = 10000 · (0.7 − 0.01) / 20 = 345
    res = nps_difference(a, b)
    se = math.sqrt(343.75 + 345)  # 26.244
    assert res.estimate == pytest.approx(35.0)
    assert res.se == pytest.approx(se)
    assert res.lower == pytest.approx(35 - Z95 * se) and res.upper == pytest.approx(35 + Z95 * se)
    z = 35 / se  # 1.3336
    assert res.p_value == pytest.approx(math.erfc(z / math.sqrt(2)))  # two-sided: 0.182
    assert res.p_value == pytest.approx(0.1823, abs=1e-3)
    assert "independent" in res.method
    json.dumps(res.to_dict(), allow_nan=False)


def test_difference_without_variance_has_no_p_value_rather_than_a_made_up_one():
    res = nps_difference([10] * 30, [9] * 30)
    assert res.estimate == 0 and res.se == 0
    assert res.to_dict()["p_value"] is None


def _paired_sample(rng, K: int = 300):
    """Each account answers once in a and once in b; b repeats a's score with prob 0.8, else is redrawn."""
    vals, probs = np.array([10, 9, 8, 7, 5, 2]), [0.3, 0.2, 0.15, 0.1, 0.15, 0.1]
    a = rng.choice(vals, size=K, p=probs)
    b = np.where(rng.random(K) < 0.8, a, rng.choice(vals, size=K, p=probs))
    return a, b, np.arange(K)


def test_paired_bootstrap_is_narrower_than_independent_when_accounts_correlate():
    a, b, acc = _paired_sample(np.random.default_rng(11))
    ind = nps_difference(a, b)
    paired = nps_difference(a, b, paired_accounts=(acc, acc), seed=5)
    assert paired.estimate == pytest.approx(ind.estimate)
    assert "paired" in paired.method and paired.n_accounts == 300
    assert paired.upper - paired.lower < 0.7 * (ind.upper - ind.lower)
    assert paired.lower <= paired.estimate <= paired.upper
    # one answer per account and sample: the paired SE is that of the per-account differences, by hand
    y = lambda s: (s >= 9).astype(float) - (s <= 6)  # noqa: E731  +1 promoter, 0 passive, −1 detractor
    se_hand = 100 * np.std(y(a) - y(b), ddof=1) / math.sqrt(len(a))
    assert paired.se == pytest.approx(se_hand, rel=0.1)
    assert 0 < paired.p_value <= 1


def test_paired_bootstrap_drops_accounts_seen_in_one_sample_only_and_says_so():
    a, b, acc = _paired_sample(np.random.default_rng(12), K=100)
    acc_b = acc.copy()
    acc_b[:10] = np.arange(1000, 1010)  # 10 answers of b from accounts that did not answer a
    res = nps_difference(a, b, paired_accounts=(acc, acc_b), n_boot=500)
    assert res.n_accounts == 90 and res.n_a == 90 and res.n_b == 90
    assert "left out 10 answer(s) of a and 10 of b" in res.method
    with pytest.raises(ValueError, match="0 account"):
        nps_difference(a, b, paired_accounts=(acc, acc + 5000))


# ------------------------------------------------------------------------------------------------ tables


def test_account_loyalty_definition():
    df = pd.DataFrame({"customer_id": ["x", "x", "x", "x", "y", "z", "z"],
                       "score": [10, 9, 7, 3, 6, 8, 10]})
    out = account_loyalty(df).set_index("customer_id")
    # x: 2 promoters, 1 passive, 1 detractor of 4 → 100 · (2 − 1)/4 = 25, mean (10+9+7+3)/4 = 7.25
    assert out.loc["x", "nps"] == 25 and out.loc["x", "mean_score"] == 7.25 and out.loc["x", "respondents"] == 4
    assert out.loc["y", "nps"] == -100 and out.loc["z", "nps"] == 50 and out.loc["z", "passives"] == 1
    with pytest.raises(ValueError, match="1 value out of range"):
        account_loyalty(df.assign(score=[10, 9, 7, 3, 6, 8, 99]))


def test_nps_by_matches_single_group_results_and_picks_method_per_group():
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"quarter": ["Q1"] * 30 + ["Q2"] * 300,
                       "score": np.concatenate([rng.integers(0, 11, 30), rng.integers(4, 11, 300)]),
                       "customer_id": np.concatenate([np.arange(30) % 10, np.arange(300) % 60])})
    out = nps_by(df, "quarter")
    assert list(out.columns[:5]) == ["group", "n", "nps", "lower", "upper"]
    assert list(out["group"]) == ["Q1", "Q2"] and list(out["n"]) == [30, 300]
    assert list(out["method"]) == ["adjusted_wald", "wald"]  # auto: small Q1, ordinary Q2
    for _, row in out.iterrows():
        single = net_promoter_score(df.loc[df["quarter"] == row["group"], "score"], "auto")
        assert (row["nps"], row["lower"], row["upper"]) == pytest.approx((single.nps, single.lower, single.upper))
        assert row["promoters"] + row["passives"] + row["detractors"] == pytest.approx(1)
    boot = nps_by(df, "quarter", account_col="customer_id", n_boot=500)
    assert set(boot["method"]) == {"account_bootstrap"}
    assert (boot["nps"] == out["nps"]).all()
    assert ((boot["lower"] <= boot["nps"]) & (boot["nps"] <= boot["upper"])).all()
