"""The loader's one-pass checks (load._Builder._scan, load._has_edge_space) find what each check's own query finds.

Each table whose rows belong to customers is counted in one aggregate pass; a check without a count from it runs
its own query, as before the scan. Loading the same hostile folders with the scan and with the scan emptied (every
check on its own query) must give the same findings, counts, reconciliation and tables."""
from __future__ import annotations

from pathlib import Path

import ibis
import pandas as pd
import pytest

import csanalysis as cs
from csanalysis.data import DataValidationError
from csanalysis.data import load

CUSTOMERS = "customer_id,signup_date,plan\nA,2024-01-01,Basic\nB,2024-01-15,Pro\nC,2024-02-01,Pro\n"


def _folder(tmp_path: Path, name: str, **files: str) -> Path:
    d = tmp_path / name
    d.mkdir()
    for fname, text in files.items():
        (d / fname.replace("__", ".")).write_text(text, encoding="utf-8")
    return d


def _outcome(path, **kw):
    """Findings (every field), counts and reconciliation of a load, and its tables when it does not raise."""
    try:
        ds = cs.load_dataset(path, cache=False, **kw)
    except DataValidationError as err:
        report, tables = err.report, None
    else:
        report = ds.report
        ds.materialise()
        tables = {n: getattr(ds, n) for n in ("customers", "panel", "spells", "usage", "nps", "payments",
                                               "payment_attempts", "cs_activities", "tickets")}
    findings = [(f.to_dict(), list(f.ids)) for f in report.findings]
    return findings, report.counts, report.reconciliation, tables


def _same_with_and_without_scan(monkeypatch, path, **kw):
    scanned = _outcome(path, **kw)
    with monkeypatch.context() as m:
        m.setattr(load._Builder, "_scan", lambda self, customers, clean: {})  # every check on its own query
        own = _outcome(path, **kw)
    assert scanned[:3] == own[:3]
    if scanned[3] is None or own[3] is None:
        assert scanned[3] is own[3]
    else:
        for name, frame in scanned[3].items():
            if frame is None:
                assert own[3][name] is None, name
            else:
                pd.testing.assert_frame_equal(frame, own[3][name], obj=name)
    return scanned


def test_errors_counted_in_the_scan_are_those_of_each_checks_own_query(tmp_path, monkeypatch):
    # rows of unknown customers in three tables, a kind and a status outside their lists, an amount too large,
    # revenue before signup, two currencies: all reported, in the checks' order
    d = _folder(
        tmp_path, "errors", customers__csv=CUSTOMERS,
        revenue__csv=("customer_id,date,amount,kind,currency\nA,2024-01-01,100,recurring,EUR\n"
                      "A,2024-02-01,100,refund_ish,EUR\nB,2023-12-01,200,recurring,EUR\nZ,2024-02-01,5,,USD\n"
                      "C,2024-02-01,2e13,recurring,EUR\nY,2024-03-01,7,recurring,EUR\n"),
        usage__csv="customer_id,date,logins\nA,2024-01-05,3\nQ,2024-01-06,1\n",
        payments__csv="customer_id,date,status\nA,2024-01-02,succeeded\nB,2024-01-20,lost\nX,2024-01-03,failed\n",
    )
    findings, *_ = _same_with_and_without_scan(monkeypatch, d, as_of="2024-03-31")
    errors = [(f["table"], f["message"].split(" ")[0:3]) for f, _ in findings if f["level"] == "error"]
    assert [t for t, _ in errors] == ["revenue", "usage", "payments", "revenue", "payments", "revenue", "revenue",
                                      "revenue"], errors
    orphans = [f for f, _ in findings if "not in the customers table" in f["message"]]
    assert [(f["table"], f["n_rows"], sorted(f["examples"])) for f in orphans] == [
        ("revenue", 2, ["Y", "Z"]), ("usage", 1, ["Q"]), ("payments", 1, ["X"])]


def test_a_repeated_customer_id_keeps_the_before_signup_join(tmp_path, monkeypatch):
    # with B twice the join counts B's early row once per copy: the scan leaves that count to the old query
    d = _folder(tmp_path, "dupes", customers__csv=CUSTOMERS + "B,2024-03-01,Pro\n",
                revenue__csv="customer_id,date,amount\nA,2024-01-01,100\nB,2024-02-01,200\nW,2024-02-01,1\n")
    findings, *_ = _same_with_and_without_scan(monkeypatch, d, as_of="2024-03-31")
    before = [f for f, _ in findings if "before the customer's signup_date" in f["message"]]
    assert len(before) == 1 and before[0]["n_rows"] == 1


@pytest.mark.parametrize("as_of", ["2024-02-29", None, "future"])
def test_cuts_and_bad_periods_counted_in_the_scan(tmp_path, monkeypatch, as_of):
    # rows after as_of in every cut table (explicit as_of), a default as_of from the data (which reach the end of
    # March), or rows dated after today (errors); a period that ends before it starts is an error only among the
    # rows kept
    rev = ("customer_id,date,amount,period_start,period_end,kind\nA,2024-01-01,100,2024-01-01,2024-01-31,recurring\n"
           "A,2024-02-01,100,2024-02-01,2024-02-29,recurring\nB,2024-02-15,1200,2024-02-15,2025-02-14,recurring\n"
           "C,2024-02-01,50,2024-02-01,2024-02-29,recurring\nC,2024-03-10,50,2024-03-10,2024-03-01,recurring\n"
           "A,2024-03-01,30,,,one_off\n")
    d = _folder(tmp_path, "cuts", customers__csv=CUSTOMERS, revenue__csv=rev,
                usage__csv="customer_id,date,logins\nA,2024-01-05,3\nA,2024-03-05,1\nB,2024-03-02,2\n",
                nps__csv="customer_id,date,score\nA,2024-02-05,9\nB,2024-03-31,3\n"
                + ("C,2999-01-01,5\n" if as_of == "future" else ""),
                payments__csv="customer_id,date,status\nA,2024-01-02,succeeded\nC,2024-03-02,failed\n",
                cs_activities__csv="customer_id,date,activity\nA,2024-01-09,call\nB,2024-03-09,qbr\n",
                tickets__csv="customer_id,date,text\nA,2024-01-09,help\nC,2024-03-11,broken\n",
                cs_costs__csv="month,cost\n2024-01-01,10\n2024-02-01,10\n2024-03-01,10\n")
    findings, counts, reconciliation, _ = _same_with_and_without_scan(
        monkeypatch, d, **({"as_of": as_of} if as_of and as_of != "future" else {}))
    if as_of == "future":
        assert [(f["table"], f["n_rows"], f["examples"]) for f, _ in findings if f["level"] == "error"] == [
            ("nps", 1, ["C: 2999-01-01"])]
    elif as_of:  # the bad period is among the rows cut: no error, and every table has its cut counted
        assert not [f for f, _ in findings if f["level"] == "error"]
        assert {t: c.get("cut_after_as_of") for t, c in counts.items() if t not in ("customers",)} == {
            "revenue": 2, "usage": 2, "nps": 1, "payments": 1, "cs_activities": 1, "tickets": 1, "cs_costs": 1}
        assert reconciliation["revenue total (rows up to as_of)"] == 1450
    else:  # the data reach 2024-03: the March rows are kept and the bad period is an error
        assert [f["message"] for f, _ in findings if f["level"] == "error"] == [
            "1 rows have period_end before period_start"]


def test_edge_space_comparisons_let_through_every_value_the_regular_expression_matches():
    values = ["a", " a", "a ", "a\t", "\ta", "a\n", "a\r", "a\f", "a\v", "\va", "", " ", "\t\t", "x\u3000",
              "\u00a0a", "a\u00a0", "a\x01", "\x01a", "ab!", "é ", "é", "日本 ", "日本", None]
    t = ibis.memtable(pd.DataFrame({"s": values}))
    con = load.engine_connection()
    out = con.execute(t.mutate(edge=load._has_edge_space(t.s), regex=t.s.re_search(load._EDGE)))
    regex = [bool(v) if v is not None and not pd.isna(v) else False for v in out["regex"]]
    assert out["edge"].astype(bool).tolist() == regex
    # by hand: RE2's \s is [\t\n\f\r ] (not \v, the no-break or the ideographic space)
    assert regex == [v is not None and v != "" and (v[0] in " \t\n\f\r" or v[-1] in " \t\n\f\r") for v in values]


def test_examples_are_the_smallest_values_on_every_run(tmp_path):
    """A finding's examples are its first N_EXAMPLES distinct values in order, not whatever a parallel engine
    returns first: 40 unknown customers in the revenue rows (in shuffled order) give Z00…Z04 every time."""
    import random

    ids = [f"Z{i:02d}" for i in range(40)]
    random.Random(1).shuffle(ids)
    rev = "customer_id,date,amount\n" + "".join(f"{c},2024-03-01,10\n" for c in ["A", "B", "C", *ids])
    d = _folder(tmp_path, "orphans", customers__csv=CUSTOMERS, revenue__csv=rev)
    seen = set()
    for _ in range(3):
        try:
            report = cs.load_dataset(d, cache=False).report
        except DataValidationError as err:
            report = err.report
        orphan = [f for f in report.findings if f.table == "revenue" and f.column == "customer_id"]
        assert orphan and orphan[0].n_rows == 40
        seen.add(tuple(orphan[0].examples))
    assert seen == {tuple(f"Z{i:02d}" for i in range(load.N_EXAMPLES))}
