"""Execute notebooks with papermill in the project's kernel and publish the run safely.

A run renders into ``reports/.tmp-<run-id>/`` and is moved into place (``reports/<run-id>/``) only when every
notebook succeeded; then ``reports/latest`` and ``reports/index.html`` are updated under a lock, and the files a
notebook keeps outside its run (notebook 04's list in ``reports/risk_lists/``, followed up by the next run) are copied
there (:func:`csanalysis.report.outputs.keep_on_publish`). A failed run is kept in ``reports/failed/<run-id>/`` for
debugging and publishes nothing, and keeps nothing.

The console shows one line per notebook (``progress``, the command line's ``[3/6] ###… 02_churn_survival … done in
12 s``); everything logged during the run — the runner's, papermill's and nbclient's logging, Python warnings and
each kernel's own output (ipykernel's "Kernel is running over TCP without encryption", "KeyboardInterrupt caught in
kernel" at shutdown) — goes to ``run.log`` in the run's folder (:class:`RunLog`), and to the console as well when
``verbose``.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import logging
import logging.handlers
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# papermill → nbformat → jsonschema imports the optional IRI format checker rfc3987-syntax when it is installed
# (nbformat asks for jsonschema[format-nongpl]); it compiles ~35 parsers at import, 2 s in the runner and in each
# worker process (jsonschema issue #1428). No schema here uses the iri formats, so the runner's processes do
# without it: jsonschema then leaves those formats unchecked, as it does whenever the package is absent.
sys.modules.setdefault("rfc3987_syntax", None)  # a None entry makes the import fail fast (ImportError)

import papermill as pm

from ..data import cache, pseudonym
from ..data.load import cache_settings, load_dataset

from . import extras, i18n
from .html import notebook_to_html
from .front import SCHEDULES
from .index import write_index
from .outputs import publish_copies

KERNEL = "csanalysis"
log = logging.getLogger("csanalysis.report")

EXIT_OK, EXIT_ERROR, EXIT_BAD_PARAMS, EXIT_BAD_DATA, EXIT_NOTEBOOK_FAILED = 0, 1, 2, 3, 4
RUNNER_PARAMS = ("data", "mapping", "as_of", "output_dir", "lang")


LOG_NAME = "run.log"  # in the run's folder (published or failed)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _handler(handler: logging.Handler) -> logging.Handler:
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(logging.INFO)
    return handler


class RunLog:
    """Where a run's logging goes while it runs: ``run.log`` in the run's folder once it exists (what is logged
    before is kept and written there first) and, when ``verbose``, the console (stderr). The root logger takes
    INFO records for the time of the run, and Python warnings are logged (``py.warnings``) instead of printed;
    both are restored by :meth:`stop`. Each kernel's stdout and stderr reach the log through
    :class:`LoggedKernelManager`."""

    def __init__(self, verbose: bool = False):
        self.verbose = verbose
        self.path: Path | None = None
        self._early = logging.handlers.BufferingHandler(capacity=1_000_000)
        self._handlers: list[logging.Handler] = []

    def start(self) -> "RunLog":
        root = logging.getLogger()
        self._level = root.level
        self._warnings_logged = getattr(warnings.showwarning, "__module__", None) == "logging"
        root.setLevel(min(root.level, logging.INFO))
        logging.captureWarnings(True)
        self._handlers = [_handler(self._early)]
        if self.verbose:
            self._handlers.append(_handler(logging.StreamHandler(sys.stderr)))
        for h in self._handlers:
            root.addHandler(h)
        return self

    def to_folder(self, folder: Path) -> Path:
        """Write the log to ``folder``/run.log from now on, starting with what was logged so far."""
        self.path = Path(folder) / LOG_NAME
        file_handler = _handler(logging.FileHandler(self.path, encoding="utf-8"))
        for record in self._early.buffer:
            file_handler.handle(record)
        root = logging.getLogger()
        root.removeHandler(self._early)
        self._handlers = [file_handler if h is self._early else h for h in self._handlers]
        root.addHandler(file_handler)
        return self.path

    def stop(self) -> None:
        root = logging.getLogger()
        for h in self._handlers:
            root.removeHandler(h)
            h.close()  # a file is closed; stderr stays open
        self._handlers = []
        root.setLevel(self._level)
        if not self._warnings_logged:
            logging.captureWarnings(False)


def _worker_logging(path: str, verbose: bool) -> None:
    """A worker process's logging (spawned: it starts with none): the run's log file, and stderr when verbose."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(_handler(logging.FileHandler(path, encoding="utf-8")))
    if verbose:
        root.addHandler(_handler(logging.StreamHandler(sys.stderr)))
    logging.captureWarnings(True)


_PUMPS: list[threading.Thread] = []  # the threads copying a kernel's output into the log (joined after each notebook)


def _pump(fd: int, notebook: str) -> None:
    kernel_log = logging.getLogger("csanalysis.kernel")
    with open(fd, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                kernel_log.info("%s: %s", notebook, line.rstrip())


def _kernel_manager(notebook: str):
    """nbclient's kernel manager with the kernel's own stdout and stderr sent to the log (logger
    ``csanalysis.kernel``, each line with the notebook's name) instead of the terminal the runner inherited."""
    from jupyter_client import AsyncKernelManager

    class LoggedKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            read, write = os.pipe()
            try:
                await super()._async_launch_kernel(kernel_cmd, **{**kw, "stdout": write, "stderr": write})
            except BaseException:
                os.close(read)
                raise
            finally:
                os.close(write)  # the kernel holds its own copy: the pipe ends when the kernel does
            pump = threading.Thread(target=_pump, args=(read, notebook), name=f"kernel-log-{notebook}", daemon=True)
            pump.start()
            _PUMPS.append(pump)

    return LoggedKernelManager


def _join_pumps(timeout: float = 5.0) -> None:
    while _PUMPS:
        _PUMPS.pop().join(timeout)


def progress_line(done: int, total: int, name: str, result: dict, width: int = 20) -> str:
    """One notebook's line in the run's progress: ``[3/6] ##########.......... 02_churn_survival … done in 12 s``."""
    filled = round(width * done / max(total, 1))
    word = {"succeeded": "done", "failed": "FAILED"}.get(result.get("status"), result.get("status"))
    took = f" in {result['seconds']:.0f} s" if result.get("seconds") is not None else ""
    return f"[{done}/{total}] {'#' * filled}{'.' * (width - filled)} {name} … {word}{took}"


class ReportError(Exception):
    exit_code = EXIT_ERROR


class ParameterError(ReportError):
    exit_code = EXIT_BAD_PARAMS


class NotebookFailed(ReportError):
    exit_code = EXIT_NOTEBOOK_FAILED


def project_root() -> Path:
    return Path(__file__).resolve().parents[2]


def notebooks_dir() -> Path:
    return project_root() / "notebooks"


def discover(names: list[str] | None = None) -> list[Path]:
    """Notebook paths by name (``00_data_overview`` or a unique prefix such as ``00``); all by default."""
    available = sorted(notebooks_dir().glob("[0-9][0-9]_*.ipynb"))
    if not names:
        return available
    chosen = []
    for name in names:
        hits = [p for p in available if p.stem == name or p.stem.startswith(name)]
        if len(hits) != 1:
            raise ParameterError(f"notebook {name!r} {'is ambiguous' if hits else 'does not exist'}; "
                                 f"available: {', '.join(p.stem for p in available)}")
        chosen.append(hits[0])
    return chosen


def _meta(path: Path) -> dict:
    """A notebook's own metadata (``metadata.csanalysis``: title, needs, parameters), or {}."""
    return json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("csanalysis") or {}


def needs_of(path: Path) -> list[str]:
    """What a notebook needs of the data that not every layout holds (its metadata ``csanalysis.needs``, names
    from :data:`csanalysis.data.schema.NEEDS`)."""
    return list(_meta(path).get("needs", []))


def title_of(path: Path) -> str | None:
    """The message key of a notebook's title (its metadata ``csanalysis.title``), or None."""
    return _meta(path).get("title")


def rules_of(path: Path) -> dict[str, dict]:
    """The rules a notebook declares for its parameters' values (its metadata ``csanalysis.parameters``): name →
    ``choices`` (the values the analysis accepts), ``min`` / ``max`` (inclusive), ``above`` (exclusive lower
    bound; for a list parameter, each of its values), ``file`` (an existing file) or ``folder`` (a folder, made when missing). The runner checks them
    before the data are loaded (:func:`check_parameters`)."""
    return dict(_meta(path).get("parameters", {}))


def rule_text(rule: dict) -> str:
    """A rule as the allowed values, for messages and ``csanalysis list``: ``one of a, b``, ``≥ 0``, ``a file``."""
    parts = []
    if "choices" in rule:
        parts.append("one of " + ", ".join(str(c) for c in rule["choices"]))
    if "above" in rule:
        parts.append(f"> {rule['above']:g}")
    if "min" in rule:
        parts.append(f"≥ {rule['min']:g}")
    if "max" in rule:
        parts.append(f"≤ {rule['max']:g}")
    if rule.get("file"):
        parts.append("an existing file (relative to the current folder)")
    if rule.get("folder"):
        parts.append("a folder (relative to the current folder)")
    return ", ".join(parts)


def _check_rule(name: str, value: Any, rule: dict, where: str) -> Any:
    """``value`` (already typed) against its notebook's rule; a file or folder comes back absolute, resolved against
    the caller's working directory (the kernels run in notebooks/)."""
    if value is None:
        return None

    def bad(v) -> bool:
        return (("choices" in rule and v not in rule["choices"]) or ("min" in rule and v < rule["min"])
                or ("max" in rule and v > rule["max"]) or ("above" in rule and v <= rule["above"]))

    if any(bad(v) for v in value) if isinstance(value, list) else bad(value):  # a list: each of its values
        raise ParameterError(f"parameter {name}={value!r} for {where}: use {rule_text(rule)}")
    if rule.get("file") or rule.get("folder"):
        path = Path(value).expanduser().resolve()
        if rule.get("file") and not path.is_file():
            raise ParameterError(f"parameter {name}={value!r} for {where}: {path} is not a file; use {rule_text(rule)}")
        if rule.get("folder") and path.exists() and not path.is_dir():
            raise ParameterError(f"parameter {name}={value!r} for {where}: {path} is a file, not a folder")
        return str(path)
    return value


def layout_support(ds, paths: list[Path] | None = None) -> list[dict]:
    """Each report and whether this Dataset's layout can answer it: ``report`` (notebook name), ``title`` (message
    key or None) and ``left_out`` (the reason's message key, or None when the report runs)."""
    paths = discover() if paths is None else paths
    gone = left_out(paths, ds)
    return [{"report": p.stem, "title": title_of(p), "left_out": gone.get(p.stem)} for p in paths]


def left_out(paths: list[Path], ds) -> dict[str, str]:
    """The notebooks this Dataset's layout cannot answer: name → the reason's message key."""
    out = {}
    for path in paths:
        why = next(filter(None, (ds.left_out(n) for n in needs_of(path))), None)
        if why:
            out[path.stem] = why
    return out


def parameters_of(path: Path) -> dict[str, dict]:
    """The notebook's parameters: name → {type, default, help, rule} (papermill reads the annotated cell; ``rule``
    from :func:`rules_of`, empty when the parameter has none)."""
    rules = rules_of(path)
    return {k: {"type": v["inferred_type_name"], "default": v["default"], "help": v["help"], "rule": rules.get(k, {})}
            for k, v in pm.inspect_notebook(str(path)).items()}


def _coerce(name: str, value: Any, type_name: str, where: str):
    """Check a parameter value against the notebook's annotation; return the typed value."""
    t = type_name.replace(" ", "")
    optional = t.startswith("Optional[") or "None" in t.split("|")
    base = t.removeprefix("Optional[").removesuffix("]").split("|")[0] if optional else t
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
        if optional:
            return None
        raise ParameterError(f"parameter {name} of {where} may not be empty (type {type_name})")
    try:
        if base == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if base == "float":
            return float(value)
        if base == "bool":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "1", "yes"):
                return True
            if str(value).lower() in ("false", "0", "no"):
                return False
            raise ValueError
        if base.startswith("list"):
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list):
                raise ValueError
            if not base.startswith("list["):
                return value
            return [_coerce(name, v, base[5:-1], where) for v in value]
        if base == "str":
            return str(value)
    except (ValueError, TypeError):
        raise ParameterError(f"parameter {name}={value!r} for {where} is not a valid {type_name}") from None
    return value


def check_parameters(paths: list[Path], params: dict[str, Any]) -> dict[Path, dict]:
    """Refuse unknown parameter names, values of the wrong type and values outside the notebook's rules
    (:func:`rules_of`) before anything runs; file and folder values come back absolute."""
    per_notebook, known = {}, set()
    for path in paths:
        spec = parameters_of(path)
        known |= set(spec)
        rules = rules_of(path)
        per_notebook[path] = {k: _check_rule(k, _coerce(k, v, spec[k]["type"], path.stem), rules.get(k, {}), path.stem)
                              for k, v in params.items() if k in spec}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ParameterError(f"unknown parameter(s) {', '.join(unknown)}; the selected notebooks take: "
                             f"{', '.join(sorted(known - set(RUNNER_PARAMS)))}")
    return per_notebook


@contextmanager
def _lock(out: Path):
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _check_out(out: Path) -> None:
    """The reports folder is a folder that can be made and written, or a one-line ParameterError says why (nothing
    is created here: bad data must leave no reports folder behind)."""
    if out.exists() and not out.is_dir():
        raise ParameterError(f"--out {out} is a file, not a folder")
    base = out
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise ParameterError(f"--out {out} cannot be made: {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise ParameterError(f"--out {out} cannot be written: {base} is not writable")


RUNNING = ".running"  # held locked by the run writing a .tmp-<run id> folder; a killed run's lock is released


def _clean_stale(out: Path, max_age_hours: float = 1.0, min_age_seconds: float = 60.0) -> list[Path]:
    """Remove the temporary folders of runs that were killed: their ``.running`` lock is free (or, for a folder
    without one, it is older than ``max_age_hours``). A run still writing holds its lock and is left alone; so is
    a folder made in the last ``min_age_seconds`` (a run takes its lock just after making it)."""
    removed = []
    for tmp in out.glob(".tmp-*"):
        if not tmp.is_dir():
            continue
        flag = tmp / RUNNING
        try:
            if time.time() - tmp.stat().st_mtime < min_age_seconds:
                continue
            if flag.is_file():
                with open(flag, "a") as fh:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises while the run is alive
            elif time.time() - tmp.stat().st_mtime < max_age_hours * 3600:
                continue
        except OSError:
            continue
        shutil.rmtree(tmp, ignore_errors=True)
        removed.append(tmp)
    return removed


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=project_root(), capture_output=True,
                              text=True, timeout=5, check=True).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


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

    ``progress`` takes a line as each notebook ends (:func:`progress_line`; the command line prints them); the
    run's logging goes to ``run.log`` in its folder, and to stderr as well when ``verbose`` (:class:`RunLog`).
    """

    params = dict(params or {})
    clash = sorted(set(params) & set(RUNNER_PARAMS))
    if clash:
        raise ParameterError(f"set {', '.join(clash)} with its own option (--data, --mapping, --as-of, --lang, --out), not --param")
    if lang not in ("en", "ja"):
        raise ParameterError(f"--lang {lang!r}: use en or ja")
    if jobs < 1:
        raise ParameterError(f"--jobs {jobs}: at least one notebook must run at a time")
    if schedule not in SCHEDULES:
        raise ParameterError(f"--schedule {schedule!r}: use one of {', '.join(SCHEDULES)}")
    if keep is not None and keep < 1:
        raise ParameterError(f"--keep {keep}: keep at least the newest run (1 or more)")
    _check_out(Path(out))
    paths = discover(names)
    typed = check_parameters(paths, params)
    data = Path(data).resolve()
    if mapping is not None:
        mapping = str(Path(mapping).resolve())  # notebooks run in notebooks/: paths must not be relative
    run_id = run_id or dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)
    if not run_id.replace("-", "").isalnum():
        raise ParameterError(f"run id {run_id!r} may hold only letters, digits and '-'")
    out = Path(out).resolve()
    # Load, validate and aggregate once (failing fast on bad data, before any notebook runs); every notebook of
    # the run reads this Dataset from the cache (key: the input files, mapping and settings).
    env_before = {k: os.environ.get(k) for k in (cache.ENV, cache.FINGERPRINT_ENV, pseudonym.ENABLE_ENV, *THREAD_ENV)}
    cache_root = out / ".cache"
    os.environ[cache.ENV] = str(cache_root)
    # the content of the input files, read once: the cache key, the manifest and every kernel's lookup use it
    os.environ[cache.FINGERPRINT_ENV] = f"{data}\t{cache.fingerprint(data)}"
    os.environ[pseudonym.ENABLE_ENV] = "1" if pseudonymise else "0"
    os.environ.update(_thread_limits(min(jobs, len(paths))))  # notebooks running at once
    runlog = RunLog(verbose).start()
    try:
        key = cache.cache_key(data, mapping, cache_settings(as_of=as_of))
        ds = load_dataset(data, mapping=mapping, as_of=as_of)  # from the cache when the same inputs ran before
        if ds.cache_key is None:
            ds.date_ranges()
            cache.save(ds, cache_root / key)
            # the runner keeps only the cached form while the notebooks run: its engine and tables are released
            ds = cache.load(cache_root / key)
        cache.prune(cache_root, {key})
        skipped = left_out(paths, ds)
        if skipped and names:
            en = i18n.catalogue("en")
            raise ParameterError("; ".join(f"{nb} is left out on the {ds.layout} layout: {en[why]}" for nb, why in skipped.items()))
        paths = [p for p in paths if p.stem not in skipped]
        return _run(paths, typed, ds, data, mapping, as_of, params, lang, out, keep, timeout, progress, run_id,
                    key, pseudonymise, jobs, skipped, runlog, schedule=schedule)
    finally:
        runlog.stop()
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _thread_limits(jobs: int) -> dict[str, str]:
    """Thread counts for the kernels' linear-algebra libraries: one each, whatever ``jobs``. A sum split over
    another number of threads adds in another order, so the last digits of the churn-risk fits (and the "changes
    since the previous run") moved with ``--jobs``; notebooks run side by side instead. One thread each also
    keeps OpenBLAS from spin-waiting when kernels share the cores (one matrix product of the churn-risk fit took
    1–4 s instead of 0.16 s with two notebooks of two threads on 2 cores). Limits the user has set are kept."""
    return {k: "1" for k in THREAD_ENV if k not in os.environ}


def _notebook_job(path: Path, nb_dir: Path, nb_params: dict, timeout: int, lang: str,
                  definitions: str, prev: dict | None, footer: str) -> dict:
    """Execute one notebook, check its metrics and render its HTML (in the runner or in a worker process)."""
    t0 = time.time()
    try:
        # the kernel starts in the notebook's folder (nbclient's resources path); papermill's cwd= would change this
        # process's working directory while the notebook runs, which runs in threads of one process get tangled in
        pm.execute_notebook(str(path), str(nb_dir / path.name), parameters=nb_params, kernel_name=KERNEL,
                            resources={"metadata": {"path": str(path.parent)}}, progress_bar=False, execution_timeout=timeout,
                            log_output=False, request_save_on_cell_execute=False,
                            kernel_manager_class=_kernel_manager(path.stem))
        _join_pumps()
        metrics_path = nb_dir / "metrics.json"
        if not metrics_path.is_file():
            raise extras.MetricsSchemaError(f"{path.stem} wrote no metrics.json")
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        extras.check_metrics(path.stem, metrics)
        i18n.set_language(lang)
        sections = [definitions]
        if prev is not None:
            rows = extras.changes(prev["metrics"], metrics)
            (nb_dir / "changes.json").write_text(json.dumps({"previous_run": prev["run_id"], "changes": rows},
                                                            indent=2) + "\n", encoding="utf-8")
            sections.insert(0, extras.changes_html(rows, prev["run_id"], prev["as_of"]))
        title = title_of(path)  # the report's title in the run's language (the browser's tab, the page's name)
        notebook_to_html(nb_dir / path.name, nb_dir / f"{path.stem}.html", title=i18n.tr(title) if title else path.stem,
                         footer=footer, sections=sections)
        return {"status": "succeeded", "seconds": round(time.time() - t0, 1)}
    except pm.PapermillExecutionError as exc:
        _join_pumps()
        return {"status": "failed", "seconds": round(time.time() - t0, 1), "cell": exc.exec_count,
                "error": f"{exc.ename}: {exc.evalue}"}
    except Exception as exc:  # noqa: BLE001 - a kernel or render failure is a failed run, never half-published
        _join_pumps()
        return {"status": "failed", "seconds": round(time.time() - t0, 1), "error": f"{type(exc).__name__}: {exc}"}


def _run(paths, typed, ds, data, mapping, as_of, params, lang, out, keep, timeout, progress, run_id, key,
         pseudonymise, jobs: int = 1, skipped: dict[str, str] | None = None, runlog: RunLog | None = None, *,
         schedule: str = "monthly") -> RunResult:
    _clean_stale(out)
    tmp = out / f".tmp-{run_id}"
    tmp.mkdir(parents=True)
    runlog = runlog or RunLog()
    runlog.to_folder(tmp)
    running = open(tmp / RUNNING, "w")  # noqa: SIM115 (held for the whole run; closed below)
    fcntl.flock(running, fcntl.LOCK_EX)
    try:
        return _run_in(tmp, paths, typed, ds, data, mapping, as_of, params, lang, out, keep, timeout, progress,
                       run_id, key, pseudonymise, jobs, skipped, runlog, schedule=schedule)
    finally:
        running.close()


def _run_in(tmp, paths, typed, ds, data, mapping, as_of, params, lang, out, keep, timeout, progress, run_id, key,
            pseudonymise, jobs, skipped, runlog, *, schedule: str = "monthly") -> RunResult:
    say = progress or (lambda line: None)
    manifest = {
        "run_id": run_id, "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "data": str(data), "data_fingerprint": cache.source_fingerprint(data), "mapping": mapping,
        "as_of": str(ds.as_of), "lang": lang, "parameters": params, "cache_key": key,
        # for the front page's data freshness: each table's first and last date, the expected refresh schedule
        "layout": ds.layout, "schedule": schedule,
        "data_dates": {name: {"first": first, "last": last} for name, (first, last) in ds.date_ranges().items()},
        "pseudonymised": pseudonymise,
        "package_version": __import__("csanalysis").__version__, "git_commit": _git_commit(), "notebooks": {},
    }
    status = "succeeded"
    i18n.set_language(lang)
    definitions = extras.definitions_html(ds)
    for name, why in (skipped or {}).items():  # in the manifest and on the index page, with the reason
        manifest["notebooks"][name] = {"status": "left out", "reason": i18n.tr(why)}
        log.info("%s: left out (%s)", name, i18n.catalogue("en")[why])
    jobs = max(1, min(jobs, len(paths)))
    work = []
    for path in paths:
        nb_dir = tmp / path.stem
        nb_dir.mkdir()
        nb_params = {"data": str(data), "mapping": mapping, "as_of": as_of, "output_dir": str(nb_dir), "lang": lang,
                     **typed[path]}
        manifest["notebooks"][path.stem] = {"status": "pending", "parameters": nb_params}
        work.append((path, nb_dir, nb_params, timeout, lang, definitions,
                     _previous(out, path.stem, data, typed[path]), _footer(manifest)))
    say(f"running {len(work)} notebook(s) on {data}, {jobs} at a time")
    if jobs == 1:
        for done, args in enumerate(work, 1):
            log.info("running %s", args[0].stem)
            manifest["notebooks"][args[0].stem].update(_notebook_job(*args))
            say(progress_line(done, len(work), args[0].stem, manifest["notebooks"][args[0].stem]))
            if manifest["notebooks"][args[0].stem]["status"] == "failed":
                status = "failed"
                break
    else:
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        log.info("running %d notebooks, %d at a time", len(work), jobs)
        finished = 0
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_worker_logging, initargs=(str(runlog.path), runlog.verbose)) as pool:
            order = _longest_first([args[0] for args in work], out)
            futures = {pool.submit(_notebook_job, *args): args[0].stem
                       for args in sorted(work, key=lambda args: order.index(args[0]))}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    name = futures[f]
                    res = f.result() if not f.cancelled() else {"status": "not run"}
                    manifest["notebooks"][name].update(res)
                    finished += 1
                    say(progress_line(finished, len(work), name, res))
                    log.info("%s: %s in %s s", name, res["status"], res.get("seconds"))
                    if res["status"] == "failed" and status != "failed":
                        status = "failed"
                        for g in pending:
                            g.cancel()
    for entry in manifest["notebooks"].values():
        if entry["status"] == "pending":
            entry["status"] = "not run"
    manifest["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    manifest["status"] = status
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    (tmp / RUNNING).unlink()  # the lock stays held through the open file until the run returns
    with _lock(out):
        if status != "succeeded":
            failed = out / "failed" / run_id
            failed.parent.mkdir(exist_ok=True)
            os.replace(tmp, failed)
            bad = next(k for k, v in manifest["notebooks"].items() if v["status"] == "failed")
            raise NotebookFailed(f"notebook {bad} failed in cell {manifest['notebooks'][bad].get('cell')}: "
                                 f"{manifest['notebooks'][bad].get('error')}. Nothing was published; the executed "
                                 f"notebook is kept in {failed} (its log: {failed / LOG_NAME})")
        for path in paths:  # files the notebooks keep outside the run (the churn-risk list's archive): only now
            publish_copies(tmp / path.stem)
        final = out / run_id
        # published runs are ordered by this time (index, latest, --keep): two runs started in the same second
        # are ordered as they were published, the last one being the one "latest" points to
        manifest["published"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, final)
        link = out / f".latest-{run_id}"
        link.symlink_to(run_id, target_is_directory=True)
        os.replace(link, out / "latest")
        if keep:
            prune(out, keep)
        write_index(out)
    return RunResult(run_id, final, status, manifest["notebooks"], manifest)


# The bundled notebooks' seconds in a report run at 100k customers (benchmarks/RESULTS.md, 2026-11-26): only their
# order matters, for a first run into a reports folder (no published run to take times from)
TYPICAL_SECONDS = {"00_data_overview": 8.4, "01_cohort_retention": 18.0, "02_churn_survival": 28.3,
                   "03_nps_revenue": 22.9, "04_churn_risk": 51.5, "05_cs_impact": 11.6}


def _longest_first(paths: list[Path], out: Path) -> list[Path]:
    """The notebooks in the order to start them when several run at once: the longest first, by their times in the
    latest published run (a run started in name order waited for churn risk, the longest, which started fifth).
    Without a published run, the bundled notebooks take their typical times (:data:`TYPICAL_SECONDS`); a notebook
    with neither keeps its place ahead of the timed ones, in name order."""
    try:
        man = json.loads((out / "latest" / "manifest.json").read_text(encoding="utf-8"))
        seconds = {k: float(v["seconds"]) for k, v in man["notebooks"].items() if v.get("seconds") is not None}
    except (OSError, KeyError, ValueError, TypeError):
        seconds = {}
    if not seconds:
        seconds = TYPICAL_SECONDS
    return sorted(paths, key=lambda p: -seconds.get(p.stem, float("inf")))


def _previous(out: Path, notebook: str, data: Path, nb_params: dict) -> dict | None:
    """The latest published run of the same notebook on the same data with the same notebook parameters."""
    latest = out / "latest"
    if not latest.exists():
        return None
    try:
        man = json.loads((latest / "manifest.json").read_text(encoding="utf-8"))
        entry = man["notebooks"][notebook]
        same = man.get("data") == str(data) and {k: v for k, v in entry["parameters"].items() if k not in RUNNER_PARAMS} == nb_params
        if not same:
            return None
        metrics = json.loads((latest / notebook / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, KeyError, ValueError):
        return None
    return {"run_id": man["run_id"], "as_of": man["as_of"], "metrics": metrics}


def _footer(manifest: dict) -> str:
    """The provenance line under every report, in the run's language (``report.footer``)."""
    commit = i18n.tr("report.footer_commit", commit=manifest["git_commit"]) if manifest["git_commit"] else ""
    return i18n.tr("report.footer", run=manifest["run_id"], data=manifest["data_fingerprint"], as_of=manifest["as_of"],
                   version=manifest["package_version"], commit=commit)


def runs(out: Path) -> list[Path]:
    """Published run folders, newest (last published) first; runs published before the time was recorded come
    after them, by their id (which starts with their start time)."""
    found = [p for p in out.iterdir() if p.is_dir() and not p.is_symlink() and (p / "manifest.json").is_file()
             and not p.name.startswith(".") and p.name != "failed"]

    def published(p: Path) -> str:
        try:
            return json.loads((p / "manifest.json").read_text(encoding="utf-8")).get("published") or ""
        except (OSError, ValueError):
            return ""

    return sorted(found, key=lambda p: (published(p), p.name), reverse=True)


def prune(out: Path, keep: int) -> list[Path]:
    removed = []
    latest = (out / "latest").resolve() if (out / "latest").exists() else None
    for old in runs(out)[keep:]:
        if old.resolve() != latest:
            shutil.rmtree(old)
            removed.append(old)
    return removed
