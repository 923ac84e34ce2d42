"""Seat retention (the third basis of the cohort matrix, ChartMogul's "quantity" retention), asserted on a hand
computation: the cohort10 fixture (tests/fixtures/cohort10/README.md) with seats at signup in ``customers`` and a
``customer_attributes`` history of seat changes, written below; and, with seats at signup only, its equality with
seat-weighted logo retention computed independently in pandas."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import csanalysis as cs
from csanalysis import cohorts as co
from csanalysis.data import attributes

FIX = Path(__file__).parent / "fixtures" / "cohort10"
nan = np.nan

SEATS = {"A": 10, "B": 5, "C": 20, "D": 10, "E": 4, "F": 8, "G": 6, "H": 3, "I": 10, "J": 2}
# seat changes: B expands in February (its MRR 100 → 150), C contracts on 10 February (in force for February: a
# value counts for a month when it is in force on the month's last day), G's row predates its first paid month
# (Feb), I expands on 30 April (in force for April), A's June change is after the panel (May); H changes twice in
# February, the later date (7 seats, 20 Feb) listed first: the later date counts, whatever the table order
HISTORY = [("B", "8", "2024-02-01"), ("C", "12", "2024-02-10"), ("G", "9", "2024-01-15"), ("I", "16", "2024-04-30"),
           ("A", "15", "2024-06-05"), ("H", "7", "2024-02-20"), ("H", "5", "2024-02-03")]

# Paid months (the fixture): A, B, C Jan–May; D Jan–Feb; E Jan, Apr, May; F, G Feb–May; H Feb; I Mar–May; J Mar.
# Jan cohort (A–E): base 10 + 5 + 20 + 10 + 4 = 49; Feb 10 + 8 + 12 + 10 = 40; Mar 10 + 8 + 12 = 30; Apr and May
#   30 + E's 4 = 34 (unbroken: E's first spell ended in January, 30).
# Feb cohort (F, G, H): base 8 + 9 + 7 = 24 (G's 9 and H's 7 in force in February); then F and G: 17.
# Mar cohort (I, J): base 10 + 2 = 12; April and May: I's 16 alone, 16/12 > 100% (expansion outweighs J's churn).
EXPECTED = {
    "active": [[1, 40 / 49, 30 / 49, 34 / 49, 34 / 49], [1, 17 / 24, 17 / 24, 17 / 24, nan], [1, 16 / 12, 16 / 12, nan, nan]],
    "unbroken": [[1, 40 / 49, 30 / 49, 30 / 49, 30 / 49], [1, 17 / 24, 17 / 24, 17 / 24, nan], [1, 16 / 12, 16 / 12, nan, nan]],
}


def _write(d: Path, seats: dict | None = SEATS, history=HISTORY) -> Path:
    d.mkdir()
    shutil.copy(FIX / "revenue.csv", d / "revenue.csv")
    cust = pd.read_csv(FIX / "customers.csv", dtype=str)
    if seats is not None:
        cust["seats"] = cust["customer_id"].map(seats)
    cust.to_csv(d / "customers.csv", index=False)
    if history:
        pd.DataFrame(history, columns=["customer_id", "value", "valid_from"]).assign(attribute="seats")[
            ["customer_id", "attribute", "value", "valid_from"]].to_csv(d / "customer_attributes.csv", index=False)
    return d


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return cs.load_dataset(_write(tmp_path_factory.mktemp("seats") / "d"), as_of="2024-06-15")


@pytest.mark.parametrize("definition", list(EXPECTED))
def test_seat_matrix_cell_by_cell(ds, definition):
    m = co.retention_matrix(ds, basis="seats", definition=definition)
    assert list(m.index) == ["2024-01", "2024-02", "2024-03"]
    assert m["cohort_size"].tolist() == [5, 3, 2]
    got = m[[0, 1, 2, 3, 4]].to_numpy(dtype=float)
    np.testing.assert_allclose(got, np.array(EXPECTED[definition], dtype=float), rtol=0, atol=1e-12)
    assert m.loc["2024-03", 1] > 1  # net of expansion: seat retention can exceed 100%


def test_seats_in_force_month_end_rule(ds):
    ids = ["C", "C", "G", "I", "I", "A", "A", "H", "H"]
    months = pd.to_datetime(["2024-01-01", "2024-02-01", "2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01", "2024-06-01",
                             "2024-01-01", "2024-02-01"])
    assert attributes.seats_source(ds) == "history"
    assert attributes.seats_in_force(ds, ids, months).tolist() == [20, 12, 9, 10, 16, 10, 15, 3, 7]
    # the same rule as Dataset.attribute_at on the month's last day
    for c, m in zip(ids, months):
        assert float(ds.attribute_at("seats", m + pd.offsets.MonthEnd(0))[c]) == attributes.seats_in_force(ds, [c], [m])[0]


def test_seat_interval_is_the_account_bootstrap(ds):
    r = co.cohort_retention(ds, basis="seats", n_boot=300, seed=3)
    est, lo, hi = (r.matrix[[1, 2]].to_numpy(), r.lower[[1, 2]].to_numpy(), r.upper[[1, 2]].to_numpy())
    ok = ~np.isnan(est)
    assert np.all(lo[ok] <= est[ok] + 1e-12) and np.all(est[ok] <= hi[ok] + 1e-12)
    assert (hi - lo)[0, 0] > 0
    # the Jan cohort's cell at period 1, replicated by hand: the shared bootstrap's multinomial counts over the
    # cohorts' customers (drawn from one stream in cohort order, as for revenue), Σ w·seats_k ÷ Σ w·base
    from csanalysis.stats.bootstrap import group_weights, percentile_interval

    rng = np.random.default_rng(3)
    per_cohort = {"2024-01": (["A", "B", "C", "D", "E"], [10, 5, 20, 10, 4], [10, 8, 12, 10, 0]),
                  "2024-02": (["F", "G", "H"], [8, 9, 7], [8, 9, 0]), "2024-03": (["I", "J"], [10, 2], [16, 0])}
    for label, (_, base, k1) in per_cohort.items():
        W = np.concatenate(list(group_weights(rng, np.ones(len(base)), 300)))
        boot = (W @ np.array(k1, float)) / (W @ np.array(base, float))
        lo1, hi1 = percentile_interval(boot[:, None], 0.05)
        assert r.lower.loc[label, 1] == pytest.approx(lo1[0]) and r.upper.loc[label, 1] == pytest.approx(hi1[0])


def test_static_seats_equal_seat_weighted_logo_retention(tmp_path):
    """Seats at signup only (the demo's case): seat retention = Σ seats of the customers active in period k ÷ Σ
    seats of the cohort, computed here from the panel and the customers in plain pandas."""
    from csanalysis.data import synth

    synth.write_demo(tmp_path / "d", n_customers=1500, months=30, seed=5)
    demo = cs.load_dataset(tmp_path / "d")
    assert attributes.seats_source(demo) == "signup"
    for definition, period in (("active", "month"), ("unbroken", "month"), ("active", "quarter")):
        m = co.retention_matrix(demo, basis="seats", definition=definition, period=period, n_boot=0)
        L = {"month": 1, "quarter": 3}[period]
        seats = demo.customers.set_index("customer_id")["seats"].astype(float)
        panel = demo.panel
        if definition == "unbroken":
            panel = panel[panel["spell"] == 1]
        first = demo.spells[demo.spells["spell"] == 1].set_index("customer_id")["start"]
        start = first.dt.year * 12 + first.dt.month - 1
        q = start // L * L if period == "quarter" else start  # calendar quarters (fiscal year starts in January)
        labels = {c: (f"{c // 12}-{c % 12 + 1:02d}" if period == "month" else f"{c // 12}-Q{c % 12 // 3 + 1}") for c in q.unique()}
        cohort = q.map(labels)
        # average monthly seats in the period: a customer active in j of a quarter's 3 months counts j/3 of its seats
        months_active = panel.assign(k=panel["tenure"] // L).groupby(["customer_id", "k"]).size().rename("j").reset_index()
        months_active["w"] = months_active["customer_id"].map(seats) * months_active["j"] / L
        months_active["cohort"] = months_active["customer_id"].map(cohort)
        num = months_active.groupby(["cohort", "k"])["w"].sum()
        den = seats.groupby(cohort.reindex(seats.index)).sum()
        compared = 0
        for (c, k), v in num.items():
            if c in m.index and k in m.columns and m.loc[c, k] == m.loc[c, k]:
                assert m.loc[c, k] == pytest.approx(v / den[c], rel=1e-12), (definition, period, c, k)
                compared += 1
        assert compared > (100 if period == "month" else 3), compared


def test_unit_seats_give_the_logo_matrix(tmp_path):
    ds1 = cs.load_dataset(_write(tmp_path / "d", seats={c: 1 for c in SEATS}, history=None), as_of="2024-06-15")
    for definition in ("active", "unbroken"):
        s = co.retention_matrix(ds1, basis="seats", definition=definition)
        logo = co.retention_matrix(ds1, basis="logo", definition=definition)
        pd.testing.assert_frame_equal(s, logo, check_dtype=False)


def test_pooled_seat_curve_runs_on_the_chained_rule(ds):
    c = co.pooled_curve(ds, basis="seats", definition="active", n_boot=50)
    # step 1: every cohort observed at period 1: (40 + 17 + 16) ÷ (49 + 20 + 12)
    assert c.loc[c.period == 1, "retention"].item() == pytest.approx((40 + 17 + 16) / (49 + 24 + 12))


def test_seat_retention_without_seats_or_with_bad_values_is_a_clear_error(tmp_path):
    no = cs.load_dataset(_write(tmp_path / "a", seats=None, history=None), as_of="2024-06-15")
    assert attributes.seats_source(no) is None
    with pytest.raises(ValueError, match="seat retention needs seats.*customers.*customer_attributes"):
        co.retention_matrix(no, basis="seats")
    blank = cs.load_dataset(_write(tmp_path / "b", seats={**SEATS, "D": None}, history=None), as_of="2024-06-15")
    with pytest.raises(ValueError, match=r"1 customer\(s\) have months with no seats in force.*'D'"):
        co.retention_matrix(blank, basis="seats")
    bad = cs.load_dataset(_write(tmp_path / "c", history=[("B", "eight", "2024-02-01"), ("C", "2.5", "2024-03-01")]),
                          as_of="2024-06-15")
    with pytest.raises(ValueError, match=r"of 2 customer\(s\).*'B'.*not whole numbers.*'2.5', 'eight'"):
        co.retention_matrix(bad, basis="seats")


def test_notebook_on_the_seat_basis_through_the_runner(tmp_path):
    """Report 01 with basis="seats" on the fixture above: the seat section and the main matrix agree with the hand
    computation, metrics.json (validated against its schema by the runner) carries the seat cell, and the seat
    tables are written."""
    import json

    from csanalysis.report.run import run_report

    data = _write(tmp_path / "d")
    res = run_report(["01_cohort_retention"], data=data, as_of="2024-06-15", out=tmp_path / "r", run_id="r1",
                     params={"n_boot": 40, "basis": "seats", "min_cohort_size": 2})
    folder = res.folder / "01_cohort_retention"
    m = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    assert m["basis"] == "seats" and m["seats_from"] == "history"
    # the summary's cell: the newest cohort of at least 2 customers observed 12, else 6, else 3 months after its
    # start: February at 3 months, 17/24
    sr = m["seat_retention"]
    assert (sr["cohort"], sr["months"], sr["cohort_size"]) == ("2024-02", 3, 3)
    assert sr["estimate"] == pytest.approx(17 / 24) and sr["lower"] <= sr["estimate"] <= sr["upper"]
    assert m["headline_cohort"]["estimate"] == pytest.approx(17 / 24) and m["headline_cohort"]["basis"] == "seats"
    for name in ("seat_retention_matrix", "retention_matrix"):
        mat = pd.read_csv(folder / f"{name}.csv", index_col=0)
        np.testing.assert_allclose(mat[["0", "1", "2", "3", "4"]].to_numpy(dtype=float),
                                   np.array(EXPECTED["active"], dtype=float), rtol=0, atol=1e-12)
    assert (folder / "seat_retention_cells.csv").is_file() and (folder / "pooled_curve_seats.csv").is_file()
    html = (folder / "01_cohort_retention.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", "", re.sub(r"<img[^>]*>", "", html))
    assert "Customers who started in 2024-02 hold 71% (" in text and "of their starting seats after 3 months" in text
    assert "seats in force in each period relative to the period before" in text  # the pooled curve on seats
    assert "Traceback" not in html
