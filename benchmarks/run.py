"""`make bench`: csanalysis against what users write by hand, on generated data at 10k, 100k and 1M customers.

Every stage runs in a fresh process (so peak memory is the stage's own) and reads the Parquet files from the start.
For each aggregation stage the same numbers come from (a) the vectorized pandas reference, (b) one hand-written
DuckDB query, (c) csanalysis (``load_dataset`` then the analysis), and are checked equal. Results go to the
terminal and to ``benchmarks/RESULTS.md`` with the machine described.

    python -m benchmarks.run                 # 10k and 100k (make bench)
    python -m benchmarks.run --with-1m       # and 1M (make bench-1m; the 1M report suite with BENCH_FULL=1)
    python -m benchmarks.run --sizes 1000000 --stages logo_cohorts   # one scale, one stage
    python -m benchmarks.run --sizes 10000000 --stages engine       # make bench-10m: the engine path at 10M

``--stages engine`` is the engine path of issue 21 (:data:`ENGINE_PATH`): the load, the logo cohort matrix and the
MRR movements (engine queries already) and the grouped queries of :mod:`csanalysis.grouped` (:data:`ENGINE_STAGES`;
one line each). Worlds of :data:`LARGE_WORLD` customers or more are written block by block
(:func:`csanalysis.data.synth.write_large`; ``BENCH_GEN_JOBS`` blocks at once), and the pandas reference is left
out above :data:`PANDAS_MAX` customers (it holds every customer-month in memory).

Rows of earlier runs for other scales and stages are kept (``benchmarks/results.json``), each with its date.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BENCH_DATA") or ROOT / "benchmarks" / "data")  # BENCH_DATA: the worlds elsewhere
STAGES = {
    "load": ("csanalysis",),
    "logo_cohorts": ("pandas", "duckdb", "csanalysis"),
    "mrr_movements": ("pandas", "duckdb", "csanalysis"),
    "km_by_segment": ("csanalysis",),
    "cox_fit": ("csanalysis",),
    "nps_models": ("csanalysis",),
    "health_eval": ("csanalysis",),
    "report_suite": ("csanalysis",),
}
# The engine path (issue 21): grouped queries whose results are small, for data that stay in the engine. Each
# stage: the loaded Dataset and csanalysis.grouped to a small digest of its result (compared across runs).
ENGINE_STAGES = {
    "km_counts": lambda ds, g: _km_digest(g.km_curves(ds, by="plan")),
    "revenue_cohorts": lambda ds, g: _sums(g.revenue_cohorts(ds), ["revenue", "base", "customers"]),
    "churn_rates": lambda ds, g: _sums(g.churn_counts(ds), ["at_risk", "churned"]),
    "nps_tallies": lambda ds, g: _sums(g.nps_tallies(ds), ["responses", "promoters", "passives", "detractors"]),
    "customer_sample": lambda ds, g: {"sampled": int(len(g.sample_ids(ds, 0.01, seed=2026)))},
}
STAGES.update({name: ("csanalysis",) for name in ENGINE_STAGES})
ENGINE_PATH = ["load", "logo_cohorts", "mrr_movements", *ENGINE_STAGES]
LARGE_WORLD = 2_000_000  # from this many customers the data are written block by block (synth.write_large)
PANDAS_MAX = 1_000_000  # the pandas reference's largest scale


def ensure_data(n: int) -> Path:
    out = DATA / f"n{n}"
    if not (out / "truth.json").is_file():
        from csanalysis.data import synth

        t = time.time()
        if n >= LARGE_WORLD:
            synth.write_large(out, n_customers=n, months=36, seed=2026, jobs=int(os.environ.get("BENCH_GEN_JOBS", "1")))
        else:
            synth.write_demo(out, n_customers=n, months=36, seed=2026)
        print(f"generated {n:,} customers in {time.time() - t:.1f} s", flush=True)
    return out


def _as_m(folder: Path) -> int:
    truth = json.loads((folder / "truth.json").read_text())
    d = truth["as_of"]
    return int(d[:4]) * 12 + int(d[5:7]) - 1


# ------------------------------------------------------------------------------------------- one stage (child)


def _stage(stage: str, impl: str, folder: Path) -> dict:
    from benchmarks import reference as ref

    as_m = _as_m(folder)
    if impl == "csanalysis":  # imports are not timed (nor are the references' pandas and duckdb imports)
        import csanalysis  # noqa: F401
        from csanalysis import cohorts, health, metrics, nps, survival  # noqa: F401
        from csanalysis.report import run  # noqa: F401
    t0 = time.perf_counter()
    t_load = 0.0
    check = None
    if impl == "pandas":
        cm = ref.pandas_customer_month(folder)
        res = ref.pandas_logo_cohorts(cm, as_m) if stage == "logo_cohorts" else ref.pandas_mrr_movements(cm, as_m)
    elif impl == "duckdb":  # with the memory limit and spill folder of csanalysis's own engine
        from csanalysis.data.load import engine_connection

        con = engine_connection().con
        res = (ref.duckdb_logo_cohorts(folder, as_m, con=con) if stage == "logo_cohorts"
               else ref.duckdb_mrr_movements(folder, as_m, con=con))
    else:
        import csanalysis as cs

        ds = cs.load_dataset(folder) if stage != "report_suite" else None
        t_load = time.perf_counter() - t0
        if stage == "load":
            res = None
            # counted in the engine: reading the pandas copy of the panel is the first pandas analysis's cost
            panel = ds.engine_table("panel")
            tot = panel.aggregate(rows=panel.count(), mrr=panel.mrr.sum()).execute().iloc[0]
            check = {"panel_rows": int(tot["rows"]), "mrr": round(float(tot["mrr"]), 2)}
        elif stage == "logo_cohorts":
            from csanalysis import cohorts

            r = cohorts.cohort_retention(ds, basis="logo", n_boot=0)
            res = r.active.rename_axis(columns="k").stack().rename("active").reset_index()
            res = res.rename(columns={res.columns[0]: "cohort"})
            res["cohort"] = res["cohort"].map(lambda c: int(c[:4]) * 12 + int(c[5:7]) - 1)  # "2024-03" → month index
        elif stage == "mrr_movements":
            from csanalysis import metrics

            res = metrics.mrr_movements(ds)
            res = res.assign(m=res["period"].dt.year * 12 + res["period"].dt.month - 1)
        elif stage == "km_by_segment":
            from csanalysis import survival

            res = survival.survival_table(ds, times=[12], by="plan")
            check = {"S12": [round(float(v), 6) for v in res["S(12)"]]}
        elif stage == "cox_fit":
            from csanalysis import survival

            cox = survival.cox_drivers(ds, ["plan", "touch_model", "seats", "acquisition_channel"])
            check = {"concordance": round(float(cox.concordance), 4)}
        elif stage == "nps_models":
            from csanalysis import nps

            r = nps.nps_revenue(ds, segment="plan")
            check = {"primary": r.metrics()["primary_test"]["estimate"]}
        elif stage == "health_eval":
            from csanalysis import health

            r = health.churn_risk(ds, true_prob=health.load_true_probabilities(folder))
            check = {"auc_model": round(float(r.evaluations["model"].auc["estimate"]), 4)}
        elif stage in ENGINE_STAGES:
            from csanalysis import grouped

            check = ENGINE_STAGES[stage](ds, grouped)
        elif stage == "report_suite":
            from csanalysis.report.run import run_report

            # a fresh reports folder each time: a report run reuses the load cached by an earlier run of the same
            # inputs, which would leave the load out of the suite's time
            out = Path(os.environ.get("BENCH_REPORTS") or tempfile.mkdtemp(prefix="csanalysis-bench-reports-"))
            r = run_report(data=folder, out=out, jobs=int(os.environ.get("BENCH_JOBS", "2")))  # as `csanalysis report` runs it
            if not os.environ.get("BENCH_REPORTS"):
                shutil.rmtree(out, ignore_errors=True)
            check = {"status": r.status}
    seconds = time.perf_counter() - t0
    # csanalysis: validation and the customer-month panel are built once per session (load_dataset), then
    # every analysis queries them; the stage's own time is the part after the load
    stage_seconds = seconds - t_load if impl == "csanalysis" and stage not in ("load", "report_suite") else None
    if check is None and res is not None:
        check = _summary(stage, res, as_m - 35)
    # peak of this process or of the largest finished child (the report suite's kernels run in children)
    peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return {"seconds": seconds, "stage_seconds": stage_seconds, "peak_mb": peak / 1024, "check": check}


def _km_digest(curves) -> dict:
    """Kaplan–Meier at 12 months per group, with its band (6 decimals)."""
    at = curves[curves["t"] <= 12].groupby("group").last()
    return {str(k): [round(float(r[c]), 6) for c in ("survival", "lower", "upper")] for k, r in at.iterrows()}


def _sums(df, cols: list[str]) -> dict:
    return {"rows": int(len(df)), **{c: round(float(df[c].sum()), 2) for c in cols}}


def _summary(stage: str, res, m0: int) -> dict:
    """A comparable digest of a stage's result (totals per cohort offset, or per movement).

    The first month of the window (``m0``) is left out: its customers may have started before the data (the
    references cannot tell; csanalysis uses the signup date), and its MRR is the opening balance, not new."""
    if stage == "logo_cohorts":
        res = res[res["cohort"] > m0]
        tot = res.groupby("k")["active"].sum()
        return {"cells": int((res["active"] > 0).sum()), "active_by_k": {int(k): int(v) for k, v in tot.items() if v > 0}}
    cols = ["new", "expansion", "contraction", "churn", "reactivation"]
    res = res[res["m"] > m0]
    return {c: round(float(res[c].sum()), 2) for c in cols}


# ------------------------------------------------------------------------------------------- parent


def run_child(stage: str, impl: str, folder: Path, timeout: int) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.run", "--child", stage, impl, str(folder)]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def _machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", nargs=3, metavar=("STAGE", "IMPL", "FOLDER"), help=argparse.SUPPRESS)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--with-1m", action="store_true", help="add the 1M-customer scale (about 15 GB free memory)")
    ap.add_argument("--stages", nargs="+", default=[s for s in STAGES if s not in ENGINE_STAGES],
                    choices=[*STAGES, "engine"], help="stages to run ('engine': the engine path, ENGINE_PATH)")
    ap.add_argument("--timeout", type=int, default=1800)
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    a = ap.parse_args(argv)
    if a.child:
        stage, impl, folder = a.child
        print(json.dumps(_stage(stage, impl, Path(folder)), default=str))
        return 0
    sizes = a.sizes + ([1_000_000] if a.with_1m and 1_000_000 not in a.sizes else [])
    stages = list(dict.fromkeys(s for st in a.stages for s in (ENGINE_PATH if st == "engine" else [st])))
    rows = []
    print(HEAD, end="", flush=True)
    for n in sizes:
        folder = ensure_data(n)
        for stage in stages:
            if stage == "report_suite" and n > 100_000 and os.environ.get("BENCH_FULL") != "1":
                continue  # the whole suite at 1M: BENCH_FULL=1
            impls = [i for i in STAGES[stage] if i != "pandas" or n <= PANDAS_MAX]
            out = {impl: run_child(stage, impl, folder, a.timeout) for impl in impls}
            checks = {impl: r.get("check") for impl, r in out.items() if "error" not in r}
            equal = len({json.dumps(c, sort_keys=True) for c in checks.values()}) == 1 if len(checks) > 1 else None
            row = {"n": n, "stage": stage, "equal": equal, **{f"{k}_s": r.get("seconds") for k, r in out.items()},
                   "csanalysis_stage_s": out["csanalysis"].get("stage_seconds"),
                   **{f"{k}_mb": r.get("peak_mb") for k, r in out.items()},
                   **{f"{k}_error": r["error"] for k, r in out.items() if "error" in r}}
            if len(checks) > 1 and not equal:
                row["checks"] = checks
            rows.append(row)
            print(_fmt_row(row), flush=True)
    _write(a.results, rows)
    return 0


HEAD = ("| customers | stage | cs total s | cs after load s | pandas s | DuckDB s | total ÷ DuckDB | after load ÷ DuckDB "
        "| pandas ÷ total | pandas ÷ after load | cs peak MB | equal | measured |\n"
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n")
NOTES = "<!-- notes: kept by make bench -->"


def _fmt_row(r: dict) -> str:
    def s(k):
        v = r.get(k)
        return f"{v:8.2f}" if isinstance(v, (int, float)) else f"{'–':>8}"

    def ratio(a, b):
        return f"{r[a] / r[b]:.2f}×" if r.get(a) and r.get(b) else "–"

    err = r.get("csanalysis_error") or r.get("pandas_error") or r.get("duckdb_error")
    return (f"| {r['n']:>9,} | {r['stage']:<14} | {s('csanalysis_s')} | {s('csanalysis_stage_s')} | {s('pandas_s')} | "
            f"{s('duckdb_s')} | {ratio('csanalysis_s', 'duckdb_s'):>7} | {ratio('csanalysis_stage_s', 'duckdb_s'):>7} | "
            f"{ratio('pandas_s', 'csanalysis_s'):>7} | {ratio('pandas_s', 'csanalysis_stage_s'):>7} | "
            f"{s('csanalysis_mb')} | {'–' if r['equal'] is None else ('yes' if r['equal'] else 'NO')}"
            + (f" (error: {err})" if err else "") + f" | {r.get('measured', 'now')} |")


def _write(path: Path, rows: list[dict]) -> None:
    """The table (this run's rows merged into earlier runs' rows of other scales and stages, kept in
    ``results.json`` beside it, each with its date), then whatever follows the notes marker in the existing file
    (the written analysis)."""
    store = path.with_name("results.json")
    kept = json.loads(store.read_text(encoding="utf-8")) if store.is_file() else []
    now = time.strftime("%Y-%m-%d %H:%M")
    new = {(r["n"], r["stage"]): {**r, "measured": now} for r in rows}
    merged = {(r["n"], r["stage"]): r for r in kept}
    merged.update(new)
    order = list(STAGES)
    rows = sorted(merged.values(), key=lambda r: (r["n"], order.index(r["stage"]) if r["stage"] in order else 99))
    store.write_text(json.dumps(rows, indent=1, default=str), encoding="utf-8")
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    notes = old[old.index(NOTES):] if NOTES in old else NOTES + "\n"
    text = (f"# Benchmark results\n\nMachine: {_machine()}. Written by `make bench` on "
            f"{time.strftime('%Y-%m-%d %H:%M')}.\n\nEach stage runs in a fresh process and reads the Parquet files "
            "from the start. csanalysis: `load_dataset` (reading, validating, the customer-month panel and spells, "
            "in the engine), then the analysis; 'cs total' is both, 'cs after load' the analysis alone (a session "
            "or report run loads once). pandas: the vectorized reference in `benchmarks/reference.py`; DuckDB: one "
            "hand-written query; both include reading the Parquet files. 'equal' compares the stage's totals.\n\n"
            + HEAD + "\n".join(_fmt_row(r) for r in rows) + "\n\n" + notes)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
