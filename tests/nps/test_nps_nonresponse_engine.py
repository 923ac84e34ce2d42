"""Survey coverage and the response-bias check as grouped engine queries (csanalysis/nps/nonresponse.py) against
the pandas computation over the customer-month panel that they replaced (kept here as the reference): equal to
the last binary digit on whole-number amounts (the bundled demo, a hand-made world), within rounding on amounts
in cents; and neither reads the pandas panel or usage table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import csanalysis as cs
from csanalysis import nps
from csanalysis.data.keys import IntegerPanel
from csanalysis.nps.nonresponse import _coverage, _response_bias, period_row, welch_by_measure
from csanalysis.periods import PERIOD_MONTHS, month_index, period_label, period_start
from csanalysis.stats.proportion import wilson

from conftest import DEMO


# ------------------------------------------------------------------------------------------------ the reference
# (the pandas implementation before the engine queries, unchanged)


def reference_coverage(ds, r: pd.DataFrame, pv: IntegerPanel, period: str, alpha: float) -> pd.DataFrame:
    """:func:`coverage` from the responses ``r`` (:func:`responses`) and the integer-keyed panel ``pv``."""
    # paying accounts per period: one run per (customer, period) of the panel, which comes sorted by customer
    # and month, so runs are found in one pass instead of a groupby and a merge over every customer-month; an
    # unsorted panel is sorted first
    months = PERIOD_MONTHS[period]
    pstart = period_start(pv.m, period)
    p0 = int(pstart.min()) if len(pstart) else 0
    n_per = (int(pstart.max()) - p0) // months + 1 if len(pstart) else 1
    flat = pv.code.astype(np.int64) * n_per + (pstart - p0) // months
    mrr = np.nan_to_num(pv.mrr)  # a month without MRR adds nothing (as a groupby sum skips NaN)
    if len(flat) > 1 and not np.all(flat[1:] >= flat[:-1]):
        order = np.argsort(flat, kind="stable")
        flat, mrr = flat[order], mrr[order]
    starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]]) if len(flat) else np.zeros(0, dtype=np.int64)
    act_key = flat[starts]  # sorted (code, period) keys of paying accounts
    act_mrr = np.add.reduceat(mrr, starts) if len(starts) else np.zeros(0)
    act_per = p0 + (act_key % n_per) * months
    per_acc = r.groupby(["period", "customer_id"]).agg(responses=("score", "size"),
                                                       respondents=("respondent_id", "nunique")).reset_index()
    code = pv.codes(per_acc["customer_id"])  # −1: never paying, so never matched below
    rp = per_acc["period"].to_numpy(np.int64)
    key = code * n_per + (rp - p0) // months
    in_span = (code >= 0) & (rp >= p0) & (rp < p0 + n_per * months) & ((rp - p0) % months == 0)
    i = np.minimum(np.searchsorted(act_key, key), max(len(act_key) - 1, 0))
    paying = in_span & (act_key[i] == key) if len(act_key) else np.zeros(len(key), dtype=bool)
    answered = np.zeros(len(act_key), dtype=bool)
    answered[i[paying]] = True
    resp_n, resp_people = per_acc["responses"].to_numpy(), per_acc["respondents"].to_numpy()
    rows = []
    for key in np.unique(act_per):
        in_r = rp == key
        if not in_r.any():
            continue
        g = act_per == key
        n, k = int(g.sum()), int((g & answered).sum())
        lo, hi = wilson(k, n, alpha)  # NaN when no account was paying (n = 0)
        mrr_all, mrr_ans = act_mrr[g].sum(), act_mrr[g & answered].sum()
        people = resp_people[in_r & paying]
        rows.append({"period": period_label(key, period), "customers": n, "respondent_accounts": k,
                     "share": k / n if n else np.nan, "lower": lo, "upper": hi,
                     "mrr_share": mrr_ans / mrr_all if mrr_all > 0 else np.nan,
                     "responses": int(resp_n[in_r].sum()),
                     "respondents_per_account": float(people.mean()) if k else np.nan,
                     "max_respondents": int(people.max()) if k else 0,
                     "responses_not_paying": int(resp_n[in_r & ~paying].sum()),
                     "complete": bool(ds.window_closed(key, months - 1)), "_key": int(key)})
    out = pd.DataFrame(rows)
    out.attrs["period"] = period
    return out



def reference_bias(ds, r: pd.DataFrame, pv: IntegerPanel, cov: pd.DataFrame, period: str, which, alpha: float) -> pd.DataFrame:
    """:func:`response_bias` from the responses ``r``, the integer-keyed panel ``pv`` and the coverage table: the
    accounts of the period built in pandas (the engine builds them in nonresponse._accounts), then the same
    comparison (nonresponse.welch_by_measure)."""
    row = period_row(cov, which)
    key = int(row["_key"])
    answered = pv.codes(r.loc[r["period"] == key, "customer_id"].unique())
    sel = period_start(pv.m, period) == key
    pm = pd.DataFrame({"code": pv.code[sel], "m": pv.m[sel], "mrr": pv.mrr[sel], "tenure": pv.tenure[sel]})
    if ds.usage is not None and "logins" in ds.usage.columns:
        um = month_index(ds.usage["month"])
        in_period = period_start(um, period) == key  # only the period's usage rows can match its paid months
        u = pd.DataFrame({"code": pv.codes(ds.usage["customer_id"].to_numpy()[in_period]), "m": um[in_period],
                          "logins": ds.usage["logins"].to_numpy()[in_period]})
        pm = pm.merge(u[u["code"] >= 0], on=["code", "m"], how="left")
        pm["logins"] = pm["logins"].fillna(0.0)  # a paid month without usage rows had no logins
    g = pm.groupby("code")  # sorted codes = sorted ids
    acc = pd.DataFrame({"mrr": g["mrr"].mean(), "tenure": g["tenure"].min()})
    if "logins" in pm.columns:
        acc["logins"] = g["logins"].mean()
    acc["answered"] = acc.index.isin(answered[answered >= 0])
    return welch_by_measure(acc, row["period"], alpha)  # the same test on the accounts built in pandas


# ------------------------------------------------------------------------------------------------ tests


def _both(ds, period, which=None):
    r = nps.responses(ds, period=period)
    pv = IntegerPanel(ds)
    ref_cov = reference_coverage(ds, r, pv, period, 0.05)
    ref_bias = reference_bias(ds, r, pv, ref_cov, period, which, 0.05)
    return ref_cov, ref_bias


@pytest.fixture(scope="module")
def demo():
    if not (DEMO / ".complete").exists():
        pytest.skip("the demo data are not written (make demo)")
    return DEMO


@pytest.mark.parametrize("period", ["month", "quarter", "year"])
def test_engine_coverage_and_bias_equal_the_pandas_reference_on_the_demo(demo, period):
    ds = cs.load_dataset(demo, cache=False)
    r = nps.responses(ds, period=period)
    cov = _coverage(ds, r, period, 0.05)
    bias = _response_bias(ds, r, cov, period, None, 0.05)
    # neither built the pandas panel or usage table (the reference below does)
    assert "panel" in ds.pending() and "usage" in ds.pending()
    ref_cov, ref_bias = _both(ds, period)
    assert len(cov) > 1 and len(bias) == 3
    pd.testing.assert_frame_equal(cov, ref_cov, check_exact=True)
    pd.testing.assert_frame_equal(bias, ref_bias, check_exact=True)
    # an earlier period too (the bias check of any period, by label)
    which = cov["period"].iloc[len(cov) // 2]
    got = _response_bias(ds, r, cov, period, which, 0.05)
    pd.testing.assert_frame_equal(got, reference_bias(ds, r, IntegerPanel(ds), ref_cov, period, which, 0.05),
                                  check_exact=True)


def test_engine_usage_from_a_report_cache_equals_the_loaded_frame(demo, tmp_path):
    """A report run's cache: the usage table is read by the engine from its Parquet file, unbuilt."""
    from csanalysis.data import cache

    ds = cs.load_dataset(demo, cache=False)
    folder = cache.save(ds, tmp_path / "entry")
    cached = cache.load(folder)
    assert cache.parquet_file(cached.__dict__["usage"]) is not None
    r = nps.responses(cached, period="quarter")
    cov = _coverage(cached, r, "quarter", 0.05)
    bias = _response_bias(cached, r, cov, "quarter", None, 0.05)
    assert "panel" in cached.pending() and "usage" in cached.pending()
    ref_cov, ref_bias = _both(ds, "quarter")
    pd.testing.assert_frame_equal(cov, ref_cov, check_exact=True)
    pd.testing.assert_frame_equal(bias, ref_bias, check_exact=True)


def test_amounts_in_cents_agree_within_rounding(tmp_path):
    """Amounts with cents: the engine sums in its own order, so shares and means agree to rounding only."""
    rng = np.random.default_rng(3)
    months = pd.date_range("2024-01-01", "2024-12-01", freq="MS")
    ids = [f"c{i:03d}" for i in range(60)]
    rows = [(c, m, round(float(rng.uniform(10, 500)), 2)) for c in ids for m in months
            if not (int(c[1:]) % 7 == 0 and m.month > 6)]
    pd.DataFrame(rows, columns=["customer_id", "date", "amount"]).to_csv(tmp_path / "revenue.csv", index=False)
    pd.DataFrame({"customer_id": ids, "signup_date": "2024-01-01"}).to_csv(tmp_path / "customers.csv", index=False)
    ans = rng.choice(ids, 80)
    dates = pd.to_datetime("2024-01-05") + pd.to_timedelta(rng.integers(0, 330, 80), unit="D")
    pd.DataFrame({"customer_id": ans, "date": dates.strftime("%Y-%m-%d"), "score": rng.integers(0, 11, 80)}
                 ).to_csv(tmp_path / "nps.csv", index=False)
    ds = cs.load_dataset(tmp_path, as_of="2024-12-31", cache=False)
    r = nps.responses(ds, period="quarter")
    cov = _coverage(ds, r, "quarter", 0.05)
    bias = _response_bias(ds, r, cov, "quarter", None, 0.05)
    ref_cov, ref_bias = _both(ds, "quarter")
    assert len(cov) == 4
    pd.testing.assert_frame_equal(cov, ref_cov, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(bias, ref_bias, check_exact=False, rtol=1e-9)
