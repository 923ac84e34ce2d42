"""`make bench`: csanalysis against what users write by hand, on generated data at 10k, 100k and 1M customers.

Every stage runs in a fresh process (so peak memory is the stage's own) and reads the Parquet files from the start.
For each aggregation stage the same numbers come from (a) the vectorized pandas reference, (b) one hand-written
DuckDB query, (c) csanalysis (``load_dataset`` then the analysis), and are checked equal. Results go to the
terminal and to ``benchmarks/RESULTS.md`` with the machine described.

    python -m benchmarks.run                 # 10k and 100k (make bench)
    python -m benchmarks.run --with-1m       # and 1M (make bench-1m; the 1M report suite with BENCH_FULL=1)
    python -m benchmarks.run --sizes 1000000 --stages logo_cohorts   # one scale, one stage
    python -m benchmarks.run --stages report_suite floor_suite       # the report suite and its floor (floor.py)
    python -m benchmarks.run --sizes 10000000 --stages engine       # make bench-10m: the engine path at 10M

``--stages engine`` is the engine path of issue 21 (:data:`ENGINE_PATH`): the load, the logo cohort matrix and the
MRR movements (engine queries already) and the grouped queries of :mod:`csanalysis.grouped` (:data:`ENGINE_STAGES`;
one line each). Worlds of :data:`LARGE_WORLD` customers or more are written block by block
(:func:`csanalysis.data.synth.write_large`; ``BENCH_GEN_JOBS`` blocks at once), and the pandas reference is left
out above :data:`PANDAS_MAX` customers (it holds every customer-month in memory). From :data:`SHARED_LOAD` customers
the engine path loads once: one process times the cold load, then each stage after it (:func:`_after_one_load`).

Every run's rows are kept (``benchmarks/results.json``), each with its date: the table keeps its history.
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
    "load": ("csanalysis", "csanalysis_reused"),
    "logo_cohorts": ("pandas", "duckdb", "csanalysis", "csanalysis_reused"),
    "mrr_movements": ("pandas", "duckdb", "csanalysis", "csanalysis_reused"),
    "km_by_segment": ("csanalysis",),
    "cox_fit": ("csanalysis",),
    "nps_models": ("csanalysis",),
    "health_eval": ("csanalysis",),
    "report_suite": ("csanalysis",),
    "floor_suite": ("csanalysis",),  # the report suite's floor: the same kernels without the analyses (floor.py)
}
SUITES = ("report_suite", "floor_suite")
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
LARGE_WORLD = 1_000_000  # from this many customers the data are written block by block (synth.write_large; write_demo
# needs more than 13 GB at 1M and was once killed by the OOM killer, RESULTS.md)
PANDAS_MAX = 1_000_000  # the pandas reference's largest scale
SHARED_LOAD = 10_000_000  # from this many customers the engine path loads once (_after_one_load): a cold load
# there takes six minutes or more, once per stage about an hour; at 1M and below every stage stays cold on its own


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
    check = suite = None
    if impl == "pandas":
        cm = ref.pandas_customer_month(folder)
        res = ref.pandas_logo_cohorts(cm, as_m) if stage == "logo_cohorts" else ref.pandas_mrr_movements(cm, as_m)
    elif impl == "duckdb":  # with the memory limit and spill folder of csanalysis's own engine: the limit a load
        # builds under (its cached tables are the same groupings; at 10M they do not fit the default 2 GB)
        from csanalysis.data.load import engine_connection, load_memory

        engine = engine_connection()
        with load_memory(engine):
            res = (ref.duckdb_logo_cohorts(folder, as_m, con=engine.con) if stage == "logo_cohorts"
                   else ref.duckdb_mrr_movements(folder, as_m, con=engine.con))
    else:
        import csanalysis as cs

        ds = cs.load_dataset(folder) if stage not in SUITES else None
        t_load = time.perf_counter() - t0
        res, check, suite = _analysis(stage, ds, folder)
    seconds = time.perf_counter() - t0
    # csanalysis: validation and the customer-month panel are built once per session (load_dataset), then
    # every analysis queries them; the stage's own time is the part after the load
    stage_seconds = seconds - t_load if impl == "csanalysis" and stage not in ("load", *SUITES) else None
    if check is None and res is not None:
        check = _summary(stage, res, as_m - 35)
    # peak of this process or of the largest finished child (the report suite's kernels run in children)
    peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    # CPU seconds of this process and every process it waited for (the suites' workers and, through them, their
    # kernels): less sensitive than wall time to other work on a shared machine; imports included
    cpu = sum(u.ru_utime + u.ru_stime for u in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))
    return {"seconds": seconds, "stage_seconds": stage_seconds, "load_seconds": t_load if impl == "csanalysis" else None,
            "peak_mb": peak / 1024, "cpu_s": cpu, "check": check, **({"suite": suite} if stage in SUITES else {})}


def _after_one_load(stages: list[str], folder: Path) -> dict:
    """The engine path at :data:`SHARED_LOAD` scales, in this one process: one cold load (``load``: its seconds,
    the load stage's check, the process's peak and CPU seconds so far, imports included), then each of
    ``stages`` on that loaded Dataset, in order: its seconds after the load, the CPU seconds it spent and the
    process's peak while it ran (``VmHWM`` reset before it, so the loaded engine's memory is in it). A stage that
    fails is recorded with its error and the next one runs."""
    import csanalysis as cs
    from csanalysis import cohorts, grouped, metrics  # noqa: F401  (imports are not timed)

    as_m = _as_m(folder)
    t0 = time.perf_counter()
    ds = cs.load_dataset(folder)
    t_load = time.perf_counter() - t0
    _, check, _ = _analysis("load", ds, folder)
    out = {"load": {"seconds": time.perf_counter() - t0, "stage_seconds": None, "load_seconds": t_load,
                    "peak_mb": _vm_peak_mb(), "cpu_s": _cpu_s(), "check": check}}
    for stage in stages:
        _vm_peak_mb(reset=True)
        t, cpu = time.perf_counter(), _cpu_s()
        try:
            res, check, _ = _analysis(stage, ds, folder)
        except Exception as e:  # e.g. DuckDB's Out of Memory: the message's first line
            out[stage] = {"error": f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"}
            continue
        if check is None and res is not None:
            check = _summary(stage, res, as_m - 35)
        out[stage] = {"seconds": None, "stage_seconds": time.perf_counter() - t, "load_seconds": t_load,
                      "peak_mb": _vm_peak_mb(), "cpu_s": _cpu_s() - cpu, "check": check}
    return out


def _vm_peak_mb(reset: bool = False) -> float:
    """This process's peak resident memory (``VmHWM``, MB of 2^20 bytes); ``reset``: set it back to the current
    resident memory first (Linux ``/proc/self/clear_refs``), so that the next reading is the peak since."""
    if reset:
        Path("/proc/self/clear_refs").write_text("5")
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_s() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def _analysis(stage: str, ds, folder: Path):
    """csanalysis's stage on the loaded Dataset ``ds`` (None for the suites): (result, check, suite)."""
    res = check = suite = None
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
    elif stage in SUITES:
        from csanalysis.report.run import run_report

        from benchmarks.floor import run_floor

        # a fresh reports folder each time: a report run reuses the load cached by an earlier run of the same
        # inputs, which would leave the load out of the suite's time
        keep = os.environ.get("BENCH_REPORTS")
        out = Path(keep) / stage if keep else Path(tempfile.mkdtemp(prefix="csanalysis-bench-reports-"))
        jobs = int(os.environ.get("BENCH_JOBS", "2"))  # as `csanalysis report` runs it
        cell_timeout = int(os.environ.get("BENCH_STAGE_TIMEOUT", "900"))  # run_child's stage timeout
        r = (run_report(data=folder, out=out, jobs=jobs, timeout=cell_timeout) if stage == "report_suite"
             else run_floor(folder, out, jobs, timeout=cell_timeout))
        if not keep:
            shutil.rmtree(out, ignore_errors=True)
        check = {"status": r.status}
        # what the run's manifest records: each notebook's time and peaks, the runner's load and peaks
        suite = {"runner": r.manifest.get("runner"),
                 "notebooks": {name: {k: e.get(k) for k in ("status", "seconds", "peak_mb", "worker_peak_mb")}
                               for name, e in r.notebooks.items()}}
    return res, check, suite


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


def run_child(stage: str, impl: str, folder: Path, timeout: int, cache_dir: Path) -> dict:
    """One stage in a fresh process. csanalysis keeps its loads in ``cache_dir`` (the user's load cache,
    csanalysis/data/cache.py): 'csanalysis' runs with it empty (cold), 'csanalysis_reused' right after with the
    entry the cold run left (the same stage in a new process, the input unchanged)."""
    cmd = [sys.executable, "-m", "benchmarks.run", "--child", stage, impl.removesuffix("_reused"), str(folder)]
    # a report suite's cells may run as long as the stage may (run_report's own default, 900 s a cell, stopped
    # 07's expansion cell at 1M on a loaded machine)
    env = {**os.environ, "CSANALYSIS_CACHE_DIR": str(cache_dir), "BENCH_STAGE_TIMEOUT": str(timeout)}
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def run_child_after_load(stages: list[str], folder: Path, timeout: int, cache_dir: Path) -> dict:
    """:func:`_after_one_load` in a fresh process with ``cache_dir`` as the user's load cache (empty: the load is
    cold, and kept there): ``{"load": …, stage: …}``, or ``{"error": …}``."""
    cmd = [sys.executable, "-m", "benchmarks.run", "--child-after-load", str(folder), *stages]
    env = {**os.environ, "CSANALYSIS_CACHE_DIR": str(cache_dir)}
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def _machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", nargs=3, metavar=("STAGE", "IMPL", "FOLDER"), help=argparse.SUPPRESS)
    ap.add_argument("--child-after-load", nargs="+", metavar="FOLDER_THEN_STAGES", help=argparse.SUPPRESS)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--with-1m", action="store_true", help="add the 1M-customer scale (its world written block by block; about 10 GB free memory for the suite)")
    ap.add_argument("--stages", nargs="+", default=[s for s in STAGES if s not in ENGINE_STAGES],
                    choices=[*STAGES, "engine"], help="stages to run ('engine': the engine path, ENGINE_PATH)")
    ap.add_argument("--timeout", type=int, default=1800)
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    a = ap.parse_args(argv)
    if a.child:
        stage, impl, folder = a.child
        print(json.dumps(_stage(stage, impl, Path(folder)), default=str))
        return 0
    if a.child_after_load:
        folder, *names = a.child_after_load
        print(json.dumps(_after_one_load(names, Path(folder)), default=str))
        return 0
    sizes = a.sizes + ([1_000_000] if a.with_1m and 1_000_000 not in a.sizes else [])
    stages = list(dict.fromkeys(s for st in a.stages for s in (ENGINE_PATH if st == "engine" else [st])))
    rows = []
    print(HEAD, end="", flush=True)
    for n in sizes:
        folder = ensure_data(n)
        # at SHARED_LOAD scales the engine path's stages run after one cold load, in one process; its cache (the
        # user's load cache that cold load kept) serves the load's reused run and the stages' reused runs
        shared = [s for s in ENGINE_PATH if s in stages and s != "load"] if n >= SHARED_LOAD else []
        shared_dir = Path(tempfile.mkdtemp(prefix="csanalysis-bench-cache-")) if shared else None
        after = {}
        if shared:
            after = run_child_after_load(shared, folder, a.timeout * (1 + len(shared)), shared_dir)
        for stage in (["load"] if shared else []) + [s for s in stages if not (shared and s == "load")]:
            if stage in SUITES and n > 100_000 and os.environ.get("BENCH_FULL") != "1":
                continue  # the whole suite at 1M: BENCH_FULL=1
            impls = [i for i in STAGES[stage] if i != "pandas" or n <= PANDAS_MAX]
            if shared and stage in ENGINE_PATH:  # csanalysis's cold run is the one-load child's
                impls = [i for i in impls if i != "csanalysis"]
            cache_dir = shared_dir if shared else Path(tempfile.mkdtemp(prefix="csanalysis-bench-cache-"))  # empty: cold
            try:
                out = {impl: run_child(stage, impl, folder, a.timeout, cache_dir) for impl in impls}
            finally:
                if not shared:
                    shutil.rmtree(cache_dir, ignore_errors=True)
            if shared and stage in ENGINE_PATH:
                out = {"csanalysis": after.get(stage) or {"error": after.get("error", "not run")}, **out}
            checks = {impl: r.get("check") for impl, r in out.items() if "error" not in r}
            equal = len({json.dumps(c, sort_keys=True) for c in checks.values()}) == 1 if len(checks) > 1 else None
            row = {"n": n, "stage": stage, "equal": equal, **{f"{k}_s": r.get("seconds") for k, r in out.items()},
                   "csanalysis_stage_s": out["csanalysis"].get("stage_seconds"),
                   **({"load": "once"} if shared and stage in ENGINE_PATH else {}),
                   **({"csanalysis_reused_load_s": out["csanalysis_reused"].get("load_seconds"),
                       "csanalysis_load_s": out["csanalysis"].get("load_seconds")} if "csanalysis_reused" in out else {}),
                   **{f"{k}_mb": r.get("peak_mb") for k, r in out.items()},
                   **{f"{k}_cpu_s": r.get("cpu_s") for k, r in out.items()},
                   **{f"{k}_error": r["error"] for k, r in out.items() if "error" in r}}
            if len(checks) > 1 and not equal:
                row["checks"] = checks
            if out["csanalysis"].get("suite"):
                row.update(out["csanalysis"]["suite"])
            rows.append(row)
            print(_fmt_row(row), flush=True)
        if shared_dir:
            shutil.rmtree(shared_dir, ignore_errors=True)
        # the report suite's time over its floor's, both measured in this run at this scale (issue 21: ≤ 3× at
        # 100k, ≤ 8× at 1M); kept in the report suite's row
        real, floor = ({r["stage"]: r for r in rows if r["n"] == n}.get(k) for k in SUITES)
        if real and floor and real.get("csanalysis_s") and floor.get("csanalysis_s"):
            real["suite_over_floor"] = real["csanalysis_s"] / floor["csanalysis_s"]
            if real.get("csanalysis_cpu_s") and floor.get("csanalysis_cpu_s"):
                real["suite_over_floor_cpu"] = real["csanalysis_cpu_s"] / floor["csanalysis_cpu_s"]
            print(f"report_suite ÷ floor_suite at {n:,}: {real['suite_over_floor']:.2f}× "
                  f"(CPU seconds: {real.get('suite_over_floor_cpu') or float('nan'):.2f}×)", flush=True)
    _write(a.results, rows)
    return 0


HEAD = ("| customers | stage | cs total s | cs reused s | cs after load s | pandas s | DuckDB s | total ÷ DuckDB "
        "| reused ÷ DuckDB | after load ÷ DuckDB | pandas ÷ total | pandas ÷ reused | pandas ÷ after load "
        "| suite ÷ floor | cs peak MB | reused peak MB | equal | measured |\n"
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n")
NOTES = "<!-- notes: kept by make bench -->"
FLOOR_S = "floor_suite_s"  # _fmt_row: the report suite's column over its floor (suite_over_floor in its row)


def _fmt_row(r: dict) -> str:
    def s(k):
        v = r.get(k)
        return f"{v:8.2f}" if isinstance(v, (int, float)) else f"{'–':>8}"

    def ratio(a, b):
        if b == FLOOR_S:  # the suite over its floor, as measured in the same run
            return f"{r['suite_over_floor']:.2f}×" if r.get("suite_over_floor") else "–"
        return f"{r[a] / r[b]:.2f}×" if r.get(a) and r.get(b) else "–"

    err = (r.get("csanalysis_error") or r.get("csanalysis_reused_error") or r.get("pandas_error")
           or r.get("duckdb_error"))
    return (f"| {r['n']:>9,} | {r['stage']:<14} | {s('csanalysis_s')} | {s('csanalysis_reused_s')} | "
            f"{s('csanalysis_stage_s')} | {s('pandas_s')} | "
            f"{s('duckdb_s')} | {ratio('csanalysis_s', 'duckdb_s'):>7} | {ratio('csanalysis_reused_s', 'duckdb_s'):>7} | "
            f"{ratio('csanalysis_stage_s', 'duckdb_s'):>7} | "
            f"{ratio('pandas_s', 'csanalysis_s'):>7} | {ratio('pandas_s', 'csanalysis_reused_s'):>7} | "
            f"{ratio('pandas_s', 'csanalysis_stage_s'):>7} | {ratio('csanalysis_s', FLOOR_S):>7} | "
            f"{s('csanalysis_mb')} | {s('csanalysis_reused_mb')} | {'–' if r['equal'] is None else ('yes' if r['equal'] else 'NO')}"
            + (f" (error: {err})" if err else "") + f" | {r.get('measured', 'now')} |")


def _write(path: Path, rows: list[dict]) -> None:
    """The table (this run's rows added to every earlier run's rows, kept in ``results.json`` beside it, each with
    its date: the table keeps its history), the growth from 100k to 1M per stage, the report suite's notebooks,
    then whatever follows the notes marker in the existing file (the written analysis)."""
    store = path.with_name("results.json")
    kept = json.loads(store.read_text(encoding="utf-8")) if store.is_file() else []
    now = time.strftime("%Y-%m-%d %H:%M")
    merged = {(r["n"], r["stage"], r.get("measured", "")): r for r in kept}
    merged.update({(r["n"], r["stage"], now): {**r, "measured": now} for r in rows})
    order = list(STAGES)
    rows = sorted(merged.values(), key=lambda r: (r["n"], order.index(r["stage"]) if r["stage"] in order else 99,
                                                  r.get("measured", "")))
    store.write_text(json.dumps(rows, indent=1, default=str), encoding="utf-8")
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    notes = old[old.index(NOTES):] if NOTES in old else NOTES + "\n"
    text = (f"# Benchmark results\n\nMachine: {_machine()}. Written by `make bench` on "
            f"{time.strftime('%Y-%m-%d %H:%M')}.\n\nEach stage runs in a fresh process and reads the Parquet files "
            "from the start. csanalysis: `load_dataset` (reading, validating, the customer-month panel and spells, "
            "in the engine), then the analysis; 'cs total' is both, cold (the user's load cache empty, "
            "so the load is done and kept); 'cs reused' is the same stage again in a new process with the input "
            "unchanged (the load read from the cache the cold run left: the files' content hashed, the aggregated "
            "tables read); 'cs after load' the analysis alone (a session or report run loads once). pandas: the vectorized reference in `benchmarks/reference.py`; DuckDB: one "
            "hand-written query; both include reading the Parquet files. 'equal' compares the stage's totals (the reused run's too). "
            "'suite ÷ floor': the report suite's time over the floor suite's (`benchmarks/floor.py`: the same "
            "runner and kernels, each only importing the package, reading the run's cache and rendering an empty "
            "report), both measured in the same run. From 10M customers (`SHARED_LOAD`) the engine path loads once: "
            "the load row's 'cs total' is that one cold load, and each later stage's 'cs after load' and peak are "
            "measured in the same process after it ('cs total' empty). Every run's rows are kept, each with its date.\n\n"
            + HEAD + "\n".join(_fmt_row(r) for r in rows) + "\n\n" + _growth(rows) + _suite_notebooks(rows)
            + notes)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")


def _growth(rows: list[dict]) -> str:
    """Per stage, the newest 1M row's time over the newest 100k row's measured before it (issue 21: at most 10×);
    each with its date, since the two may come from different runs."""
    lines = []
    for stage in STAGES:
        big = [r for r in rows if r["n"] == 1_000_000 and r["stage"] == stage and r.get("csanalysis_s")]
        if not big:
            continue
        b = max(big, key=lambda r: r.get("measured", ""))
        small = [r for r in rows if r["n"] == 100_000 and r["stage"] == stage and r.get("csanalysis_s")
                 and r.get("measured", "") <= b.get("measured", "")]
        if not small:
            continue
        a = max(small, key=lambda r: r.get("measured", ""))
        after = (f"{b['csanalysis_stage_s'] / a['csanalysis_stage_s']:.1f}×"
                 if a.get("csanalysis_stage_s") and b.get("csanalysis_stage_s") else "–")
        lines.append(f"| {stage} | {a['csanalysis_s']:.2f} ({a.get('measured', '?')}) | {b['csanalysis_s']:.2f} "
                     f"({b.get('measured', '?')}) | {b['csanalysis_s'] / a['csanalysis_s']:.1f}× | {after} |")
    if not lines:
        return ""
    return ("Growth from 100k to 1M customers (cs total; the newest 1M row over the newest 100k row measured before "
            "it, each with its date; issue 21's target: at most 10×):\n\n"
            "| stage | 100k s (measured) | 1M s (measured) | growth | after load |\n|---|---:|---:|---:|---:|\n"
            + "\n".join(lines) + "\n\n")


def _suite_notebooks(rows: list[dict]) -> str:
    """The newest report suite at each scale, notebook by notebook, from its run's manifest: seconds and the
    kernel's peak memory, beside the floor suite of the same run; the runner's load first."""
    lines = []
    for n in sorted({r["n"] for r in rows}):
        real = [r for r in rows if r["n"] == n and r["stage"] == "report_suite" and r.get("notebooks")]
        if not real:
            continue
        r = max(real, key=lambda r: r.get("measured", ""))
        floor = next((f for f in rows if f["n"] == n and f["stage"] == "floor_suite"
                      and f.get("measured") == r.get("measured") and f.get("notebooks")), {})

        def cell(v, fmt="{:.1f}"):
            return fmt.format(v) if isinstance(v, (int, float)) else "–"

        run, frun = r.get("runner") or {}, floor.get("runner") or {}
        lines.append(f"| {n:,} | runner: load and cache | {cell(run.get('load_seconds'))} | – | "
                     f"{cell(run.get('load_peak_mb'), '{:.0f}')} (end: {cell(run.get('peak_mb'), '{:.0f}')}) | "
                     f"{cell(frun.get('load_seconds'))} | – | {r['measured']} |")
        for name, e in sorted(r["notebooks"].items()):
            f = (floor.get("notebooks") or {}).get(name, {})
            lines.append(f"| {n:,} | {name} | {cell(e.get('seconds'))} | {cell(e.get('peak_mb'), '{:.0f}')} | "
                         f"{cell(e.get('worker_peak_mb'), '{:.0f}')} | {cell(f.get('seconds'))} | "
                         f"{cell(f.get('peak_mb'), '{:.0f}')} | {r['measured']} |")
    if not lines:
        return ""
    return ("The report suite notebook by notebook (the newest run at each scale, from its manifest; peaks in MB of "
            "2^20 bytes: a notebook's kernel's `VmHWM`, the worker's that ran it, the runner's after its load and at "
            "the end; `csanalysis/report/memory.py`), beside the floor suite of the same run:\n\n"
            "| customers | notebook | s | kernel peak MB | worker / runner peak MB | floor s | floor kernel peak MB "
            "| measured |\n|---:|---|---:|---:|---:|---:|---:|---|\n" + "\n".join(lines) + "\n\n")


if __name__ == "__main__":
    sys.exit(main())
