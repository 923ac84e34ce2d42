"""An export without the demo's optional columns runs with the notebooks' defaults: no touch_model (the churn-risk
list's teams), no respondent_id (NPS)."""
from __future__ import annotations

import pandas as pd
import pytest

import csanalysis as cs
from csanalysis import health, nps
from csanalysis.data import synth


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    d = tmp_path_factory.mktemp("plain") / "d"
    synth.write_demo(d, n_customers=600, months=24, seed=2)
    c = pd.read_parquet(d / "customers.parquet").drop(columns=["touch_model"])
    c.to_parquet(d / "customers.parquet", index=False)
    r = pd.read_parquet(d / "nps.parquet").drop(columns=["respondent_id"])
    r.to_parquet(d / "nps.parquet", index=False)
    return cs.load_dataset(d)


def test_without_touch_model_every_account_is_in_one_team(plain):
    res = health.churn_risk(plain, n_boot=20, test_months=2, capacity=15)  # capacity_by="team", the default
    lst = health.risk_list(res)
    assert (lst["touch_model"] == "unknown").all() and int(lst["on_list"].sum()) == 15


def test_without_respondent_id_each_response_is_its_own_respondent(plain):
    r = nps.responses(plain)
    assert r["respondent_id"].nunique() == len(r)
    cov = nps.align(plain, (3,))
    assert len(cov.table) == len(r)
