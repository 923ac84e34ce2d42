"""The engine's grouped results (csanalysis/grouped.py) against hand counts on a tiny fixture, against
independent pandas counts and the pandas path (lifelines' Kaplan–Meier, metrics.rates, the revenue cohort
matrix, the NPS responses) on the demo data, and the engine sample against the same draw in Python. The same
survival counts on PySpark: tests/test_spark.py."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import csanalysis as cs
from csanalysis import cohorts, grouped, metrics, nps, survival
from csanalysis.periods import month_start, period_label

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
PURCHASE_LOG = Path(__file__).parent / "fixtures" / "purchase_log"

# Jan–Jun 2024, data window from January, grace 0. C and D signed up before the window (entry 3 and 2); E
# comes back in April (a second spell that churns in June); F's plan is missing; G starts in June.
CUSTOMERS = """customer_id,signup_date,plan
A,2024-01-01,Basic
B,2024-01-01,Pro
C,2023-10-01,Basic
D,2023-11-01,Pro
E,2024-02-01,Pro
F,2024-03-01,
G,2024-06-01,Basic
"""
PAID = {"A": [1, 2, 3, 4, 5, 6], "B": [1, 2], "C": [1, 2, 3], "D": [1, 2, 3, 4, 5, 6], "E": [2, 4, 5], "F": [3],
        "G": [6]}


@pytest.fixture(scope="module")
def hand(tmp_path_factory):
    d = tmp_path_factory.mktemp("hand")
    (d / "customers.csv").write_text(CUSTOMERS)
    rows = [f"{c},2024-{m:02d}-01,100,,,recurring" for c, months in PAID.items() for m in months]
    (d / "revenue.csv").write_text("customer_id,date,amount,period_start,period_end,kind\n" + "\n".join(rows) + "\n")
    return cs.load_dataset(d, as_of="2024-06-30", grace_months=0, data_start="2024-01-01")


@pytest.fixture(scope="module")
def demo():
    if not (DEMO / "customers.parquet").is_file():
        pytest.skip("demo data not generated (make demo)")
    return cs.load_dataset(DEMO)


def _pandas_counts(ds, by=None, spells="first") -> pd.DataFrame:
    """At-risk and churn counts per group and month straight from survival.survival_data's spells (one row per
    spell and month, counted): entry < t ≤ T, from t = 0 for a spell observed from its start."""
    d = survival.survival_data(ds, spells=spells, by=by)
    rows = []
    for g, part in d.groupby("group", sort=True):
        for t in range(int(part["T"].max()) + 1):
            first = np.where(part["entry"] == 0, 0, part["entry"] + 1)
            rows.append((g, t, int(((first <= t) & (t <= part["T"])).sum()),
                         int(((part["T"] == t) & (part["E"] == 1)).sum())))
    return pd.DataFrame(rows, columns=["group", "t", "at_risk", "churned"])


def test_survival_counts_by_hand(hand):
    c = grouped.survival_counts(hand)
    assert c["group"].unique().tolist() == [grouped.ALL]
    # first spells: A (T 5, censored), B (2, churned), C (6, churned, entry 3), D (7, censored, entry 2),
    # E (1, churned), F (1, churned), G (0, censored)
    assert c["t"].tolist() == list(range(8))
    assert c["at_risk"].tolist() == [5, 4, 2, 2, 3, 3, 2, 1]
    assert c["churned"].tolist() == [0, 2, 1, 0, 0, 0, 1, 0]
    assert c["entered"].tolist() == [5, 0, 0, 1, 1, 0, 0, 0]
    assert c["removed"].tolist() == [1, 2, 1, 0, 0, 1, 1, 1]
    km = grouped.km_curves(hand)
    assert km["survival"].tolist() == pytest.approx([1, 0.5, 0.25, 0.25, 0.25, 0.25, 0.125, 0.125], abs=1e-15)
    # Greenwood: V(6) = 2/(4·2) + 1/(2·1) + 1/(2·1); exponential band at t = 6
    s, v, z = 0.125, 0.25 + 0.5 + 0.5, 1.959963984540054
    lo = np.exp(-np.exp(np.log(-np.log(s)) - z * np.sqrt(v) / np.log(s)))
    assert km.loc[km["t"] == 6, "lower"].iloc[0] == pytest.approx(lo, abs=1e-12)
    assert km.loc[km["t"] == 0, ["lower", "upper"]].iloc[0].tolist() == [1.0, 1.0]


def test_survival_counts_by_group_and_every_spell_by_hand(hand):
    c = grouped.survival_counts(hand, by="plan").set_index(["group", "t"])
    assert sorted(c.index.get_level_values(0).unique()) == ["(missing)", "Basic", "Pro"]
    assert c.loc["(missing)", "at_risk"].tolist() == [1, 1] and c.loc["(missing)", "churned"].tolist() == [0, 1]
    # Basic: A (T 5), C (6, entry 3), G (0)
    assert c.loc["Basic", "at_risk"].tolist() == [2, 1, 1, 1, 2, 2, 1]
    every = grouped.survival_counts(hand, spells="all").set_index(["group", "t"])
    assert every.loc["2", "at_risk"].tolist() == [1, 1, 1] and every.loc["2", "churned"].tolist() == [0, 0, 1]
    assert every.loc["1", "at_risk"].tolist() == [5, 4, 2, 2, 3, 3, 2, 1]


def test_churn_counts_by_hand(hand):
    c = grouped.churn_counts(hand)
    assert [d.strftime("%Y-%m") for d in c["month"]] == ["2024-02", "2024-03", "2024-04", "2024-05", "2024-06"]
    # paying in the month before: Jan A B C D; Feb + E; Mar A C D F; Apr A D E; May A D E
    assert c["at_risk"].tolist() == [4, 5, 4, 3, 3]
    assert c["churned"].tolist() == [0, 2, 2, 0, 1]  # Mar: B and E's first spell; Apr: C and F; Jun: E again
    r = metrics.rates(hand, n_boot=0)
    r = r[r["metric"] == "customer_churn_rate"]
    assert r["denominator"].tolist() == c["at_risk"].tolist() and r["numerator"].tolist() == c["churned"].tolist()


@pytest.mark.parametrize("by,spells", [(None, "first"), ("plan", "first"), (None, "all"), ("touch_model", "all")])
def test_demo_counts_and_km_equal_pandas_and_lifelines(demo, by, spells):
    assert (demo.spells["entry"] > 0).sum() > 100  # left truncation is exercised
    c = grouped.survival_counts(demo, by=by, spells=spells)
    ref = _pandas_counts(demo, by=by, spells=spells)
    pd.testing.assert_frame_equal(c[["group", "t", "at_risk", "churned"]], ref, check_dtype=False)
    km = grouped.km_curves(demo, by=by, spells=spells, counts=c)
    fits = survival.km_fits(demo, by=by, spells=spells)
    assert sorted(fits) == sorted(km["group"].unique())
    for g, kmf in fits.items():
        mine = km[km["group"] == g].set_index("t")
        times = kmf.timeline
        assert set(times) <= set(mine.index)
        np.testing.assert_allclose(mine.loc[times, "survival"], kmf.survival_function_.iloc[:, 0], rtol=0, atol=1e-12)
        ci = kmf.confidence_interval_survival_function_
        np.testing.assert_allclose(mine.loc[times, "lower"], ci.iloc[:, 0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(mine.loc[times, "upper"], ci.iloc[:, 1], rtol=0, atol=1e-12)
        # between lifelines' times the curve is a step: the same value at every month of the grid
        np.testing.assert_allclose(mine["survival"], kmf.survival_function_at_times(mine.index), rtol=0, atol=1e-12)


def test_demo_survival_at_equals_survival_table(demo):
    times = (3, 6, 12, 24)
    mine = grouped.survival_at(grouped.km_curves(demo, by="plan"), times)
    ref = survival.survival_table(demo, times, by="plan")
    cols = ["group", "customers", "churned"] + [f"S({t}){s}" for t in times for s in ("", " lower", " upper")]
    pd.testing.assert_frame_equal(mine[cols], ref[cols], check_dtype=False, rtol=0, atol=1e-12)


def test_km_from_counts_checks_its_input():
    with pytest.raises(ValueError, match="between 0 and the number at risk"):
        survival.km_from_counts([3, 2], [1, 3])
    with pytest.raises(ValueError, match="differ in shape"):
        survival.km_from_counts([3, 2], [1])


def test_demo_churn_counts_equal_rates(demo):
    c = grouped.churn_counts(demo)
    r = metrics.rates(demo, n_boot=0)
    r = r[r["metric"] == "customer_churn_rate"].reset_index(drop=True)
    assert (c["month"].to_numpy() == r["period"].to_numpy()).all()
    assert c["at_risk"].tolist() == r["denominator"].astype(np.int64).tolist()
    assert c["churned"].tolist() == r["numerator"].astype(np.int64).tolist()
    np.testing.assert_allclose(c[["rate", "lower", "upper"]].to_numpy(), r[["estimate", "lower", "upper"]].to_numpy(),
                               rtol=0, atol=1e-12)
    by = grouped.churn_counts(demo, by="plan")
    tot = by.groupby("month", sort=True)[["at_risk", "churned"]].sum()
    assert tot["at_risk"].tolist() == c["at_risk"].tolist() and tot["churned"].tolist() == c["churned"].tolist()
    # one group checked against pandas: Basic customers paying in t − 1, and Basic churn events in t
    basic = set(demo.customers.loc[demo.customers["plan"] == "Basic", "customer_id"])
    p = demo.panel[demo.panel["customer_id"].isin(basic)]
    s = demo.spells[demo.spells["customer_id"].isin(basic) & (demo.spells["event"] == 1)]
    b = by[by["group"] == "Basic"]
    prev = b["month"] - pd.DateOffset(months=1)
    assert b["at_risk"].tolist() == [int((p["month"] == m).sum()) for m in prev]
    assert b["churned"].tolist() == [int((s["end"] == m).sum()) for m in b["month"]]


class _cells(dict):
    """(cohort label, k) → revenue ÷ base from :func:`grouped.revenue_cohorts` (a cell without a row: no revenue)."""

    def __init__(self, rc: pd.DataFrame, period: str):
        ok = (rc["missing_base"] == 0) & (rc["base"] > 0)
        super().__init__({(period_label(c, period), k): (v / b if o else np.nan)
                          for c, k, v, b, o in zip(rc["cohort"], rc["k"], rc["revenue"], rc["base"], ok)})
        self.defined = {period_label(c, period): o for c, o in zip(rc["cohort"], ok)}

    def __missing__(self, key):
        return 0.0 if self.defined[key[0]] else np.nan


@pytest.mark.parametrize("period,basis,definition", [("month", "revenue", "active"), ("quarter", "gross_revenue", "active"),
                                                      ("month", "gross_revenue", "unbroken")])
def test_demo_revenue_cohorts_equal_the_matrix(demo, period, basis, definition):
    rc = grouped.revenue_cohorts(demo, period=period, basis=basis, definition=definition)
    cells = _cells(rc, period)
    m = cohorts.cohort_retention(demo, period=period, basis=basis, definition=definition, n_boot=0).matrix
    sizes = rc.groupby("cohort")["customers"].first()
    n = 0
    for label, row in m.drop(columns="cohort_size").iterrows():
        for k, v in row.items():
            if np.isnan(v):
                continue
            assert cells[(label, k)] == pytest.approx(v, rel=0, abs=1e-9)
            n += 1
        assert m.at[label, "cohort_size"] == sizes[[c for c in sizes.index if period_label(c, period) == label][0]]
    assert n > 50


def test_purchase_log_revenue_cohorts_equal_the_matrix(tmp_path):
    # q1 starts before the data window (no base: its cohort is undefined), q2's first month is free, q3 returns
    # more than it buys in March, q4 buys in January and April (grace 2: one spell)
    text = ("customer_id,date,amount\nq1,2023-12-05,7\nq1,2024-01-05,10\nq1,2024-02-05,10\nq2,2024-01-06,0\n"
            "q2,2024-02-06,5\nq3,2024-01-07,20\nq3,2024-02-07,8\nq3,2024-03-07,-4\nq4,2024-01-08,9\n"
            "q4,2024-04-08,12\nq5,2024-02-09,6\nq5,2024-03-09,6\n")
    (tmp_path / "revenue.csv").write_text(text)
    mine = cs.load_dataset(tmp_path, mapping={"layout": "purchase_log"}, as_of="2024-05-31", grace_months=2,
                           data_start="2024-01-01")
    for ds in (cs.load_dataset(PURCHASE_LOG, mapping=PURCHASE_LOG / "mapping.yaml"), mine):
        for basis in ("revenue", "gross_revenue"):
            cells = _cells(grouped.revenue_cohorts(ds, basis=basis), "month")
            m = cohorts.cohort_retention(ds, basis=basis, n_boot=0, min_cohort_size=1).matrix
            checked = 0
            for label, row in m.drop(columns="cohort_size").iterrows():
                for k, v in row.items():
                    if not np.isnan(v):
                        assert cells[(label, k)] == pytest.approx(v, rel=0, abs=1e-9)
                        checked += 1
            assert checked > 0


def test_demo_nps_tallies_equal_the_responses(demo):
    for period, by in (("month", None), ("quarter", "plan")):
        t = grouped.nps_tallies(demo, period=period, by=by)
        r = nps.responses(demo, period=period, segment=by)
        r["group"] = r["segment"] if by else grouped.ALL
        ref = (r.assign(p=r["category"] == "promoter", d=r["category"] == "detractor", q=r["category"] == "passive")
               .groupby(["period", "group"], sort=True).agg(responses=("score", "size"), promoters=("p", "sum"),
                                                              passives=("q", "sum"), detractors=("d", "sum"))
               .reset_index())
        assert (t["period"].to_numpy() == month_start(ref["period"].to_numpy())).all()
        pd.testing.assert_frame_equal(t[["group", "responses", "promoters", "passives", "detractors"]],
                                      ref[["group", "responses", "promoters", "passives", "detractors"]], check_dtype=False)
        for method in ("wald", "auto"):  # the interval of each period's answers, as net_promoter_score gives it
            ci = grouped.nps_tallies(demo, period=period, by=by, method=method)
            for (key, group), rows in r.assign(key=month_start(r["period"].to_numpy())).groupby(["key", "group"]):
                one = nps.net_promoter_score(rows["score"], method)
                row = ci[(ci["period"] == key) & (ci["group"] == group)].iloc[0]
                assert (row["nps"], row["lower"], row["upper"]) == pytest.approx((one.nps, one.lower, one.upper), abs=1e-12)
                assert row["method"] == one.method_
        whole = nps.net_promoter_score(demo.nps["score"])
        assert t["responses"].sum() == len(demo.nps)
        assert 100 * (t["promoters"].sum() - t["detractors"].sum()) / t["responses"].sum() == pytest.approx(whole.nps, abs=1e-12)


def test_sample_is_the_python_draw_and_stated(demo):
    ids = grouped.sample_ids(demo, 0.1, seed=3)
    every = np.sort(demo.spells["customer_id"].astype(str).unique())
    thr = format(round(0.1 * 16 ** 8), "08x")
    import hashlib

    py = [i for i in every if hashlib.md5(f"3:{i}".encode()).hexdigest()[:8] < thr]
    assert ids.tolist() == py
    assert 0.07 < len(ids) / len(every) < 0.13  # about a tenth (2,935 customers: sd ≈ 0.0055)
    other = grouped.sample_ids(demo, 0.1, seed=4)
    assert len(set(ids) & set(other)) < len(ids) / 2  # another seed, another draw
    nested = grouped.sample_ids(demo, 0.2, seed=3)
    assert set(ids) <= set(nested)  # a larger share of the same seed keeps the smaller one's customers
    desc = grouped.sample_description(demo, ids, 0.1, seed=3)
    assert desc["drawn"] == len(ids) and desc["customers"] == len(every) and "md5" in desc["rule"]
    with pytest.raises(ValueError, match="fraction"):
        grouped.sample_ids(demo, 0)


def test_unknown_group_is_named(hand):
    with pytest.raises(ValueError, match="'segment' is not a column of the customers table.*plan"):
        grouped.survival_counts(hand, by="segment")


def test_sample_dataset_is_the_full_data_restricted_to_the_sample(demo):
    sub = grouped.sample_dataset(demo, 0.2, seed=1)
    ids = set(grouped.sample_ids(demo, 0.2, seed=1))
    assert sub.pending()  # nothing built until read
    assert sub.sample["drawn"] == len(ids) and sub.sample["fraction"] == 0.2
    for name in ("customers", "panel", "spells", "usage", "nps", "payments", "cs_activities", "payment_attempts"):
        full = getattr(demo, name)
        want = full[full["customer_id"].astype(str).isin(ids)].reset_index(drop=True)
        assert len(want) > 100, name
        pd.testing.assert_frame_equal(getattr(sub, name).reset_index(drop=True), want, obj=name)
    assert set(sub.engine_table("spells").execute()["customer_id"]) == ids
    # an analysis of the sample reads only the sample
    t = survival.survival_table(sub, [12], by="plan")
    assert t["customers"].sum() == len(ids)


def test_customer_parts_hold_every_customer_once_each_with_its_own_rows():
    """customer_parts: the data itself up to the size; above it ⌈customers ÷ size⌉ disjoint parts that cover every
    customer, each the full tables restricted to its customers (counted against the demo's own frames), and each
    customer in the part its draw key (md5, computed here in Python) falls in."""
    import hashlib

    demo = cs.load_dataset(DEMO)  # a load of its own: no table read into pandas before the parts are drawn
    whole = list(grouped.customer_parts(demo, max_customers=5_000))
    assert len(whole) == 1 and whole[0] is demo
    full = cs.load_dataset(DEMO)
    every = set(full.spells["customer_id"].astype(str))
    seen = []
    for i, part in enumerate(grouped.customer_parts(demo, max_customers=1_000)):
        assert part.sample["parts"] == 3 and part.sample["part"] == i  # ⌈2,935 ÷ 1,000⌉
        ids = set(part.spells["customer_id"].astype(str))
        keys = {int(hashlib.md5(f"0:{c}".encode()).hexdigest()[:8], 16) * 3 // 16 ** 8 for c in ids}
        assert keys == {i} and part.sample["drawn"] == len(ids)
        for name in ("panel", "usage", "payments"):
            want = getattr(full, name)
            want = want[want["customer_id"].astype(str).isin(ids)].reset_index(drop=True)
            pd.testing.assert_frame_equal(getattr(part, name).reset_index(drop=True), want, obj=name)
        seen.append(ids)
    assert sum(map(len, seen)) == len(set().union(*seen)) == len(every)
    assert set().union(*seen) == every


R_SNAPSHOT = Path(__file__).parent / "data" / "r_snapshot"
SNAPSHOT_MAPPING = (R_SNAPSHOT / "mapping.yaml").read_text(encoding="utf-8")  # shared with test_snapshot_survival.py


def test_snapshot_engine_km_equals_r_survfit(tmp_path):
    """R 4.2.2, survival 3.5.3 (tests/data/r_snapshot/make_reference.R): survfit(Surv(tenure, churned),
    conf.type = "log-log") overall and by contract, and its n.risk, from the engine counts of a CRM snapshot
    (tenure-0 rows of both kinds: churns at t = 0)."""
    (tmp_path / "telco_export.csv").write_bytes((R_SNAPSHOT / "telco_like.csv").read_bytes())
    (tmp_path / "mapping.yaml").write_text(SNAPSHOT_MAPPING)
    ds = cs.load_dataset(tmp_path, mapping=tmp_path / "mapping.yaml")
    ref = pd.read_csv(R_SNAPSHOT / "reference.csv")
    r = lambda q, g, t: float(ref.loc[(ref["quantity"] == q) & (ref["group"] == g) & (ref["time"] == t), "value"].iloc[0])  # noqa: E731
    overall = grouped.km_curves(ds).set_index("t")
    assert overall.loc[0, "churned"] > 0
    pd.testing.assert_frame_equal(grouped.survival_counts(ds)[["group", "t", "at_risk", "churned"]], _pandas_counts(ds),
                                  check_dtype=False)
    for t in (0, 6, 12, 24, 48, 71):
        assert overall.loc[t, "at_risk"] == r("n_risk", "all", t)
    for t in (6, 12, 24, 48):
        for col, q in (("survival", "surv"), ("lower", "lower"), ("upper", "upper")):
            assert overall.loc[t, col] == pytest.approx(r(q, "all", t), abs=1e-9), (t, q)
    by = grouped.km_curves(ds, by="plan").set_index(["group", "t"])
    for g in ("Month-to-month", "One year", "Two year"):
        for t in (6, 12, 24):
            for col, q in (("survival", "surv"), ("lower", "lower"), ("upper", "upper")):
                assert by.loc[(g, t), col] == pytest.approx(r(q, g, t), abs=1e-9), (g, t, q)


def test_model_dataset_samples_only_above_the_size(demo):
    n = grouped.customer_count(demo)
    assert n == demo.spells.loc[demo.spells["spell"] == 1, "customer_id"].nunique() == 2935
    assert grouped.MODEL_CUSTOMERS >= 100_000  # the 100k benchmark data are fitted whole
    # at or below the size: the Dataset itself, every customer, no sample stated
    assert grouped.model_dataset(demo) is demo and demo.sample is None
    assert grouped.model_dataset(demo, max_customers=n) is demo
    # above it: the engine sample with the share size ÷ customers, stated
    sub = grouped.model_dataset(demo, max_customers=n - 1_935, seed=5)
    ids = grouped.sample_ids(demo, (n - 1_935) / n, seed=5)
    assert sub is not demo and sub.sample is not None
    assert sub.sample["fraction"] == pytest.approx(1_000 / n, abs=1e-15) and sub.sample["seed"] == 5
    assert sub.sample["customers"] == n and sub.sample["drawn"] == len(ids)
    assert 900 < len(ids) < 1_100  # about 1,000 (binomial sd ≈ 26)
    assert sorted(sub.customers["customer_id"].astype(str)) == ids.tolist()
    # the same seed draws the same customers; another seed others
    again = grouped.model_dataset(demo, max_customers=1_000, seed=5)
    assert sorted(again.customers["customer_id"].astype(str)) == ids.tolist()
    other = grouped.model_dataset(demo, max_customers=1_000, seed=6)
    assert sorted(other.customers["customer_id"].astype(str)) != ids.tolist()
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="max_customers"):
            grouped.model_dataset(demo, max_customers=bad)


def test_sample_dataset_of_a_report_runs_cache(demo, tmp_path):
    """What a notebook gets in a report run (the Dataset read from the run's cache: no raw tables, Parquet files
    behind the engine panel and spells): its sample equals the full data restricted to the sample, and its
    tables are read filtered (the full table is never built in pandas)."""
    from csanalysis.data import RunContext, cache

    ctx = RunContext(cache_dir=str(tmp_path / ".cache"), source=str(DEMO.resolve()),
                     fingerprint=cache.fingerprint(DEMO.resolve()))
    cache.prime(DEMO.resolve(), None, None, ctx)
    run = cs.load_dataset(str(DEMO.resolve()), context=str(ctx.write(tmp_path / "run_context.json")))
    assert run.cache_key is not None and not run.tables
    sub = grouped.model_dataset(run, max_customers=600, seed=1)
    ids = set(grouped.sample_ids(demo, 600 / 2935, seed=1))
    assert sub.sample["drawn"] == len(ids)
    for name in ("customers", "panel", "spells", "usage", "nps", "payments", "cs_activities", "payment_attempts"):
        full = getattr(demo, name)
        want = full[full["customer_id"].astype(str).isin(ids)].reset_index(drop=True)
        pd.testing.assert_frame_equal(getattr(sub, name).reset_index(drop=True), want, obj=name)
    assert set(run.pending()) >= {"customers", "panel", "spells", "usage", "nps", "payments"}  # never read whole
    # the sample a part at a time (churn risk reads a sample's history so): each part its own rows of the sample
    seen = set()
    for part in grouped.customer_parts(sub, max_customers=300):
        mine = set(part.spells["customer_id"].astype(str))
        assert mine and mine <= ids and not mine & seen
        seen |= mine
        for name in ("panel", "usage", "nps"):
            full = getattr(demo, name)
            want = full[full["customer_id"].astype(str).isin(mine)].reset_index(drop=True)
            pd.testing.assert_frame_equal(getattr(part, name).reset_index(drop=True), want, obj=name)
    assert seen == ids



@pytest.fixture
def fresh_and_reused(tmp_path, monkeypatch):
    """The demo loaded afresh, and again: the second Dataset reused from the user's load cache (the first's entry)."""
    from csanalysis.data import cache

    if not (DEMO / "customers.parquet").is_file():
        pytest.skip("demo data not generated (make demo)")
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path / "user-cache"))
    monkeypatch.setenv(cache.ENABLED_ENV, "1")  # off by default in the tests (tests/conftest.py)
    return cs.load_dataset(DEMO), cs.load_dataset(DEMO)


def test_grouped_queries_of_a_load_reused_from_the_users_cache(fresh_and_reused):
    """A Dataset reused from the user's load cache (panel and spells: the entry's Parquet files on an engine of
    their own): the grouped queries that read the customers equal those of the fresh load, and none of them loads
    the source afresh (``ds.tables`` of such a Dataset would, on another connection, and the join then failed
    with "Multiple backends found")."""
    fresh, reused = fresh_and_reused
    assert fresh.cache_key is None and reused.cache_key is not None
    for query in (lambda d: grouped.revenue_cohorts(d),
                  lambda d: grouped.revenue_cohorts(d, by="plan", period="quarter", basis="gross_revenue"),
                  lambda d: grouped.km_curves(d, by="plan"), lambda d: grouped.churn_counts(d, by="plan")):
        pd.testing.assert_frame_equal(query(reused), query(fresh), check_exact=False, rtol=1e-12)
    assert reused.tables._reload._ds is None  # the source was not loaded again


def test_a_sample_of_a_load_reused_from_the_users_cache(fresh_and_reused):
    """A sample of whole customers (the per-customer models' sample) of a Dataset reused from the user's load cache
    has the tables of the same sample of the fresh load, and its NPS waves (the churn-risk signals' first read)
    are the same (the raw tables of the load behind the entry, loaded on another connection and joined with the
    sample's customers, failed with "Multiple backends found")."""
    from csanalysis.data import signals

    fresh, reused = fresh_and_reused
    assert reused.cache_key is not None
    a, b = grouped.sample_dataset(fresh, 0.4, seed=3), grouped.sample_dataset(reused, 0.4, seed=3)
    assert 0 < len(b.customers) < len(reused.customers)
    for name in ("customers", "panel", "spells", "nps", "usage", "payments"):
        pd.testing.assert_frame_equal(getattr(b, name), getattr(a, name), check_dtype=False, obj=name)
    pd.testing.assert_frame_equal(signals.survey_waves(b), signals.survey_waves(a), check_dtype=False)


# ------------------------------------------------------------------------------------ panel rows from the engine


def test_panel_rows_frame_is_the_pandas_panel_with_codes(hand, demo):
    """The engine's panel rows with integer codes as a frame (keys.panel_rows(frame=True), the forecast's read):
    row for row the pandas panel (its order, its values), each id its position in the ids given; customers not
    given are left out."""
    from csanalysis.data.keys import panel_rows

    for ds in (hand, demo):
        p = ds.panel
        ids = pd.Index(pd.unique(p["customer_id"]))
        got = panel_rows(ds, ids, ("mrr", "spell", "spell_month", "tenure"), frame=True)
        assert isinstance(got, pd.DataFrame) and len(got) == len(p)
        assert list(got.columns) == ["row", "m", "mrr", "spell", "spell_month", "tenure"]
        assert (got["row"].to_numpy() == ids.get_indexer(p["customer_id"])).all()
        assert (got["m"].to_numpy() == cs.periods.month_index(p["month"])).all()
        for c in ("mrr", "spell", "spell_month", "tenure"):
            assert (got[c].to_numpy() == p[c].to_numpy()).all(), c
    some = panel_rows(hand, ["D", "A"], ("m",), frame=True)
    assert some["row"].tolist() == [0] * 6 + [1] * 6  # D's six months, then A's: ordered by code, then month


def test_panel_lookups_equal_pandas(hand, demo):
    """panel_last, panel_months and panel_at against the same read off the pandas panel."""
    for ds in (hand, demo):
        p = ds.panel.assign(m=cs.periods.month_index(ds.panel["month"]))
        last = p.sort_values(["customer_id", "m"]).groupby("customer_id").tail(1).set_index("customer_id")
        got = grouped.panel_last(ds).set_index("customer_id").sort_index()
        assert got.index.tolist() == sorted(last.index)
        assert (got["m"].to_numpy() == last.loc[got.index, "m"].to_numpy()).all()
        assert (got["mrr"].to_numpy() == last.loc[got.index, "mrr"].to_numpy()).all()
        few = list(last.index[::7][:5]) + ["nobody"]
        assert sorted(grouped.panel_last(ds, ids=few)["customer_id"]) == sorted(few[:-1])
        cut = int(p["m"].max()) - 2
        months = grouped.panel_months(ds, cut).set_index("customer_id").sort_index()
        assert (months["months"] == p.groupby("customer_id").size().loc[months.index]).all()
        assert (months["before"] == (p["m"] < cut).groupby(p["customer_id"]).sum().loc[months.index]).all()
        keys = pd.DataFrame({"customer_id": p["customer_id"].to_numpy()[::5], "m": p["m"].to_numpy()[::5] + 1})
        want = keys.merge(p[["customer_id", "m", "mrr"]], on=["customer_id", "m"], how="left")["mrr"].to_numpy()
        got_at = grouped.panel_at(ds, keys)
        assert np.array_equal(np.isnan(got_at), np.isnan(want)) and (got_at[~np.isnan(want)] == want[~np.isnan(want)]).all()
        assert np.isnan(want).any() and (~np.isnan(want)).any()  # both kinds of key were asked
        # the last month's MRR and paying customers: Dataset.mrr_by_month's last row to the last bit
        got_last, want_last = grouped.last_month_mrr(ds), ds.mrr_by_month().iloc[-1]
        assert (got_last["month"], got_last["mrr"], got_last["customers"]) == (
            want_last["month"], want_last["mrr"], want_last["customers"])


def test_integer_panel_from_the_engine_equals_the_pandas_one(demo):
    from csanalysis.data.keys import IntegerPanel

    a, b = IntegerPanel(demo), grouped.integer_panel(demo)
    assert a.ids.equals(b.ids) and a.lo == b.lo and a.span == b.span
    for c in ("code", "m", "mrr", "spell", "tenure"):
        assert np.array_equal(getattr(a, c), getattr(b, c)), c
    rng = np.random.default_rng(0)
    code, m = rng.integers(-1, len(a.ids), 2000), rng.integers(a.lo - 1, a.lo + a.span + 1, 2000)
    assert np.array_equal(a.at(a.mrr, code, m), b.at(b.mrr, code, m), equal_nan=True)
    # further columns read with the same rows: the pandas panel's, row for row
    c, more = grouped.integer_panel(demo, also=("spell_month",))
    assert np.array_equal(c.code, a.code) and np.array_equal(more["spell_month"], demo.panel["spell_month"].to_numpy())
