"""Churn risk on a snapshot (csanalysis.snapshot_risk): a penalised Cox model on the export's attributes, the
probability of churning within the horizon given the current tenure, k-fold cross-validation, the risk list of
active accounts; and notebook 04 on a snapshot folder.

The data: a generated CRM export (one row per customer: tenure in whole months, churned flag, plan, seats,
region, acquisition cost with 5% missing, mrr, signup date) with planted hazard ratios (plan Basic vs Pro, per
doubling of seats; region and acquisition cost none),
exponential lifetimes, censored at the snapshot date."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import csanalysis as cs
from csanalysis import health
from csanalysis import snapshot_risk as sr
from csanalysis.survival import survival_data

TRUTH = {"plan=Basic": 2.0, "log2(seats)": 0.8, "region=West": 1.0}
AS_OF = pd.Timestamp("2024-06-30")


def make_snapshot(folder: Path, n: int = 2000, seed: int = 7) -> pd.DataFrame:
    """Write ``snapshot.csv`` and ``mapping.yaml`` in ``folder``: signups spread over 72 months before AS_OF;
    lifetime X ~ exponential with rate 1/30 × HR(plan) × HR(seats); the customer churned in month floor(X) when
    that month had come by the snapshot (floor(X) ≤ months since signup, c), else it is active with tenure c
    (tenure 0: churned in its first month, or signed up in the as_of month)."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["Pro", "Basic"], size=n, p=[0.6, 0.4])
    seats = 2 ** rng.integers(0, 6, size=n)
    region = rng.choice(["East", "West"], size=n)
    cost = np.where(rng.random(n) < 0.05, np.nan, np.round(rng.gamma(2.0, 500.0, size=n), 0))  # no effect; 5% missing
    rate = (1 / 30) * np.where(plan == "Basic", TRUTH["plan=Basic"], 1.0) * TRUTH["log2(seats)"] ** np.log2(seats)
    x = rng.exponential(1 / rate)
    c = rng.integers(0, 73, size=n)  # months from signup to the snapshot
    churned = np.floor(x) <= c
    tenure = np.where(churned, np.floor(x), c).astype(int)
    as_of_m = AS_OF.year * 12 + AS_OF.month - 1
    start = as_of_m - c
    signup = pd.to_datetime({"year": start // 12, "month": start % 12 + 1, "day": 1})
    df = pd.DataFrame({"customer_id": [f"c{i:05d}" for i in range(n)], "tenure_months": tenure,
                       "churned": churned.astype(int), "plan": plan, "seats": seats, "region": region,
                       "acquisition_cost": cost,
                       "mrr": np.round(50.0 * seats, 2), "signup_date": signup.dt.strftime("%Y-%m-%d")})
    folder.mkdir(parents=True, exist_ok=True)
    df.to_csv(folder / "snapshot.csv", index=False)
    (folder / "mapping.yaml").write_text(yaml.safe_dump({
        "layout": "snapshot", "tables": {"snapshot": {"file": "snapshot.csv"}},
        "settings": {"as_of": str(AS_OF.date())}}))
    return df


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("snap") / "d"
    raw = make_snapshot(folder)
    ds = cs.load_dataset(folder, mapping=folder / "mapping.yaml")
    return folder, raw, ds, sr.snapshot_risk(ds, horizon=3, n_boot=100)


def test_attributes_are_found_typed_and_skipped_with_a_reason():
    cust = pd.DataFrame({"customer_id": ["a", "b", "c"], "signup_date": pd.to_datetime(["2024-01-01"] * 3),
                         "plan": ["Pro", "Basic", None], "seats": [1, 2, 4], "one": ["x", "x", "x"],
                         "nothing": [np.nan] * 3, "csm_owner": ["u", "v", "w"],
                         "first": pd.to_datetime(["2024-01-01"] * 3)})
    used, skipped = sr.snapshot_attributes(cust)
    assert used == ["plan", "seats"]
    assert skipped == {"one": "constant", "nothing": "all_missing", "first": "date"}
    many = pd.DataFrame({"customer_id": [str(i) for i in range(200)], "note": [f"n{i}" for i in range(200)],
                         "cost": [float(i) if i % 3 else np.nan for i in range(200)]})
    used, skipped = sr.snapshot_attributes(many)
    assert used == ["cost"] and skipped == {"note": "identifier"}
    # a churn reason (only churned customers have one) describes the outcome: never a model term
    leak = pd.DataFrame({"customer_id": list("abcd"), "plan": ["P", "B", "P", "B"],
                         "churn_reason": ["price", None, "support", None], "tenure_months": [1, 2, 3, 4]})
    used, skipped = sr.snapshot_attributes(leak, churned=[1, 0, 1, 0])
    assert used == ["plan"] and skipped == {"churn_reason": "outcome"}


def test_hazard_ratios_recover_the_planted_ones(world):
    _, _, _, res = world
    hr = res.summary.set_index("term")
    assert set(res.attributes_) == {"plan", "seats", "region", "acquisition_cost"}
    assert res.references_ == {"plan": "Pro", "region": "East"}
    # a numeric attribute with missing values: per unit, plus a term for the missing ones (no effect planted)
    assert set(hr.index) == {*TRUTH, "acquisition_cost", "acquisition_cost_missing"}
    assert hr.loc["acquisition_cost", "unit"] == 1000  # per a round step near its SD, not per unit of money
    assert hr.loc["acquisition_cost", "lower"] <= 1 <= hr.loc["acquisition_cost", "upper"]
    assert "Each additional 1,000 of acquisition cost" in hr.loc["acquisition_cost", "sentence"]
    assert hr.loc["acquisition_cost_missing", "lower"] <= 1 <= hr.loc["acquisition_cost_missing", "upper"]
    for term, truth in TRUTH.items():
        assert hr.loc[term, "lower"] <= truth <= hr.loc[term, "upper"], (term, hr.loc[term].to_dict())
    assert hr.loc["plan=Basic", "lower"] > 1.5 and hr.loc["log2(seats)", "upper"] < 0.9  # the effects are seen


def test_probability_is_the_conditional_survival_from_lifelines(world):
    """1 − S(t + h | x) / S(t | x) with S from lifelines' predict_survival_function at the customer's own tenure."""
    _, raw, ds, res = world
    d = survival_data(ds).set_index("customer_id")
    cost = raw["acquisition_cost"]
    X = pd.DataFrame({"plan=Basic": (raw["plan"] == "Basic").astype(float).to_numpy(),
                      "region=West": (raw["region"] == "West").astype(float).to_numpy(),
                      "log2(seats)": np.log2(raw["seats"]).to_numpy(),
                      "acquisition_cost": cost.fillna(cost.median()).to_numpy() / 1000,  # SD about 700: per 1,000
                      "acquisition_cost_missing": cost.isna().astype(float).to_numpy()}, index=raw["customer_id"])
    r = res.risk_.set_index("customer_id")
    checked = 0
    for cid in r.index[:: max(1, len(r) // 40)]:
        t = float(d.loc[cid, "T"])
        S = res.model_.predict_survival_function(X.loc[[cid], res.model_.params_.index], times=[t, t + 3]).iloc[:, 0]
        if (d["T"] >= t + 3).sum() < 30:  # too few customers followed to the window's end: not estimated
            assert np.isnan(r.loc[cid, "churn_probability"]) and t > res.max_scored_tenure_
            continue
        assert r.loc[cid, "churn_probability"] == pytest.approx(1 - S.iloc[1] / S.iloc[0], rel=1e-9, abs=1e-12)
        checked += 1
    assert checked > 20
    # the model itself: the same coefficients as lifelines fitted directly on T, E and the same design
    from lifelines import CoxPHFitter

    direct = CoxPHFitter(penalizer=0.001).fit(X.assign(T=d.loc[X.index, "T"], E=d.loc[X.index, "E"]), "T", "E")
    assert np.allclose(direct.params_[res.model_.params_.index], res.model_.params_, atol=1e-6)


def test_only_active_customers_are_scored_and_listed(world):
    _, raw, ds, res = world
    active = set(raw.loc[raw["churned"] == 0, "customer_id"])
    assert set(res.risk_["customer_id"]) == active
    lst = sr.snapshot_risk_list(res, ds, capacity=15, capacity_by="total")
    assert list(lst.columns) == list(health.LIST_COLUMNS)
    assert set(lst["customer_id"]) == active and len(lst) == len(active)
    on = lst[lst["on_list"] == 1]
    assert len(on) == 15 and (on["rank"] == np.arange(1, 16)).all()
    p = lst["churn_probability"].to_numpy()
    known = ~np.isnan(p)
    assert (np.diff(p[known]) <= 0).all()  # ranked by probability, the not estimable ones last
    assert known[: known.sum()].all() and not lst.loc[~known, "on_list"].any()
    assert (on["reasons"] != "").all() and lst["scorecard_points"].isna().all()
    assert (lst["score_source"] == sr.SCORE_SOURCE).all()
    by_arr = sr.snapshot_risk_list(res, ds, capacity=15, capacity_by="total", rank_by="arr_at_risk")
    v = by_arr["arr_at_risk"].to_numpy()
    assert (np.diff(v[~np.isnan(v)]) <= 0).all() and set(by_arr["customer_id"]) == active
    # MRR from the export, ARR at risk = probability × 12 × MRR
    m = raw.set_index("customer_id")["mrr"]
    assert np.allclose(on["mrr"].to_numpy(), m.loc[on["customer_id"]].to_numpy())
    assert np.allclose(on["arr_at_risk"], on["churn_probability"] * 12 * on["mrr"])
    # the top account's reasons name what raises its hazard: Basic plan and few seats rank high
    top = raw.set_index("customer_id").loc[on["customer_id"].iloc[0]]
    assert top["plan"] == "Basic" and "plan: Basic" in on["reasons"].iloc[0]


def test_reasons_are_the_largest_positive_contributions(world):
    _, raw, ds, res = world
    c = res.contributions_
    b = res.model_.params_
    mean = res.model_._norm_mean
    cid = c.index[0]
    row = raw.set_index("customer_id").loc[cid]
    plan = b["plan=Basic"] * (float(row["plan"] == "Basic") - mean["plan=Basic"])
    seats = b["log2(seats)"] * (np.log2(row["seats"]) - mean["log2(seats)"])
    assert c.loc[cid, "plan"] == pytest.approx(plan) and c.loc[cid, "seats"] == pytest.approx(seats)
    text = res.reasons([cid])[0]
    expected = [f"{a}: {row[a]}" for a in c.columns[np.argsort(-c.loc[cid].to_numpy())] if c.loc[cid, a] >= 0.05]
    assert text == "; ".join(expected[:3])


def test_horizon_auc_by_hand():
    """Landmark 2, horizon 3: at risk T > 2 (b … f); cases churned in (2, 5]: b (T 3, risk .9), c (T 5, risk .4);
    d (T 4, censored) is left out; controls T > 5: e (risk .5), f (risk .4). Pairs: b>e, b>f, c<e, c=f (½):
    AUC = 2.5 / 4."""
    T = [1, 3, 5, 4, 8, 9]
    E = [1, 1, 1, 0, 0, 1]
    risk = [0.99, 0.9, 0.4, 0.95, 0.5, 0.4]
    assert sr.horizon_auc(T, E, risk, landmark=2, horizon=3) == pytest.approx(2.5 / 4)
    # weights count customers that many times: b twice → pairs b>e, b>f twice: (4 + 0.5) / 6
    assert sr.horizon_auc(T, E, risk, 2, 3, weights=[1, 2, 1, 1, 1, 1]) == pytest.approx(4.5 / 6)
    assert np.isnan(sr.horizon_auc(T, E, risk, landmark=9, horizon=3))


def test_cross_validation_discriminates_with_intervals(world):
    _, _, _, res = world
    c, a = res.concordance_, res.auc_
    assert 0.5 < c["lower"] <= c["estimate"] <= c["upper"] < 0.8
    assert 0.5 < a["lower"] <= a["estimate"] <= a["upper"] < 0.85
    assert len(res.fold_concordance_) == 5 and min(res.fold_concordance_) > 0.5
    # the pooled AUC is the pair-weighted mean of the AUCs of each landmark and fold, computed plainly
    o = res.oof_
    num = den = 0.0
    for (s, f), g in o.groupby(["landmark", "fold"]):
        pos, neg = g.loc[g["case"], "risk"].to_numpy(), g.loc[g["control"], "risk"].to_numpy()
        num += (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
        den += len(pos) * len(neg)
    assert a["estimate"] == pytest.approx(num / den)
    # the concordance pools the pairs within each fold: the pair-weighted mean of lifelines' per-fold values
    from lifelines.utils import concordance_index

    d = survival_data(world[2])
    T, E, lp = d["T"].to_numpy(float), d["E"].to_numpy(), res.lp_oof_
    n_pairs = []
    for f in range(5):
        m = res.folds_ == f
        Tf, Ef = T[m], E[m]
        n_pairs.append(sum(((Tf > t) | ((Tf == t) & (Ef == 0))).sum() for t in Tf[Ef == 1]))
        assert res.fold_concordance_[f] == pytest.approx(concordance_index(Tf, -lp[m], Ef))
    assert c["estimate"] == pytest.approx(np.average(res.fold_concordance_, weights=n_pairs), rel=1e-12)
    # folds: stratified by churned, each customer predicted once
    E = survival_data(world[2])["E"].to_numpy()
    share = [E[res.folds_ == f].mean() for f in range(5)]
    assert max(share) - min(share) < 0.01


def test_bootstrap_in_blocks_of_replicates_draws_the_same_replicates(world, monkeypatch):
    """The customers' replicates are drawn a block at a time (csanalysis.stats.bootstrap); blocks of a few
    replicates give the intervals of one block."""
    from csanalysis.stats import bootstrap

    _, _, ds, res = world
    monkeypatch.setattr(bootstrap, "BLOCK_CELLS", 3 * 2000)  # at most 3 replicates of the 2,000 customers per block
    blocked = sr.snapshot_risk(ds, horizon=3, n_boot=100)
    assert blocked.concordance_ == res.concordance_ and blocked.auc_ == res.auc_
    pd.testing.assert_frame_equal(blocked.calibration_, res.calibration_)
    assert res.concordance_["lower"] < res.concordance_["upper"]


def test_calibration_table_observed_against_kaplan_meier(world):
    from lifelines import KaplanMeierFitter

    _, _, _, res = world
    cal = res.calibration_
    assert len(cal) == 10 and cal["rows"].sum() == len(res.oof_)
    assert (cal["predicted"].diff().dropna() > 0).all()
    assert (cal["lower"] <= cal["observed"]).all() and (cal["observed"] <= cal["upper"]).all()
    # the observed risk of a bin is 1 − KM(h) of its rows' residual times (lifelines directly)
    o = res.oof_
    edges = np.unique(np.quantile(o["risk"], np.linspace(0, 1, 11)))
    b = np.clip(np.searchsorted(edges, o["risk"], side="right") - 1, 0, len(edges) - 2)
    for k in (0, 9):
        g = o[b == k]
        km = KaplanMeierFitter().fit(g["residual"], g["event"])
        assert cal.loc[k, "observed"] == pytest.approx(1 - km.survival_function_at_times(3).iloc[0], abs=1e-9)
    # sensible: observed rises with predicted, and the model is calibrated where the data are plentiful
    assert cal["observed"].iloc[-1] > 2 * cal["observed"].iloc[0]
    inside = ((cal["lower"] <= cal["predicted"]) & (cal["predicted"] <= cal["upper"])).mean()
    assert inside >= 0.7


def test_metrics_hold_the_estimates_and_the_left_out_sections(world):
    _, _, ds, res = world
    lst = sr.snapshot_risk_list(res, ds, capacity=10)
    m = res.metrics(lst, capacity=10, capacity_by="team")
    assert m["layout"] == "snapshot" and m["active"] == len(lst)
    assert m["list"]["size"] == int(lst["on_list"].sum()) and m["list"]["new_on_list"] is None
    assert set(m["left_out"]) == set(sr.LEFT_OUT)
    assert m["concordance"] == res.concordance_ and m["calibration"]["model"][0]["bin"] == 1


def test_subscription_data_are_refused():
    ds = cs.load_dataset(Path(__file__).parent / "fixtures" / "cohort10")
    with pytest.raises(ValueError, match="layout is 'subscription'"):
        sr.snapshot_risk(ds)


def test_tenure_zero_rows_count_with_duration_tenure(world):
    """The snapshot semantics (GUIDE: T = tenure, E = churned for every row; tenure 0 is valid): the model reads
    them through survival_data, and an active customer of tenure 0 is scored."""
    _, raw, ds, res = world
    assert ((raw["tenure_months"] == 0) & (raw["churned"] == 1)).sum() > 20
    d = survival_data(ds).set_index("customer_id")
    r = raw.set_index("customer_id")
    assert (d.loc[r.index, "T"].to_numpy() == r["tenure_months"].to_numpy()).all()
    assert (d.loc[r.index, "E"].to_numpy() == r["churned"].to_numpy()).all()
    assert res.n_ == len(raw) and res.events_ == int(raw["churned"].sum())
    new = r.index[(r["tenure_months"] == 0) & (r["churned"] == 0)]
    assert len(new) > 5 and res.risk_.set_index("customer_id").loc[new, "churn_probability"].notna().all()


def test_notebook_04_on_a_snapshot_lists_only_active_accounts(tmp_path, world):
    from csanalysis.report.run import run_report

    folder, raw, _, _ = world
    res = run_report(["04_churn_risk"], data=folder, mapping=str(folder / "mapping.yaml"), out=tmp_path / "r",
                     lang="ja", params={"capacity": 5, "scoring_date": "2024-03-31", "rank_by": "arr_at_risk"})
    assert res.status == "succeeded"
    out = res.folder / "04_churn_risk"
    m = json.loads((out / "metrics.json").read_text())
    assert m["layout"] == "snapshot" and m["concordance"]["lower"] > 0.5
    lst = pd.read_csv(out / "risk_list.csv", dtype={"customer_id": str})
    assert list(lst.columns) == list(health.LIST_COLUMNS)
    assert set(lst["customer_id"]) == set(raw.loc[raw["churned"] == 0, "customer_id"])
    html = (out / "04_churn_risk.html").read_text()
    assert "交差検証" in html and "2024-03-31 は使いません" in html
    on = lst[lst["on_list"] == 1]
    assert len(on) == 5 and (on["arr_at_risk"].diff().dropna() <= 0).all()


FIX = Path(__file__).parent / "fixtures" / "snapshot"


def test_a_small_export_is_listed_without_cross_validation():
    """The bundled CRM export (5 accounts, 3 churned): too few for 5-fold cross-validation, said with the counts;
    the two active accounts are still scored and listed."""
    ds = cs.load_dataset(FIX, mapping=FIX / "mapping.yaml")
    res = sr.snapshot_risk(ds, n_boot=20)
    assert res.concordance_["estimate"] is None and "3 churned, 2 active" in res.concordance_["reason"]
    assert res.why() == res.auc_["reason"] and res.calibration_.empty
    lst = sr.snapshot_risk_list(res, ds)
    assert sorted(lst["customer_id"]) == ["acme", "echo"]
    m = res.metrics(lst, capacity=20, capacity_by="team")
    assert m["evaluated"] is False and m["calibration"] == {"model": []}


def test_notebook_04_on_the_bundled_crm_export(tmp_path):
    from csanalysis.report.run import run_report

    res = run_report(["04_churn_risk"], data=FIX, mapping=str(FIX / "mapping.yaml"), out=tmp_path / "r")
    assert res.status == "succeeded"
    out = res.folder / "04_churn_risk"
    lst = pd.read_csv(out / "risk_list.csv", dtype={"customer_id": str})
    assert sorted(lst["customer_id"]) == ["acme", "echo"]
    html = (out / "04_churn_risk.html").read_text()
    assert "could not be judged by cross-validation" in html and "Left out on a snapshot" in html
    assert "A CRM snapshot holds a single scoring date" in html  # health over time: said, not an error


def test_weighted_concordance_equals_lifelines_on_the_resampled_rows():
    """The bootstrap's fast concordance: unit weights give lifelines' concordance_index; integer counts give it on
    the rows repeated that many times (ties in time and in the predictor included)."""
    from lifelines.utils import concordance_index

    rng = np.random.default_rng(5)
    n = 300
    T = rng.integers(0, 12, n).astype(float)
    E = rng.integers(0, 2, n)
    lp = np.round(rng.normal(size=n), 1)  # ties in the predictor
    assert sr.weighted_concordance(T, lp, E, np.ones(n))[0] == pytest.approx(concordance_index(T, -lp, E), abs=1e-12)
    W = rng.poisson(1.0, size=(4, n)).astype(float)
    got = sr.weighted_concordance(T, lp, E, W)
    for b in range(4):
        ix = np.repeat(np.arange(n), W[b].astype(int))
        assert got[b] == pytest.approx(concordance_index(T[ix], -lp[ix], E[ix]), abs=1e-12)
    # within groups: each group's pairs only, pooled (two groups far apart in T would otherwise pair up)
    g = rng.integers(0, 2, n)
    num = den = 0.0
    for v in (0, 1):
        m = g == v
        Tm, Em = T[m], E[m]
        pairs = sum(((Tm > t) | ((Tm == t) & (Em == 0))).sum() for t in Tm[Em == 1])
        num += concordance_index(Tm, -lp[m], Em) * pairs
        den += pairs
    assert sr.weighted_concordance(T, lp, E, np.ones(n), group=g)[0] == pytest.approx(num / den, abs=1e-12)


def test_metrics_schema_requires_the_snapshot_fields_on_a_snapshot_only(world):
    from csanalysis.report import extras
    from csanalysis.estimate import json_safe

    _, _, ds, res = world
    lst = sr.snapshot_risk_list(res, ds, capacity=10)
    m = json_safe({"as_of": ds.as_of, **res.metrics(lst, capacity=10, capacity_by="team"),
                "headline": [{"label": "x", "value": "1"}]})
    extras.check_metrics("04_churn_risk", m)
    with pytest.raises(extras.MetricsSchemaError, match="concordance"):
        extras.check_metrics("04_churn_risk", {k: v for k, v in m.items() if k != "concordance"})
    # without layout the history path's fields are required, as before
    with pytest.raises(extras.MetricsSchemaError, match="lift_top_decile"):
        extras.check_metrics("04_churn_risk", {k: v for k, v in m.items() if k != "layout"})


def test_an_export_without_attributes_ranks_by_tenure_alone(tmp_path):
    """Only id, tenure and status: the risk is the Nelson–Aalen baseline's 1 − S(t + h) / S(t) (lifelines'
    NelsonAalenFitter directly), the same for every customer of the same tenure; concordance and AUC are 50%."""
    from lifelines import NelsonAalenFitter
    from lifelines.utils import interpolate_at_times

    raw = make_snapshot(tmp_path / "d", n=800, seed=11)
    raw[["customer_id", "tenure_months", "churned"]].to_csv(tmp_path / "d" / "snapshot.csv", index=False)
    ds = cs.load_dataset(tmp_path / "d", mapping=tmp_path / "d" / "mapping.yaml")
    res = sr.snapshot_risk(ds, n_boot=20)
    assert res.attributes_ == [] and res.summary.empty
    na = NelsonAalenFitter(nelson_aalen_smoothing=False).fit(raw["tenure_months"], raw["churned"])
    r = res.risk_.dropna(subset=["churn_probability"])
    H = lambda t: interpolate_at_times(na.cumulative_hazard_, t)  # noqa: E731
    want = 1 - np.exp(-(H(r["tenure"].to_numpy() + 3) - H(r["tenure"].to_numpy())))
    assert np.allclose(r["churn_probability"], want, rtol=1e-12)
    assert res.concordance_["estimate"] == pytest.approx(0.5) and res.auc_["estimate"] == pytest.approx(0.5)
    lst = sr.snapshot_risk_list(res, ds)
    assert set(lst["customer_id"]) == set(raw.loc[raw["churned"] == 0, "customer_id"]) and (lst["reasons"] == "").all()
    from csanalysis.report.run import run_report

    run = run_report(["04_churn_risk"], data=tmp_path / "d", mapping=str(tmp_path / "d" / "mapping.yaml"),
                     out=tmp_path / "r", lang="ja")
    assert run.status == "succeeded"
    assert "継続期間だけで決まります" in (run.folder / "04_churn_risk" / "04_churn_risk.html").read_text()


def test_a_telco_export_with_a_running_total(tmp_path):
    """IBM's Telco-style export: TotalCharges ≈ tenure × MonthlyCharges (blank at tenure 0) measures the time
    survived, so it is left out (with it the concordance was 0.92 and MonthlyCharges a spurious driver); the
    contract hazard ratios recover the generator's (monthly hazards 6%, 2%, 0.8%: continuous-time ratios
    log(1 − p) / log(1 − 6%))."""
    from test_snapshot_survival import MAPPING, SEGMENTS, _export

    rng = np.random.default_rng(1)
    df = _export(n=3000, seed=4)
    df["MonthlyCharges"] = np.round(rng.uniform(20, 110, len(df)), 2)
    df["TotalCharges"] = np.where(df["tenure"] == 0, " ", (df["tenure"] * df["MonthlyCharges"]).round(2).astype(str))
    df.to_csv(tmp_path / "telco_export.csv", index=False)
    (tmp_path / "mapping.yaml").write_text(MAPPING)
    ds = cs.load_dataset(tmp_path, mapping=tmp_path / "mapping.yaml")
    res = sr.snapshot_risk(ds, n_boot=30)
    assert res.skipped_ == {"TotalCharges": "tenure"} and "MonthlyCharges" in res.attributes_
    hr = res.summary.set_index("term")
    base = np.log1p(-SEGMENTS["Month-to-month"])
    for level in ("One year", "Two year"):
        truth = np.log1p(-SEGMENTS[level]) / base
        assert hr.loc[f"plan={level}", "lower"] <= truth <= hr.loc[f"plan={level}", "upper"], level
    assert hr.loc["MonthlyCharges", "lower"] <= 1 <= hr.loc["MonthlyCharges", "upper"]
    assert res.concordance_["upper"] < 0.8
