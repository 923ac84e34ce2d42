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
    from csanalysis.data import synth

    demo = synth.write_demo(folder, **_generator_args(seed, customers, months, program))
    return estimate(cs.load_dataset(folder), demo, seed, program)


def _generator_args(seed: int, customers: int, months: int, program: bool) -> dict:
    return dict(n_customers=customers, months=months, seed=seed, usage_freq="monthly",
                effects=None if program else {"program": False})


def estimate(ds, demo, seed: int, program: bool = True) -> dict:
    """The report's estimates of one world's program effect (and, with ``program``, its cumulative ROI) beside
    the world's truth (``demo``: the generator's DemoData)."""
    from csanalysis import impact

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


# the id columns of the generator's tables (the schema's "id" kind): prefixed by world in a batch
_IDS = ("customer_id", "respondent_id")
_CUSTOMER_FRAMES = ("customers", "panel", "spells", "usage", "nps", "payments", "cs_activities", "attributes")


def load_worlds(demos: list, folder: Path) -> list:
    """The Datasets of several generated worlds (``demos``: DemoData of one size and window) from one load.

    :func:`csanalysis.load_dataset` costs over a second of query compilation per call whatever the data's size,
    more than the estimate of a world of 1,000 customers. So the worlds' tables are stacked, their ids prefixed
    by world (``w0003:C000001``; a prefix of one length keeps each world's rows in their own order), written as
    one export and loaded once: every check of the load runs on every world's rows, and the panel and spells are
    built customer by customer. Each world's Dataset is then its rows of the loaded tables with the prefix
    taken off, and the settings of the load, which are the world's own: the analysis date is the window's (the
    same for every world), and the data start, the first paid month of all worlds, is checked to be each
    world's first paid month (a ValueError otherwise). ``cs_costs`` has no customer id: the load checks every
    world's rows, and each world's table is its own rows up to the analysis date, by month, in the types the load
    gives the table. The validation report is the batch's. The tables equal those of a load of each world alone
    (tests/test_impact_worlds.py checks a few worlds)."""
    import csanalysis as cs
    from csanalysis.data.dataset import Dataset

    as_of = {d.truth["as_of"] for d in demos}
    if len(as_of) != 1:
        raise ValueError(f"load_worlds: the worlds end on different dates {sorted(as_of)}; give worlds of one window")
    prefixes = [f"w{k:04d}:" for k in range(len(demos))]
    folder.mkdir(parents=True)
    for name in demos[0].tables:
        parts = [df.assign(**{c: (p + df[c].astype(str)).where(df[c].notna()) for c in _IDS if c in df.columns})
                 for p, df in zip(prefixes, (d.tables[name] for d in demos))]
        pd.concat(parts, ignore_index=True).to_parquet(folder / f"{name}.parquet", index=False)
    (folder / "csanalysis.yaml").write_text(f"settings:\n  as_of: {as_of.pop()}\n", encoding="utf-8")
    ds = cs.load_dataset(folder)
    width = len(prefixes[0])
    split = {}
    for name in _CUSTOMER_FRAMES:
        df = getattr(ds, name)
        if df is None:
            continue
        groups = df.groupby(df["customer_id"].str.slice(0, width), sort=False).indices
        split[name] = {p: df.iloc[groups.get(p, [])] for p in prefixes}
    as_of_ts = pd.Timestamp(ds.settings.as_of)
    data_start = pd.Timestamp(ds.settings.data_start)
    out = []
    for p, demo in zip(prefixes, demos):
        frames = {}
        for name, parts in split.items():
            df = parts[p].reset_index(drop=True)
            frames[name] = df.assign(**{c: df[c].str.slice(width) for c in _IDS if c in df.columns})
        first = frames["panel"]["month"].min()
        if first != data_start:
            raise ValueError(f"load_worlds: world {p[:-1]} starts paying in {first:%Y-%m}, the batch in "
                             f"{data_start:%Y-%m}: load it alone")
        costs = demo.tables.get("cs_costs")
        if costs is not None:
            costs = costs[costs["month"] <= as_of_ts].sort_values("month", kind="stable").reset_index(drop=True)
            costs = costs.astype(ds.cs_costs.dtypes.to_dict())
        out.append(Dataset(source=f"{folder} ({p[:-1]})", layout=ds.layout, settings=ds.settings, report=ds.report,
                           as_of_month=ds.as_of_month, cs_costs=costs, attribute_kinds=ds.attribute_kinds,
                           **{"attributes": None, **frames}))
    return out


def run(seeds, *, customers: int = 1000, months: int = 36, program: bool = True, batch: int = 1) -> pd.DataFrame:
    """:func:`world` for each seed; ``batch`` > 1 loads that many worlds at once (:func:`load_worlds`), with the
    same estimates."""
    from csanalysis.data import synth

    seeds, rows = list(seeds), []
    with tempfile.TemporaryDirectory(prefix="impact-worlds-") as tmp:
        for i in range(0, len(seeds), batch):
            chunk = seeds[i : i + batch]
            if batch == 1:
                rows.append(world(chunk[0], customers=customers, months=months, program=program,
                                  folder=Path(tmp) / f"w{chunk[0]}"))
                continue
            demos = [synth.generate(**_generator_args(s, customers, months, program)) for s in chunk]
            for s, demo, ds in zip(chunk, demos, load_worlds(demos, Path(tmp) / f"b{i}")):
                rows.append(estimate(ds, demo, s, program))
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


# The study's criteria (issue 25), one definition for the benchmark and the suite: a committed study's JSON
# records them (``checks``) and tests/test_impact_worlds.py requires the committed small study to meet them.
MAX_BIAS_SE = 2.0  # |mean log bias| at most this many of its standard errors
MIN_COVERAGE = 0.925  # each 95% interval covers the truth in at least this share of worlds
MAX_FALSE_POSITIVES = 0.07  # null worlds: the effect significant at 5% in at most this share


def criteria(summary: dict) -> dict:
    """The study's checks on :func:`summarise`'s ``summary``: ``{name: {"value", "limit", "passed"}}``. Every world
    estimable; program worlds: the mean log bias within ``MAX_BIAS_SE`` standard errors of zero and the hazard
    ratio's, the percentage points' and the cumulative ROI's 95% intervals each covering the truth in at least
    ``MIN_COVERAGE`` of worlds; null worlds: the false-positive rate at most ``MAX_FALSE_POSITIVES`` and the
    percentage points' interval covering 0 in at least ``MIN_COVERAGE``."""
    def check(value, limit, passed):
        return {"value": value, "limit": limit, "passed": bool(passed)}

    out = {"all_estimable": check(summary["estimable"], summary["worlds"], summary["estimable"] == summary["worlds"])}
    if "false_positive_rate" in summary:
        out["false_positive_rate"] = check(summary["false_positive_rate"], MAX_FALSE_POSITIVES,
                                           summary["false_positive_rate"] <= MAX_FALSE_POSITIVES)
        out["pp_coverage"] = check(summary["pp_coverage"], MIN_COVERAGE, summary["pp_coverage"] >= MIN_COVERAGE)
        return out
    out["bias_z"] = check(summary["bias_z"], MAX_BIAS_SE, abs(summary["mean_log_bias"]) <= MAX_BIAS_SE * summary["bias_se"])
    for name in ("hr_coverage", "pp_coverage", "roi_coverage"):
        out[name] = check(summary[name], MIN_COVERAGE, summary[name] >= MIN_COVERAGE)
    return out


def _commit() -> str:
    """The commit the study ran on (``+dirty`` with uncommitted changes), or "unknown" outside git."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worlds", type=int, default=100)
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--first-seed", type=int, default=11)
    ap.add_argument("--null", action="store_true", help="worlds without a program effect (false positives)")
    ap.add_argument("--batch", type=int, default=1, help="worlds per load (load_worlds; same estimates)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "impact_worlds.json")
    a = ap.parse_args(argv)
    commit = _commit()  # before the run: the code it imports now
    t0 = time.perf_counter()
    res = run(range(a.first_seed, a.first_seed + a.worlds), customers=a.customers, program=not a.null, batch=a.batch)
    summary = {**summarise(res), "customers": a.customers, "first_seed": a.first_seed,
               "seconds": round(time.perf_counter() - t0, 1), "commit": commit}
    checks = criteria(summary)
    print(json.dumps({"summary": summary, "checks": checks}, indent=2))
    worlds = "[\n" + ",\n".join(json.dumps(r, default=float) for r in res.to_dict("records")) + "\n]"
    a.out.write_text(f'{{"summary": {json.dumps(summary, indent=1)},\n"checks": {json.dumps(checks, indent=1)},\n'
                     f'"worlds": {worlds}}}\n', encoding="utf-8")
    failed = [k for k, c in checks.items() if not c["passed"]]
    if failed:
        print(f"impact_worlds: the study fails {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
