"""Running one notebook of a run: a :class:`NotebookJob` holds what it needs; :meth:`NotebookJob.run` executes the
notebook with papermill in the project's kernel, checks its ``metrics.json``, writes the changes since the previous
run and renders the stakeholder HTML. It runs in the runner or in a worker process (:mod:`.schedule`).

Each kernel is started with its own output sent to the run's log (logger ``csanalysis.kernel``, each line with the
notebook's name; :mod:`.runlog`) and with one thread for the linear-algebra libraries (:func:`thread_limits`): the
kernel's configuration, set in its process's environment only. Its manager reads the kernel's peak memory just
before shutting it down (:mod:`.memory`), for the notebook's entry in the manifest.

A kernel that dies before it answers its first request ran none of the notebook: jupyter_client picks free ports
for it, and between that choice and the kernel binding them another process may take one (ZMQ "Address already in
use", seen when kernels start side by side). Such a start is tried again, up to :data:`KERNEL_STARTS` times in all,
with a line in the log; a kernel that dies later is the notebook's failure, never retried.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import extras, i18n, memory
from ._papermill import pm
from .html import notebook_to_html
from .parameters import title_of

KERNEL = "csanalysis"
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
KERNEL_STARTS = 3  # tries of a kernel that dies before replying to its first request (module docstring)
_NEVER_STARTED = "Kernel died before replying to kernel_info"  # jupyter_client's message for that case


def thread_limits(environ=None) -> dict[str, str]:
    """Thread counts for a kernel's linear-algebra libraries: one each, whatever the number of notebooks at once.
    A sum split over another number of threads adds in another order, so the last digits of the churn-risk fits
    (and the "changes since the previous run") moved with ``--jobs``; notebooks run side by side instead. One
    thread each also keeps OpenBLAS from spin-waiting when kernels share the cores. Limits set in ``environ`` (the
    kernel's environment as it would start, by default this process's) are kept."""
    environ = os.environ if environ is None else environ
    return {k: "1" for k in THREAD_ENV if k not in environ}


_PUMPS: list[threading.Thread] = []  # the threads copying a kernel's output into the log (joined after each notebook)


def _pump(fd: int, notebook: str) -> None:
    kernel_log = logging.getLogger("csanalysis.kernel")
    with open(fd, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                kernel_log.info("%s: %s", notebook, line.rstrip())


def kernel_manager(notebook: str, peaks: list | None = None):
    """nbclient's kernel manager with the kernel's own stdout and stderr sent to the log (logger
    ``csanalysis.kernel``, each line with the notebook's name) instead of the terminal the runner inherited, and
    the :func:`thread_limits` in the kernel's environment. Just before it shuts a kernel down it appends the
    kernel's peak memory in MB (:func:`.memory.kernel_peak_mb` of its own process id; None where unavailable) to
    ``peaks``: one value per kernel it started (a restart starts another)."""
    from jupyter_client import AsyncKernelManager

    class LoggedKernelManager(AsyncKernelManager):
        async def shutdown_kernel(self, now: bool = False, restart: bool = False):
            pid = getattr(self.provisioner, "pid", None)  # the local provisioner's kernel process
            try:
                if peaks is not None and pid:
                    peaks.append(memory.kernel_peak_mb(pid))
            finally:  # the kernel is shut down whatever the reading did
                await super().shutdown_kernel(now=now, restart=restart)

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            env = dict(kw.get("env") or os.environ)
            env.update(thread_limits(env))
            read, write = os.pipe()
            try:
                await super()._async_launch_kernel(kernel_cmd, **{**kw, "env": env, "stdout": write, "stderr": write})
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


@dataclass(frozen=True)
class NotebookJob:
    """One notebook of a run.

    Attributes
    ----------
    path : the notebook to execute.
    folder : its folder in the run's staging folder (the executed notebook, its HTML, metrics and tables).
    parameters : every parameter papermill injects (the runner's, among them ``run_context``, and the user's).
    timeout : seconds a cell may run.
    lang : the report's language.
    definitions : the definitions block (HTML) added under the report.
    previous : the previous run of the same notebook on the same data and parameters (``run_id``, ``as_of``,
        ``metrics``; :func:`csanalysis.report.store.previous`), or None.
    footer : the provenance line under the report.
    """

    path: Path
    folder: Path
    parameters: dict
    timeout: int
    lang: str
    definitions: str
    previous: dict | None
    footer: str

    @property
    def name(self) -> str:
        return self.path.stem

    def run(self) -> dict:
        """Execute the notebook, check its metrics and render its HTML: ``status`` (succeeded or failed),
        ``seconds``, ``peak_mb`` and ``worker_peak_mb`` (:meth:`_memory`), and for a failure ``error`` (and
        ``cell``). A kernel or render failure is a failed notebook, never an exception."""
        peaks: list[float | None] = []
        result = self._run(peaks)
        return {**result, **self._memory(peaks)}

    @staticmethod
    def _memory(peaks: list[float | None]) -> dict:
        """``peak_mb``: the notebook's kernel's peak resident memory in MB (:mod:`.memory`; None where it could
        not be read); ``worker_peak_mb``: the peak so far of the process that ran the kernel and rendered the HTML
        (a worker process when several notebooks run at once, each running several notebooks in turn; the runner
        itself with ``--jobs 1``)."""
        measured = [p for p in peaks if p is not None]
        return {"peak_mb": max(measured) if measured else None, "worker_peak_mb": memory.own_peak_mb()}

    def _execute(self, peaks: list) -> None:
        """papermill's run of the notebook in a new kernel; a kernel that dies before replying to its first
        request (no cell ran) is started again, up to :data:`KERNEL_STARTS` times (module docstring)."""
        path, nb_dir = self.path, self.folder
        for start in range(1, KERNEL_STARTS + 1):
            try:
                pm.execute_notebook(str(path), str(nb_dir / path.name), parameters=self.parameters, kernel_name=KERNEL,
                                    resources={"metadata": {"path": str(path.parent)}}, progress_bar=False,
                                    execution_timeout=self.timeout, log_output=False,
                                    request_save_on_cell_execute=False,
                                    kernel_manager_class=kernel_manager(path.stem, peaks))
                _join_pumps()
                return
            except RuntimeError as exc:
                if _NEVER_STARTED not in str(exc) or start == KERNEL_STARTS:
                    raise
                _join_pumps()
                logging.getLogger("csanalysis.report").warning(
                    "%s: the kernel died before it started (%s); starting another (%d of %d)", path.stem, exc,
                    start + 1, KERNEL_STARTS)

    def _run(self, peaks: list) -> dict:
        path, nb_dir = self.path, self.folder
        t0 = time.time()
        try:
            # the kernel starts in the notebook's folder (nbclient's resources path); papermill's cwd= would change
            # this process's working directory while the notebook runs, which runs in threads of one process get
            # tangled in
            self._execute(peaks)
            metrics_path = nb_dir / "metrics.json"
            if not metrics_path.is_file():
                raise extras.MetricsSchemaError(f"{path.stem} wrote no metrics.json")
            metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
            extras.check_metrics(path.stem, metrics)
            i18n.set_language(self.lang)
            sections = [self.definitions]
            if self.previous is not None:
                prev = self.previous
                rows = extras.changes(prev["metrics"], metrics)
                (nb_dir / "changes.json").write_text(json.dumps({"previous_run": prev["run_id"], "changes": rows},
                                                                indent=2) + "\n", encoding="utf-8")
                sections.insert(0, extras.changes_html(rows, prev["run_id"], prev["as_of"]))
            title = title_of(path)  # the report's title in the run's language (the browser's tab, the page's name)
            notebook_to_html(nb_dir / path.name, nb_dir / f"{path.stem}.html",
                             title=i18n.tr(title) if title else path.stem, footer=self.footer, sections=sections)
            return {"status": "succeeded", "seconds": round(time.time() - t0, 1)}
        except pm.PapermillExecutionError as exc:
            _join_pumps()
            return {"status": "failed", "seconds": round(time.time() - t0, 1), "cell": exc.exec_count,
                    "error": f"{exc.ename}: {exc.evalue}"}
        except Exception as exc:  # noqa: BLE001 - a kernel or render failure is a failed run, never half-published
            _join_pumps()
            return {"status": "failed", "seconds": round(time.time() - t0, 1), "error": f"{type(exc).__name__}: {exc}"}


__all__ = ["KERNEL", "KERNEL_STARTS", "THREAD_ENV", "thread_limits", "kernel_manager", "NotebookJob"]
