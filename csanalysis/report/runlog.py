"""What a run says as it goes: one progress line per notebook on the console (:func:`progress_line`, the command
line's ``[3/6] ###… 02_churn_survival … done in 12 s``), and everything logged during the run — the runner's,
papermill's and nbclient's logging, Python warnings and each kernel's own output (ipykernel's "Kernel is running
over TCP without encryption", "KeyboardInterrupt caught in kernel" at shutdown; :mod:`csanalysis.report.job`
sends it here) — in ``run.log`` in the run's folder (:class:`RunLog`), and on the console as well when
``verbose``.
"""
from __future__ import annotations

import logging
import logging.handlers
import sys
import warnings
from pathlib import Path

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
    both are restored by :meth:`stop`. Each kernel's stdout and stderr reach the log through the kernel manager
    of :mod:`csanalysis.report.job`."""

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


def worker_logging(path: str, verbose: bool) -> None:
    """A worker process's logging (spawned: it starts with none): the run's log file, and stderr when verbose."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(_handler(logging.FileHandler(path, encoding="utf-8")))
    if verbose:
        root.addHandler(_handler(logging.StreamHandler(sys.stderr)))
    logging.captureWarnings(True)


def progress_line(done: int, total: int, name: str, result: dict, width: int = 20) -> str:
    """One notebook's line in the run's progress: ``[3/6] ##########.......... 02_churn_survival … done in 12 s``.

    Parameters
    ----------
    done, total : int
        Notebooks ended so far, and in all.
    name : str
        The notebook.
    result : dict
        Its ``status`` and ``seconds``.
    width : int
        Characters of the bar.

    Returns
    -------
    str
    """
    filled = round(width * done / max(total, 1))
    word = {"succeeded": "done", "failed": "FAILED"}.get(result.get("status"), result.get("status"))
    took = f" in {result['seconds']:.0f} s" if result.get("seconds") is not None else ""
    return f"[{done}/{total}] {'#' * filled}{'.' * (width - filled)} {name} … {word}{took}"


__all__ = ["LOG_NAME", "LOG_FORMAT", "RunLog", "worker_logging", "progress_line"]
