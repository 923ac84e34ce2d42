"""Health over time (csanalysis.health.trend, issue 19): band shares per scoring month against an independent pandas
count of accounts scored one month at a time (and, for one month, by the churn-risk report's own scoring), the
intervals against their formulas and statsmodels, an account planted to worsen listed as declined with the signals
that moved, the decline rule and the change wording on hand-made lists, and the CSV rules of the declined list."""
from __future__ import annotations

import math
import shutil

import numpy as np
import pandas as pd
import pytest

import csanalysis as cs
from csanalysis import health
from csanalysis.health import trend as ht
from csanalysis.periods import month_index
from csanalysis.report import write_table
from csanalysis.spreadsheet import restore

Z = 1.959963984540054


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Generated demo data (folder, Dataset)."""
    from csanalysis.data import synth

    out = tmp_path_factory.mktemp("trend") / "d"
    synth.write_demo(out, n_customers=700, months=24, seed=11)
    return out, cs.load_dataset(out)


def test_band_shares_equal_an_independent_count_of_the_scored_accounts(world):
    _, ds = world
    T = month_index(ds.as_of_month)
    hist = ht.band_history(ds, months=6)
    assert hist.months == [f"{m // 12}-{m % 12 + 1:02d}" for m in range(T - 5, T + 1)]
    card = health.Scorecard.from_yaml()
    for m in range(T - 5, T + 1):
        date = health.reference_date(m)
        # each month scored on its own (signals read up to that day), counted with pandas
        sig = health.signals(ds, scoring_date=date)
        band = pd.Series(card.band(card.points(sig)), index=sig.index)
        n = len(sig)
        counts = band.value_counts()
        mrr = sig.groupby(band)["mrr"].sum()
        got = hist.table[hist.table["month"] == f"{date:%Y-%m}"].set_index("band")
        assert set(got.index) == {"good", "average", "poor"}
        for b in ("good", "average", "poor"):
            k = int(counts.get(b, 0))
            assert got.at[b, "accounts"] == k and got.at[b, "accounts_total"] == n
            assert got.at[b, "account_share"] == pytest.approx(k / n, abs=1e-12)
            assert got.at[b, "mrr_share"] == pytest.approx(mrr.get(b, 0.0) / sig["mrr"].sum(), abs=1e-12)
            # Wilson by its formula
            p = k / n
            centre, half = p + Z**2 / (2 * n), Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
            assert got.at[b, "account_share_lower"] == pytest.approx((centre - half) / (1 + Z**2 / n), abs=1e-9)
            assert got.at[b, "account_share_upper"] == pytest.approx((centre + half) / (1 + Z**2 / n), abs=1e-9)
        assert got["account_share"].sum() == pytest.approx(1.0) and got["mrr_share"].sum() == pytest.approx(1.0)
    # read a month at a time (the rule at large N): the same table
    pd.testing.assert_frame_equal(ht.band_history(ds, months=6, max_rows=1).table, hist.table)
    # the latest month as the churn-risk report scores its own date: the same bands account by account
    res = health.churn_risk(ds, n_boot=20, test_months=0)
    now = hist.scored[hist.scored["m"] == T].set_index("customer_id")["scorecard_band"]
    theirs = res.current.set_index("customer_id")["scorecard_band"]
    assert len(now) == len(theirs) and now.sort_index().equals(theirs.sort_index())


def test_mrr_share_interval_is_weighted_least_squares_with_hc1_errors(world):
    import statsmodels.api as sm

    _, ds = world
    hist = ht.band_history(ds, months=1)
    s = hist.scored
    y = (s["scorecard_band"] == "average").to_numpy(dtype=float)
    fit = sm.WLS(y, np.ones((len(y), 1)), weights=s["mrr"].to_numpy()).fit(cov_type="HC1")
    lo, hi = fit.conf_int(alpha=0.05)[0]
    row = hist.table.set_index("band").loc["average"]
    assert 0 < lo < hi < 1  # not clipped: the formula itself is compared
    assert row["mrr_share"] == pytest.approx(fit.params[0], abs=1e-12)
    assert (row["mrr_share_lower"], row["mrr_share_upper"]) == pytest.approx((lo, hi), abs=1e-9)
    assert all(math.isnan(v) for v in ht.ratio_share(np.array([5.0]), np.array([1])))  # one account: no interval
    assert all(math.isnan(v) for v in ht.ratio_share(np.array([0.0, 0.0]), np.array([1, 0])))  # no MRR


def _plant(src, dst, customer: str, month: pd.Timestamp):
    """A copy of the data where ``customer`` stops using the product in ``month``, has a failed payment in it and
    answers the NPS survey with 0 (earlier months untouched)."""
    shutil.copytree(src, dst)
    end = month + pd.offsets.MonthEnd(0)
    u = pd.read_parquet(dst / "usage.parquet")
    gone = (u["customer_id"] == customer) & (u["date"] >= month) & (u["date"] <= end)
    assert gone.any()
    u[~gone].to_parquet(dst / "usage.parquet", index=False)
    p = pd.read_parquet(dst / "payments.parquet")
    p = pd.concat([p, pd.DataFrame({"customer_id": [customer], "date": [month + pd.Timedelta(days=9)],
                                    "status": ["failed"], "amount": [100.0]})], ignore_index=True)
    p.to_parquet(dst / "payments.parquet", index=False)
    n = pd.read_parquet(dst / "nps.parquet")
    row = {c: [None] for c in n.columns}
    row.update(customer_id=[customer], date=[month + pd.Timedelta(days=14)], score=[0], respondent_id=[f"{customer}-planted"])
    if "csat" in n.columns:
        row["csat"] = [1]
    n = pd.concat([n, pd.DataFrame(row).astype(n.dtypes.to_dict())], ignore_index=True)
    n.to_parquet(dst / "nps.parquet", index=False)
    (dst / "churn_prob.parquet").unlink(missing_ok=True)


def _healthy_account(ds) -> str:
    """An account in the good band last month and this month, with logins, no failed payment, a promoter or passive
    NPS answer last month and no survey answer this month."""
    T = month_index(ds.as_of_month)
    sig = health.signals(ds, [T - 1, T])
    card = health.Scorecard.from_yaml()
    sig["band"] = card.band(card.points(sig))
    before, now = sig[sig["m"] == T - 1].set_index("customer_id"), sig[sig["m"] == T].set_index("customer_id")
    answered = set(ds.nps.loc[month_index(ds.nps["date"]) == T, "customer_id"])
    ok = before[(before["band"] == "good") & (before["logins"] >= 8) & (before["failed_payments"] == 0)
                & before["nps_category"].isin(["promoter", "passive"])].index
    ok = [c for c in ok if c in now.index and now.at[c, "band"] == "good" and c not in answered]
    assert ok, "the generated data need a healthy account to plant the decline on"
    return sorted(ok)[0]


@pytest.mark.parametrize("source", ["previous_month", "archive"])
def test_an_account_planted_to_worsen_is_declined_with_the_signals_that_moved(world, tmp_path, source):
    folder, ds = world
    who = _healthy_account(ds)
    T = month_index(ds.as_of_month)
    month = pd.Timestamp(year=T // 12, month=T % 12 + 1, day=1)
    _plant(folder, tmp_path / "planted", who, month)
    dsp = cs.load_dataset(tmp_path / "planted")
    res = health.churn_risk(dsp, n_boot=20, test_months=0)
    lst = health.risk_list(res)
    previous = None
    if source == "archive":  # the previous run's list, kept and read back as a report run would
        then = health.churn_risk(dsp, scoring_date=health.reference_date(T - 1), n_boot=20, test_months=0)
        earlier = health.risk_list(then)
        kept = health.archive_list(earlier, tmp_path / "kept")
        previous = health.read_list(health.latest_archived(tmp_path / "kept", res.scoring_date))
        assert kept.name == f"risk_list_{health.reference_date(T - 1).date()}.csv"
    trend = ht.health_trend(dsp, res, lst, previous=previous)
    dec = trend.declined
    assert dec.source == source and dec.reason is None
    assert str(dec.previous_date.date()) == str(health.reference_date(T - 1).date())
    row = dec.table.set_index("customer_id").loc[who]
    assert row["previous_band"] == "good" and row["scorecard_band"] == "poor" and row["band_worsened"] == 1
    changed = row["changed_signals"]
    assert "failed payment(s) appeared: 1 in the last 3 months (was 0)" in changed
    assert "logins fell from" in changed and "to 0 a month" in changed
    assert "NPS category dropped from " in changed and "to detractor" in changed
    # the before values are the account's signals at the previous month-end
    before = health.signals(dsp, [T - 1], accounts=[who]).iloc[0]
    assert f"logins fell from {before['logins']:,.0f} to 0 a month" in changed
    assert f"NPS category dropped from {before['nps_category']} to detractor" in changed
    # every listed account worsened by the rule, and every account that did is listed
    cur, prev = lst.set_index("customer_id"), trend.previous_list.set_index("customer_id")
    both = cur.index.intersection(prev.index.astype(str))
    worse_band = cur.loc[both, "scorecard_band"].map(ht.BAND_RANK) > prev.loc[both, "scorecard_band"].map(ht.BAND_RANK)
    worse_rank = prev.loc[both, "rank"] / len(prev) - cur.loc[both, "rank"] / len(cur) >= 0.1 - 1e-12
    assert set(dec.table["customer_id"]) == set(both[(worse_band | worse_rank).to_numpy()])
    assert dec.compared == len(both) and dec.table["rank"].is_monotonic_increasing


def _list(ids, bands, date, probs=None):
    n = len(ids)
    return pd.DataFrame({"scoring_date": date, "rank": np.arange(1, n + 1), "touch_model": "low", "customer_id": ids,
                         "csm_owner": "Ann", "churn_probability": probs if probs is not None else np.linspace(0.5, 0.05, n),
                         "scorecard_band": bands, "mrr": 100.0, "on_list": [1] * 3 + [0] * (n - 3)})


def test_the_decline_rule_on_hand_made_lists():
    ids = [f"A{i}" for i in range(10)]
    prev = _list(ids, ["good"] * 7 + ["average", "poor", "good"], "2024-05-31")
    # now: A7 moves from rank 8 to 7 (a tenth of a list of ten: exactly the threshold); A2 stays at rank 3 but goes
    # good → average; A8 improves poor → average; A9 leaves; N1 is new (not compared); A0 falls from 1 to 2 (better)
    order = ["A1", "A0", "A2", "A3", "A4", "A5", "A7", "A6", "A8", "N1"]
    bands = ["good", "good", "average", "good", "good", "good", "good", "good", "average", "poor"]
    cur = _list(order, bands, "2024-06-30")
    dec = ht.declined_accounts(cur, prev, source="archive")
    assert dec.compared == 9
    assert dec.table["customer_id"].tolist() == ["A1", "A2", "A7"]  # A1: rank 2 → 1 is 0.1 of the list too
    t = dec.table.set_index("customer_id")
    assert t.loc["A2", ["band_worsened", "rank_worsened"]].tolist() == [1, 0]
    assert t.loc["A7", ["band_worsened", "rank_worsened", "previous_rank", "rank"]].tolist() == [0, 1, 8, 7]
    assert t.loc["A7", "top_share"] == pytest.approx(0.7) and t.loc["A7", "previous_top_share"] == pytest.approx(0.8)
    assert (dec.table["changed_signals"] == "").all()  # no signals given
    assert list(dec.shown(2).columns) == list(ht.SHOWN) and dec.shown(2)["customer_id"].tolist() == ["A1", "A2"]
    words = dec.shown(3, lambda key: {"health.band.good": "G", "health.band.average": "A", "health.touch.low": "Low"}[key])
    assert words["scorecard_band"].tolist() == ["G", "A", "G"] and (words["touch_model"] == "Low").all()
    assert ht.declined_accounts(cur, prev, source="archive", min_rank_shift=0.2).table["customer_id"].tolist() == ["A2"]
    later = ht.declined_accounts(prev, cur, source="archive")  # the "previous" list is the later one: said, not raised
    assert later.code == "not_earlier" and len(later.table) == 0 and list(later.table.columns) == list(ht.DECLINED_COLUMNS)
    with pytest.raises(ValueError, match="missing column"):
        ht.declined_accounts(cur, prev.drop(columns=["scorecard_band"]), source="archive")


def test_changed_signals_in_words_by_hand():
    cols = ["customer_id", "logins", "active_users", "features_used", "days_since_login", "failed_payments",
            "nps_category", "mrr", "seats", "days_to_renewal"]
    before = pd.DataFrame([["a", 40, 5, 6, 3, 0, "promoter", 200.0, 10, 200],
                           ["b", 40, 5, 6, 3, 0, "passive", 200.0, 10, 200],
                           [None, np.nan, np.nan, np.nan, np.nan, np.nan, None, np.nan, np.nan, np.nan]], columns=cols)
    after = pd.DataFrame([["a", 30, 4, 4, 17, 2, "detractor", 190.0, 8, 80],
                          ["b", 31, 5, 5, 16, 0, "none", 191.0, 10, 91],
                          ["c", 0, 0, 0, 60, 3, "detractor", 10.0, 1, 10]], columns=cols)
    got = ht.changed_signals(before, after)
    assert got[0] == ("logins fell from 40 to 30 a month; active users fell from 5 to 4; features used fell from 6 to 4; "
                      "no login for 17 days (was 3); failed payment(s) appeared: 2 in the last 3 months (was 0); "
                      "NPS category dropped from promoter to detractor; MRR fell from 200 to 190; seats fell from 10 to 8; "
                      "renewal now within 80 days (was 200)")
    assert got[1] == "no single signal moved beyond its threshold"  # each move just short of its threshold
    assert got[2] == "the signals of the previous date are not in the data"
    from csanalysis.report import i18n

    try:
        i18n.set_language("ja")
        ja = ht.changed_signals(before.iloc[:1], after.iloc[:1], translate=i18n.tr)[0]
    finally:
        i18n.set_language("en")
    assert "NPS 区分が推奨者から批判者に低下" in ja and "支払い失敗が発生" in ja and "logins" not in ja
    assert "; " not in ja and ja.count("、") == 8  # nine changes, joined the Japanese way


def test_declined_csv_follows_the_spreadsheet_rules(tmp_path):
    ids = ["=HYPERLINK(\"http://x\",\"y\")", "+1", "@owner", "plain"]
    prev = _list(ids, ["good"] * 4, "2024-05-31")
    cur = _list(ids[::-1], ["poor"] * 4, "2024-06-30").assign(csm_owner="-Ann", mrr=-5.0)
    table = ht.declined_accounts(cur, prev, source="previous_month").table
    assert len(table) == 4
    path = write_table(tmp_path, table, "declined_list")
    raw = path.read_bytes().decode("utf-8")
    lines = raw.split("\r\n")
    assert lines[0] == ",".join(ht.DECLINED_COLUMNS) and raw.endswith("\r\n") and "\n" not in raw.replace("\r\n", "")
    assert "'=HYPERLINK" in raw and ",'+1," in raw and ",'@owner," in raw and ",'-Ann," in raw
    assert ",-5.0," in raw  # numbers stay numbers
    back = restore(pd.read_csv(path, dtype={"customer_id": str}))
    assert back["customer_id"].tolist() == table["customer_id"].tolist() and (back["csm_owner"] == "-Ann").all()


def test_little_history_and_a_list_in_another_layout_are_said_not_raised():
    ds = cs.load_dataset("tests/fixtures/cohort10")  # five months: three scoring months, no model (scorecard points)
    res = health.churn_risk(ds, capacity=3, n_boot=20)
    lst = health.risk_list(res)
    trend = ht.health_trend(ds, res, lst)
    assert trend.history.months == ["2024-03", "2024-04", "2024-05"] and trend.declined.source == "previous_month"
    zero = trend.history.table[trend.history.table["accounts"] == 0]
    assert len(zero) and (zero["account_share_lower"] == 0).all()  # exactly 0, not rounding noise
    assert ht.band_history(ds, until="2024-02-29").code == "short_history"
    other = ht.health_trend(ds, res, lst, previous=lst.drop(columns=["rank"]))
    assert other.declined.code == "previous_columns" and "rank" in other.declined.reason and not len(other.declined.table)
    from csanalysis.report import i18n

    try:
        i18n.set_language("ja")
        assert "順位" in other.declined.why(i18n.tr)
    finally:
        i18n.set_language("en")


def test_pseudonymised_lists_give_the_same_declined_accounts_under_their_pseudonyms(world, monkeypatch):
    from csanalysis.data import pseudonym

    monkeypatch.setenv(pseudonym.KEY_ENV, "k" * 32)
    _, ds = world
    res = health.churn_risk(ds, n_boot=20, test_months=0)
    plain = ht.health_trend(ds, res, health.risk_list(res), months=1).declined.table
    hidden = ht.health_trend(ds, res, health.risk_list(res, pseudonymise=True), months=1, pseudonymise=True).declined.table
    assert len(plain) and not set(hidden["customer_id"]) & set(plain["customer_id"])
    assert pseudonym.looks_pseudonymised(hidden["customer_id"])
    mapped = plain.assign(customer_id=pseudonym.pseudonymise_ids(plain["customer_id"].to_numpy()))
    pd.testing.assert_frame_equal(mapped.reset_index(drop=True), hidden.reset_index(drop=True), check_dtype=False)
    assert (hidden["changed_signals"] != "the signals of the previous date are not in the data").all()


def test_the_stacked_chart_shows_each_months_shares_and_at_most_six_month_labels():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from csanalysis.plots import health as hplots

    months = [f"2024-{m:02d}" for m in range(1, 13)]
    shares = {"good": 0.7, "average": 0.2, "poor": 0.1}
    step = {"good": -0.01, "average": 0.0, "poor": 0.01}  # poor grows, good shrinks, each month adds up to 1
    table = pd.DataFrame([{"month": m, "band": b, "account_share": s + step[b] * i}
                          for i, m in enumerate(months) for b, s in shares.items()])
    fig, ax = plt.subplots()
    hplots.plot_band_history(table, "account_share", ax=ax, labels={"poor": "P"})
    bars = list(ax.patches)
    assert len(bars) == 36
    tops = {}
    for p in bars:
        x = round(p.get_x() + p.get_width() / 2)
        tops[x] = max(tops.get(x, 0), p.get_y() + p.get_height())
    assert all(abs(v - 1) < 1e-12 for v in tops.values())
    poor = sorted((round(p.get_x() + p.get_width() / 2), p.get_height()) for p in bars if p.get_y() == 0)
    assert [h for _, h in poor] == pytest.approx([0.1 + 0.01 * i for i in range(12)])  # the worst band at the bottom
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert len(labels) <= 6 and labels[-1] == "2024-12"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["good", "average", "P"]
    plt.close(fig)


def test_metrics_shares_are_estimates_and_a_month_without_mrr_is_the_full_null():
    # one month, hand-made: 2 of 4 accounts in each of good/poor, none average; the MRR is 0 (share undefined),
    # though bounds were written beside it: metrics.json keeps no bound of an undefined share
    rows = []
    for b, k in zip(ht.BANDS, (2, 0, 2)):
        rows.append({"month": "2024-05", "band": b, "accounts": k, "account_share": k / 4,
                     "account_share_lower": np.float64(0.1) if k else 0.0, "account_share_upper": np.float64(0.9),
                     "mrr_share": np.nan, "mrr_share_lower": 0.0, "mrr_share_upper": 1.0})
    bh = ht.BandHistory(table=pd.DataFrame(rows), scored=pd.DataFrame())
    m = bh.metrics()
    assert m["months"] == ["2024-05", "2024-05"] and m["reason"] is None
    good = m["latest"]["good"]
    assert good["accounts"] == 2
    assert list(good["account_share"].items()) == [("estimate", 0.5), ("lower", 0.1), ("upper", 0.9), ("reason", None)]
    assert type(good["account_share"]["lower"]) is float  # numpy numbers leave as Python numbers
    assert good["mrr_share"] == {"estimate": None, "lower": None, "upper": None, "reason": "no MRR in the month"}
    assert m["latest"]["average"]["account_share"]["estimate"] == 0.0


def test_the_analysis_rows_kept_for_the_trend_give_what_reading_the_data_again_gives(world):
    """health_trend reads the previous month's list, the band history and the previous signals from the rows the
    churn-risk analysis read (ChurnRisk.history) instead of the data: the same numbers, to the last bit."""
    folder, ds = world
    res = health.churn_risk(ds, n_boot=20, test_months=0)
    held = res.history
    assert held is not None and res.sample is None
    T = res.scoring_month
    # the rows up to an earlier month are the rows a reading at that month gives
    rows, points = held.rows(ds, T - 1, scorecard=res.scorecard)
    again = health.signals(ds, np.arange(ds.data_start_m + 2, T), attributes=res.model.attributes)
    pd.testing.assert_frame_equal(rows.drop(columns=["churned", "closed"]), again, check_exact=True)
    np.testing.assert_array_equal(points, res.scorecard.points(again))
    # the previous month's analysis from the rows and from the data
    kw = dict(scoring_date=health.reference_date(T - 1), test_months=0, importance=False, scorecard=res.scorecard,
              attributes=res.model.attributes)
    from_rows, from_data = health.churn_risk(ds, history=held, **kw), health.churn_risk(ds, **kw)
    pd.testing.assert_frame_equal(from_rows.current, from_data.current, check_exact=True)
    np.testing.assert_array_equal(from_rows.model.coef_, from_data.model.coef_)
    assert from_data.history is None  # importance=False: the rows are not kept
    # a call on a sample of the customers reads its sample, not the kept rows
    from csanalysis import grouped

    mds = grouped.model_dataset(cs.load_dataset(folder), max_customers=300)  # a load whose tables are not read yet
    sampled = health.churn_risk(ds, history=held, model_ds=mds, **kw)
    assert sampled.sample is not None and sampled.train_rows < from_rows.train_rows
    # the whole section, with the rows and (once they are released) without them
    lst = health.risk_list(res)
    with_rows = ht.health_trend(ds, res, lst)
    assert res.history is None
    without = ht.health_trend(ds, res, lst)
    pd.testing.assert_frame_equal(with_rows.history.table, without.history.table, check_exact=True)
    pd.testing.assert_frame_equal(with_rows.history.scored, without.history.scored, check_exact=True)
    pd.testing.assert_frame_equal(with_rows.previous_list, without.previous_list, check_exact=True)
    pd.testing.assert_frame_equal(with_rows.declined.table, without.declined.table, check_exact=True)
    assert len(with_rows.declined.table) and (with_rows.declined.table["changed_signals"] != "").all()
