"""Renewal rates (csanalysis/lifecycle/renewal.py): a tiny export checked against a hand computation (which
contracts came up, which renewed, the ARR sums, Wilson against statsmodels, the bootstrap against a plain
resampling of account ids), the reasons when there are no rates, and the demo's rates against independent pandas
code over the raw revenue file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

import csanalysis as cs
from csanalysis.lifecycle import renewal

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"


def _annual(cid, start, end, amount):
    return {"customer_id": cid, "date": start, "amount": amount, "period_start": start, "period_end": end}


def _monthly(cid, first, last, amount):
    return [{"customer_id": cid, "date": d.strftime("%Y-%m-%d"), "amount": amount, "period_start": None,
             "period_end": None} for d in pd.date_range(first, last, freq="MS")]


def _tiny(tmp_path: Path, *, history: bool = True, periods: bool = True) -> Path:
    """as_of 2024-06-30, no grace. Annual invoices (12-month service periods):
    A 2023-01 … 2023-12 at 1,200, renewed 2024-01 at 2,400 (expansion)      -> Q1, renewed, 1,200 -> 2,400
    B 2023-02 … 2024-01 at 1,200, not renewed                                 -> Q1, lost,    1,200 -> 0
    C 2023-03-15 … 2024-03-14 at 3,600 (MRR 300 Mar 2023 … Feb 2024), renewed
      2024-03-15 at 1,800 (contraction)                                        -> Q1, renewed, 3,600 -> 1,800
    E 2023-04 … 2024-03 at 1,200, renewed at 1,200                             -> Q2, renewed, 1,200 -> 1,200
    F 2023-06 … 2024-05 at 1,200, not renewed                                  -> Q2, lost,    1,200 -> 0
    G 2023-08 … 2024-07: renewal in 2024-08, a quarter still open              -> left out
    D monthly at 50, no history: no dated renewal                              -> left out
    Renewal-date history (monthly invoices at 80, ARR 960):
    I renewal_date 2024-05-10 (then 2025-05-10), paying through June           -> Q2, renewed, 960 -> 960
    J renewal_date 2024-02-20, last paid month January 2024                    -> Q1, lost,    960 -> 0
    """
    d = tmp_path / "tiny"
    d.mkdir(parents=True)
    rev = [_annual("A", "2023-01-01", "2023-12-31", 1200.0), _annual("A", "2024-01-01", "2024-12-31", 2400.0),
           _annual("B", "2023-02-01", "2024-01-31", 1200.0),
           _annual("C", "2023-03-15", "2024-03-14", 3600.0), _annual("C", "2024-03-15", "2025-03-14", 1800.0),
           _annual("E", "2023-04-01", "2024-03-31", 1200.0), _annual("E", "2024-04-01", "2025-03-31", 1200.0),
           _annual("F", "2023-06-01", "2024-05-31", 1200.0),
           _annual("G", "2023-08-01", "2024-07-31", 1200.0),
           *_monthly("D", "2023-01-01", "2024-06-01", 50.0), *_monthly("I", "2023-01-01", "2024-06-01", 80.0),
           *_monthly("J", "2023-01-01", "2024-01-01", 80.0)]
    rev = pd.DataFrame(rev)
    if not periods:
        rev = rev.drop(columns=["period_start", "period_end"])
    rev.to_csv(d / "revenue.csv", index=False)
    cust = pd.DataFrame({"customer_id": list("ABCDEFGIJ"),
                         "signup_date": ["2023-01-01", "2023-02-01", "2023-03-15", "2023-01-01", "2023-04-01",
                                         "2023-06-01", "2023-08-01", "2023-01-01", "2023-01-01"],
                         "renewal_date": [None] * 7 + ["2025-05-10", "2024-02-20"]})
    cust.to_csv(d / "customers.csv", index=False)
    if history:
        pd.DataFrame({"customer_id": ["I", "I", "J"], "attribute": ["renewal_date"] * 3,
                      "value": ["2024-05-10", "2025-05-10", "2024-02-20"],
                      "valid_from": ["2023-05-10", "2024-05-10", "2023-02-20"]}).to_csv(d / "customer_attributes.csv",
                                                                                         index=False)
    return d


HAND = {  # quarter: contracts, renewed, ARR up, ARR up of the renewed, ARR after
    "2024-Q1": (4, 2, 1200 + 1200 + 3600 + 960, 1200 + 3600, 2400 + 1800),
    "2024-Q2": (3, 2, 1200 + 1200 + 960, 1200 + 960, 1200 + 960),
}


def test_tiny_export_matches_the_hand_computation(tmp_path):
    ds = cs.load_dataset(_tiny(tmp_path), as_of="2024-06-30", grace_months=0)
    r = renewal.renewal_rates(ds, n_boot=300, seed=3)
    assert r.estimable and r.reason_ is None
    assert list(r.rates_.columns) == list(renewal.RATE_COLUMNS)  # the documented CSV layouts
    assert list(r.events_.columns) == list(renewal.EVENT_COLUMNS)
    ev = r.events_.set_index("customer_id")
    assert sorted(ev.index) == list("ABCEFIJ")  # G: quarter open; D: no dated renewal
    assert ev.loc["C", "renewal_month"] == pd.Timestamp("2024-03-01") and ev.loc["C", "arr_before"] == 3600
    assert ev.loc["C", "renewal_date"] == pd.Timestamp("2024-03-15")
    assert ev.loc[["I", "J"], "source"].tolist() == ["history", "history"]
    assert ev.loc[list("ABCEF"), "source"].eq("annual_invoice").all()
    assert r.sources_ == {"annual_invoice": 5, "history": 2}
    rates = r.rates_.set_index("quarter")
    assert list(rates.index) == ["2024-Q1", "2024-Q2", "all"]
    for q, (n, k, up, ren, after) in {**HAND, "all": tuple(map(sum, zip(*HAND.values())))}.items():
        row = rates.loc[q]
        assert (row["contracts"], row["renewed"]) == (n, k)
        assert row["arr_up"] == pytest.approx(up) and row["arr_renewed"] == pytest.approx(ren)
        assert row["arr_after"] == pytest.approx(after)
        assert row["gross_rate"] == pytest.approx(k / n)
        lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert (row["gross_rate_lower"], row["gross_rate_upper"]) == (pytest.approx(lo), pytest.approx(hi))
        assert row["gross_arr_rate"] == pytest.approx(ren / up) and row["net_rate"] == pytest.approx(after / up)
        assert row["gross_arr_rate_lower"] <= ren / up <= row["gross_arr_rate_upper"]
    assert r.last_quarter()["quarter"] == "2024-Q2"
    m = r.metrics()
    assert m["last_quarter"]["net_rate"]["estimate"] == pytest.approx(2160 / 3360)
    assert m["all"]["contracts"] == 7 and [q["quarter"] for q in m["quarters"]] == ["2024-Q1", "2024-Q2"]


def test_the_bootstrap_is_a_plain_resampling_of_accounts(tmp_path):
    """The ARR intervals equal those of drawing the accounts with replacement (rng.choice) and recomputing the
    ratios with pandas, replicate by replicate, from the same seed."""
    ds = cs.load_dataset(_tiny(tmp_path), as_of="2024-06-30", grace_months=0)
    n_boot, seed = 200, 11
    r = renewal.renewal_rates(ds, n_boot=n_boot, seed=seed)
    ev = r.events_
    accounts = pd.unique(ev["customer_id"])
    rng = np.random.default_rng(seed)
    reps = {q: ([], []) for q in ("2024-Q1", "2024-Q2", "all")}
    for _ in range(n_boot):
        drawn = pd.Series(rng.choice(accounts, size=len(accounts))).value_counts()
        w = ev["customer_id"].map(drawn).fillna(0)
        for q, (g, n) in reps.items():
            e, ww = (ev, w) if q == "all" else (ev[ev["quarter"] == q], w[ev["quarter"] == q])
            up = (ww * e["arr_before"]).sum()
            g.append((ww * e["arr_before"] * e["renewed"]).sum() / up if up else np.nan)
            n.append((ww * e["arr_after"]).sum() / up if up else np.nan)
    rates = r.rates_.set_index("quarter")
    for q, (g, n) in reps.items():
        for col, boot in (("gross_arr_rate", g), ("net_rate", n)):
            b = np.asarray(boot)
            b = b[~np.isnan(b)]
            lo, hi = np.quantile(b, [0.025, 0.975])
            point = rates.loc[q, col]
            assert rates.loc[q, f"{col}_lower"] == pytest.approx(min(lo, point))
            assert rates.loc[q, f"{col}_upper"] == pytest.approx(max(hi, point))


def test_invoices_kept_by_the_dataset_and_a_run_cache_else_read_again(tmp_path):
    """The Dataset keeps its annual invoices as a table of their own (Dataset.invoices), which a report run's cache
    keeps too: no raw rows and no second load are needed for the same rates. A Dataset without that table (and
    without raw rows) reads the source again, giving the same rates."""
    from csanalysis.data import cache
    from csanalysis.data.context import RunContext

    src = _tiny(tmp_path)
    ds = cs.load_dataset(src, as_of="2024-06-30", grace_months=0)
    direct = renewal.renewal_rates(ds, n_boot=50)
    assert direct.sources_.get("annual_invoice", 0) > 0  # the fixture dates some terms by annual invoices only
    pd.testing.assert_frame_equal(ds.invoices, renewal.annual_invoices(ds.tables["revenue"]))
    # a report run's cache (no raw tables): the invoices come from the entry
    ctx = RunContext(cache_dir=str(tmp_path / "cache"), source=str(src), fingerprint=cache.fingerprint(src))
    cached, _ = cache.prime(src, None, "2024-06-30", ctx)
    assert cached.cache_key is not None and not cached.tables
    plain = renewal.renewal_rates(cs.load_dataset(src, as_of="2024-06-30"), n_boot=50)  # the run's settings
    from_cache = renewal.renewal_rates(cached, n_boot=50)  # no source: nothing to load again
    assert from_cache.sources_ == plain.sources_ and plain.sources_.get("annual_invoice", 0) > 0
    pd.testing.assert_frame_equal(from_cache.rates_, plain.rates_)
    pd.testing.assert_frame_equal(from_cache.events_, plain.events_)
    # neither raw rows nor the table: history only without a source, the source read again with it
    ds.tables, ds.invoices = {}, None
    assert renewal.renewal_rates(ds, n_boot=50).sources_ == {"history": 2}
    again = renewal.renewal_rates(ds, source=src, n_boot=50)
    pd.testing.assert_frame_equal(again.rates_, direct.rates_)


def test_no_renewal_dates_and_no_closed_quarter_say_why(tmp_path):
    src = _tiny(tmp_path, history=False, periods=False)
    ds = cs.load_dataset(src, as_of="2024-06-30", grace_months=0)
    r = renewal.renewal_rates(ds, source=src)
    assert not r.estimable and r.reason_ == "no_renewal_dates"
    m = r.metrics()
    assert m["estimable"] is False and m["reason"] == renewal.REASONS["no_renewal_dates"] and m["last_quarter"] is None
    early = cs.load_dataset(_tiny(tmp_path / "x"), as_of="2023-11-30", grace_months=0)
    e = renewal.renewal_rates(early)
    assert e.reason_ == "no_closed_quarter" and e.events_.empty


def test_a_grace_month_waits_for_the_late_payment_and_for_the_quarter(tmp_path):
    """With one grace month a quarter counts only once its last month + 1 has been observed: at 2024-06-30 only
    2024-Q1 is closed."""
    ds = cs.load_dataset(_tiny(tmp_path), as_of="2024-06-30", grace_months=1)
    r = renewal.renewal_rates(ds, n_boot=50)
    assert r.rates_["quarter"].tolist() == ["2024-Q1", "all"] and r.rates_["contracts"].tolist() == [4, 4]


def test_purchase_log_has_no_renewal_rates(tmp_path):
    d = tmp_path / "pl"
    d.mkdir()
    pd.DataFrame({"customer_id": ["a", "a", "b"], "date": ["2024-01-05", "2024-03-02", "2024-02-11"],
                  "amount": [10.0, 12.0, 8.0]}).to_csv(d / "revenue.csv", index=False)
    (d / "csanalysis.yaml").write_text("layout: purchase_log\n", encoding="utf-8")
    ds = cs.load_dataset(d, as_of="2024-06-30")
    assert ds.layout == "purchase_log"
    assert renewal.renewal_rates(ds, source=d).reason_ == "purchase_log"


@pytest.mark.skipif(not (DEMO / "revenue.parquet").is_file(), reason="demo data not present")
def test_demo_rates_match_independent_pandas():
    """On the demo: the annual invoices straight from revenue.parquet (12-month periods), the renewal month their
    start month + 12, MRR from the loaded panel; counts and ARR sums per quarter equal."""
    ds = cs.load_dataset(DEMO)
    r = renewal.renewal_rates(ds, n_boot=100)
    rev = pd.read_parquet(DEMO / "revenue.parquet")
    a = rev[rev["period_start"].notna() & (rev["amount"] > 0) & (rev["kind"] == "recurring")].copy()
    days = (pd.to_datetime(a["period_end"]) - pd.to_datetime(a["period_start"])).dt.days + 1
    a = a[(days / 30.4375).round() == 12]
    start = pd.to_datetime(a["period_start"]).dt.to_period("M")
    a = a.assign(renewal=start + 12, before=start + 11)
    mrr = ds.panel.assign(p=ds.panel["month"].dt.to_period("M")).set_index(["customer_id", "p"])["mrr"]
    a["arr_before"] = 12 * mrr.reindex(pd.MultiIndex.from_arrays([a["customer_id"], a["before"]])).fillna(0).to_numpy()
    a["arr_after"] = 12 * mrr.reindex(pd.MultiIndex.from_arrays([a["customer_id"], a["renewal"]])).fillna(0).to_numpy()
    last = pd.Period(ds.as_of, "M")
    a = a[(a["arr_before"] > 0) & (a["renewal"].dt.asfreq("Q").dt.asfreq("M", how="end") <= last)
          & (a["before"] >= pd.Period(ds.data_start, "M"))].drop_duplicates(["customer_id", "renewal"])
    a["quarter"] = a["renewal"].dt.asfreq("Q").astype(str).str.replace("Q", "-Q")
    g = a.groupby("quarter").agg(contracts=("customer_id", "size"), renewed=("arr_after", lambda s: int((s > 0).sum())),
                                 arr_up=("arr_before", "sum"), arr_after=("arr_after", "sum"))
    rates = r.rates_.set_index("quarter").drop(index="all")
    assert list(rates.index) == list(g.index) and len(g) >= 6
    assert rates["contracts"].tolist() == g["contracts"].tolist()
    assert rates["renewed"].tolist() == g["renewed"].tolist()
    np.testing.assert_allclose(rates["arr_up"], g["arr_up"])
    np.testing.assert_allclose(rates["arr_after"], g["arr_after"])
    assert r.rates_.iloc[-1]["contracts"] == g["contracts"].sum()


def test_calendar_issue_says_why_the_calendar_is_empty():
    from csanalysis.health import LIST_COLUMNS, renewal_calendar

    def lst(days):
        rows = [{c: None for c in LIST_COLUMNS} for _ in days]
        for r, d in zip(rows, days):
            r.update(scoring_date="2024-12-31", customer_id=f"C{d}", touch_model="low", csm_owner="x", mrr=10.0,
                     arr=120.0, churn_probability=0.1, horizon_months=3, score_source="model", arr_at_risk=12.0,
                     scorecard_band="good", on_list=False, days_to_renewal=d,
                     renewal_date=None if d is None else (pd.Timestamp("2024-12-31") + pd.Timedelta(days=d)).date())
        return pd.DataFrame(rows, columns=list(LIST_COLUMNS))

    assert renewal.calendar_issue(None, None) == "no_risk_score"
    undated = lst([None, None])
    assert renewal.calendar_issue(renewal_calendar(undated), undated) == "no_renewal_dates"
    later = lst([400, None])
    assert renewal.calendar_issue(renewal_calendar(later), later) == "none_due"
    soon = lst([10, 400])
    assert renewal.calendar_issue(renewal_calendar(soon), soon) is None


def test_a_pseudonymised_dataset_keeps_its_invoices_under_pseudonyms(tmp_path, monkeypatch):
    """A pseudonymised Dataset (no raw rows) keeps the annual invoices with pseudonymised ids: the same contracts
    and rates as the raw Dataset's, under the same pseudonyms as the other tables."""
    from csanalysis.data import pseudonym
    from csanalysis.data.context import RunContext

    monkeypatch.setenv(pseudonym.KEY_ENV, "k" * 32)
    src = _tiny(tmp_path)
    raw = cs.load_dataset(src, as_of="2024-06-30", grace_months=0)
    hidden = cs.load_dataset(src, as_of="2024-06-30", grace_months=0, context=RunContext(pseudonymise=True))
    assert hidden.pseudonymised and not hidden.tables
    assert pseudonym.looks_pseudonymised(hidden.invoices["customer_id"])
    want = raw.invoices.assign(customer_id=pseudonym.pseudonymise_ids(raw.invoices["customer_id"].to_numpy()))
    pd.testing.assert_frame_equal(hidden.invoices, want)
    a, b = renewal.renewal_rates(raw, n_boot=50), renewal.renewal_rates(hidden, n_boot=50)
    assert b.sources_ == a.sources_ and a.sources_.get("annual_invoice", 0) > 0
    # the same counts and rates (the bootstrap intervals draw accounts in the order of their ids, which pseudonyms change)
    point = [c for c in a.rates_.columns if not c.endswith(("_lower", "_upper"))]
    pd.testing.assert_frame_equal(b.rates_[point], a.rates_[point])
    assert set(b.events_["customer_id"]) <= set(hidden.panel["customer_id"])
