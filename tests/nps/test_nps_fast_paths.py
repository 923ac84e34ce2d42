"""The NPS-and-revenue fast paths give the numbers of the plain computations they replace: the Spearman/Pearson
bootstrap on distinct (score, MRR change) pairs equals weighting every response, the alignment and coverage equal
string (customer, month) lookups, and the shared inputs of nps_revenue equal the public functions (the integer
lookups themselves are tested in tests/data/test_keys.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from csanalysis import nps
from csanalysis.stats import bootstrap
from csanalysis.stats.bootstrap import draw_counts

from conftest import generated_world


# ------------------------------------------------------------------------------------------------ correlation


def _alignment(n_accounts: int = 60, seed: int = 1) -> nps.Alignment:
    """Accounts with 1–4 responses each, scores 0–10 and MRR changes with many ties (as real plan prices give)."""
    rng = np.random.default_rng(seed)
    per = rng.integers(1, 5, n_accounts)
    cid = np.repeat([f"acc{i:03d}" for i in range(n_accounts)], per)
    n = len(cid)
    t = pd.DataFrame({"customer_id": cid, "score": rng.integers(0, 11, n),
                      "churned_6": (rng.random(n) < 0.15).astype(float),
                      "mrr_change_6": rng.choice([-50.0, -20.0, 0.0, 0.0, 0.0, 10.0, 25.0, 100.0], n)})
    t.loc[t["churned_6"] == 1, "mrr_change_6"] = np.nan
    return nps.Alignment(table=t, horizons=(6,), excluded=pd.DataFrame(), as_of_m=0, grace_months=0)


def _reference_correlation(al: nps.Alignment, k: int, n_boot: int, seed: int, alpha: float = 0.05):
    """The per-response computation: every response weighted by its account's draw count, ranks recomputed over
    the responses in each resample (mid-ranks of the weighted values), weighted Pearson of values and ranks."""
    t = al.rows(k, "revenue")
    x, y = t["score"].to_numpy(float), t[f"mrr_change_{k}"].to_numpy(float)
    codes, uniq = pd.factorize(t["customer_id"].astype(str))
    W = draw_counts(np.random.default_rng(seed), len(uniq), n_boot).astype(float)[:, codes]  # replicates × responses

    def wcorr(w, a, b):
        ma, mb = (w * a).sum() / w.sum(), (w * b).sum() / w.sum()
        return (w * (a - ma) * (b - mb)).sum() / np.sqrt((w * (a - ma) ** 2).sum() * (w * (b - mb) ** 2).sum())

    def wranks(w, v):
        u, inv = np.unique(v, return_inverse=True)
        cnt = np.bincount(inv, weights=w, minlength=len(u))
        return ((np.cumsum(cnt) - cnt) + (cnt + 1.0) / 2.0)[inv]

    pear = np.array([wcorr(w, x, y) for w in W])
    spear = np.array([wcorr(w, wranks(w, x), wranks(w, y)) for w in W])
    q = [alpha / 2, 1 - alpha / 2]
    return {"pearson": (stats.pearsonr(x, y)[0], *np.quantile(pear[np.isfinite(pear)], q)),
            "spearman": (stats.spearmanr(x, y)[0], *np.quantile(spear[np.isfinite(spear)], q))}


@pytest.mark.parametrize("seed", [0, 7])
def test_correlation_bootstrap_equals_weighting_every_response(seed, monkeypatch):
    al = _alignment(seed=seed + 1)
    ref = _reference_correlation(al, 6, n_boot=300, seed=seed)
    for cells in (bootstrap.BLOCK_CELLS, 500):  # one block of resamples, and many small blocks: the same draws
        monkeypatch.setattr(bootstrap, "BLOCK_CELLS", cells)
        got = nps.correlation(al, 6, n_boot=300, seed=seed).set_index("method")
        for m, (est, lo, hi) in ref.items():
            np.testing.assert_allclose(got.loc[m, ["estimate", "lower", "upper"]].to_numpy(float), [est, lo, hi],
                                       rtol=1e-9, err_msg=f"{m}, BLOCK_CELLS={cells}")


# ------------------------------------------------------------------------------------------------ helpers




# ------------------------------------------------------------------------------------------------ on a generated world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    data, ds = generated_world(tmp_path_factory, "nps_fast_paths", n_customers=600, months=24, seed=3)
    return ds


def test_alignment_equals_string_key_lookups(world):
    ds = world
    p = ds.panel
    key = pd.MultiIndex.from_arrays([p["customer_id"].astype(str).to_numpy(),
                                     (p["month"].dt.year * 12 + p["month"].dt.month - 1).to_numpy()])
    mrr, spell = pd.Series(p["mrr"].to_numpy(float), index=key), pd.Series(p["spell"].to_numpy(), index=key)
    al = nps.align(ds, (3, 6))
    t = al.table
    base = pd.MultiIndex.from_arrays([t["customer_id"].to_numpy(), t["baseline_month"].to_numpy()])
    np.testing.assert_array_equal(t["mrr_base"].to_numpy(), mrr.reindex(base).to_numpy())
    assert t["mrr_base"].notna().any()
    s = ds.spells.assign(customer_id=ds.spells["customer_id"].astype(str)).set_index(["customer_id", "spell"])
    sp = spell.reindex(base)
    for k in (3, 6):
        end = pd.MultiIndex.from_arrays([t["customer_id"].to_numpy(), t["baseline_month"].to_numpy() + k])
        mk = mrr.reindex(end).fillna(0.0).to_numpy()
        stay = (t[f"churned_{k}"] == 0).to_numpy()
        np.testing.assert_array_equal(t.loc[stay, f"mrr_{k}"].to_numpy(), mk[stay])
        # churned: the baseline's spell ended (with a churn event) inside the window
        ok = t[f"churned_{k}"].notna().to_numpy()
        spells = s.reindex(pd.MultiIndex.from_arrays([t["customer_id"].to_numpy()[ok], sp.to_numpy()[ok].astype(int)]))
        last = (spells["last_paid"].dt.year * 12 + spells["last_paid"].dt.month - 1).to_numpy()
        churned = (spells["event"].to_numpy() == 1) & (last + 1 <= t["baseline_month"].to_numpy()[ok] + k)
        np.testing.assert_array_equal(t.loc[ok, f"churned_{k}"].to_numpy(), churned.astype(float))


def test_coverage_counts_equal_string_key_counts(world):
    ds = world
    p = ds.panel
    pm = pd.DataFrame({"customer_id": p["customer_id"].astype(str),
                       "period": (p["month"].dt.year * 12 + p["month"].dt.month - 1) // 3 * 3})
    r = nps.responses(ds)
    cov = nps.coverage(ds)
    assert len(cov)
    for _, row in cov.iterrows():
        paying = set(pm.loc[pm["period"] == row["_key"], "customer_id"])
        answered = set(r.loc[r["period"] == row["_key"], "customer_id"])
        assert row["customers"] == len(paying) and row["respondent_accounts"] == len(paying & answered)


def test_nps_revenue_shares_inputs_without_changing_them(world):
    """nps_revenue builds the responses and the panel keys once for the coverage, the bias check and the
    alignment; each must equal the public function called on its own."""
    res = nps.nps_revenue(world, horizons=(3, 6), segment="plan", n_boot=200)
    pd.testing.assert_frame_equal(res.coverage, nps.coverage(world))
    pd.testing.assert_frame_equal(res.bias, nps.response_bias(world))
    pd.testing.assert_frame_equal(res.alignment.table, nps.align(world, (3, 6), segment="plan").table)
