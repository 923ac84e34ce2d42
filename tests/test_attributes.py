"""The export's own attributes (issue 17): every non-canonical column of customers / snapshot is kept, typed
(numeric or categorical, inferred or declared in the mapping) and usable as a segment and a Cox covariate.
Numbers are checked against lifelines fitted directly on the same rows."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test

import csanalysis as cs
from csanalysis import cohorts, overview
from csanalysis import survival as sv
from csanalysis.data import attributes, cache
from csanalysis.data.mapping import MappingError

FIXTURES = Path(__file__).parent / "fixtures"
N = 240


def _snapshot_frame(seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    charges = np.round(rng.lognormal(4, 0.6, N), 2)
    industry = rng.choice(["製造", "小売", "IT"], N, p=[0.5, 0.3, 0.2])
    contract = rng.choice(["年間", "月次"], N)
    # churn more likely with higher charges and monthly contracts: the hazard ratios are not 1
    hazard = 0.03 * (charges / 50) ** 0.5 * np.where(contract == "月次", 2.0, 1.0)
    life = rng.geometric(np.clip(hazard, 0.005, 0.5))
    window = rng.integers(1, 36, N)
    tenure = np.minimum(life, window)
    churned = (life <= window).astype(int)
    size = rng.choice([1, 2, 3], N)
    df = pd.DataFrame({
        "customer_id": [f"c{i:04d}" for i in range(N)], "tenure_months": tenure, "churned": churned,
        "plan": rng.choice(["Basic", "Pro"], N), "業種": industry, "contract type": contract,
        "monthly_charges": charges, "company_size": size, "credits": rng.integers(0, 3, N),
        "region code": "JP", "empty": "", "account name": [f"name {i}" for i in range(N)],
    })
    df.loc[rng.choice(N, 24, replace=False), "業種"] = ""  # 10% missing
    return df


@pytest.fixture(scope="module")
def snap_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("attrs") / "snap"
    out.mkdir()
    _snapshot_frame().to_csv(out / "snapshot.csv", index=False)
    return out


MAPPING = {"layout": "snapshot", "settings": {"as_of": "2024-06-30"}}


@pytest.fixture(scope="module")
def ds(snap_dir):
    return cs.load_dataset(snap_dir, mapping=MAPPING)


@pytest.fixture(scope="module")
def raw(snap_dir):
    return pd.read_csv(snap_dir / "snapshot.csv", dtype={"customer_id": str}, keep_default_na=True)


def test_extra_columns_are_kept_with_inferred_kinds(ds, raw):
    assert ds.attribute_kinds == {
        "plan": "categorical", "業種": "categorical", "contract type": "categorical", "monthly_charges": "numeric",
        "company_size": "numeric", "credits": "numeric", "region code": "categorical", "empty": "numeric",
        "account name": "categorical",
    }
    c = ds.customers.set_index("customer_id").loc[raw["customer_id"]]
    np.testing.assert_allclose(c["monthly_charges"].to_numpy(), raw["monthly_charges"].to_numpy())
    assert c["業種"].isna().sum() == 24
    assert (c["業種"].fillna("-").to_numpy() == raw["業種"].fillna("-").to_numpy()).all()
    assert "tenure_months" not in ds.customers.columns and "churned" not in ds.customers.columns


def test_mapping_declares_a_kind(snap_dir):
    m = {**MAPPING, "tables": {"snapshot": {"attributes": {"company_size": "categorical", "credits": "numeric"}}}}
    d = cs.load_dataset(snap_dir, mapping=m)
    assert d.attribute_kinds["company_size"] == "categorical" and d.attribute_kinds["credits"] == "numeric"
    assert set(d.customers["company_size"]) == {"1", "2", "3"}
    # now a segment: one curve per size
    assert sorted(sv.km_fits(d, by="company_size")) == ["1", "2", "3"]


def test_numeric_override_with_text_values_is_an_error_naming_column_rows_examples(snap_dir, raw):
    m = {**MAPPING, "tables": {"snapshot": {"attributes": {"業種": "numeric"}}}}
    with pytest.raises(cs.DataValidationError) as exc:
        cs.load_dataset(snap_dir, mapping=m)
    (f,) = [f for f in exc.value.report.errors if f.column == "業種"]
    assert f.n_rows == int(raw["業種"].notna().sum())  # every non-blank value is text
    assert "not numbers" in f.message and "numeric" in f.message
    assert set(f.examples) <= {"製造", "小売", "IT"} and f.examples


@pytest.mark.parametrize("attrs, match", [
    ({"monthly_charges": "number"}, "use one of"),
    ({"plan": "numeric"}, "canonical column"),
    ("numeric", "must map column names"),
])
def test_mapping_attributes_are_checked(snap_dir, attrs, match):
    with pytest.raises(MappingError, match=match):
        cs.load_dataset(snap_dir, mapping={**MAPPING, "tables": {"snapshot": {"attributes": attrs}}})


def test_attributes_only_under_customer_tables():
    with pytest.raises(MappingError, match="no customer attributes"):
        cs.data.load_mapping({"tables": {"revenue": {"attributes": {"x": "numeric"}}}})


def test_declared_attribute_missing_from_the_file_is_an_error(snap_dir):
    m = {**MAPPING, "tables": {"snapshot": {"attributes": {"no such": "numeric"}}}}
    with pytest.raises(cs.DataValidationError, match="no such"):
        cs.load_dataset(snap_dir, mapping=m)


def test_km_and_logrank_by_japanese_and_spaced_names_equal_lifelines(ds, raw):
    d = sv.survival_data(ds).set_index("customer_id")
    rows = raw.set_index("customer_id").join(d[["T", "E"]])
    group = rows["業種"].fillna("(missing)")
    fits = sv.km_fits(ds, by="業種")
    assert sorted(fits) == sorted(group.unique())
    for name, kmf in fits.items():
        g = rows[group == name]
        ref = KaplanMeierFitter().fit(g["T"], g["E"])
        pd.testing.assert_series_equal(kmf.survival_function_.iloc[:, 0], ref.survival_function_.iloc[:, 0],
                                       check_names=False, rtol=1e-12)
    test = sv.logrank(ds, "contract type")
    ref = multivariate_logrank_test(rows["T"], rows["contract type"], rows["E"])
    assert test.p_value == pytest.approx(ref.p_value, rel=1e-9)


def _lifelines_cox(ds, x: pd.Series) -> CoxPHFitter:
    d = sv.survival_data(ds)
    df = pd.DataFrame({"T": d["T"], "E": d["E"], "x": d["customer_id"].map(x).to_numpy()})
    df = df[df["T"] > 0]
    return CoxPHFitter().fit(df, "T", "E")


def test_numeric_covariate_per_unit_and_log2_equal_lifelines(ds, raw):
    x = raw.set_index("customer_id")["monthly_charges"]
    per_unit = sv.cox_drivers(ds, ["monthly_charges"], ph_check=False).hazard_ratios.iloc[0]
    ref = _lifelines_cox(ds, x).summary.loc["x"]
    assert per_unit["reference"] == "per unit"
    assert per_unit["hr"] == pytest.approx(ref["exp(coef)"], rel=1e-6)
    assert per_unit["lower"] == pytest.approx(ref["exp(coef) lower 95%"], rel=1e-6)
    doubling = sv.cox_drivers(ds, ["monthly_charges:log2"], ph_check=False).hazard_ratios.iloc[0]
    ref2 = _lifelines_cox(ds, np.log2(x)).summary.loc["x"]
    assert doubling["term"] == "log2(monthly_charges)" and doubling["reference"] == "per doubling"
    assert doubling["hr"] == pytest.approx(ref2["exp(coef)"], rel=1e-6)
    assert doubling["hr"] > 1  # planted: higher charges churn faster
    assert "Each doubling of monthly_charges" in doubling["sentence"]
    from csanalysis.report import set_language, tr

    set_language("ja")
    try:
        (sentence,) = sv.hr_sentences(pd.DataFrame([doubling]), tr)
    finally:
        set_language("en")
    assert sentence.startswith("monthly charges") and "2 倍" in sentence


def test_categorical_japanese_covariate_with_reference_levels(ds, raw):
    res = sv.cox_drivers(ds, ["contract type", "業種"], references=["contract type:年間"], ph_check=False)
    hrs = res.hazard_ratios.set_index("term")
    assert res.references["contract type"] == "年間"
    assert hrs.loc["contract type=月次", "hr"] > 1  # planted: monthly contracts churn twice as fast
    # the same dummies by hand, fitted by lifelines
    d = sv.survival_data(ds)
    r = raw.set_index("customer_id").loc[d["customer_id"]]
    X = pd.DataFrame({"T": d["T"].to_numpy(), "E": d["E"].to_numpy(),
                      "m": (r["contract type"] == "月次").astype(float).to_numpy()})
    ind = r["業種"].fillna("(missing)")
    ref = res.references["業種"]
    for lv in sorted(set(ind) - {ref}):
        X[lv] = (ind == lv).astype(float).to_numpy()
    fit = CoxPHFitter().fit(X[X["T"] > 0], "T", "E").summary
    assert hrs.loc["contract type=月次", "hr"] == pytest.approx(fit.loc["m", "exp(coef)"], rel=1e-6)
    for lv in sorted(set(ind) - {ref}):
        assert hrs.loc[f"業種={lv}", "hr"] == pytest.approx(fit.loc[lv, "exp(coef)"], rel=1e-6)


def test_log2_needs_positive_values(ds):
    with pytest.raises(ValueError, match=r"credits:log2.*above zero"):
        sv.cox_drivers(ds, ["credits:log2"], ph_check=False)
    with pytest.raises(ValueError, match="log2 needs a numeric attribute"):
        sv.cox_drivers(ds, ["plan:log2"], ph_check=False)


def test_too_many_levels_and_numeric_segments_give_clear_messages(ds):
    with pytest.raises(ValueError, match=rf"'account name' has {N} levels.*more than the {attributes.MAX_LEVELS}"):
        sv.km_fits(ds, by="account name")
    with pytest.raises(ValueError, match=rf"'account name' has {N} levels"):
        sv.cox_drivers(ds, ["account name"], ph_check=False)
    with pytest.raises(ValueError, match="numeric attribute.*categorical"):
        sv.logrank(ds, "monthly_charges")
    with pytest.raises(ValueError, match="not a customer attribute"):
        sv.km_fits(ds, by="tenure_months")


def test_constant_and_empty_attributes_are_reported_not_fitted(ds):
    notes = {f.column: f.message for f in ds.report.findings if f.level == "note"}
    assert "one value for every customer" in notes["region code"]
    assert "empty for every customer" in notes["empty"]
    res = sv.cox_drivers(ds, ["monthly_charges", "region code", "empty"], ph_check=False)
    assert res.skipped == {"region code": "constant", "empty": "all missing"}
    assert list(res.hazard_ratios["covariate"]) == ["monthly_charges"]
    alone = sv.cox_drivers(ds, ["monthly_charges"], ph_check=False)
    assert res.hazard_ratios["hr"].iloc[0] == pytest.approx(alone.hazard_ratios["hr"].iloc[0], rel=1e-12)
    with pytest.raises(ValueError, match="no covariate to fit.*region code"):
        sv.cox_drivers(ds, ["region code"])


def test_overview_lists_attributes(ds, raw):
    t = overview.attribute_table(ds).set_index("attribute")
    assert list(t.index) == list(ds.attribute_kinds)
    row = t.loc["業種"]
    assert row["kind"] == "categorical" and row["levels"] == 3
    assert row["missing"] == pytest.approx(24 / N)
    counts = raw["業種"].value_counts()
    assert row["most common"].startswith(f"{counts.index[0]} ({counts.iloc[0]:,})")
    m = t.loc["monthly_charges"]
    assert m["median"] == pytest.approx(raw["monthly_charges"].median()) and m["max"] == raw["monthly_charges"].max()
    assert t.loc["region code", "note"] == "constant" and t.loc["empty", "note"] == "all missing"
    assert t.loc["account name", "note"] == "too many levels"
    segs = overview.segment_counts(ds)
    assert "業種" in segs and "contract type" in segs and "account name" not in segs
    assert segs["業種"]["(missing)"] == 24


def test_cache_round_trip_keeps_kinds_and_columns(snap_dir, tmp_path):
    m = {**MAPPING, "tables": {"snapshot": {"attributes": {"company_size": "categorical"}}}}
    d = cs.load_dataset(snap_dir, mapping=m)
    back = cache.load(cache.save(d, tmp_path / "c"))
    assert back.attribute_kinds == d.attribute_kinds and back.attribute_kinds["company_size"] == "categorical"
    pd.testing.assert_frame_equal(back.customers, d.customers, check_dtype=False)
    assert sorted(sv.km_fits(back, by="company_size")) == ["1", "2", "3"]


def test_subscription_customers_keep_their_own_columns(tmp_path):
    src = tmp_path / "c10"
    shutil.copytree(FIXTURES / "cohort10", src)
    c = pd.read_csv(src / "customers.csv")
    c["営業 チーム"] = np.where(np.arange(len(c)) % 2 == 0, "東", "西")
    c["score"] = np.arange(len(c)) * 1.5
    c.to_csv(src / "customers.csv", index=False)
    d = cs.load_dataset(src)
    assert d.attribute_kinds["営業 チーム"] == "categorical" and d.attribute_kinds["score"] == "numeric"
    res = cohorts.cohort_retention(d, by="営業 チーム")
    assert set(res.segments()) == {"東", "西"}
    east = set(c.loc[c["営業 チーム"] == "東", "customer_id"])
    sizes = res.matrix["cohort_size"].groupby(level=0).sum()
    assert sizes["東"] == len(east)


def test_reports_in_japanese_with_the_exports_own_attributes(tmp_path):
    """Notebooks 00 and 02 through the runner in Japanese, on a snapshot whose segment and covariates are the
    export's own columns (Japanese and spaced names, a numeric per doubling, a constant one)."""
    import json
    import re

    from csanalysis.report.run import run_report

    src = tmp_path / "snap"
    src.mkdir()
    df = _snapshot_frame()
    df["mrr"] = 50.0
    df.to_csv(src / "snapshot.csv", index=False)
    (src / "csanalysis.yaml").write_text("layout: snapshot\nsettings: {as_of: 2024-06-30}\n", encoding="utf-8")
    covs = ["contract type", "業種", "monthly_charges:log2", "region code"]
    res = run_report(["00_data_overview", "02_churn_survival"], data=src, out=tmp_path / "out", lang="ja",
                     run_id="r1", params={"segment": "業種", "covariates": covs, "n_boot": 20})
    assert res.status == "succeeded"
    m = json.loads((res.folder / "02_churn_survival" / "metrics.json").read_text(encoding="utf-8"))
    assert m["segment"] == "業種" and set(m["s12_by_segment"]) == {"製造", "小売", "IT", "(missing)"}
    assert m["skipped_covariates"] == {"region code": "constant"}
    assert m["references"] == {"contract type": "年間", "業種": "製造"}
    ds = cs.load_dataset(src)
    direct = sv.cox_drivers(ds, covs, ph_check=False).hazard_ratios.set_index("term")["hr"]
    got = {h["term"]: h["hr"] for h in m["hazard_ratios"]}
    assert set(got) == set(direct.index) and "log2(monthly_charges)" in got
    for term, hr in got.items():
        assert hr == pytest.approx(direct[term], rel=1e-9)
    html = (res.folder / "00_data_overview" / "00_data_overview.html").read_text(encoding="utf-8")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "検出した属性と種類" in text and "業種 カテゴリ 10% 3 製造 (" in text
    assert "monthly_charges 数値 0%" in text
    attrs = pd.read_csv(res.folder / "00_data_overview" / "attributes.csv")
    assert list(attrs["attribute"]) == list(ds.attribute_kinds)
    for nb in ("00_data_overview", "02_churn_survival"):  # every glyph of the figures drawn (no missing-glyph warnings)
        assert "Glyph" not in (res.folder / nb / f"{nb}.ipynb").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def nps_dir(tmp_path_factory):
    from csanalysis.data import synth

    out = tmp_path_factory.mktemp("nps") / "d"
    synth.write_demo(out, n_customers=400, months=24, seed=3)
    c = pd.read_parquet(out / "customers.parquet")
    rng = np.random.default_rng(5)
    c["契約形態"] = rng.choice(["年間", "月次"], len(c))
    c["monthly charges"] = np.round(rng.lognormal(4, 0.5, len(c)), 2)
    c.to_parquet(out / "customers.parquet", index=False)
    return out


@pytest.fixture(scope="module")
def nps_ds(nps_dir):
    return cs.load_dataset(nps_dir)


def test_nps_segment_and_revenue_control_by_an_own_attribute(nps_ds):
    from csanalysis import nps

    assert nps_ds.attribute_kinds["契約形態"] == "categorical" and nps_ds.attribute_kinds["monthly charges"] == "numeric"
    r = nps.responses(nps_ds, segment="契約形態")
    want = r["customer_id"].map(nps_ds.customers.set_index("customer_id")["契約形態"])
    assert (r["segment"] == want).all()
    res = nps.nps_revenue(nps_ds, (6,), primary="churn_6m_detractor_vs_promoter", segment="契約形態", n_boot=50)
    assert res.segment == "契約形態" and set(res.by_segment["group"]) == {"年間", "月次"}
    model = res.revenue[6]  # the revenue model's segment control: one dummy against the first level
    assert model.result is not None and "segment[月次]" in model.summary.index
    with pytest.raises(ValueError, match="numeric attribute"):
        nps.responses(nps_ds, segment="monthly charges")
    degraded = nps.nps_revenue(nps_ds, (6,), primary="churn_6m_detractor_vs_promoter", segment="monthly charges",
                               n_boot=50)
    assert degraded.segment is None and any("numeric attribute" in n for n in degraded.notes)


def test_churn_risk_model_takes_own_attributes(nps_ds):
    from csanalysis import health
    from csanalysis.report import i18n

    frame = health.signals(nps_ds, attributes=("契約形態", "monthly charges"))
    want = frame["customer_id"].map(nps_ds.customers.set_index("customer_id")["monthly charges"])
    np.testing.assert_array_equal(frame["monthly charges"].to_numpy(), want.to_numpy())
    X = health.design(frame, ("契約形態", "monthly charges"))
    np.testing.assert_array_equal(X["monthly charges"].to_numpy(), want.to_numpy())  # its own scale
    assert ((X["契約形態=月次"] == 1) == (frame["契約形態"] == "月次")).all()  # one-hot against 年間
    holes = frame.assign(**{"monthly charges": frame["monthly charges"].where(frame.index % 5 > 0)})
    Xh = health.design(holes, ("monthly charges",))
    assert (Xh["monthly charges missing"] == (frame.index % 5 == 0)).all()
    assert (Xh.loc[frame.index % 5 == 0, "monthly charges"] == 0).all()
    res = health.churn_risk(nps_ds, attributes=("plan", "契約形態", "monthly charges"), n_boot=20, test_months=2)
    assert {"monthly charges", "契約形態=月次"} <= set(res.model.features)
    i18n.set_language("ja")
    try:
        labels = health.input_labels(res.model.features, i18n.tr)
    finally:
        i18n.set_language("en")
    assert labels["monthly charges"] == "monthly charges" and labels["契約形態=月次"] == "契約形態 = 月次"
    assert labels["plan=Pro"].startswith("プラン") if "plan=Pro" in labels else True
    with pytest.raises(ValueError, match="':log2' is for the Cox models"):
        health.churn_risk(nps_ds, attributes=("monthly charges:log2",), n_boot=20, test_months=2)


def test_a_canonical_name_read_from_another_column_leaves_the_file_column_out(tmp_path):
    src = tmp_path / "c10"
    shutil.copytree(FIXTURES / "cohort10", src)
    c = pd.read_csv(src / "customers.csv")
    c["Tier"] = c["plan"].str.upper()
    c.to_csv(src / "customers.csv", index=False)
    d = cs.load_dataset(src, mapping={"tables": {"customers": {"columns": {"plan": "Tier"}}}})
    assert set(d.customers["plan"]) == set(c["Tier"]) and "Tier" not in d.customers.columns
    (note,) = [f for f in d.report.findings if f.column == "plan" and f.level == "note"]
    assert "left out" in note.message and "Tier" in note.message


def test_cohort_and_nps_reports_segmented_by_an_own_attribute_in_japanese(nps_dir, tmp_path):
    import json

    from csanalysis.report.run import run_report

    res = run_report(["01_cohort_retention", "03_nps_revenue"], data=nps_dir, out=tmp_path / "out", lang="ja",
                     run_id="r1", params={"segment": "契約形態", "n_boot": 50})
    assert res.status == "succeeded"
    m1 = json.loads((res.folder / "01_cohort_retention" / "metrics.json").read_text(encoding="utf-8"))
    assert m1["segment"] == "契約形態" and set(m1["logo_retention_12m_by_segment"]) == {"年間", "月次"}
    m3 = json.loads((res.folder / "03_nps_revenue" / "metrics.json").read_text(encoding="utf-8"))
    assert m3["segment"] == "契約形態"
    for nb in ("01_cohort_retention", "03_nps_revenue"):
        assert "Glyph" not in (res.folder / nb / f"{nb}.ipynb").read_text(encoding="utf-8")


def test_churn_risk_takes_the_exports_own_attributes_by_default(nps_ds, nps_dir, tmp_path):
    """Without attributes named, the churn-risk model takes plan, touch model and channel and every attribute of
    the export's own; notebook 04 passes its `attributes` parameter (empty: that default) and lists them."""
    from csanalysis import health
    from csanalysis.report.run import run_report

    assert health.default_attributes(nps_ds) == ("plan", "touch_model", "acquisition_channel", "契約形態", "monthly charges")
    res = health.churn_risk(nps_ds, n_boot=20, test_months=2)
    assert {"monthly charges", "契約形態=月次"} <= set(res.model.features)
    run = run_report(["04"], data=nps_dir, out=tmp_path / "r", params={"attributes": ["plan", "契約形態"]})
    imp = pd.read_csv(run.folder / "04_churn_risk" / "signal_importance.csv")
    text = " ".join(imp.astype(str).to_numpy().ravel())
    assert "契約形態" in text and "monthly charges" not in text
