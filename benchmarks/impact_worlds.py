"""The program's effect over many generated worlds: bias, interval coverage and the null world's false positives
(issue 25). ``make bench`` runs the large version; tests/test_impact_worlds.py the small one.

Each world is the demo generator's (:func:`csanalysis.data.synth.write_demo`, monthly usage rows) written to
files, loaded as a user's export is (:func:`csanalysis.load_dataset`) and estimated with the report's defaults
(:func:`csanalysis.impact.program_effect`, :func:`csanalysis.impact.roi`). Against each world's planted truth:

* the hazard ratio: the generator's ``program_hr``, a ratio conditional on everything that drives its churn
  (signup attributes, failed payments, NPS category, falling usage), the same conditioning as the model's;
* the percentage points of monthly churn prevented: the generator's ``program_effect_pp``, the mean over
  post-program at-risk customer-months of the true churn probability without the program minus with it;
* the retained gross profit up to ``as_of`` (and so the cumulative ROI, whose cost is fixed): the estimator's
  quantity computed with the true hazards (:func:`true_retained`).

    python -m benchmarks.impact_worlds --worlds 100 --customers 20000   # the issue's scale (about 20 minutes)
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def true_retained(ds, effect, demo) -> float:
    """Retained MRR summed over the months of :func:`csanalysis.impact.roi` (from the program start to as_of)
    under the generator's true monthly churn probabilities, on the estimator's own projection grid
    (:func:`csanalysis.impact.projection_grid`): a spell's months at risk take their true probabilities with and
    without the program (``demo.churn_prob``); the months after its last one at risk keep the last month's
    drivers with the baseline's tenure term moved on (log h0 = log 0.035 − 0.3 log tenure), which is the
    estimator's rule for those months (covariates last seen) in the generator's units."""
    from csanalysis import impact
    from csanalysis.data import synth
    from csanalysis.periods import month_index

    d, path, stake = impact.projection_grid(ds, effect)
    cp = demo.churn_prob
    key = pd.MultiIndex.from_arrays([cp["customer_id"].to_numpy(), month_index(cp["month"])])
    pos = key.get_indexer(pd.MultiIndex.from_arrays([d["customer_id"].to_numpy(), d["month"].to_numpy()]))
    # eta without the program, observed or carried on from the spell's last observed month
    eta0 = np.full(len(d), np.nan)
    seen = pos >= 0
    eta0[seen] = np.log(-np.log1p(-cp["p_no_program"].to_numpy()[pos[seen]]))
    tenure = d["tenure"].to_numpy().astype(float)
    last_eta = pd.Series(np.where(seen, eta0, np.nan)).groupby(path).ffill().to_numpy()
    last_ten = pd.Series(np.where(seen, tenure, np.nan)).groupby(path).ffill().to_numpy()
    eta0 = np.where(seen, eta0, last_eta + synth.H0_POWER * (np.log(tenure) - np.log(last_ten)))
    b = np.log(demo.truth["program_hr"])
    lam = pd.Series(np.exp(eta0)).groupby(path).cumsum().to_numpy()
    return float((stake[path] * (np.exp(-np.exp(b) * lam) - np.exp(-lam))).sum())


def world(seed: int, *, customers: int = 1000, months: int = 36, program: bool = True, folder: Path) -> dict:
    """One generated world, written, loaded and estimated; the estimates and the truth."""
    import csanalysis as cs
    from csanalysis import impact
    from csanalysis.data import synth

    effects = None if program else {"program": False}
    demo = synth.write_demo(folder, n_customers=customers, months=months, seed=seed, usage_freq="monthly",
                            effects=effects)
    ds = cs.load_dataset(folder)
    eff = impact.program_effect(ds, demo.truth["program_start"], n_draws=400, seed=seed)
    out = {"seed": seed, "program": program, "estimable": eff.estimable, "true_hr": demo.truth["program_hr"],
           "true_pp": demo.truth["program_effect_pp"]}
    if not eff.estimable:
        return out
    out.update(hr=eff.hr, hr_lower=eff.hr_lower, hr_upper=eff.hr_upper, p_value=eff.p_value, pp=eff.pp,
               pp_lower=eff.pp_lower, pp_upper=eff.pp_upper)
    if program:
        gm = ds.settings.gross_margin
        roi = impact.roi(ds, eff)
        truth = true_retained(ds, eff, demo) * gm
        cost = roi["cumulative_cost"].iloc[-1]
        out.update(roi=roi["cumulative_roi"].iloc[-1], roi_lower=roi["cumulative_roi_lower"].iloc[-1],
                   roi_upper=roi["cumulative_roi_upper"].iloc[-1], true_roi=(truth - cost) / cost)
    return out


def run(seeds, **kwargs) -> pd.DataFrame:
    rows = []
    with tempfile.TemporaryDirectory(prefix="impact-worlds-") as tmp:
        for s in seeds:
            rows.append(world(s, folder=Path(tmp) / f"w{s}", **kwargs))
    return pd.DataFrame(rows)


def summarise(res: pd.DataFrame) -> dict:
    """Bias of the log hazard ratio (mean, its standard error and z), and the coverage of the 95% intervals of
    the hazard ratio, the percentage points and the cumulative ROI; for null worlds the share significant at 5%."""
    r = res[res["estimable"]]
    out = {"worlds": int(len(res)), "estimable": int(len(r))}
    if r["program"].all():
        err = np.log(r["hr"]) - np.log(r["true_hr"])
        out.update(mean_log_bias=float(err.mean()), bias_se=float(err.std(ddof=1) / np.sqrt(len(r))),
                   hr_coverage=float(((r["hr_lower"] <= r["true_hr"]) & (r["true_hr"] <= r["hr_upper"])).mean()),
                   pp_mean=float(r["pp"].mean()), true_pp_mean=float(r["true_pp"].mean()),
                   pp_coverage=float(((r["pp_lower"] <= r["true_pp"]) & (r["true_pp"] <= r["pp_upper"])).mean()),
                   roi_coverage=float(((r["roi_lower"] <= r["true_roi"]) & (r["true_roi"] <= r["roi_upper"])).mean()))
        out["bias_z"] = out["mean_log_bias"] / out["bias_se"]
    else:
        out["false_positive_rate"] = float((r["p_value"] < 0.05).mean())
        out["pp_coverage"] = float(((r["pp_lower"] <= r["true_pp"]) & (r["true_pp"] <= r["pp_upper"])).mean())
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worlds", type=int, default=100)
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--first-seed", type=int, default=11)
    ap.add_argument("--null", action="store_true", help="worlds without a program effect (false positives)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "impact_worlds.json")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    res = run(range(a.first_seed, a.first_seed + a.worlds), customers=a.customers, program=not a.null)
    summary = {**summarise(res), "customers": a.customers, "first_seed": a.first_seed,
               "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(summary, indent=2))
    a.out.write_text(json.dumps({"summary": summary, "worlds": res.to_dict("records")}, indent=1, default=float) + "\n",
                     encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
