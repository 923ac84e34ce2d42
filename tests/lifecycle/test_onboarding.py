"""Onboarding (csanalysis/lifecycle/onboarding.py): milestone files, time to milestone against a hand computation and
lifelines, the landmark Cox model, and the planted onboarding effect of the generator."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter

import csanalysis as cs
from csanalysis.lifecycle import onboarding as onb
from conftest import generated_world

MONTHS = [f"2024-{m:02d}" for m in range(1, 9)]
AS_OF = "2024-08-31"
# customer: (signup month, paid months (first, count), onboarding session date or None, logins by paid month)
WORLD = {
    "A": ("2024-01", (0, 8), "2024-01-20", [5, 5]),
    "B": ("2024-01", (0, 8), "2024-03-10", [0, 3]),
    "C": ("2024-01", (0, 4), None, [0, 0, 0, 2]),
    "D": ("2024-01", (0, 2), "2024-02-05", []),
    "E": ("2024-01", (0, 6), "2024-05-02", [1]),
    "F": ("2024-03", (2, 6), None, [0, 0, 4]),
    "G": ("2024-02", (1, 7), "2024-02-14", [2]),
    "H": ("2024-01", (0, 6), "2024-01-25", [1]),
}


def _write(folder: Path, *, activities: bool = True, usage: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cust, rev, act, use = [], [], [], []
    for cid, (signup, (first, n), session, logins) in WORLD.items():
        cust.append({"customer_id": cid, "signup_date": f"{signup}-01", "plan": "Basic" if cid in "ACEG" else "Pro",
                     "touch_model": "high" if cid in "ABGH" else "tech"})
        rev += [{"customer_id": cid, "date": f"{m}-01", "amount": 100.0} for m in MONTHS[first:first + n]]
        if session:
            act.append({"customer_id": cid, "date": session, "activity": "onboarding"})
        use += [{"customer_id": cid, "date": f"{MONTHS[first + i]}-10", "logins": v} for i, v in enumerate(logins)]
    act.append({"customer_id": "A", "date": "2024-04-02", "activity": "check_in"})
    pd.DataFrame(cust).to_csv(folder / "customers.csv", index=False)
    pd.DataFrame(rev).to_csv(folder / "revenue.csv", index=False)
    if activities:
        pd.DataFrame(act).to_csv(folder / "cs_activities.csv", index=False)
    if usage:
        pd.DataFrame(use).to_csv(folder / "usage.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return cs.load_dataset(_write(tmp_path_factory.mktemp("onb") / "d"), as_of=AS_OF)


def _ms(**rules):
    return onb.parse_milestones({"milestones": rules})


SESSION = {"table": "cs_activities", "column": "onboarding", "op": ">", "value": 0}
LOGIN = {"table": "usage", "column": "logins", "op": ">", "value": 0}


def test_milestone_times_and_km_by_hand(tiny):
    ms = _ms(onboarding_session=SESSION, first_login=LOGIN)
    d, why = onb.milestone_times(tiny, ms[0])
    assert why is None
    got = d.set_index("customer_id")[["T", "E"]].apply(tuple, axis=1).to_dict()
    # T: months from the first paid month to the session's month; not reached: censored at the last paid month
    assert got == {"A": (0, 1), "B": (2, 1), "C": (3, 0), "D": (1, 1), "E": (4, 1), "F": (5, 0), "G": (0, 1), "H": (0, 1)}
    t = onb.time_to_milestones(tiny, ms, days=(30, 60, 90, 365))
    r = t.overall("onboarding_session")
    # KM by hand: t=0: 8 at risk, 3 reach -> 5/8; t=1: 5, 1 -> 1/2; t=2: 4, 1 -> 3/8; t=3: C censored; t=4: 2, 1 -> 3/16
    assert r["n"] == 8 and r["reached"] == 6
    assert r["within_30"] == pytest.approx(1 - 1 / 2) and r["within_60"] == pytest.approx(1 - 3 / 8)
    assert r["within_90"] == pytest.approx(1 - 3 / 8)
    assert np.isnan(r["within_365"])  # month 12: nobody not yet onboarded was followed that long
    # the median as lifelines defines it: the first month by which more than half reached it (S(1) = 1/2 exactly)
    assert r["median"] == 2
    assert r["median"] == KaplanMeierFitter().fit(d["T"], d["E"]).median_survival_time_
    assert r["within_60_lower"] < r["within_60"] < r["within_60_upper"]
    # first login: A month 0, B 1, C 3, E 0, F month 2 after its start (Mar -> May), G 0, H 0; D no usage (censored at 1)
    dl, _ = onb.milestone_times(tiny, ms[1])
    assert dl.set_index("customer_id")[["T", "E"]].apply(tuple, axis=1).to_dict() == {
        "A": (0, 1), "B": (1, 1), "C": (3, 1), "D": (1, 0), "E": (0, 1), "F": (2, 1), "G": (0, 1), "H": (0, 1)}
    by_touch = t.rows("touch_model", "onboarding_session").set_index("group")
    assert by_touch.loc["high", "n"] == 4 and by_touch.loc["high", "within_30"] == pytest.approx(3 / 4)
    assert by_touch.loc["high", "within_60"] == pytest.approx(1.0)  # A, G, H in month 0, B in month 2


def test_landmark_by_hand_and_against_lifelines(tiny):
    lm = onb.landmark(tiny, "onboarding_session", _ms(onboarding_session=SESSION), adjust=())
    assert (lm.landmark_month, lm.horizon_month) == (2, 12)
    d = lm.data.set_index("customer_id")
    # still paying in month 2 after the start: everyone but D; onboarded by then: A, B (month 2), G, H
    assert sorted(d.index) == ["A", "B", "C", "E", "F", "G", "H"]
    assert d["onboarded"].to_dict() == {"A": 1, "B": 1, "C": 0, "E": 0, "F": 0, "G": 1, "H": 1}
    assert d["time"].to_dict() == {"A": 6, "B": 6, "C": 2, "E": 4, "F": 4, "G": 5, "H": 4}
    assert d["churn"].to_dict() == {"A": 0, "B": 0, "C": 1, "E": 1, "F": 0, "G": 0, "H": 1}
    hand = pd.DataFrame({"time": [6, 6, 2, 4, 4, 5, 4], "churn": [0, 0, 1, 1, 0, 0, 1], "x": [0, 0, 1, 1, 1, 0, 0]})
    ref = CoxPHFitter().fit(hand, "time", "churn").summary.loc["x"]
    assert lm.hr_ == pytest.approx(ref["exp(coef)"]) and lm.lower_ == pytest.approx(ref["exp(coef) lower 95%"])
    assert lm.upper_ == pytest.approx(ref["exp(coef) upper 95%"])
    g = lm.groups.set_index("group")
    assert g.loc["onboarded", "n"] == 4 and g.loc["onboarded", "churned"] == 1 and g.loc["not_onboarded", "churned"] == 2
    assert lm.includes_one  # seven accounts: the interval is wide
    m = lm.metrics()
    assert m["interval_includes_1"] is True and m["hazard_ratio"]["estimate"] == pytest.approx(lm.hr_)


def test_missing_table_or_column_is_not_measurable_and_the_rest_run(tmp_path):
    ds = cs.load_dataset(_write(tmp_path / "d", activities=False), as_of=AS_OF)
    ms = _ms(onboarding_session=SESSION, first_login=LOGIN,
             seats_used={"table": "usage", "column": "active_users", "op": ">=", "value": 3})
    t = onb.time_to_milestones(ds, ms)
    assert t.not_measurable == {"onboarding_session": "no_table", "seats_used": "no_column"}
    assert set(t.table["milestone"]) == {"first_login"}
    mm = t.metrics()
    assert mm["onboarding_session"] == {"measurable": False, "reason": "no cs_activities table"}
    assert mm["seats_used"]["reason"] == "the usage table has no column 'active_users'"
    assert mm["first_login"]["measurable"] and mm["first_login"]["reached"] == 7
    lm = onb.landmark(ds, "onboarding_session", ms)
    assert lm.reason == "not_measurable" and lm.milestone_reason == "no_table"
    assert lm.metrics()["hazard_ratio"]["estimate"] is None
    assert "not measurable" in lm.metrics()["hazard_ratio"]["reason"]
    with pytest.raises(ValueError, match="not among the milestones"):
        onb.landmark(ds, "nope", ms)


@pytest.mark.parametrize("text, match", [
    ("milestones: [1, 2]", "non-empty 'milestones' mapping"),
    ("milestones:\n  first login:\n    {table: usage, column: logins, op: '>', value: 0}", "'first login': a name is"),
    ("milestones:\n  a: {table: usage, column: logins, op: '>'}", r"milestone 'a': missing \['value'\]"),
    ("milestones:\n  a: {table: usage, column: logins, op: '>', value: 0, colour: red}", r"unknown key\(s\) \['colour'\]"),
    ("milestones:\n  a: {table: invoices, column: logins, op: '>', value: 0}", "table 'invoices': use one of"),
    ("milestones:\n  a: {table: usage, column: logins, op: '=>', value: 0}", "op '=>': use one of"),
    ("milestones:\n  a: {table: usage, column: logins, op: '>', value: many}", "value 'many': give a number"),
    ("milestones:\n  a: {table: usage, column: logins, op: '>', value: 0, label: {fr: x}}", "label"),
    ("milestones: {a: [", "not valid YAML"),
])
def test_malformed_milestone_file_names_the_file_and_the_entry(tmp_path, text, match):
    p = tmp_path / "my_milestones.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(onb.MilestoneFileError, match=match) as e:
        onb.load_milestones(p)
    assert str(p) in str(e.value)


def test_default_and_own_milestone_files(tmp_path):
    names = [m.name for m in onb.load_milestones()]
    assert names == ["first_login", "three_active_users", "five_features_used", "onboarding_session"]
    assert onb.load_milestones()[3].label_in("ja") == "オンボーディング実施"
    p = tmp_path / "own.yaml"
    p.write_text("milestones:\n  trained: {table: cs_activities, column: training, op: '>=', value: 1, label: Trained}\n",
                 encoding="utf-8")
    (m,) = onb.load_milestones(p)
    assert (m.name, m.op, m.value, m.label_in("ja")) == ("trained", ">=", 1.0, "Trained")
    with pytest.raises(onb.MilestoneFileError, match="no such file"):
        onb.load_milestones(tmp_path / "absent.yaml")
    assert [onb.day_to_month(d) for d in (30, 60, 90, 365)] == [1, 2, 3, 12]


def test_time_to_session_matches_lifelines_on_the_raw_rows(tmp_path):
    """Independent route: the session's month from the raw cs_activities rows (dates) and the window signups from the
    customers table, fitted with lifelines directly; against the module (monthly aggregates)."""
    from csanalysis.data import synth

    out = tmp_path / "d"
    data = synth.write_demo(out, n_customers=1500, months=24, seed=3)
    ds = cs.load_dataset(out)
    t = onb.time_to_milestones(ds, onb.load_milestones())
    cust = data.tables["customers"].set_index("customer_id")
    window = cust["signup_date"].dt.to_period("M") >= pd.Period(data.truth["start"], "M")
    sp = ds.spells[(ds.spells["spell"] == 1)].set_index("customer_id")
    ids = sp.index[(sp["entry"] == 0) & sp.index.isin(cust.index[window])]
    last = sp.loc[ids, "last_paid"].dt.to_period("M")
    start = sp.loc[ids, "start"].dt.to_period("M")
    act = data.tables["cs_activities"]
    sess = act[act["activity"] == "onboarding"].assign(m=lambda a: a["date"].dt.to_period("M")).groupby("customer_id")["m"].min()
    k = pd.Series([(s - a).n if isinstance(s, pd.Period) else np.nan for s, a in zip(sess.reindex(ids), start)], index=ids)
    cens = pd.Series([(b - a).n for b, a in zip(last, start)], index=ids)
    reached = k.notna() & (k <= cens)
    T, E = np.where(reached, k, cens), reached.astype(int)
    for touch in ("tech", "high"):
        sel = (cust.loc[ids, "touch_model"] == touch).to_numpy()
        kmf = KaplanMeierFitter().fit(T[sel], E[sel])
        row = t.rows("touch_model", "onboarding_session").set_index("group").loc[touch]
        assert row["n"] == sel.sum()
        for d, m in ((30, 1), (60, 2), (90, 3)):
            assert row[f"within_{d}"] == pytest.approx(1 - kmf.survival_function_at_times(m).iloc[0], abs=1e-12)
    # the planted completion by the landmark month lies within the estimated interval (ignoring churn, as KM does)
    p = data.truth["onboarding"]["p_by_month"]
    for touch in ("tech", "low", "high"):
        row = t.rows("touch_model", "onboarding_session").set_index("group").loc[touch]
        assert row["within_60_lower"] <= p[touch]["2"] <= row["within_60_upper"], touch


def test_landmark_hazard_ratio_covers_the_planted_one(tmp_path_factory):
    data, ds = generated_world(tmp_path_factory, "onbworld", n_customers=12000, months=30, seed=5)
    truth = data.truth["onboarding"]
    assert truth["hazard_ratio"] == 1.5
    lm = onb.landmark(ds)
    assert (lm.landmark_month, lm.horizon_month) == (truth["landmark_months"], truth["horizon_months"])
    assert lm.covariates == ["touch_model", "plan"]
    assert lm.lower_ <= truth["hazard_ratio"] <= lm.upper_, (lm.hr_, lm.lower_, lm.upper_)
    assert lm.lower_ > 1  # the planted effect is seen (the interval excludes 1), not only covered
    # the landmark rule and the generator agree: onboarded by the landmark = a session in or before tenure month 2
    assert lm.n > 5000


def test_null_world_plants_no_onboarding_effect():
    from csanalysis.data import synth

    d = synth.generate(400, months=12, seed=1, null_world=True)
    assert d.truth["onboarding"]["hazard_ratio"] == 1.0 and not d.truth["effects"]["onboarding"]
    # the sessions are still held (only their effect on churn is off), on their own dates
    assert (d.tables["cs_activities"]["activity"] == "onboarding").any()
