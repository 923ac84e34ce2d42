"""NPS against revenue: alignment by hand on a tiny fixture, planted truth on a generated world, and the primary
test's power and false-positive rate over 200 simulated worlds each."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import csanalysis as cs
from csanalysis import nps
from csanalysis.data import synth

from conftest import generated_world


# ------------------------------------------------------------------------------------------------ hand computation


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Five accounts, as_of 2024-12-31, no grace period.

    * A pays 100 a month Jan–Dec 2024; answers 10 on 2024-03-15 (baseline Feb = 100).
    * B pays 100 Jan–Apr 2024 and stops (churn month May); answers 3 on 2024-02-10 (baseline Jan = 100).
    * C pays 50 Jan–Mar, 75 Apr–Dec; answers 8 on 2024-03-05 (baseline Feb = 50) and its colleague 6 the same day.
    * D starts paying in Jan 2024 and answers 9 on 2024-01-20: no baseline (not paying in Dec 2023).
    * E pays 200 Jan–Dec; answers 9 on 2024-10-10 (baseline Sep): its 3-month window ends Dec (complete), its
      6-month window ends Mar 2025 (after as_of: excluded).
    """
    d = tmp_path_factory.mktemp("tiny_nps")
    months = pd.date_range("2024-01-01", "2024-12-01", freq="MS")
    rows = []
    for m in months:
        rows.append(("A", m, 100))
        if m.month <= 4:
            rows.append(("B", m, 100))
        rows.append(("C", m, 50 if m.month <= 3 else 75))
        rows.append(("D", m, 30))
        rows.append(("E", m, 200))
    pd.DataFrame(rows, columns=["customer_id", "date", "amount"]).to_csv(d / "revenue.csv", index=False)
    pd.DataFrame({"customer_id": list("ABCDE"), "signup_date": ["2024-01-01"] * 5,
                  "plan": ["Pro", "Basic", "Pro", "Basic", "Pro"]}).to_csv(d / "customers.csv", index=False)
    pd.DataFrame({"customer_id": ["A", "B", "C", "C", "D", "E"],
                  "date": ["2024-03-15", "2024-02-10", "2024-03-05", "2024-03-05", "2024-01-20", "2024-10-10"],
                  "score": [10, 3, 8, 6, 9, 9], "respondent_id": ["A1", "B1", "C1", "C2", "D1", "E1"],
                  "csat": [5, 1, 4, 3, 5, 4]}).to_csv(d / "nps.csv", index=False)
    return cs.load_dataset(d, as_of="2024-12-31")


def test_alignment_by_hand(tiny):
    al = nps.align(tiny, horizons=(3, 6))
    t = al.table.set_index("respondent_id")
    # baselines: the month before the survey
    assert t.loc["A1", "mrr_base"] == 100 and t.loc["B1", "mrr_base"] == 100 and t.loc["C1", "mrr_base"] == 50
    assert math.isnan(t.loc["D1", "mrr_base"])
    # A: Feb → May (3) and Feb → Aug (6): stays, no change
    assert (t.loc["A1", "churned_3"], t.loc["A1", "mrr_change_3"], t.loc["A1", "expanded_3"]) == (0, 0, 0)
    assert t.loc["A1", "churned_6"] == 0
    # B: Jan → Apr: still paying in Apr (churn month is May) → stays at 3; churned by Jul (6)
    assert t.loc["B1", "churned_3"] == 0 and t.loc["B1", "mrr_change_3"] == 0
    assert t.loc["B1", "churned_6"] == 1 and math.isnan(t.loc["B1", "mrr_change_6"])
    # C: Feb 50 → May 75: +50%, expansion; both colleagues aligned the same way
    assert t.loc["C1", "mrr_change_3"] == pytest.approx(50.0) and t.loc["C2", "mrr_change_3"] == pytest.approx(50.0)
    assert t.loc["C1", "expanded_3"] == 1 and t.loc["C1", "contracted_3"] == 0
    # D: no baseline → excluded; E: 3-month window complete (Dec), 6-month one is not
    assert math.isnan(t.loc["D1", "churned_3"])
    assert t.loc["E1", "churned_3"] == 0 and math.isnan(t.loc["E1", "churned_6"]) and not t.loc["E1", "complete_6"]
    ex = al.excluded.set_index(["horizon", "reason"])["responses"]
    assert ex[(3, "no_baseline")] == 1 and ex[(3, "window_incomplete")] == 0
    assert ex[(6, "no_baseline")] == 1 and ex[(6, "window_incomplete")] == 1
    c = al.counts().set_index("horizon")
    assert c.loc[3, "used_churn"] == 5 and c.loc[6, "used_churn"] == 4 and c.loc[6, "used_revenue"] == 3
    # per category at 6 months: detractors B (churned) and C2 (stayed, +50%): churn 1/2, change +50
    co = nps.category_outcomes(al, 6, n_boot=200).set_index("category")
    assert co.loc["detractor", "churn_rate"] == pytest.approx(0.5)
    assert co.loc["detractor", "mrr_change"] == pytest.approx(50.0)
    assert co.loc["promoter", "responses"] == 1 and co.loc["promoter", "churn_rate"] == 0  # A only (D, E excluded)


def test_coverage_and_bias_by_hand(tiny):
    cov = nps.coverage(tiny, "quarter").set_index("period")
    # 2024-Q1: A, B, C, D, E pay; A, B, C, D answered (4 of 5); C has two respondents
    q1 = cov.loc["2024-Q1"]
    assert (q1["customers"], q1["respondent_accounts"], q1["responses"]) == (5, 4, 5)
    assert q1["share"] == pytest.approx(0.8) and q1["max_respondents"] == 2
    # MRR in Q1: A 300, B 300, C 150, D 90, E 600 → respondents 840 of 1440
    assert q1["mrr_share"] == pytest.approx(840 / 1440)
    q4 = cov.loc["2024-Q4"]
    assert (q4["customers"], q4["respondent_accounts"]) == (4, 1) and q4["mrr_share"] == pytest.approx(600 / (300 + 225 + 90 + 600))  # A, C, D, E in Q4
    bias = nps.response_bias(tiny, "quarter", "2024-Q1").set_index("measure")
    assert bias.loc["mrr", "mean_respondents"] == pytest.approx((100 + 100 + 50 + 30) / 4)
    assert bias.loc["mrr", "mean_non_respondents"] == pytest.approx(200)


def test_too_little_data_gives_reasons_not_numbers(tiny):
    res = nps.nps_revenue(tiny, horizons=(3, 6), segment="plan", n_boot=200)
    m = res.metrics()
    json.dumps(m, allow_nan=False)
    p = m["primary_test"]
    assert p["estimate"] is None and "churn" in p["reason"] and p["significant"] is False
    with pytest.raises(ValueError, match="primary="):
        nps.parse_primary("churn_6m_detractor_vs_detractor")


# ------------------------------------------------------------------------------------------------ planted truth


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The default demo world (3,000 customers, 36 months, seed 0: what `make demo` writes)."""
    data, ds = generated_world(tmp_path_factory, "nps_planted", n_customers=3000, months=36, seed=0)
    return data, ds, nps.align(ds, (6, 12), segment="plan")


def _true_churn_risk(data, al: nps.Alignment, k: int) -> pd.Series:
    """Expected churn within k months per response category from the generator's true monthly probabilities
    (``churn_prob``): for each response, the sum of the true churn probabilities over the months it was at risk
    in its window (the compensator: its expectation equals the expected churn indicator). Respondents answer
    after the survey month's churn, so the window's months at risk are s + 1 … s − 1 + k."""
    cp = data.churn_prob.assign(m=lambda d: d["month"].dt.year * 12 + d["month"].dt.month - 1)
    p = cp.set_index(["customer_id", "m"])["p"]
    t = al.rows(k)
    a = sum(p.reindex(pd.MultiIndex.from_arrays([t["customer_id"].to_numpy(), t["baseline_month"].to_numpy() + j]))
            .fillna(0.0).to_numpy() for j in range(2, k + 1))
    return pd.Series(a, index=t.index).groupby(t["category"]).mean()


def test_planted_churn_risk_ratio_and_revenue_difference_are_covered(planted):
    """Truth: the churn risk ratio detractor ÷ promoter within 6 months implied by the planted hazards (1.8 and
    promoter 1; the respondent's own category differs from the account's, so the ratio is smaller), and the
    generator's ``nps_mrr_change_12m_pp``. Stated widths: the risk-ratio interval spans less than a factor 1.9
    (upper ÷ lower), the revenue interval less than 8 points."""
    data, ds, al = planted
    risk = _true_churn_risk(data, al, 6)
    rr_true = risk["detractor"] / risk["promoter"]
    assert 1.2 < rr_true < 1.8
    m = nps.churn_model(al, 6)
    e = m.effect("detractor", "promoter")
    assert e["rr_lower"] <= rr_true <= e["rr_upper"], (e, rr_true)
    assert e["rr_upper"] / e["rr_lower"] < 1.9
    assert e["rd_lower"] <= risk["detractor"] - risk["promoter"] <= e["rd_upper"]
    truth_pp = data.truth["nps_mrr_change_12m_pp"]
    r = nps.revenue_model(al, 12, controls=["segment", "mrr_base"]).effect("promoter", "detractor")
    assert r["lower"] <= truth_pp <= r["upper"], (r, truth_pp)
    assert r["upper"] - r["lower"] < 8.0
    co = nps.category_outcomes(al, 12, n_boot=500).set_index("category")
    raw = co.loc["promoter", "mrr_change"] - co.loc["detractor", "mrr_change"]
    assert abs(raw - truth_pp) < 4.0  # the unadjusted difference of the category bars agrees


def test_primary_test_and_summary_on_the_planted_world(planted):
    data, ds, al = planted
    res = nps.nps_revenue(ds, segment="plan", n_boot=300)
    p = res.primary
    assert p["significant"] and p["estimate"] > 1 and p["lower"] > 1
    roles = res.comparisons["role"].value_counts()
    assert roles["primary"] == 1 and roles["exploratory"] == len(res.comparisons) - 1
    expl = res.comparisons[res.comparisons["role"] == "exploratory"]
    assert (expl["p_holm"] >= expl["p_value"] - 1e-12).all()
    m = res.metrics()
    json.dumps(m, allow_nan=False)
    for k in ("6m", "12m"):
        assert m["effects"][k]["churn_dropped_missing"] == 0
        est = m["correlation"][k]["spearman"]
        assert est["lower"] < est["estimate"] < est["upper"]
    assert m["nps_vs_other"]["auc_churn_6m"]["nps"]["estimate"] > 0.5


# ------------------------------------------------------------------------------------------------ power and null world


def _simulate_primary(n_worlds: int, seed: int, *, null_world: bool, n_customers: int = 3000, months: int = 36):
    """A direct, vectorised simulation of the data-generating process behind the primary test (detractor vs
    promoter churn within 6 months), at demo size, many worlds at once. It follows csanalysis.data.synth
    (its constants are imported): signups (10% before the window), plan/touch/channel/seats hazards, a baseline
    hazard falling with tenure, failed payments, falling usage from the engagement process, the program from
    month 18, surveys every 6 months from month 3 (half the paying accounts, 1–3 respondents, scores from
    satisfaction and, outside the null world, engagement), the account's latest category acting on its hazard
    (detractor 1.8, passive 1.2; 1 in the null world). Left out: reactivations (1% a month of recent churners)
    and revenue. Returns one aligned table (world, customer_id, category, churned_6) per world."""
    rng = np.random.default_rng(seed)
    W, n = n_worlds, n_customers
    N = W * n
    acc = synth.draw_accounts(rng, N, months)  # the generator's own account draws
    pre, signup, plan, seats = acc["pre"], acc["signup"], acc["plan"], acc["seats"]
    annual = (rng.random(N) < np.array([0.2, 0.35, 0.6])[plan]) & ~pre
    sat = rng.normal(0, 1, N)
    base = synth.baseline_eta(acc)
    eng = rng.normal(0, 0.3, N)
    active = np.zeros(N, bool)
    start = np.full(N, -10**6)
    hist = np.full((N, 3), np.nan)
    cat = np.full(N, -1)
    b_det, b_pas = (0.0, 0.0) if null_world else (synth.B_DET, synth.B_PAS)
    surveys = set(range(3, months, 6))
    churn_month = np.full(N, 10**6)
    out = []
    for c in range(int(signup.min()), months):
        new = signup == c
        active[new], start[new] = True, c
        idx = np.nonzero(active & (start < c))[0]
        tenure = c - start[idx]
        attempt = ~annual[idx] | ((tenure % 12) == 0)
        fail = attempt & (rng.random(idx.size) < np.where(plan[idx] == 0, 0.06, 0.03))
        prev = hist[idx]
        done = ~np.isnan(prev).any(axis=1)
        falling = np.zeros(idx.size, bool)
        falling[done] = prev[done, 0] < 0.6 * prev[done, 1:].mean(axis=1)
        k = cat[idx]
        eta = (np.log(synth.H0_SCALE) + synth.H0_POWER * np.log(tenure) + base[idx]
               + np.select([k == 0, k == 1], [b_det, b_pas], 0.0)
               + ((synth.B_FAIL * fail + synth.B_FALL * falling) if not null_world else 0.0)
               + (synth.B_PROG if (c >= 18 and not null_world) else 0.0))
        gone = idx[rng.random(idx.size) < -np.expm1(-np.exp(eta))]
        active[gone] = False
        churn_month[gone] = c
        payers = np.nonzero(active)[0]
        eng[payers] = 0.85 * eng[payers] + rng.normal(0, 0.35, payers.size)
        if not null_world:
            dip = payers[rng.random(payers.size) < 0.03]
            eng[dip] -= 1.5
        hist[:, 1:] = hist[:, :-1]
        hist[:, 0] = np.nan
        hist[payers, 0] = rng.poisson(seats[payers] * 8.0 * np.exp(eng[payers]))
        if c in surveys:
            resp = payers[(start[payers] < c) & (rng.random(payers.size) < 0.5)]
            r = np.repeat(resp, rng.integers(1, 4, resp.size))
            driver = sat[r] + (0.0 if null_world else 0.6 * eng[r])
            score = np.clip(np.round(7.2 + 1.8 * driver + rng.normal(0, 1.2, r.size)), 0, 10)
            ms = np.round(pd.Series(score).groupby(r).mean())
            cat[ms.index.to_numpy()] = np.select([ms.to_numpy() <= 6, ms.to_numpy() <= 8], [0, 1], 2)
            if c - 1 + 6 <= months - 1:  # the 6-month window is complete by as_of
                out.append((r, score, np.full(r.size, c)))
    r = np.concatenate([o[0] for o in out])
    score = np.concatenate([o[1] for o in out])
    c = np.concatenate([o[2] for o in out])
    t = pd.DataFrame({"world": r // n, "customer_id": r, "category": nps.category(score.astype(int)),
                      "churned_6": (churn_month[r] <= c - 1 + 6).astype(float)})
    return t


def _rejections(n_worlds: int, seed: int, null_world: bool) -> tuple[np.ndarray, pd.DataFrame]:
    sig, tables = [], []
    for b0 in range(0, n_worlds, 50):  # 50 worlds of 3,000 customers at a time
        t = _simulate_primary(min(50, n_worlds - b0), seed + b0, null_world=null_world)
        t["world"] += b0
        t["customer_id"] = t["world"].astype(str) + "-" + t["customer_id"].astype(str)
        for _, g in t.groupby("world", sort=True):
            sig.append(nps.primary_test(g)["significant"])
        tables.append(t)
    return np.array(sig), pd.concat(tables)


def test_primary_test_power_over_200_worlds():
    """200 simulated demo-size worlds (3,000 customers, 36 months; seeds 1000+) with the planted NPS effect on
    churn: the primary test (detractor vs promoter churn within 6 months, α = 0.05) detects it in at least 80%."""
    sig, t = _rejections(200, 1000, null_world=False)
    assert len(sig) == 200
    power = sig.mean()
    # the simulation looks like the generator's worlds: about 1,500 accounts and 4,000–6,000 responses each
    per = t.groupby("world").agg(n=("category", "size"), acc=("customer_id", "nunique"))
    assert 3000 < per["n"].median() < 7000 and 1000 < per["acc"].median() < 2200
    assert power >= 0.80, power


def test_primary_test_false_positives_in_the_null_world_over_200_worlds():
    """200 simulated null worlds (seeds 5000+; no NPS effect on churn, NPS independent of usage): the primary
    test is significant in at most 7% of them."""
    sig, _ = _rejections(200, 5000, null_world=True)
    assert len(sig) == 200
    assert sig.mean() <= 0.07, sig.mean()


def test_simulation_matches_the_generator_on_the_primary_comparison(planted):
    """The direct simulation reproduces the full generator's 6-month churn by category (seed 0 world against
    50 simulated worlds): each category's churn rate in the generated world lies inside the central 99% of
    the simulated worlds' rates."""
    data, ds, al = planted
    real = al.rows(6).groupby("category")["churned_6"].mean()
    _, sim = _rejections(50, 77, null_world=False)
    rates = sim.groupby(["world", "category"])["churned_6"].mean().unstack()
    for c in nps.CATEGORIES:
        lo, hi = np.quantile(rates[c], [0.005, 0.995])
        assert lo <= real[c] <= hi, (c, real[c], lo, hi)
