"""Peak resident memory of a report run's processes, recorded in its manifest (MB: 2**20 bytes).

* A notebook's peak (``manifest["notebooks"][name]["peak_mb"]``) is its kernel's high-water mark of resident
  memory, ``VmHWM`` in ``/proc/<pid>/status``, read by the kernel manager of :mod:`csanalysis.report.job` just
  before it asks that kernel to shut down (:func:`kernel_peak_mb`). The kernel's process id comes from its own
  manager, so two notebooks running at once each read their own kernel: nothing is shared or summed across
  processes. The kernel's own processes still running at that moment add their high-water marks (an upper bound
  of the tree's peak if they peaked at different times; the bundled notebooks start none). A process a kernel
  started and that ended before it is not counted.
* Where ``/proc`` is not available (macOS, Windows) or the kernel ended before it could be read (killed, crashed),
  the peak is ``None``: unmeasured, never a guess.
* The runner's own peak and a worker's (:func:`own_peak_mb`) are their process's ``VmHWM``: the highest resident
  memory of the process so far, including whatever it held before the run started (a test session, a
  benchmark's imports). Not ``ru_maxrss``: on Linux a process started by fork and exec (a spawned worker, a
  kernel) inherits in it the resident size of its parent at the fork, so a fresh worker would show the runner's
  peak; ``ru_maxrss`` is the fallback where ``/proc`` is not available.
"""
from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

MB = 2**20


def _status_kb(pid: int, field: str = "VmHWM") -> int | None:
    """A ``kB`` field of ``/proc/<pid>/status``, or None (no ``/proc``, no such process, a zombie has none)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            value = line.split()[1:2]
            return int(value[0]) if value and value[0].isdigit() else None
    return None


def process_peak_mb(pid: int) -> float | None:
    """The peak resident memory of the live process ``pid`` (``VmHWM``) in MB, or None where unavailable."""
    kb = _status_kb(pid)
    return None if kb is None else kb * 1024 / MB


def descendants(pid: int) -> list[int]:
    """The live processes below ``pid`` (children, their children …), from each process's parent in
    ``/proc/<pid>/stat``; empty without ``/proc``."""
    parents: dict[int, list[int]] = {}
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return []
    for e in entries:
        try:
            stat = Path(f"/proc/{e}/stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        # "pid (name) state ppid …": the name may hold spaces and parentheses; the fields after its last ")" do not
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[1].isdigit():
            parents.setdefault(int(fields[1]), []).append(int(e))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kernel_peak_mb(pid: int) -> float | None:
    """A kernel's peak resident memory in MB while it is alive: its own ``VmHWM`` plus those of its live
    descendants (see the module's doc); None when the kernel's cannot be read."""
    own = process_peak_mb(pid)
    if own is None:
        return None
    return round(own + sum(process_peak_mb(c) or 0.0 for c in descendants(pid)), 1)


def own_peak_mb() -> float:
    """This process's peak resident memory so far in MB: its ``VmHWM``, or without ``/proc`` its ``ru_maxrss``
    (bytes on macOS, KiB elsewhere)."""
    own = process_peak_mb(os.getpid())
    if own is not None:
        return round(own, 1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak * (1 if sys.platform == "darwin" else 1024) / MB, 1)


__all__ = ["MB", "process_peak_mb", "descendants", "kernel_peak_mb", "own_peak_mb"]
