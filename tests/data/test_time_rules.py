"""The time rules: the month index and its inverse (csanalysis/periods.py), their engine twins (data/spells.py,
data/direct.py) on the same dates, and the Dataset's as_of month and closed-window rule on a tiny hand-checked
fixture (an as_of at a month's end, in mid-month and on a leap day; with and without a grace period)."""
from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pytest

import csanalysis as cs
from csanalysis import periods
from csanalysis.data import direct, spells

# across year ends, leap days (2000 and 2024 are leap years, 2100 is not) and before 1970 (numpy counts from it)
EDGES = ["1899-12-31", "1900-03-01", "1969-12-31", "1970-01-01", "1999-12-31", "2000-01-01", "2000-02-29",
         "2000-03-01", "2023-12-31", "2024-01-01", "2024-02-29", "2024-03-01", "2024-12-31", "2025-01-01",
         "2100-02-28", "2100-03-01"]


def _by_hand(d: str) -> int:
    y, m, _ = (int(x) for x in d.split("-"))
    return y * 12 + m - 1


def test_month_index_of_scalars_and_series_by_hand():
    assert periods.month_index("2024-01-01") == 24288 and periods.month_index(dt.date(2023, 12, 31)) == 24287
    assert periods.month_index(pd.Timestamp("2024-02-29 23:59")) == 24289
    assert isinstance(periods.month_index("2024-03-15"), int)
    want = np.array([_by_hand(d) for d in EDGES])
    for ts in (pd.Series(pd.to_datetime(EDGES)), pd.to_datetime(EDGES), EDGES, tuple(EDGES),
               pd.to_datetime(EDGES).to_numpy(), pd.Series(pd.to_datetime(EDGES).as_unit("s")),
               pd.Series([dt.date.fromisoformat(d) for d in EDGES], dtype=object)):
        got = periods.month_index(ts)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, want)


def test_month_index_fast_path_equals_the_calendar_accessors():
    """Naive datetimes are counted by numpy (months since 1970, dates before it included); the rest (time zones,
    missing dates) by pandas' year and month: the same numbers."""
    rng = np.random.default_rng(0)
    ts = pd.Series(pd.to_datetime(rng.integers(-2 * 10**9, 3 * 10**9, 5000), unit="s"))
    want = (ts.dt.year * 12 + ts.dt.month - 1).to_numpy(np.int64)
    np.testing.assert_array_equal(periods.month_index(ts), want)
    # a time zone counts in its own calendar: 2023-12-31 20:00 UTC is January 2024 in Tokyo
    tz = ts.dt.tz_localize("UTC").dt.tz_convert("Asia/Tokyo")
    np.testing.assert_array_equal(periods.month_index(tz), (tz.dt.year * 12 + tz.dt.month - 1).to_numpy())
    assert periods.month_index(pd.Series(pd.to_datetime(["2023-12-31 20:00"])).dt.tz_localize("UTC")
                               .dt.tz_convert("Asia/Tokyo"))[0] == 24288
    # a missing date: NaN (float), the others still exact
    np.testing.assert_array_equal(periods.month_index(pd.Series(["2024-01-31", None])), [24288, np.nan])
    np.testing.assert_array_equal(periods.month_index(pd.Series(pd.to_datetime(["2024-01-31", None]))), [24288, np.nan])


def test_month_start_inverts_the_month_index():
    assert periods.month_start(24289) == pd.Timestamp("2024-02-01")
    assert periods.month_start(np.int32(24287)) == pd.Timestamp("2023-12-01")
    idx = np.array([_by_hand(d) for d in EDGES])
    got = periods.month_start(pd.Series(idx, index=np.arange(len(idx)) * 10))
    assert got.dtype == "datetime64[ns]" and list(got.index) == list(np.arange(len(idx)) * 10)  # keeps the index
    want = [pd.Timestamp(d[:8] + "01") for d in EDGES]
    assert list(got) == want
    assert list(periods.month_start(idx)) == want
    np.testing.assert_array_equal(periods.month_index(periods.month_start(idx)), idx)


def test_labels_and_periods_by_hand():
    assert periods.month_label(24290) == "2024-03" and periods.month_label(24287) == "2023-12"
    m = periods.month_index("2024-03-10")
    assert periods.period_start(m, "quarter") == periods.month_index("2024-01-01")
    assert periods.period_start(m, "fiscal_year", fy_start=4) == periods.month_index("2023-04-01")
    assert periods.period_start(m + 1, "fiscal_year", fy_start=4) == periods.month_index("2024-04-01")
    assert periods.period_label(periods.month_index("2024-07-01"), "quarter") == "2024-Q3"
    assert periods.period_label(periods.month_index("2024-01-01"), "year") == "2024"
    assert periods.period_label(periods.month_index("2023-04-01"), "fiscal_year") == "FY2023 (from 2023-04)"
    assert periods.period_label(periods.month_index("2023-01-01"), "fiscal_year") == "FY2023"
    assert periods.period_label(m, "month") == "2024-03"
    with pytest.raises(ValueError, match="period='week'"):
        periods.period_label(m, "week")


@pytest.mark.parametrize("as_of,month", [("2024-03-31", "2024-03"), ("2024-03-15", "2024-02"),
                                         ("2024-02-29", "2024-02"), ("2024-02-28", "2024-01"),
                                         ("2023-02-28", "2023-02"), ("2024-01-01", "2023-12"),
                                         ("2023-12-31", "2023-12")])
def test_the_last_complete_month(as_of, month):
    assert periods.last_complete_month(as_of) == _by_hand(month + "-01")


def test_the_engine_twins_agree_with_pandas():
    """data/spells.month_index and data/direct.month_timestamp computed by DuckDB equal periods' functions."""
    df = pd.DataFrame({"i": np.arange(len(EDGES)), "t": pd.to_datetime(EDGES)})
    t = ibis.memtable(df)
    got = t.select("i", m=spells.month_index(t.t), md=spells.month_index(t.t.cast("date"))).order_by("i").execute()
    want = periods.month_index(df["t"])
    np.testing.assert_array_equal(got["m"].to_numpy(), want)
    np.testing.assert_array_equal(got["md"].to_numpy(), want)
    back = ibis.memtable(pd.DataFrame({"i": np.arange(len(EDGES)), "m": want.astype(np.int32)}))
    back = back.select("i", t=direct.month_timestamp(back.m)).order_by("i").execute()
    assert list(pd.to_datetime(back["t"])) == list(periods.month_start(want))


def test_the_closed_window_rule_by_hand():
    march = periods.month_index("2024-03-01")
    # January + 2 months (February, March) ≤ March: closed; with one grace month (April) not yet
    assert periods.window_closed(march - 2, 2, march)
    assert not periods.window_closed(march - 2, 2, march, grace=1)
    assert periods.window_closed(march, 0, march) and not periods.window_closed(march, 0, march, grace=1)
    got = periods.window_closed(np.array([march - 4, march - 3, march - 2]), 3, march)
    np.testing.assert_array_equal(got, [True, True, False])
    # horizons broadcast against months
    grid = periods.window_closed(np.array([march - 2, march])[:, None], np.array([0, 1, 2])[None, :], march)
    np.testing.assert_array_equal(grid, [[True, True, True], [True, False, False]])
    with pytest.raises(ValueError, match="horizon=-1"):
        periods.window_closed(march, -1, march)


def _load(tmp_path, as_of: str, grace: int = 0):
    """A: paid Nov 2023 – Jan 2024; B: Dec 2023 – Mar 2024; C: Nov – Dec 2023 (100 a month each)."""
    d = tmp_path / f"src_{as_of}_{grace}"
    d.mkdir()
    paid = {"A": ["2023-11", "2023-12", "2024-01"], "B": ["2023-12", "2024-01", "2024-02", "2024-03"],
            "C": ["2023-11", "2023-12"]}
    pd.DataFrame({"customer_id": list(paid), "signup_date": [ms[0] + "-01" for ms in paid.values()]}).to_csv(
        d / "customers.csv", index=False)
    pd.DataFrame([(c, m + "-01", 100) for c, ms in paid.items() for m in ms],
                 columns=["customer_id", "date", "amount"]).to_csv(d / "revenue.csv", index=False)
    return cs.load_dataset(d, as_of=as_of, grace_months=grace)


@pytest.mark.parametrize("as_of,month", [("2024-03-31", "2024-03"), ("2024-03-15", "2024-02"),
                                         ("2024-02-29", "2024-02")])
def test_the_datasets_as_of_month(tmp_path, as_of, month):
    ds = _load(tmp_path, as_of)
    assert ds.as_of_m == _by_hand(month + "-01") == periods.last_complete_month(ds.as_of)
    assert ds.as_of_month == pd.Timestamp(month + "-01")
    assert ds.panel["month"].max() == ds.as_of_month  # B pays up to March: the panel ends at the as_of month
    assert ds.data_start_m == _by_hand("2023-11-01")


@pytest.mark.parametrize("as_of,grace,churned", [
    # as_of month March: A (last paid January) and C (December) have churned; B pays in March
    ("2024-03-31", 0, {"A": 1, "B": 0, "C": 1}),
    # as_of month February (mid-month as_of): B still pays in February; A's churn month February is observed
    ("2024-03-15", 0, {"A": 1, "B": 0, "C": 1}),
    # one grace month: A's February and March without payment are observed by March
    ("2024-03-31", 1, {"A": 1, "B": 0, "C": 1}),
    # one grace month, as_of month February: A's grace month March is not observed yet; C's (February) is
    ("2024-03-15", 1, {"A": 0, "B": 0, "C": 1}),
    ("2024-02-29", 1, {"A": 0, "B": 0, "C": 1}),
])
def test_window_closed_on_the_dataset_agrees_with_the_churn_definition(tmp_path, as_of, grace, churned):
    """A spell has churned exactly when the month after its last paid one, and the grace months after that,
    have closed: ds.window_closed(last paid month, 1, grace) is the loader's censoring rule."""
    ds = _load(tmp_path, as_of, grace)
    sp = ds.spells.set_index("customer_id")
    assert sp["event"].to_dict() == churned
    last = periods.month_index(sp["last_paid"])
    np.testing.assert_array_equal(ds.window_closed(last, 1, grace), sp["event"].to_numpy() == 1)


def test_window_closed_and_the_last_closed_month_on_the_dataset(tmp_path):
    ds = _load(tmp_path, "2024-03-15")  # as_of month: February 2024
    feb = _by_hand("2024-02-01")
    months = np.arange(feb - 5, feb + 1)  # September … February
    np.testing.assert_array_equal(ds.window_closed(months, 3), months + 3 <= feb)
    np.testing.assert_array_equal(ds.window_closed(months, 3), [True, True, True, False, False, False])
    np.testing.assert_array_equal(ds.window_closed(months, 3, grace=2), [True, False, False, False, False, False])
    assert ds.last_closed_month(3) == feb - 3 and ds.last_closed_month(3, grace=2) == feb - 5
    assert ds.window_closed(ds.last_closed_month(3, 2), 3, 2) and not ds.window_closed(ds.last_closed_month(3, 2) + 1, 3, 2)
    # as of an earlier month (a scoring date before as_of): the window closes by that month instead
    assert ds.last_closed_month(3, by=feb - 2) == feb - 5
    np.testing.assert_array_equal(ds.window_closed(months, 3, by=feb - 2), [True, False, False, False, False, False])
    with pytest.raises(ValueError, match="grace=-1"):
        ds.last_closed_month(3, grace=-1)
