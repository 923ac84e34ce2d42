"""Scheduling a run's notebooks: one at a time in the runner, or several at once in worker processes started
longest first (:func:`longest_first`); after the first failure no further notebook starts (:func:`run_jobs`)."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from . import store
from .job import NotebookJob
from .runlog import RunLog, worker_logging

log = logging.getLogger("csanalysis.report")
ENDED = "%s: %s in %s s, kernel peak %s MB"  # the run log's line as each notebook ends

# The bundled notebooks' typical seconds in a report run at 100k customers: only their order matters, for a
# first run into a reports folder (no published run to take times from). Measured 2026-12-07 20:10 UTC
# (`benchmarks.run --sizes 100000 --stages report_suite`, main ec92d45, two at a time on 2 cores): started in the
# order of the older figures (08 first, 07 sixth), the suite took 102.7 s; longest first by these, about 95 s
TYPICAL_SECONDS = {"00_data_overview": 5.8, "01_cohort_retention": 13.3, "02_churn_survival": 16.7,
                   "03_nps_revenue": 15.5, "04_churn_risk": 32.1, "05_cs_impact": 30.1,
                   "06_why_customers_leave": 14.8, "07_lifecycle": 42.0, "08_forecast": 15.5}


def longest_first(paths: list[Path], out: Path) -> list[Path]:
    """The notebooks in the order to start them when several run at once: the longest first, by their times in the
    latest published run (a run started in name order waits for the longest if it starts late). Without a
    published run, the bundled notebooks take their typical times (:data:`TYPICAL_SECONDS`); a notebook with
    neither keeps its place ahead of the timed ones, in name order."""
    man = store.latest_manifest(out)
    try:
        seconds = {k: float(v["seconds"]) for k, v in man["notebooks"].items() if v.get("seconds") is not None}
    except (KeyError, ValueError, TypeError, AttributeError):
        seconds = {}
    if not seconds:
        seconds = TYPICAL_SECONDS
    return sorted(paths, key=lambda p: -seconds.get(p.stem, float("inf")))


def run_jobs(jobs: list[NotebookJob], at_once: int, out: Path, runlog: RunLog) -> Iterator[tuple[NotebookJob, dict]]:
    """Run ``jobs``, ``at_once`` at a time, yielding each with its result (:meth:`NotebookJob.run`) as it ends.

    One at a time, they run in this process in the order given and the first failure ends the run. Several at
    once, each runs in a spawned worker process (logging to the run's log, :func:`worker_logging`), started
    longest first (:func:`longest_first`, the times of the last run in ``out``); the first failure cancels the
    notebooks not yet started, which end as ``not run``.

    Parameters
    ----------
    jobs : the run's notebooks.
    at_once : how many run at a time (1: in this process).
    out : the reports folder (its latest run's times order the start).
    runlog : the run's log (its file is the worker processes' log).

    Yields
    ------
    tuple of NotebookJob and dict
        Each job and its result: ``status`` (succeeded, failed or not run), ``seconds``, ``peak_mb`` and
        ``worker_peak_mb`` (:meth:`NotebookJob.run`), for a failure ``error``.
    """
    if at_once == 1:
        for job in jobs:
            log.info("running %s", job.name)
            result = job.run()
            log.info(ENDED, job.name, result["status"], result.get("seconds"), result.get("peak_mb"))
            yield job, result
            if result["status"] == "failed":
                return
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    log.info("running %d notebooks, %d at a time", len(jobs), at_once)
    failed = False
    with ProcessPoolExecutor(max_workers=at_once, mp_context=multiprocessing.get_context("spawn"),
                             initializer=worker_logging, initargs=(str(runlog.path), runlog.verbose)) as pool:
        order = longest_first([job.path for job in jobs], out)
        futures = {pool.submit(job.run): job for job in sorted(jobs, key=lambda job: order.index(job.path))}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                job = futures[f]
                result = f.result() if not f.cancelled() else {"status": "not run"}
                yield job, result
                log.info(ENDED, job.name, result["status"], result.get("seconds"), result.get("peak_mb"))
                if result["status"] == "failed" and not failed:
                    failed = True
                    for g in pending:
                        g.cancel()


__all__ = ["TYPICAL_SECONDS", "longest_first", "run_jobs"]
