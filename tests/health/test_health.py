"""Health scores and the churn-risk list (csanalysis.health): no leakage from after the scoring date, the demo
"Done when" (data-driven AUC within 0.03 of the ceiling, planted signals among the strongest), signals and
metrics by hand on tiny frames, the list's layout and capacity cut, follow-up of a kept list."""
from __future__ import annotations

from pathlib import Path

import shutil

import numpy as np
import pandas as pd
import pytest

import csanalysis as cs
from csanalysis import health
from csanalysis.data import synth
from csanalysis.health.evaluation import _Boot, _Ranked
from csanalysis.periods import month_index
from csanalysis.stats import ranking

DATED = {"revenue": "date", "usage": "date", "nps": "date", "payments": "date", "cs_activities": "date",
         "cs_costs": "month"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("health") / "d"
    data = synth.write_demo(out, n_customers=1500, months=30, seed=5)
    return out, data.truth


def _copy_without_future(src, dst, ref: pd.Timestamp, mode: str):
    """A copy of the data folder where every row dated after ``ref`` is deleted (``delete``) or moved a month
    later (``move``: all but invoices; usage and survey numbers scrambled); when deleting, customers who sign up after ``ref`` go too."""
    shutil.copytree(src, dst)
    rng = np.random.default_rng(1)
    for table, col in DATED.items():
        path = dst / f"{table}.parquet"
        df = pd.read_parquet(path)
        late = df[col] > ref
        assert late.any(), f"{table}: the test needs rows after the scoring date"
        if mode == "delete":
            df = df[~late]
        elif table != "revenue":  # invoices stay (a moved credit note would no longer match what it credits)
            moved = df[late].copy()
            moved[col] = moved[col] + pd.DateOffset(months=1)
            if table in ("usage", "nps"):
                for c in moved.select_dtypes("number").columns:
                    moved[c] = rng.permutation(moved[c].to_numpy())
            df = pd.concat([df[~late], moved], ignore_index=True)
        df.to_parquet(path, index=False)
    if mode == "delete":
        cust = pd.read_parquet(dst / "customers.parquet")
        cust[cust["signup_date"] <= ref].to_parquet(dst / "customers.parquet", index=False)
    (dst / "churn_prob.parquet").unlink()


@pytest.mark.parametrize("mode", ["delete", "move"])
def test_no_leakage_rows_after_the_scoring_date_change_nothing(world, tmp_path, mode):
    src, truth = world
    scoring = pd.Timestamp("2023-09-30")
    as_of = truth["as_of"]
    _copy_without_future(src, tmp_path / "cut", scoring, mode)
    full = cs.load_dataset(src, as_of=as_of)
    cut = cs.load_dataset(tmp_path / "cut", as_of=as_of)
    kw = dict(scoring_date=scoring, horizon=3, n_boot=50, test_months=4)
    a, b = health.churn_risk(full, **kw), health.churn_risk(cut, **kw)
    assert a.evaluated and b.evaluated and a.model is not None
    cols = [c for c in a.current.columns if c != "renewal_date"]
    pd.testing.assert_frame_equal(a.current[cols], b.current[cols], check_exact=False, rtol=1e-9)
    np.testing.assert_allclose(a.model.coef_, b.model.coef_, rtol=1e-9)
    for k in ("scorecard", "model"):
        assert a.evaluations[k].auc == b.evaluations[k].auc
    # the mutation reaches data the signals read: one month later the two copies differ
    later = pd.Timestamp("2023-12-31")
    sa = health.signals(full, scoring_date=later).set_index("customer_id")
    sb = health.signals(cut, scoring_date=later).set_index("customer_id")
    common = sa.index.intersection(sb.index)
    assert len(common) < len(sa) or not np.allclose(sa.loc[common, "logins"], sb.loc[common, "logins"])


def test_signals_use_months_up_to_the_scoring_month_only(world):
    src, truth = world
    ds = cs.load_dataset(src, as_of=truth["as_of"])
    sig = health.signals(ds, scoring_date="2023-09-15")  # mid-month: the last complete month is August
    assert (sig["scoring_date"] == pd.Timestamp("2023-08-31")).all()
    u = ds.usage[ds.usage["month"] == pd.Timestamp("2023-08-01")].set_index("customer_id")["logins"]
    got = sig.set_index("customer_id")["logins"]
    np.testing.assert_array_equal(got.to_numpy(), u.reindex(got.index).fillna(0).to_numpy())
    with pytest.raises(ValueError, match="after the data's as_of"):
        health.signals(ds, scoring_date="2030-01-31")


def test_demo_model_close_to_ceiling_and_planted_signals_strongest():
    """Done when: on the demo data (seed 0, default size), the data-driven AUC on the later window is within 0.03
    of the ceiling (the generator's true probabilities); the planted signals rank among the strongest inputs."""
    demo = Path(__file__).resolve().parents[2] / "data" / "demo"
    ds = cs.load_dataset(demo)
    res = health.churn_risk(ds, true_prob=health.load_true_probabilities(demo), n_boot=200)
    auc = {k: e.auc["estimate"] for k, e in res.evaluations.items()}
    assert set(auc) == {"scorecard", "model", "ceiling"}
    assert abs(auc["model"] - auc["ceiling"]) <= 0.03, auc
    assert 0.6 < auc["ceiling"] < 0.9  # the ceiling is a real, imperfect score
    imp = res.model.importance.set_index("input")["rank"]
    planted = ["plan=Enterprise", "plan=Pro", "log_tenure", "log2_seats", "touch_model=tech", "nps_detractor",
               "falling_usage"]
    # log_mrr is left out: MRR is seats × the plan's price (both planted), and seats grow with the planted expansion
    # drivers (utilisation, usage growth), so MRR carries planted effects and its rank varies from world to world
    unplanted = ["features_used", "log_logins_per_seat", "log_days_since_login", "utilisation", "log_usage_trend",
                 "months_to_renewal"]
    assert imp[planted].max() <= 10, imp[planted]
    assert imp[unplanted].min() > 10, imp[unplanted]
    # the hand-weighted scorecard is judged the same way, and its gap to the ceiling reported with an interval
    gap = res.differences["scorecard"]
    assert gap["lower"] <= gap["estimate"] <= gap["upper"]


def test_auc_lift_and_capture_by_hand():
    frame = pd.DataFrame({"customer_id": list("abcdefghij"), "m": 0, "mrr": 1.0, "touch_model": "low",
                          "churned": [1, 1, 0, 0, 0, 0, 0, 0, 0, 0]})
    score = np.array([0.9, 0.3, 0.8, 0.2, 0.1, 0.1, 0.05, 0.04, 0.03, 0.02])
    ev = health.evaluate_score("s", score, frame, capacity=2, n_boot=50)
    # pairs (churner, stayer): a=0.9 beats all 8; b=0.3 beats 7 of 8 (loses to c=0.8) → 15/16
    assert ev.auc["estimate"] == pytest.approx(15 / 16)
    # top decile = the single top account (a, churned): rate 1 against 0.2 → lift 5, capture 1/2
    assert ev.lift_top_decile["estimate"] == pytest.approx(5.0)
    assert ev.capture_top_decile["estimate"] == pytest.approx(0.5)
    # capacity 2: a and c → precision 1/2
    assert ev.precision_at_capacity["estimate"] == pytest.approx(0.5)


def test_cluster_bootstrap_resamples_accounts_whole():
    boot = _Boot.draw(np.array(["a", "a", "b", "c", "c", "c"]), 200, 0)
    W = boot.rows()
    assert np.all(W[:, 0] == W[:, 1]) and np.all(W[:, 3] == W[:, 5])
    assert np.all(W[:, [0, 2, 3]].sum(axis=1) == 3)  # three accounts drawn each time
    # the sparse weighted sums equal the row-weight products they replace
    cols, vals = np.array([0, 1, 1, 0, 2, 2]), np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    dense = np.stack([(W * vals * (cols == c)).sum(axis=1) for c in range(3)], axis=1)
    np.testing.assert_allclose(boot.apply(boot.matrix(cols, vals, 3)), dense)
    np.testing.assert_allclose(boot.apply(boot.matrix(cols[[1, 4]], vals[[1, 4]], 3, rows=np.array([1, 4]))),
                               np.stack([np.zeros(200), W[:, 1] * 2.0, W[:, 4] * 5.0], axis=1))
    # a rate's two sums: Σ value and the number of rows, per column and replicate
    total, n = boot.rates(boot.ratio_matrix(cols, vals, 3))
    np.testing.assert_allclose(total, dense)
    np.testing.assert_allclose(n, np.stack([(W * (cols == c)).sum(axis=1) for c in range(3)], axis=1))


@pytest.mark.parametrize("seed", range(5))
def test_bootstrap_auc_and_top_share_equal_the_plain_ranking_per_replicate(seed):
    """The evaluation's sparse per-bin sums over the account bootstrap give, for each replicate, the AUC and top
    share of csanalysis.stats.ranking with that replicate's row weights."""
    rng = np.random.default_rng(seed)
    n = 300
    score = np.round(rng.random(n), 2)  # many ties
    y = (rng.random(n) < 0.15).astype(float)
    boot = _Boot.draw(np.array([f"c{i}" for i in rng.integers(0, 50, n)], dtype=object), 6, seed)
    r = _Ranked(score, y, boot)
    auc, (top_y, top_w) = r.auc(boot), r.top_share(boot, 0.1)
    for b, w in enumerate(boot.rows().astype(float)):
        assert auc[b] == pytest.approx(ranking.weighted_auc(score, y, w), rel=1e-12)
        assert (top_y[b], top_w[b]) == pytest.approx(ranking.top_share(score, y, 0.1, w), rel=1e-12, abs=1e-12)


def test_evaluation_in_blocks_of_replicates_gives_the_numbers_of_one_block(monkeypatch):
    """The evaluation reads its replicates a block at a time (stats.bootstrap.BLOCK_CELLS); many small blocks give
    the numbers of one block, and the same _Boot.draw whatever the block size."""
    from csanalysis.stats import bootstrap

    rng = np.random.default_rng(3)
    n = 400
    f = pd.DataFrame({"customer_id": [f"c{i}" for i in rng.integers(0, 80, n)], "m": rng.integers(0, 3, n),
                      "churned": (rng.random(n) < 0.2).astype(int), "mrr": np.round(rng.random(n) * 100)})
    prob = np.round(np.clip(0.1 + 0.3 * f["churned"] + 0.3 * rng.random(n), 0, 1), 2).to_numpy()
    one = health.evaluate_score("x", prob, f, capacity=5, capacity_by="total", n_boot=60, seed=2)
    assert len(bootstrap.replicate_blocks(60, n)) == 1
    monkeypatch.setattr(bootstrap, "BLOCK_CELLS", 3 * n)  # 3 replicates per block, and draws 3 × 80 at a time
    assert len(bootstrap.replicate_blocks(60, n)) == 20
    many = health.evaluate_score("x", prob, f, capacity=5, capacity_by="total", n_boot=60, seed=2)
    assert one.to_dict() == many.to_dict() and one.auc["lower"] is not None
    np.testing.assert_array_equal(one.auc_boot, many.auc_boot)
    pd.testing.assert_frame_equal(one.calibration, many.calibration)


def test_scorecard_points_and_validation(tmp_path):
    card = health.Scorecard.from_dict({"measures": {
        "days_since_login": {"weight": 3, "direction": "lower_is_better", "thresholds": {"good": 7, "poor": 30}},
        "nps_category": {"weight": 1, "categories": {"promoter": "good", "passive": "average", "detractor": "poor"}}}})
    f = pd.DataFrame({"days_since_login": [3, 20, 45, np.nan], "nps_category": ["promoter", "detractor", "passive", "none"]})
    # (3·100 + 1·100)/4, (3·50 + 0)/4, (0 + 50)/4, nothing known → NaN
    np.testing.assert_allclose(card.points(f), [100, 37.5, 12.5, np.nan])
    assert list(card.band(card.points(f)[:3])) == ["good", "poor", "poor"]
    with pytest.raises(ValueError, match="wrong order"):
        health.Scorecard.from_dict({"measures": {"utilisation": {"weight": 1, "thresholds": {"good": 0.2, "poor": 0.8}}}})
    with pytest.raises(ValueError, match="not a signal"):
        health.Scorecard.from_dict({"measures": {"shoe_size": {"weight": 1, "thresholds": {"good": 1, "poor": 0}}}})
    default = health.Scorecard.from_yaml()
    assert sum(m.weight for m in default.measures) > 0


def test_list_layout_capacity_pseudonyms_and_follow_up(world, tmp_path, monkeypatch):
    src, truth = world
    ds = cs.load_dataset(src, as_of=truth["as_of"])
    res = health.churn_risk(ds, scoring_date="2023-12-31", capacity=5, n_boot=50)
    lst = health.risk_list(res)
    assert list(lst.columns) == list(health.LIST_COLUMNS)
    assert len(lst) == len(res.current) and lst["rank"].tolist() == list(range(1, len(lst) + 1))
    # the result's two scorecards hold what their names say; it is built by keyword only
    assert isinstance(res.scorecard, health.Scorecard) and isinstance(res.calibrated_scorecard, health.CalibratedScorecard)
    assert res.calibrated_scorecard.scorecard is res.scorecard and res.calibrated_scorecard.n_train == res.train_rows
    pd.testing.assert_frame_equal(res.summary, pd.DataFrame([e.row() for e in res.evaluations.values()]))
    with pytest.raises(TypeError):
        health.ChurnRisk(res.scoring_month, res.scoring_date)
    on = lst[lst["on_list"] == 1]
    assert on.groupby("touch_model").size().max() == 5 and set(on["touch_model"]) <= {"high", "low", "tech"}
    assert (on["reasons"].str.len() > 0).all()
    assert lst["churn_probability"].is_monotonic_decreasing
    np.testing.assert_allclose(lst["arr_at_risk"], lst["churn_probability"] * 12 * lst["mrr"])
    # a later list: which accounts are new, and how the earlier list fared (counted by hand from the spells)
    health.archive_list(lst, tmp_path / "kept")
    prev = health.read_list(health.latest_archived(tmp_path / "kept", "2024-03-31"))
    later = health.risk_list(health.churn_risk(ds, scoring_date="2024-03-31", capacity=5, n_boot=50), previous=prev)
    was = set(prev.loc[prev["on_list"] == 1, "customer_id"])
    new = later[later["on_list"] == 1]
    assert (new["new_on_list"] == (~new["customer_id"].isin(was)).astype(int)).all()
    fu = health.follow_up(prev, ds)
    sp = ds.spells
    gone = sp[(sp["event"] == 1) & (sp["end"] > "2023-12-31") & (sp["end"] <= "2024-03-31")]["customer_id"]
    assert fu["listed"] == len(was) and fu["churned"] == len(was & set(gone))
    assert fu["churn_share"]["lower"] <= fu["churn_share"]["estimate"] <= fu["churn_share"]["upper"]
    # pseudonymised ids: none of the raw ids appear, and they are stable
    monkeypatch.setenv("CSANALYSIS_PSEUDONYM_KEY", "k" * 32)
    p1, p2 = health.risk_list(res, pseudonymise=True), health.risk_list(res, pseudonymise=True)
    assert not set(p1["customer_id"]) & set(lst["customer_id"]) and p1["customer_id"].equals(p2["customer_id"])


def test_too_little_history_ranks_by_scorecard_and_says_why():
    ds = cs.load_dataset("tests/fixtures/cohort10")
    res = health.churn_risk(ds, capacity=3, n_boot=20)
    assert res.model is None and not res.evaluated and "too short" in res.fit_reason
    assert res.calibrated_scorecard is None and isinstance(res.scorecard, health.Scorecard)  # ranked by its points
    lst = health.risk_list(res)
    assert (lst["score_source"] == "scorecard_points").all() and lst["churn_probability"].isna().all()
    assert lst["scorecard_points"].fillna(50).is_monotonic_increasing
    m = res.metrics(lst)
    assert m["list"]["expected_arr_loss"] is None and m["fit_reason"] and m["auc"]["model"]["reason"]
    from csanalysis.report import i18n  # the report says why in its own language

    try:
        i18n.set_language("ja")
        assert "データが短すぎます" in res.why("fit", i18n.tr) and "データが短すぎます" in res.why("evaluation", i18n.tr)
    finally:
        i18n.set_language("en")
    assert res.why("fit") == res.fit_reason


def test_model_sample_keeps_whole_accounts_and_scores_everyone(world):
    """Above the stated size (grouped.model_dataset with a low max_customers), the fits and the test read the
    engine sample of whole customers, and only its account-months; every account paying at the scoring date is
    still scored, from that month's signals read a part of the customers at a time, with the signals a reading of
    all customers gives; the planted signal is still found."""
    from csanalysis import grouped

    folder, truth = world
    full = health.churn_risk(cs.load_dataset(folder), n_boot=50)
    assert full.sample is None and full.metrics()["model_sample"] is None
    ds = cs.load_dataset(folder)  # another load: nothing read into pandas before the sample and the parts
    n = grouped.customer_count(ds)
    mds = grouped.model_dataset(ds, max_customers=500)
    small = health.churn_risk(ds, n_boot=50, model_ds=mds, part_customers=400)  # ⌈n / 400⌉ parts
    s = small.sample
    ids = set(grouped.sample_ids(ds, 500 / n))
    assert s == mds.sample and small.metrics()["model_sample"] == s
    assert s["drawn"] == len(ids) and s["customers"] == n > 1000 and s["fraction"] == pytest.approx(500 / n)
    # the training rows: the sample's account-months of the closed scoring months, counted from the panel
    pm = month_index(ds.panel["month"])
    first, last = ds.data_start_m + 2, ds.last_closed_month(3, ds.settings.grace_months)
    mine = ds.panel["customer_id"].astype(str).isin(ids).to_numpy()
    assert small.train_rows == int((mine & (pm >= first) & (pm <= last)).sum()) < full.train_rows
    assert set(small.test["customer_id"].astype(str)) <= ids
    # whole accounts: an account in the test window has all of its test months
    whole = full.test[full.test["customer_id"].astype(str).isin(ids)]
    assert len(whole) == len(small.test)
    # every account paying at the scoring date is scored, with the signals of a reading of every customer
    paying = set(ds.panel.loc[pm == ds.as_of_m, "customer_id"].astype(str))
    assert set(small.current["customer_id"].astype(str)) == paying and len(small.current) == len(paying)
    cols = [c for c in full.current.columns if c not in ("p_model", "p_scorecard")]
    pd.testing.assert_frame_equal(small.current[cols], full.current[cols])
    assert small.current["p_model"].notna().all()
    assert not np.allclose(small.current["p_model"], full.current["p_model"])  # refitted on the sample
    # the data-driven score still ranks better than chance on the sample
    assert small.evaluations["model"].auc["lower"] > 0.5


def _closed_year(world) -> pd.DataFrame:
    """The closed rows of the world's first twelve scoring months (signals and churn outcome)."""
    ds = cs.load_dataset(world[0])
    first = month_index(ds.data_start) + 2
    frame = health.outcomes(ds, health.signals(ds, range(first, first + 12)))
    return frame[frame["closed"]]


def test_importance_started_at_the_penalised_fit_equals_the_cold_start(world):
    """The unpenalised Newton fit behind the importance table begins at the penalised coefficients (fewer steps);
    it reaches the same optimum as statsmodels' default start, to Newton's tolerance."""
    frame = _closed_year(world)
    m = health.fit_model(frame)
    Z = (health.design(frame)[m.features].to_numpy() - m.mean_) / m.scale_
    cold = health.importance_table(Z, frame["churned"].to_numpy(), frame["customer_id"].to_numpy(), m.features,
                                    m.coef_, 0.05)
    assert cold["glm_or_per_sd"].notna().all()
    pd.testing.assert_frame_equal(m.importance, cold, rtol=1e-9, check_exact=False)
    # fit_model writes the standardised design once, into the importance fit's [1, Z]: the same table to the last
    # bit as the public function given Z and the same start
    warm = health.importance_table(Z, frame["churned"].to_numpy(), frame["customer_id"].to_numpy(), m.features,
                                    m.coef_, 0.05, start=np.r_[m.intercept_, m.coef_])
    pd.testing.assert_frame_equal(m.importance, warm, check_exact=True)



def test_cluster_covariance_equals_statsmodels_cluster_fit():
    """The importance fit's cluster-robust covariance, computed after a plain fit with the Hessian before the rows'
    scores (fewer rows × inputs arrays held at once), is statsmodels' cov_type="cluster" to the last bit."""
    import statsmodels.api as sm

    from csanalysis.health.model import _cluster_cov

    rng = np.random.default_rng(3)
    n = 4000
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 4))])
    y = (rng.random(n) < 1 / (1 + np.exp(-(X[:, 1] - 1.5)))).astype(float)
    g = pd.factorize(rng.integers(0, 700, n))[0]
    clustered = sm.Logit(y, X).fit(method="newton", disp=0, cov_type="cluster", cov_kwds={"groups": g})
    plain = sm.Logit(y, X).fit(method="newton", disp=0)
    cov = _cluster_cov(plain, g)
    np.testing.assert_array_equal(cov, clustered.cov_params())
    np.testing.assert_array_equal(np.sqrt(np.diag(cov)), clustered.bse)
    assert not np.allclose(cov, plain.cov_params())  # not the model-based covariance


def test_design_written_into_one_block_equals_a_frame_of_its_columns(world):
    """design() writes its columns into one preallocated block (no second copy of the inputs): the same frame, to
    the last bit, as pandas makes of the columns one by one, with the same per-column means and spreads."""
    from csanalysis.health.model import _inputs
    from csanalysis.health.signals import ATTRIBUTES

    folder, _ = world
    ds = cs.load_dataset(folder)
    first = month_index(ds.data_start) + 2
    frame = health.outcomes(ds, health.signals(ds, range(first, first + 12)))
    X = health.design(frame)
    ref = pd.DataFrame({k: np.asarray(v, dtype=float) for k, v in _inputs(frame, ATTRIBUTES)},
                       index=frame.index)
    pd.testing.assert_frame_equal(X, ref, check_exact=True)
    assert X._mgr.nblocks == 1 and X.shape[1] > 16  # one block; the attributes' columns are there
    np.testing.assert_array_equal(X.mean().to_numpy(), ref.mean().to_numpy())
    np.testing.assert_array_equal(X.std(ddof=0).to_numpy(), ref.std(ddof=0).to_numpy())

def test_fit_model_standardises_as_the_whole_design_and_widens_its_buffer_in_place(world):
    """fit_model reduces the inputs a column at a time and writes Z column by column into one buffer: its means and
    scales are the whole design's X.mean() and X.std(ddof=0) to the last bit, and _widen turns that buffer's Z into
    the importance fit's [1, Z] in place, equal to a fresh hstack."""
    from csanalysis.health.model import _widen

    folder, _ = world
    ds = cs.load_dataset(folder)
    first = month_index(ds.data_start) + 2
    frame = health.outcomes(ds, health.signals(ds, range(first, first + 12)))
    frame = frame[frame["closed"]]
    m = health.fit_model(frame, importance=False)
    X = health.design(frame)[m.features]
    np.testing.assert_array_equal(m.mean_, X.mean().to_numpy())
    np.testing.assert_array_equal(m.scale_, X.std(ddof=0).to_numpy())
    rng = np.random.default_rng(3)
    for n, k, rows in [(1, 1, 4), (7, 3, 2), (1000, 26, 65), (5, 0, 2)]:
        Z = rng.normal(size=(n, k))
        buffer = np.empty(n * (k + 1))
        buffer[:n * k] = Z.ravel()
        D = _widen(buffer, n, k, rows)
        assert np.shares_memory(D, buffer) and D.flags.c_contiguous
        np.testing.assert_array_equal(D, np.hstack([np.ones((n, 1)), Z]))


def test_signals_share_falling_usage_and_nps_category_with_monthly_signals(world):
    """signals() reads falling_usage and the NPS category from its own account numbering and usage/panel grids;
    they must equal data/signals.py's monthly_signals asked for the month after each scoring month."""
    from csanalysis.data.signals import monthly_signals
    src, _ = world
    ds = cs.load_dataset(src)
    T = health.scoring_month(ds)
    f = health.signals(ds, np.arange(T - 8, T + 1))
    assert f["falling_usage"].any() and (f["nps_category"] != "none").any()
    want = monthly_signals(ds, pd.DataFrame({"customer_id": f["customer_id"], "month": f["m"] + 1}))
    np.testing.assert_array_equal(f["falling_usage"].to_numpy(), want["falling_usage"].to_numpy())
    assert f["falling_usage"].dtype == np.int8
    np.testing.assert_array_equal(f["nps_category"].to_numpy(), want["nps_category"].to_numpy())


@pytest.mark.parametrize("seed", range(10))
def test_true_probability_equals_the_multiindex_lookup(seed):
    rng = np.random.default_rng(seed)
    ids = np.array([f"c{i}" for i in range(12)], dtype=object)
    cp = pd.DataFrame({"customer_id": rng.choice(ids[:10], 80),  # c10, c11: no generator rows
                       "month": pd.to_datetime("2023-01-01") + pd.to_timedelta(rng.integers(0, 14, 80) * 31, "D"),
                       "p": np.where(rng.random(80) < 0.1, np.nan, rng.random(80))})
    cp["month"] = cp["month"].dt.to_period("M").dt.to_timestamp()  # repeated (id, month) rows: the first counts
    frame = pd.DataFrame({"customer_id": rng.choice(ids, 50), "m": rng.integers(2023 * 12 - 2, 2023 * 12 + 15, 50)})
    p = pd.Series(cp["p"].to_numpy(), index=pd.MultiIndex.from_arrays([cp["customer_id"], cs.periods.month_index(cp["month"])]))
    p = p[~p.index.duplicated()]
    v = p.reindex(pd.MultiIndex.from_arrays([frame["customer_id"], frame["m"] + 1])).to_numpy()
    np.testing.assert_array_equal(health.true_probability(frame, cp, 3), 1 - (1 - v) ** 3)


def test_scorecard_points_given_equal_points_computed(world):
    src, _ = world
    ds = cs.load_dataset(src)
    T = health.scoring_month(ds)
    f = health.outcomes(ds, health.signals(ds, np.arange(T - 12, T + 1)), 3)
    sc = health.Scorecard.from_yaml(None)
    pts = sc.points(f)
    half = f["m"].to_numpy() < T - 6
    np.testing.assert_array_equal(pts[half], sc.points(f[half]))  # a function of each row alone
    a = health.calibrate_scorecard(sc, f[half])
    b = health.calibrate_scorecard(sc, f[half], points=pts[half])
    np.testing.assert_array_equal(a.predict(f[~half]), b.predict(f[~half], pts[~half]))


def test_churn_risk_without_importance_gives_the_same_scores(world):
    """importance=False (notebook 07's renewal calendar) leaves out the importance table only: the same fitted model,
    the same scores of every account and the same list."""
    ds = cs.load_dataset(world[0])
    full = health.churn_risk(ds, n_boot=20, test_months=0)
    lean = health.churn_risk(ds, n_boot=20, test_months=0, importance=False)
    assert full.model.importance is not None and len(full.model.importance)
    assert lean.model.importance is None and lean.metrics()["importance"] == []
    np.testing.assert_array_equal(lean.model.coef_, full.model.coef_)
    assert lean.model.intercept_ == full.model.intercept_
    pd.testing.assert_frame_equal(lean.current, full.current)
    pd.testing.assert_frame_equal(health.risk_list(lean), health.risk_list(full))


def test_penalised_fit_on_the_importance_design_s_buffer_equals_scikit_learn_on_its_own_copy(world):
    """With the importance table, fit_model standardises the design into the start of the importance fit's [1, Z]
    buffer (scikit-learn takes it uncopied) and then spreads it out in place: the penalised coefficients are those
    of scikit-learn fitted on an independently standardised copy, to the last bit, and so are the scores."""
    from sklearn.linear_model import LogisticRegression

    frame = _closed_year(world)
    m = health.fit_model(frame)
    assert m.importance is not None and len(m.importance) == len(m.features)
    X = health.design(frame)[m.features].to_numpy()
    Z = np.ascontiguousarray((X - m.mean_) / m.scale_)
    ref = LogisticRegression(C=m.C, max_iter=2000).fit(Z, frame["churned"].to_numpy())
    np.testing.assert_array_equal(m.coef_, ref.coef_[0])
    assert m.intercept_ == ref.intercept_[0]
    np.testing.assert_allclose(m.predict(frame), ref.predict_proba(Z)[:, 1], rtol=1e-12)


@pytest.mark.parametrize("n,k,block", [(0, 3, 4), (1, 3, 4), (12, 3, 4), (13, 5, 4), (100, 1, 7), (5000, 26, 512)])
def test_widen_moves_a_design_within_its_buffer(n, k, block):
    """fit_model's in-place move: _widen turns a rows × k array Z at the start of its buffer into [1, Z] in the same
    buffer, for any number of rows against the block (none, one, a partial last block)."""
    from csanalysis.health.model import _widen

    buffer = np.empty(n * (k + 1))
    Z = buffer[:n * k].reshape(n, k)
    Z[:] = np.random.default_rng(n + k).normal(size=(n, k))
    ref = Z.copy()
    D = _widen(buffer, n, k, block)
    assert D.flags.c_contiguous and (n == 0 or np.shares_memory(D, buffer))
    np.testing.assert_array_equal(D, np.column_stack([np.ones(n), ref]))
