"""Run notebooks on one data source and publish them as one run: the steps in order, each done by its module.

1. Check the options and the notebooks' parameters before anything is read (:mod:`.parameters`).
2. Load, validate and aggregate the data once into the run's cache (:func:`csanalysis.data.cache.prime`);
   notebooks the data's layout cannot answer are left out, with the reason.
3. In the run's staging folder (:func:`.store.staging`), write the run context (:class:`csanalysis.data.RunContext`:
   the cache, the data's fingerprint, pseudonymisation) that every notebook gets as its ``run_context``
   parameter, and plan one :class:`.job.NotebookJob` per notebook.
4. Run them, one or several at a time (:mod:`.schedule`); the first failure stops the notebooks not yet started.
   The manifest records each notebook's kernel's peak memory, and the runner's own (:mod:`.memory`).
5. Publish the run atomically under the reports folder's lock, or keep it as failed (:mod:`.store`), and write
   the front page (:mod:`.index`).

The console shows one line per notebook (``progress``); everything logged during the run goes to ``run.log`` in
the run's folder (:mod:`.runlog`).
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data import cache
from ..data.context import FILE_NAME, RunContext
from . import extras, i18n, memory, schedule as scheduling, store
from .errors import NotebookFailed, ParameterError, ReportError
from .front import SCHEDULES
from .index import write_index
from .job import NotebookJob
from .parameters import CONTEXT_PARAM, check_parameters, check_runner_params, discover, left_out
from .runlog import LOG_NAME, RunLog, progress_line

log = logging.getLogger("csanalysis.report")


@dataclass
class RunResult:
    run_id: str
    folder: Path
    status: str
    notebooks: dict[str, dict] = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)


def run_report(
    names: list[str] | None = None, *, data: str | Path, mapping: str | None = None, as_of: str | None = None,
    params: dict[str, Any] | None = None, lang: str = "en", out: str | Path = "reports", keep: int | None = None,
    timeout: int = 900, progress: Callable[[str], Any] | None = None, run_id: str | None = None,
    pseudonymise: bool = False, jobs: int = 1, verbose: bool = False, schedule: str = "monthly",
) -> RunResult:
    """Run the named notebooks (default: all) on one data source and publish them as one run (see module doc).

    ``jobs`` notebooks run at once, each in its own kernel (the machine's cores; every kernel holds the run's
    Dataset in memory). The first failure stops the notebooks not yet started.

    ``pseudonymise`` replaces customer identifiers by keyed HMAC pseudonyms in everything the run writes
    (HTML, CSV, executed notebooks); the key stays outside the reports (data/pseudonym.py).

    ``schedule`` is how often the data are expected to be refreshed (one of
    :data:`csanalysis.report.front.SCHEDULES`); the front page warns when the newest data are older than it implies.

    ``progress`` takes a line as each notebook ends (:func:`.runlog.progress_line`; the command line prints them);
    the run's logging goes to ``run.log`` in its folder, and to stderr as well when ``verbose``
    (:class:`.runlog.RunLog`).

    Parameters
    ----------
    names : list of str, optional
        The notebooks (None: all).
    data : path
        The data source.
    mapping : str, optional
        The column mapping file.
    as_of : str, optional
        The analysis date.
    params : dict, optional
        Notebook parameters (checked against each notebook's ``parameters`` cell).
    lang : {"en", "ja"}
        The reports' language.
    out : path
        The reports folder.
    keep : int, optional
        Newest runs to keep (None: all).
    timeout : int
        Seconds a notebook cell may run.
    progress : callable, optional
        Takes a line as each notebook ends.
    run_id : str, optional
        The run's id (None: a new one).
    pseudonymise : bool
        Replace customer identifiers by keyed pseudonyms.
    jobs : int
        Notebooks at once.
    verbose : bool
        Also log to stderr.
    schedule : str
        How often the data are expected to be refreshed.

    Returns
    -------
    RunResult
        The published (or failed) run and each notebook's outcome.
    """

    params = dict(params or {})
    check_runner_params(params)
    if lang not in ("en", "ja"):
        raise ParameterError(f"--lang {lang!r}: use en or ja")
    if jobs < 1:
        raise ParameterError(f"--jobs {jobs}: at least one notebook must run at a time")
    if schedule not in SCHEDULES:
        raise ParameterError(f"--schedule {schedule!r}: use one of {', '.join(SCHEDULES)}")
    if keep is not None and keep < 1:
        raise ParameterError(f"--keep {keep}: keep at least the newest run (1 or more)")
    store.check_out(Path(out))
    paths = discover(names)
    typed = check_parameters(paths, params)
    data = Path(data).resolve()
    if mapping is not None:
        mapping = str(Path(mapping).resolve())  # notebooks run in notebooks/: paths must not be relative
    run_id = run_id or dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)
    if not run_id.replace("-", "").isalnum():
        raise ParameterError(f"run id {run_id!r} may hold only letters, digits and '-'")
    out = Path(out).resolve()
    # the content of the input files, read once: the cache key, the manifest and every kernel's lookup use it
    context = RunContext(cache_dir=str(out / ".cache"), source=str(data), fingerprint=cache.fingerprint(data),
                         pseudonymise=pseudonymise)
    runlog = RunLog(verbose).start()
    try:
        # every notebook of the run reads this Dataset from the cache (key: the input files, mapping and settings)
        t0 = time.perf_counter()
        ds, key = cache.prime(data, mapping, as_of, context)
        # the runner's own time and peak memory for its load (and cache) before any notebook starts (.memory)
        runner = {"load_seconds": round(time.perf_counter() - t0, 1), "load_peak_mb": memory.own_peak_mb()}
        skipped = left_out(paths, ds)
        if skipped and names:
            en = i18n.catalogue("en")
            raise ParameterError("; ".join(f"{nb} is left out on the {ds.layout} layout: {en[why]}" for nb, why in skipped.items()))
        paths = [p for p in paths if p.stem not in skipped]
        say = progress or (lambda line: None)
        with store.staging(out, run_id) as tmp:
            runlog.to_folder(tmp)
            manifest = store.new_manifest(run_id=run_id, data=data, fingerprint=context.fingerprint, mapping=mapping,
                                          ds=ds, lang=lang, parameters=params, cache_key=key, schedule=schedule,
                                          pseudonymise=pseudonymise)
            manifest["runner"] = runner
            options = {"data": str(data), "mapping": mapping, "as_of": as_of, "lang": lang,
                       CONTEXT_PARAM: str(context.write(tmp / FILE_NAME))}
            work = _plan(paths, typed, options, ds, manifest, skipped, tmp, out, timeout)
            at_once = max(1, min(jobs, len(paths)))
            say(f"running {len(work)} notebook(s) on {data}, {at_once} at a time")
            status = _execute(work, at_once, manifest, out, runlog, say)
            runner["peak_mb"] = memory.own_peak_mb()  # with --jobs 1 the runner also ran the notebooks (papermill, HTML)
            store.seal(tmp, manifest)
            with store.lock(out):
                if status != "succeeded":
                    failed = store.keep_failed(tmp, out, run_id)
                    bad = next(k for k, v in manifest["notebooks"].items() if v["status"] == "failed")
                    raise NotebookFailed(f"notebook {bad} failed in cell {manifest['notebooks'][bad].get('cell')}: "
                                         f"{manifest['notebooks'][bad].get('error')}. Nothing was published; the executed "
                                         f"notebook is kept in {failed} (its log: {failed / LOG_NAME})")
                final = store.publish(tmp, out, run_id, manifest, keep)
                write_index(out)
        return RunResult(run_id, final, status, manifest["notebooks"], manifest)
    finally:
        runlog.stop()


def _plan(paths: list[Path], typed: dict[Path, dict], options: dict[str, Any], ds, manifest: dict,
          skipped: dict[str, str], tmp: Path, out: Path, timeout: int) -> list[NotebookJob]:
    """One job per notebook, each with its folder in ``tmp`` and its entry in the manifest (the notebooks left out
    first, with the reason). ``options``: the parameters the runner sets (``data``, ``mapping``, ``as_of``,
    ``lang``, ``run_context``); each notebook adds its ``output_dir`` and the user's values for it (``typed``)."""
    lang = options["lang"]
    i18n.set_language(lang)
    definitions = extras.definitions_html(ds)
    for name, why in skipped.items():  # in the manifest and on the index page, with the reason
        manifest["notebooks"][name] = {"status": "left out", "reason": i18n.tr(why)}
        log.info("%s: left out (%s)", name, i18n.catalogue("en")[why])
    work = []
    for path in paths:
        nb_dir = tmp / path.stem
        nb_dir.mkdir()
        nb_params = {"data": options["data"], "mapping": options["mapping"], "as_of": options["as_of"],
                     "output_dir": str(nb_dir), "lang": lang, **typed[path]}
        # the manifest records the notebook's parameters; the run context is the run's (its own fields there)
        manifest["notebooks"][path.stem] = {"status": "pending", "parameters": nb_params}
        work.append(NotebookJob(path=path, folder=nb_dir, parameters={**nb_params, CONTEXT_PARAM: options[CONTEXT_PARAM]},
                                timeout=timeout, lang=lang, definitions=definitions,
                                previous=store.previous(out, path.stem, Path(options["data"]), typed[path]),
                                footer=_footer(manifest)))
    return work


def _execute(work: list[NotebookJob], at_once: int, manifest: dict, out: Path, runlog: RunLog,
             say: Callable[[str], Any]) -> str:
    """Run the jobs (:func:`.schedule.run_jobs`), each result recorded in the manifest and said as its notebook
    ends; the notebooks never started are ``not run``. Returns the run's status: succeeded or failed."""
    status = "succeeded"
    for done, (job, result) in enumerate(scheduling.run_jobs(work, at_once, out, runlog), 1):
        manifest["notebooks"][job.name].update(result)
        say(progress_line(done, len(work), job.name, result))
        if result["status"] == "failed":
            status = "failed"
    for entry in manifest["notebooks"].values():
        if entry["status"] == "pending":
            entry["status"] = "not run"
    manifest["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    manifest["status"] = status
    return status


def _footer(manifest: dict) -> str:
    """The provenance line under every report, in the run's language (``report.footer``)."""
    commit = i18n.tr("report.footer_commit", commit=manifest["git_commit"]) if manifest["git_commit"] else ""
    return i18n.tr("report.footer", run=manifest["run_id"], data=manifest["data_fingerprint"], as_of=manifest["as_of"],
                   version=manifest["package_version"], commit=commit)


__all__ = ["run_report", "RunResult", "ReportError", "ParameterError", "NotebookFailed", "LOG_NAME"]
