"""The forecast's band over many generated worlds (issue 24): how often the 80% band holds the future the generator
wrote, per world and pooled, and where the misses come from. tests/test_forecast.py runs a small version.

Each world is the demo generator's (:func:`csanalysis.data.synth.write_demo`) loaded as a user's export is; the
back-test (:func:`csanalysis.forecast.backtest`, forecasts at each of the last ``--origins`` month-ends from the
data up to then) is compared with the generated months that followed. Pairs within one world share their
origins and future months, so one world is close to one draw: per-world coverage swings widely even for a
calibrated band, and the pooled share needs many worlds. Besides coverage the script prints, per horizon, the
standardised error ``z = (actual − base) ÷ (band width ÷ 2.563)`` (2.563 = the width of a normal's 80% interval
in standard deviations): its root mean square is 1 for a calibrated, normal-shaped band, above 1 when the band is
too narrow; its mean shows a bias. It also splits each miss into today's customers (their MRR in the future
month) and new business (spells that started after the origin), against the forecast's ``retained`` +
``expansion`` and ``new``.

    python -m benchmarks.forecast_worlds --worlds 30 --customers 2000 --months 48
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


def world(folder: Path, seed: int, *, customers: int, months: int, origins: int, sims: int) -> pd.DataFrame:
    """One world's back-test pairs: origin, h, actual, base, band, and the actual and forecast parts."""
    import csanalysis as cs
    from csanalysis import forecast as fc
    from csanalysis.data import synth
    from csanalysis.data.spells import panel_from_pandas, spells_from_pandas

    synth.write_demo(folder, n_customers=customers, months=months, seed=seed)
    ds = cs.load_dataset(folder)
    panel, spells = panel_from_pandas(ds.panel), spells_from_pandas(ds.spells)
    last, grace = ds.as_of_m, int(ds.settings.grace_months)
    rows = []
    for o in range(last - origins, last):
        p, s = fc.cut_at(panel, spells, o, grace)
        f = fc.forecast_panel(p, s, o, horizon=min(12, last - o), n_sims=sims, seed=seed * 1000 + o)
        t = f.table_
        now = p.loc[p["m"] == o, ["customer_id", "spell"]].assign(old=1)
        fut = panel[(panel["m"] > o) & (panel["m"] <= o + len(t))].merge(now, on=["customer_id", "spell"], how="left")
        old = fut["old"].notna().to_numpy()
        months_ = o + t["h"].to_numpy()
        act_old = fut[old].groupby("m")["mrr"].sum().reindex(months_, fill_value=0.0).to_numpy()
        act_new = fut[~old].groupby("m")["mrr"].sum().reindex(months_, fill_value=0.0).to_numpy()
        rows.append(pd.DataFrame({
            "seed": seed, "origin": o, "h": t["h"].to_numpy(), "actual": act_old + act_new,
            "base": t["base"].to_numpy(), "lower": t["lower"].to_numpy(), "upper": t["upper"].to_numpy(),
            "old_err": (act_old - (t["retained"] + t["expansion"]).to_numpy()) / t["base"].to_numpy(),
            "new_err": (act_new - t["new"].to_numpy()) / t["base"].to_numpy()}))
    return pd.concat(rows, ignore_index=True)


def summarise(d: pd.DataFrame) -> dict:
    d = d.assign(inside=(d["actual"] >= d["lower"]) & (d["actual"] <= d["upper"]),
                 z=(d["actual"] - d["base"]) / ((d["upper"] - d["lower"]) / 2.563))
    by_h = d.groupby("h").agg(coverage=("inside", "mean"), z_rms=("z", lambda z: float(np.sqrt((z ** 2).mean()))),
                              z_mean=("z", "mean"), old_err=("old_err", "mean"), new_err=("new_err", "mean"))
    return {"pooled_coverage": float(d["inside"].mean()), "pairs": int(len(d)),
            "per_world": {int(k): float(v) for k, v in d.groupby("seed")["inside"].mean().items()},
            "by_horizon": {int(h): {k: float(v) for k, v in r.items()} for h, r in by_h.iterrows()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worlds", type=int, default=30)
    ap.add_argument("--first-seed", type=int, default=11)
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--months", type=int, default=48)
    ap.add_argument("--origins", type=int, default=12)
    ap.add_argument("--sims", type=int, default=100)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "forecast_worlds.json")
    a = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    t0 = time.time()
    parts = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(a.first_seed, a.first_seed + a.worlds):
            parts.append(world(Path(tmp) / f"w{seed}", seed, customers=a.customers, months=a.months,
                               origins=a.origins, sims=a.sims))
            print(f"world {seed}: coverage {parts[-1].eval('actual >= lower and actual <= upper').mean():.2f}",
                  flush=True)
    res = {"worlds": a.worlds, "customers": a.customers, "months": a.months, "origins": a.origins, "sims": a.sims,
           "seconds": round(time.time() - t0, 1), **summarise(pd.concat(parts, ignore_index=True))}
    a.out.write_text(json.dumps(res, indent=1))
    print(json.dumps({k: v for k, v in res.items() if k != "per_world"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
